package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "alma", name)) // sources in its SOURCES.md
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkWellFormed fails unless b is well-formed XML (encoding/xml reads
// it to the end without error).
func checkWellFormed(t testing.TB, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b)
		}
	}
}

// bibsAPIJSONRecord returns the MARC record inside the Bibs API JSON
// sample's "anies", as Go decodes it: UTF-8, whatever its declaration says.
func bibsAPIJSONRecord(t testing.TB) []byte {
	t.Helper()
	var body struct {
		Bib []struct {
			Anies []string `json:"anies"`
		} `json:"bib"`
	}
	if err := json.Unmarshal(readTestdata(t, "princeton_bibs_api_json_anies_AVA_unavailable.json"), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Bib) != 1 || len(body.Bib[0].Anies) != 1 {
		t.Fatalf("unexpected sample shape: %+v", body)
	}
	return []byte(body.Bib[0].Anies[0])
}

var goldenInputs = []struct {
	name string
	file string // in testdata; "" means the Bibs API JSON's anies record
}{
	{"slsp_page", "slsp_nz_sru_searchRetrieve_20records_852.xml"},
	{"slsp_single", "slsp_nz_sru_mms_id_single_record_852.xml"},
	{"princeton_legacy852", "princeton_iz_sru_AVA_summary_holdings_plus_legacy_852.xml"},
	{"princeton_ave", "princeton_iz_sru_AVE.xml"},
	{"zero_hits", "princeton_iz_sru_zero_hits.xml"},
	{"bibs_api_xml", "bibs_api_bib.xml"},
	{"bibs_api_json", ""},
}

func goldenInput(t testing.TB, file string) []byte {
	if file == "" {
		return bibsAPIJSONRecord(t)
	}
	return readTestdata(t, file)
}

// TestGolden converts every sample to every format and compares with the
// golden files; the outputs must also be valid JSON / well-formed XML.
func TestGolden(t *testing.T) {
	for _, in := range goldenInputs {
		for _, format := range []string{"json", "marcxml", "dc"} {
			t.Run(in.name+"/"+format, func(t *testing.T) {
				var out bytes.Buffer
				_, err := Convert(context.Background(), &out, bytes.NewReader(goldenInput(t, in.file)), format, nil)
				if err != nil {
					t.Fatalf("Convert: %v", err)
				}
				if format == "marcxml" {
					sc := NewScanner(bytes.NewReader(out.Bytes()))
					for sc.Scan() {
						checkMARCSchema(t, sc.Bytes())
					}
				}
				if format == "json" {
					if !json.Valid(out.Bytes()) {
						t.Fatalf("invalid JSON:\n%s", out.Bytes())
					}
				} else {
					checkWellFormed(t, out.Bytes())
				}
				ext := map[string]string{"json": ".json", "marcxml": ".marc.xml", "dc": ".dc.xml"}[format]
				golden(t, in.name+ext, out.Bytes())
			})
		}
	}
}

