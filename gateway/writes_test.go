package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/almasim"
)

// restCall is one REST call the simulator saw, as the tests compare it.
type restCall struct {
	Method, Path, Owner string
}

// restCalls returns the REST API calls (Bibs and the write APIs) the
// simulator received after the first n log entries, failing the test if any
// carried its key in the URL or no key in the header.
func (e *testEnv) restCalls(from int) []restCall {
	e.t.Helper()
	out := []restCall{}
	for _, r := range e.sim.Requests()[from:] {
		if r.Endpoint != almasim.EndpointBibs {
			continue
		}
		if r.KeyInURL || !r.KeyInHeader {
			e.t.Errorf("%s %s: key in URL %v, in header %v", r.Method, r.Path, r.KeyInURL, r.KeyInHeader)
		}
		out = append(out, restCall{r.Method, r.Path, r.KeyOwner})
	}
	return out
}

func (e *testEnv) logLen() int { return len(e.sim.Requests()) }

// send makes a request to the gateway with a body and header pairs.
func (e *testEnv) send(method, path, ctype, body string, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// noRedirects is a client that shows a 303 as it is.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// keyOf makes an Idempotency-Key of a test case's name.
func keyOf(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
}

// writeReply is a write's JSON answer (success and error fields).
type writeReply struct {
	Institution string  `json:"institution"`
	NZMMSID     *string `json:"nz_mms_id"`
	IZMMSID     string  `json:"iz_mms_id"`
	Linked      string  `json:"linked"`
	Unlinked    bool    `json:"unlinked"`
	LocalFields int     `json:"local_fields"`
	Lender      string  `json:"lender"`
	POLine      struct {
		Number string `json:"number"`
	} `json:"po_line"`
	Request struct {
		RequestID string `json:"request_id"`
		Partner   struct {
			Value string `json:"value"`
		} `json:"partner"`
	} `json:"request"`
	Diagnostics []JSONDiagnostic `json:"diagnostics"`
	Alma        *almaErrorJSON   `json:"alma"`
}

func decodeWrite(t *testing.T, body []byte) writeReply {
	t.Helper()
	var a writeReply
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	return a
}

// notHeldBy returns an NZ record (with holdings, so that its record answer
// is a normal one) that member code does not hold.
func notHeldBy(t *testing.T, sim *almasim.Simulator, code string, skip int) almasim.Record {
	t.Helper()
	for _, r := range sim.Records() {
		if len(r.Holdings) == 0 {
			continue
		}
		held := false
		for _, h := range r.Holdings {
			held = held || h.Institution == code
		}
		if !held {
			if skip == 0 {
				return r
			}
			skip--
		}
	}
	t.Fatalf("every record is held by %s", code)
	return almasim.Record{}
}

// heldBy returns an NZ record member code holds with a $6, and the
// member's IZ MMS ID.
func heldBy(t *testing.T, sim *almasim.Simulator, code string, skip int) (almasim.Record, string) {
	t.Helper()
	for _, r := range sim.Records() {
		for _, h := range r.Holdings {
			if h.Institution == code && h.Has6 {
				if skip == 0 {
					return r, h.IZMMSID
				}
				skip--
			}
		}
	}
	t.Fatalf("%s holds nothing", code)
	return almasim.Record{}, ""
}

func holdingsOf(t *testing.T, e *testEnv, nz string) map[string]string {
	t.Helper()
	code, _, body := e.get("/v1/records/" + nz)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/records/%s = %d\n%s", nz, code, body)
	}
	var rec struct {
		Holdings []struct {
			Institution string  `json:"institution"`
			IZMMSID     *string `json:"iz_mms_id"`
		} `json:"holdings"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range rec.Holdings {
		iz := ""
		if h.IZMMSID != nil {
			iz = *h.IZMMSID
		}
		out[h.Institution] = iz
	}
	return out
}

func TestLinkCreatesThenSeeOtherAndEvicts(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 0)
	if _, ok := holdingsOf(t, env, nz.MMSID)[m.Code]; ok {
		t.Fatalf("%s already shows %s", nz.MMSID, m.Code)
	}

	from := env.logLen()
	path := "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + nz.MMSID
	code, h, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "link-1")
	if code != http.StatusCreated {
		t.Fatalf("link = %d, want 201\n%s", code, body)
	}
	a := decodeWrite(t, body)
	if a.IZMMSID == "" || a.Linked != "created" || a.NZMMSID == nil || *a.NZMMSID != nz.MMSID {
		t.Fatalf("answer = %s", body)
	}
	if got, want := h.Get("Location"), "/v1/availability/"+a.IZMMSID+"?institution="+m.Code; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	want := []restCall{{"POST", "/almaws/v1/bibs", m.Code}}
	if d := cmp.Diff(want, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}
	if iz, ok := env.sim.Record(a.IZMMSID); !ok || iz.NZMMSID != nz.MMSID || iz.Institution != m.Code {
		t.Errorf("simulator's new record = %+v, %v", iz.MMSID, ok)
	}

	// The cached record answer was evicted: the next read shows the link.
	if got := holdingsOf(t, env, nz.MMSID)[m.Code]; got != a.IZMMSID {
		t.Errorf("after the link, holdings of %s name %q, want %q", m.Code, got, a.IZMMSID)
	}

	// A retry with the same key: the first answer, no Alma call at all.
	from = env.logLen()
	code2, h2, body2 := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "link-1")
	if code2 != code || string(body2) != string(body) || h2.Get("Idempotent-Replayed") != "true" || h2.Get("Location") != h.Get("Location") {
		t.Errorf("replay = %d %q %s, want the first answer", code2, h2.Get("Idempotent-Replayed"), body2)
	}
	if n := env.logLen() - from; n != 0 {
		t.Errorf("the replay made %d Alma calls", n)
	}

	// A new key: the link exists now, found through the member's SRU by the
	// NZ MMS ID in 035, before Alma is asked.
	from = env.logLen()
	code3, h3, body3 := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "link-2")
	if code3 != http.StatusSeeOther || h3.Get("Location") != h.Get("Location") {
		t.Errorf("second link = %d Location %q, want 303 %q\n%s", code3, h3.Get("Location"), h.Get("Location"), body3)
	}
	if calls := env.restCalls(from); len(calls) != 0 {
		t.Errorf("the 303 made REST calls %v", calls)
	}
}

func TestLinkExistingRecordIsSeeOther(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[1]
	nz, iz := heldBy(t, env.sim, m.Code, 0)
	from := env.logLen()
	code, h, body := env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "k")
	if code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303\n%s", code, body)
	}
	if got, want := h.Get("Location"), "/v1/availability/"+iz+"?institution="+m.Code; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if calls := env.restCalls(from); len(calls) != 0 {
		t.Errorf("REST calls %v, want none", calls)
	}
	// The Location is a real answer about the member's record.
	if code, _, body := env.get(h.Get("Location")); code != http.StatusOK {
		t.Errorf("GET Location = %d\n%s", code, body)
	}
}

// TestLinkWithoutMemberSRUIsSeeOtherFromTheNZRecord (issue 22): the NZ
// record's own 852 ($a the member, $6 its IZ MMS ID) names the member's
// record, so the gateway answers 303 with no write to Alma even when the
// member has no sru_url to look in.
func TestLinkWithoutMemberSRUIsSeeOtherFromTheNZRecord(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		for i := range c.Members {
			c.Members[i].SRUURL = ""
		}
	})
	m := env.sim.Members()[2]
	nz, iz := heldBy(t, env.sim, m.Code, 0)
	from := env.logLen()
	code, h, body := env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "k")
	if code != http.StatusSeeOther || h.Get("Location") != availabilityLocation(m.Code, iz) {
		t.Fatalf("status = %d Location %q, want 303 to %s\n%s", code, h.Get("Location"), availabilityLocation(m.Code, iz), body)
	}
	if calls := env.restCalls(from); len(calls) != 0 {
		t.Errorf("REST calls %v, want none", calls)
	}
}

// heldWithout6 returns an NZ record some member holds by an 852 without
// $6 (so that nothing names its IZ record) and that member's code.
func heldWithout6(t *testing.T, sim *almasim.Simulator) (almasim.Record, string) {
	t.Helper()
	for _, r := range sim.Records() {
		for _, h := range r.Holdings {
			if !h.Has6 {
				return r, h.Institution
			}
		}
	}
	t.Fatal("every member 852 carries $6")
	return almasim.Record{}, ""
}

// TestLinkConflictWithoutAnyWayToFindTheRecordIs409WithAlmasCode: when
// neither the NZ record's 852s nor a member SRU name the member's record,
// Alma's refusal of a second link is a 409 carrying Alma's own code and
// message, whichever code Alma used for it (issue 22: 401652 from the
// simulator, 402210 in Alma's documented lists).
func TestLinkConflictWithoutAnyWayToFindTheRecordIs409WithAlmasCode(t *testing.T) {
	for _, almaCode := range []string{"401652", "402210"} {
		t.Run(almaCode, func(t *testing.T) {
			var api string
			env := newEnv(t, func(c *Config) {
				for i := range c.Members {
					c.Members[i].SRUURL = ""
				}
				api = c.APIURL
				if almaCode == "401652" {
					return // the simulator's own refusal
				}
				target, _ := url.Parse(api)
				proxy := httputil.NewSingleHostReverseProxy(target)
				fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost && r.URL.Path == "/almaws/v1/bibs" {
						w.Header().Set("Content-Type", "application/xml")
						w.WriteHeader(http.StatusBadRequest)
						io.WriteString(w, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans"><errorsExist>true</errorsExist><errorList><error><errorCode>402210</errorCode><errorMessage>The bib record is already linked to a local record.</errorMessage></error></errorList></web_service_result>`)
						return
					}
					proxy.ServeHTTP(w, r)
				}))
				t.Cleanup(fake.Close)
				c.APIURL = fake.URL
			})
			nz, code := heldWithout6(t, env.sim)
			status, _, body := env.send(http.MethodPost, "/v1/institutions/"+code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "k")
			if status != http.StatusConflict {
				t.Fatalf("status = %d, want 409\n%s", status, body)
			}
			if a := decodeWrite(t, body); a.Alma == nil || a.Alma.Code != almaCode || a.Alma.Message == "" {
				t.Errorf("alma = %+v, want Alma's %s and its message", a.Alma, almaCode)
			}
		})
	}
}

