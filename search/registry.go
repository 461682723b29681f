package search

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/upstream"
	"github.com/almanet/gateway/z3950"
)

// The registry (SPEC 14) is the one list of what the gateway can search:
// the network's SRU (nz), each member with an sru_url, each configured
// target, and the groups over them, each target with its guard (breaker,
// deadline) and the name its call budget is spent under. Every part that
// asks "which targets exist" reads it: the JSON feed and the SRU front end
// (targets=, default_targets, /sru/{db}), the Z39.50 server's databases,
// records and availability, writes, /v1/status, the dashboard and /metrics.
// A new kind of target (Z39.50, SPEC 15) is one more adapter behind Target
// registered here with its own kind.

// Target kinds.
const (
	// KindAlma is an Alma SRU endpoint: the network's (nz) or a member's
	// own IZ SRU. It pages to Alma's 10,000 cap in pages of 50 and sorts by
	// CQL sortBy.
	KindAlma = "alma"
	// KindSRU is a configured SRU server (SPEC 9.1 targets:).
	KindSRU = "sru"
	// KindZ3950 is a configured Z39.50 target (SPEC 15): one pooled
	// session per target, CQL sent as Bib-1 RPN.
	KindZ3950 = "z3950"
)

// regTarget is one registered target with what searching and merging it
// needs.
type RegTarget struct {
	Name    string // how requests, groups and answers name it: nz, a member code, a target name
	Kind    string // KindAlma, KindSRU, …
	Label   string // the name in words, for the dashboard
	Target  Target // already behind guard
	adapter Target // the adapter inside the guard (sruTarget, fedSRUTarget, zTarget)
	Guard   *upstream.Guard
	Budget  string // the name its call budget is spent under (budget.ID(budget))

	NZ         bool   // the network's own SRU
	Member     string // a member's IZ SRU: its code
	MemberName string // and its configured display name, for the holding its records stand for
	Weight     float64
	MaxRecords int               // records a merged search fetches from it
	PageSize   int               // records per call
	IndexMap   map[string]string // nil: the gateway's index names go unchanged
	Schema     string
	Sorts      bool        // sorts by the gateway's CQL sortBy (Alma's sortable indexes)
	Client     *sru.Client // the SRU client of KindAlma and KindSRU targets, nil for KindZ3950
}

// refuses says why q cannot be sent to the target (an SRU diagnostic:
// 16 for an index its index map lacks, and for a Z39.50 target the
// relations, masking and anchoring Bib-1 cannot say), nil when it can.
// A federated search skips such a target with that diagnostic.
func (t *RegTarget) Refuses(q *sru.Query) *sru.Diagnostic {
	if z, ok := t.adapter.(*ZTarget); ok {
		_, d := z3950.CQLToRPN(q.CQL, z.index)
		return d
	}
	if t.IndexMap != nil {
		_, d := sru.MapQuery(q.CQL, t.IndexMap)
		return d
	}
	return nil
}

// Origin is a Z39.50 target's session pool, nil for other kinds.
func (t *RegTarget) Origin() *z3950.Origin {
	if z, ok := t.adapter.(*ZTarget); ok {
		return z.Origin
	}
	return nil
}

// targetInfo exports the registry in /metrics: one gateway_target_info
// series per target, naming its kind and the upstream label its calls,
// breaker and budget are counted under.
type targetInfo struct{ r *Registry }

var targetInfoDesc = prometheus.NewDesc("gateway_target_info",
	"Every registered search target (1): its kind and the upstream its calls, breaker state and budget are named by.",
	[]string{"target", "kind", "upstream"}, nil)

func (c targetInfo) Describe(ch chan<- *prometheus.Desc) { ch <- targetInfoDesc }

func (c targetInfo) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.r.Targets() {
		ch <- prometheus.MustNewConstMetric(targetInfoDesc, prometheus.GaugeValue, 1, t.Name, t.Kind, t.Guard.Name())
	}
}

// registry is the gateway's targets and groups.
type Registry struct {
	cfg     *config.Config // groups and default_targets, resolved by Config.ResolveTargets
	list    []*RegTarget
	byName  map[string]*RegTarget // by lower-case name
	network string                // the network code (…/view/sru/<code>), "" when the URL names none
	origins []*z3950.Origin       // the Z39.50 targets' session pools
}

// Network is the network code (…/view/sru/<code>), "" when the network's
// SRU URL names none.
func (r *Registry) Network() string { return r.network }

func NewRegistry(cfg *config.Config) *Registry {
	return &Registry{cfg: cfg, byName: map[string]*RegTarget{}, network: networkCode(cfg.SRUURL)}
}

// networkCode is the last path segment of the network's SRU URL
// (…/view/sru/<code>), or "".
func networkCode(sruURL string) string {
	u, err := url.Parse(sruURL)
	if err != nil {
		return ""
	}
	nc := path.Base(strings.TrimRight(u.Path, "/"))
	if nc == "." || nc == "/" || strings.EqualFold(nc, "sru") {
		return ""
	}
	return nc
}

// add registers t; names are unique (Config.Validate sees to it).
func (r *Registry) Add(t *RegTarget) {
	r.list = append(r.list, t)
	r.byName[strings.ToLower(t.Name)] = t
}

// targets lists every registered target in registration order: nz, the
// members with an sru_url, then the configured targets.
func (r *Registry) Targets() []*RegTarget { return r.list }

// nz is the network's own target, always registered.
func (r *Registry) NZ() *RegTarget { return r.byName[config.NZTarget] }

// get finds a target by name, case-insensitively.
func (r *Registry) Get(name string) (*RegTarget, bool) {
	t, ok := r.byName[strings.ToLower(name)]
	return t, ok
}

