package gateway

// Each search-path handler driven through a bare Fiber app with an inline
// fake Target (TargetFunc) and fake Bibs API (bibFunc), instead of the
// simulator: what the handler asks of its target and what it answers.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
)

// marcRecord is a small MARCXML record with an MMS ID, a title and one
// member's 852 and AVA.
func marcRecord(id, title string) []byte {
	return []byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>` +
		`<controlfield tag="001">` + id + `</controlfield>` +
		`<datafield tag="245" ind1="0" ind2="0"><subfield code="a">` + title + `</subfield></datafield>` +
		`<datafield tag="852" ind1=" " ind2=" "><subfield code="a">01NET_INST</subfield><subfield code="6">99` + id[2:] + `</subfield><subfield code="9">P</subfield></datafield>` +
		`<datafield tag="AVA" ind1=" " ind2=" "><subfield code="a">01NET_INST</subfield><subfield code="b">MAIN</subfield><subfield code="e">available</subfield><subfield code="f">2</subfield><subfield code="g">0</subfield></datafield>` +
		`</record>`)
}

func parsed(t *testing.T, id, title string) *transform.Record {
	t.Helper()
	r, err := transform.Parse(marcRecord(id, title))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeTarget records the queries it gets and answers with answer.
type fakeTarget struct {
	mu     sync.Mutex
	got    []TargetQuery
	answer func(q TargetQuery) (*TargetPage, error)
}

func (f *fakeTarget) target() Target {
	return search.TargetFunc(func(ctx context.Context, q TargetQuery) (*TargetPage, error) {
		f.mu.Lock()
		f.got = append(f.got, q)
		f.mu.Unlock()
		return f.answer(q)
	})
}

func (f *fakeTarget) queries() []TargetQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TargetQuery(nil), f.got...)
}

// pageOf answers q from a list of n records.
func pageOf(t *testing.T, n int) func(q TargetQuery) (*TargetPage, error) {
	recs := make([]*transform.Record, n)
	for i := range recs {
		recs[i] = parsed(t, fmt.Sprintf("99%011d", i+1), fmt.Sprintf("Title %d", i+1))
	}
	return func(q TargetQuery) (*TargetPage, error) {
		p := &TargetPage{Total: n}
		if q.Start > n && q.Count > 0 {
			p.Diagnostics = []sru.Diagnostic{*sru.NewDiagnostic(61, "")}
			return p, nil
		}
		for i := q.Start; i < q.Start+q.Count && i <= n; i++ {
			p.Records = append(p.Records, TargetRecord{Position: i, ID: recs[i-1].MMSID, Record: recs[i-1]})
		}
		return p, nil
	}
}

// handlerRig is a bare Fiber app with one handler on one route.
type handlerRig struct {
	t    *testing.T
	app  *fiber.App
	pipe *Searcher
	now  *fakeClock
}

func newHandlerRig(t *testing.T, build func(pipe *Searcher, errs errorWriter, rules queryRules) (string, fiber.Handler)) *handlerRig {
	t.Helper()
	mem, err := cache.NewMemory(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	loader := cache.NewLoader(cache.LoaderOptions{Memory: mem, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { loader.Close(); mem.Close() })
	pipe := NewSearcher(SearcherOptions{Loader: loader, Life: cache.Lifetime{Fresh: time.Minute, Stale: time.Hour},
		DiagnosticTTL: 10 * time.Second, Wait: 5 * time.Second, Now: clock.Now})
	var cfg Config
	cfg.ApplyDefaults()
	idx := &atomic.Pointer[sru.IndexSet]{}
	idx.Store(sru.DefaultIndexSet())
	errs := errorWriter{log: slog.New(slog.DiscardHandler), now: clock.Now}
	route, h := build(pipe, errs, queryRules{indexes: idx, limits: cfg.Limits})
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ErrorHandler: func(c *fiber.Ctx, err error) error {
		return errs.json(c, c.Path(), err, time.Now())
	}})
	app.Get(route, h)
	app.Post(route, h)
	return &handlerRig{t: t, app: app, pipe: pipe, now: clock}
}

func (r *handlerRig) get(target string, hdr ...string) (int, http.Header, []byte) {
	r.t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := r.app.Test(req, -1)
	if err != nil {
		r.t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

type feedAnswer struct {
	Query       string           `json:"query"`
	Total       int              `json:"total"`
	Next        *int             `json:"next"`
	Records     []map[string]any `json:"records"`
	Diagnostics []JSONDiagnostic `json:"diagnostics"`
	Meta        map[string]any   `json:"meta"`
}

func decodeFeed(t *testing.T, body []byte) feedAnswer {
	t.Helper()
	var a feedAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	return a
}

// soloRegistry is a registry of one target, nz, answered by tg: the
// search model then passes every search through to tg.
func soloRegistry(tg Target) *Registry {
	cfg := &Config{}
	cfg.ApplyDefaults()
	r := search.NewRegistry(cfg)
	r.Add(&RegTarget{Name: NZTarget, Kind: KindAlma, Target: tg, NZ: true, Sorts: true, Weight: 1, Schema: "marcxml"})
	return r
}

func searchRig(t *testing.T, ft *fakeTarget) *handlerRig {
	return newHandlerRig(t, func(pipe *Searcher, errs errorWriter, rules queryRules) (string, fiber.Handler) {
		return "/v1/search", newSearchHandler(rules, pipe, soloRegistry(ft.target()), nil, cache.Lifetime{}, errs)
	})
}

func TestSearchHandlerWithFakeTarget(t *testing.T) {
	ft := &fakeTarget{answer: pageOf(t, 12)}
	r := searchRig(t, ft)
	code, h, body := r.get("/v1/search?query=alma.title%3Dtitle&limit=5")
	got := decodeFeed(t, body)
	if code != http.StatusOK || got.Total != 12 || len(got.Records) != 5 || got.Next == nil || *got.Next != 6 {
		t.Fatalf("status %d total %d records %d next %v; want 200, 12, 5, 6\n%s", code, got.Total, len(got.Records), got.Next, body)
	}
	if h.Get("X-Cache") != "MISS" || h.Get("Age") != "" || h.Get("ETag") == "" {
		t.Errorf("miss headers: X-Cache %q Age %q ETag %q; want MISS, no Age, an ETag", h.Get("X-Cache"), h.Get("Age"), h.Get("ETag"))
	}
	r.now.Advance(7 * time.Second)
	code, h2, body2 := r.get("/v1/search?query=alma.title%3Dtitle&limit=5")
	if code != http.StatusOK || h2.Get("X-Cache") != "HIT" || h2.Get("Age") != "7" || h2.Get("ETag") != h.Get("ETag") {
		t.Errorf("hit: status %d X-Cache %q Age %q ETag %q; want 200 HIT 7 %q", code, h2.Get("X-Cache"), h2.Get("Age"), h2.Get("ETag"), h.Get("ETag"))
	}
	if d := cmp.Diff(stripMeta(body), stripMeta(body2)); d != "" {
		t.Errorf("a hit's body differs from the miss's (-miss +hit):\n%s", d)
	}
	code, _, _ = r.get("/v1/search?query=alma.title%3Dtitle&limit=5", "If-None-Match", h.Get("ETag"))
	if code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: status %d, want 304", code)
	}
	want := []TargetQuery{{CQL: `alma.title="title"`, Start: 1, Count: 5}}
	if d := cmp.Diff(ft.queries(), want); d != "" {
		t.Errorf("queries sent to the target (-got +want):\n%s", d)
	}
}

// TestKeywordsMatchAllWordsInAnyOrder: q is plain keywords, every word
// must match in any order (CQL all), quoted parts as phrases.
func TestKeywordsMatchAllWordsInAnyOrder(t *testing.T) {
	for _, c := range []struct{ q, want string }{
		{"history", `alma.all_for_ui="history"`},
		{"history science", `alma.all_for_ui all "history science"`},
		{"  science   history ", `alma.all_for_ui all "science history"`},
		{`"data science"`, `alma.all_for_ui="data science"`},
		{`history "data science" society`, `alma.all_for_ui all "history society" and alma.all_for_ui="data science"`},
		{`say "unclosed phrase`, `alma.all_for_ui="say" and alma.all_for_ui="unclosed phrase"`},
		{`back\slash`, `alma.all_for_ui="back\\slash"`},
	} {
		t.Run(c.q, func(t *testing.T) {
			ft := &fakeTarget{answer: pageOf(t, 1)}
			r := searchRig(t, ft)
			code, _, body := r.get("/v1/search?q=" + urlEscape(c.q))
			if code != http.StatusOK {
				t.Fatalf("status %d\n%s", code, body)
			}
			qs := ft.queries()
			if len(qs) != 1 {
				t.Fatalf("%d target calls, want 1", len(qs))
			}
			if got := qs[0].CQL; got != c.want {
				t.Errorf("CQL = %s, want %s", got, c.want)
			}
		})
	}
	ft := &fakeTarget{answer: pageOf(t, 1)}
	r := searchRig(t, ft)
	if code, _, body := r.get(`/v1/search?q=%22%22`); code != http.StatusBadRequest || !strings.Contains(string(body), "info:srw/diagnostic/1/7") {
		t.Errorf(`q="": status %d, want 400 with diagnostic 7`+"\n%s", code, body)
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", `\`, "%5C")
	return r.Replace(s)
}

