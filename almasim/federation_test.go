package almasim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ext2 builds an SRU 2.0 searchRetrieve query string for the external target.
func ext2(query string, extra ...string) string {
	q := url.Values{"query": {query}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return externalPath + "?" + q.Encode()
}

func TestLocalOnlyRecords(t *testing.T) {
	s := shared(t, 300)
	for _, m := range s.Members() {
		local := s.LocalOnly(m.Code)
		if got, want := len(local), 3; got != want {
			t.Fatalf("%s: %d local-only records, want %d", m.Code, got, want)
		}
		for _, r := range local {
			if r.NZMMSID != "" || r.CZMMSID != "" || len(r.Avail) == 0 {
				t.Errorf("%s %s: NZ %q CZ %q, %d availability fields; want no links and inventory", m.Code, r.MMSID, r.NZMMSID, r.CZMMSID, len(r.Avail))
			}
			if !strings.HasSuffix(r.MMSID, m.Suffix) {
				t.Errorf("%s: local record %s lacks the member's suffix %s", m.Code, r.MMSID, m.Suffix)
			}
			if w, _ := s.Work(m.Code, r.MMSID); w != m.Code+":"+r.MMSID {
				t.Errorf("Work(%s, %s) = %q, a work of its own", m.Code, r.MMSID, w)
			}
			// Reachable over the member's IZ SRU, with AVA/AVE and no EXLNZ link.
			res, body := do(t, s.Handler(), "GET", "/view/sru/"+m.Code+"?"+sruParams("alma.mms_id="+r.MMSID))
			if res.StatusCode != 200 || firstTag(t, body, "numberOfRecords") != "1" {
				t.Fatalf("IZ SRU for %s: %d %.300s", r.MMSID, res.StatusCode, body)
			}
			var avail int
			for _, f := range datafields(t, body) {
				switch f.Tag {
				case "AVA", "AVE", "AVD":
					avail++
				case "035":
					if v := f.sub("a"); len(v) > 0 && strings.HasPrefix(v[0], "(EXLNZ-") {
						t.Errorf("local-only %s carries %s", r.MMSID, v[0])
					}
				}
			}
			if avail == 0 {
				t.Errorf("local-only %s: no AVA/AVE/AVD in the IZ SRU record", r.MMSID)
			}
			if _, ok := s.Record(r.MMSID); !ok {
				t.Errorf("Record(%s) does not find a local-only record", r.MMSID)
			}
		}
	}
}

func TestMemberCopiesAreTheNZWork(t *testing.T) {
	s := shared(t, 300)
	ids := map[string]bool{}
	for _, nz := range s.Records() {
		if w, ok := s.Work(s.NetworkCode(), nz.MMSID); !ok || w != nz.MMSID {
			t.Fatalf("Work(nz, %s) = %q %v", nz.MMSID, w, ok)
		}
		for _, h := range nz.Holdings {
			if ids[h.Institution+h.IZMMSID] {
				t.Errorf("IZ MMS ID %s of %s drawn twice", h.IZMMSID, h.Institution)
			}
			ids[h.Institution+h.IZMMSID] = true
			iz, ok := s.Record(h.IZMMSID)
			if !ok || iz.NZMMSID != nz.MMSID {
				t.Fatalf("IZ copy %s: %v, NZ link %q, want %s", h.IZMMSID, ok, iz.NZMMSID, nz.MMSID)
			}
			if !s.SameWork(s.NetworkCode(), nz.MMSID, h.Institution, h.IZMMSID) {
				t.Errorf("SameWork(nz %s, %s %s) = false", nz.MMSID, h.Institution, h.IZMMSID)
			}
		}
	}
	if s.SameWork(s.NetworkCode(), s.Records()[0].MMSID, s.NetworkCode(), s.Records()[1].MMSID) {
		t.Error("two NZ records are one work")
	}
	if s.SameWork(s.NetworkCode(), "nope", s.NetworkCode(), "nope") {
		t.Error("an unknown record is a work")
	}
}

// normISBN makes ISBN-10, hyphenated and plain ISBN-13 comparable.
func normISBN(s string) string {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) == 10 {
		s = "978" + s[:9]
		sum := 0
		for i, c := range s {
			d := int(c - '0')
			if i%2 == 1 {
				d *= 3
			}
			sum += d
		}
		s += string(rune('0' + (10-sum%10)%10))
	}
	return s
}

