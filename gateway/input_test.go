package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/almanet/gateway/almasim"
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
