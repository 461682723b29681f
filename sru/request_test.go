package sru

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/indexdata/cql-go/cql"
)

func params(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		params url.Values
		lim    Limits
		want   Request
	}{
		{
			name:   "bare request is explain 1.2",
			params: params(),
			want:   Request{Version: V12, Operation: "explain", StartRecord: 1, MaximumRecords: 10, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "xml", Echo: params("version", "1.2")},
		},
		{
			name:   "2.0 explain with escaping",
			params: params("version", "2.0", "recordXMLEscaping", "string"),
			want:   Request{Version: V20, Operation: "explain", StartRecord: 1, MaximumRecords: 10, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "string", Echo: params("version", "2.0", "recordXMLEscaping", "string")},
		},
		{
			name:   "searchRetrieve defaults",
			params: params("operation", "searchRetrieve", "version", "1.2", "query", "title = x"),
			want: Request{Version: V12, Operation: "searchRetrieve", Query: "title = x", Canonical: `alma.title="x"`, AlmaQuery: `alma.title="x"`,
				StartRecord: 1, MaximumRecords: 10, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "xml",
				Echo: params("version", "1.2", "query", "title = x")},
		},
		{
			name: "1.1 with everything",
			params: params("operation", "searchRetrieve", "version", "1.1", "query", "title=x", "startRecord", "11", "maximumRecords", "20",
				"recordSchema", "dc", "recordPacking", "string", "sortKeys", "alma.main_pub_date,,0", "stylesheet", "/s.xsl", "resultSetTTL", "60", "x-debug", "1"),
			want: Request{Version: V11, Operation: "searchRetrieve", Query: "title=x", Canonical: `alma.title="x"`,
				AlmaQuery: `alma.title="x" sortBy alma.main_pub_date/sort.descending`, SortKey: "alma.main_pub_date/sort.descending",
				StartRecord: 11, MaximumRecords: 20, MaximumRecordsGiven: true, RecordSchema: SchemaDC, SchemaName: "dc", RecordPacking: "string",
				Stylesheet: "/s.xsl", ResultSetTTL: 60,
				Echo: params("version", "1.1", "query", "title=x", "startRecord", "11", "maximumRecords", "20", "recordSchema", SchemaDC,
					"recordPacking", "string", "sortKeys", "alma.main_pub_date,,0", "stylesheet", "/s.xsl", "resultSetTTL", "60")},
		},
		{
			name:   "2.0 without operation, schema by URI",
			params: params("version", "2.0", "query", "history", "recordSchema", SchemaMARCXML, "recordXMLEscaping", "xml", "maximumRecords", "0"),
			want: Request{Version: V20, Operation: "searchRetrieve", Query: "history", Canonical: `alma.all_for_ui="history"`, AlmaQuery: `alma.all_for_ui="history"`,
				StartRecord: 1, MaximumRecords: 0, MaximumRecordsGiven: true, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "xml",
				Echo: params("version", "2.0", "query", "history", "recordSchema", SchemaMARCXML, "recordXMLEscaping", "xml", "maximumRecords", "0")},
		},
		{
			name:   "2.0 with the 1.2 meaning of recordPacking",
			params: params("version", "2.0", "query", "x", "recordPacking", "string"),
			want: Request{Version: V20, Operation: "searchRetrieve", Query: "x", Canonical: `alma.all_for_ui="x"`, AlmaQuery: `alma.all_for_ui="x"`,
				StartRecord: 1, MaximumRecords: 10, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "string",
				Echo: params("version", "2.0", "query", "x", "recordPacking", "string")},
		},
		{
			name:   "page cut to the maximum and to the last position",
			params: params("query", "x", "startRecord", "9995", "maximumRecords", "500"),
			want: Request{Version: V12, Operation: "searchRetrieve", Query: "x", Canonical: `alma.all_for_ui="x"`, AlmaQuery: `alma.all_for_ui="x"`,
				StartRecord: 9995, MaximumRecords: 6, MaximumRecordsGiven: true, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "xml",
				Echo: params("version", "1.2", "query", "x", "startRecord", "9995", "maximumRecords", "500")},
		},
		{
			name:   "configured limits",
			params: params("query", "x"),
			lim:    Limits{DefaultRecords: 25, MaxRecords: 40},
			want: Request{Version: V12, Operation: "searchRetrieve", Query: "x", Canonical: `alma.all_for_ui="x"`, AlmaQuery: `alma.all_for_ui="x"`,
				StartRecord: 1, MaximumRecords: 25, RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "xml",
				Echo: params("version", "1.2", "query", "x")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := ParseRequest(tt.params, DefaultIndexSet(), tt.lim)
			if d != nil {
				t.Fatalf("ParseRequest() diagnostic %v", d)
			}
			if diff := cmp.Diff(&tt.want, got, cmpopts.IgnoreFields(Request{}, "CQL")); diff != "" {
				t.Errorf("ParseRequest() (-want +got):\n%s", diff)
			}
			if got.Operation == "searchRetrieve" && Canonical(cql.Query{Clause: got.CQL.Clause}) != got.Canonical {
				t.Errorf("CQL tree does not serialize to Canonical %q", got.Canonical)
			}
		})
	}
}

