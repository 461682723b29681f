//go:build integration

package integration

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/almanet/gateway/internal/stdnum"
)

var simOCLC = regexp.MustCompile(`<subfield code="a">(\(OCoLC\)\d+)</subfield>`)

// TestSRUClientInputAsPeopleTypeIt drives /sru with @natlibfi/sru-client
// with queries as people and almasru send them (issue 22): an unquoted term
// holding parentheses after == (which Alma accepts and CQL refuses), and
// decomposed Unicode (macOS) that must find what the composed form finds.
func TestSRUClientInputAsPeopleTypeIt(t *testing.T) {
	s := startSim(t)
	g := startGateway(t, s)

	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {"alma.title=history"}, "maximumRecords": {"20"}}
	_, _, body := get(t, s.sru+"?"+q.Encode())
	m := simOCLC.FindSubmatch(body)
	if m == nil {
		t.Fatal("no (OCoLC) 035 in the simulator's first 20 history records")
	}
	oclc := string(m[1])
	for _, tc := range []struct{ name, query, want string }{
		{"bare term with parentheses after ==", "alma.other_system_number==" + oclc, `alma.other_system_number=="` + oclc + `"`},
		// almasru's own lookup index, which the NZ's explain lists (issue 22).
		{"almasru's active 035 index", "alma.other_system_number_active_035==" + oclc, `alma.other_system_number=="` + oclc + `"`},
		{"decomposed Unicode", "alma.all_for_ui=Zu\u0308rich", "alma.all_for_ui=\"Z\u00fcrich\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := s.ask(t, tc.want, 100)
			if want.total == 0 {
				t.Fatalf("the simulator finds nothing for %s; the test proves nothing", tc.want)
			}
			r := nodeSRU(t, g.base+"/sru", tc.query, "version=2.0", "maxRecordsPerRequest=50", "retrieveAll=false")
			if r.Error != nil || r.Total == nil || *r.Total != want.total || len(r.Records) != len(want.ids) {
				t.Errorf("%s: total %v, %d records, error %q; want %d records as %s finds", tc.query,
					deref(r.Total), len(r.Records), deref(r.Error), want.total, tc.want)
			}
		})
	}
}

var marc020 = regexp.MustCompile(`code="a">(97[89]\d{10})</subfield>`)

// TestStandardNumbersThroughRealClients (issue 22): an ISBN-10 or a
// hyphenated ISBN-13 of a record that catalogues the ISBN-13 alone finds it
// through @natlibfi/sru-client (alma.isbn and keywords), yaz-client over
// Z39.50 (1=7) and the JSON feed's q=, as the catalogued form does.
func TestStandardNumbersThroughRealClients(t *testing.T) {
	s := startSim(t)
	g, addr := startZ3950(t, s)
	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {"alma.title=history"}, "maximumRecords": {"50"}}
	_, _, body := get(t, s.sru+"?"+q.Encode())
	page, err := parseSRU(body)
	if err != nil {
		t.Fatal(err)
	}
	var isbn string
	for _, r := range page.records {
		if m := marc020.FindAllSubmatch(r.data, -1); len(m) == 1 && strings.Count(string(r.data), `tag="020"`) == 1 && string(m[0][1][:3]) == "978" {
			isbn = string(m[0][1])
			break
		}
	}
	if isbn == "" {
		t.Fatal("no history record catalogues a 978 ISBN-13 alone")
	}
	isbn10 := stdnum.ISBN10(isbn)
	hyphenated := isbn[:3] + "-" + isbn[3:4] + "-" + isbn[4:8] + "-" + isbn[8:12] + "-" + isbn[12:]
	want := s.ask(t, `alma.isbn="`+isbn+`"`, 10)
	if want.total == 0 || s.ask(t, `alma.isbn="`+isbn10+`"`, 10).total != 0 {
		t.Fatalf("the simulator finds %d for %s, and must find nothing for the ISBN-10 %s itself", want.total, isbn, isbn10)
	}
	for _, query := range []string{"alma.isbn=" + isbn10, "alma.isbn=" + hyphenated, isbn10, hyphenated} {
		r := nodeSRU(t, g.base+"/sru", query, "version=2.0", "maxRecordsPerRequest=10", "retrieveAll=false")
		if r.Error != nil || r.Total == nil || *r.Total != want.total {
			t.Errorf("sru-client %s: total %v, error %q; want %d", query, deref(r.Total), deref(r.Error), want.total)
		}
	}
	for _, term := range []string{isbn10, hyphenated} {
		out, _ := yazZ(t, addr+"/Default", "find @attr 1=7 "+term+"\n")
		if got := hitsOf(t, yazHits, out); got != want.total {
			t.Errorf("yaz-client find @attr 1=7 %s: %d hits, want %d", term, got, want.total)
		}
	}
	for _, kw := range []string{isbn10, hyphenated, "history OR " + isbn10} {
		_, _, body := get(t, g.base+"/v1/search?"+url.Values{"q": {kw}}.Encode())
		var feed struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(body, &feed); err != nil || feed.Total < want.total || !strings.Contains(kw, "OR") && feed.Total != want.total {
			t.Errorf("/v1/search?q=%s: total %d (%v), want %d", kw, feed.Total, err, want.total)
		}
	}
}
