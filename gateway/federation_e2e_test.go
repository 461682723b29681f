package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/search"
)

// fedJSON is a federated /v1/search answer.
type fedJSON struct {
	Total   int `json:"total"`
	Hits    int `json:"hits"`
	Next    *int
	Records []struct {
		Position int    `json:"position"`
		MMSID    string `json:"mms_id"`
		Title    string `json:"title"`
		Holdings []struct {
			Institution string   `json:"institution"`
			IZMMSID     *string  `json:"iz_mms_id"`
			Types       []string `json:"types"`
		} `json:"holdings"`
		Sources []struct {
			Target string `json:"target"`
			ID     string `json:"id"`
		} `json:"sources"`
	} `json:"records"`
	Targets []struct {
		Name       string          `json:"name"`
		Status     string          `json:"status"`
		Hits       int             `json:"hits"`
		Fetched    int             `json:"fetched"`
		TookMS     int64           `json:"took_ms"`
		Diagnostic *JSONDiagnostic `json:"diagnostic"`
		AsOf       *time.Time      `json:"as_of"`
		Dropped    int             `json:"dropped"`
	} `json:"targets"`
	Facets map[string][]struct {
		Value string
		Count int
	} `json:"facets"`
	Diagnostics []JSONDiagnostic `json:"diagnostics"`
	Meta        struct {
		Cache string `json:"cache"`
	} `json:"meta"`
}

func (f fedJSON) status() map[string]string {
	out := map[string]string{}
	for _, t := range f.Targets {
		out[t.Name] = t.Status
	}
	return out
}

// fedEnv is a gateway whose group "all" is the network, two members' IZ SRU
// and the simulator's external SRU 2.0 target, with a short federation
// deadline, over a small simulated network.
func fedEnv(t *testing.T, mutate func(*Config)) (*testEnv, []string) {
	t.Helper()
	env, names := fedEnvTB(t, almasim.Config{Seed: 7, Records: 800}, mutate)
	env.t = t
	return env, names
}

// fedEnvTB is fedEnv for tests and benchmarks, over the simulator simCfg
// describes.
func fedEnvTB(t testing.TB, simCfg almasim.Config, mutate func(*Config)) (*testEnv, []string) {
	t.Helper()
	sim := almasim.New(simCfg)
	ctx, cancel := context.WithCancel(context.Background())
	simS, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	base := simS.URL()
	cfg := Config{SRUURL: sim.SRUURL(base), APIURL: base, APIKey: sim.NZKey()}
	for _, m := range sim.Members() {
		cfg.Members = append(cfg.Members, Member{Code: m.Code, Name: m.Name, APIKey: m.APIKey, SRUURL: base + "/view/sru/" + m.Code})
	}
	cfg.Cache.ExplainRefresh = -1
	cfg.Upstream.Timeout = Duration(8 * time.Second)
	cfg.Upstream.HeaderTimeout = Duration(8 * time.Second)
	cfg.Breaker.ConsecutiveFailures = 3
	cfg.Breaker.Cooldown = Duration(time.Minute)
	// Generous for a loaded test machine: the healthy targets must answer
	// within it; only the faulted one may not.
	cfg.Federation.FanOut.Timeout = Duration(3 * time.Second)
	cfg.Federation.Targets = []TargetConfig{{Name: "ext", URL: sim.ExternalSRUURL(base), Version: "2.0",
		PageSize: 25, Timeout: Duration(8 * time.Second),
		IndexMap: map[string]string{"alma.all_for_ui": "cql.serverChoice", "alma.title": "dc.title", "alma.creator": "dc.creator", "alma.isbn": "bath.isbn"}}}
	names := []string{NZTarget, cfg.Members[0].Code, cfg.Members[1].Code, "ext"}
	cfg.Federation.Groups = map[string][]string{"all": names}
	if mutate != nil {
		mutate(&cfg)
	}
	env := &testEnv{sim: sim, simS: simS, logs: &syncBuffer{}, now: &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}}
	gw, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: env.now.Now})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	env.gw, env.base = gw, "http://"+ln.Addr().String()
	t.Cleanup(func() {
		sim.ClearFaults()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		gw.Close()
		simS.Close()
	})
	return env, names
}

