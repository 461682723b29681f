//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runTool runs an external client to completion (bounded, so a hung client
// fails the test instead of hanging it) and returns its combined output.
func runTool(t *testing.T, stdin string, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in 90s:\n%s", filepath.Base(path), tail(string(out), 4096))
	}
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", filepath.Base(path), args, err, tail(string(out), 4096))
	}
	return string(out)
}

// zoomsh runs YAZ's zoomsh with one command per argument and returns what
// it printed and its APDU log (for SRU: every HTTP request and response).
func zoomsh(t *testing.T, cmds ...string) (out, apdu string) {
	t.Helper()
	bin := tool(t, "zoomsh")
	log := filepath.Join(t.TempDir(), "apdu.log")
	out = runTool(t, "", bin, append([]string{"-a", log}, append(cmds, "quit")...)...)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("zoomsh wrote no APDU log: %v", err)
	}
	return out, string(b)
}

var (
	zoomHits    = regexp.MustCompile(`/sru: (\d+) hits`)
	zoomRecord  = regexp.MustCompile(`(?m)^(\d+) database=\S* syntax=XML`)
	zoomError   = regexp.MustCompile(`/sru error: .*\((info:srw/diagnostic/1:\d+)\)`)
	marc001     = regexp.MustCompile(`<(?:\w+:)?controlfield tag="001">(\d+)</(?:\w+:)?controlfield>`)
	zoomRequest = regexp.MustCompile(`(?m)^GET (/sru\?\S+) HTTP/1\.1`)
	yazHits     = regexp.MustCompile(`Number of hits: (\d+)`)
)

var (
	dcTitles   = regexp.MustCompile(`<dc:title>([^<]*)</dc:title>`)
	marcInText = regexp.MustCompile(`(?s)<(?:\w+:)?record xmlns(?::\w+)?="http://www.loc.gov/MARC21/slim".*?</(?:\w+:)?record>`)
)

// marcRecordsIn finds the MARCXML records a client printed.
func marcRecordsIn(t *testing.T, out string) []string {
	t.Helper()
	return marcInText.FindAllString(out, -1)
}