func TestExternalRecordsOverlapByIdentifiers(t *testing.T) {
	s := shared(t, 300)
	ext := s.ExternalRecords()
	var copies, only, byISBN, byOCLC, byKey int
	for _, r := range ext {
		if r.Institution != ExternalTarget || !strings.HasPrefix(r.MMSID, "UC") {
			t.Fatalf("external record %s of %q", r.MMSID, r.Institution)
		}
		fields := datafields(t, r.MARCXML)
		var isbns, oclcs []string
		for _, f := range fields {
			switch f.Tag {
			case "852":
				t.Errorf("external %s carries an 852", r.MMSID)
			case "020":
				isbns = append(isbns, normISBN(f.sub("a")[0]))
			case "035":
				v := f.sub("a")[0]
				if !strings.HasPrefix(v, "(OCoLC)ocm") {
					t.Errorf("external %s: 035 %s, want only (OCoLC)ocm… numbers", r.MMSID, v)
				}
				oclcs = append(oclcs, "(OCoLC)"+strings.TrimPrefix(v, "(OCoLC)ocm"))
			}
		}
		if w := r.Work; strings.HasPrefix(w, ExternalTarget+":") {
			only++
			continue
		}
		copies++
		nz, ok := s.Record(r.Work)
		if !ok {
			t.Fatalf("external %s: work %s is no NZ record", r.MMSID, r.Work)
		}
		var nzOCLC []string
		for _, f := range datafields(t, nz.MARCXML) {
			if f.Tag == "035" && strings.HasPrefix(f.sub("a")[0], "(OCoLC)") {
				nzOCLC = append(nzOCLC, f.sub("a")[0])
			}
		}
		shares := false
		for _, i := range isbns {
			if slices.Contains(nz.ISBNs, i) || slices.ContainsFunc(nz.ISBNs, func(n string) bool { return normISBN(n) == i }) {
				shares, byISBN = true, byISBN+1
			}
		}
		for _, o := range oclcs {
			if slices.Contains(nzOCLC, o) {
				shares, byOCLC = true, byOCLC+1
			}
		}
		if len(nz.ISSNs) > 0 && slices.Equal(nz.ISSNs, r.ISSNs) {
			shares = true
		}
		if !shares {
			if len(nz.ISBNs) > 0 || len(nzOCLC) > 0 || len(nz.ISSNs) > 0 {
				t.Errorf("external %s shares no identifier with NZ %s that has some", r.MMSID, nz.MMSID)
			}
			if r.Title != nz.Title || r.Year != nz.Year || !slices.Equal(r.Authors, nz.Authors) {
				t.Errorf("external %s (no identifiers) differs from NZ %s: %q %q", r.MMSID, nz.MMSID, r.Title, nz.Title)
			}
			byKey++
		}
	}
	t.Logf("external target: %d records, %d copies of NZ records (%d by ISBN, %d by OCLC, %d by title/author/year only), %d of its own",
		len(ext), copies, byISBN, byOCLC, byKey, only)
	if copies == 0 || only != 15 || byISBN == 0 || byOCLC == 0 || byKey == 0 {
		t.Errorf("every kind of overlap should occur: %d copies, %d own, %d ISBN, %d OCLC, %d key", copies, only, byISBN, byOCLC, byKey)
	}
}