func (e *testEnv) fed(params url.Values) (int, http.Header, fedJSON) {
	e.t.Helper()
	code, h, body := e.get("/v1/search?" + params.Encode())
	var out fedJSON
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatalf("/v1/search?%s: not JSON: %v\n%s", params.Encode(), err, body)
	}
	return code, h, out
}

func TestFederatedSearchEndToEnd(t *testing.T) {
	env, names := fedEnv(t, nil)
	code, h, r := env.fed(url.Values{"q": {"history"}, "targets": {"all"}, "facets": {"institution,year,language,type"}, "limit": {"100"}})
	if code != 200 || h.Get("X-Cache") != "MISS" {
		t.Fatalf("status %d, X-Cache %s, %v", code, h.Get("X-Cache"), r.Diagnostics)
	}
	for _, n := range names {
		if r.status()[n] != search.StatusOK {
			t.Errorf("target %s: %s", n, r.status()[n])
		}
	}
	hits := 0
	for _, tg := range r.Targets {
		hits += tg.Hits
		if tg.AsOf == nil || tg.Fetched == 0 || tg.Diagnostic != nil {
			t.Errorf("target state %+v", tg)
		}
	}
	if r.Hits != hits || r.Total < 100 || len(r.Records) != 100 {
		t.Errorf("hits %d (targets say %d), total %d, %d records", r.Hits, hits, r.Total, len(r.Records))
	}
	var fromNZAndExt, fromIZ, withUnion int
	for i, rec := range r.Records {
		if rec.Position != i+1 || len(rec.Sources) == 0 {
			t.Fatalf("record %d: position %d, sources %v", i, rec.Position, rec.Sources)
		}
		targets := map[string]bool{}
		for _, s := range rec.Sources {
			targets[s.Target] = true
		}
		if targets[NZTarget] && targets["ext"] {
			fromNZAndExt++
		}
		if targets[names[1]] || targets[names[2]] {
			fromIZ++
		}
		if len(rec.Holdings) > 0 {
			withUnion++
		}
	}
	if fromNZAndExt == 0 || fromIZ == 0 || withUnion == 0 {
		t.Errorf("merged records: %d from nz and ext, %d with an IZ source, %d with holdings", fromNZAndExt, fromIZ, withUnion)
	}
	for _, f := range []string{"institution", "year", "language", "type"} {
		if len(r.Facets[f]) == 0 {
			t.Errorf("facet %s empty", f)
		}
	}

	// The second page comes from the same merged result: no target is asked again.
	before := env.sim.Count(almasim.EndpointSRU)
	code, h, r2 := env.fed(url.Values{"q": {"history"}, "targets": {"all"}, "facets": {"institution,year,language,type"}, "limit": {"10"}, "start": {"11"}})
	if code != 200 || r2.Total != r.Total || len(r2.Records) != 10 || r2.Records[0].MMSID != r.Records[10].MMSID {
		t.Errorf("second page: %d, total %d/%d", code, r2.Total, r.Total)
	}
	if after := env.sim.Count(almasim.EndpointSRU); after != before {
		t.Errorf("paging asked the targets again: %d SRU calls", after-before)
	}

	// Bad parameters.
	for _, p := range []url.Values{
		{"q": {"x"}, "targets": {"nz,mars"}},
		{"q": {"x"}, "sort": {"newest"}},
		{"q": {"x"}, "facets": {"colour"}},
	} {
		code, _, body := env.get("/v1/search?" + p.Encode())
		if code != 400 || !bytes.Contains(body, []byte("mars")) && p.Has("targets") {
			t.Errorf("%v: %d %s", p, code, body)
		}
	}

	// A plain search is the single-target feed, as before.
	code, _, body := env.get("/v1/search?q=history&limit=3")
	if code != 200 || bytes.Contains(body, []byte(`"targets"`)) {
		t.Errorf("plain /v1/search changed: %d %.200s", code, body)
	}
}

