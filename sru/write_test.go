package sru

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var versions = []Version{V11, V12, V20}

// smallIndexSet keeps the explain goldens readable.
func smallIndexSet(t *testing.T) *IndexSet {
	t.Helper()
	s, err := parseIndexList([]byte("#set\talma\tmarcxml\n" +
		"alma.all_for_ui\t0\tall =\tKeywords\n" +
		"alma.title\t1\tall = ==\tTitle\n" +
		"rec.id\t0\t== > >= < <= <> = all\tRecord Identifier (MMS ID)\n"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testInfo(idx *IndexSet) ExplainInfo {
	return ExplainInfo{Host: "gateway.example.org", Port: 8080, Database: "sru", Title: "Test network",
		Description: "Alma NZ & members <test>", Indexes: idx, DefaultRecords: 10, MaxRecords: 100}
}

// samplePage gives the first n records of the SLSP sample as Records.
func samplePage(t *testing.T, n int) []Record {
	t.Helper()
	p, err := ParsePage(readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, r := range p.Records[:n] {
		recs = append(recs, Record{Data: r.Data, Identifier: r.Identifier, Position: r.Position})
	}
	return recs
}

func mustRequest(t *testing.T, kv ...string) *Request {
	t.Helper()
	req, d := ParseRequest(params(kv...), DefaultIndexSet(), Limits{})
	if d != nil {
		t.Fatalf("ParseRequest(%v): %v", kv, d)
	}
	return req
}

func TestWriteExplainGolden(t *testing.T) {
	var valid [][]byte
	for _, v := range versions {
		for _, packing := range []string{"xml", "string"} {
			name := fmt.Sprintf("explain_%s_%s.xml", v, packing)
			t.Run(name, func(t *testing.T) {
				kv := []string{"version", string(v), "stylesheet", "/sru.xsl"}
				if v == V20 {
					kv = append(kv, "recordXMLEscaping", packing)
				} else {
					kv = append(kv, "recordPacking", packing)
				}
				var buf bytes.Buffer
				WriteExplain(&buf, v, testInfo(smallIndexSet(t)), mustRequest(t, kv...))
				if err := wellFormed(buf.Bytes()); err != nil {
					t.Fatalf("not well-formed: %v\n%s", err, buf.Bytes())
				}
				checkGolden(t, name, buf.Bytes())
				if v == V20 {
					valid = append(valid, bytes.Clone(buf.Bytes()))
				}
			})
		}
	}
	validate(t, "sru-2.0/sruResponse.xsd", valid...)
}

// TestExplainRecordValidates checks the ZeeRex record with every default
// index against explain.xsd, and the whole response against sruResponse.xsd.
func TestExplainRecordValidates(t *testing.T) {
	info := testInfo(nil)
	var rec bytes.Buffer
	writeZeeRex(&rec, V20, info)
	validate(t, "sru-2.0/explain.xsd", rec.Bytes())
	if !strings.Contains(rec.String(), `<host>gateway.example.org</host><port>8080</port><database>sru</database>`) {
		t.Errorf("explain lacks the gateway's own address: %.300s", rec.String())
	}
	for _, want := range []string{`name="marcxml"`, SchemaMARCXML, `name="dc"`, SchemaDC,
		`<default type="numberOfRecords">10</default>`, `<setting type="maximumRecords">100</setting>`,
		`<name set="alma">main_pub_date</name>`} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("explain record lacks %s", want)
		}
	}
	var buf bytes.Buffer
	WriteExplain(&buf, V20, info, nil)
	validate(t, "sru-2.0/sruResponse.xsd", buf.Bytes())
}

func TestWriteSearchRetrieveGolden(t *testing.T) {
	asOf := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var valid [][]byte
	for _, v := range versions {
		escape := "recordPacking"
		if v == V20 {
			escape = "recordXMLEscaping"
		}
		cases := []struct {
			name string
			req  *Request
			res  *Result
		}{
			{"page", mustRequest(t, "version", string(v), "query", "alma.title = data", "maximumRecords", "2", "stylesheet", "/sru.xsl"),
				&Result{Total: 20, Records: samplePage(t, 2), NextPosition: 3, Extra: &Extra{Cache: "MISS", AsOf: asOf}}},
			{"page_string", mustRequest(t, "version", string(v), "query", "data sortBy alma.title", "maximumRecords", "1", escape, "string"),
				&Result{Total: 20, Records: samplePage(t, 1), NextPosition: 2, Extra: &Extra{Cache: "STALE", Stale: true, AsOf: asOf}}},
			{"zero_hits", mustRequest(t, "version", string(v), "query", "nothing", "recordSchema", "dc"),
				&Result{Total: 0}},
			{"alma_diagnostic", mustRequest(t, "version", string(v), "query", "x"),
				&Result{Diagnostics: []Diagnostic{normalizeDiagnostic(Diagnostic{URI: "200832", Message: "Mandatory parameter version was not provided"})}}},
		}
		for _, c := range cases {
			name := fmt.Sprintf("searchRetrieve_%s_%s.xml", v, c.name)
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				WriteSearchRetrieve(&buf, c.req, c.res)
				if err := wellFormed(buf.Bytes()); err != nil {
					t.Fatalf("not well-formed: %v\n%s", err, buf.Bytes())
				}
				checkGolden(t, name, buf.Bytes())
				if v == V20 {
					valid = append(valid, bytes.Clone(buf.Bytes()))
				}
			})
		}
	}
	validate(t, "sru-2.0/sruResponse.xsd", valid...)
}

