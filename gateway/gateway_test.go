package gateway

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/almasim"
)

// wantHoldings is what the feed must say for a simulated record: one entry
// per member-availability 852, $9 codes mapped (SPEC 3.2).
func wantHoldings(r almasim.Record) []string {
	out := []string{}
	for _, h := range r.Holdings {
		iz := "null"
		if h.Has6 {
			iz = h.IZMMSID
		}
		var types []string
		for _, c := range h.Types {
			switch c {
			case "P":
				types = append(types, "print")
			case "E":
				types = append(types, "electronic")
			case "D":
				types = append(types, "digital")
			default:
				types = append(types, c)
			}
		}
		out = append(out, h.Institution+" "+iz+" "+strings.Join(types, ","))
	}
	return out
}

func TestSearchJSONHoldingsMatchAlma(t *testing.T) {
	env := newEnv(t, nil)
	code, h, got := env.search(url.Values{"q": {"history"}, "limit": {"20"}})
	if code != http.StatusOK {
		t.Fatalf("status = %d, want 200", code)
	}
	ids, err := env.sim.Search(`alma.all_for_ui="history"`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != len(ids) {
		t.Errorf("total = %d, want %d (the simulator's own count)", got.Total, len(ids))
	}
	if len(got.Records) != min(20, len(ids)) {
		t.Fatalf("got %d records, want %d", len(got.Records), min(20, len(ids)))
	}
	if got.Query != `alma.all_for_ui="history"` {
		t.Errorf("query = %q", got.Query)
	}
	if h.Get("X-Cache") != "MISS" || got.Meta.Cache != "miss" {
		t.Errorf("X-Cache = %q, meta.cache = %q; want MISS/miss", h.Get("X-Cache"), got.Meta.Cache)
	}
	for i, r := range got.Records {
		if r.Position != i+1 {
			t.Errorf("record %d position = %d", i, r.Position)
		}
		if r.MMSID != ids[i] {
			t.Errorf("record %d mms_id = %s, want %s", i, r.MMSID, ids[i])
		}
		truth, ok := env.sim.Record(r.MMSID)
		if !ok {
			t.Fatalf("record %s unknown to the simulator", r.MMSID)
		}
		var gotH []string
		for _, h := range r.Holdings {
			iz := "null"
			if h.IZMMSID != nil {
				iz = *h.IZMMSID
			}
			gotH = append(gotH, h.Institution+" "+iz+" "+strings.Join(h.Types, ","))
		}
		if gotH == nil {
			gotH = []string{}
		}
		if d := cmp.Diff(wantHoldings(truth), gotH); d != "" {
			t.Errorf("record %s holdings (-want +got):\n%s", r.MMSID, d)
		}
	}
	if got.Next == nil || *got.Next != 21 {
		t.Errorf("next = %v, want 21", got.Next)
	}
	// The same query again is a hit, with no further Alma call.
	before := env.sim.Count(almasim.EndpointSRU)
	_, h2, again := env.search(url.Values{"q": {"history"}, "limit": {"20"}})
	if h2.Get("X-Cache") != "HIT" || again.Meta.Cache != "hit" {
		t.Errorf("second answer X-Cache = %q meta.cache = %q, want HIT/hit", h2.Get("X-Cache"), again.Meta.Cache)
	}
	if n := env.sim.Count(almasim.EndpointSRU) - before; n != 0 {
		t.Errorf("a cached answer made %d Alma calls", n)
	}
}

func TestSearchPagesThroughToTheEnd(t *testing.T) {
	env := newEnv(t, nil)
	// Find a query with between 101 and 200 hits so paging crosses Alma's
	// 50-record pages several times.
	query := ""
	for _, w := range []string{"science", "history", "music", "art", "law", "economics", "water", "war"} {
		ids, _ := env.sim.Search(`alma.title=` + w)
		if len(ids) > 100 && len(ids) <= 400 {
			query = `alma.title=` + w
			break
		}
	}
	if query == "" {
		t.Fatal("no query in the simulated network has 101-400 hits; the generator changed")
	}
	want, _ := env.sim.Search(query)
	var got []string
	start := 1
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging did not end")
		}
		code, _, page := env.search(url.Values{"query": {query}, "start": {fmt.Sprint(start)}, "limit": {"37"}})
		if code != http.StatusOK {
			t.Fatalf("status %d at start %d", code, start)
		}
		for _, r := range page.Records {
			got = append(got, r.MMSID)
		}
		if page.Next == nil {
			break
		}
		start = *page.Next
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("paged records differ from Alma's list (-want +got):\n%s", d)
	}
}

