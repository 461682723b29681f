//go:build integration

package integration

import (
	"net/url"
	"regexp"
	"testing"
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