// TestWriteDiagnosticsGolden answers every diagnostic ParseRequest can
// give, in every version, and checks the answers against one golden file
// per version (and the 2.0 ones against the schema).
func TestWriteDiagnosticsGolden(t *testing.T) {
	requests := []url.Values{
		params("version", "9.9"),
		params("operation", "scan", "scanClause", "title=a"),
		params("operation", "update"),
		params("query", "x", "foo", "1"),
		params("operation", "explain", "query", "x"),
		params("query", "x", "recordXPath", "/a"),
		params("operation", "searchRetrieve"),
		params("query", "title="),
		params("query", `title="abc`),
		params("query", "marc.title=x"),
		params("query", "title<x"),
		params("query", `> dc = "info:x" dc.title=x`),
		params("query", "x", "startRecord", "abc"),
		params("query", "x", "startRecord", "10001"),
		params("query", "x", "recordSchema", "mods"),
		params("query", "x", "recordPacking", "json"),
		params("query", "x", "stylesheet", "javascript:x"),
		params("query", "x sortBy alma.title", "sortKeys", "alma.title"),
		params("query", "x sortBy alma.isbn"),
		params("query", "x sortBy alma.title alma.creator"),
		params("query", "x", "sortKeys", "alma.title,,up"),
		params("query", "x", "sortKeys", "alma.title,,1,1"),
		params("query", "x", "sortKeys", "alma.title,,1,0,omit"),
		params("query", "x", "sortKeys", "alma.title,mods"),
	}
	for _, v := range versions {
		t.Run(string(v), func(t *testing.T) {
			var all bytes.Buffer
			var docs [][]byte
			for _, p := range requests {
				if p.Has("version") {
					p.Set("version", map[bool]string{true: "9.9", false: string(v)}[p.Get("version") == "9.9"])
				} else {
					p.Set("version", string(v))
				}
				req, d := ParseRequest(p, DefaultIndexSet(), Limits{})
				if d == nil {
					t.Fatalf("ParseRequest(%v) gave no diagnostic", p)
				}
				answerV, op := DefaultVersion, "searchRetrieve"
				if req != nil {
					answerV, op = req.Version, req.Operation
				}
				var buf bytes.Buffer
				WriteDiagnostics(&buf, answerV, op, []Diagnostic{*d})
				if err := wellFormed(buf.Bytes()); err != nil {
					t.Fatalf("not well-formed: %v\n%s", err, buf.Bytes())
				}
				fmt.Fprintf(&all, "<!-- %s -->\n", strings.ReplaceAll(p.Encode(), "--", "- -"))
				all.Write(buf.Bytes())
				all.WriteString("\n")
				if answerV == V20 {
					docs = append(docs, buf.Bytes())
				}
			}
			checkGolden(t, fmt.Sprintf("diagnostics_%s.txt", v), all.Bytes())
			if len(docs) > 0 {
				validate(t, "sru-2.0/sruResponse.xsd", docs...)
			}
		})
	}
}

