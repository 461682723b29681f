package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/almanet/gateway/almasim"
)

// daiaSchema compiles the vendored DAIA 1.0 JSON schema
// (testdata/daia/SOURCE.md).
func daiaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("testdata/daia/daia.schema.json")
	if err != nil {
		t.Fatalf("compiling the DAIA schema: %v", err)
	}
	return sch
}

func validateDAIA(t *testing.T, sch *jsonschema.Schema, body []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return sch.Validate(inst)
}

// The validator accepts the specification's examples and rejects its
// invalid ones, so a pass below means something.
func TestDAIASchemaSeparatesTheSpecExamples(t *testing.T) {
	sch := daiaSchema(t)
	for _, f := range []string{"example-response-1.json", "example-response-2.json", "example-response-3.json", "example-response-4.json"} {
		b, err := os.ReadFile("testdata/daia/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateDAIA(t, sch, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	f, err := os.Open("testdata/daia/invalid.ldjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		n++
		if err := validateDAIA(t, sch, sc.Bytes()); err == nil {
			t.Errorf("invalid example %s passed validation", sc.Text())
		}
	}
	if n == 0 {
		t.Fatal("no invalid examples read")
	}
}

type daiaAnswer struct {
	Document []struct {
		ID        string `json:"id"`
		Requested string `json:"requested"`
		Href      string `json:"href"`
		About     string `json:"about"`
		Item      []struct {
			Label      string `json:"label"`
			Department struct {
				Content string `json:"content"`
			} `json:"department"`
			Available []struct {
				Service string `json:"service"`
			} `json:"available"`
			Unavailable []struct {
				Service string `json:"service"`
			} `json:"unavailable"`
		} `json:"item"`
	} `json:"document"`
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// daiaRecords picks NZ records from the simulated network: one held with
// physical inventory, one with an ISBN.
func daiaRecords(t *testing.T, sim *almasim.Simulator) (held, withISBN almasim.Record) {
	t.Helper()
	for _, r := range sim.Records() {
		if r.Institution != sim.NetworkCode() {
			continue
		}
		if held.MMSID == "" && len(r.Holdings) > 2 && slices.ContainsFunc(r.Avail, func(a almasim.Availability) bool { return a.Kind == "AVA" && a.Status == "available" }) {
			held = r
		}
		if withISBN.MMSID == "" && len(r.ISBNs) > 0 && len(r.ISBNs[0]) == 13 && len(r.Holdings) > 0 {
			withISBN = r
		}
	}
	if held.MMSID == "" || withISBN.MMSID == "" {
		t.Fatal("the simulated network lacks a held record or one with an ISBN")
	}
	return held, withISBN
}

func hyphenate(isbn string) string {
	return isbn[:3] + "-" + isbn[3:4] + "-" + isbn[4:9] + "-" + isbn[9:12] + "-" + isbn[12:]
}

func TestDAIAAnswers(t *testing.T) {
	env := newEnv(t, nil)
	sch := daiaSchema(t)
	held, withISBN := daiaRecords(t, env.sim)
	unknown := "99000000000042"
	many := strings.TrimSuffix(strings.Repeat(held.MMSID+"|", maxDAIAIDs+1), "|")
	tests := []struct {
		name      string
		query     string
		status    int
		requested []string // the documents' requested identifiers, in order
	}{
		{"one MMS ID", "id=" + held.MMSID + "&format=json", 200, []string{held.MMSID}},
		{"no format means json", "id=" + held.MMSID, 200, []string{held.MMSID}},
		{"MMS ID, ISBN and an unknown one", "format=json&id=" + url.QueryEscape(held.MMSID+"|"+hyphenate(withISBN.ISBNs[0])+"|"+unknown), 200, []string{held.MMSID, hyphenate(withISBN.ISBNs[0])}},
		{"unescaped bars", "format=json&id=" + held.MMSID + "|urn:isbn:" + withISBN.ISBNs[0], 200, []string{held.MMSID, "urn:isbn:" + withISBN.ISBNs[0]}},
		{"only unknown IDs: no documents, never 404", "format=json&id=" + unknown + "|9780306406157", 200, nil},
		{"a repeated ID is answered once", "format=json&id=" + held.MMSID + "|" + held.MMSID, 200, []string{held.MMSID}},
		{"as one member", "format=json&institution=" + held.Holdings[0].Institution + "&id=" + held.MMSID, 200, []string{held.MMSID}},
		{"too many", "format=json&id=" + many, 400, nil},
		{"empty id", "format=json&id=", 400, nil},
		{"no id", "format=json", 400, nil},
		{"an empty identifier in the list is skipped", "format=json&id=" + held.MMSID + "||" + unknown, 200, []string{held.MMSID}},
		// Issue 22: what VuFind's DAIA driver sends. Its default prefix,
		// several IDs at once (multiQuery), one bad ID among good ones.
		{"VuFind's default prefix", "format=json&id=ppn:" + held.MMSID, 200, []string{"ppn:" + held.MMSID}},
		{"VuFind multiQuery", "format=json&id=" + url.QueryEscape("ppn:"+held.MMSID+"|ppn:"+withISBN.ISBNs[0]), 200, []string{"ppn:" + held.MMSID, "ppn:" + withISBN.ISBNs[0]}},
		{"one bad ID among good ones", "format=json&id=" + url.QueryEscape(held.MMSID+"|<script>|ppn:"+withISBN.ISBNs[0]), 200, []string{held.MMSID, "<script>", "ppn:" + withISBN.ISBNs[0]}},
		{"not an ID", "format=json&id=" + url.QueryEscape("<script>"), 400, nil},
		{"an ISBN with a wrong check digit", "format=json&id=9780306406158", 400, nil},
		{"a huge identifier", "format=json&id=" + strings.Repeat("9", 5000), 400, nil},
		{"format xml", "format=xml&id=" + held.MMSID, 400, nil},
		{"an unknown member", "format=json&institution=NOPE&id=" + held.MMSID, 400, nil},
		{"id twice", "id=" + held.MMSID + "&id=" + held.MMSID, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := env.get("/v1/daia?" + tt.query)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			if got := h.Get("X-DAIA-Version"); got != "1.0.0" {
				t.Errorf("X-DAIA-Version %q, want 1.0.0", got)
			}
			if got := h.Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			var got daiaAnswer
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if code != 200 {
				var diags struct {
					Diagnostics []JSONDiagnostic `json:"diagnostics"`
				}
				mustUnmarshal(t, body, &diags)
				if got.Error != "invalid_request" || got.Code != code || len(diags.Diagnostics) != 1 {
					t.Errorf("error %q code %d with %d diagnostics, want invalid_request %d and one: %s", got.Error, got.Code, len(diags.Diagnostics), code, body)
				}
				return
			}
			if err := validateDAIA(t, sch, body); err != nil {
				t.Errorf("not valid DAIA: %v\n%s", err, body)
			}
			var req []string
			for _, d := range got.Document {
				req = append(req, d.Requested)
			}
			req = slices.Compact(req) // an ISBN may match several records
			if d := cmp.Diff(tt.requested, req); d != "" {
				t.Errorf("requested (-want +got):\n%s", d)
			}
		})
	}
}

// daiaItem is what a test compares of one item.
type daiaItem struct {
	Member, Label          string
	Available, Unavailable string
}

// TestDAIAServicesFollowAlma compares the items of a record with the
// simulator's AVA fields: an available copy offers presentation and loan at
// home and interloan to other members; a lent-out copy offers none now.
func TestDAIAServicesFollowAlma(t *testing.T) {
	env := newEnv(t, nil)
	held, _ := daiaRecords(t, env.sim)
	name := map[string]string{}
	for _, m := range env.sim.Members() {
		name[m.Code] = m.Name + " (" + m.Code + ")"
	}
	asking := held.Holdings[0].Institution
	for _, who := range []string{"", asking} {
		var want []daiaItem
		for _, a := range held.Avail {
			if a.Kind != "AVA" {
				continue
			}
			services := "presentation loan interloan"
			if who != "" && a.Institution != who {
				services = "interloan"
			} else if who != "" {
				services = "presentation loan"
			}
			it := daiaItem{Member: name[a.Institution], Label: a.CallNumber}
			switch {
			case a.Status == "check_holdings":
			case a.Total > a.Unavailable:
				it.Available = services
			default:
				it.Unavailable = services
			}
			want = append(want, it)
		}
		q := "/v1/daia?format=json&id=" + held.MMSID
		if who != "" {
			q += "&institution=" + who
		}
		code, _, body := env.get(q)
		if code != 200 {
			t.Fatalf("%s: status %d: %s", q, code, body)
		}
		var got daiaAnswer
		if err := json.Unmarshal(body, &got); err != nil || len(got.Document) != 1 {
			t.Fatalf("%s: %v, %d documents: %s", q, err, len(got.Document), body)
		}
		var items []daiaItem
		for _, it := range got.Document[0].Item {
			if it.Label == "" {
				continue // electronic, digital, or a holding without inventory
			}
			var av, un []string
			for _, s := range it.Available {
				av = append(av, s.Service)
			}
			for _, s := range it.Unavailable {
				un = append(un, s.Service)
			}
			items = append(items, daiaItem{Member: it.Department.Content, Label: it.Label, Available: strings.Join(av, " "), Unavailable: strings.Join(un, " ")})
		}
		if d := cmp.Diff(want, items); d != "" {
			t.Errorf("asking %q: items (-want +got):\n%s", who, d)
		}
	}
}

func TestDAIAWhileAlmaIsDown(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Cache.RecordTTL = Duration(time.Minute)
		c.Cache.AvailabilityTTL = Duration(time.Minute)
		c.Cache.Stale = Duration(time.Hour)
		c.Cache.AvailabilityStale = Duration(time.Hour)
	})
	sch := daiaSchema(t)
	held, withISBN := daiaRecords(t, env.sim)
	code, _, fresh := env.get("/v1/daia?format=json&id=" + held.MMSID)
	if code != 200 {
		t.Fatalf("status %d: %s", code, fresh)
	}
	env.now.Advance(2 * time.Minute)
	env.sim.SetFault(almasim.EndpointAll, almasim.Fault{Kind: almasim.Fault500})

	// Cached: the stale answer, still valid DAIA, said to be stale.
	code, h, stale := env.get("/v1/daia?format=json&id=" + held.MMSID)
	if code != 200 || h.Get("X-Cache") != "STALE" {
		t.Fatalf("cached while down: status %d X-Cache %q, want 200 STALE: %s", code, h.Get("X-Cache"), stale)
	}
	if err := validateDAIA(t, sch, stale); err != nil {
		t.Errorf("stale answer not valid DAIA: %v", err)
	}
	var a, b daiaAnswer
	mustUnmarshal(t, fresh, &a)
	mustUnmarshal(t, stale, &b)
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("stale answer differs from the fresh one:\n%s", d)
	}

	// Not cached: 503 with Retry-After and DAIA's error name, never a
	// document left out (that would say "not held").
	code, h, body := env.get("/v1/daia?format=json&id=" + held.MMSID + "|" + withISBN.MMSID)
	var e daiaAnswer
	mustUnmarshal(t, body, &e)
	if code != 503 || h.Get("Retry-After") == "" || e.Error != "service_unavailable" || e.Code != 503 {
		t.Errorf("uncached while down: status %d Retry-After %q error %q code %d, want 503 with Retry-After, service_unavailable: %s", code, h.Get("Retry-After"), e.Error, e.Code, body)
	}
}

