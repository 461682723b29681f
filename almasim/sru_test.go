package almasim

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSRUPaging(t *testing.T) {
	s := shared(t, 300)
	all, _ := s.Search("alma.title=history")
	if len(all) <= 60 {
		t.Fatalf("only %d history records; the test needs more than 60", len(all))
	}
	total := strconv.Itoa(len(all))
	tests := []struct {
		name, start, max string
		records          int
		first            int    // recordPosition of the first record
		next             string // "" when absent
	}{
		{"default page", "", "", 10, 1, "11"},
		{"page cap", "", "100", 50, 1, "51"},
		{"exactly the cap", "", "50", 50, 1, "51"},
		{"second page", "11", "10", 10, 11, "21"},
		{"last page", strconv.Itoa(len(all) - 4), "10", 5, len(all) - 4, ""},
		{"count only", "1", "0", 0, 0, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := sruParams("alma.title=history", "startRecord", tc.start, "maximumRecords", tc.max)
			q = strings.ReplaceAll(strings.ReplaceAll(q, "startRecord=&", ""), "&maximumRecords=", "")
			_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+q)
			if got := firstTag(t, body, "numberOfRecords"); got != total {
				t.Errorf("numberOfRecords %s, want %s", got, total)
			}
			ids := allTags(t, body, "recordIdentifier")
			if len(ids) != tc.records {
				t.Fatalf("%d records, want %d", len(ids), tc.records)
			}
			pos := allTags(t, body, "recordPosition")
			for i, id := range ids {
				if want := all[tc.first-1+i]; id != want {
					t.Errorf("record %d is %s, want %s", i, id, want)
				}
				if pos[i] != strconv.Itoa(tc.first+i) {
					t.Errorf("recordPosition %s, want %d", pos[i], tc.first+i)
				}
			}
			if got := firstTag(t, body, "nextRecordPosition"); got != tc.next {
				t.Errorf("nextRecordPosition %q, want %q", got, tc.next)
			}
			if tc.records == 0 && !bytes.Contains(body, []byte("<records/>")) {
				t.Error("no <records/> on an empty page")
			}
		})
	}
}

func TestSRUPositionCap(t *testing.T) {
	s := shared(t, 10050)
	if n, _ := s.Search("cql.allRecords=1"); len(n) != 10050 {
		t.Fatalf("%d records", len(n))
	}
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("cql.allRecords=1", "startRecord", "9991", "maximumRecords", "50"))
	if got := firstTag(t, body, "numberOfRecords"); got != "10050" {
		t.Errorf("numberOfRecords %s", got)
	}
	pos := allTags(t, body, "recordPosition")
	if len(pos) != 10 || pos[9] != "10000" {
		t.Errorf("positions %v, want 9991..10000", pos)
	}
	if bytes.Contains(body, []byte("nextRecordPosition")) {
		t.Error("nextRecordPosition past position 10,000")
	}
	_, body = do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("cql.allRecords=1", "startRecord", "10001"))
	if got := firstTag(t, body, "uri"); got != "info:srw/diagnostic/1/61" {
		t.Errorf("startRecord 10001: %q, want diagnostic 61", got)
	}
}

func TestSRUParameterDiagnostics(t *testing.T) {
	s := shared(t, 300)
	base := "/view/sru/" + s.NetworkCode() + "?"
	tests := []struct {
		name, query, uri, details string
	}{
		{"version 1.1", "version=1.1&operation=searchRetrieve&query=x", "info:srw/diagnostic/1/5", "1.2"},
		{"version 2.0", "version=2.0&operation=explain", "info:srw/diagnostic/1/5", "1.2"},
		{"scan", "version=1.2&operation=scan&scanClause=alma.title%3Dx", "info:srw/diagnostic/1/4", "scan"},
		{"no query", "version=1.2&operation=searchRetrieve", "info:srw/diagnostic/1/7", "query"},
		{"query without operation", "version=1.2&query=x", "info:srw/diagnostic/1/7", "operation"},
		{"bad startRecord", sruParams("x", "startRecord", "0"), "info:srw/diagnostic/1/6", "startRecord"},
		{"bad maximumRecords", sruParams("x", "maximumRecords", "ten"), "info:srw/diagnostic/1/6", "maximumRecords"},
		{"start past the hits", sruParams("alma.mms_id="+s.Records()[0].MMSID, "startRecord", "2"), "info:srw/diagnostic/1/61", "2"},
		{"unknown schema", sruParams("x", "recordSchema", "mods"), "info:srw/diagnostic/1/66", "mods"},
		{"unknown packing", sruParams("x", "recordPacking", "json"), "info:srw/diagnostic/1/71", "json"},
		{"syntax", sruParams("alma.title=("), "info:srw/diagnostic/1/10", "alma.title=("},
		{"relation", sruParams("alma.title adj x"), "info:srw/diagnostic/1/19", "adj"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := do(t, s.Handler(), "GET", base+tc.query)
			if res.StatusCode != 200 {
				t.Errorf("status %d, want 200", res.StatusCode)
			}
			if got := firstTag(t, body, "uri"); got != tc.uri {
				t.Errorf("uri %q, want %q\n%s", got, tc.uri, body)
			}
			if got := firstTag(t, body, "details"); got != tc.details {
				t.Errorf("details %q, want %q", got, tc.details)
			}
		})
	}
}