func TestWriteRecordRobustness(t *testing.T) {
	req := mustRequest(t, "query", "x")
	tests := []struct {
		name        string
		data        string
		wantPacking string
		wantIn      string
	}{
		{"forbidden characters dropped", "<record>a\x01b\x00c\uFFFEd</record>", "xml", "<record>abcd</record>"},
		{"invalid utf-8 dropped", "<record>a\xffb</record>", "xml", "<record>ab</record>"},
		{"xml declaration dropped", `<?xml version="1.0" encoding="UTF-8"?>` + "\n<record/>", "xml", "<zs:recordData><record/></zs:recordData>"},
		{"no namespace kept", `<record><leader>x</leader></record>`, "xml", "<zs:recordData><record><leader>x</leader></record>"},
		{"malformed record escaped", "<record><a></record>", "string", "&lt;record&gt;&lt;a&gt;&lt;/record&gt;"},
		{"undefined entity escaped", "<record>&nbsp;</record>", "string", "&amp;nbsp;"},
		{"doctype escaped", `<!DOCTYPE r [<!ENTITY x "y">]><record>&x;</record>`, "string", "&lt;!DOCTYPE"},
		{"two elements escaped", "<a/><b/>", "string", "&lt;a/&gt;&lt;b/&gt;"},
		{"text only escaped", "just text", "string", "just text"},
		{"duplicate attribute escaped", `<record a="1" a="2"/>`, "string", "&lt;record a=&quot;1&quot; a=&quot;2&quot;/&gt;"},
		{"undeclared prefix escaped", `<marc:record><marc:leader/></marc:record>`, "string", "&lt;marc:record&gt;"},
		{"declared prefix kept", `<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:leader/></marc:record>`, "xml",
			`<zs:recordData><marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:leader/></marc:record></zs:recordData>`},
		{"prefix out of scope escaped", `<r><a xmlns:p="u"/><p:b/></r>`, "string", "&lt;p:b/&gt;"},
		{"bad name character escaped", "<rec€ord/>", "string", "&lt;rec€ord/&gt;"},
	}
	var docs [][]byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			WriteSearchRetrieve(&buf, req, &Result{Total: 1, Records: []Record{{Data: []byte(tt.data), Position: 1}}})
			docs = append(docs, buf.Bytes())
			if err := wellFormed(buf.Bytes()); err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, buf.Bytes())
			}
			if !strings.Contains(buf.String(), "<zs:recordPacking>"+tt.wantPacking+"</zs:recordPacking>") {
				t.Errorf("packing is not %s:\n%s", tt.wantPacking, buf.String())
			}
			if !strings.Contains(buf.String(), tt.wantIn) {
				t.Errorf("response lacks %q:\n%s", tt.wantIn, buf.String())
			}
		})
	}
	validate(t, "", docs...) // libxml2 agrees they are namespace well-formed
}

func TestSanitizeXML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain <a>text</a>", "plain <a>text</a>"},
		{"tab\tnl\ncr\r", "tab\tnl\ncr\r"},
		{"a\x00b\x01c\x1fd\x7fe", "abcd\x7fe"},
		{"bad \xff\xfe utf8", "bad  utf8"},
		{"surrogate \xed\xa0\x80 x", "surrogate  x"},
		{"nonchars \uFFFE\uFFFF ok \uFFFD", "nonchars  ok \uFFFD"},
		{"astral \U0001F600", "astral \U0001F600"},
		{"truncated \xe2\x82", "truncated "},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := string(SanitizeXML([]byte(tt.in)))
			if got != tt.want {
				t.Errorf("SanitizeXML(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !cleanXML([]byte(got)) {
				t.Errorf("result %q is not clean", got)
			}
		})
	}
}