func TestWriteErrorsKeepAlmasCodes(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	other := env.sim.Members()[1]
	_, otherIZ := heldBy(t, env.sim, other.Code, 0)
	_, ownIZ := heldBy(t, env.sim, m.Code, 0)
	base := "/v1/institutions/" + m.Code
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		almaCode                        string
	}{
		{"unknown NZ record", "POST", base + "/bibs?from_nz_mms_id=991111111111110101", "", "", http.StatusNotFound, "33007"},
		{"another member's record", "POST", base + "/bibs/" + otherIZ + "/unlink", "", "", http.StatusNotFound, "402203"},
		{"PO line without owner", "POST", base + "/po-lines", "application/json", `{"match":"iz","mms_id":"` + ownIZ + `","po_line":{"type":{"value":"PRINTED_BOOK_OT"}}}`, http.StatusBadRequest, "401664"},
		{"PO line on a record not the member's", "POST", base + "/po-lines", "application/json", `{"match":"iz","mms_id":"` + otherIZ + `","po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"}}}`, http.StatusBadRequest, "401872"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := env.logLen()
			code, _, body := env.send(tc.method, tc.path, tc.ctype, tc.body, "Idempotency-Key", "e-"+keyOf(tc.name))
			if code != tc.status {
				t.Fatalf("status = %d, want %d\n%s", code, tc.status, body)
			}
			a := decodeWrite(t, body)
			if a.Alma == nil || a.Alma.Code != tc.almaCode || a.Alma.Message == "" || len(a.Diagnostics) != 1 {
				t.Errorf("answer %s, want Alma's code %s and message", body, tc.almaCode)
			}
			for _, c := range env.restCalls(from) {
				if c.Owner != m.Code {
					t.Errorf("call %s %s used %q's key, want %s's", c.Method, c.Path, c.Owner, m.Code)
				}
			}
		})
	}
}

