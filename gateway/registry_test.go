package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/z3950"
)

// TestRegistryTargetsInStatus fails a configured federation target until
// its breaker opens: /v1/status lists it (as the dashboard does) with its
// breaker state, and the verdict counts it: never "Healthy: all N
// upstreams" while it fails. /metrics names every registered target.
func TestRegistryTargetsInStatus(t *testing.T) {
	env, _ := fedEnv(t, nil)
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
	row := func(s status, name string) *upstreamStatus {
		for i := range s.Upstreams {
			if s.Upstreams[i].Name == name {
				return &s.Upstreams[i]
			}
		}
		return nil
	}
	s := read()
	ext := row(s, "sru:ext")
	if ext == nil || ext.Breaker != "closed" || !strings.Contains(ext.Label, "ext") {
		t.Fatalf("the configured target ext in /v1/status: %+v", s.Upstreams)
	}
	if !strings.Contains(s.Verdict.Summary, fmt.Sprintf("all %d upstreams", len(s.Upstreams))) {
		t.Errorf("healthy verdict %q does not count the %d upstreams", s.Verdict.Summary, len(s.Upstreams))
	}
	if !slices.ContainsFunc(s.Budget, func(b budgetLine) bool { return slices.Contains(b.Institutions, "ext") }) {
		env.fed(url.Values{"q": {"budget"}, "targets": {"ext"}})
		if s = read(); !slices.ContainsFunc(s.Budget, func(b budgetLine) bool { return slices.Contains(b.Institutions, "ext") }) {
			t.Errorf("no budget line names ext: %+v", s.Budget)
		}
	}

	env.sim.SetTargetFault("ext", almasim.Fault{Kind: almasim.Fault500})
	for i := 0; row(read(), "sru:ext").Breaker != "open"; i++ {
		if i == 20 {
			t.Fatal("the breaker of ext never opened")
		}
		env.fed(url.Values{"q": {fmt.Sprintf("history %d", i)}, "targets": {"all"}})
	}
	s = read()
	if ext := row(s, "sru:ext"); ext.State != "failing" || ext.TrialInSeconds == nil {
		t.Errorf("ext with its breaker open: %+v", ext)
	}
	if s.Verdict.Status != "degraded" || !strings.Contains(s.Verdict.Summary, "ext") || strings.Contains(s.Verdict.Summary, "Healthy") {
		t.Errorf("verdict with ext failing: %+v", s.Verdict)
	}

	_, _, body := env.get("/metrics")
	for _, want := range []string{`gateway_breaker_state{upstream="sru:ext"} 2`, `gateway_target_info{kind="sru",target="ext",upstream="sru:ext"} 1`,
		`gateway_target_info{kind="alma",target="nz",upstream="sru:nz"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRegistryZ3950Databases: the Z39.50 databases come from the registry:
// the network code, every target, and the groups (merged databases).
func TestRegistryZ3950Databases(t *testing.T) {
	env, names := fedEnv(t, nil)
	dbs := env.gw.Z3950Databases()
	for _, want := range append([]string{"Default", env.sim.NetworkCode(), "all"}, names[1:]...) {
		if !slices.Contains(dbs, want) {
			t.Errorf("Z39.50 databases %v lack %s", dbs, want)
		}
	}
	b := z3950Backend{env.gw}
	for name, want := range map[string]string{"ALL": "all", env.sim.NetworkCode(): NZTarget, "default": "Default", "Ext": "ext"} {
		if got, ok := b.Database(name); !ok || got != want {
			t.Errorf("Database(%q) = %q %v, want %q", name, got, ok, want)
		}
	}
}

// TestZ3950GroupDatabase searches a federation group over Z39.50: the
// merged result's count and records, each with the union of holdings, as
// the federated feed has them.
func TestZ3950GroupDatabase(t *testing.T) {
	env, _ := fedEnv(t, nil)
	c := dialZ(t, z3950Env(t, env))
	hits, err := c.SearchTerm("all", "g", 4, "history")
	if err != nil {
		t.Fatal(err)
	}
	_, _, feed := env.fed(url.Values{"query": {`alma.title="history"`}, "targets": {"all"}, "limit": {"5"}})
	if hits != feed.Total || hits == 0 {
		t.Fatalf("z39.50 group: %d hits, federated feed %d", hits, feed.Total)
	}
	recs, err := c.Present("g", 1, 5, z3950.OIDXML)
	if err != nil || len(recs) != 5 {
		t.Fatalf("present: %d records, %v", len(recs), err)
	}
	for i, b := range recs {
		r, err := transform.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if r.Title != feed.Records[i].Title || len(r.Holdings) != len(feed.Records[i].Holdings) {
			t.Errorf("record %d: %q with %d holdings, feed %q with %d", i+1, r.Title, len(r.Holdings), feed.Records[i].Title, len(feed.Records[i].Holdings))
		}
	}
}