func TestExternalSRU2(t *testing.T) {
	s := shared(t, 300)
	h := s.Handler()
	title := s.ExternalRecords()[0].Title
	word := strings.Fields(title)[len(strings.Fields(title))-1]
	res, body := do(t, h, "GET", ext2(`dc.title="`+word+`"`, "maximumRecords", "100"))
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/sru+xml") {
		t.Fatalf("external search: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if err := wellFormed(body); err != nil {
		t.Fatal(err)
	}
	want, err := s.SearchIn(ExternalTarget, `dc.title="`+word+`"`)
	if err != nil || len(want) == 0 {
		t.Fatalf("SearchIn(ext): %v %v", want, err)
	}
	if got := firstTag(t, body, "numberOfRecords"); got != itoa(len(want)) {
		t.Errorf("numberOfRecords %s, want %d", got, len(want))
	}
	recs := allTags(t, body, "recordPosition")
	if len(recs) != min(len(want), 25) {
		t.Errorf("%d records on a page asked for 100, want at most 25 (of %d)", len(recs), len(want))
	}
	sh := shape(t, body, "recordData")
	if sh[0] != " "+sru2NS+" searchRetrieveResponse" || !slices.Contains(sh, "    "+sru2NS+" recordXMLEscaping") {
		t.Errorf("not an SRU 2.0 envelope: %v", sh[:min(8, len(sh))])
	}
	if slices.Contains(sh, "    "+sru2NS+" recordIdentifier") || strings.Contains(string(body), "recordPacking") {
		t.Error("SRU 2.0 answer carries 1.2 elements")
	}

	// Alma's index names are unknown there; dc and bath answer.
	for _, tc := range []struct{ query, uri string }{
		{`alma.title="` + word + `"`, "info:srw/diagnostic/1/16"},
		{`bath.isbn=` + s.Records()[0].ISBNs[0], ""},
		{`cql.serverChoice="` + word + `"`, ""},
	} {
		_, body := do(t, h, "GET", ext2(tc.query))
		got := firstTag(t, body, "uri")
		if got != tc.uri {
			t.Errorf("%s: diagnostic %q, want %q\n%.400s", tc.query, got, tc.uri, body)
		}
	}
	_, body = do(t, h, "GET", externalPath+"?version=1.2&operation=searchRetrieve&query=x")
	if got := firstTag(t, body, "uri"); got != "info:srw/diagnostic/1/5" {
		t.Errorf("version 1.2 asked of the SRU 2.0 target: %q", got)
	}
	_, body = do(t, h, "GET", externalPath)
	if sh := shape(t, body, ""); sh[0] != " "+sru2NS+" explainResponse" || !strings.Contains(string(body), `<name set="dc">title</name>`) ||
		!strings.Contains(string(body), `<name set="bath">isbn</name>`) || strings.Contains(string(body), "alma") {
		t.Errorf("external explain:\n%s", body)
	}
}