// TestGoldenAvailability writes the availability JSON of the samples that
// carry AVA/AVE fields.
func TestGoldenAvailability(t *testing.T) {
	for _, in := range goldenInputs {
		t.Run(in.name, func(t *testing.T) {
			sc := NewScanner(bytes.NewReader(goldenInput(t, in.file)))
			var all []Availability
			for sc.Scan() {
				r, err := Parse(sc.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, r.Availability...)
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if all == nil {
				all = []Availability{}
			}
			b, err := json.MarshalIndent(all, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, in.name+".availability.json", append(b, '\n'))
		})
	}
}

func parseAll(t testing.TB, data []byte) []*Record {
	t.Helper()
	sc := NewScanner(bytes.NewReader(data))
	var recs []*Record
	for sc.Scan() {
		r, err := Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestSLSPPage(t *testing.T) {
	recs := parseAll(t, readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml"))
	if got, want := len(recs), 10; got != want {
		t.Fatalf("got %d records, want %d", got, want)
	}
	holdings := 0
	for _, r := range recs {
		holdings += len(r.Holdings)
		for _, h := range r.Holdings {
			if diff := cmp.Diff([]string{"print"}, h.Types); diff != "" {
				t.Errorf("%s %s types (-want +got):\n%s", r.MMSID, h.Institution, diff)
			}
			if h.IZMMSID == "" {
				t.Errorf("%s %s: iz_mms_id missing", r.MMSID, h.Institution)
			}
		}
	}
	if got, want := holdings, 46; got != want {
		t.Errorf("got %d member holdings, want %d", got, want)
	}
	got := recs[0].Feed(1)
	iz := func(s string) *string { return &s }
	want := FeedRecord{
		Position: 1, MMSID: "991070031889705501",
		Title:   "Aesthetik der bildenden Kunst ; Über das Studium der Geschichte",
		Authors: []string{"Burckhardt, Jacob", "Ganz, Peter", "Ganz, Peter F."},
		ISBNs:   []string{"3406441823"}, ISSNs: []string{},
		Publisher: "Beck", Year: "2000", Language: "ger",
		Holdings: []FeedHolding{
			{"41SLSP_RZH", nil, iz("990041027180205526"), []string{"print"}},
			{"41SLSP_UZB", nil, iz("990041027180205508"), []string{"print"}},
			{"41SLSP_HSG", nil, iz("995042230105506"), []string{"print"}},
			{"41SLSP_UBE", nil, iz("99116749007205511"), []string{"print"}},
			{"41SLSP_RZS", nil, iz("993580630105505"), []string{"print"}},
			{"41SLSP_ZBS", nil, iz("9920274990105528"), []string{"print"}},
			{"41SLSP_UBS", nil, iz("9920274990105504"), []string{"print"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first record (-want +got):\n%s", diff)
	}
}

func TestSLSPSingleRecord(t *testing.T) {
	recs := parseAll(t, readTestdata(t, "slsp_nz_sru_mms_id_single_record_852.xml"))
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	if got, want := len(recs[0].Holdings), 12; got != want {
		t.Errorf("got %d member holdings, want %d", got, want)
	}
	if got, want := recs[0].MMSID, "991012502969705501"; got != want {
		t.Errorf("mms id: got %q, want %q", got, want)
	}
}

func TestPrincetonLegacy852Ignored(t *testing.T) {
	recs := parseAll(t, readTestdata(t, "princeton_iz_sru_AVA_summary_holdings_plus_legacy_852.xml"))
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	r := recs[0]
	if len(r.Holdings) != 0 {
		t.Errorf("got holdings %+v from cataloguing 852s, want none", r.Holdings)
	}
	if got, want := len(r.Availability), 6; got != want {
		t.Fatalf("got %d availability entries, want %d", got, want)
	}
	s := func(v string) *string { return &v }
	n := func(v int) *int { return &v }
	want := Availability{
		Kind: "physical", Institution: s("01PRI_INST"), Library: s("firestone"),
		LibraryName: s("Firestone Library"), Location: s("stacks"), LocationName: s("Stacks"),
		CallNumber: s("Q1 .S3543"), Status: s("available"), Total: n(650), Unavailable: n(0), Available: n(650),
	}
	if diff := cmp.Diff(want, r.Availability[0]); diff != "" {
		t.Errorf("first AVA (-want +got):\n%s", diff)
	}
	// The last AVA (check_holdings) has no $f and $g: counts are null.
	last := r.Availability[5]
	if last.Total != nil || last.Unavailable != nil || last.Available != nil {
		t.Errorf("got counts %v %v %v for an AVA without $f/$g, want nil", last.Total, last.Unavailable, last.Available)
	}
	b, err := json.Marshal(last)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"total":null,"unavailable":null,"available":null`) {
		t.Errorf("got %s, want null counts", b)
	}
}

func TestAVE(t *testing.T) {
	recs := parseAll(t, readTestdata(t, "princeton_iz_sru_AVE.xml"))
	if len(recs) != 1 || len(recs[0].Availability) != 1 {
		t.Fatalf("want one record with one AVE, got %d records", len(recs))
	}
	b, err := json.Marshal(recs[0].Availability[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"electronic","institution":"01PRI_INST","collection":"U.K. parliamentary papers.","interface":null,"coverage":null,"url":null,"status":"available"}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("AVE JSON (-want +got):\n%s", diff)
	}
}

func TestBibsAPIJSONDeclaredUTF16(t *testing.T) {
	r, err := Parse(bibsAPIJSONRecord(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Authors, []string{"García Márquez, Gabriel", "Grossman, Edith"}; !cmp.Equal(got, want) {
		t.Errorf("authors: got %q, want %q", got, want)
	}
	if got, want := r.Title, "Love in the time of cholera"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
	if len(r.Availability) != 1 || *r.Availability[0].Status != "unavailable" || *r.Availability[0].Available != 0 {
		t.Errorf("availability: got %+v", r.Availability)
	}
	// The Bibs API's four-letter INST field cannot be MARCXML; INT can.
	out := string(r.AppendMARCXML(nil))
	if strings.Contains(out, `tag="INST"`) || !strings.Contains(out, `tag="INT"`) {
		t.Errorf("MARCXML should drop INST and keep INT:\n%s", out)
	}
}

func TestZeroHits(t *testing.T) {
	var out bytes.Buffer
	n, err := Convert(context.Background(), &out, bytes.NewReader(readTestdata(t, "princeton_iz_sru_zero_hits.xml")), "json", nil)
	if err != nil || n != 0 {
		t.Fatalf("got n=%d err=%v, want 0 records", n, err)
	}
	var doc struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Records == nil || len(doc.Records) != 0 {
		t.Errorf("got records %v, want []", doc.Records)
	}
}
