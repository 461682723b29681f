package sru

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSynonymsOnInput(t *testing.T) {
	tests := []struct{ query, want string }{
		{`dc.title="data"`, `alma.title="data"`},
		{`DC.Creator=smith and bath.isbn=978`, `alma.creator="smith" and alma.isbn="978"`},
		{`bath.standardIdentifier="(OCoLC)1"`, `alma.other_system_number="(OCoLC)1"`},
		{`cql.serverChoice=x or dc.subject=y`, `alma.all_for_ui="x" or alma.subjects="y"`},
	}
	for _, tt := range tests {
		q, d := ParseQuery(tt.query, nil)
		if d != nil {
			t.Errorf("ParseQuery(%q): %v", tt.query, d)
			continue
		}
		if q.Canonical != tt.want {
			t.Errorf("ParseQuery(%q) = %q, want %q", tt.query, q.Canonical, tt.want)
		}
	}
}

func TestMapQuery(t *testing.T) {
	dcMap := map[string]string{"alma.title": "dc.title", "alma.creator": "dc.creator", "alma.all_for_ui": "cql.serverChoice", "alma.main_pub_date": "dc.date"}
	tests := []struct {
		name, query string
		m           map[string]string
		want        string
		diag        string
	}{
		{"no map: unchanged", `alma.title=x`, nil, `alma.title="x"`, ""},
		{"mapped", `alma.title="a b" and (alma.creator=c or history)`, dcMap, `dc.title="a b" and (dc.creator="c" or cql.serverChoice="history")`, ""},
		{"relations and modifiers stay", `alma.main_pub_date>=2000 not alma.title=x`, dcMap, `dc.date>="2000" not dc.title="x"`, ""},
		{"an index the map lacks", `alma.title=x and alma.isbn=1`, dcMap, "", "alma.isbn"},
		{"a sort key the map lacks is dropped", `alma.title=x sortBy alma.title/sort.descending`, map[string]string{"alma.title": "dc.title"}, `dc.title="x" sortBy dc.title/sort.descending`, ""},
		{"an unmappable sort key", `alma.title=x sortBy alma.main_pub_date`, map[string]string{"alma.title": "dc.title"}, `dc.title="x"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, d := ParseQuery(tt.query, nil)
			if d != nil {
				t.Fatal(d)
			}
			before := Canonical(q.CQL)
			got, diag := MapQuery(q.CQL, tt.m)
			switch {
			case tt.diag != "":
				if diag == nil || diag.Number() != 16 || diag.Details != tt.diag {
					t.Errorf("MapQuery = %q, %v; want diagnostic 16 %s", got, diag, tt.diag)
				}
			case diag != nil:
				t.Errorf("MapQuery: %v", diag)
			case got != tt.want:
				t.Errorf("MapQuery = %q, want %q", got, tt.want)
			}
			if after := Canonical(q.CQL); after != before {
				t.Errorf("MapQuery changed its input: %q → %q", before, after)
			}
		})
	}
}

const sru2Page = `<?xml version="1.0"?>
<searchRetrieveResponse xmlns="http://docs.oasis-open.org/ns/search-ws/sruResponse">
 <version>2.0</version><numberOfRecords>30</numberOfRecords>
 <records>
  <record><recordSchema>info:srw/schema/1/marcxml-v1.1</recordSchema><recordXMLEscaping>string</recordXMLEscaping>
   <recordData>&lt;record xmlns="http://www.loc.gov/MARC21/slim"&gt;&lt;controlfield tag="001"&gt;UC1&lt;/controlfield&gt;&lt;/record&gt;</recordData>
   <recordPosition>1</recordPosition></record>
  <record><recordSchema>info:srw/schema/1/marcxml-v1.1</recordSchema><recordPacking>packed</recordPacking><recordXMLEscaping>xml</recordXMLEscaping>
   <recordData><record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">UC2</controlfield></record></recordData>
   <recordPosition>2</recordPosition></record>
 </records>
 <nextRecordPosition>3</nextRecordPosition>
</searchRetrieveResponse>`

func TestClientOtherVersionsAndKey(t *testing.T) {
	var got []url.Values
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Query())
		auth = append(auth, r.Header.Get("Authorization"))
		w.Write([]byte(sru2Page))
	}))
	defer srv.Close()
	for _, c := range []*Client{
		{BaseURL: srv.URL, HTTP: srv.Client(), Version: "2.0", PageMax: 25, APIKey: "l8xxsecret"},
		{BaseURL: srv.URL, HTTP: srv.Client(), Version: "1.1"},
	} {
		page, err := c.Search(context.Background(), SearchParams{Query: `dc.title="x"`, Start: 1, Max: 100, Schema: "info:srw/schema/1/marcxml-v1.1"})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 30 || len(page.Records) != 2 || page.Next != 3 || page.Records[0].Packing != "string" || page.Records[1].Packing != "xml" {
			t.Errorf("SRU 2.0 page: total %d, %d records, next %d, %+v", page.Total, len(page.Records), page.Next, page.Records)
		}
		if string(page.Records[0].Data) != `<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">UC1</controlfield></record>` {
			t.Errorf("an escaped 2.0 record: %s", page.Records[0].Data)
		}
	}
	want := []url.Values{
		{"version": {"2.0"}, "recordXMLEscaping": {"xml"}, "recordSchema": {"info:srw/schema/1/marcxml-v1.1"}, "query": {`dc.title="x"`}, "startRecord": {"1"}, "maximumRecords": {"25"}},
		{"version": {"1.1"}, "operation": {"searchRetrieve"}, "recordSchema": {"info:srw/schema/1/marcxml-v1.1"}, "query": {`dc.title="x"`}, "startRecord": {"1"}, "maximumRecords": {"50"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"apikey l8xxsecret", ""}, auth); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

func TestWriteExtraTargets(t *testing.T) {
	for _, v := range []string{"1.1", "1.2", "2.0"} {
		req, d := ParseRequest(url.Values{"version": {v}, "query": {"history"}}, nil, Limits{})
		if d != nil {
			t.Fatal(d)
		}
		var buf bytes.Buffer
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		WriteSearchRetrieve(&buf, req, &Result{Extra: &Extra{Cache: "MISS", Targets: []ExtraTarget{
			{Name: "nz", Status: "ok", Hits: 12, Fetched: 10, TookMS: 31, AsOf: at},
			{Name: "loc", Status: "timeout", TookMS: 3000, Diagnostic: NewDiagnostic(1, "did not answer")},
		}}})
		out := buf.String()
		for _, want := range []string{
			`<gw:targets><gw:target name="nz" status="ok" hits="12" fetched="10" tookMs="31" asOf="2026-12-01T10:00:00Z"/>`,
			`<gw:target name="loc" status="timeout" hits="0" fetched="0" tookMs="3000"><gw:diagnostic><gw:uri>info:srw/diagnostic/1/1</gw:uri>`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %s in\n%s", v, want, out)
			}
		}
		if err := xml.Unmarshal(buf.Bytes(), new(struct{})); err != nil {
			t.Errorf("%s: not well-formed: %v", v, err)
		}
	}
}