func TestHundredRecordsInAlmaPagesOfFifty(t *testing.T) {
	env := newEnv(t, nil)
	env.sim.ResetCounters()
	code, _, body := env.get("/sru?version=1.2&operation=searchRetrieve&query=alma.all_for_ui%3Dhistory&maximumRecords=100")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, r := range env.sim.Requests() {
		if r.MaximumRecords > 50 {
			t.Errorf("an Alma call asked for %d records (max 50)", r.MaximumRecords)
		}
	}
	var resp struct {
		Number  int `xml:"numberOfRecords"`
		Records []struct {
			Position int `xml:"recordPosition"`
		} `xml:"records>record"`
		Next int `xml:"nextRecordPosition"`
	}
	if err := xml.Unmarshal(body, &resp); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	if len(resp.Records) != min(100, resp.Number) {
		t.Fatalf("got %d records of %d", len(resp.Records), resp.Number)
	}
	for i, r := range resp.Records {
		if r.Position != i+1 {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
	}
	if resp.Number > 100 && resp.Next != 101 {
		t.Errorf("nextRecordPosition = %d, want 101", resp.Next)
	}
}

func TestInvalidQueriesNeverReachAlma(t *testing.T) {
	env := newEnv(t, nil)
	env.sim.ResetCounters()
	for _, q := range []string{
		"/sru?version=1.2&operation=searchRetrieve&query=" + url.QueryEscape(`alma.title="unclosed`),
		"/sru?version=1.2&operation=searchRetrieve&query=" + url.QueryEscape(`alma.nosuchindex=x`),
		"/sru?version=1.2&operation=searchRetrieve&query=x&startRecord=10001",
		"/sru?version=1.2&operation=searchRetrieve&query=x&maximumRecords=-1",
		"/sru?version=1.2&operation=searchRetrieve",
		"/sru?version=1.2&operation=scan&scanClause=x",
		"/v1/search?query=" + url.QueryEscape(`(alma.title=x`),
		"/v1/search?q=x&limit=abc",
		"/v1/search?q=x&format=pdf",
		"/v1/records/12ab",
		"/v1/availability/123?institution=NOPE",
	} {
		code, _, body := env.get(q)
		if code >= 500 {
			t.Errorf("%s: status %d", q, code)
		}
		if strings.HasPrefix(q, "/sru") {
			if err := xml.Unmarshal(body, new(any)); err != nil && !strings.Contains(string(body), "diagnostic") {
				t.Errorf("%s: not a diagnostic: %s", q, body)
			}
			if !strings.Contains(string(body), "info:srw/diagnostic/1/") {
				t.Errorf("%s: no diagnostic in %s", q, body)
			}
		} else if code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, code)
		}
	}
	if n := env.sim.Count(almasim.EndpointAll); n != 0 {
		t.Errorf("invalid requests made %d Alma calls, want 0", n)
	}
}