func TestSRUSchemasAndPacking(t *testing.T) {
	s := shared(t, 300)
	id := s.Records()[0].MMSID
	rec, _ := s.Record(id)
	for _, schema := range []string{"marcxml", "info:srw/schema/1/marcxml-v1.1", "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"} {
		_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.mms_id="+id, "recordSchema", schema))
		if !bytes.Contains(body, rec.MARCXML) {
			t.Errorf("recordSchema %s: the record is not in the answer", schema)
		}
	}
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.mms_id="+id, "recordPacking", "string"))
	data := firstTag(t, body, "recordData")
	if strings.TrimSpace(data) != string(rec.MARCXML) {
		t.Errorf("string packing: recordData does not unescape to the record:\n%.300s", data)
	}
	if firstTag(t, body, "recordPacking") != "string" {
		t.Error("recordPacking not echoed")
	}
}

func TestSRUMemberZoneAndUnknownInstitution(t *testing.T) {
	s := shared(t, 300)
	m := s.Members()[1]
	res, body := do(t, s.Handler(), "GET", "/view/sru/"+m.Code+"?"+sruParams("alma.title=history"))
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, id := range allTags(t, body, "recordIdentifier") {
		if !strings.HasSuffix(id, m.Suffix) {
			t.Errorf("IZ answer holds %s, not a %s record", id, m.Code)
		}
		r, _ := s.Record(id)
		if r.Institution != m.Code || r.NZMMSID == "" {
			t.Errorf("record %s: institution %s, NZ %q", id, r.Institution, r.NZMMSID)
		}
	}
	res, _ = do(t, s.Handler(), "GET", "/view/sru/NOPE_INST?"+sruParams("x"))
	if res.StatusCode != 404 {
		t.Errorf("unknown institution: status %d, want 404", res.StatusCode)
	}
}

func TestSRUAnswersAreWellFormedExceptTheControlCharRecord(t *testing.T) {
	s := shared(t, 5000)
	all, _ := s.Search("cql.allRecords=1")
	for start := 1; start <= len(all); start += 50 {
		_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("cql.allRecords=1", "startRecord", strconv.Itoa(start), "maximumRecords", "50"))
		if err := wellFormed(body); err != nil {
			t.Fatalf("page at %d is not well-formed: %v", start, err)
		}
		if bytes.Contains(body, []byte(s.ControlCharMMSID())) {
			t.Fatal("the control-character record appears in an ordinary answer")
		}
	}
	for _, q := range []string{"alma.title=control", "alma.all_for_ui=characters", "alma.main_pub_date=2020", "alma.mms_id>1"} {
		ids, _ := s.Search(q)
		for _, id := range ids {
			if id == s.ControlCharMMSID() {
				t.Errorf("%s finds the control-character record", q)
			}
		}
	}
	_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.mms_id=="+s.ControlCharMMSID()))
	if !bytes.Contains(body, []byte("\x01")) || !bytes.Contains(body, []byte("\x0b")) || !bytes.Contains(body, []byte("\uFFFE")) {
		t.Error("the control-character record lacks its forbidden characters")
	}
	if wellFormed(body) == nil {
		t.Error("the control-character answer parses as XML 1.0")
	}
}

func TestSRUNamespaceVariants(t *testing.T) {
	s := shared(t, 300)
	recs := s.Records()
	cases := []struct {
		rec         Record
		open, space string
	}{
		{recs[0], `<record xmlns="http://www.loc.gov/MARC21/slim">`, marcNS},
		{recs[2], `<record xmlns="">`, ""},
		{recs[6], `<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim">`, marcNS},
	}
	for _, c := range cases {
		_, body := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("alma.mms_id="+c.rec.MMSID))
		if !bytes.Contains(body, []byte("<recordData>\n        "+c.open)) {
			t.Errorf("%s: recordData does not open with %s", c.rec.MMSID, c.open)
		}
		want := strings.Repeat(" ", 5) + c.space + " record" // the MARC root sits at depth 5
		if sh := shape(t, body, "recordData"); !slices.Contains(sh, want) {
			t.Errorf("%s: MARC root not in namespace %q: %q", c.rec.MMSID, c.space, sh)
		}
	}
}