// When only the Bibs API fails, the record's holdings are still known:
// one item per holding member, without services (DAIA: unknown).
func TestDAIAWithoutLiveAvailability(t *testing.T) {
	env := newEnv(t, nil)
	sch := daiaSchema(t)
	held, _ := daiaRecords(t, env.sim)
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.Fault500})
	code, h, body := env.get("/v1/daia?format=json&id=" + held.MMSID)
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	if err := validateDAIA(t, sch, body); err != nil {
		t.Errorf("not valid DAIA: %v", err)
	}
	var got daiaAnswer
	mustUnmarshal(t, body, &got)
	var members []string
	for _, it := range got.Document[0].Item {
		if len(it.Available)+len(it.Unavailable) > 0 {
			t.Errorf("an item claims services without live availability: %+v", it)
		}
		members = append(members, it.Department.Content)
	}
	if len(members) != len(held.Holdings) {
		t.Errorf("%d items, want one per holding member (%d)", len(members), len(held.Holdings))
	}
	if !strings.Contains(h.Get("Cache-Control"), "max-age=") {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
}

func TestDAIAConditionalAndCORS(t *testing.T) {
	env := newEnv(t, nil)
	held, _ := daiaRecords(t, env.sim)
	path := "/v1/daia?format=json&id=" + held.MMSID
	code, h, _ := env.get(path, "Origin", "https://opac.example.org")
	if code != 200 || h.Get("ETag") == "" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("status %d ETag %q ACAO %q", code, h.Get("ETag"), h.Get("Access-Control-Allow-Origin"))
	}
	if code, _, _ := env.get(path, "If-None-Match", h.Get("ETag")); code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", code)
	}
	req, _ := http.NewRequest(http.MethodOptions, env.base+path, nil)
	req.Header.Set("Origin", "https://opac.example.org")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "Content-Type")
	code, h, _ = env.do(req)
	if code != http.StatusNoContent || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: status %d Allow-Headers %q, want 204 with Content-Type", code, h.Get("Access-Control-Allow-Headers"))
	}
}