// member is a member's own target, or nil when it has no sru_url.
func (r *Registry) Member(code string) *RegTarget {
	if t, ok := r.Get(code); ok && t.Member != "" {
		return t
	}
	return nil
}

// only is the one target names resolve to, or nil for several.
func (r *Registry) Only(names []string) *RegTarget {
	if len(names) != 1 {
		return nil
	}
	t, _ := r.Get(names[0])
	return t
}

// names lists the targets' names in registration order.
func (r *Registry) Names() []string {
	out := make([]string, len(r.list))
	for i, t := range r.list {
		out[i] = t.Name
	}
	return out
}

// groups lists the configured group names, sorted.
func (r *Registry) Groups() []string {
	out := make([]string, 0, len(r.cfg.Federation.Groups))
	for g := range r.cfg.Federation.Groups {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// resolve expands a targets= list (names, group names, or the network
// code for nz; comma-separated) into registered names in registration
// order, each once; an empty list is default_targets (itself [nz] unless
// configured). An unknown name is a client error naming it and listing
// what exists.
func (r *Registry) Resolve(list string) ([]string, error) {
	if r.network != "" {
		parts := strings.Split(list, ",")
		for i, p := range parts {
			if strings.EqualFold(strings.TrimSpace(p), r.network) {
				parts[i] = config.NZTarget
			}
		}
		list = strings.Join(parts, ",")
	}
	names, err := r.cfg.ResolveTargets(list)
	if err != nil {
		return nil, badRequest(6, err.Error()+" (targets: "+strings.Join(r.Names(), ", ")+")")
	}
	return names, nil
}

// guards lists every registered target's guard, in registration order.
func (r *Registry) Guards() []*upstream.Guard {
	out := make([]*upstream.Guard, 0, len(r.list))
	for _, t := range r.list {
		out = append(out, t.Guard)
	}
	return out
}

// byGuard finds the target a guard name belongs to.
func (r *Registry) ByGuard(name string) (*RegTarget, bool) {
	for _, t := range r.list {
		if t.Guard.Name() == name {
			return t, true
		}
	}
	return nil, false
}

// BuildRegistry registers every target with its client and guard: the
// network's SRU (nz), each member with an sru_url (by code), then each
// configured target (SPEC 9.1). Alma SRU guards probe with a count-only
// search; each target's calls spend the budget named after its guard, and
// report to health.
func BuildRegistry(cfg *config.Config, tr *upstream.Transport, health *upstream.Health) (*Registry, error) {
	r := NewRegistry(cfg)
	timeout := cfg.Upstream.Timeout.D()
	memberName := func(code string) string {
		if m, ok := cfg.Member(code); ok {
			return m.Name
		}
		return ""
	}
	alma := func(name, member, label, baseURL string) *RegTarget {
		up := "sru:" + name
		client := &sru.Client{BaseURL: baseURL, HTTP: tr.Doer(up), MaxBody: cfg.Upstream.MaxBodyBytes}
		g := upstream.NewGuard(up, cfg.Breaker, timeout, health)
		g.Probe = sruProbe(client)
		return &RegTarget{Name: name, Kind: KindAlma, Label: label, Target: Guarded(g, &SRUTarget{Client: client, Names: memberName}), Guard: g, Budget: up,
			NZ: name == config.NZTarget, Member: member, MemberName: memberName(member), Weight: 1, MaxRecords: cfg.Limits.MaxRecords, PageSize: sru.AlmaMaxRecords,
			Schema: "marcxml", Sorts: true, Client: client}
	}
	r.Add(alma(config.NZTarget, "", "Network search (NZ SRU)", cfg.SRUURL))
	for _, m := range cfg.Members {
		if m.SRUURL == "" {
			continue
		}
		who := m.Code
		if m.Name != "" {
			who = m.Name + " (" + m.Code + ")"
		}
		r.Add(alma(m.Code, m.Code, who+": own catalogue (SRU)", m.SRUURL))
	}
	for i := range cfg.Federation.Targets {
		tc := &cfg.Federation.Targets[i]
		if tc.IsZ3950() {
			zt, err := zRegTarget(cfg, tc, tr, health)
			if err != nil {
				return nil, fmt.Errorf("config: targets: %s: %v", tc.Name, err)
			}
			r.origins = append(r.origins, zt.Origin())
			r.Add(zt)
			continue
		}
		up := "sru:" + tc.Name
		client := &sru.Client{BaseURL: tc.URL, HTTP: tr.Doer(up), MaxBody: cfg.Upstream.MaxBodyBytes,
			Version: tc.Version, PageMax: tc.PageSize, APIKey: tc.APIKey}
		g := upstream.NewGuard(up, cfg.Breaker, tc.Timeout.D(), health)
		r.Add(&RegTarget{Name: tc.Name, Kind: KindSRU, Label: tc.Name + ": federation target (SRU)",
			Target: Guarded(g, &fedSRUTarget{client: client, indexMap: tc.IndexMap}), Guard: g, Budget: up,
			Weight: tc.Weight, MaxRecords: tc.MaxRecords, PageSize: tc.PageSize, IndexMap: tc.IndexMap, Schema: tc.RecordSchema, Client: client})
	}
	return r, nil
}

// Origins lists the Z39.50 targets' session pools, for Close.
func (r *Registry) Origins() []*z3950.Origin { return r.origins }

// Collector is the registry's /metrics collector (gateway_target_info).
func (r *Registry) Collector() prometheus.Collector { return targetInfo{r} }

// sruProbe is the cheap half-open trial for an SRU upstream: a count-only
// search, which Alma answers without building records.
func sruProbe(c *sru.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Search(ctx, sru.SearchParams{Query: `alma.mms_id=0`, Start: 1, Max: 0, Schema: "marcxml"})
		return err
	}
}
