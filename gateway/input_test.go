package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/internal/stdnum"
)

// feedTotal runs a /v1/search and returns its total and canonical query.
func (e *testEnv) feedTotal(params url.Values) (int, string) {
	e.t.Helper()
	code, _, body := e.get("/v1/search?" + params.Encode())
	if code != http.StatusOK {
		e.t.Fatalf("/v1/search?%s: status %d: %s", params.Encode(), code, body)
	}
	var ans struct {
		Query string `json:"query"`
		Total int    `json:"total"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		e.t.Fatalf("/v1/search?%s: %v: %s", params.Encode(), err, body)
	}
	return ans.Total, ans.Query
}

// TestDecomposedUnicodeIsTheSameSearch: "Zürich" typed decomposed (as
// macOS sends it, u + U+0308) finds what the composed form finds, through
// one cache entry and one Alma call (issue 22, issue 21 9: NFC keys).
func TestDecomposedUnicodeIsTheSameSearch(t *testing.T) {
	env := newEnv(t, nil)
	env.sim.ResetCounters()
	composed, wantQuery := env.feedTotal(url.Values{"q": {"Z\u00fcrich"}})
	if composed == 0 {
		t.Fatal("the simulated network has no record from Zürich; the test proves nothing")
	}
	for _, p := range []url.Values{
		{"q": {"Zu\u0308rich"}},
		{"query": {"alma.all_for_ui=Zu\u0308rich"}},
	} {
		got, query := env.feedTotal(p)
		if got != composed || query != wantQuery {
			t.Errorf("%v: total %d query %s, want %d %s as composed", p, got, query, composed, wantQuery)
		}
	}
	if n := env.sim.Count(almasim.EndpointSRU); n != 1 {
		t.Errorf("the composed and decomposed spellings made %d Alma calls, want 1 (one cache key)", n)
	}
}

var oclc035 = regexp.MustCompile(`<subfield code="a">(\(OCoLC\)\d+)</subfield>`)

// TestBareTermWithParenthesesAsAlmaAccepts: almasru sends an unquoted term
// holding parentheses after == (alma.other_system_number_active_035==
// (NET)0000001-netdb), which Alma reads to the next space and CQL refuses.
// The gateway accepts it as the quoted term, under the quoted term's key.
func TestBareTermWithParenthesesAsAlmaAccepts(t *testing.T) {
	env := newEnv(t, nil)
	var id string
	for _, r := range env.sim.Records() {
		if m := oclc035.FindSubmatch(r.MARCXML); m != nil && r.NZMMSID == "" {
			id = string(m[1])
			break
		}
	}
	if id == "" {
		t.Fatal("no NZ record carries an (OCoLC) 035")
	}
	env.sim.ResetCounters()
	bare, query := env.feedTotal(url.Values{"query": {"alma.other_system_number==" + id}})
	if want := `alma.other_system_number=="` + id + `"`; query != want {
		t.Errorf("canonical query %s, want %s", query, want)
	}
	if bare == 0 {
		t.Errorf("alma.other_system_number==%s found nothing", id)
	}
	quoted, _ := env.feedTotal(url.Values{"query": {`alma.other_system_number == "` + id + `"`}})
	if quoted != bare {
		t.Errorf("quoted spelling found %d, bare %d", quoted, bare)
	}
	if n := env.sim.Count(almasim.EndpointSRU); n != 1 {
		t.Errorf("the bare and quoted spellings made %d Alma calls, want 1", n)
	}
}

// TestStandardNumbersInEveryForm: an ISBN typed with hyphens or as its
// ISBN-10, an ISSN without its hyphen, an OCLC number with (OCoLC), ocm and
// leading zeros find, as keywords and in their indexes, what the form the
// record catalogues finds (issue 22: q=978-3-… and ISBN-10s found nothing).
func TestStandardNumbersInEveryForm(t *testing.T) {
	env := newEnv(t, nil)
	var isbn, issn, oclc string
	for _, r := range env.sim.Records() {
		if r.NZMMSID != "" {
			continue
		}
		if isbn == "" && len(r.ISBNs) == 1 && len(r.ISBNs[0]) == 13 && strings.HasPrefix(r.ISBNs[0], "978") {
			isbn = r.ISBNs[0] // catalogued as ISBN-13 only
		}
		if issn == "" && len(r.ISSNs) > 0 {
			issn = r.ISSNs[0]
		}
		if m := oclc035.FindSubmatch(r.MARCXML); oclc == "" && m != nil {
			oclc = strings.TrimPrefix(string(m[1]), "(OCoLC)")
		}
	}
	if isbn == "" || issn == "" || oclc == "" {
		t.Fatalf("no record with an ISBN-13 alone (%q), an ISSN (%q) or an OCLC number (%q)", isbn, issn, oclc)
	}
	isbn10 := stdnum.ISBN10(isbn)
	hyphenated := isbn[:3] + "-" + isbn[3:4] + "-" + isbn[4:8] + "-" + isbn[8:12] + "-" + isbn[12:]
	for _, tc := range []struct {
		name  string
		want  url.Values
		forms []url.Values
	}{
		{"ISBN", url.Values{"query": {`alma.isbn="` + isbn + `"`}}, []url.Values{
			{"q": {hyphenated}}, {"q": {isbn10}}, {"q": {"history OR " + isbn10}},
			{"query": {"alma.isbn=" + isbn10}}, {"query": {"alma.isbn=" + hyphenated}},
		}},
		{"ISSN", url.Values{"query": {`alma.issn="` + issn + `"`}}, []url.Values{
			{"q": {strings.Replace(issn, "-", "", 1)}}, {"q": {issn}}, {"query": {"alma.issn=" + strings.Replace(issn, "-", "", 1)}},
		}},
		{"OCLC", url.Values{"query": {`alma.oclc_control_number_035_a="` + oclc + `"`}}, []url.Values{
			{"q": {"(OCoLC)" + oclc}}, {"q": {"ocm000" + oclc}}, {"query": {"alma.oclc_control_number_035_a=(OCoLC)0" + oclc}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := env.feedTotal(tc.want)
			if want == 0 {
				t.Fatalf("%v finds nothing; the test proves nothing", tc.want)
			}
			for _, p := range tc.forms {
				got, query := env.feedTotal(p)
				if p.Has("q") && strings.HasPrefix(p.Get("q"), "history OR ") {
					if got < want {
						t.Errorf("%v: total %d (query %s), want at least %d", p, got, query, want)
					}
					continue
				}
				if got != want {
					t.Errorf("%v: total %d (query %s), want %d as %v finds", p, got, query, want, tc.want)
				}
			}
		})
	}
	// The ISBN-10 and the hyphenated ISBN-13 in alma.isbn are one search.
	_, q10 := env.feedTotal(url.Values{"query": {"alma.isbn=" + isbn10}})
	_, q13 := env.feedTotal(url.Values{"query": {"alma.isbn=" + hyphenated}})
	if q10 != q13 {
		t.Errorf("alma.isbn as ISBN-10 is %s, as ISBN-13 %s: want one canonical query (one cache entry)", q10, q13)
	}
}

// TestKeywordOperators: AND, OR and NOT in capitals in q are operators
// (issue 22: "history AND science" searched the word "and"), quoted
// phrases stay phrases, and lower-case "and" is a word.
func TestKeywordOperators(t *testing.T) {
	env := newEnv(t, nil)
	total := func(q string) int {
		n, _ := env.feedTotal(url.Values{"q": {q}})
		return n
	}
	cqlTotal := func(q string) int {
		n, _ := env.feedTotal(url.Values{"query": {q}})
		return n
	}
	history, science := total("history"), total("science")
	if history == 0 || science == 0 {
		t.Fatalf("history %d, science %d: the test proves nothing", history, science)
	}
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"history AND science", total("history science")},
		{"history OR science", cqlTotal(`alma.all_for_ui=history or alma.all_for_ui=science`)},
		{"history NOT science", cqlTotal(`alma.all_for_ui=history not alma.all_for_ui=science`)},
		{`"history of" OR science`, cqlTotal(`alma.all_for_ui="history of" or alma.all_for_ui=science`)},
	} {
		if got := total(tc.q); got != tc.want {
			t.Errorf("q=%s: %d, want %d", tc.q, got, tc.want)
		}
	}
	if or := total("history OR science"); or <= max(history, science) && total("history AND science") == or {
		t.Errorf("OR (%d) and AND find the same; operators are words", or)
	}
	if got, and := total("history and science"), total("history AND science"); got > and {
		t.Errorf("lower-case and (%d) finds more than AND (%d); it must be a word", got, and)
	}
}

// TestFeedHoldersHaveNames (issue 22): the JSON feed names each holder as
// DAIA and the search page do (the configured member name), in a search,
// a merged search and a record's answer; null for an unconfigured code.
func TestFeedHoldersHaveNames(t *testing.T) {
	env := newEnv(t, nil)
	names := map[string]string{}
	for _, m := range env.sim.Members() {
		names[m.Code] = m.Name
	}
	type feed struct {
		Records []struct {
			MMSID    string `json:"mms_id"`
			Holdings []struct {
				Institution string  `json:"institution"`
				Name        *string `json:"name"`
			} `json:"holdings"`
		} `json:"records"`
	}
	checked := 0
	check := func(path string) {
		t.Helper()
		code, _, body := env.get(path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var f feed
		if strings.HasPrefix(path, "/v1/records/") {
			var one struct {
				MMSID    string `json:"mms_id"`
				Holdings []struct {
					Institution string  `json:"institution"`
					Name        *string `json:"name"`
				} `json:"holdings"`
			}
			if err := json.Unmarshal(body, &one); err != nil {
				t.Fatal(err)
			}
			f.Records = append(f.Records, one)
		} else if err := json.Unmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Records {
			for _, h := range r.Holdings {
				want, ok := names[h.Institution]
				switch {
				case ok && (h.Name == nil || *h.Name != want):
					t.Errorf("%s: record %s holder %s named %v, want %q", path, r.MMSID, h.Institution, h.Name, want)
				case !ok && h.Name != nil:
					t.Errorf("%s: unconfigured holder %s named %q", path, h.Institution, *h.Name)
				}
				checked++
			}
		}
	}
	check("/v1/search?q=history&limit=20")
	check("/v1/search?q=history&limit=20&targets=nz,01NET_INST,02NET_INST")
	id := env.sim.Records()[0].MMSID
	check("/v1/records/" + id)
	if checked == 0 {
		t.Fatal("no holdings checked; the test proves nothing")
	}
}
