package sru

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePageSLSP(t *testing.T) {
	body := readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml")
	p, err := ParsePage(body)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 20 || p.Next != 11 || !p.Exact || len(p.Diagnostics) != 0 {
		t.Errorf("page = total %d next %d exact %v diags %v, want 20 11 true none", p.Total, p.Next, p.Exact, p.Diagnostics)
	}
	if len(p.Records) != 10 {
		t.Fatalf("%d records, want 10", len(p.Records))
	}
	for i, r := range p.Records {
		if r.Position != i+1 {
			t.Errorf("record %d position %d", i, r.Position)
		}
		if r.Packing != "xml" {
			t.Errorf("record %d packing %q", i, r.Packing)
		}
		if !bytes.HasPrefix(r.Data, []byte(`<record xmlns="http://www.loc.gov/MARC21/slim">`)) || !bytes.HasSuffix(r.Data, []byte("</record>")) {
			t.Errorf("record %d data is not the MARC record element: %.80s … %.20s", i, r.Data, r.Data[max(0, len(r.Data)-20):])
		}
		// Exact bytes: the record is a verbatim slice of the body.
		if !bytes.Contains(body, r.Data) {
			t.Errorf("record %d bytes are not verbatim from the body", i)
		}
		if err := wellFormed(r.Data); err != nil {
			t.Errorf("record %d not well-formed alone: %v", i, err)
		}
	}
	if got, want := p.Records[0].Identifier, "991070031889705501"; got != want {
		t.Errorf("first identifier %q, want %q", got, want)
	}
	if got, want := p.Records[9].Identifier, "991043195259705501"; got != want {
		t.Errorf("last identifier %q, want %q", got, want)
	}
	// The records are copies, not views of the body.
	body[bytes.Index(body, p.Records[0].Data)+1] = 'X'
	if p.Records[0].Data[1] != 'r' {
		t.Error("record data aliases the body")
	}
}

