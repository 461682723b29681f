package almasim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// writeCall sends one request with a body through the handler.
func writeCall(t *testing.T, s *Simulator, method, target, key, ctype, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "apikey "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// wsCode reads the error code of a web_service_result or an errorList.
func wsCode(body string) string {
	for _, open := range []string{"<errorCode>", `"errorCode":"`} {
		if i := strings.Index(body, open); i >= 0 {
			rest := body[i+len(open):]
			return rest[:strings.IndexAny(rest, `<"`)]
		}
	}
	return ""
}

func TestWriteAPIsAnswerLikeAlma(t *testing.T) {
	s := New(Config{Records: 300, Now: fixedNow})
	m, other := s.Members()[0], s.Members()[1]
	var free, held Record
	heldIZ := ""
	for _, r := range s.Records() {
		has := false
		for _, h := range r.Holdings {
			if h.Institution == m.Code {
				has = true
				if h.Has6 && heldIZ == "" {
					held, heldIZ = r, h.IZMMSID
				}
			}
		}
		if !has && free.MMSID == "" && len(r.Holdings) > 0 {
			free = r
		}
	}
	_, otherIZ := "", ""
	for _, r := range s.Records() {
		for _, h := range r.Holdings {
			if h.Institution == other.Code && h.Has6 && otherIZ == "" {
				otherIZ = h.IZMMSID
			}
		}
	}

	code, body := writeCall(t, s, "POST", "/almaws/v1/bibs?from_nz_mms_id="+free.MMSID, m.APIKey, "application/xml", "<bib/>")
	if code != 200 || !strings.Contains(body, `<linked_record_id type="NZ">`+free.MMSID+`</linked_record_id>`) {
		t.Fatalf("link = %d\n%s", code, body)
	}
	iz := body[strings.Index(body, "<mms_id>")+8 : strings.Index(body, "</mms_id>")]
	// The new record is in the member's IZ SRU by its 035 and its MMS ID,
	// and the NZ record shows the new holding.
	for _, q := range []string{`alma.other_system_number="(EXLNZ-01NET_NETWORK)` + free.MMSID + `"`, "alma.mms_id=" + iz} {
		ids, _ := s.SearchIn(m.Code, q)
		_, sruBody := writeCall(t, s, "GET", "/view/sru/"+m.Code+"?"+sruParams(q), "", "", "")
		if !strings.Contains(sruBody, "<recordIdentifier>"+iz+"</recordIdentifier>") {
			t.Errorf("IZ SRU %s does not find %s (index alone: %v)", q, iz, ids)
		}
	}
	_, nzBody := writeCall(t, s, "GET", "/view/sru/01NET_NETWORK?"+sruParams("alma.mms_id="+free.MMSID), "", "", "")
	if !strings.Contains(nzBody, iz) {
		t.Errorf("the NZ record does not name the new holding %s", iz)
	}

	for _, tc := range []struct {
		name, method, target, key, ctype, body string
		status                                 int
		code                                   string
	}{
		{"link again", "POST", "/almaws/v1/bibs?from_nz_mms_id=" + free.MMSID, m.APIKey, "application/xml", "<bib/>", 400, "401652"},
		{"link a held record", "POST", "/almaws/v1/bibs?from_nz_mms_id=" + held.MMSID, m.APIKey, "application/xml", "<bib/>", 400, "401652"},
		{"unknown NZ record", "POST", "/almaws/v1/bibs?from_nz_mms_id=991", m.APIKey, "application/xml", "<bib/>", 400, "33007"},
		{"not numeric", "POST", "/almaws/v1/bibs?from_nz_mms_id=99x", m.APIKey, "application/xml", "<bib/>", 400, "402204"},
		{"JSON", "POST", "/almaws/v1/bibs?from_nz_mms_id=" + free.MMSID, m.APIKey, "application/json", "{}", 400, "60105"},
		{"no key", "POST", "/almaws/v1/bibs?from_nz_mms_id=" + free.MMSID, "", "application/xml", "<bib/>", 400, "UNAUTHORIZED"},
		{"link with the NZ key", "POST", "/almaws/v1/bibs?from_nz_mms_id=" + free.MMSID, s.NZKey(), "application/xml", "<bib/>", 400, "40166452"},
		{"another member's record", "PUT", "/almaws/v1/bibs/" + otherIZ, m.APIKey, "application/xml", "<bib><record/></bib>", 400, "402203"},
		{"unparseable bib", "PUT", "/almaws/v1/bibs/" + heldIZ, m.APIKey, "application/xml", "<bib><record>", 400, "402278"},
		{"unlink with the NZ key", "POST", "/almaws/v1/bibs/" + free.MMSID + "?op=unlink_from_nz", s.NZKey(), "application/xml", "<bib/>", 400, "40166452"},
		{"PO line without type", "POST", "/almaws/v1/acq/po-lines", m.APIKey, "application/json", `{"owner":{"value":"MAIN"},"resource_metadata":{"mms_id":{"value":"` + heldIZ + `"}}}`, 400, "401664"},
		{"PO line on another's record", "POST", "/almaws/v1/acq/po-lines", m.APIKey, "application/json", `{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"},"resource_metadata":{"mms_id":{"value":"` + otherIZ + `"}}}`, 400, "401872"},
		{"request to oneself", "POST", "/almaws/v1/users/u1/resource-sharing-requests", m.APIKey, "application/json", `{"title":"x","partner":{"value":"` + m.Code + `"}}`, 400, "401889"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := writeCall(t, s, tc.method, tc.target, tc.key, tc.ctype, tc.body)
			if code != tc.status || wsCode(body) != tc.code {
				t.Errorf("= %d %s, want %d %s\n%s", code, wsCode(body), tc.status, tc.code, body)
			}
		})
	}

	// Local fields on a linked record: swap all, other payload fields ignored.
	put := `<bib><record><datafield tag="245" ind1="1" ind2="0"><subfield code="a">Ignored title</subfield></datafield>` +
		`<datafield tag="590" ind1=" " ind2=" "><subfield code="a">Kept note</subfield><subfield code="9">local</subfield></datafield></record></bib>`
	if code, body := writeCall(t, s, "PUT", "/almaws/v1/bibs/"+heldIZ, m.APIKey, "application/xml", put); code != 200 {
		t.Fatalf("PUT = %d\n%s", code, body)
	}
	rec, _ := s.Record(heldIZ)
	if x := string(rec.MARCXML); !strings.Contains(x, "Kept note") || strings.Contains(x, "Ignored title") {
		t.Errorf("after the PUT:\n%s", x)
	}
	// Unlink: the 035 goes, and so does the NZ record's holding.
	if code, body := writeCall(t, s, "POST", "/almaws/v1/bibs/"+heldIZ+"?op=unlink_from_nz", m.APIKey, "application/xml", "<bib/>"); code != 200 || strings.Contains(body, "EXLNZ") {
		t.Fatalf("unlink = %d\n%s", code, body)
	}
	if nz, _ := s.Record(held.MMSID); strings.Contains(string(nz.MARCXML), heldIZ) {
		t.Error("the NZ record still names the unlinked record")
	}
	if ids, _ := s.SearchIn(m.Code, `alma.other_system_number="(EXLNZ-01NET_NETWORK)`+held.MMSID+`"`); len(ids) == 1 {
		_, sruBody := writeCall(t, s, "GET", "/view/sru/"+m.Code+"?"+sruParams(`alma.other_system_number="(EXLNZ-01NET_NETWORK)`+held.MMSID+`"`), "", "", "")
		if strings.Contains(sruBody, heldIZ) {
			t.Error("the unlinked record is still found by its former 035")
		}
	}
	code, body = writeCall(t, s, "POST", "/almaws/v1/acq/po-lines", m.APIKey, "application/json", `{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"},"resource_metadata":{"mms_id":{"value":"`+heldIZ+`"}}}`)
	if code != 200 || !strings.Contains(body, `"number":"POL-`) {
		t.Errorf("PO line = %d %s", code, body)
	}
	code, body = writeCall(t, s, "POST", "/almaws/v1/users/u1/resource-sharing-requests", m.APIKey, "application/json", `{"title":"x","partner":{"value":"`+other.Code+`"}}`)
	if code != 200 || !strings.Contains(body, `"request_id":"`) {
		t.Errorf("RS request = %d %s", code, body)
	}
}