// The DAIA answers match what openapi.json declares for /v1/daia.
func TestDAIAMatchesOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	env := newEnv(t, nil)
	held, _ := daiaRecords(t, env.sim)
	for _, c := range []struct {
		path, schema string
		status       int
	}{
		{"/v1/daia?format=json&id=" + held.MMSID, "DAIAResponse", 200},
		{"/v1/daia?format=json&id=nonsense", "DAIAError", 400},
	} {
		code, _, body := env.get(c.path)
		if code != c.status {
			t.Fatalf("%s: status %d, want %d", c.path, code, c.status)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if err := doc.Components.Schemas[c.schema].Value.VisitJSON(v); err != nil {
			t.Errorf("%s does not match %s: %v", c.path, c.schema, err)
		}
	}
	if doc.Paths.Find("/v1/daia") == nil {
		t.Error("openapi.json has no /v1/daia")
	}
}

// TestDAIAForVuFind is DAIA as VuFind's driver reads it (issue 22): it
// sends daiaIdPrefix + its record id and looks for the document whose id
// is exactly that; a member's own MMS ID is that member's copy of a
// network record; a bad identifier spoils only its own document.
func TestDAIAForVuFind(t *testing.T) {
	env := newEnv(t, nil)
	sch := daiaSchema(t)
	held, withISBN := daiaRecords(t, env.sim)
	var iz, member string
	for _, h := range held.Holdings {
		if h.Has6 && h.IZMMSID != "" {
			iz, member = h.IZMMSID, h.Institution
			break
		}
	}
	if iz == "" {
		t.Fatal("the held record has no member 852 with $6")
	}
	ask := func(q string) daiaAnswer {
		t.Helper()
		code, _, body := env.get("/v1/daia?format=json&" + q)
		if code != 200 {
			t.Fatalf("%s: status %d: %s", q, code, body)
		}
		if err := validateDAIA(t, sch, body); err != nil {
			t.Errorf("%s: not valid DAIA: %v\n%s", q, err, body)
		}
		var got daiaAnswer
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	ids := func(a daiaAnswer) (out []string) {
		for _, d := range a.Document {
			out = append(out, d.ID)
		}
		return out
	}

	// multiQuery: every document carries the id VuFind asked for.
	got := ask("id=" + url.QueryEscape("ppn:"+held.MMSID+"|ppn:"+withISBN.ISBNs[0]))
	if d := cmp.Diff([]string{"ppn:" + held.MMSID, "ppn:" + withISBN.ISBNs[0]}, ids(got)[:min(2, len(ids(got)))]); d != "" {
		t.Errorf("document ids (-want +got):\n%s", d)
	}
	// A bare MMS ID is no URI: its document is named by the record's URL,
	// and that URL, sent back, names the same record.
	got = ask("id=" + held.MMSID)
	if len(got.Document) != 1 || !strings.HasSuffix(got.Document[0].ID, "/v1/records/"+held.MMSID) {
		t.Fatalf("a bare MMS ID: documents %v", ids(got))
	}
	back := ask("id=" + url.QueryEscape(got.Document[0].ID))
	if len(back.Document) != 1 || back.Document[0].ID != got.Document[0].ID || len(back.Document[0].Item) != len(got.Document[0].Item) {
		t.Errorf("the document URL sent back: %v, want the same document", ids(back))
	}

	// A member's own MMS ID: the network record it is linked to, with the
	// same items as the network MMS ID gives.
	for _, q := range []string{"id=ppn:" + iz, "institution=" + member + "&id=" + iz} {
		m := ask(q)
		if len(m.Document) != 1 || !strings.HasSuffix(m.Document[0].Href, "#record/"+held.MMSID) || len(m.Document[0].Item) == 0 {
			t.Errorf("%s (member %s's MMS ID of %s): %+v", q, member, held.MMSID, m.Document)
		}
	}

	// One bad identifier: its own document says why; the others answer.
	got = ask("id=" + url.QueryEscape("ppn:"+held.MMSID+"|ppn:978-0-306-40615-8|99000000000042"))
	if len(got.Document) != 2 || got.Document[0].ID != "ppn:"+held.MMSID || len(got.Document[0].Item) == 0 {
		t.Fatalf("with one bad ID: %+v", got.Document)
	}
	if bad := got.Document[1]; bad.ID != "ppn:978-0-306-40615-8" || len(bad.Item) != 0 || !strings.Contains(bad.About, "wrong check digit") {
		t.Errorf("the bad ID's document: %+v", bad)
	}
}

// mustUnmarshal decodes a JSON answer the test goes on to read; an answer
// that is not JSON (or not of v's shape) fails the test there, instead of
// leaving v empty for the checks that follow.
func mustUnmarshal(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("not JSON of the expected shape (%v): %s", err, body)
	}
}