func localFieldsRecord(fields ...string) string {
	return `<record xmlns="http://www.loc.gov/MARC21/slim">` + strings.Join(fields, "") + `</record>`
}

func localField(tag, text string) string {
	return `<datafield tag="` + tag + `" ind1=" " ind2=" "><subfield code="a">` + text + `</subfield><subfield code="9">local</subfield></datafield>`
}

func TestLocalFieldsReplaceAndEvict(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz, iz := heldBy(t, env.sim, m.Code, 0)
	avail := "/v1/availability/" + iz + "?institution=" + m.Code
	if code, _, body := env.get(avail); code != http.StatusOK {
		t.Fatalf("availability = %d\n%s", code, body)
	}
	if _, h, _ := env.get(avail); h.Get("X-Cache") != "HIT" {
		t.Fatalf("availability not cached: X-Cache %q", h.Get("X-Cache"))
	}

	from := env.logLen()
	payload := localFieldsRecord(localField("590", "Gift of the Friends of the Library"), localField("950", "Staff &amp; friends"))
	code, _, body := env.send(http.MethodPut, "/v1/institutions/"+m.Code+"/bibs/"+iz+"/local-fields", "application/marcxml+xml", payload)
	if code != http.StatusOK {
		t.Fatalf("local fields = %d\n%s", code, body)
	}
	a := decodeWrite(t, body)
	if a.LocalFields != 2 || a.NZMMSID == nil || *a.NZMMSID != nz.MMSID {
		t.Errorf("answer = %s", body)
	}
	want := []restCall{{"GET", "/almaws/v1/bibs/" + iz, m.Code}, {"PUT", "/almaws/v1/bibs/" + iz, m.Code}}
	if d := cmp.Diff(want, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}
	rec, _ := env.sim.Record(iz)
	for _, s := range []string{"Gift of the Friends of the Library", "Staff &amp; friends", nz.Title[:min(len(nz.Title), 10)]} {
		if !strings.Contains(string(rec.MARCXML), s) {
			t.Errorf("the record after the write lacks %q:\n%s", s, rec.MARCXML)
		}
	}
	// Swap all: a second write replaces both fields.
	code, _, body = env.send(http.MethodPut, "/v1/institutions/"+m.Code+"/bibs/"+iz+"/local-fields", "application/xml", localFieldsRecord(localField("591", "Only this one")))
	if code != http.StatusOK {
		t.Fatalf("second write = %d\n%s", code, body)
	}
	rec, _ = env.sim.Record(iz)
	if x := string(rec.MARCXML); strings.Contains(x, "Gift of the Friends") || !strings.Contains(x, "Only this one") {
		t.Errorf("swap-all did not replace the local fields:\n%s", x)
	}
	// The cached availability of the record was evicted.
	if _, h, _ := env.get(avail); h.Get("X-Cache") != "MISS" {
		t.Errorf("availability after the write: X-Cache %q, want MISS", h.Get("X-Cache"))
	}
}