func TestParseRequestDiagnostics(t *testing.T) {
	tests := []struct {
		name        string
		params      url.Values
		wantNumber  int
		wantDetails string
		wantVersion Version // "" when the request must come back nil
		wantOp      string
	}{
		{"unsupported version", params("version", "3.0", "query", "x"), 5, "1.2", "", ""},
		{"scan", params("operation", "scan", "scanClause", "title=a"), 4, "scan", V12, "scan"},
		{"2.0 scan by scanClause", params("version", "2.0", "scanClause", "title=a"), 4, "scan", V20, "scan"},
		{"unknown operation", params("operation", "update"), 4, "update", V12, "searchRetrieve"},
		{"unknown parameter", params("query", "x", "foo", "1"), 8, "foo", V12, "searchRetrieve"},
		{"query in explain", params("operation", "explain", "query", "x"), 8, "query", V12, "explain"},
		{"recordXMLEscaping in 1.2", params("query", "x", "recordXMLEscaping", "xml"), 8, "recordXMLEscaping", V12, "searchRetrieve"},
		{"queryType in 1.2", params("query", "x", "queryType", "cql"), 8, "queryType", V12, "searchRetrieve"},
		{"recordXPath in 1.1", params("version", "1.1", "query", "x", "recordXPath", "/a"), 72, "recordXPath", V11, "searchRetrieve"},
		{"recordXPath in 1.2", params("query", "x", "recordXPath", "/a"), 72, "recordXPath", V12, "searchRetrieve"},
		{"missing query", params("operation", "searchRetrieve"), 7, "query", V12, "searchRetrieve"},
		{"empty query", params("query", ""), 7, "query", V12, "searchRetrieve"},
		{"syntax error", params("query", "title="), 10, "", V12, "searchRetrieve"},
		{"unknown index", params("query", "marc.title=x"), 16, "marc.title", V12, "searchRetrieve"},
		{"unsupported relation", params("query", "title<x"), 19, "<", V12, "searchRetrieve"},
		{"startRecord not a number", params("query", "x", "startRecord", "abc"), 6, "startRecord", V12, "searchRetrieve"},
		{"startRecord zero", params("query", "x", "startRecord", "0"), 6, "startRecord", V12, "searchRetrieve"},
		{"startRecord negative", params("query", "x", "startRecord", "-1"), 6, "startRecord", V12, "searchRetrieve"},
		{"startRecord huge", params("query", "x", "startRecord", "99999999999999999999"), 6, "startRecord", V12, "searchRetrieve"},
		{"startRecord past 10000", params("query", "x", "startRecord", "10001"), 61, "10000", V12, "searchRetrieve"},
		{"maximumRecords negative", params("query", "x", "maximumRecords", "-5"), 6, "maximumRecords", V12, "searchRetrieve"},
		{"maximumRecords float", params("query", "x", "maximumRecords", "1.5"), 6, "maximumRecords", V12, "searchRetrieve"},
		{"unknown schema", params("query", "x", "recordSchema", "mods"), 66, "mods", V12, "searchRetrieve"},
		{"bad packing 1.2", params("query", "x", "recordPacking", "json"), 71, "json", V12, "searchRetrieve"},
		{"bad escaping 2.0", params("version", "2.0", "query", "x", "recordXMLEscaping", "json"), 71, "json", V20, "searchRetrieve"},
		{"unpacked 2.0", params("version", "2.0", "query", "x", "recordPacking", "unpacked"), 71, "unpacked", V20, "searchRetrieve"},
		{"string packing beside escaping 2.0", params("version", "2.0", "query", "x", "recordXMLEscaping", "xml", "recordPacking", "string"), 71, "string", V20, "searchRetrieve"},
		{"queryType neither cql nor searchTerms", params("version", "2.0", "query", "x", "queryType", "xcql"), 6, "queryType", V20, "searchRetrieve"},
		{"httpAccept of another media type", params("version", "2.0", "query", "x", "httpAccept", "application/rss+xml"), 6, "httpAccept", V20, "searchRetrieve"},
		{"httpAccept in 1.2", params("query", "x", "httpAccept", "application/sru+xml"), 8, "httpAccept", V12, "searchRetrieve"},
		{"searchTerms with no term", params("version", "2.0", "query", `""`, "queryType", "searchTerms"), 7, "q", V20, "searchRetrieve"},
		{"bad resultSetTTL", params("query", "x", "resultSetTTL", "soon"), 6, "resultSetTTL", V12, "searchRetrieve"},
		{"bad stylesheet", params("query", "x", "stylesheet", `a"?><b`), 111, `a"?><b`, V12, "searchRetrieve"},
		{"javascript stylesheet", params("query", "x", "stylesheet", "javascript:alert(1)"), 111, "javascript:alert(1)", V12, "searchRetrieve"},
		{"repeated parameter", params("query", "x", "query", "y"), 6, "query (repeated)", V12, "searchRetrieve"},
		{"sortKeys and sortBy", params("query", "x sortBy alma.title", "sortKeys", "alma.title"), 96, "", V12, "searchRetrieve"},
		{"sortKeys unsortable", params("query", "x", "sortKeys", "alma.isbn"), 88, "alma.isbn", V12, "searchRetrieve"},
		{"sortKeys two keys", params("query", "x", "sortKeys", "alma.title alma.creator"), 84, "1", V12, "searchRetrieve"},
		{"sortKeys bad direction", params("query", "x", "sortKeys", "alma.title,,up"), 90, "up", V12, "searchRetrieve"},
		{"sortKeys case sensitive", params("query", "x", "sortKeys", "alma.title,,1,1"), 91, "1", V12, "searchRetrieve"},
		{"sortKeys missing value", params("query", "x", "sortKeys", "alma.title,,1,0,omit"), 92, "omit", V12, "searchRetrieve"},
		{"sortKeys schema", params("query", "x", "sortKeys", "alma.title,mods"), 87, "mods", V12, "searchRetrieve"},
		{"sortKeys too many fields", params("query", "x", "sortKeys", "alma.title,,1,0,highValue,x"), 6, "sortKeys", V12, "searchRetrieve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := ParseRequest(tt.params, DefaultIndexSet(), Limits{})
			if d == nil {
				t.Fatalf("ParseRequest() = %+v, want diagnostic %d", got, tt.wantNumber)
			}
			if d.Number() != tt.wantNumber {
				t.Errorf("diagnostic %d (%q), want %d", d.Number(), d.Details, tt.wantNumber)
			}
			if tt.wantDetails != "" && d.Details != tt.wantDetails {
				t.Errorf("details %q, want %q", d.Details, tt.wantDetails)
			}
			if tt.wantVersion == "" {
				if got != nil {
					t.Errorf("request %+v, want nil for a version diagnostic", got)
				}
				return
			}
			if got == nil {
				t.Fatal("request nil, want one to answer in")
			}
			if got.Version != tt.wantVersion || got.Operation != tt.wantOp {
				t.Errorf("answer as %s %s, want %s %s", got.Version, got.Operation, tt.wantVersion, tt.wantOp)
			}
		})
	}
}
