package sru

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzRequest drives the request parser, the CQL handling and every
// response writer with arbitrary query strings: nothing may panic, every
// answer must be well-formed XML, and the canonical query must be a fixed
// point.
func FuzzRequest(f *testing.F) {
	seeds := []string{
		"",
		"query=title%3Dx",
		"version=1.1&operation=searchRetrieve&query=alma.title+%3D+%22x%22&startRecord=2&maximumRecords=5&recordPacking=string&sortKeys=alma.title,,0",
		"version=2.0&query=history+sortBy+alma.title%2Fsort.descending&recordXMLEscaping=string&stylesheet=%2Fa.xsl",
		"version=2.0&scanClause=a",
		"operation=explain&version=1.2&recordPacking=string",
		"query=a+prox%2Funit%3Dword%2Fdistance%3E2+b",
		"query=%22unterminated",
		"query=title%3D%22a%5C%22b%22+and+(creator%3Dc+or+rec.id%3E%3D5)",
		"query=x&startRecord=10001",
		"query=x%00y",
		"query=%3E+dc+%3D+%22u%22+dc.title%3Dx",
		"version=3&query=x",
		"query=x&query=y",
		"query=x&maximumRecords=-1&foo=bar",
		"query=alma.other_system_number%3D%3D(NET)0000001-netdb",
		"query=(title%3Dx+and+alma.other_system_number%3D(a%5C%22)b))",
		"query=title%3DZu%CC%88rich",
		"query=alma.isbn%3D978-3-16-148410-0+or+alma.isbn%3D316148410X",
		"query=0317-8471+and+(OCoLC)ocm0001",
		"query=alma.standard_number%3D03178471+not+alma.oclc_control_number_035_a%3Don0012",
		"version=2.0&queryType=searchTerms&query=a+OR+%22b+c%22+NOT+978-3-16-148410-0&httpAccept=application%2Fsru%2Bxml",
	}
	for _, s := range seeds {
		f.Add(s, []byte("<record><leader>x</leader></record>"))
	}
	f.Add("query=x", []byte("<a\x01>&bogus;</b>\xff"))
	idx := DefaultIndexSet()
	info := ExplainInfo{Host: "h<&>", Port: 1, Database: "sru", Indexes: idx}
	f.Fuzz(func(t *testing.T, raw string, record []byte) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, d := ParseRequest(vals, idx, Limits{})
		var buf bytes.Buffer
		switch {
		case d != nil && req == nil:
			WriteDiagnostics(&buf, DefaultVersion, "searchRetrieve", []Diagnostic{*d})
		case d != nil:
			WriteDiagnostics(&buf, req.Version, req.Operation, []Diagnostic{*d})
		case req.Operation == "explain":
			WriteExplain(&buf, req.Version, info, req)
		default:
			WriteSearchRetrieve(&buf, req, &Result{Total: 3, NextPosition: 2,
				Records:     []Record{{Data: record, Identifier: string(record), Position: 1}},
				Diagnostics: []Diagnostic{{URI: string(record), Details: raw, Message: raw}},
				Extra:       &Extra{Cache: raw, AsOf: time.Unix(0, 0)}})
			again, d := ParseQuery(req.AlmaQuery, idx)
			if d != nil {
				t.Fatalf("canonical %q does not parse: %v", req.AlmaQuery, d)
			}
			if again.AlmaQuery != req.AlmaQuery {
				t.Fatalf("canonical not a fixed point: %q → %q", req.AlmaQuery, again.AlmaQuery)
			}
		}
		if err := wellFormed(buf.Bytes()); err != nil {
			t.Fatalf("response not well-formed: %v\n%s", err, buf.Bytes())
		}
	})
}