func TestLocalFieldsRefusedBeforeAlma(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Limits.MaxBodyBytes = 256 << 10 })
	m := env.sim.Members()[0]
	_, iz := heldBy(t, env.sim, m.Code, 0)
	path := "/v1/institutions/" + m.Code + "/bibs/" + iz + "/local-fields"
	enormous := localFieldsRecord(localField("590", strings.Repeat("x", 200<<10)))
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		details           string
	}{
		{"a field without $9 local", "application/marcxml+xml",
			localFieldsRecord(`<datafield tag="245" ind1="1" ind2="0"><subfield code="a">New title</subfield></datafield>`, localField("590", "ok"), `<datafield tag="500" ind1=" " ind2=" "><subfield code="a">x</subfield><subfield code="9">NZ</subfield></datafield>`),
			http.StatusBadRequest, "245 (field 1), 500 (field 3)"},
		{"a control field", "application/xml", localFieldsRecord(`<controlfield tag="001">1</controlfield>`), http.StatusBadRequest, "001 (field 1)"},
		{"a leader", "application/xml", localFieldsRecord(`<leader>00000nam a2200000 i 4500</leader>`), http.StatusBadRequest, "leader"},
		{"invalid MARCXML", "application/xml", `<record><datafield tag="590"><subfield code="a">x</datafield></record>`, http.StatusBadRequest, "not well-formed"},
		{"not a record", "application/xml", `<bib><title>x</title></bib>`, http.StatusBadRequest, "no MARC record"},
		{"two records", "application/xml", `<collection>` + localFieldsRecord() + localFieldsRecord() + `</collection>`, http.StatusBadRequest, "more than one record"},
		{"a bad tag", "application/xml", localFieldsRecord(`<datafield tag="59"><subfield code="9">local</subfield></datafield>`), http.StatusBadRequest, "tag"},
		{"JSON", "application/json", `{"fields":[]}`, http.StatusUnsupportedMediaType, "must be"},
		{"no content type", "", localFieldsRecord(localField("590", "x")), http.StatusUnsupportedMediaType, "must be"},
		{"enormous", "application/xml", enormous, http.StatusRequestEntityTooLarge, "larger than"},
		{"entity expansion", "application/xml", `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><record>` + localField("590", "&a;") + `</record>`, http.StatusBadRequest, "not well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := env.logLen()
			code, _, body := env.send(http.MethodPut, path, tc.ctype, tc.body)
			if code != tc.status {
				t.Fatalf("status = %d, want %d\n%.300s", code, tc.status, body)
			}
			a := decodeWrite(t, body)
			if len(a.Diagnostics) != 1 || !strings.Contains(a.Diagnostics[0].Details, tc.details) {
				t.Errorf("diagnostics %+v, want details naming %q", a.Diagnostics, tc.details)
			}
			if n := env.logLen() - from; n != 0 {
				t.Errorf("%d Alma calls, want none", n)
			}
		})
	}
}