// TestPagingPastTheEndKeepsTheTotal: a start past the end answers the real
// total with diagnostic 61, in the feed and in SRU.
func TestPagingPastTheEndKeepsTheTotal(t *testing.T) {
	ft := &fakeTarget{answer: pageOf(t, 7)}
	r := searchRig(t, ft)
	code, _, body := r.get("/v1/search?query=alma.title%3Dx&start=21&limit=10")
	got := decodeFeed(t, body)
	if code != http.StatusOK || got.Total != 7 || len(got.Records) != 0 || got.Next != nil {
		t.Errorf("status %d total %d records %d next %v; want 200, 7, 0, null\n%s", code, got.Total, len(got.Records), got.Next, body)
	}
	if len(got.Diagnostics) != 1 || got.Diagnostics[0].URI != "info:srw/diagnostic/1/61" {
		t.Errorf("diagnostics = %+v, want one 61", got.Diagnostics)
	}

	sr := sruRig(t, &fakeTarget{answer: pageOf(t, 7)})
	_, _, sbody := sr.get("/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dx&startRecord=21")
	for _, want := range []string{"<zs:numberOfRecords>7</zs:numberOfRecords>", "info:srw/diagnostic/1/61"} {
		if !strings.Contains(string(sbody), want) {
			t.Errorf("SRU answer lacks %s:\n%s", want, sbody)
		}
	}
}