func TestFederatedOneTargetFailing(t *testing.T) {
	tests := []struct {
		name   string
		fault  almasim.Fault
		status string
	}{
		{"hang", almasim.Fault{Kind: almasim.FaultHang}, search.StatusTimeout},
		{"500", almasim.Fault{Kind: almasim.Fault500}, search.StatusError},
		{"429", almasim.Fault{Kind: almasim.Fault429, RetryAfter: 1}, search.StatusRateLimited},
		{"malformed", almasim.Fault{Kind: almasim.FaultMalformed}, search.StatusError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, names := fedEnv(t, nil)
			failing := names[1]
			env.sim.SetTargetFault(failing, tt.fault)
			code, _, r := env.fed(url.Values{"q": {"science"}, "targets": {"all"}})
			if code != 200 {
				t.Fatalf("status %d: %v", code, r.Diagnostics)
			}
			want := map[string]string{NZTarget: search.StatusOK, names[1]: tt.status, names[2]: search.StatusOK, "ext": search.StatusOK}
			if got := r.status(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("statuses %v, want %v", got, want)
			}
			for _, tg := range r.Targets {
				if tg.Name == failing && (tg.Fetched != 0 || tg.Status != search.StatusTimeout && tg.Diagnostic == nil) {
					t.Errorf("failing target's state %+v", tg)
				}
			}
			if len(r.Records) == 0 {
				t.Error("no records from the healthy targets")
			}
			env.sim.ClearFaults()
		})
	}
}

func TestFederatedBreakerOpenAndOutage(t *testing.T) {
	env, names := fedEnv(t, nil)
	env.sim.SetTargetFault("ext", almasim.Fault{Kind: almasim.Fault500})
	var r fedJSON
	for i := range 5 { // each a new query: the breaker sees every failure
		_, _, r = env.fed(url.Values{"q": {fmt.Sprintf("history %d", i)}, "targets": {"all"}})
	}
	if got := r.status()["ext"]; got != search.StatusBreakerOpen {
		t.Errorf("after repeated failures the external target is %q, want %s", got, search.StatusBreakerOpen)
	}
	calls := env.sim.CountTarget("ext")
	env.fed(url.Values{"q": {"history 99"}, "targets": {"all"}})
	if n := env.sim.CountTarget("ext"); n != calls {
		t.Errorf("an open breaker let %d calls through", n-calls)
	}

	// Every target down, nothing cached: 503, and SRU diagnostic 1.
	for _, n := range append([]string{env.sim.NetworkCode()}, names[1:3]...) {
		if !env.sim.SetTargetFault(n, almasim.Fault{Kind: almasim.Fault500}) {
			t.Fatalf("no simulator target %s", n)
		}
	}
	code, h, r := env.fed(url.Values{"q": {"never asked"}, "targets": {"all"}})
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || len(r.Diagnostics) == 0 {
		t.Errorf("all down: %d Retry-After %q %v %+v", code, h.Get("Retry-After"), r.Diagnostics, r.Targets)
	}
	code, _, body := env.get("/sru/all?version=1.2&operation=searchRetrieve&query=" + url.QueryEscape(`"never asked"`))
	if code != 200 || !bytes.Contains(body, []byte("info:srw/diagnostic/1/1<")) {
		t.Errorf("SRU all down: %d %s", code, body)
	}
}

func TestFederatedLateTargetWithoutASecondCall(t *testing.T) {
	env, _ := fedEnv(t, nil)
	// One slow answer, longer than the federation deadline, shorter than the target's own.
	env.sim.SetTargetFault("ext", almasim.Fault{Kind: almasim.FaultSlow, Delay: 5 * time.Second, Times: 1})
	q := url.Values{"q": {"history"}, "targets": {"all"}, "limit": {"100"}}
	_, _, first := env.fed(q)
	if first.status()["ext"] != search.StatusTimeout {
		t.Fatalf("the slow target is %q in the first answer, want timeout", first.status()["ext"])
	}
	var done fedJSON
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, _, done = env.fed(q)
		if done.status()["ext"] == search.StatusOK {
			break
		}
		if time.Now().After(deadline) { // a hang guard
			t.Fatal("the late target never completed the cached result")
		}
		time.Sleep(50 * time.Millisecond)
	}
	calls := env.sim.CountTarget("ext")
	var extHits, extFetched int
	for _, tg := range done.Targets {
		if tg.Name == "ext" {
			extHits, extFetched = tg.Hits, tg.Fetched
		}
	}
	pages := (min(extHits, 100) + 24) / 25
	if calls != int64(pages) || extFetched != min(extHits, 100) {
		t.Errorf("the external target had %d calls for %d records (%d pages of 25): a second search?", calls, extFetched, pages)
	}
	if done.Total <= first.Total {
		t.Errorf("the completed result has %d records, the partial %d", done.Total, first.Total)
	}
	env.fed(q)
	if n := env.sim.CountTarget("ext"); n != calls {
		t.Errorf("a later request called the target again (%d calls)", n-calls)
	}
}