func TestWebhooksAreSigned(t *testing.T) {
	s := New(Config{Records: 100, Now: fixedNow})
	var mu sync.Mutex
	var events []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Exl-Signature") != Sign(body, "sekret") {
			http.Error(w, "bad signature", 401)
			return
		}
		var v map[string]any
		json.Unmarshal(body, &v)
		mu.Lock()
		events = append(events, v)
		mu.Unlock()
	}))
	defer srv.Close()
	s.SetWebhook(srv.URL, "sekret")
	m := s.Members()[0]
	var free Record
	for _, r := range s.Records() {
		held := false
		for _, h := range r.Holdings {
			held = held || h.Institution == m.Code
		}
		if !held {
			free = r
			break
		}
	}
	if code, body := writeCall(t, s, "POST", "/almaws/v1/bibs?from_nz_mms_id="+free.MMSID, m.APIKey, "application/xml", "<bib/>"); code != 200 {
		t.Fatalf("link = %d %s", code, body)
	}
	if !s.NotifyItemChange(free.MMSID) {
		t.Fatal("NotifyItemChange found no record")
	}
	s.WaitWebhooks()
	ok, failed := s.WebhooksSent()
	if ok != 3 || failed != 0 {
		t.Fatalf("delivered %d, failed %d; want 3, 0", ok, failed)
	}
	var got []string
	for _, e := range events {
		ev, _ := e["event"].(map[string]any)
		var id string
		if b, ok := e["bib"].(map[string]any); ok {
			id, _ = b["mms_id"].(string)
		}
		if it, ok := e["item"].(map[string]any); ok {
			bd, _ := it["bib_data"].(map[string]any)
			id, _ = bd["mms_id"].(string)
		}
		got = append(got, e["action"].(string)+" "+ev["value"].(string)+" "+strings.Repeat("nz", boolInt(id == free.MMSID)))
	}
	want := map[string]bool{"BIB BIB_CREATED ": true, "BIB BIB_UPDATED nz": true, "ITEM ITEM_UPDATED nz": true}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected event %q (all: %q)", g, got)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A PO line created is listed by Retrieve PO-Lines, by its record and by