func BenchmarkWriteSearchRetrieve(b *testing.B) {
	body, err := readFile(almaSamples + "slsp_nz_sru_searchRetrieve_20records_852.xml")
	if err != nil {
		b.Fatal(err)
	}
	p, err := ParsePage(body)
	if err != nil {
		b.Fatal(err)
	}
	res := &Result{Total: p.Total, NextPosition: p.Next}
	for _, r := range p.Records {
		res.Records = append(res.Records, Record{Data: r.Data, Identifier: r.Identifier, Position: r.Position})
	}
	req, d := ParseRequest(url.Values{"query": {"alma.title=data"}}, nil, Limits{})
	if d != nil {
		b.Fatal(d)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		WriteSearchRetrieve(&buf, req, res)
	}
	b.SetBytes(int64(buf.Len()))
}

func TestEchoUsesRequestQuery(t *testing.T) {
	req := mustRequest(t, "query", "TITLE = x")
	req.Query = req.Canonical
	var buf bytes.Buffer
	WriteSearchRetrieve(&buf, req, &Result{})
	if want := `<zs:query>alma.title=&quot;x&quot;</zs:query>`; !strings.Contains(buf.String(), want) {
		t.Errorf("echo lacks %s:\n%s", want, buf.String())
	}
}

// A record the caller promises is well-formed (transform's output) is
// written as given without the structural check; the promise is the
// caller's, so a broken one shows up as broken output, which is why the
// gateway makes it only for records it serialized itself.
func TestWriteRecordWellFormedPromise(t *testing.T) {
	req := mustRequest(t, "query", "x")
	var buf bytes.Buffer
	data := `<record xmlns="http://www.loc.gov/MARC21/slim"><leader>x</leader></record>`
	WriteSearchRetrieve(&buf, req, &Result{Total: 1, Records: []Record{{Data: []byte(data), Position: 1, WellFormed: true}}})
	if !strings.Contains(buf.String(), "<zs:recordPacking>xml</zs:recordPacking><zs:recordData>"+data+"</zs:recordData>") {
		t.Errorf("promised record not written as given:\n%s", buf.String())
	}
	buf.Reset()
	WriteSearchRetrieve(&buf, req, &Result{Total: 1, Records: []Record{{Data: []byte("<a><b></a>"), Position: 1, WellFormed: true}}})
	if !strings.Contains(buf.String(), "<zs:recordData><a><b></a></zs:recordData>") {
		t.Errorf("the promise was second-guessed:\n%s", buf.String())
	}
}

// TestInsertExtraIsWhatTheWriterWrites: marking a written response later
// gives the bytes WriteSearchRetrieve writes with Result.Extra set.
func TestInsertExtraIsWhatTheWriterWrites(t *testing.T) {
	extra := &Extra{Cache: "STALE", Stale: true, AsOf: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	for _, v := range versions {
		req := mustRequest(t, "version", string(v), "query", "alma.title = data", "maximumRecords", "2")
		for _, res := range []*Result{
			{Total: 20, Records: samplePage(t, 2), NextPosition: 3},
			{Diagnostics: []Diagnostic{*NewDiagnostic(61, "")}},
		} {
			var plain, marked bytes.Buffer
			WriteSearchRetrieve(&plain, req, res)
			withExtra := *res
			withExtra.Extra = extra
			WriteSearchRetrieve(&marked, req, &withExtra)
			if d := cmp.Diff(string(InsertExtra(plain.Bytes(), extra)), marked.String()); d != "" {
				t.Errorf("%s: InsertExtra differs from the writer (-inserted +written):\n%s", v, d)
			}
		}
	}
	if got := InsertExtra([]byte("<other/>"), extra); string(got) != "<other/>" {
		t.Errorf("a foreign body was changed: %s", got)
	}
}
