package almasim

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The format tests hold the simulator's answers to the real Alma payloads in
// ../testdata/alma (copied from shared/alma-samples, sources in its SOURCES.md),
// element by element.

func TestSearchRetrieveMatchesSingleRecordSample(t *testing.T) {
	s := shared(t, 300)
	id := s.Records()[0].MMSID
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.mms_id="+id))
	want := sample(t, "slsp_nz_sru_mms_id_single_record_852.xml")

	if diff := cmp.Diff(shape(t, want, "recordData"), shape(t, body, "recordData")); diff != "" {
		t.Errorf("envelope differs from the SLSP sample (-sample +sim):\n%s", diff)
	}
	const decl = `<?xml version="1.0" encoding="UTF-8" standalone="no"?><searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/">`
	if !bytes.HasPrefix(body, []byte(decl)) || !bytes.HasPrefix(want, []byte(decl)) {
		t.Errorf("answer starts %.120q, want %q", body, decl)
	}
	if got := firstTag(t, body, "recordIdentifier"); got != id {
		t.Errorf("recordIdentifier %q, want %q", got, id)
	}
	if bytes.Contains(body, []byte("nextRecordPosition")) {
		t.Error("nextRecordPosition on a complete answer")
	}
	for _, frag := range []string{
		`<extraResponseData xmlns:xb="http://www.exlibris.com/repository/search/xmlbeans/">`,
		`<xb:exact>true</xb:exact>`,
		`<xb:responseDate>2026-11-26T10:00:00+0100</xb:responseDate>`,
	} {
		if !bytes.Contains(body, []byte(frag)) {
			t.Errorf("answer lacks %s", frag)
		}
		if !bytes.Contains(want, []byte(strings.Split(frag, ">")[0])) {
			t.Errorf("sample lacks %s", frag)
		}
	}
}

func TestSearchRetrievePageMatchesTenOfTwentySample(t *testing.T) {
	s := shared(t, 300)
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.title=history"))
	want := sample(t, "slsp_nz_sru_searchRetrieve_20records_852.xml")
	if diff := cmp.Diff(shape(t, want, "recordData"), shape(t, body, "recordData")); diff != "" {
		t.Errorf("envelope differs from the SLSP 10-of-20 sample (-sample +sim):\n%s", diff)
	}
	if got := firstTag(t, body, "nextRecordPosition"); got != "11" {
		t.Errorf("nextRecordPosition %q, want 11", got)
	}
	// recordIdentifier comes after recordData, and recordPosition last.
	re := regexp.MustCompile(`(?s)</recordData>\s*<recordIdentifier>\d+</recordIdentifier>\s*<recordPosition>\d+</recordPosition>\s*</record>`)
	if n := len(re.FindAll(body, -1)); n != 10 {
		t.Errorf("%d records end recordData, recordIdentifier, recordPosition; want 10", n)
	}
	if n := len(re.FindAll(want, -1)); n != 10 {
		t.Errorf("sample: %d records match the pattern", n)
	}
}

func TestZeroHitsMatchSample(t *testing.T) {
	s := shared(t, 300)
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.title=qqqnothing"))
	want := sample(t, "princeton_iz_sru_zero_hits.xml")
	if diff := cmp.Diff(shape(t, want, ""), shape(t, body, "")); diff != "" {
		t.Errorf("zero-hit answer differs from the sample (-sample +sim):\n%s", diff)
	}
	if !bytes.Contains(body, []byte("<records/>")) || !bytes.Contains(want, []byte("<records/>")) {
		t.Errorf("zero hits must be written <records/>:\n%s", body)
	}
	if got := firstTag(t, body, "numberOfRecords"); got != "0" {
		t.Errorf("numberOfRecords %q", got)
	}
}

func TestMissingVersionIsTheBareNumberDiagnostic(t *testing.T) {
	s := shared(t, 300)
	for _, q := range []string{"operation=explain", "operation=searchRetrieve&query=alma.title%3Dhistory", ""} {
		res, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+q)
		if res.StatusCode != 200 {
			t.Errorf("%q: status %d, want 200", q, res.StatusCode)
		}
		want := sample(t, "alma_sru_diagnostic_missing_version_200832.xml")
		if !bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(want)) {
			t.Errorf("%q: answer differs from the sample:\n%s\nwant:\n%s", q, body, want)
		}
	}
}

