package almasim

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/internal/almaindex"
)

// TestExplainListsAlmasIndexes: the simulator's explain is Alma's whole
// index list (issue 22: almasru and Z39.50's OCLC, LCCN and series rows got
// "unsupported index" from a ten-index explain), in Alma's order, and the
// network zone adds other_system_number_active_035.
func TestExplainListsAlmasIndexes(t *testing.T) {
	s := shared(t, 300)
	var want []string
	for _, ix := range almaindex.Alma().Indexes {
		want = append(want, ix.Set+"."+ix.Name)
	}
	name := regexp.MustCompile(`<name set="([a-z]+)">([a-z0-9_]+)</name>`)
	listed := func(code string) []string {
		_, body := do(t, s.Handler(), "GET", "/view/sru/"+code+"?version=1.2&operation=explain")
		var got []string
		for _, m := range name.FindAllStringSubmatch(string(body), -1) {
			got = append(got, m[1]+"."+m[2])
		}
		return got
	}
	if diff := cmp.Diff(append(slices.Clone(want), "alma.other_system_number_active_035"), listed(s.NetworkCode())); diff != "" {
		t.Errorf("NZ explain indexes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, listed(s.Members()[0].Code)); diff != "" {
		t.Errorf("member explain indexes (-want +got):\n%s", diff)
	}
}

// TestIndexesTheRecordsCarry: each identifier, series and LCCN index finds
// exactly the NZ records whose fields carry the value, and an index Alma
// lists for data no generated record has answers no hits, not diagnostic 16.
func TestIndexesTheRecordsCarry(t *testing.T) {
	s := shared(t, 600)
	var lccn, series, oclc, other string
	for _, r := range s.Records() {
		if lccn == "" && r.LCCN != "" {
			lccn = r.LCCN
		}
		if series == "" && len(r.Series) > 0 {
			series = r.Series[0]
		}
		for _, v := range r.subfields("035", 'a') {
			if n, ok := strings.CutPrefix(v, "(OCoLC)"); ok && oclc == "" {
				oclc = n
			}
			if strings.HasPrefix(v, "(NET)") && other == "" {
				other = v
			}
		}
	}
	if lccn == "" || series == "" || oclc == "" || other == "" {
		t.Fatalf("600 records carry no LCCN %q, series %q, OCLC number %q or (NET) number %q", lccn, series, oclc, other)
	}
	has035 := func(v string) func(Record) bool {
		return func(r Record) bool { return slices.Contains(r.subfields("035", 'a'), v) }
	}
	isbn := s.Records()[1].ISBNs
	for _, tc := range []struct {
		query string
		keep  func(Record) bool
	}{
		{`alma.lccn="` + lccn + `"`, func(r Record) bool { return r.LCCN == lccn }},
		{`alma.series="` + series + `"`, func(r Record) bool { return slices.Contains(r.Series, series) }},
		{`alma.series all "` + strings.Fields(series)[0] + `"`, func(r Record) bool {
			return anyValue(r.Series, func(v string) bool { return hasWords(v, strings.ToLower(strings.Fields(series)[0])) })
		}},
		{`alma.oclc_control_number_035_a="` + oclc + `"`, has035("(OCoLC)" + oclc)},
		{`alma.other_system_number="` + other + `"`, has035(other)},
		{`alma.other_system_number_active_035==` + `"` + other + `"`, has035(other)},
		{`rec.id=` + s.Records()[3].MMSID, func(r Record) bool { return r.MMSID == s.Records()[3].MMSID }},
		{`alma.standard_number="` + strings.Join(isbn, "") + `"`, func(r Record) bool { return len(isbn) == 1 && slices.Contains(r.ISBNs, isbn[0]) }},
		{`alma.accompanying_material=cd`, func(Record) bool { return false }},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, err := s.Search(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(brute(s, tc.keep), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The NZ's extra index is the NZ's only.
	var d *Diagnostic
	if _, err := s.SearchIn(s.Members()[0].Code, `alma.other_system_number_active_035=x`); !errors.As(err, &d) || d.URI != "info:srw/diagnostic/1/16" {
		t.Errorf("member zone, alma.other_system_number_active_035: %v, want diagnostic 16", err)
	}
}