func TestParsePageSamples(t *testing.T) {
	tests := []struct {
		file      string
		wantTotal int
		wantRecs  int
		wantNext  int
		wantExact bool
		wantDiags []Diagnostic
		wantID    string
	}{
		{"princeton_iz_sru_zero_hits.xml", 0, 0, 0, true, nil, ""},
		{"princeton_iz_sru_AVE.xml", 1, 1, 0, true, nil, "99121886293506421"},
		{"princeton_iz_sru_AVA_summary_holdings_plus_legacy_852.xml", 1, 1, 0, true, nil, ""},
		{"slsp_nz_sru_mms_id_single_record_852.xml", 1, 1, 0, true, nil, ""},
		{"alma_sru_diagnostic_missing_version_200832.xml", 0, 0, 0, false,
			[]Diagnostic{{URI: "info:srw/diagnostic/1/1", Details: "200832", Message: "Mandatory parameter version was not provided"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := ParsePage(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != tt.wantTotal || len(p.Records) != tt.wantRecs || p.Next != tt.wantNext {
				t.Errorf("total %d records %d next %d, want %d %d %d", p.Total, len(p.Records), p.Next, tt.wantTotal, tt.wantRecs, tt.wantNext)
			}
			if tt.wantRecs > 0 && p.Exact != tt.wantExact {
				t.Errorf("exact %v, want %v", p.Exact, tt.wantExact)
			}
			if diff := cmp.Diff(tt.wantDiags, p.Diagnostics); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			if tt.wantID != "" && p.Records[0].Identifier != tt.wantID {
				t.Errorf("identifier %q, want %q", p.Records[0].Identifier, tt.wantID)
			}
			for i, r := range p.Records {
				if err := wellFormed(r.Data); err != nil {
					t.Errorf("record %d not well-formed: %v", i, err)
				}
			}
		})
	}
}

func TestParsePageVariants(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Page
	}{
		{
			name: "prefixed envelope, record in no namespace",
			body: `<?xml version="1.0"?><srw:searchRetrieveResponse xmlns:srw="http://www.loc.gov/zing/srw/"><srw:version>1.2</srw:version>` +
				`<srw:numberOfRecords>3</srw:numberOfRecords><srw:records><srw:record><srw:recordSchema>marcxml</srw:recordSchema>` +
				`<srw:recordPacking>xml</srw:recordPacking><srw:recordData><record><leader>x</leader></record></srw:recordData>` +
				`<srw:recordIdentifier>1</srw:recordIdentifier><srw:recordPosition>2</srw:recordPosition></srw:record></srw:records>` +
				`<srw:nextRecordPosition>3</srw:nextRecordPosition></srw:searchRetrieveResponse>`,
			want: &Page{Total: 3, Next: 3, Records: []RawRecord{{Data: []byte(`<record><leader>x</leader></record>`), Identifier: "1", Position: 2, Packing: "xml"}}},
		},
		{
			name: "string packing is unescaped",
			body: `<searchRetrieveResponse><numberOfRecords>1</numberOfRecords><records><record><recordPacking>string</recordPacking>` +
				`<recordData>&lt;record xmlns="http://www.loc.gov/MARC21/slim"&gt;&lt;leader&gt;a&amp;b&lt;/leader&gt;&lt;/record&gt;</recordData>` +
				`<recordPosition>1</recordPosition></record></records></searchRetrieveResponse>`,
			want: &Page{Total: 1, Records: []RawRecord{{Data: []byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>a&b</leader></record>`), Position: 1, Packing: "string"}}},
		},
		{
			name: "CDATA and comments",
			body: `<searchRetrieveResponse><!-- hi --><numberOfRecords><![CDATA[7]]></numberOfRecords><records/></searchRetrieveResponse>`,
			want: &Page{Total: 7},
		},
		{
			name: "diagnostics with standard and bare URIs",
			body: `<searchRetrieveResponse xmlns:d="http://www.loc.gov/zing/srw/diagnostic/"><numberOfRecords>0</numberOfRecords><diagnostics>` +
				`<d:diagnostic><d:uri>info:srw/diagnostic/1/10</d:uri><d:details>pos 3</d:details></d:diagnostic>` +
				`<d:diagnostic><d:uri> 42 </d:uri><d:details>x</d:details><d:message>m</d:message></d:diagnostic>` +
				`<d:diagnostic><d:uri/></d:diagnostic></diagnostics></searchRetrieveResponse>`,
			want: &Page{Diagnostics: []Diagnostic{
				{URI: "info:srw/diagnostic/1/10", Details: "pos 3", Message: "Query syntax error"},
				{URI: "info:srw/diagnostic/1/1", Details: "42: x", Message: "m"},
				{URI: "info:srw/diagnostic/1/1", Message: "General system error"},
			}},
		},
		{
			name: "SRU 2.0 envelope",
			body: `<sru:searchRetrieveResponse xmlns:sru="http://docs.oasis-open.org/ns/search-ws/sruResponse"><sru:numberOfRecords>0</sru:numberOfRecords></sru:searchRetrieveResponse>`,
			want: &Page{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePage([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePageMalformed(t *testing.T) {
	full := string(readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml"))
	tests := []struct{ name, body string }{
		{"empty", ""},
		{"html error page", "<html><body>Service Unavailable</body></html>"},
		{"plain text", "Internal error"},
		{"truncated", full[:len(full)/2]},
		{"truncated in a tag", full[:len(full)-5]},
		{"mismatched tags", `<searchRetrieveResponse><numberOfRecords>1</numberOfRecord></searchRetrieveResponse>`},
		{"bad count", `<searchRetrieveResponse><numberOfRecords>many</numberOfRecords></searchRetrieveResponse>`},
		{"negative count", `<searchRetrieveResponse><numberOfRecords>-1</numberOfRecords></searchRetrieveResponse>`},
		{"no count and no diagnostics", `<searchRetrieveResponse><version>1.2</version></searchRetrieveResponse>`},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><searchRetrieveResponse><numberOfRecords>1</numberOfRecords></searchRetrieveResponse>`},
		{"unknown entity", `<searchRetrieveResponse><numberOfRecords>1&x;</numberOfRecords></searchRetrieveResponse>`},
		{"two roots", `<searchRetrieveResponse><numberOfRecords>0</numberOfRecords></searchRetrieveResponse><searchRetrieveResponse/>`},
		{"trailing text", `<searchRetrieveResponse><numberOfRecords>0</numberOfRecords></searchRetrieveResponse>junk`},
		{"record without data", `<searchRetrieveResponse><numberOfRecords>1</numberOfRecords><records><record><recordPosition>1</recordPosition></record></records></searchRetrieveResponse>`},
		{"attribute without quotes", `<searchRetrieveResponse a=b><numberOfRecords>0</numberOfRecords></searchRetrieveResponse>`},
		{"unclosed comment", `<searchRetrieveResponse><!-- x <numberOfRecords>0</numberOfRecords></searchRetrieveResponse>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePage([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParsePage() = %+v, want an error", p)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// TestParsePageEveryTruncation cuts the single-record sample at every byte
// of its head and tail and at every 17th in between: each cut must be an
// error.
func TestParsePageEveryTruncation(t *testing.T) {
	body := readTestdata(t, "slsp_nz_sru_mms_id_single_record_852.xml")
	end := bytes.LastIndex(body, []byte("</searchRetrieveResponse>")) + len("</searchRetrieveResponse>")
	for i := 0; i < end; i++ {
		if i > 1000 && i < end-1000 && i%17 != 0 {
			continue
		}
		if _, err := ParsePage(body[:i]); err == nil {
			t.Fatalf("ParsePage(body[:%d]) succeeded on a truncated body: …%q", i, body[max(0, i-30):i])
		}
	}
	if _, err := ParsePage(body[:end]); err != nil {
		t.Errorf("full body: %v", err)
	}
}

func BenchmarkParsePage(b *testing.B) {
	body := readTestdataB(b, "slsp_nz_sru_searchRetrieve_20records_852.xml")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := ParsePage(body)
		if err != nil || len(p.Records) != 10 {
			b.Fatal(err)
		}
	}
}

func readTestdataB(b *testing.B, name string) []byte {
	b.Helper()
	data, err := readFile(almaSamples + name)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// TestParsePageRecordsAreMARC checks that the exact record bytes Alma sent
// validate against MARC21slim.xsd on their own.
func TestParsePageRecordsAreMARC(t *testing.T) {
	var docs [][]byte
	for _, name := range []string{"slsp_nz_sru_searchRetrieve_20records_852.xml", "slsp_nz_sru_mms_id_single_record_852.xml",
		"princeton_iz_sru_AVE.xml", "princeton_iz_sru_AVA_summary_holdings_plus_legacy_852.xml"} {
		p, err := ParsePage(readTestdata(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range p.Records {
			docs = append(docs, r.Data)
		}
	}
	if len(docs) != 13 {
		t.Fatalf("%d records, want 13", len(docs))
	}
	validate(t, "MARC21slim.xsd", docs...)
}