func TestUnlinkThenTheNetworkForgetsTheHolding(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[3]
	nz, iz := heldBy(t, env.sim, m.Code, 1)
	if holdingsOf(t, env, nz.MMSID)[m.Code] != iz {
		t.Fatalf("%s does not show %s's holding", nz.MMSID, m.Code)
	}
	path := "/v1/institutions/" + m.Code + "/bibs/" + iz + "/unlink"
	from := env.logLen()
	if code, _, body := env.send(http.MethodPost, path, "", ""); code != http.StatusBadRequest || !strings.Contains(string(body), "Idempotency-Key") {
		t.Errorf("without a key: %d %s, want 400 naming the header", code, body)
	}
	if n := env.logLen() - from; n != 0 {
		t.Errorf("%d Alma calls without a key", n)
	}
	code, _, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "u1")
	if code != http.StatusOK {
		t.Fatalf("unlink = %d\n%s", code, body)
	}
	if a := decodeWrite(t, body); !a.Unlinked || a.NZMMSID == nil || *a.NZMMSID != nz.MMSID {
		t.Errorf("answer = %s", body)
	}
	want := []restCall{{"GET", "/almaws/v1/bibs/" + iz, m.Code}, {"POST", "/almaws/v1/bibs/" + iz, m.Code}}
	if d := cmp.Diff(want, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}
	if _, ok := holdingsOf(t, env, nz.MMSID)[m.Code]; ok {
		t.Errorf("after the unlink %s still shows %s", nz.MMSID, m.Code)
	}
	// Unlinking again with a new key: the record is no longer linked.
	if code, _, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "u2"); code != http.StatusConflict {
		t.Errorf("second unlink = %d, want 409\n%s", code, body)
	}
}