func ids001(text string) []string {
	out := []string{}
	for _, m := range marc001.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

func hitsOf(t *testing.T, re *regexp.Regexp, out string) int {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no hit count in the client's output:\n%s", tail(out, 4096))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestZoomsh drives the gateway's /sru with YAZ's zoomsh over SRU 1.2 and
// 2.0 (HTTP GET): hit counts equal the simulated Alma's, records arrive
// intact and in Alma's order (non-Latin titles included), a 100-record page
// costs two Alma calls of at most 50, and bad queries come back as
// diagnostics without reaching Alma.
func TestZoomsh(t *testing.T) {
	s := startSim(t)
	g := startGateway(t, s)
	g.waitExplain(t) // its start-up explain read is an Alma call "diagnostics never reach Alma" must not see
	const query = "alma.title=history"

	for _, version := range []string{"1.1", "1.2", "2.0"} {
		t.Run("version "+version, func(t *testing.T) {
			want := s.ask(t, query, 5)
			out, apdu := zoomsh(t, "set sru get", "set sru_version "+version,
				"connect "+g.base+"/sru", "search cql:"+query, "show 0 5")
			if got := hitsOf(t, zoomHits, out); got != want.total {
				t.Errorf("zoomsh reports %d hits, want %d (the simulator's count)", got, want.total)
			}
			if d := cmp.Diff(want.ids, ids001(out)); d != "" {
				t.Errorf("records shown by zoomsh (-want +got 001s):\n%s", d)
			}
			if n := len(zoomRecord.FindAllString(out, -1)); n != 5 {
				t.Errorf("zoomsh showed %d XML records, want 5:\n%s", n, tail(out, 4096))
			}
			if !strings.Contains(apdu, "GET /sru?version="+version+"&") {
				t.Errorf("zoomsh did not send version=%s:\n%s", version, head(apdu, 1024))
			}
			ns := map[string]string{"1.1": "http://www.loc.gov/zing/srw/", "1.2": "http://www.loc.gov/zing/srw/", "2.0": "http://docs.oasis-open.org/ns/search-ws/sruResponse"}[version]
			if !strings.Contains(apdu, `"`+ns+`"`) {
				t.Errorf("the gateway's answer to version %s is not in namespace %s:\n%s", version, ns, head(apdu, 2048))
			}
		})
	}

	t.Run("POST and Dublin Core", func(t *testing.T) {
		want := s.ask(t, query, 3)
		marc, _ := zoomsh(t, "set sru get", "connect "+g.base+"/sru", "search cql:"+query, "show 0 3")
		var titles []string
		for _, rec := range marcRecordsIn(t, marc) {
			_, _, title, err := marcRecord([]byte(rec))
			if err != nil {
				t.Fatalf("zoomsh showed a record that is not XML: %v", err)
			}
			titles = append(titles, title)
		}
		if len(titles) != 3 {
			t.Fatalf("zoomsh showed %d MARC records, want 3", len(titles))
		}
		for _, version := range []string{"1.2", "2.0"} {
			out, apdu := zoomsh(t, "set sru post", "set sru_version "+version, "set schema dc",
				"connect "+g.base+"/sru", "search cql:"+query, "show 0 3")
			if !strings.Contains(apdu, "POST /sru") {
				t.Errorf("zoomsh did not POST:\n%s", head(apdu, 1024))
			}
			if got := hitsOf(t, zoomHits, out); got != want.total {
				t.Errorf("POST %s: %d hits, want %d", version, got, want.total)
			}
			dc := dcTitles.FindAllStringSubmatch(out, -1)
			if len(dc) != 3 {
				t.Fatalf("POST %s: zoomsh showed %d Dublin Core records, want 3:\n%s", version, len(dc), tail(out, 2048))
			}
			for i, m := range dc {
				// dc:title is 245 $a and $b; it starts with the MARC title.
				if got := html.UnescapeString(m[1]); !strings.HasPrefix(got, titles[i]) {
					t.Errorf("POST %s: record %d dc:title %q, want it to start with the MARC title %q", version, i+1, got, titles[i])
				}
			}
		}
	})

	t.Run("non-Latin titles", func(t *testing.T) {
		for _, nl := range nonLatin {
			want := s.ask(t, nl.query, 1)
			if want.total == 0 {
				t.Fatalf("the simulator has no record for %s", nl.query)
			}
			out, _ := zoomsh(t, "set sru get", "set sru_version 2.0", "connect "+g.base+"/sru",
				"search cql:"+nl.query, "show 0 1")
			if got := hitsOf(t, zoomHits, out); got != want.total {
				t.Errorf("%s: zoomsh reports %d hits, want %d", nl.query, got, want.total)
			}
			if !strings.Contains(out, `<subfield code="a">`+nl.title) {
				t.Errorf("%s: zoomsh did not show the title %q intact:\n%s", nl.query, nl.title, tail(out, 4096))
			}
			if d := cmp.Diff(want.ids, ids001(out)); d != "" {
				t.Errorf("%s: record shown (-want +got 001s):\n%s", nl.query, d)
			}
		}
	})

	t.Run("100 records, Alma pages of at most 50", func(t *testing.T) {
		const q100 = "alma.title=science"
		want := s.ask(t, q100, 100)
		if want.total <= 100 {
			t.Fatalf("%s has %d hits in the simulator; the test needs more than 100", q100, want.total)
		}
		start := len(s.requests(t))
		out, apdu := zoomsh(t, "set sru get", "set sru_version 1.2", "connect "+g.base+"/sru",
			"search cql:"+q100, "show 0 100")
		if got := hitsOf(t, zoomHits, out); got != want.total {
			t.Errorf("zoomsh reports %d hits, want %d", got, want.total)
		}
		if d := cmp.Diff(want.ids, ids001(out)); d != "" {
			t.Errorf("100 records shown by zoomsh (-want +got 001s):\n%s", d)
		}
		// zoomsh's APDU log truncates long bodies, so the positions are
		// read from the same request, sent again (a cache hit: no Alma call).
		reqs := zoomRequest.FindAllStringSubmatch(apdu, -1)
		if len(reqs) == 0 {
			t.Fatalf("no request in zoomsh's APDU log:\n%s", head(apdu, 1024))
		}
		last := reqs[len(reqs)-1][1]
		if !strings.Contains(last, "maximumRecords=100") {
			t.Errorf("zoomsh's last request %s did not ask for 100 records", last)
		}
		mark := len(s.requests(t))
		code, _, body := get(t, g.base+last)
		page, err := parseSRU(body)
		if code != 200 || err != nil {
			t.Fatalf("GET %s: %d %v", last, code, err)
		}
		var pos, wantPos []int
		var got []string
		for i, r := range page.records {
			pos = append(pos, r.position)
			wantPos = append(wantPos, i+1)
			got = append(got, r.mmsID)
		}
		if len(wantPos) != 100 {
			t.Errorf("the answer has %d records, want 100", len(page.records))
		}
		if d := cmp.Diff(wantPos, pos); d != "" {
			t.Errorf("recordPosition in the answer zoomsh received (-want +got):\n%s", d)
		}
		if d := cmp.Diff(want.ids, got); d != "" {
			t.Errorf("001s in the answer zoomsh received (-want +got):\n%s", d)
		}
		if page.next != 101 {
			t.Errorf("nextRecordPosition = %d, want 101", page.next)
		}
		if n := len(s.requests(t)) - mark; n != 0 {
			t.Errorf("the same request again made %d Alma calls, want 0 (cached)", n)
		}
		calls := 0
		for _, r := range s.requests(t)[start:] {
			if r.Endpoint != "sru" || first(r.Query["operation"]) != "searchRetrieve" {
				continue
			}
			if r.MaximumRecords > 50 {
				t.Errorf("the gateway asked Alma for maximumRecords=%d (%v)", r.MaximumRecords, r.Query)
			}
			if r.MaximumRecords > 0 {
				calls++
			}
		}
		// zoomsh's search asks for the hit count alone (maximumRecords=0);
		// its show asks for the 100 records: two Alma pages.
		if calls != 2 {
			t.Errorf("100 records took %d Alma searchRetrieve calls that fetch records, want 2", calls)
		}
	})

	// A client that asks for up to 100 records of a list shorter than 51
	// (the common case for a title search) gets the records and no
	// diagnostic: Alma's diagnostic 61 for a page past the end is the
	// gateway's business, not the client's.
	t.Run("short list asked 100 at a time", func(t *testing.T) {
		nl := nonLatin[1]
		want := s.ask(t, nl.query, 100)
		if want.total == 0 || want.total > 50 {
			t.Fatalf("%s has %d hits in the simulator; the test needs 1..50", nl.query, want.total)
		}
		for _, version := range []string{"1.2", "2.0"} {
			out, _ := zoomsh(t, "set sru get", "set sru_version "+version, "set count 100", "connect "+g.base+"/sru",
				"search cql:"+nl.query)
			if m := zoomError.FindString(out); m != "" {
				t.Errorf("version %s: zoomsh reported an error for %s with count 100: %s", version, nl.query, out)
				continue
			}
			if got := hitsOf(t, zoomHits, out); got != want.total {
				t.Errorf("version %s: zoomsh reports %d hits, want %d", version, got, want.total)
			}
			if d := cmp.Diff(want.ids, ids001(out)); d != "" {
				t.Errorf("version %s: records (-want +got 001s):\n%s", version, d)
			}
		}
	})

	t.Run("diagnostics never reach Alma", func(t *testing.T) {
		before := s.counters(t)
		for _, tc := range []struct{ query, diag string }{
			{"alma.nosuchindex=x", "info:srw/diagnostic/1:16"},
			{"alma.title=(", "info:srw/diagnostic/1:10"},
			{"alma.title within x", "info:srw/diagnostic/1:19"},
		} {
			for _, version := range []string{"1.2", "2.0"} {
				out, _ := zoomsh(t, "set sru get", "set sru_version "+version, "connect "+g.base+"/sru", "search cql:"+tc.query)
				m := zoomError.FindStringSubmatch(out)
				if m == nil || !strings.HasPrefix(m[1], tc.diag) {
					t.Errorf("version %s, %q: zoomsh reported %v, want diagnostic %s:\n%s", version, tc.query, m, tc.diag, out)
				}
			}
		}
		if after := s.counters(t); after.SRU != before.SRU {
			t.Errorf("invalid queries made %d Alma SRU calls, want 0", after.SRU-before.SRU)
		}
	})
}

// TestYazClient drives /sru with yaz-client in SRU GET mode, with commands
// on its standard input as a person would type them.
func TestYazClient(t *testing.T) {
	bin := tool(t, "yaz-client")
	s := startSim(t)
	g := startGateway(t, s)
	// The gateway reads Alma's explain (392 indexes) once at start: let it
	// finish before counting the searches' Alma calls.
	g.waitExplain(t)
	for _, tc := range []struct{ method, version string }{{"get", "1.2"}, {"get", "2.0"}, {"post", "1.2"}, {"post", "2.0"}} {
		t.Run(tc.method+" "+tc.version, func(t *testing.T) {
			want := s.ask(t, "alma.title=history", 3)
			nl := nonLatin[0]
			wantNL := s.ask(t, nl.query, 1)
			before := s.counters(t)
			apdu := filepath.Join(t.TempDir(), "apdu.log")
			out := runTool(t, fmt.Sprintf(`sru %s %s
querytype cql
open %s/sru
find alma.nosuchindex=history
find alma.title=history
show 1+3
find %s
show 1
scan alma.title=x
quit
`, tc.method, tc.version, g.base, nl.query), bin, "-a", apdu)
			log, err := os.ReadFile(apdu)
			if err != nil {
				t.Fatalf("yaz-client wrote no APDU log: %v", err)
			}
			if want := strings.ToUpper(tc.method) + " /sru"; !strings.Contains(string(log), want) {
				t.Errorf("yaz-client did not send %s:\n%s", want, head(string(log), 1024))
			}
			if !strings.Contains(out, "SRW diagnostic info:srw/diagnostic/1/4") {
				t.Errorf("yaz-client's scan did not get diagnostic 4 (unsupported operation):\n%s", tail(out, 2048))
			}
			parts := strings.SplitN(out, "Unsupported index", 2)
			if len(parts) != 2 || !strings.Contains(parts[0], "SRW diagnostic info:srw/diagnostic/1/16") {
				t.Errorf("yaz-client did not report diagnostic 16 for an unknown index:\n%s", tail(out, 4096))
			}
			var hits []int
			for _, m := range yazHits.FindAllStringSubmatch(out, -1) {
				n, _ := strconv.Atoi(m[1])
				hits = append(hits, n)
			}
			// find (diagnostic), find, show, find, show: each answer prints its hit count.
			if d := cmp.Diff([]int{0, want.total, want.total, wantNL.total, wantNL.total}, hits); d != "" {
				t.Errorf("hit counts printed by yaz-client (-want +got):\n%s\n%s", d, tail(out, 4096))
			}
			if d := cmp.Diff(append(want.ids, wantNL.ids...), ids001(out)); d != "" {
				t.Errorf("records shown by yaz-client (-want +got 001s):\n%s", d)
			}
			for i := 1; i <= 3; i++ {
				if !strings.Contains(out, "pos="+strconv.Itoa(i)+" schema=info:srw/schema/1/marcxml-v1.1") {
					t.Errorf("yaz-client did not show record %d as MARCXML:\n%s", i, tail(out, 4096))
				}
			}
			if !strings.Contains(out, `<subfield code="a">`+nl.title) {
				t.Errorf("yaz-client did not show the title %q intact", nl.title)
			}
			if after := s.counters(t); after.SRU-before.SRU > 4 {
				t.Errorf("two searches made %d Alma calls", after.SRU-before.SRU)
			}
		})
	}
}

// nodeResult is what integration/node/sru.mjs prints.
type nodeResult struct {
	Total   *int     `json:"total"`
	Next    *int     `json:"next"`
	Records []string `json:"records"`
	Error   *string  `json:"error"`
}

// nodeSRU runs the @natlibfi/sru-client script.
func nodeSRU(t *testing.T, url, query string, opts ...string) nodeResult {
	t.Helper()
	bin := tool(t, "node")
	if _, err := os.Stat("node/node_modules/@natlibfi/sru-client/package.json"); err != nil {
		t.Fatal("@natlibfi/sru-client is not installed: cd integration/node && npm ci (or run: sudo bash scripts/install-tools.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"sru.mjs", url, query}, opts...)...)
	cmd.Dir = "node"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node sru.mjs %s %v: %v\n%s%s", query, opts, err, out, stderr.String())
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node sru.mjs printed no JSON: %v\n%s", err, out)
	}
	return r
}

// marcRecord reads the 001 and 245 $a of one MARCXML record (any prefix)
// and its element's namespace; the record must be well-formed.
func marcRecord(data []byte) (ns, id, title string, err error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var cur string
	var in001, in245a, in245 bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ns, id, title, nil
		}
		if err != nil {
			return ns, id, title, err
		}
		switch e := tok.(type) {
		case xml.StartElement:
			cur = e.Name.Local
			if cur == "record" && ns == "" {
				ns = e.Name.Space
			}
			switch cur {
			case "controlfield":
				in001 = attr(e, "tag") == "001"
			case "datafield":
				in245 = attr(e, "tag") == "245"
			case "subfield":
				in245a = in245 && attr(e, "code") == "a"
			}
		case xml.EndElement:
			in001, in245a = false, false
			if e.Name.Local == "datafield" {
				in245 = false
			}
		case xml.CharData:
			switch {
			case in001:
				id += string(e)
			case in245a && title == "":
				title = strings.TrimRight(strings.TrimSpace(string(e)), " /:;,.")
			}
		}
	}
}

// TestNodeSRUClient drives /sru with @natlibfi/sru-client 6.0.18 (the npm
// SRU client), SRU 1.2 and 2.0: totals, MARCXML records with the expected
// MMS IDs in order, the client's own paging with retrieveAll through the
// gateway's page cap, non-Latin titles, and diagnostics as client errors.
func TestNodeSRUClient(t *testing.T) {
	s := startSim(t)
	g := startGateway(t, s)
	const query = "alma.title=history"
	for _, version := range []string{"1.2", "2.0"} {
		t.Run("version "+version, func(t *testing.T) {
			want := s.ask(t, query, 1000)
			check := func(name string, r nodeResult, wantIDs []string) {
				t.Helper()
				if r.Error != nil {
					t.Fatalf("%s: the client failed: %s", name, *r.Error)
				}
				if r.Total == nil || *r.Total != want.total {
					t.Errorf("%s: total = %v, want %d", name, deref(r.Total), want.total)
				}
				got := []string{}
				for i, rec := range r.Records {
					ns, id, _, err := marcRecord([]byte(rec))
					if err != nil {
						t.Errorf("%s: record %d is not well-formed XML: %v", name, i+1, err)
					}
					if ns != "http://www.loc.gov/MARC21/slim" {
						t.Errorf("%s: record %d is in namespace %q, want MARC21/slim", name, i+1, ns)
					}
					got = append(got, id)
				}
				if d := cmp.Diff(wantIDs, got); d != "" {
					t.Errorf("%s: 001 of the records (-want +got):\n%s", name, d)
				}
			}

			first := nodeSRU(t, g.base+"/sru", query, "version="+version, "maxRecordsPerRequest=20", "retrieveAll=false")
			check("first page", first, want.ids[:20])
			if first.Next == nil || *first.Next != 21 {
				t.Errorf("first page: next offset = %v, want 21", deref(first.Next))
			}

			second := nodeSRU(t, g.base+"/sru", query, "version="+version, "maxRecordsPerRequest=20", "retrieveAll=false", "startRecord=21")
			check("second page", second, want.ids[20:40])

			// The client's default asks 1000 a page; the gateway answers at
			// most its maximum and the client follows nextRecordPosition.
			all := nodeSRU(t, g.base+"/sru", query, "version="+version)
			check("retrieveAll", all, want.ids)

			for _, nl := range nonLatin {
				wantNL := s.ask(t, nl.query, 100)
				r := nodeSRU(t, g.base+"/sru", nl.query, "version="+version, "maxRecordsPerRequest=50", "retrieveAll=false")
				if r.Error != nil || r.Total == nil || *r.Total != wantNL.total || len(r.Records) != len(wantNL.ids) {
					t.Errorf("%s: got total %v, %d records, error %q; want %d records", nl.query, deref(r.Total), len(r.Records), deref(r.Error), wantNL.total)
					continue
				}
				_, _, title, err := marcRecord([]byte(r.Records[0]))
				if err != nil || title != nl.title {
					t.Errorf("%s: first record's title = %q (%v), want %q", nl.query, title, err, nl.title)
				}
			}

			// The client's defaults (1000 a page) on a list shorter than one
			// Alma page: the records, and no error.
			short := nonLatin[0]
			wantShort := s.ask(t, short.query, 100)
			check2 := nodeSRU(t, g.base+"/sru", short.query, "version="+version)
			if check2.Error != nil || check2.Total == nil || *check2.Total != wantShort.total {
				t.Errorf("%s with the client's defaults: total %v, %d records, error %q; want %d records and no error",
					short.query, deref(check2.Total), len(check2.Records), deref(check2.Error), wantShort.total)
			}

			dc := nodeSRU(t, g.base+"/sru", query, "version="+version, "recordSchema=dc", "maxRecordsPerRequest=3", "retrieveAll=false")
			if dc.Error != nil || len(dc.Records) != 3 {
				t.Fatalf("dc: error %q, %d records", deref(dc.Error), len(dc.Records))
			}
			for i, rec := range dc.Records {
				if !strings.Contains(rec, "http://purl.org/dc/elements/1.1/") || !strings.Contains(rec, "title>") {
					t.Errorf("dc record %d is not Dublin Core:\n%s", i+1, rec)
				}
			}

			before := s.counters(t)
			bad := nodeSRU(t, g.base+"/sru", "alma.nosuchindex=x", "version="+version)
			if bad.Error == nil || !strings.Contains(*bad.Error, "Unsupported index") {
				t.Errorf("unknown index: client error = %q, want the diagnostic's message", deref(bad.Error))
			}
			if after := s.counters(t); after.SRU != before.SRU {
				t.Errorf("an invalid query made %d Alma calls", after.SRU-before.SRU)
			}
		})
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// deref shows an optional JSON value in a message.
func deref[T any](p *T) any {
	if p == nil {
		return "null"
	}
	return *p
}

// TestSRUClientsWhileAlmaIsDown takes Alma away under the SRU clients (the
// simulator answers 500, then hangs, then resets connections): a search
// answered before is served stale to zoomsh and yaz-client with the same
// hits and records, marked stale in SRU's extraResponseData; a new search
// gets diagnostic 1 promptly, as a diagnostic the clients report, not a
// transport error; and once Alma is back, fresh answers return.
func TestSRUClientsWhileAlmaIsDown(t *testing.T) {
	s := startSim(t)
	g := startGateway(t, s, "GATEWAY_CACHE_TTL=1s", "GATEWAY_UPSTREAM_TIMEOUT=2s", "GATEWAY_BREAKER_COOLDOWN=1s")
	const query = "alma.title=history"
	want := s.ask(t, query, 3)
	search := func(q string) (string, string) {
		return zoomsh(t, "set sru get", "set sru_version 2.0", "connect "+g.base+"/sru", "search cql:"+q, "show 0 3")
	}
	yazScript := fmt.Sprintf("sru get 1.2\nquerytype cql\nopen %s/sru\nfind %s\nshow 1\nquit\n", g.base, query)
	search(query) // cached while Alma is up, for both clients
	runTool(t, yazScript, tool(t, "yaz-client"))

	for _, kind := range []string{"500", "hang", "reset"} {
		t.Run(kind, func(t *testing.T) {
			g.waitBreakerNotOpen(t) // so that this fault, not an open breaker, is what the gateway meets
			// A refresh may have succeeded when the last fault was cleared:
			// let the entries turn stale again.
			time.Sleep(1500 * time.Millisecond)
			before := s.counters(t)
			s.setFault(t, "sru", kind, 0)
			defer s.setFault(t, "sru", "none", 0)
			defer func() {
				if after := s.counters(t); after.SRU == before.SRU {
					t.Errorf("the gateway never met the %s fault: no Alma call", kind)
				}
			}()
			out, apdu := search(query)
			if got := hitsOf(t, zoomHits, out); got != want.total {
				t.Errorf("zoomsh reports %d hits from the stale answer, want %d", got, want.total)
			}
			if d := cmp.Diff(want.ids, ids001(out)); d != "" {
				t.Errorf("stale records shown by zoomsh (-want +got):\n%s", d)
			}
			if !strings.Contains(apdu, "X-Cache: STALE") || !strings.Contains(apdu, "extraResponseData") {
				t.Errorf("the answer is not marked stale (X-Cache, extraResponseData):\n%s", head(apdu, 1500))
			}
			yaz := runTool(t, yazScript, tool(t, "yaz-client"))
			if got := hitsOf(t, yazHits, yaz); got != want.total || len(ids001(yaz)) != 1 {
				t.Errorf("yaz-client: %d hits, records %v from the stale answer; want %d hits and a record", got, ids001(yaz), want.total)
			}

			fresh := "alma.title=music" + " and alma.title=" + kind // never asked: nothing cached
			out, _ = zoomsh(t, "set sru get", "set sru_version 2.0", "connect "+g.base+"/sru", "search cql:"+fresh)
			if m := zoomError.FindStringSubmatch(out); m == nil || m[1] != "info:srw/diagnostic/1:1" {
				t.Errorf("a new search while Alma is down: zoomsh reported %q, want diagnostic 1:\n%s", m, out)
			}
		})
	}

	t.Run("Alma back", func(t *testing.T) {
		// The first answers after Alma's return are still stale, and
		// refresh the entry in the background (SPEC 4); once the breaker's
		// 1s cooldown has passed, a refresh succeeds and zoomsh gets a fresh
		// answer.
		_, apdu := search(query)
		reqs := zoomRequest.FindAllStringSubmatch(apdu, -1)
		if len(reqs) == 0 {
			t.Fatalf("no request in zoomsh's APDU log")
		}
		// zoomsh's search asks for the count, its show for the records:
		// two entries to refresh.
		for _, r := range reqs {
			for i := 0; ; i++ {
				_, h, _ := get(t, g.base+r[1])
				if x := h.Get("X-Cache"); x == "HIT" || x == "MISS" {
					break
				}
				if i == 100 {
					t.Fatalf("%s was never refreshed after Alma came back (X-Cache %q)", r[1], h.Get("X-Cache"))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		out, apdu := search(query)
		if strings.Contains(apdu, "X-Cache: STALE") || strings.Contains(apdu, "extraResponseData") {
			t.Errorf("after the refresh zoomsh still gets a stale answer:\n%s", head(apdu, 1500))
		}
		if d := cmp.Diff(want.ids, ids001(out)); d != "" {
			t.Errorf("records after Alma came back (-want +got):\n%s", d)
		}
	})
}

// waitBreakerNotOpen waits until /v1/status reports the NZ SRU breaker
// closed or half-open (its cooldown has passed).
func (g *gw) waitBreakerNotOpen(t *testing.T) {
	t.Helper()
	for i := 0; ; i++ {
		code, _, body := get(t, g.base+"/v1/status")
		var st struct {
			Upstreams []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"upstreams"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
			t.Fatalf("/v1/status answered %d: %s", code, head(string(body), 300))
		}
		state := ""
		for _, u := range st.Upstreams {
			if u.Name == "sru:nz" {
				state = u.State
			}
		}
		if state != "open" {
			return
		}
		if i == 300 {
			t.Fatal("the sru:nz breaker stayed open")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExplain waits until the gateway has read Alma's explain at start, an
// SRU call of its own that a test counting Alma calls must not count.
func (g *gw) waitExplain(t *testing.T) {
	t.Helper()
	for i := 0; !strings.Contains(g.stderr.String(), "index list read from Alma's explain"); i++ {
		if i == 600 {
			t.Fatalf("the gateway did not read Alma's explain:\n%s", tail(g.stderr.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