func TestSpellingVariantsShareOneAlmaCall(t *testing.T) {
	env := newEnv(t, nil)
	env.sim.ResetCounters()
	variants := []string{
		`alma.title="science"`, `alma.title = "science"`, `alma.title=science`, `ALMA.TITLE=science`,
		`alma.title  =  science`, `(alma.title=science)`, `alma.title="science" `,
	}
	for i := 0; i < 21; i++ {
		v := variants[i%len(variants)]
		code, _, body := env.get("/sru?version=1.2&operation=searchRetrieve&maximumRecords=5&query=" + url.QueryEscape(v))
		if code != http.StatusOK || !strings.Contains(string(body), "numberOfRecords") {
			t.Fatalf("%q: status %d body %s", v, code, body)
		}
	}
	if n := env.sim.Count(almasim.EndpointSRU); n != 1 {
		t.Errorf("21 requests in spelling variants made %d Alma calls, want 1", n)
	}
}

func TestConcurrentColdRequestsCoalesce(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Limits.ClientRate = -1 })
	env.sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.FaultSlow, Delay: 300 * time.Millisecond})
	env.sim.ResetCounters()
	const n = 200
	var wg sync.WaitGroup
	bodies := make([]string, n)
	codes := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Get(env.base + "/v1/search?q=science&limit=10")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out searchJSON
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Error(err)
				return
			}
			codes[i] = resp.StatusCode
			ids := make([]string, len(out.Records))
			for j, r := range out.Records {
				ids[j] = r.MMSID
			}
			bodies[i] = fmt.Sprint(out.Total, ids)
		}(i)
	}
	wg.Wait()
	if c := env.sim.Count(almasim.EndpointSRU); c != 1 {
		t.Errorf("%d concurrent cold requests made %d Alma calls, want 1", n, c)
	}
	for i := range bodies {
		if codes[i] != http.StatusOK || bodies[i] != bodies[0] {
			t.Fatalf("request %d: status %d answer %q, first answer %q", i, codes[i], bodies[i], bodies[0])
		}
	}
}

func TestStaleServedWhileAlmaFailsThenFreshAgain(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Cache.TTL = Duration(time.Minute)
		c.Cache.Stale = Duration(time.Hour)
	})
	code, _, first := env.search(url.Values{"q": {"science"}})
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	env.now.Advance(2 * time.Minute) // past fresh, inside the stale window
	env.sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.Fault500})
	code, h, stale := env.search(url.Values{"q": {"science"}})
	if code != http.StatusOK || h.Get("X-Cache") != "STALE" || !stale.Meta.Stale {
		t.Fatalf("while Alma fails: status %d X-Cache %q meta.stale %v; want 200 STALE true", code, h.Get("X-Cache"), stale.Meta.Stale)
	}
	if stale.Total != first.Total || len(stale.Records) != len(first.Records) {
		t.Errorf("stale answer differs from the cached one")
	}
	// The SRU view of a stale answer says so in extraResponseData.
	_, _, _ = env.get("/sru?version=1.2&operation=searchRetrieve&query=alma.all_for_ui%3D%22science%22&maximumRecords=10")
	env.now.Advance(2 * time.Minute)
	_, sh, sb := env.get("/sru?version=1.2&operation=searchRetrieve&query=alma.all_for_ui%3D%22science%22&maximumRecords=10")
	if sh.Get("X-Cache") == "STALE" && !strings.Contains(string(sb), "extraResponseData") {
		t.Errorf("a stale SRU answer has no extraResponseData:\n%s", sb)
	}
	env.sim.ClearFaults()
	// The background refresh brings it back; wait for it without a clock limit.
	for i := 0; ; i++ {
		_, h, again := env.search(url.Values{"q": {"science"}})
		if h.Get("X-Cache") == "HIT" && !again.Meta.Stale {
			break
		}
		if i > 200 {
			t.Fatalf("never fresh again after Alma recovered: X-Cache %q", h.Get("X-Cache"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestErrorsAreNeverCached(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Breaker.ConsecutiveFailures = 100 })
	env.sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.Fault500})
	code, h, _ := env.search(url.Values{"q": {"music"}})
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("Alma down, nothing cached: status %d Retry-After %q; want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	env.sim.ClearFaults()
	code, h, got := env.search(url.Values{"q": {"music"}})
	if code != http.StatusOK || h.Get("X-Cache") != "MISS" {
		t.Errorf("after recovery: status %d X-Cache %q; want 200 MISS (the error was not cached)", code, h.Get("X-Cache"))
	}
	if got.Total == 0 {
		t.Errorf("after recovery the answer is empty")
	}
}

func TestETagAndNotModified(t *testing.T) {
	env := newEnv(t, nil)
	code, h, _ := env.get("/v1/search?q=science", "Origin", "https://opac.example.org")
	if code != 200 || h.Get("ETag") == "" || h.Get("Cache-Control") == "" || h.Get("X-Request-Id") == "" {
		t.Fatalf("status %d headers %v", code, h)
	}
	code, _, body := env.get("/v1/search?q=science", "If-None-Match", h.Get("ETag"))
	if code != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: status %d body %d bytes; want 304 and none", code, len(body))
	}
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header: %v", h)
	}
}

