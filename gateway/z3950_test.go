package gateway

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/z3950"
)

// z3950Env serves the env's gateway over Z39.50 on loopback.
func z3950Env(t *testing.T, env *testEnv) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.gw.ServeZ3950(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeZ3950: %v", err)
		}
	})
	return ln.Addr().String()
}

func dialZ(t *testing.T, addr string) *z3950.Client {
	t.Helper()
	c, err := z3950.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestZ3950SearchMatchesTheFeed: a Z39.50 search has the JSON feed's hit
// count and records (same canonical query), MARC21 and MARCXML alike.
func TestZ3950SearchMatchesTheFeed(t *testing.T) {
	env := newEnv(t, nil)
	c := dialZ(t, z3950Env(t, env))
	hits, err := c.SearchTerm("Default", "s", 4, "history")
	if err != nil {
		t.Fatal(err)
	}
	_, _, feed := env.search(url.Values{"query": {`alma.title="history"`}, "limit": {"5"}})
	if hits != feed.Total || hits == 0 {
		t.Fatalf("z39.50 %d hits, feed %d", hits, feed.Total)
	}
	for _, syntax := range []string{z3950.OIDUSMARC, z3950.OIDXML} {
		recs, err := c.Present("s", 1, 5, syntax)
		if err != nil || len(recs) != 5 {
			t.Fatalf("%s present: %d records, %v", syntax, len(recs), err)
		}
		for i, b := range recs {
			var id string
			if syntax == z3950.OIDXML {
				r, err := transform.Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				id = r.MMSID
			} else {
				// ISO 2709: the 001 is the first field, at the base address.
				base := atoiBytes(b[12:17])
				id = strings.TrimSuffix(string(b[base:base+atoiBytes(b[27:31])]), "\x1e")
			}
			if id != feed.Records[i].MMSID {
				t.Errorf("%s record %d: 001 %s, feed %s", syntax, i+1, id, feed.Records[i].MMSID)
			}
		}
	}
	// Database names: a member code is its own SRU; an unknown one is 235.
	members := env.sim.Members()
	if _, err := c.SearchTerm(members[0].Code, "m", 4, "history"); err != nil {
		t.Errorf("member database %s: %v", members[0].Code, err)
	}
	var d *z3950.Diagnostic
	if _, err := c.SearchTerm("NOSUCH", "x", 4, "history"); !errors.As(err, &d) || d.Condition != 235 {
		t.Errorf("unknown database: %v, want diagnostic 235", err)
	}
	// The same CQL as Type-104 and RPN share one canonical query.
	if n, err := c.SearchCQL("Default", "c", `alma.title = history`); err != nil || n != hits {
		t.Errorf("CQL search: %d, %v; want %d", n, err, hits)
	}
}

// TestZ3950WhileAlmaIsDown: with Alma failing (500, a hang past the
// upstream deadline, then an open breaker), a search and present answered
// before still answers from the cache, and a new one is diagnostic 2 with
// the reason.
func TestZ3950WhileAlmaIsDown(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Upstream.Timeout = Duration(500 * time.Millisecond)
		c.Breaker.Cooldown = Duration(time.Hour)
	})
	addr := z3950Env(t, env)
	c := dialZ(t, addr)
	hits, err := c.SearchTerm("Default", "s", 4, "science")
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Present("s", 1, 3, z3950.OIDUSMARC)
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []almasim.Fault{{Kind: almasim.Fault500}, {Kind: almasim.FaultHang}} {
		env.sim.SetFault(almasim.EndpointSRU, fault)
		c := dialZ(t, addr)
		if n, err := c.SearchTerm("Default", "s", 4, "science"); err != nil || n != hits {
			t.Errorf("%s: cached search gave %d, %v; want %d", fault.Kind, n, err, hits)
		}
		again, err := c.Present("s", 1, 3, z3950.OIDUSMARC)
		if err != nil || len(again) != 3 || string(again[0]) != string(first[0]) {
			t.Errorf("%s: cached present: %d records, %v", fault.Kind, len(again), err)
		}
		var d *z3950.Diagnostic
		_, err = c.SearchTerm("Default", "n", 4, "never asked "+string(fault.Kind))
		if !errors.As(err, &d) || d.Condition != 2 || !strings.Contains(d.AddInfo, "Alma") {
			t.Errorf("%s: new search: %v, want diagnostic 2 naming Alma", fault.Kind, err)
		}
		env.sim.ClearFaults()
	}
	// Enough failures open the breaker: new searches are refused at once
	// (diagnostic 2), cached ones still answer.
	env.sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.Fault500})
	for i := 0; i < 8; i++ {
		c.SearchTerm("Default", "n", 4, "trip "+itoa(i))
	}
	if env.gw.reg.nz().guard.cb.State() != gobreaker.StateOpen {
		t.Fatal("the breaker did not open")
	}
	var d *z3950.Diagnostic
	if _, err := c.SearchTerm("Default", "n", 4, "behind an open breaker"); !errors.As(err, &d) || d.Condition != 2 {
		t.Errorf("breaker open: %v, want diagnostic 2", err)
	}
	if n, err := c.SearchTerm("Default", "s", 4, "science"); err != nil || n != hits {
		t.Errorf("breaker open: cached search gave %d, %v", n, err)
	}
	if st := env.gw.z3950Status(); st["backend_errors"].(int64) == 0 || st["sessions"].(int64) == 0 {
		t.Errorf("status %v", st)
	}
}

func atoiBytes(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}
