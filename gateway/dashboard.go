package gateway

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/budget"
	"github.com/almanet/gateway/staff"
	"github.com/almanet/gateway/upstream"
)

// The staff dashboard (SPEC 11): the page, and the words /v1/status gives
// the upstreams' states and the whole gateway's health.

//go:embed web/dashboard.html
var dashboardHTML string

//go:embed web/signin.html
var signInHTML string

var dashboardTemplate = template.Must(template.New("dashboard").Parse(dashboardHTML))

// dashboardPage serves the page for a signed-in principal. What the
// principal may do (the resource-sharing button) is in the page's data;
// the endpoints check it again.
func (s *Server) dashboardPage(c *fiber.Ctx, p Principal) error {
	setPageHeaders(c)
	type member struct{ Code, Name string }
	var members []member
	for _, m := range s.cfg.Members {
		members = append(members, member{m.Code, m.Name})
	}
	scope := "all institutions"
	if !p.Admin && p.Institution != "" {
		scope = p.Institution
		if m, ok := s.cfg.Member(p.Institution); ok && m.Name != "" {
			scope = m.Name + " (" + m.Code + ")"
		}
	}
	var b bytes.Buffer
	err := dashboardTemplate.Execute(&b, map[string]any{
		"Name": p.Name, "Scope": scope, "Institution": p.Institution, "Admin": p.Admin,
		"Members": members, "SignedIn": !s.staff.Open(),
	})
	if err != nil {
		return err
	}
	return c.Status(http.StatusOK).Send(b.Bytes())
}

// stateWords names a breaker state for people: the breaker's own words
// read backwards (a "closed" breaker is a healthy upstream).
func stateWords(st gobreaker.State) string {
	switch st {
	case gobreaker.StateOpen:
		return "failing"
	case gobreaker.StateHalfOpen:
		return "recovering"
	}
	return "healthy"
}

// upstreamStatus is one upstream's line in /v1/status.
type upstreamStatus struct {
	// Name is the machine name: sru:nz, api:nz, sru:CODE, api:CODE.
	Name string `json:"name"`
	// Label is the name in words, with the member's name.
	Label string `json:"label"`
	// Institution is the member code, or "nz" for the network.
	Institution string `json:"institution"`
	// State is healthy, failing (breaker open) or recovering (half-open).
	State string `json:"state"`
	// Breaker is gobreaker's own word: closed, open or half-open.
	Breaker string `json:"breaker"`
	// Since is when the upstream stopped being healthy; null while healthy.
	Since *time.Time `json:"since"`
	// TrialInSeconds is when a failing upstream is tried again; null otherwise.
	TrialInSeconds *int `json:"trial_in_seconds"`
	// RecentCalls and RecentFailures count Alma calls over the last five
	// minutes (or since start); a breaker's refusals are not calls.
	RecentCalls    int `json:"recent_calls"`
	RecentFailures int `json:"recent_failures"`
	// RecentLatencyMS is their mean duration; null without calls.
	RecentLatencyMS *float64 `json:"recent_latency_ms"`
	// Requests and Failures are the breaker's own counts in its current
	// state (they restart at every state change).
	Requests uint32 `json:"requests"`
	Failures uint32 `json:"consecutive_failures"`
}

// guards returns every upstream's guard in a stable order: the network's
// SRU and API, then each member's SRU and API in configuration order, then
// the other registered targets (the registry's order).
func (s *Server) guards() []*upstream.Guard {
	nz := s.reg.NZ()
	out := []*upstream.Guard{nz.Guard}
	if g, ok := s.apiGuard["nz"]; ok {
		out = append(out, g)
	}
	for _, m := range s.cfg.Members {
		if t := s.reg.Member(m.Code); t != nil {
			out = append(out, t.Guard)
		}
		if g, ok := s.apiGuard[m.Code]; ok {
			out = append(out, g)
		}
	}
	for _, t := range s.reg.Targets() {
		if t != nz && t.Member == "" {
			out = append(out, t.Guard)
		}
	}
	return out
}

// upstreamRows is the upstream table of /v1/status.
func (s *Server) upstreamRows() []upstreamStatus {
	recent := s.history.Recent()
	var out []upstreamStatus
	for _, g := range s.guards() {
		st := g.State()
		cnt := g.Counts()
		_, code, _ := strings.Cut(g.Name(), ":")
		r := upstreamStatus{
			Name: g.Name(), Label: s.upstreamLabel(g.Name()), Institution: code,
			State: stateWords(st), Breaker: st.String(), Requests: cnt.Requests, Failures: cnt.ConsecutiveFailures,
		}
		rc := recent[g.Name()]
		r.Since = rc.Since
		if st == gobreaker.StateOpen {
			left := int(math.Ceil(g.TrialIn().Seconds()))
			r.TrialInSeconds = &left
		}
		r.RecentCalls, r.RecentFailures, r.RecentLatencyMS = rc.Calls, rc.Failures, rc.LatencyMS
		out = append(out, r)
	}
	return out
}

// verdict is the one line at the top of the dashboard.
type verdict struct {
	// Status is healthy or degraded.
	Status string `json:"status"`
	// Summary says it in words: which upstream, since when, what users get.
	Summary string `json:"summary"`
}