func TestRecordWithLiveAvailability(t *testing.T) {
	env := newEnv(t, nil)
	// A record held in print by some member.
	var id string
	for _, r := range env.sim.Records() {
		if r.NZMMSID == "" && len(r.Holdings) > 1 && len(r.Avail) > 0 {
			id = r.MMSID
			break
		}
	}
	if id == "" {
		t.Fatal("no held NZ record in the simulated network")
	}
	code, _, body := env.get("/v1/records/" + id)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var got struct {
		MMSID        string `json:"mms_id"`
		Availability []struct {
			Kind        string `json:"kind"`
			Institution string `json:"institution"`
			Total       *int   `json:"total"`
			Available   *int   `json:"available"`
		} `json:"availability"`
		Diagnostics []JSONDiagnostic `json:"diagnostics"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	truth, _ := env.sim.Record(id)
	if got.MMSID != id || len(got.Availability) != len(truth.Avail) {
		t.Errorf("mms_id %s with %d availability entries, want %s with %d: %s", got.MMSID, len(got.Availability), id, len(truth.Avail), body)
	}
	code, _, _ = env.get("/v1/records/99999999999999")
	if code != http.StatusNotFound {
		t.Errorf("unknown record: status %d, want 404", code)
	}
}

func TestLocalThenNetworkAvailability(t *testing.T) {
	env := newEnv(t, nil)
	// An IZ record of a member whose NZ record is held by others too.
	var iz almasim.Record
	for _, nz := range env.sim.Records() {
		if len(nz.Holdings) < 3 || !nz.Holdings[0].Has6 {
			continue
		}
		if r, ok := env.sim.Record(nz.Holdings[0].IZMMSID); ok {
			iz = r
			break
		}
	}
	if iz.MMSID == "" {
		t.Fatal("no IZ record of a widely held title in the simulated network")
	}
	code, _, body := env.get("/v1/availability/" + iz.MMSID + "?institution=" + iz.Institution)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var got struct {
		NZMMSID *string `json:"nz_mms_id"`
		Network []struct {
			Institution  string `json:"institution"`
			Total        *int   `json:"total"`
			Availability []struct {
				Kind  string `json:"kind"`
				Total *int   `json:"total"`
			} `json:"availability"`
		} `json:"network"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	nz, _ := env.sim.Record(iz.NZMMSID)
	var want []string
	for _, h := range nz.Holdings {
		if h.Institution != iz.Institution {
			want = append(want, h.Institution)
		}
	}
	var gotI []string
	for _, n := range got.Network {
		gotI = append(gotI, n.Institution)
	}
	if got.NZMMSID == nil || *got.NZMMSID != iz.NZMMSID {
		t.Errorf("nz_mms_id = %v, want %s", got.NZMMSID, iz.NZMMSID)
	}
	if d := cmp.Diff(want, gotI); d != "" {
		t.Errorf("network holders (-want +got):\n%s", d)
	}
	// Counts are summed from AVA fields that carry them; none means null.
	for _, n := range got.Network {
		sum, counted := 0, false
		for _, a := range n.Availability {
			if a.Kind == "physical" && a.Total != nil {
				sum += *a.Total
				counted = true
			}
		}
		switch {
		case !counted && n.Total != nil:
			t.Errorf("%s: total %d with no counted AVA field, want null", n.Institution, *n.Total)
		case counted && (n.Total == nil || *n.Total != sum):
			t.Errorf("%s: total %v, want %d", n.Institution, n.Total, sum)
		}
	}
}

func TestMemberWithoutKeyIs400(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Members[0].APIKey = "" })
	code, _, body := env.get("/v1/availability/9912345678900101?institution=" + env.gw.cfg.Members[0].Code)
	if code != http.StatusBadRequest || !strings.Contains(string(body), env.gw.cfg.Members[0].Code) {
		t.Errorf("status %d body %s; want 400 naming the member", code, body)
	}
}