// TestSRUTargetPastTheEndAsksForTheTotal: Alma answers a start past the
// end with 61 and no count; the adapter asks for the count.
func TestSRUTargetPastTheEndAsksForTheTotal(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		calls = append(calls, req.URL.Query().Get("startRecord")+"/"+req.URL.Query().Get("maximumRecords"))
		mu.Unlock()
		if req.URL.Query().Get("maximumRecords") == "0" {
			io.WriteString(w, `<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2</version><numberOfRecords>7</numberOfRecords></searchRetrieveResponse>`)
			return
		}
		io.WriteString(w, `<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2</version><diagnostics><diagnostic xmlns="http://www.loc.gov/zing/srw/diagnostic/"><uri>info:srw/diagnostic/1/61</uri><message>First record position out of range</message></diagnostic></diagnostics></searchRetrieveResponse>`)
	}))
	defer srv.Close()
	tg := &search.SRUTarget{Client: &sru.Client{BaseURL: srv.URL}}
	p, err := tg.Search(context.Background(), TargetQuery{CQL: "alma.title=x", Start: 21, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 7 || len(p.Diagnostics) != 1 || p.Diagnostics[0].Number() != 61 {
		t.Errorf("page total %d diagnostics %+v, want 7 and 61", p.Total, p.Diagnostics)
	}
	if d := cmp.Diff(calls, []string{"21/10", "1/0"}); d != "" {
		t.Errorf("Alma calls (-got +want):\n%s", d)
	}
}

func TestSearchHandlerErrors(t *testing.T) {
	down := &fakeTarget{answer: func(TargetQuery) (*TargetPage, error) {
		return nil, &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "sru:nz", Detail: "Alma could not be reached", RetryAfter: 9 * time.Second}
	}}
	refusing := &fakeTarget{answer: func(TargetQuery) (*TargetPage, error) {
		return &TargetPage{Diagnostics: []sru.Diagnostic{*sru.NewDiagnostic(16, "alma.nope")}}, nil
	}}
	for _, c := range []struct {
		name, target string
		ft           *fakeTarget
		status       int
		uri, retry   string
	}{
		{"unknown parameter", "/v1/search?q=x&foo=1", down, 400, "info:srw/diagnostic/1/8", ""},
		{"bad CQL", "/v1/search?query=%28%28", down, 400, "info:srw/diagnostic/1/10", ""},
		{"upstream down", "/v1/search?q=x", down, 503, "info:srw/diagnostic/1/1", "9"},
		{"target diagnostic", "/v1/search?q=x", refusing, 400, "info:srw/diagnostic/1/16", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := searchRig(t, c.ft)
			code, h, body := r.get(c.target)
			got := decodeFeed(t, body)
			if code != c.status || len(got.Diagnostics) == 0 || got.Diagnostics[0].URI != c.uri || h.Get("Retry-After") != c.retry {
				t.Errorf("status %d Retry-After %q diagnostics %+v; want %d %q %s\n%s", code, h.Get("Retry-After"), got.Diagnostics, c.status, c.retry, c.uri, body)
			}
			if h.Get("ETag") == "" || h.Get("X-Cache") != "MISS" || h.Get("Age") != "" || got.Meta == nil {
				t.Errorf("error headers: ETag %q X-Cache %q Age %q meta %v; want an ETag, MISS, no Age, a meta block", h.Get("ETag"), h.Get("X-Cache"), h.Get("Age"), got.Meta)
			}
		})
	}
}