func TestTargetFaultsAreSeparate(t *testing.T) {
	s, srv := startSim(t, Config{Records: 60})
	m := s.Members()
	paths := map[string]string{
		s.NetworkCode(): "/view/sru/" + s.NetworkCode() + "?" + sruParams("alma.title=history"),
		m[0].Code:       "/view/sru/" + m[0].Code + "?" + sruParams("alma.title=history"),
		m[1].Code:       "/view/sru/" + m[1].Code + "?" + sruParams("alma.title=history"),
		ExternalTarget:  ext2("dc.title=history"),
	}
	status := func() map[string]int {
		out := map[string]int{}
		for name, p := range paths {
			res, _, err := get(t, http.DefaultClient, srv.URL()+p)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = res.StatusCode
		}
		return out
	}
	for _, target := range []string{m[0].Code, ExternalTarget, s.NetworkCode()} {
		s.ResetCounters()
		if !s.SetTargetFault(target, Fault{Kind: Fault500}) {
			t.Fatalf("SetTargetFault(%s) refused", target)
		}
		want := map[string]int{s.NetworkCode(): 200, m[0].Code: 200, m[1].Code: 200, ExternalTarget: 200}
		want[target] = 500
		if diff := cmp.Diff(want, status()); diff != "" {
			t.Errorf("500 on %s only (-want +got):\n%s", target, diff)
		}
		for name := range paths {
			if got := s.CountTarget(name); got != 1 {
				t.Errorf("CountTarget(%s) = %d after one request", name, got)
			}
		}
		s.ClearFaults()
	}
	if s.SetTargetFault("NOPE", Fault{Kind: Fault500}) {
		t.Error("a fault on an unknown target was accepted")
	}

	// A target's fault wins over the endpoint's, and is cleared on its own.
	s.SetFault(EndpointSRU, Fault{Kind: Fault429})
	s.SetTargetFault(ExternalTarget, Fault{Kind: FaultMalformed, Times: 1})
	got := status()
	if got[ExternalTarget] != 200 || got[m[1].Code] != 429 {
		t.Errorf("target fault under an endpoint fault: %v", got)
	}
	if f := s.TargetFaults(); len(f) != 0 {
		t.Errorf("a Times=1 target fault is still active: %v", f)
	}
	s.ClearFaults()

	// Over HTTP.
	ctl := srv.URL() + "/_sim/"
	code, body := call(t, "POST", ctl+"faults", `{"endpoint":"sru","target":"`+m[1].Code+`","kind":"hang"}`)
	if code != 200 || !strings.Contains(string(body), `"target:`+m[1].Code+`"`) {
		t.Fatalf("POST target fault: %d %s", code, body)
	}
	if f := s.TargetFaults()[m[1].Code]; f.Kind != FaultHang {
		t.Errorf("target fault over HTTP: %+v", f)
	}
	if code, body := call(t, "POST", ctl+"faults", `{"endpoint":"bibs","target":"ext","kind":"500"}`); code != 400 {
		t.Errorf("a bibs target fault: %d %s", code, body)
	}
	if code, body := call(t, "POST", ctl+"faults", `{"endpoint":"sru","target":"NOPE","kind":"500"}`); code != 400 {
		t.Errorf("an unknown target: %d %s", code, body)
	}
	call(t, "DELETE", ctl+"faults", "")
	if f := s.TargetFaults(); len(f) != 0 {
		t.Errorf("DELETE /_sim/faults left %v", f)
	}
	code, body = call(t, "GET", ctl+"counters", "")
	var counters struct {
		SRU     int64            `json:"sru"`
		Targets map[string]int64 `json:"targets"`
	}
	if err := json.Unmarshal(body, &counters); code != 200 || err != nil {
		t.Fatalf("counters: %d %v %s", code, err, body)
	}
	if counters.Targets[ExternalTarget] != s.CountTarget(ExternalTarget) || len(counters.Targets) != len(s.Targets()) {
		t.Errorf("counters over HTTP: %s", body)
	}
}

func TestWorksOverHTTP(t *testing.T) {
	s, srv := startSim(t, Config{Records: 60})
	code, body := call(t, "GET", srv.URL()+"/_sim/works", "")
	var works map[string]map[string]string
	if err := json.Unmarshal(body, &works); code != 200 || err != nil {
		t.Fatalf("/_sim/works: %d %v", code, err)
	}
	if diff := cmp.Diff(s.Works(), works); diff != "" {
		t.Errorf("/_sim/works (-Works +HTTP):\n%s", diff)
	}
	code, body = call(t, "GET", srv.URL()+"/_sim/works?target=ext", "")
	works = nil
	if err := json.Unmarshal(body, &works); code != 200 || err != nil || len(works) != 1 || len(works["ext"]) != len(s.ExternalRecords()) {
		t.Errorf("/_sim/works?target=ext: %d %v %d targets", code, err, len(works))
	}
	if code, _ := call(t, "GET", srv.URL()+"/_sim/works?target=NOPE", ""); code != 404 {
		t.Errorf("unknown target: %d", code)
	}
}