// meanwhile says what users get while an upstream is failing.
func (s *Server) meanwhile(name string) string {
	kind, code, _ := strings.Cut(name, ":")
	if t, ok := s.reg.ByGuard(name); ok && t.Kind != KindAlma {
		return "federated searches show " + t.Name + " as breaker_open or answer it from its stale copy; the other targets answer"
	}
	switch {
	case name == "sru:nz":
		return "searches are answered from the cache (marked stale) where an answer is cached; others get 503 with Retry-After"
	case kind == "sru":
		return "searches of " + code + "'s own catalogue are answered from the cache where cached; the network search is unaffected"
	case name == "api:nz":
		return "network availability counts come from the cache (marked stale) or are shown as unknown"
	}
	return code + "'s live availability comes from the cache (marked stale) or is shown as unknown"
}

func (s *Server) verdictOf(rows []upstreamStatus) verdict {
	var bad []string
	for _, r := range rows {
		if r.State == "healthy" {
			continue
		}
		line := r.Label + " " + r.State
		if r.Since != nil {
			line += " since " + r.Since.Format("15:04:05") + " UTC"
		}
		if r.TrialInSeconds != nil {
			line += fmt.Sprintf(" (next trial in %d s)", *r.TrialInSeconds)
		}
		bad = append(bad, line+": "+s.meanwhile(r.Name))
	}
	if s.draining.Load() {
		bad = append(bad, "the gateway is shutting down: it finishes the requests it has and takes no new ones")
	}
	if len(bad) == 0 {
		return verdict{Status: "healthy", Summary: fmt.Sprintf("Healthy: all %d upstreams answer normally.", len(rows))}
	}
	return verdict{Status: "degraded", Summary: "Degraded: " + strings.Join(bad, "; ") + "."}
}

// budgetLine is one call budget in /v1/status: a key's hash, never the key,
// and the institutions that use it.
type budgetLine struct {
	ID           string     `json:"id"`
	Institutions []string   `json:"institutions"`
	Label        string     `json:"label"`
	Calls        uint64     `json:"calls"`
	Waits        uint64     `json:"waits"`
	Backoffs     uint64     `json:"backoffs"`
	Refused      uint64     `json:"refused"`
	Remaining    *int       `json:"remaining"` // Alma's X-Exl-Api-Remaining; null when unknown
	BackoffUntil *time.Time `json:"backoff_until"`
}

// budgetStatus names each key's budget by the institutions using the key.
func (s *Server) budgetStatus(ks []budget.KeyStats) []budgetLine {
	codes := map[string][]string{}
	names := map[string][]string{}
	add := func(id, code, name string) {
		codes[id] = append(codes[id], code)
		names[id] = append(names[id], name)
	}
	for _, t := range s.reg.Targets() { // each target's searches spend its own budget
		add(budget.ID(t.Budget), t.Name, t.Label)
	}
	if s.cfg.APIKey != "" {
		add(budget.ID("apikey:"+s.cfg.APIKey), "nz", "Network (NZ API key)")
	}
	for _, m := range s.cfg.Members {
		n := m.Code
		if m.Name != "" {
			n = m.Name + " (" + m.Code + ")"
		}
		if m.APIKey != "" {
			add(budget.ID("apikey:"+m.APIKey), m.Code, n+" (API key)")
		}
	}
	out := make([]budgetLine, 0, len(ks))
	for _, k := range ks {
		l := budgetLine{ID: k.ID, Institutions: codes[k.ID], Calls: k.Calls, Waits: k.Waits, Backoffs: k.Backoffs, Refused: k.Refused}
		if l.Institutions == nil {
			l.Institutions = []string{}
			l.Label = "calls without a key, or a key no institution uses now"
		} else {
			l.Label = strings.Join(names[k.ID], ", ")
		}
		if k.Remaining >= 0 {
			r := k.Remaining
			l.Remaining = &r
		}
		if !k.BackoffUntil.IsZero() {
			t := k.BackoffUntil.UTC()
			l.BackoffUntil = &t
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b budgetLine) int { return strings.Compare(a.Label, b.Label) })
	return out
}

// handleHistory serves GET /dashboard/history: the charts' points.
func (s *Server) handleHistory() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		return c.JSON(fiber.Map{
			"interval_seconds": s.history.Interval().Seconds(),
			"span_seconds":     staff.HistorySpan.Seconds(),
			"points":           s.history.Points(),
		})
	}
}

// upstreamLabel is an upstream's name in words, from the members' names.
func (s *Server) upstreamLabel(name string) string {
	if t, ok := s.reg.ByGuard(name); ok {
		return t.Label
	}
	kind, code, _ := strings.Cut(name, ":")
	who := "Network"
	if code != "nz" {
		who = code
		if m, ok := s.cfg.Member(code); ok && m.Name != "" {
			who = m.Name + " (" + m.Code + ")"
		}
	}
	switch kind {
	case "sru":
		if code == "nz" {
			return "Network search (NZ SRU)"
		}
		return who + ": own catalogue (SRU)"
	case "api":
		if code == "nz" {
			return "Network availability (REST API, NZ key)"
		}
		return who + ": live availability (REST API)"
	}
	return name
}