// its number, to the creating institution only: the read a caller whose
// answer was lost looks in (issue 21 item 3).
func TestPOLinesAreListedAfterTheirCreation(t *testing.T) {
	s := New(Config{Records: 300, Now: fixedNow})
	m, other := s.Members()[0], s.Members()[1]
	iz := ""
	for _, r := range s.Records() {
		for _, h := range r.Holdings {
			if h.Institution == m.Code && h.Has6 && iz == "" {
				iz = h.IZMMSID
			}
		}
	}
	list := func(key, q string) (int, []string) {
		t.Helper()
		code, body := writeCall(t, s, "GET", "/almaws/v1/acq/po-lines?status=ALL_WITH_CLOSED&q="+q, key, "", "")
		var out struct {
			POLine []struct {
				Number string `json:"number"`
			} `json:"po_line"`
			Total int `json:"total_record_count"`
		}
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("list is not JSON: %v\n%s", err, body)
			}
		}
		nums := []string{}
		for _, pl := range out.POLine {
			nums = append(nums, pl.Number)
		}
		if len(nums) != out.Total {
			t.Errorf("total_record_count %d for %d lines", out.Total, len(nums))
		}
		return code, nums
	}
	if code, nums := list(m.APIKey, "mms_id~"+iz); code != 200 || len(nums) != 0 {
		t.Fatalf("before any order: %d %v", code, nums)
	}
	before := s.WritesDone()
	line := `{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"},"resource_metadata":{"mms_id":{"value":"` + iz + `"}}}`
	code, body := writeCall(t, s, "POST", "/almaws/v1/acq/po-lines", m.APIKey, "application/json", line)
	if code != 200 {
		t.Fatalf("create = %d\n%s", code, body)
	}
	var made struct {
		Number string `json:"number"`
	}
	json.Unmarshal([]byte(body), &made)
	if n := s.WritesDone() - before; n != 1 {
		t.Errorf("WritesDone grew by %d, want 1", n)
	}
	for _, q := range []string{"mms_id~" + iz, "number~" + made.Number} {
		if code, nums := list(m.APIKey, q); code != 200 || len(nums) != 1 || nums[0] != made.Number {
			t.Errorf("q=%s: %d %v, want [%s]", q, code, nums, made.Number)
		}
	}
	if _, nums := list(other.APIKey, "mms_id~"+iz); len(nums) != 0 {
		t.Errorf("another institution sees %v", nums)
	}
	if code, _ := list(m.APIKey, "title"); code != 400 {
		t.Errorf("q without a tilde = %d, want 400", code)
	}
}

// FaultLost does the write and withholds its answer; reads pass it by.
func TestFaultLostDoesTheWriteButNotTheAnswer(t *testing.T) {
	s := New(Config{Records: 300, Now: fixedNow})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	m := s.Members()[0]
	var free Record
	for _, r := range s.Records() {
		has := false
		for _, h := range r.Holdings {
			has = has || h.Institution == m.Code
		}
		if !has && len(r.Holdings) > 0 {
			free = r
			break
		}
	}
	s.SetFault(EndpointBibs, Fault{Kind: FaultLost, Times: 1})
	// A read is answered and leaves the fault for the write.
	if code, _ := writeCall(t, s, "GET", "/almaws/v1/bibs/"+free.MMSID, s.NZKey(), "", ""); code != 200 {
		t.Fatalf("read under FaultLost = %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/almaws/v1/bibs?from_nz_mms_id="+free.MMSID, strings.NewReader("<bib/>"))
	req.Header.Set("Authorization", "apikey "+m.APIKey)
	req.Header.Set("Content-Type", "application/xml")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// The write is logged, then done, then held.
	for s.WritesDone() == 0 {
		select {
		case err := <-errc:
			t.Fatalf("the write ended before its effect: %v", err)
		default:
			runtime.Gosched()
		}
	}
	cancel()
	if err := <-errc; err == nil {
		t.Error("the lost write was answered")
	}
	if n := s.WritesDone(); n != 1 {
		t.Errorf("WritesDone = %d, want 1", n)
	}
}