func TestKeysNeverLeak(t *testing.T) {
	env := newEnv(t, nil)
	keys := []string{env.gw.cfg.APIKey}
	for _, m := range env.gw.cfg.Members {
		keys = append(keys, m.APIKey)
	}
	var id string
	for _, r := range env.sim.Records() {
		if r.NZMMSID == "" && len(r.Holdings) > 0 {
			id = r.MMSID
			break
		}
	}
	paths := []string{
		"/v1/search?q=history", "/v1/search?q=history&format=marcxml", "/v1/records/" + id,
		"/v1/records/" + id + "?format=marcxml", "/v1/records/1234567890",
		"/v1/availability/" + id + "?institution=" + env.gw.cfg.Members[0].Code,
		"/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dscience",
		"/sru", "/v1/status", "/metrics", "/dashboard", "/healthz", "/readyz", "/openapi.json",
	}
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.Fault500, Times: 1})
	for _, p := range paths {
		_, h, body := env.get(p)
		for _, k := range keys {
			if strings.Contains(string(body), k) {
				t.Errorf("%s: body carries an API key", p)
			}
			for name, vs := range h {
				if strings.Contains(strings.Join(vs, " "), k) {
					t.Errorf("%s: header %s carries an API key", p, name)
				}
			}
		}
	}
	logs := env.logs.String()
	for _, k := range keys {
		if strings.Contains(logs, k) {
			t.Errorf("the log carries an API key")
		}
	}
	for _, r := range env.sim.Requests() {
		if r.KeyInURL {
			t.Errorf("an Alma call carried its key in the URL: %s", r.Path)
		}
		if r.Endpoint == almasim.EndpointBibs && !r.KeyInHeader {
			t.Errorf("a Bibs API call without Authorization: apikey")
		}
	}
}

// A short list asked for in more than one Alma page: the page fetched past
// its end is Alma's diagnostic 61, not the client's (found by the npm SRU
// client, which asks for many records at once).
func TestShortListAskedInSeveralPages(t *testing.T) {
	env := newEnv(t, nil)
	var query string
	var want []string
	for _, r := range env.sim.Records() {
		q := `alma.mms_id=` + r.MMSID
		if ids, _ := env.sim.Search(q); len(ids) == 1 {
			query, want = q, ids
			break
		}
	}
	code, _, got := env.search(url.Values{"query": {query}, "limit": {"100"}})
	if code != http.StatusOK || len(got.Diagnostics) != 0 || got.Total != len(want) || len(got.Records) != len(want) {
		t.Errorf("status %d total %d records %d diagnostics %v; want 200, %d, %d, none", code, got.Total, len(got.Records), got.Diagnostics, len(want), len(want))
	}
	_, _, body := env.get("/sru?version=1.2&operation=searchRetrieve&maximumRecords=100&query=" + url.QueryEscape(query))
	if strings.Contains(string(body), "info:srw/diagnostic/1/") {
		t.Errorf("SRU answer carries a diagnostic:\n%s", body)
	}
}
