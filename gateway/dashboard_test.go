package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// TestStatusInWords fails the network's SRU until its breaker opens and
// reads /v1/status and /readyz as the dashboard does: the upstream is
// "failing" with its trial time and real call counts (not the breaker's
// reset ones), the verdict names it and what users get, and budgets are
// named by institution.
func TestStatusInWords(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Breaker.Cooldown = Duration(time.Minute) })
	type status struct {
		Verdict   verdict          `json:"verdict"`
		Upstreams []upstreamStatus `json:"upstreams"`
		Budget    []budgetLine     `json:"budget"`
	}
	read := func() status {
		t.Helper()
		code, _, body := env.get("/v1/status")
		if code != http.StatusOK {
			t.Fatalf("/v1/status: %d %s", code, body)
		}
		var s status
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	env.get("/v1/search?q=history")
	s := read()
	if s.Verdict.Status != "healthy" || !strings.HasPrefix(s.Verdict.Summary, "Healthy: all") {
		t.Errorf("verdict before the fault: %+v", s.Verdict)
	}
	var names []string
	for _, u := range s.Upstreams {
		names = append(names, u.Name)
	}
	want := []string{"sru:nz", "api:nz"}
	for _, m := range env.gw.cfg.Members {
		want = append(want, "sru:"+m.Code, "api:"+m.Code)
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("upstream order %v, want %v", names, want)
	}
	if s.Upstreams[0].State != "healthy" || s.Upstreams[0].Breaker != "closed" || s.Upstreams[0].RecentCalls < 1 {
		t.Errorf("sru:nz before the fault: %+v", s.Upstreams[0])
	}
	m0 := env.gw.cfg.Members[0]
	if !strings.Contains(s.Upstreams[2].Label, m0.Name) {
		t.Errorf("a member's upstream label %q does not name %q", s.Upstreams[2].Label, m0.Name)
	}
	for _, b := range s.Budget {
		if strings.Contains(b.Label, env.gw.cfg.APIKey) || b.Label == "" {
			t.Errorf("budget line label %q", b.Label)
		}
	}

	env.sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.Fault500})
	for i := 0; env.gw.reg.NZ().Guard.State().String() == "closed"; i++ {
		if i == 20 {
			t.Fatal("the breaker never opened")
		}
		env.get("/v1/search?q=fault" + string(rune('a'+i)))
	}
	s = read()
	nz := s.Upstreams[0]
	if nz.State != "failing" || nz.Breaker != "open" || nz.TrialInSeconds == nil || nz.Since == nil {
		t.Fatalf("sru:nz with its breaker open: %+v", nz)
	}
	if nz.RecentFailures < int(env.gw.cfg.Breaker.ConsecutiveFailures) || nz.RecentCalls < nz.RecentFailures {
		t.Errorf("sru:nz open shows %d calls and %d failures, want the failures that opened it", nz.RecentCalls, nz.RecentFailures)
	}
	if s.Verdict.Status != "degraded" || !strings.Contains(s.Verdict.Summary, "Network search (NZ SRU) failing since") || !strings.Contains(s.Verdict.Summary, "answered from the cache") {
		t.Errorf("verdict with the NZ SRU failing: %+v", s.Verdict)
	}
	_, _, body := env.get("/readyz")
	if !strings.Contains(string(body), `"alma":"failing"`) || !strings.Contains(string(body), `"alma_breaker":"open"`) {
		t.Errorf("/readyz with the breaker open: %s", body)
	}
}

// TestHistoryCountsAreTheMetrics: the dashboard's history reads requests
// from the routes' histogram children and calls from each guard's own
// counters, not from the registry; those must be the numbers /metrics
// exports (users' routes only; breaker refusals are no calls).
func TestHistoryCountsAreTheMetrics(t *testing.T) {
	env := newEnv(t, nil)
	for _, p := range []string{"/v1/search?q=history", "/v1/search?q=history", "/v1/search?q=music&limit=3", "/sru?version=1.2&operation=explain", "/healthz", "/nope"} {
		env.get(p)
	}
	fams, err := env.gw.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var requests float64
	calls, failures := map[string]float64{}, map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			switch f.GetName() {
			case "gateway_requests_total":
				if env.gw.routes.userTraffic(l["route"]) {
					requests += m.GetCounter().GetValue()
				}
			case "gateway_upstream_calls_total":
				if l["outcome"] != "breaker_open" {
					calls[l["upstream"]] += m.GetCounter().GetValue()
				}
				if l["outcome"] == "error" {
					failures[l["upstream"]] += m.GetCounter().GetValue()
				}
			}
		}
	}
	rt := env.gw.userRequests()
	if requests < 4 || float64(rt.Count) != requests || len(rt.Buckets) != len(rt.Bounds) || rt.Buckets[len(rt.Buckets)-1] > rt.Count {
		t.Errorf("history's requests %+v, /metrics %v users' requests", rt, requests)
	}
	var sum float64
	for _, g := range env.gw.guards() {
		c := g.Calls()
		if float64(c.Calls) != calls[g.Name()] || float64(c.Failures) != failures[g.Name()] {
			t.Errorf("%s: Calls %+v, /metrics %v calls and %v failures", g.Name(), c, calls[g.Name()], failures[g.Name()])
		}
		sum += float64(c.Calls)
	}
	if sum < 1 {
		t.Errorf("no Alma call counted by any guard")
	}
}
