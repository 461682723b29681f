package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/gateway"
	"github.com/almanet/gateway/transform"
)

// memOverhead is the memory the gateway needs beyond its cache: buffers,
// in-flight answers, the index list, the runtime.
const memOverhead = 64 << 20

// version is set at build time with -ldflags "-X main.version=…"; unset,
// buildVersion reads the module version or VCS revision Go recorded.
var version = "dev"

// subcommands names every subcommand, for the error on an unknown one.
const subcommands = "convert, simulate, healthcheck, version, help"

// usage writes the whole command line: every subcommand, then the server's
// flags (fs, whose output is w).
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `usage:
  gateway [-config FILE] [-demo]        serve (configuration: FILE, GATEWAY_CONFIG and the environment, see docs/CONFIGURATION.md)
  gateway convert [-to json|marcxml|dc] [FILE]
                                        convert an SRU searchRetrieve response or a MARCXML collection (FILE or stdin)
  gateway simulate [-addr 127.0.0.1:8081] [-seed N] [-records N] [-members N] [-latency D]
                                        run the simulated Alma network alone (gateway simulate -h for all flags)
  gateway healthcheck                   ask the gateway on GATEWAY_ADDR for /healthz (the container's health check)
  gateway version                       print the version (also gateway -version)
  gateway help                          print this
flags of the server:
`)
	fs.PrintDefaults()
}

// buildVersion is the version to report: the one set with -ldflags, else
// the main module's version Go recorded (go install …@v1.2.3), else the VCS
// revision of the build (+dirty when the tree had changes), else "dev".
func buildVersion(ldflags string, read func() (*debug.BuildInfo, bool)) string {
	if ldflags != "" && ldflags != "dev" {
		return ldflags
	}
	bi, ok := read()
	if !ok || bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev[:min(len(rev), 12)] + dirty
}