func TestFederatedSkipsTargetsThatCannotMap(t *testing.T) {
	env, _ := fedEnv(t, nil)
	code, _, r := env.fed(url.Values{"query": {"alma.publisher=routledge"}, "targets": {"all"}})
	if code != 200 || r.status()["ext"] != search.StatusSkipped || r.status()[NZTarget] != search.StatusOK {
		t.Fatalf("%d %v", code, r.status())
	}
	for _, tg := range r.Targets {
		if tg.Name == "ext" && (tg.Diagnostic == nil || tg.Diagnostic.URI != "info:srw/diagnostic/1/16") {
			t.Errorf("skipped target's diagnostic %+v", tg.Diagnostic)
		}
	}
	if env.sim.CountTarget("ext") != 0 {
		t.Error("the skipped target was asked")
	}
	// Only the external target, and it cannot map: a 400 naming the index.
	code, _, body := env.get("/v1/search?" + url.Values{"query": {"alma.publisher=routledge"}, "targets": {"ext"}}.Encode())
	if code != 400 || !bytes.Contains(body, []byte("alma.publisher")) {
		t.Errorf("only an unmappable target: %d %s", code, body)
	}
}

func TestVirtualSRUDatabases(t *testing.T) {
	env, names := fedEnv(t, nil)
	for _, path := range []string{"/sru/all", "/view/sru/all"} {
		code, h, body := env.get(path + "?version=2.0&query=" + url.QueryEscape("alma.title=history") + "&maximumRecords=5")
		if code != 200 || h.Get("X-Cache") == "" {
			t.Fatalf("%s: %d", path, code)
		}
		if err := xml.Unmarshal(body, new(struct{})); err != nil {
			t.Fatalf("%s: not well-formed: %v", path, err)
		}
		for _, n := range names {
			if !bytes.Contains(body, []byte(`<gw:target name="`+n+`" status="ok"`)) {
				t.Errorf("%s: no ok state of %s in extraResponseData", path, n)
			}
		}
		if bytes.Count(body, []byte("<zs:recordData>")) != 5 || !bytes.Contains(body, []byte(`ind1="0" ind2="1"`)) {
			t.Errorf("%s: records: %.600s", path, body)
		}
		code, _, body = env.get(path + "?version=1.2&operation=explain")
		if code != 200 || !bytes.Contains(body, []byte("<database>"+strings.TrimPrefix(path, "/")+"</database>")) {
			t.Errorf("%s explain: %d %.500s", path, code, body)
		}
	}
	_, _, body := env.get("/sru/mars?version=1.2&operation=searchRetrieve&query=x")
	if !bytes.Contains(body, []byte("info:srw/diagnostic/1/235")) {
		t.Errorf("unknown database: %s", body)
	}
}

func TestOpenAPIDescribesFederatedAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	env, _ := fedEnv(t, nil)
	env.sim.SetTargetFault("ext", almasim.Fault{Kind: almasim.Fault500})
	for _, c := range []struct {
		path, schema string
		status       int
	}{
		{"/v1/search?" + url.Values{"q": {"history"}, "targets": {"all"}, "facets": {"institution,year,language,type"}}.Encode(), "SearchResult", 200},
		{"/v1/search?" + url.Values{"q": {"history"}, "targets": {"mars"}}.Encode(), "ErrorBody", 400},
	} {
		code, _, body := env.get(c.path)
		if code != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.path, code, c.status, body)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		if err := doc.Components.Schemas[c.schema].Value.VisitJSON(v); err != nil {
			t.Errorf("%s does not match schema %s: %v", c.path, c.schema, err)
		}
	}
}
