package transform

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// dcResponse is an Alma searchRetrieve answer for recordSchema=dc (the
// shape of the SLSP capture, with Dublin Core records).
const dcResponse = `<?xml version="1.0" encoding="UTF-8" standalone="no"?><searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/">
  <version>1.2</version>
  <numberOfRecords>2</numberOfRecords>
  <records>
    <record>
      <recordSchema>dc</recordSchema>
      <recordPacking>xml</recordPacking>
      <recordData><record xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>History of science</dc:title></record></recordData>
      <recordIdentifier>991170000000005501</recordIdentifier>
      <recordPosition>1</recordPosition>
    </record>
  </records>
</searchRetrieveResponse>`

// gatewayDiagnostic is the gateway's own SRU 1.2 answer to a bad query.
const gatewayDiagnostic = `<zs:searchRetrieveResponse xmlns:zs="http://www.loc.gov/zing/srw/" xmlns:diag="http://www.loc.gov/zing/srw/diagnostic/"><zs:version>1.2</zs:version><zs:numberOfRecords>0</zs:numberOfRecords><zs:diagnostics><diag:diagnostic><diag:uri>info:srw/diagnostic/1/10</diag:uri><diag:details>search term expected at the end of the query</diag:details><diag:message>Query syntax error</diag:message></diag:diagnostic></zs:diagnostics></zs:searchRetrieveResponse>`

// TestConvertRefusesWhatHoldsNoMARC: the inputs people feed `gateway
// convert` by mistake are named, not converted to an empty list (issue
// 10), and nothing is written; real record-bearing inputs, zero hits
// included, still convert.
func TestConvertRefusesWhatHoldsNoMARC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		kind  InputKind
		what  string // a part of What
		nrecs int    // for InputRecords
	}{
		{"dublin core", []byte(dcResponse), InputOtherSchema, `recordSchema "dc" (Dublin Core)`, 0},
		{"alma diagnostic", readTestdata(t, "alma_sru_diagnostic_missing_version_200832.xml"), InputDiagnostic, "200832 Mandatory parameter version was not provided", 0},
		{"gateway diagnostic", []byte(gatewayDiagnostic), InputDiagnostic, "info:srw/diagnostic/1/10 Query syntax error (search term expected", 0},
		{"explain", readTestdata(t, "alma_explain_response_TR_INTEGRATION_INST.xml"), InputExplain, "an SRU explain response", 0},
		{"bibs api json", readTestdata(t, "princeton_bibs_api_json_anies_AVA_unavailable.json"), InputJSON, "JSON, not XML (an Alma Bibs API record", 0},
		{"rest error json", readTestdata(t, "princeton_bibs_api_error_402204_json.json"), InputJSON, "errorList", 0},
		{"rest error xml", readTestdata(t, "princeton_bibs_api_error_402203_xml.xml"), InputRESTError, "an Alma REST error (web_service_result)", 0},
		{"empty", []byte(" \n\t"), InputEmpty, "empty", 0},
		{"text", []byte("mms_id,title\n1,History\n"), InputNotXML, `not XML (it starts with "mms_id,title\n1,H"…)`, 0},
		{"html", []byte("<!DOCTYPE html><html><body><p>Not found</p></body></html>"), InputOtherXML, "an XML document <html> without MARC records", 0},
		{"zero hits", readTestdata(t, "princeton_iz_sru_zero_hits.xml"), InputRecords, "", 0},
		{"slsp page", readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml"), InputRecords, "", 10},
		{"bib envelope", readTestdata(t, "bibs_api_bib.xml"), InputRecords, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := Convert(context.Background(), &out, bytes.NewReader(tc.in), "json", nil)
			if tc.kind == InputRecords {
				if err != nil {
					t.Fatalf("Convert: %v", err)
				}
				if n != tc.nrecs {
					t.Errorf("Convert = %d records, want %d", n, tc.nrecs)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Convert = %d, %v; want an *InputError", n, err)
			}
			if ie.Kind != tc.kind {
				t.Errorf("kind = %d, want %d (%s)", ie.Kind, tc.kind, ie.What)
			}
			if !strings.Contains(ie.What, tc.what) {
				t.Errorf("What = %q, want it to contain %q", ie.What, tc.what)
			}
			if strings.Contains(ie.What, "\n") {
				t.Errorf("What = %q spans lines, want one", ie.What)
			}
			if n != 0 || out.Len() != 0 {
				t.Errorf("Convert wrote %d records, %q; want nothing", n, out.String())
			}
		})
	}
}

// TestSniffTruncatedHead: a head cut mid-document is not called broken XML
// unless it is the whole input.
func TestSniffTruncatedHead(t *testing.T) {
	page := readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml")
	for _, cut := range []int{1, 10, 100, 300} {
		if got := Sniff(page[:cut], false); got.Kind != InputRecords {
			t.Errorf("Sniff(first %d bytes, incomplete) = %d %q, want InputRecords", cut, got.Kind, got.What)
		}
	}
	if got := Sniff([]byte("<<<>"), true); got.Kind != InputNotXML {
		t.Errorf("Sniff(%q, complete) = %d %q, want InputNotXML", "<<<>", got.Kind, got.What)
	}
}

// FuzzSniff: Sniff never panics, and every refusal says something on one line.
func FuzzSniff(f *testing.F) {
	f.Add([]byte(dcResponse), true)
	f.Add([]byte(gatewayDiagnostic), true)
	f.Add([]byte(`{"a":1}`), true)
	f.Add([]byte("\xEF\xBB\xBF<collection/>"), false)
	f.Add([]byte("<searchRetrieveResponse><diagnostics><diagnostic><uri>x</uri>"), true)
	f.Fuzz(func(t *testing.T, head []byte, complete bool) {
		got := Sniff(head, complete)
		if got.Kind != InputRecords && got.Kind != InputOtherXML && (got.What == "" || strings.Contains(got.What, "\n")) {
			t.Fatalf("Sniff(%q) = %d with What %q", head, got.Kind, got.What)
		}
	})
}