func TestDiagnosticsShape(t *testing.T) {
	s := shared(t, 300)
	want := shape(t, sample(t, "alma_sru_diagnostic_missing_version_200832.xml"), "")
	res, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.nosuch=x"))
	if res.StatusCode != 200 {
		t.Errorf("status %d, want 200", res.StatusCode)
	}
	if diff := cmp.Diff(want, shape(t, body, "")); diff != "" {
		t.Errorf("diagnostic differs from the sample (-sample +sim):\n%s", diff)
	}
	for _, frag := range []string{`xmlns:diag="http://www.loc.gov/zing/srw/diagnostic/"`,
		"<diag:uri>info:srw/diagnostic/1/16</diag:uri>", "<diag:details>alma.nosuch</diag:details>", "<diag:message>Unsupported index</diag:message>"} {
		if !bytes.Contains(body, []byte(frag)) {
			t.Errorf("diagnostic lacks %s:\n%s", frag, body)
		}
	}
}

// distinct lists the distinct element paths of a document.
func distinct(t testing.TB, b []byte) []string {
	seen := map[string]bool{}
	var stack []string
	for _, line := range shape(t, b, "") {
		depth := len(line) - len(strings.TrimLeft(line, " "))
		stack = append(stack[:depth-1], strings.TrimSpace(line))
		seen[strings.Join(stack, "/")] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

func TestExplainMatchesSampleStructure(t *testing.T) {
	s := shared(t, 300)
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?version=1.2&operation=explain")
	want := sample(t, "alma_explain_response_TR_INTEGRATION_INST.xml")
	if diff := cmp.Diff(distinct(t, want), distinct(t, body)); diff != "" {
		t.Errorf("explain paths differ from the sample (-sample +sim):\n%s", diff)
	}
	if !bytes.HasPrefix(body, want[:bytes.Index(want, []byte("\n"))]) {
		t.Errorf("explain starts %.120q", body)
	}
	for _, frag := range []string{
		`<ns:default type="numberOfRecords">10</ns:default>`, `<ns:setting type="maximumRecords">50</ns:setting>`,
		`<ns:database>` + s.NetworkCode() + `</ns:database>`, `<ns:host>example.com</ns:host>`,
		`<index sort="true">`, `<name set="alma">title</name>`, `<name set="alma">all_for_ui</name>`,
		`<name set="alma">creator</name>`, `<name set="alma">isbn</name>`, `<name set="alma">issn</name>`,
		`<name set="alma">mms_id</name>`, `<name set="alma">main_pub_date</name>`,
		`<supports type="relation">&lt;&gt;</supports>`,
	} {
		if !bytes.Contains(body, []byte(frag)) {
			t.Errorf("explain lacks %s", frag)
		}
	}
	if n := bytes.Count(body, []byte(`<index sort="true">`)); n != 3 {
		t.Errorf("%d sortable indexes, want 3 (title, creator, main_pub_date)", n)
	}
	// No operation and no query is an explain too.
	_, plain := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?version=1.2")
	if !bytes.Equal(plain, body) {
		t.Error("a request without operation is not answered with explain")
	}
}

func TestMARCRecordLayoutMatchesSample(t *testing.T) {
	s := shared(t, 300)
	rec := s.Records()[0]
	want := sample(t, "slsp_nz_sru_mms_id_single_record_852.xml")
	// Attribute order and element forms as Alma writes them.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`<datafield ind1="." ind2="." tag="\d{3}">`),
		regexp.MustCompile(`<controlfield tag="00\d">`),
		regexp.MustCompile(`<datafield ind1="0" ind2="1" tag="852">\s*<subfield code="a">[^<]+</subfield>\s*<subfield code="6">\d+</subfield>\s*<subfield code="9">P</subfield>`),
		regexp.MustCompile(`<record xmlns="http://www.loc.gov/MARC21/slim">\s*<leader>[^<]{24}</leader>\s*<controlfield tag="001">`),
	} {
		if !re.Match(want) {
			t.Fatalf("sample does not match %s", re)
		}
		if !re.Match(rec.MARCXML) {
			t.Errorf("record does not match %s:\n%s", re, rec.MARCXML)
		}
	}
	if bytes.Contains(rec.MARCXML, []byte("ind1=\"0\" ind2=\"1\" tag=\"852\"><")) {
		t.Error("852 written on one line")
	}
}

func TestBibsErrorsMatchSamples(t *testing.T) {
	s := shared(t, 300)
	h := s.Handler()
	res, body := do(t, h, "GET", "/almaws/v1/bibs/1234", "Authorization", "apikey "+s.NZKey())
	if res.StatusCode != 400 {
		t.Errorf("402203: status %d, want 400", res.StatusCode)
	}
	want := sample(t, "princeton_bibs_api_error_402203_xml.xml")
	if diff := cmp.Diff(shape(t, want, ""), shape(t, body, "")); diff != "" {
		t.Errorf("web_service_result differs (-sample +sim):\n%s", diff)
	}
	if got := firstTag(t, body, "errorMessage"); got != "Input parameters mmsId 1234 is not valid." {
		t.Errorf("message %q", got)
	}
	if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`)) {
		t.Errorf("no standalone=yes declaration: %.80s", body)
	}

	res, body = do(t, h, "GET", "/almaws/v1/bibs/banana?format=json", "Authorization", "apikey "+s.NZKey())
	if res.StatusCode != 400 {
		t.Errorf("402204: status %d", res.StatusCode)
	}
	var got, ref map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sample(t, "princeton_bibs_api_error_402204_json.json"), &ref); err != nil {
		t.Fatal(err)
	}
	norm := func(m map[string]any) map[string]any {
		m["errorList"].(map[string]any)["error"].([]any)[0].(map[string]any)["trackingId"] = "T"
		return m
	}
	ref = norm(ref)
	ref["errorList"].(map[string]any)["error"].([]any)[0].(map[string]any)["errorMessage"] = "Input parameters mmsId banana is not numeric."
	if diff := cmp.Diff(ref, norm(got)); diff != "" {
		t.Errorf("errorList JSON differs (-sample +sim):\n%s", diff)
	}
}

func TestBibsJSONMatchesAniesSample(t *testing.T) {
	s := shared(t, 300)
	var ref struct {
		Bib []map[string]any `json:"bib"`
	}
	if err := json.Unmarshal(sample(t, "princeton_bibs_api_json_anies_AVA_unavailable.json"), &ref); err != nil {
		t.Fatal(err)
	}
	m := s.Members()[0]
	var iz Record
	for _, r := range s.Records() {
		for _, h := range r.Holdings {
			if h.Institution == m.Code && h.Types[0] == "P" {
				iz, _ = s.Record(h.IZMMSID)
			}
		}
	}
	res, body := do(t, s.Handler(), "GET", "/almaws/v1/bibs/"+iz.MMSID+"?expand=p_avail,e_avail,d_avail", "Authorization", "apikey "+m.APIKey, "Accept", "application/json")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(ref.Bib[0])), slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("bib JSON keys differ (-sample +sim):\n%s", diff)
	}
	anies := got["anies"].([]any)[0].(string)
	prefix := `<?xml version="1.0" encoding="UTF-16"?><record>`
	if !strings.HasPrefix(anies, prefix) || !strings.HasPrefix(ref.Bib[0]["anies"].([]any)[0].(string), prefix) {
		t.Errorf("anies starts %.80q, want %q", anies, prefix)
	}
	if !strings.Contains(anies, `<datafield ind1=" " ind2=" " tag="AVA"><subfield code="0">`+iz.MMSID) {
		t.Errorf("anies lacks a compact AVA field for %s:\n%s", iz.MMSID, anies)
	}
	if bytes.Contains(body, []byte(`\u003c`)) {
		t.Error("JSON escapes < as \\u003c; Alma does not")
	}
}

func TestIZRecordMatchesAVESampleLayout(t *testing.T) {
	s := shared(t, 300)
	var iz Record
	for _, r := range s.Records() {
		for _, h := range r.Holdings {
			if slices.Equal(h.Types, []string{"E"}) {
				iz, _ = s.Record(h.IZMMSID)
			}
		}
	}
	if iz.MMSID == "" {
		t.Fatal("no electronic-only holding in the network")
	}
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+iz.Institution+"?"+sruParams("alma.mms_id="+iz.MMSID))
	want := sample(t, "princeton_iz_sru_AVE.xml")
	if diff := cmp.Diff(shape(t, want, "recordData"), shape(t, body, "recordData")); diff != "" {
		t.Errorf("IZ envelope differs (-sample +sim):\n%s", diff)
	}
	var ave []marcField
	for _, f := range datafields(t, body) {
		if f.Tag == "AVE" {
			ave = append(ave, f)
		}
	}
	if len(ave) != 1 {
		t.Fatalf("%d AVE fields, want 1", len(ave))
	}
	for _, code := range []string{"8", "c", "e", "m", "a", "0"} { // the sample's subfields
		if len(ave[0].sub(code)) != 1 {
			t.Errorf("AVE lacks $%s", code)
		}
	}
	if got := ave[0].sub("0")[0]; got != iz.MMSID {
		t.Errorf("AVE $0 %s, want %s", got, iz.MMSID)
	}
}
