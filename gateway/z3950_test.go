package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strconv"
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

// TestZ3950GroupPagedToTheEnd: a Z39.50 client pages a group (a merged
// database) by nextResultSetPosition from the first record to the last,
// past the first round the Search merged: each present past the records
// held asks the federation to fetch deeper (as /sru/{db} does), no record
// is lost or repeated, every position holds one work of the simulator's
// ground truth, and at the end every target's every hit is in the result.
func TestZ3950GroupPagedToTheEnd(t *testing.T) {
	env, names := fedEnv(t, func(c *Config) {
		c.Limits.MaxRecords = 20 // records per target per round
		c.Federation.Targets[0].MaxRecords, c.Federation.Targets[0].PageSize = 20, 10
	})
	simName := map[string]string{NZTarget: env.gw.reg.Network(), "ext": almasim.ExternalTarget}
	for _, n := range names[1:3] {
		simName[n] = n
	}
	c := dialZ(t, z3950Env(t, env))
	first, err := c.SearchCQL("all", "default", `alma.all_for_ui="history"`)
	if err != nil || first == 0 {
		t.Fatalf("search: %d hits, %v", first, err)
	}
	var served []*transform.Record // by position
	seen := map[string]int{}       // record -> position
	for pos, pages := 1, 0; pos != 0; pages++ {
		if pages > 200 {
			t.Fatal("more than 200 presents")
		}
		recs, info, err := c.PresentPage("default", pos, 20, z3950.OIDXML)
		if err != nil {
			t.Fatalf("present at %d: %v", pos, err)
		}
		if len(recs) == 0 && info.Next == pos {
			continue // the targets missed the deadline: ask again
		}
		if info.Next != 0 && info.Next != pos+len(recs) || len(recs) == 0 {
			t.Fatalf("present at %d: %d records, next %d, status %d", pos, len(recs), info.Next, info.Status)
		}
		for i, b := range recs {
			r, err := transform.Parse(b)
			if err != nil {
				t.Fatalf("record at %d: %v", pos+i, err)
			}
			if at, ok := seen[r.MMSID]; ok {
				t.Errorf("record %s at %d was already at %d", r.MMSID, pos+i, at)
			}
			seen[r.MMSID] = pos + i
			served = append(served, r)
		}
		pos = info.Next
	}
	if len(served) <= first {
		t.Fatalf("%d records paged, no more than the %d the search counted", len(served), first)
	}
	heldAll := env.gw.fed.Held()
	n := len(heldAll)
	if n != 1 {
		t.Fatalf("%d held results", n)
	}
	held := heldAll[0]
	if !held.TargetPage(1, 1).Merged.Complete || len(served) != len(held.Clusters) {
		t.Fatalf("%d records paged, %d merged (complete %v)", len(served), len(held.Clusters), held.TargetPage(1, 1).Merged.Complete)
	}
	work := map[string]int{} // work -> position
	got := map[string]int{}  // target -> records merged
	for i, c := range held.Clusters {
		// The record served at a position is one of the sources merged
		// there (a deeper round may since have joined a better copy of the
		// same work, which is now the cluster's preferred record).
		r, from := served[i], false
		w := ""
		for _, s := range c.Sources {
			from = from || s.ID == r.MMSID
			got[s.Target]++
			sw, ok := env.sim.Work(simName[s.Target], s.ID)
			if !ok {
				t.Fatalf("the simulator knows no %s:%s", s.Target, s.ID)
			}
			if w != "" && sw != w {
				t.Errorf("record at %d merges two works (%s and %s)", i+1, w, sw)
			}
			w = sw
		}
		if !from {
			t.Errorf("position %d: served %s %q, which is not among its merged sources %v", i+1, r.MMSID, r.Title, c.Sources)
		}
		if at, ok := work[w]; ok {
			t.Errorf("work %s is at %d and at %d", w, at, i+1)
		}
		work[w] = i + 1
	}
	for _, ts := range held.Targets {
		if got[ts.Name] != min(ts.Hits, 10000) || ts.Hits <= 20 && ts.Name == NZTarget {
			t.Errorf("%s: %d of its %d hits were merged", ts.Name, got[ts.Name], ts.Hits)
		}
	}
	// Past the end: diagnostic 13, which names the grown count.
	_, err = c.Present("default", len(served)+1, 1, z3950.OIDXML)
	var d *z3950.Diagnostic
	if !errors.As(err, &d) || d.Condition != 13 || !strings.Contains(d.AddInfo, "has "+strconv.Itoa(len(served))+" records") {
		t.Errorf("present past the end: %v", err)
	}
}