// FuzzParsePage feeds arbitrary bodies to the envelope scanner: no panic,
// and whatever comes out can be written back into a well-formed response.
func FuzzParsePage(f *testing.F) {
	for _, name := range []string{"princeton_iz_sru_zero_hits.xml", "alma_sru_diagnostic_missing_version_200832.xml",
		"slsp_nz_sru_mms_id_single_record_852.xml", "princeton_iz_sru_AVE.xml"} {
		b, err := readFile(almaSamples + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<searchRetrieveResponse><numberOfRecords>1</numberOfRecords><records><record><recordPacking>string</recordPacking><recordData>&lt;a/&gt;</recordData></record></records></searchRetrieveResponse>`))
	f.Add([]byte(`<a:searchRetrieveResponse xmlns:a="x"><a:numberOfRecords><![CDATA[2]]></a:numberOfRecords><!-- c --><?pi x?></a:searchRetrieveResponse>`))
	req := &Request{Version: V20, Operation: "searchRetrieve", RecordSchema: SchemaMARCXML, RecordPacking: "xml"}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePage(body)
		if err != nil {
			return
		}
		res := &Result{Total: p.Total, NextPosition: p.Next, Diagnostics: p.Diagnostics}
		for _, r := range p.Records {
			res.Records = append(res.Records, Record{Data: r.Data, Identifier: r.Identifier, Position: r.Position})
		}
		var buf bytes.Buffer
		WriteSearchRetrieve(&buf, req, res)
		if err := wellFormed(buf.Bytes()); err != nil {
			t.Fatalf("response from a parsed page not well-formed: %v\n%s", err, buf.Bytes())
		}
	})
}

// elementReader is a RecordReader that takes one element by this
// package's own scanner, recording what it took: a stand-in for
// transform.ParseElement, which sru may not import.
func elementReader(took *[][]byte) RecordReader {
	return func(b []byte) (int, error) {
		s := newScanner(b)
		for {
			k, err := s.next()
			if err != nil || k == tokEOF {
				return 0, errSyntax
			}
			switch k {
			case tokText:
				if len(bytes.TrimSpace(b[s.start:s.end])) > 0 {
					return 0, errSyntax
				}
				continue
			case tokStart, tokEmpty:
				from := s.start
				if err := s.skip(); err != nil {
					return 0, err
				}
				*took = append(*took, bytes.Clone(b[from:s.pos]))
				return s.pos, nil
			}
			return 0, errSyntax
		}
	}
}

// FuzzParsePageWith: reading records in the same pass finds the same
// page, and hands the reader exactly the elements ParsePage copies.
func FuzzParsePageWith(f *testing.F) {
	for _, name := range []string{"slsp_nz_sru_mms_id_single_record_852.xml", "princeton_iz_sru_AVE.xml", "princeton_iz_sru_zero_hits.xml"} {
		b, err := readFile(almaSamples + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(pageWithTwoRecords))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, werr := ParsePage(body)
		var took [][]byte
		got, gerr := ParsePageWith(body, elementReader(&took))
		if (werr == nil) != (gerr == nil) {
			// The reader's scan may refuse what ParsePage's accepts and
			// vice versa only by falling back: never a different verdict.
			t.Fatalf("ParsePage error %v, ParsePageWith error %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		var wantTook [][]byte
		for i, r := range want.Records {
			if got.Records[i].Read {
				wantTook = append(wantTook, r.Data)
				want.Records[i].Data, want.Records[i].Read = nil, true
			}
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Fatalf("pages differ (-with +without):\n%s", d)
		}
		if d := cmp.Diff(took, wantTook, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("the reader was handed other bytes than ParsePage copies (-got +want):\n%s", d)
		}
	})
}

const pageWithTwoRecords = `<?xml version="1.0"?><searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2</version><numberOfRecords>2</numberOfRecords><records>` +
	`<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking><recordData>
  <record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">1</controlfield></record>
</recordData><recordIdentifier>1</recordIdentifier><recordPosition>1</recordPosition></record>` +
	`<record><recordPacking>string</recordPacking><recordData>&lt;record/&gt;</recordData><recordPosition>2</recordPosition></record>` +
	`</records></searchRetrieveResponse>`

func TestParsePageWithReadsRecordsInTheSamePass(t *testing.T) {
	var took [][]byte
	p, err := ParsePageWith([]byte(pageWithTwoRecords), elementReader(&took))
	if err != nil {
		t.Fatal(err)
	}
	want := []RawRecord{
		{Identifier: "1", Position: 1, Packing: "xml", Read: true},
		{Data: []byte("<record/>"), Position: 2, Packing: "string"},
	}
	if d := cmp.Diff(p.Records, want); d != "" {
		t.Errorf("records (-got +want):\n%s", d)
	}
	wantTook := [][]byte{[]byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">1</controlfield></record>`)}
	if d := cmp.Diff(took, wantTook); d != "" {
		t.Errorf("handed to the reader (-got +want):\n%s", d)
	}
	// A reader that refuses leaves the record to ParsePage's reading.
	p, err = ParsePageWith([]byte(pageWithTwoRecords), func([]byte) (int, error) { return 0, errSyntax })
	if err != nil || p.Records[0].Read || !bytes.Contains(p.Records[0].Data, []byte(`tag="001"`)) {
		t.Errorf("refused record: %+v, %v; want its bytes in Data", p.Records[0], err)
	}
}

// FuzzSanitizeXML: the result is always clean, and clean input is kept.
func FuzzSanitizeXML(f *testing.F) {
	f.Add([]byte("ok"))
	f.Add([]byte("a\x00\xff\xed\xa0\x80\uFFFE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := SanitizeXML(b)
		if !cleanXML(out) {
			t.Fatalf("SanitizeXML(%q) = %q is not clean", b, out)
		}
		if cleanXML(b) && !bytes.Equal(out, b) {
			t.Fatalf("clean input %q changed to %q", b, out)
		}
	})
}