func sruRig(t *testing.T, ft *fakeTarget) *handlerRig {
	return newHandlerRig(t, func(pipe *Searcher, errs errorWriter, rules queryRules) (string, fiber.Handler) {
		return "/sru", newSRUHandler(rules, pipe, soloRegistry(ft.target()), nil, cache.Lifetime{}, errs)
	})
}

func TestSRUHandlerWithFakeTarget(t *testing.T) {
	ft := &fakeTarget{answer: pageOf(t, 3)}
	r := sruRig(t, ft)
	const q = "/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dtitle&maximumRecords=2"
	code, h, body := r.get(q)
	for _, want := range []string{"<zs:numberOfRecords>3</zs:numberOfRecords>", "<zs:nextRecordPosition>3</zs:nextRecordPosition>", "Title 2", "<zs:recordIdentifier>9900000000002</zs:recordIdentifier>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("SRU answer lacks %s", want)
		}
	}
	if code != 200 || h.Get("X-Cache") != "MISS" || h.Get("Age") != "" || h.Get("ETag") == "" || !strings.HasPrefix(h.Get("Content-Type"), "text/xml") {
		t.Errorf("miss: %d X-Cache %q Age %q ETag %q Content-Type %q", code, h.Get("X-Cache"), h.Get("Age"), h.Get("ETag"), h.Get("Content-Type"))
	}
	r.now.Advance(2 * time.Minute) // past fresh (1m), within stale
	_, h, body = r.get(q)
	if h.Get("X-Cache") != "STALE" || h.Get("Age") != "120" || !strings.Contains(string(body), "<gw:stale>true</gw:stale>") {
		t.Errorf("stale: X-Cache %q Age %q; want STALE 120 and the stale marker\n%s", h.Get("X-Cache"), h.Get("Age"), body)
	}
	if d := cmp.Diff(ft.queries()[:1], []TargetQuery{{CQL: `alma.title="title"`, Start: 1, Count: 2}}); d != "" {
		t.Errorf("target queries (-got +want):\n%s", d)
	}

	for _, c := range []struct{ name, target, want string }{
		{"explain", "/sru?version=1.2&operation=explain", "<zs:explainResponse"},
		{"bad query", "/sru?version=1.2&operation=searchRetrieve&query=%28%28", "info:srw/diagnostic/1/10"},
		{"scan", "/sru?version=1.2&operation=scan&scanClause=x", "info:srw/diagnostic/1/4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := r.get(c.target)
			if code != 200 || !strings.Contains(string(body), c.want) || h.Get("ETag") == "" || h.Get("X-Cache") == "" || h.Get("Cache-Control") == "" {
				t.Errorf("status %d ETag %q X-Cache %q Cache-Control %q; want 200 with %s and cache headers\n%s", code, h.Get("ETag"), h.Get("X-Cache"), h.Get("Cache-Control"), c.want, body)
			}
		})
	}
	down := sruRig(t, &fakeTarget{answer: func(TargetQuery) (*TargetPage, error) {
		return nil, &upstream.Error{Kind: upstream.ErrRateLimited, Upstream: "sru:nz", Detail: "Alma answered 429", RetryAfter: 4 * time.Second}
	}})
	code, h, body = down.get(q)
	if code != 200 || h.Get("Retry-After") != "4" || !strings.Contains(string(body), "info:srw/diagnostic/1/1") {
		t.Errorf("upstream 429: status %d Retry-After %q; want 200, 4, diagnostic 1\n%s", code, h.Get("Retry-After"), body)
	}
}