func TestPOLineMatchModes(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	_, iz := heldBy(t, env.sim, m.Code, 0)
	nz := notHeldBy(t, env.sim, m.Code, 1)
	path := "/v1/institutions/" + m.Code + "/po-lines"
	line := `"po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"},"vendor":{"value":"RIALTO"}}`

	from := env.logLen()
	code, _, body := env.send(http.MethodPost, path, "application/json", `{"match":"iz","mms_id":"`+iz+`",`+line+`}`, "Idempotency-Key", "po-1")
	if code != http.StatusCreated {
		t.Fatalf("po line = %d\n%s", code, body)
	}
	if a := decodeWrite(t, body); !strings.HasPrefix(a.POLine.Number, "POL-") || a.IZMMSID != iz {
		t.Errorf("answer = %s", body)
	}
	if d := cmp.Diff([]restCall{{"POST", "/almaws/v1/acq/po-lines", m.Code}}, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}

	// iz_and_nz on an NZ record the member does not hold: linked, then ordered.
	from = env.logLen()
	code, _, body = env.send(http.MethodPost, path, "application/json", `{"match":"iz_and_nz","mms_id":"`+nz.MMSID+`",`+line+`}`, "Idempotency-Key", "po-2")
	if code != http.StatusCreated {
		t.Fatalf("po line iz_and_nz = %d\n%s", code, body)
	}
	a := decodeWrite(t, body)
	if a.NZMMSID == nil || *a.NZMMSID != nz.MMSID || a.IZMMSID == "" || a.IZMMSID == nz.MMSID {
		t.Errorf("answer = %s", body)
	}
	want := []restCall{{"POST", "/almaws/v1/bibs", m.Code}, {"POST", "/almaws/v1/acq/po-lines", m.Code}}
	if d := cmp.Diff(want, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}

	for _, tc := range []struct{ name, body string }{
		{"unknown match mode", `{"match":"nz","mms_id":"` + iz + `",` + line + `}`},
		{"no match mode", `{"mms_id":"` + iz + `",` + line + `}`},
		{"bad mms_id", `{"match":"iz","mms_id":"12ab",` + line + `}`},
		{"no po_line", `{"match":"iz","mms_id":"` + iz + `"}`},
		{"unknown field", `{"match":"iz","mms_id":"` + iz + `","apikey":"x",` + line + `}`},
		{"not JSON", `match=iz`},
		{"two values", `{"match":"iz","mms_id":"` + iz + `",` + line + `}{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := env.logLen()
			code, _, body := env.send(http.MethodPost, path, "application/json", tc.body, "Idempotency-Key", "bad-"+keyOf(tc.name))
			if code != http.StatusBadRequest {
				t.Errorf("status = %d, want 400\n%s", code, body)
			}
			if n := env.logLen() - from; n != 0 {
				t.Errorf("%d Alma calls, want none", n)
			}
		})
	}
}

func TestResourceSharingRequestToAHoldingMember(t *testing.T) {
	env := newEnv(t, nil)
	borrower := env.sim.Members()[0]
	var nz almasim.Record
	lender := ""
	for _, r := range env.sim.Records() {
		if len(r.Holdings) == 0 || len(r.Holdings) > 3 {
			continue // someone must hold none
		}
		for _, h := range r.Holdings {
			if h.Institution != borrower.Code {
				nz, lender = r, h.Institution
			}
		}
		if lender != "" {
			break
		}
	}
	path := "/v1/institutions/" + borrower.Code + "/resource-sharing-requests"
	from := env.logLen()
	code, _, body := env.send(http.MethodPost, path, "application/json",
		`{"nz_mms_id":"`+nz.MMSID+`","lender":"`+lender+`","user_id":"patron 1","pickup_location":"MAIN"}`, "Idempotency-Key", "rs-1")
	if code != http.StatusCreated {
		t.Fatalf("request = %d\n%s", code, body)
	}
	a := decodeWrite(t, body)
	if a.Request.RequestID == "" || a.Request.Partner.Value != lender || a.Lender != lender {
		t.Errorf("answer = %s", body)
	}
	want := []restCall{{"POST", "/almaws/v1/users/patron%201/resource-sharing-requests", borrower.Code}}
	got := env.restCalls(from)
	for i := range got {
		got[i].Path = strings.ReplaceAll(got[i].Path, " ", "%20")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}

	// A lender that holds no copy, the borrower itself, an unknown member:
	// refused without a REST call.
	nobody := ""
	for _, m := range env.sim.Members() {
		held := m.Code == borrower.Code
		for _, h := range nz.Holdings {
			held = held || h.Institution == m.Code
		}
		if !held {
			nobody = m.Code
			break
		}
	}
	for _, tc := range []struct {
		name, lender string
		status       int
	}{
		{"lender without a copy", nobody, http.StatusConflict},
		{"the borrower itself", borrower.Code, http.StatusBadRequest},
		{"not a member", "99XX_INST", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.lender == "" {
				t.Fatal("no member without a copy")
			}
			from := env.logLen()
			code, _, body := env.send(http.MethodPost, path, "application/json",
				`{"nz_mms_id":"`+nz.MMSID+`","lender":"`+tc.lender+`","user_id":"p1"}`, "Idempotency-Key", "rs-"+keyOf(tc.name))
			if code != tc.status {
				t.Errorf("status = %d, want %d\n%s", code, tc.status, body)
			}
			if calls := env.restCalls(from); len(calls) != 0 {
				t.Errorf("REST calls %v, want none", calls)
			}
		})
	}
}

// withPrincipal is a test app: the write routes behind a middleware that
// authenticates p, standing in for the staff sign-in.
func withPrincipal(s *Server, p Principal) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: s.fiberError})
	app.Use(s.requestID)
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(principalKey, p)
		return c.Next()
	})
	app.Post("/v1/institutions/:code/bibs", s.handleWrite(s.writes.linkOp()))
	app.Put("/v1/institutions/:code/bibs/:iz_mms_id/local-fields", s.handleWrite(s.writes.localFieldsOp()))
	app.Post("/v1/institutions/:code/bibs/:iz_mms_id/unlink", s.handleWrite(s.writes.unlinkOp()))
	app.Post("/v1/institutions/:code/po-lines", s.handleWrite(s.writes.poLineOp()))
	app.Post("/v1/institutions/:code/resource-sharing-requests", s.handleWrite(s.writes.rsRequestOp()))
	return app
}

func appDo(t *testing.T, app *fiber.App, method, path, ctype, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestStaffOfAnotherInstitutionIs403WithNoAlmaCall(t *testing.T) {
	env := newEnv(t, nil)
	own, other := env.sim.Members()[0], env.sim.Members()[1]
	app := withPrincipal(env.gw, Principal{Name: "alice", Institution: own.Code})
	nz := notHeldBy(t, env.sim, other.Code, 0)
	_, otherIZ := heldBy(t, env.sim, other.Code, 0)
	for _, tc := range []struct{ name, method, path, ctype, body string }{
		{"link", "POST", "/v1/institutions/" + other.Code + "/bibs?from_nz_mms_id=" + nz.MMSID, "", ""},
		{"local fields", "PUT", "/v1/institutions/" + other.Code + "/bibs/" + otherIZ + "/local-fields", "application/xml", localFieldsRecord(localField("590", "x"))},
		{"unlink", "POST", "/v1/institutions/" + other.Code + "/bibs/" + otherIZ + "/unlink", "", ""},
		{"po line", "POST", "/v1/institutions/" + other.Code + "/po-lines", "application/json", `{"match":"iz","mms_id":"` + otherIZ + `","po_line":{}}`},
		{"rs request", "POST", "/v1/institutions/" + other.Code + "/resource-sharing-requests", "application/json", `{}`},
		{"bad payload still 403", "POST", "/v1/institutions/" + other.Code + "/po-lines", "text/plain", `junk`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := env.logLen()
			code, body := appDo(t, app, tc.method, tc.path, tc.ctype, tc.body, "Idempotency-Key", "k-"+keyOf(tc.name))
			if code != http.StatusForbidden || !strings.Contains(string(body), "alice may act for "+own.Code+" only") {
				t.Errorf("status = %d, want 403\n%s", code, body)
			}
			if n := env.logLen() - from; n != 0 {
				t.Errorf("%d Alma calls, want none", n)
			}
		})
	}
	// For its own institution the same staff member may act, with its
	// institution's key only.
	mine := notHeldBy(t, env.sim, own.Code, 0)
	from := env.logLen()
	code, body := appDo(t, app, "POST", "/v1/institutions/"+own.Code+"/bibs?from_nz_mms_id="+mine.MMSID, "", "", "Idempotency-Key", "mine")
	if code != http.StatusCreated {
		t.Fatalf("own institution: %d\n%s", code, body)
	}
	for _, c := range env.restCalls(from) {
		if c.Owner != own.Code {
			t.Errorf("%s %s used %q's key", c.Method, c.Path, c.Owner)
		}
	}
	if !strings.Contains(env.logs.String(), `"who":"alice"`) {
		t.Error("the audit log does not name alice")
	}
}

func TestAdminTokenActsForEveryInstitution(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.AdminToken = "s3cret-admin-token" })
	for i, m := range env.sim.Members()[:2] {
		nz := notHeldBy(t, env.sim, m.Code, 2)
		path := "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + nz.MMSID
		if code, _, _ := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "a"); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", m.Code, code)
		}
		code, _, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", fmt.Sprint("adm-", i), "Authorization", "Bearer s3cret-admin-token")
		if code != http.StatusCreated {
			t.Errorf("%s with the admin token: %d\n%s", m.Code, code, body)
		}
	}
	if strings.Contains(env.logs.String(), "s3cret-admin-token") {
		t.Error("the admin token is in the log")
	}
}

func TestConcurrentSameIdempotencyKeyMakesOneAlmaCall(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 3)
	path := "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + nz.MMSID
	// Alma takes a while, so that the copies overlap the first.
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.FaultSlow, Delay: 300 * time.Millisecond, Times: 1})
	from := env.logLen()
	const n = 16
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, _ = env.send(http.MethodPost, path, "", "", "Idempotency-Key", "same")
		}()
	}
	wg.Wait()
	created := 0
	for _, st := range statuses {
		switch st {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("status %d, want 201 (first or replayed) or 409 (in progress)", st)
		}
	}
	if created == 0 {
		t.Error("no request created the link")
	}
	if d := cmp.Diff([]restCall{{"POST", "/almaws/v1/bibs", m.Code}}, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}
	// Every later retry is the first answer; the same key for another
	// record is 422.
	if code, h, _ := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "same"); code != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry = %d replayed %q", code, h.Get("Idempotent-Replayed"))
	}
	other := notHeldBy(t, env.sim, m.Code, 4)
	from = env.logLen()
	if code, _, body := env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+other.MMSID, "", "", "Idempotency-Key", "same"); code != http.StatusUnprocessableEntity {
		t.Errorf("same key, other payload = %d, want 422\n%s", code, body)
	}
	if n := env.logLen() - from; n != 0 {
		t.Errorf("%d Alma calls for the reused key", n)
	}
	for _, bad := range []string{"with space", strings.Repeat("k", 300), "ünïcode"} {
		if code, _, _ := env.send(http.MethodPost, path, "", "", "Idempotency-Key", bad); code != http.StatusBadRequest {
			t.Errorf("key %.20q = %d, want 400", bad, code)
		}
	}
}

func TestWritesAreNeverRetried(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 5)
	path := "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + nz.MMSID
	// A reset connection is what the transport retries for a GET; a POST
	// must go once.
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.FaultReset, Times: 1})
	from := env.logLen()
	code, h, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "r1")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("status = %d Retry-After %q, want 503 with Retry-After\n%s", code, h.Get("Retry-After"), body)
	}
	if d := cmp.Diff([]restCall{{"POST", "/almaws/v1/bibs", m.Code}}, env.restCalls(from)); d != "" {
		t.Errorf("Alma calls (-want +got):\n%s", d)
	}
	// Alma never answered: the key is free for the client's own retry.
	if code, _, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "r1"); code != http.StatusCreated {
		t.Errorf("retry with the same key = %d, want 201\n%s", code, body)
	}
}

func TestAuditAndMetrics(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 0)
	env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "audit-1")
	env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "audit-1")
	var lines []map[string]any
	for _, l := range strings.Split(env.logs.String(), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(l), &v) == nil && v["msg"] == "audit" {
			lines = append(lines, v)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2", len(lines))
	}
	first := lines[0]
	for k, want := range map[string]any{"who": "admin", "institution": m.Code, "operation": "link", "outcome": "ok", "idempotency_key": "audit-1", "status": float64(201)} {
		if first[k] != want {
			t.Errorf("audit %s = %v, want %v", k, first[k], want)
		}
	}
	if recs, _ := first["records"].([]any); len(recs) != 2 || recs[0] != nz.MMSID {
		t.Errorf("audit records = %v", first["records"])
	}
	if lines[1]["outcome"] != "replayed" {
		t.Errorf("second line outcome %v, want replayed", lines[1]["outcome"])
	}
	logs := env.logs.String()
	for _, mm := range env.sim.Members() {
		if strings.Contains(logs, mm.APIKey) {
			t.Errorf("%s's API key is in the log", mm.Code)
		}
	}
	_, _, metrics := env.get("/metrics")
	for _, want := range []string{`gateway_writes_total{operation="link",outcome="ok"} 1`, `gateway_writes_total{operation="link",outcome="replayed"} 1`, "gateway_idempotent_replays_total 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestOpenAPIDescribesWriteAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 0)
	_, iz := heldBy(t, env.sim, m.Code, 0)
	_, iz2 := heldBy(t, env.sim, m.Code, 1)
	base := "/v1/institutions/" + m.Code
	for _, c := range []struct {
		name, method, path, ctype, body, schema string
		status                                  int
	}{
		{"link", "POST", base + "/bibs?from_nz_mms_id=" + nz.MMSID, "", "", "LinkResult", 201},
		{"link again", "POST", base + "/bibs?from_nz_mms_id=" + nz.MMSID, "", "", "LinkResult", 303},
		{"local fields", "PUT", base + "/bibs/" + iz + "/local-fields", "application/xml", localFieldsRecord(localField("590", "x")), "LocalFieldsResult", 200},
		{"unlink", "POST", base + "/bibs/" + iz2 + "/unlink", "", "", "UnlinkResult", 200},
		{"po line", "POST", base + "/po-lines", "application/json", `{"match":"iz","mms_id":"` + iz + `","po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"}}}`, "POLineResult", 201},
		{"alma refusal", "POST", base + "/bibs?from_nz_mms_id=991111111111110101", "", "", "WriteError", 404},
		{"gateway refusal", "POST", base + "/po-lines", "application/json", `{}`, "WriteError", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := env.send(c.method, c.path, c.ctype, c.body, "Idempotency-Key", "oa-"+keyOf(c.name))
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			if err := doc.Components.Schemas[c.schema].Value.VisitJSON(v); err != nil {
				t.Errorf("answer does not match %s: %v\n%s", c.schema, err, body)
			}
		})
	}
	for _, p := range []string{"/v1/institutions/{code}/bibs", "/v1/institutions/{code}/bibs/{iz_mms_id}/local-fields", "/v1/institutions/{code}/bibs/{iz_mms_id}/unlink", "/v1/institutions/{code}/po-lines", "/v1/institutions/{code}/resource-sharing-requests"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
}
