package gateway

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
)

// srutotal reads numberOfRecords from an SRU answer.
func sruTotal(t *testing.T, body []byte) int {
	t.Helper()
	m := regexp.MustCompile(`<zs:numberOfRecords>(\d+)</zs:numberOfRecords>`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no numberOfRecords: %.600s", body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestSearchModelPassThrough: one target is a pass-through (SPEC 14): its
// own total however many records it has, sort=date sent as its sortBy, a
// member's SRU database that member's target in full, and the network code
// a name for nz. Before, a sort or a member database merged the first 100
// records and called that the total.
func TestSearchModelPassThrough(t *testing.T) {
	env, names := fedEnv(t, nil)
	member := names[1]
	_, _, plain := env.fed(url.Values{"q": {"history"}})
	if plain.Total <= 100 {
		t.Fatalf("the test needs a query with more than 100 hits; history has %d", plain.Total)
	}
	code, _, sorted := env.fed(url.Values{"q": {"history"}, "sort": {"date"}, "limit": {"50"}})
	if code != 200 || sorted.Total != plain.Total || sorted.Targets != nil {
		t.Errorf("sort=date on nz: status %d total %d targets %v; want 200, nz's own total %d, no targets block", code, sorted.Total, sorted.Targets, plain.Total)
	}
	_, _, body := env.get("/v1/search?" + url.Values{"q": {"history"}, "sort": {"date"}}.Encode())
	if !bytes.Contains(body, []byte(`sortBy alma.main_pub_date/sort.descending`)) || !bytes.Contains(body, []byte(`"complete":true`)) {
		t.Errorf("sort=date is not sent as Alma's sortBy, or the answer does not say complete: %.300s", body)
	}
	code, _, far := env.fed(url.Values{"q": {"history"}, "sort": {"date"}, "start": {"101"}, "limit": {"5"}})
	if code != 200 || len(far.Records) == 0 || far.Records[0].Position != 101 {
		t.Errorf("sort=date paged past 100: status %d records %d", code, len(far.Records))
	}

	_, _, own := env.fed(url.Values{"q": {"history"}, "targets": {member}})
	_, _, sruBody := env.get("/sru/" + member + "?version=1.2&operation=searchRetrieve&query=history&maximumRecords=2")
	if n := sruTotal(t, sruBody); n != own.Total || bytes.Contains(sruBody, []byte("<gw:targets>")) {
		t.Errorf("/sru/%s: numberOfRecords %d, want the member's own %d and no merge: %.400s", member, n, own.Total, sruBody)
	}
	if own.Total <= 100 {
		t.Logf("note: %s has %d hits for history (the 100-record cut is not exercised)", member, own.Total)
	}

	nc := env.gw.reg.Network()
	if nc == "" {
		t.Fatal("the simulator's SRU URL names no network code")
	}
	for _, path := range []string{"/view/sru/" + nc, "/sru/" + nc} {
		_, _, body := env.get(path + "?version=1.2&operation=searchRetrieve&query=history&maximumRecords=1")
		if n := sruTotal(t, body); n != plain.Total || bytes.Contains(body, []byte("diagnostic/1/235")) {
			t.Errorf("%s: numberOfRecords %d, want nz's %d: %.400s", path, n, plain.Total, body)
		}
	}
}

// TestSearchModelDefaultTargets: a plain /v1/search and /sru search
// default_targets (SPEC 14); before, default_targets did nothing unless
// the query named targets=, sort= or facets=.
func TestSearchModelDefaultTargets(t *testing.T) {
	env, names := fedEnv(t, func(c *Config) { c.Federation.DefaultTargets = []string{"all"} })
	code, _, got := env.fed(url.Values{"q": {"history"}, "limit": {"3"}})
	if code != 200 || len(got.Targets) != len(names) || got.Hits == 0 {
		t.Fatalf("plain /v1/search with default_targets [all]: status %d targets %d hits %d; want %d targets", code, len(got.Targets), got.Hits, len(names))
	}
	for _, r := range got.Records {
		if len(r.Sources) == 0 {
			t.Errorf("record %s has no sources", r.MMSID)
		}
	}
	_, _, body := env.get("/sru?version=1.2&operation=searchRetrieve&query=history&maximumRecords=3")
	for _, n := range names {
		if !bytes.Contains(body, []byte(`<gw:target name="`+n+`"`)) {
			t.Errorf("/sru with default_targets: no state of %s: %.500s", n, body)
		}
	}
	if !bytes.Contains(body, []byte("<gw:complete>")) {
		t.Errorf("/sru merged answer does not say whether it is complete: %.500s", body)
	}
}

// TestSearchModelComplete: a merged answer says whether it holds every
// record its targets have (SPEC 14): not while a target has hits it did
// not fetch.
func TestSearchModelComplete(t *testing.T) {
	env, _ := fedEnv(t, nil)
	var out struct {
		Complete *bool `json:"complete"`
		Total    int   `json:"total"`
		Hits     int   `json:"hits"`
	}
	get := func(q string) {
		t.Helper()
		out.Complete = nil
		_, _, body := env.get("/v1/search?" + url.Values{"q": {q}, "targets": {"all"}}.Encode())
		if err := json.Unmarshal(body, &out); err != nil || out.Complete == nil {
			t.Fatalf("%s: no complete field (%v): %.300s", q, err, body)
		}
	}
	get("history")
	if *out.Complete {
		t.Errorf("history over all: complete with %d merged of %d hits; a target has more than it fetched", out.Total, out.Hits)
	}
	// A query every target answers in full is complete.
	_, _, one := env.fed(url.Values{"q": {"history"}, "limit": {"1"}})
	get(one.Records[0].Title)
	if !*out.Complete || out.Total == 0 {
		t.Errorf("%q over all: complete %v total %d hits %d; want complete", one.Records[0].Title, *out.Complete, out.Total, out.Hits)
	}
}

// TestFeedMMSIDOpens: every record's mms_id in the feed opens with
// /v1/records/{mms_id} (SPEC 14), merged or passed through, whatever
// target it came from: the NZ MMS ID where the record has one, else
// {target}:{id}. Before, a member's local-only record carried its IZ MMS
// ID, which /v1/records looked for in the network and did not find.
func TestFeedMMSIDOpens(t *testing.T) {
	env, names := fedEnv(t, func(c *Config) { c.Federation.Targets[0].IndexMap["alma.mms_id"] = "dc.identifier" })
	seen := map[string]int{}
	local := env.sim.LocalOnly(names[1])
	if len(local) == 0 {
		t.Fatalf("%s has no local-only records", names[1])
	}
	for _, c := range []struct{ targets, query string }{
		{"all", `alma.all_for_ui="history"`}, {names[1], `alma.all_for_ui="history"`}, {"ext", `alma.all_for_ui="history"`},
		{"all", "alma.mms_id=" + local[0].MMSID}, {names[1], "alma.mms_id=" + local[0].MMSID},
	} {
		targets := c.targets
		code, _, got := env.fed(url.Values{"query": {c.query}, "targets": {targets}, "limit": {"100"}})
		if code != 200 || len(got.Records) == 0 {
			t.Fatalf("targets=%s: status %d, %d records", targets, code, len(got.Records))
		}
		for _, r := range got.Records {
			kind := "nz"
			if i := strings.IndexByte(r.MMSID, ':'); i > 0 {
				kind = r.MMSID[:i]
			}
			if seen[targets+" "+kind]++; seen[targets+" "+kind] > 5 {
				continue
			}
			code, _, body := env.get("/v1/records/" + url.PathEscape(r.MMSID))
			var rec struct {
				MMSID string `json:"mms_id"`
				Title string `json:"title"`
			}
			if code != 200 || json.Unmarshal(body, &rec) != nil || rec.Title != r.Title {
				t.Errorf("targets=%s: /v1/records/%s: status %d title %q, want 200 and %q: %.300s", targets, r.MMSID, code, rec.Title, r.Title, body)
			}
		}
	}
	for _, want := range []string{"all nz", "all " + names[1], names[1] + " nz", names[1] + " " + names[1], "ext ext"} {
		if seen[want] == 0 {
			t.Errorf("no record of kind %q was tried (%v)", want, seen)
		}
	}
}

// TestMarkStale: the one stale marker of SRU answers marks a merged
// answer's own extraResponseData, and gives a pass-through answer one.
func TestMarkStale(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	v := CacheView{Status: cache.StatusStale, Stale: true, StoredAt: at}
	req := &sru.Request{Version: "1.2", Operation: "searchRetrieve", RecordSchema: "info:srw/schema/1/marcxml-v1.1", RecordPacking: "xml", MaximumRecords: 1}
	plain := renderSRU(req, &TargetPage{Total: 0}).Body
	merged := renderSRU(req, (&Result{Targets: []TargetState{{Name: "nz", Status: search.StatusOK}}}).TargetPage(1, 1)).Body
	for name, body := range map[string][]byte{"pass-through": plain, "merged": merged} {
		out := markStale(body, v)
		if bytes.Count(out, []byte("extraResponseData>")) != 2 || !bytes.Contains(out, []byte("<gw:stale>true</gw:stale>")) ||
			!bytes.Contains(out, []byte("<gw:asOf>2026-11-26T09:00:00Z</gw:asOf>")) || bytes.Contains(out, []byte("<gw:stale>false")) {
			t.Errorf("%s: %s", name, out)
		}
		if err := xml.Unmarshal(out, new(struct{})); err != nil {
			t.Errorf("%s: not well-formed: %v", name, err)
		}
	}
}

// TestMergedPagedToTheEnd (issue 20, "Merged results paged to the end";
// SPEC 14): paging a merged answer from the first page to the last
// fetches deeper rounds from the targets with hits left, so that every
// target's every hit is merged in: no record lost, none repeated, the
// positions already served kept, total growing and complete false until
// the end. Against the simulator's ground truth, every merged record is
// one work, no work is in two, and every target's every hit is the work of
// a served position. Before, the answer ended at the 20 records fetched
// per target.
func TestMergedPagedToTheEnd(t *testing.T) {
	env, names := fedEnv(t, func(c *Config) {
		c.Limits.MaxRecords = 20 // records per target per round, and per page
		c.Federation.Targets[0].MaxRecords, c.Federation.Targets[0].PageSize = 20, 10
	})
	simName := map[string]string{NZTarget: env.gw.reg.Network(), "ext": almasim.ExternalTarget}
	for _, n := range names[1:3] {
		simName[n] = n
	}
	seen := map[federateRef]int{} // source -> page position
	work := map[string]int{}      // work -> position
	var hits map[string]int
	pos, pages, lastTotal := 1, 0, 0
	var first []string
	for {
		var page struct {
			Total    int   `json:"total"`
			Next     *int  `json:"next"`
			Complete *bool `json:"complete"`
			Records  []struct {
				Position int    `json:"position"`
				MMSID    string `json:"mms_id"`
				Sources  []federateRef
			} `json:"records"`
			Targets []struct {
				Name string `json:"name"`
				Hits int    `json:"hits"`
			} `json:"targets"`
		}
		code, _, body := env.get("/v1/search?" + url.Values{"q": {"history"}, "targets": {"all"}, "start": {strconv.Itoa(pos)}, "limit": {"20"}}.Encode())
		if code != 200 || json.Unmarshal(body, &page) != nil || page.Complete == nil {
			t.Fatalf("page at %d: status %d: %.300s", pos, code, body)
		}
		pages++
		if page.Total < lastTotal {
			t.Errorf("page at %d: total fell from %d to %d", pos, lastTotal, page.Total)
		}
		lastTotal = page.Total
		hits = map[string]int{}
		for _, tg := range page.Targets {
			hits[tg.Name] = tg.Hits
		}
		for i, r := range page.Records {
			if r.Position != pos+i {
				t.Fatalf("record %d of the page at %d has position %d", i, pos, r.Position)
			}
			if pos == 1 {
				first = append(first, r.MMSID)
			}
			w := ""
			for _, s := range r.Sources {
				if at, ok := seen[s]; ok {
					t.Errorf("%s:%s at %d was already at %d", s.Target, s.ID, r.Position, at)
				}
				seen[s] = r.Position
				sw, ok := env.sim.Work(simName[s.Target], s.ID)
				if !ok {
					t.Fatalf("the simulator knows no %s:%s", s.Target, s.ID)
				}
				if w != "" && sw != w {
					t.Errorf("record at %d merges two works (%s and %s)", r.Position, w, sw)
				}
				w = sw
			}
			if at, ok := work[w]; ok {
				t.Errorf("work %s is at %d and at %d", w, at, r.Position)
			}
			work[w] = r.Position
		}
		if page.Next == nil {
			if !*page.Complete {
				t.Errorf("the last page (at %d) says the answer is not complete", pos)
			}
			break
		}
		if *page.Next != pos+len(page.Records) {
			t.Fatalf("next %d after the page at %d with %d records", *page.Next, pos, len(page.Records))
		}
		pos = *page.Next
		if pages > 500 {
			t.Fatal("more than 500 pages")
		}
	}
	// Every hit of every target is in the held result, and the work of
	// each was served at some position: a record that joined a work
	// already served is in that position's sources from then on.
	heldAll := env.gw.fed.Held()
	if len(heldAll) != 1 {
		t.Fatalf("%d held results", len(heldAll))
	}
	held := heldAll[0]
	got := map[string]int{}
	for _, c := range held.Clusters {
		for _, s := range c.Sources {
			got[s.Target]++
			sw, _ := env.sim.Work(simName[s.Target], s.ID)
			if _, ok := work[sw]; !ok {
				t.Errorf("%s:%s (work %s) was never served", s.Target, s.ID, sw)
			}
		}
	}
	for _, n := range names {
		if got[n] != min(hits[n], 10000) {
			t.Errorf("%s: %d of its %d hits were merged", n, got[n], hits[n])
		}
	}
	if len(work) != len(held.Clusters) || lastTotal != len(held.Clusters) {
		t.Errorf("%d works served, %d merged records held, last total %d", len(work), len(held.Clusters), lastTotal)
	}
	if hits[NZTarget] <= 20 || pages < 3 {
		t.Errorf("the test pages too little: nz has %d hits, %d pages", hits[NZTarget], pages)
	}
	// /sru/{db} pages to the end the same way.
	_, _, sruBody := env.get("/sru/all?version=1.2&operation=searchRetrieve&query=" + url.QueryEscape("alma.all_for_ui=science") + "&startRecord=101&maximumRecords=20")
	if n := sruTotal(t, sruBody); n < 120 || bytes.Count(sruBody, []byte("<zs:recordData>")) != 20 || !bytes.Contains(sruBody, []byte("<zs:nextRecordPosition>121<")) {
		t.Errorf("/sru/all at 101: numberOfRecords %d: %.400s", n, sruBody)
	}
	// The first page, asked again, still has its records.
	var again struct {
		Records []struct {
			MMSID string `json:"mms_id"`
		} `json:"records"`
	}
	_, _, body := env.get("/v1/search?" + url.Values{"q": {"history"}, "targets": {"all"}, "start": {"1"}, "limit": {"20"}, "_": {"x"}}.Encode())
	if err := json.Unmarshal(body, &again); err != nil || len(again.Records) != len(first) {
		t.Fatalf("first page again: %v %.200s", err, body)
	}
	for i, r := range again.Records {
		if r.MMSID != first[i] {
			t.Errorf("position %d held %s, now %s", i+1, first[i], r.MMSID)
		}
	}
}

type federateRef struct {
	Target string `json:"target"`
	ID     string `json:"id"`
}

// TestMergedJumpIsBounded: a jump far past the merged records fetches at
// most search.MaxRoundsPerSearch rounds per request; the answer says it is not
// complete, is not cached, and asking again goes on.
func TestMergedJumpIsBounded(t *testing.T) {
	env, _ := fedEnv(t, func(c *Config) {
		c.Limits.MaxRecords = 10
		c.Federation.Targets[0].MaxRecords, c.Federation.Targets[0].PageSize = 10, 10
	})
	var page struct {
		Total    int   `json:"total"`
		Complete *bool `json:"complete"`
		Targets  []struct {
			Name    string `json:"name"`
			Fetched int    `json:"fetched"`
		} `json:"targets"`
	}
	ask := func() {
		t.Helper()
		_, _, body := env.get("/v1/search?" + url.Values{"q": {"history"}, "targets": {"all"}, "start": {"9990"}, "limit": {"10"}}.Encode())
		if err := json.Unmarshal(body, &page); err != nil || page.Complete == nil {
			t.Fatalf("%v: %.300s", err, body)
		}
	}
	ask()
	for _, tg := range page.Targets {
		if tg.Fetched > 10*search.MaxRoundsPerSearch {
			t.Errorf("%s: %d records fetched for one request, want at most %d", tg.Name, tg.Fetched, 10*search.MaxRoundsPerSearch)
		}
	}
	if *page.Complete {
		t.Fatalf("complete after one bounded jump: total %d", page.Total)
	}
	first := page.Total
	ask()
	if page.Total <= first {
		t.Errorf("asking again did not go on: total %d, then %d", first, page.Total)
	}
}
