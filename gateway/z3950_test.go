package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/go-cmp/cmp"
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
	if env.gw.reg.NZ().Guard.State() != gobreaker.StateOpen {
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

// opacHoldings reads an OPACRecord's holdings: per HoldingsAndCircData its
// nucCode [8], localLocation [9], callNumber [11] and whether it carries a
// circulation record [19].
type opacHolding struct {
	Nuc, Location, CallNumber string
	Circ                      bool
}

func opacHoldings(t *testing.T, b []byte) []opacHolding {
	t.Helper()
	p, err := ber.DecodePacketErr(b)
	if err != nil {
		t.Fatalf("OPAC record: %v", err)
	}
	var out []opacHolding
	for _, c := range p.Children {
		if c.Tag != 2 {
			continue
		}
		for _, h := range c.Children {
			var o opacHolding
			for _, f := range h.Children {
				switch f.Tag {
				case 8:
					o.Nuc = f.Data.String()
				case 9:
					o.Location = f.Data.String()
				case 11:
					o.CallNumber = f.Data.String()
				case 19:
					o.Circ = true
				}
			}
			out = append(out, o)
		}
	}
	return out
}

// TestZ3950OPACIsLive (issue 22): the OPAC syntax carries live
// circulation, as /v1/records has it: call numbers, locations and counts
// on the network database, whose SRU records carry none, and holdings on
// a member database, whose records carry AVA but no member 852.
func TestZ3950OPACIsLive(t *testing.T) {
	env := newEnv(t, nil)
	c := dialZ(t, z3950Env(t, env))
	if _, err := c.SearchTerm("Default", "s", 4, "history"); err != nil {
		t.Fatal(err)
	}
	marc, err := c.Present("s", 1, 5, z3950.OIDUSMARC)
	if err != nil || len(marc) != 5 {
		t.Fatalf("present: %d, %v", len(marc), err)
	}
	recs, err := c.Present("s", 1, 5, z3950.OIDOPAC)
	if err != nil || len(recs) != 5 {
		t.Fatalf("OPAC present: %d records, %v", len(recs), err)
	}
	checked := 0
	for i, b := range recs {
		base := atoiBytes(marc[i][12:17])
		id := strings.TrimSuffix(string(marc[i][base:base+atoiBytes(marc[i][27:31])]), "\x1e")
		var live struct {
			Availability []struct {
				Kind        string  `json:"kind"`
				Institution string  `json:"institution"`
				CallNumber  *string `json:"call_number"`
			} `json:"availability"`
		}
		if code, _, body := env.get("/v1/records/" + id); code != 200 || json.Unmarshal(body, &live) != nil {
			t.Fatalf("/v1/records/%s: %d", id, code)
		}
		calls := map[string]bool{}
		for _, a := range live.Availability {
			if a.Kind == "physical" && a.CallNumber != nil {
				calls[a.Institution+" "+*a.CallNumber] = true
			}
		}
		got := map[string]bool{}
		for _, h := range opacHoldings(t, b) {
			if h.CallNumber != "" {
				got[h.Nuc+" "+h.CallNumber] = true
				if !h.Circ || h.Location == "" {
					t.Errorf("record %s: holding %+v has a call number but no location or circulation", id, h)
				}
			}
		}
		if d := cmp.Diff(calls, got); d != "" {
			t.Errorf("record %s: OPAC call numbers against /v1/records' live AVA (-live +opac):\n%s", id, d)
		}
		if len(calls) > 0 {
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("none of the first five records has physical inventory: nothing compared")
	}

	// A member database: the IZ records' own AVA makes the holdings.
	m := env.sim.Members()[0]
	if _, err := c.SearchTerm(m.Code, "m", 4, "history"); err != nil {
		t.Fatal(err)
	}
	mrecs, err := c.Present("m", 1, 5, z3950.OIDOPAC)
	if err != nil || len(mrecs) == 0 {
		t.Fatalf("member OPAC present: %d, %v", len(mrecs), err)
	}
	with := 0
	for _, b := range mrecs {
		for _, h := range opacHoldings(t, b) {
			if h.Nuc == m.Code && h.Circ {
				with++
				break
			}
		}
	}
	if with == 0 {
		t.Errorf("member database %s: no OPAC record has a holding of %s with circulation", m.Code, m.Code)
	}
}
