package almasim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

// Run parses the command line of `almasim` (and `gateway simulate`), starts
// the simulator, prints its URLs and keys, and serves until ctx ends.
//
//	-addr     listen address (default 127.0.0.1:8081)
//	-seed     generation seed (default 1)
//	-records  NZ records (default 5000)
//	-members  member institutions, 8..12 (default 10)
//	-network  network code (default 01NET_NETWORK)
//	-latency  delay added to every Alma answer (default 0)
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	seed := fs.Uint64("seed", 1, "generation seed")
	records := fs.Int("records", 5000, "NZ records")
	members := fs.Int("members", 10, "member institutions (8..12)")
	network := fs.String("network", "01NET_NETWORK", "network (NZ) institution code")
	latency := fs.Duration("latency", 0, "delay added to every Alma answer, e.g. 150ms")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	started := time.Now()
	s := New(Config{Seed: *seed, Records: *records, Members: *members, NetworkCode: *network, Latency: *latency})
	srv, err := s.Start(ctx, *addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	base := srv.URL()
	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {"alma.title=history"}}
	fmt.Fprintf(stdout, "Simulated Alma network %s: %d records, %d members, seed %d (generated in %s)\n",
		s.NetworkCode(), *records, len(s.members), s.cfg.Seed, time.Since(started).Round(time.Millisecond))
	fmt.Fprintf(stdout, "  NZ SRU:      %s\n", s.SRUURL(base))
	fmt.Fprintf(stdout, "  Bibs API:    %s/almaws/v1/bibs/{mms_id}?expand=p_avail,e_avail,d_avail\n", base)
	fmt.Fprintf(stdout, "  NZ API key:  %s   (send it as the header \"Authorization: apikey <key>\")\n", s.NZKey())
	fmt.Fprintf(stdout, "  members:\n")
	for _, m := range s.members {
		fmt.Fprintf(stdout, "    %-14s %-36s SRU %s/view/sru/%s  key %s\n", m.Code, m.Name, base, m.Code, m.APIKey)
	}
	fmt.Fprintf(stdout, "  external:    %s   (SRU 2.0, dc.* and bath.* indexes, not Alma)\n", s.ExternalSRUURL(base))
	fmt.Fprintf(stdout, "  control:     %s/_sim/counters, /_sim/faults, /_sim/works, /_sim/reset (loopback only)\n", base)
	fmt.Fprintf(stdout, "  try:         curl '%s?%s'\n", s.SRUURL(base), q.Encode())
	<-ctx.Done()
	return srv.Close()
}