func recordRig(t *testing.T, ft *fakeTarget, bibs bibSource) *handlerRig {
	return newHandlerRig(t, func(pipe *Searcher, errs errorWriter, rules queryRules) (string, fiber.Handler) {
		g, _ := testGuard(t, time.Minute)
		recs := &records{loader: pipe.loader, nz: ft.target(), api: bibs, apiGuard: map[string]*upstream.Guard{"nz": g, "01NET_INST": g},
			remaining: func(string, int) {}, recordLife: cache.Lifetime{Fresh: time.Hour}, availLife: cache.Lifetime{Fresh: 30 * time.Second, Stale: time.Minute}, now: pipe.now}
		if bibs == nil {
			recs.api = nil
		}
		return "/v1/records/:mms_id", newRecordHandler(pipe, recs, soloRegistry(ft.target()), func(string) (Member, bool) { return Member{}, false }, "nz-key", errs)
	})
}

// bibsOf is a fake Bibs API serving marcRecord for every MMS ID and
// counting calls.
func bibsOf(calls *atomic.Int64) bibSource {
	return bibFunc(func(ctx context.Context, id, key string) (*alma.Bib, error) {
		calls.Add(1)
		return &alma.Bib{MMSID: id, Record: marcRecord(id, "Live"), Remaining: -1}, nil
	})
}

func TestRecordHandlerWithFakeTarget(t *testing.T) {
	ft := &fakeTarget{answer: pageOf(t, 3)}
	var bibCalls atomic.Int64
	r := recordRig(t, ft, bibsOf(&bibCalls))
	ft.answer = func(q TargetQuery) (*TargetPage, error) {
		if q.CQL == "alma.mms_id=9900000000002" {
			return &TargetPage{Total: 1, Records: []TargetRecord{{Position: 1, Record: parsed(t, "9900000000002", "Two")}}}, nil
		}
		return &TargetPage{}, nil
	}
	code, h, body := r.get("/v1/records/9900000000002")
	if code != 200 || !strings.Contains(string(body), `"title":"Two"`) || !strings.Contains(string(body), `"availability":[{"kind":"physical"`) {
		t.Fatalf("status %d, want 200 with the record and its availability\n%s", code, body)
	}
	if h.Get("X-Cache") != "MISS" || h.Get("Age") != "" || h.Get("ETag") == "" {
		t.Errorf("miss headers: X-Cache %q Age %q ETag %q", h.Get("X-Cache"), h.Get("Age"), h.Get("ETag"))
	}
	r.now.Advance(3 * time.Second)
	_, h, body2 := r.get("/v1/records/9900000000002")
	if h.Get("X-Cache") != "HIT" || h.Get("Age") != "3" {
		t.Errorf("hit headers: X-Cache %q Age %q; want HIT 3", h.Get("X-Cache"), h.Get("Age"))
	}
	if d := cmp.Diff(stripMeta(body), stripMeta(body2)); d != "" {
		t.Errorf("hit body differs (-miss +hit):\n%s", d)
	}
	if n := bibCalls.Load(); n != 1 {
		t.Errorf("%d Bibs API calls for a miss and a hit, want 1", n)
	}

	for _, c := range []struct {
		name, target string
		status       int
		uri          string
	}{
		{"unknown record", "/v1/records/9911111111111", 404, "info:srw/diagnostic/1/65"},
		{"unknown parameter", "/v1/records/9900000000002?foo=1", 400, "info:srw/diagnostic/1/8"},
		{"bad format", "/v1/records/9900000000002?format=dc", 400, "info:srw/diagnostic/1/6"},
		{"bad id", "/v1/records/12ab", 400, "info:srw/diagnostic/1/6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := r.get(c.target)
			got := decodeFeed(t, body)
			if code != c.status || len(got.Diagnostics) != 1 || got.Diagnostics[0].URI != c.uri || h.Get("ETag") == "" {
				t.Errorf("status %d diagnostics %+v ETag %q; want %d %s and an ETag\n%s", code, got.Diagnostics, h.Get("ETag"), c.status, c.uri, body)
			}
		})
	}
	code, h, body = r.get("/v1/records/9900000000002?format=marcxml")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") || !strings.Contains(string(body), "<collection") {
		t.Errorf("marcxml: status %d Content-Type %q\n%s", code, h.Get("Content-Type"), body)
	}
}