// versionLine is what `gateway version` prints: the version buildVersion
// reports (as /healthz and /v1/status do), then what the build recorded:
// the main module's version, the VCS revision with its time and whether
// the tree had changes, and the Go version. Where Go recorded no revision
// (a build with -buildvcs=false, from a git worktree, or outside a
// checkout) it says so rather than printing a bare "dev".
func versionLine(ldflags string, read func() (*debug.BuildInfo, bool)) string {
	line := "gateway " + buildVersion(ldflags, read)
	bi, ok := read()
	if !ok || bi == nil {
		return line + " (no build information recorded)"
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	parts := []string{"module " + bi.Main.Version}
	switch {
	case rev == "":
		parts = append(parts, "no VCS revision recorded (built with -buildvcs=false, from a git worktree, or outside a checkout)")
	case modified == "true":
		parts = append(parts, "revision "+rev+" with uncommitted changes")
	default:
		parts = append(parts, "revision "+rev)
	}
	if at != "" {
		parts = append(parts, "committed "+at)
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	return line + " (" + strings.Join(parts, ", ") + ")"
}

// run is the whole program: it reads the configuration, wires the parts,
// serves until ctx ends, and shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "convert":
			return runConvert(ctx, args[1:], stdin, stdout, stderr)
		case "simulate":
			err := almasim.Run(ctx, args[1:], stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil // -h printed the usage; asking for it is no failure
			}
			return err
		case "healthcheck":
			return runHealthcheck(ctx, getenv)
		case "version":
			fmt.Fprintln(stdout, versionLine(version, debug.ReadBuildInfo))
			return nil
		case "help":
			// the usage of -h, on stdout: asked for, it is the output
			return run(ctx, []string{"-h"}, getenv, stdin, stdout, stdout)
		}
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML configuration file (members, tuning); also GATEWAY_CONFIG")
	demo := fs.Bool("demo", false, "serve against an embedded simulated Alma network: no network, no keys")
	showVersion := fs.Bool("version", false, "print the version and exit")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` when the server stops (bench/run.sh BENCH_PROFILE)")
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (subcommands: %s; see gateway help)", fs.Arg(0), subcommands)
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine(version, debug.ReadBuildInfo))
		return nil
	}
	version := buildVersion(version, debug.ReadBuildInfo)
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	// The log and the access log write whole lines to one stream: one lock
	// keeps their lines apart whatever stderr is.
	stderr = &lineWriter{w: stderr}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// go-redis logs every failed dial process-wide; route it through the
	// gateway's log, rate-limited, so a Redis outage is one line a while.
	redis.SetLogger(cache.RedisLogger(log, 10*time.Second))

	var sim *almasim.Server
	var simulated *almasim.Simulator
	if *demo {
		s := almasim.New(almasim.Config{})
		srv, err := s.Start(ctx, "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo: starting the simulated Alma network: %v", err)
		}
		defer srv.Close()
		sim, simulated = srv, s
		getenv = demoZ3950Env(demoEnv(s, srv.URL(), getenv))
		if *configFile == "" && getenv("GATEWAY_CONFIG") == "" {
			f, err := demoConfig(s, srv.URL())
			if err != nil {
				return err
			}
			defer os.Remove(f)
			*configFile = f
		}
	}

	cfg, err := config.Load(*configFile, getenv)
	if err != nil {
		return err
	}
	if getenv("GOMEMLIMIT") == "" {
		// Keep the heap near the cache bound plus a fixed overhead, so that
		// memory tracks the configured cache size under sustained load
		// (BENCHMARKS.md target 6); GOMEMLIMIT overrides it.
		debug.SetMemoryLimit(cfg.Cache.MaxBytes + memOverhead)
	}
	srv, err := gateway.New(cfg, gateway.Options{Logger: log, Version: version, AccessLog: stderr, AccessLogBatch: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %v", cfg.Addr, err)
	}
	base := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(stdout, "gateway listening on %s\n", base)
	if sim != nil {
		printDemoURLs(stdout, base, simulated, sim.URL())
		printDemoFederation(stdout, base)
	}
	waitZ3950, err := startZ3950(ctx, srv, cfg, stdout, log, *demo)
	if err != nil {
		ln.Close()
		return err
	}
	defer waitZ3950()
	log.Info("gateway started", "addr", ln.Addr().String(), "version", version, "demo", *demo)
	err = srv.Serve(ctx, ln)
	log.Info("gateway stopped")
	return err
}

// displayAddr turns a listener address into one a person can paste.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// demoEnv points the gateway at the simulator unless the environment names
// another Alma, and supplies the simulated members' keys under the
// variables the demo configuration names. Tuning variables and GATEWAY_ADDR
// still come from the real environment.
func demoEnv(s *almasim.Simulator, base string, getenv func(string) string) func(string) string {
	vals := map[string]string{
		"ALMA_SRU_URL": s.SRUURL(base),
		"ALMA_API_URL": base,
		"ALMA_API_KEY": s.NZKey(),
	}
	for _, m := range s.Members() {
		vals[demoKeyEnv(m.Code)] = m.APIKey
	}
	return func(k string) string {
		if v, ok := vals[k]; ok {
			return v
		}
		return getenv(k)
	}
}

func demoKeyEnv(code string) string { return "DEMO_KEY_" + strings.ToUpper(code) }

// demoConfig writes the demo's members list as a YAML file, exactly as an
// operator would write one.
func demoConfig(s *almasim.Simulator, base string) (string, error) {
	f, err := os.CreateTemp("", "gateway-demo-*.yaml")
	if err != nil {
		return "", err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# members of the simulated network (written by gateway -demo)")
	fmt.Fprintln(w, "members:")
	for _, m := range s.Members() {
		fmt.Fprintf(w, "  - code: %q\n    name: %q\n    api_key_env: %q\n    sru_url: %q\n", m.Code, m.Name, demoKeyEnv(m.Code), base+"/view/sru/"+m.Code)
	}
	writeDemoFederation(w, s, base)
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

// runConvert is `gateway convert`: an SRU response or MARCXML collection in,
// what the feed would serve for it out, streaming.
func runConvert(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "json", "output: json (the feed's records), marcxml (a MARC collection) or dc (Dublin Core)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch *to {
	case "json", "marcxml", "dc":
	default:
		return fmt.Errorf("convert: -to must be json, marcxml or dc, not %q", *to)
	}
	in, name := stdin, "the input (stdin)"
	if fs.NArg() > 1 {
		return errors.New("convert: give at most one input file")
	}
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("convert: %v", err)
		}
		defer f.Close()
		in, name = f, fs.Arg(0)
	}
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	w := bufio.NewWriterSize(stdout, 256<<10)
	n, err := transform.Convert(ctx, w, in, *to, progress)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if ie := (*transform.InputError)(nil); errors.As(err, &ie) {
		// Not an empty result: say what was given instead (issue 10).
		return fmt.Errorf("convert: %s is %s", name, ie.What)
	}
	if err != nil {
		return fmt.Errorf("convert: after %d records: %v", n, err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runHealthcheck is the container's health check: it asks the gateway
// listening on GATEWAY_ADDR for /healthz, so the image needs no curl.
func runHealthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv("GATEWAY_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: GATEWAY_ADDR %q: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}

// lineWriter serializes writes to w: each Write (a whole log line) goes out
// before the next begins.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startCPUProfile profiles the process's CPU into file until the returned
// function is called (when the server has stopped): the profile of a
// pinned benchmark run is the server's own, not a test binary's.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