// TestRecordWithFailingAvailabilityIsNotCached: a record whose live
// availability failed is served with a diagnostic and asked again next
// time, not cached with the failure.
func TestRecordWithFailingAvailabilityIsNotCached(t *testing.T) {
	ft := &fakeTarget{answer: func(q TargetQuery) (*TargetPage, error) {
		return &TargetPage{Total: 1, Records: []TargetRecord{{Position: 1, Record: parsed(t, "9900000000002", "Two")}}}, nil
	}}
	var calls atomic.Int64
	r := recordRig(t, ft, bibFunc(func(ctx context.Context, id, key string) (*alma.Bib, error) {
		calls.Add(1)
		return nil, &alma.Error{Status: 503, Remaining: -1}
	}))
	for i := range 2 {
		code, h, body := r.get("/v1/records/9900000000002")
		if code != 200 || h.Get("X-Cache") != "MISS" || !strings.Contains(string(body), "Live availability could not be fetched") {
			t.Errorf("request %d: status %d X-Cache %q; want 200 MISS with the availability diagnostic\n%s", i, code, h.Get("X-Cache"), body)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d Bibs API calls, want 2 (the failure is not cached)", n)
	}
}

func TestAvailabilityHandlerWithFakeTarget(t *testing.T) {
	ft := &fakeTarget{answer: func(q TargetQuery) (*TargetPage, error) {
		return &TargetPage{Total: 1, Records: []TargetRecord{{Position: 1, Record: parsed(t, "9900000000002", "Network")}}}, nil
	}}
	var calls atomic.Int64
	bibs := bibFunc(func(ctx context.Context, id, key string) (*alma.Bib, error) {
		calls.Add(1)
		rec := string(marcRecord(id, "Local"))
		if key == "iz-key" {
			rec = strings.Replace(rec, "</record>", `<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(EXLNZ-01NET_NETWORK)9900000000002</subfield></datafield></record>`, 1)
		}
		return &alma.Bib{MMSID: id, Record: []byte(rec), Remaining: -1}, nil
	})
	members := func(code string) (Member, bool) {
		switch code {
		case "01NET_INST":
			return Member{Code: code, APIKey: "iz-key"}, true
		case "02NET_INST":
			return Member{Code: code}, true
		}
		return Member{}, false
	}
	r := newHandlerRig(t, func(pipe *Searcher, errs errorWriter, rules queryRules) (string, fiber.Handler) {
		g, _ := testGuard(t, time.Minute)
		recs := &records{loader: pipe.loader, nz: ft.target(), api: bibs, apiGuard: map[string]*upstream.Guard{"nz": g, "01NET_INST": g},
			remaining: func(string, int) {}, recordLife: cache.Lifetime{Fresh: time.Hour}, availLife: cache.Lifetime{Fresh: 30 * time.Second, Stale: time.Minute}, now: pipe.now}
		return "/v1/availability/:iz_mms_id", newAvailabilityHandler(pipe, recs, "nz-key", members, errs)
	})
	code, h, body := r.get("/v1/availability/9911111111111?institution=01NET_INST")
	var got struct {
		NZ    *string `json:"nz_mms_id"`
		Local []any   `json:"local"`
		Avail bool    `json:"locally_available"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if code != 200 || got.NZ == nil || *got.NZ != "9900000000002" || len(got.Local) != 1 || !got.Avail || h.Get("Age") != "" {
		t.Errorf("status %d nz %v local %d available %v Age %q; want 200, the NZ id, 1 local, true, no Age\n%s", code, got.NZ, len(got.Local), got.Avail, h.Get("Age"), body)
	}
	r.now.Advance(time.Second)
	_, h, _ = r.get("/v1/availability/9911111111111?institution=01NET_INST")
	if h.Get("X-Cache") != "HIT" || h.Get("Age") != "1" {
		t.Errorf("second request: X-Cache %q Age %q, want HIT 1", h.Get("X-Cache"), h.Get("Age"))
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d Bibs API calls (IZ and NZ) for a miss and a hit, want 2", n)
	}
	for _, c := range []struct {
		name, target string
		status       int
		uri          string
	}{
		{"no institution", "/v1/availability/9911111111111", 400, "info:srw/diagnostic/1/7"},
		{"unknown member", "/v1/availability/9911111111111?institution=XX", 400, "info:srw/diagnostic/1/6"},
		{"member without key", "/v1/availability/9911111111111?institution=02NET_INST", 400, "info:srw/diagnostic/1/6"},
		{"unknown parameter", "/v1/availability/9911111111111?institution=01NET_INST&x=1", 400, "info:srw/diagnostic/1/8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := r.get(c.target)
			got := decodeFeed(t, body)
			if code != c.status || len(got.Diagnostics) != 1 || got.Diagnostics[0].URI != c.uri {
				t.Errorf("status %d diagnostics %+v; want %d %s\n%s", code, got.Diagnostics, c.status, c.uri, body)
			}
		})
	}
}

// TestSearcherWithoutFiber: a front end outside the Fiber app (Z39.50,
// federation) runs a search through the Searcher with its own renderer and
// maps errors with ErrorAnswer.
func TestSearcherWithoutFiber(t *testing.T) {
	var calls atomic.Int64
	tg := search.TargetFunc(func(ctx context.Context, q TargetQuery) (*TargetPage, error) {
		calls.Add(1)
		if q.CQL == "down" {
			return nil, &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "sru:x", Detail: "Alma could not be reached", RetryAfter: 3 * time.Second}
		}
		return &TargetPage{Total: 2, Records: []TargetRecord{{Position: 1, ID: "a"}, {Position: 2, ID: "b"}}}, nil
	})
	r := newHandlerRig(t, func(pipe *Searcher, errs errorWriter, rules queryRules) (string, fiber.Handler) {
		return "/", func(c *fiber.Ctx) error { return nil }
	})
	req := &SearchRequest{Key: "z3950|x", Target: tg, Query: TargetQuery{CQL: "x", Start: 1, Count: 2},
		Render: func(p *TargetPage) Rendered {
			ids := make([]string, 0, len(p.Records))
			for _, rec := range p.Records {
				ids = append(ids, rec.ID)
			}
			return Rendered{Body: []byte(strings.Join(ids, ","))}
		}}
	for i, want := range []cache.Status{cache.StatusMiss, cache.StatusHit} {
		a, v, err := r.pipe.Search(context.Background(), req)
		if err != nil || string(a.Body) != "a,b" || a.Status != 200 || v.Status != want {
			t.Errorf("search %d: %q status %d view %s err %v; want a,b 200 %s", i, a.Body, a.Status, v.Status, err, want)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d target calls, want 1", n)
	}
	_, _, err := r.pipe.Search(context.Background(), &SearchRequest{Key: "z3950|down", Target: tg, Query: TargetQuery{CQL: "down"}, Render: req.Render})
	status, d, ra := r.pipe.ErrorAnswer("z3950", err)
	if status != 503 || d.URI != "info:srw/diagnostic/1/1" || ra != 3*time.Second {
		t.Errorf("ErrorAnswer = %d %s %v, want 503, diagnostic 1, 3s", status, d.URI, ra)
	}
}

// testGuard is a guard with a small breaker: it opens after three
// consecutive failures and cools down for cooldown.
func testGuard(t *testing.T, cooldown time.Duration) (*upstream.Guard, *upstream.Metrics) {
	t.Helper()
	m := upstream.NewMetrics(prometheus.NewRegistry())
	bc := BreakerConfig{Cooldown: Duration(cooldown), ConsecutiveFailures: 3, FailureRatio: 0.5, MinRequests: 100, Window: Duration(time.Minute)}
	return upstream.NewGuard("test", bc, 5*time.Second, upstream.NewHealth(m, slog.New(slog.DiscardHandler))), m
}
