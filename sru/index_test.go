package sru

import (
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/internal/almaindex"
)

// TestDefaultIndexList keeps the embedded default list in step with the
// explain sample it is generated from (go test -run TestDefaultIndexList -update).
func TestDefaultIndexList(t *testing.T) {
	s, err := ParseExplain(readTestdata(t, "alma_explain_response_TR_INTEGRATION_INST.xml"))
	if err != nil {
		t.Fatal(err)
	}
	got := formatIndexList(s)
	if *update {
		if err := os.WriteFile("../"+almaindex.File, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(string(almaindex.Text()), string(got)); diff != "" {
		t.Errorf("%s is stale (-embedded +generated):\n%s", almaindex.File, diff)
	}
	if diff := cmp.Diff(s.Indexes(), DefaultIndexSet().Indexes()); diff != "" {
		t.Errorf("DefaultIndexSet differs from the parsed explain (-parsed +default):\n%s", diff)
	}
}

func TestParseExplain(t *testing.T) {
	s, err := ParseExplain(readTestdata(t, "alma_explain_response_TR_INTEGRATION_INST.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Len(), 392; got != want {
		t.Errorf("Len() = %d, want %d (391 alma.* and rec.id)", got, want)
	}
	var sortable []string
	for _, ix := range s.Indexes() {
		if ix.Sortable {
			sortable = append(sortable, ix.Qualified())
		}
	}
	if diff := cmp.Diff([]string{"alma.creator", "alma.main_pub_date", "alma.title"}, sortable); diff != "" {
		t.Errorf("sortable indexes (-want +got):\n%s", diff)
	}
	tests := []struct {
		name      string
		wantIndex Index
		wantOK    bool
	}{
		{"alma.title", Index{Set: "alma", Name: "title", Title: "Title", Relations: []string{"all", "=", "=="}, Sortable: true}, true},
		{"ALMA.Title", Index{Set: "alma", Name: "title", Title: "Title", Relations: []string{"all", "=", "=="}, Sortable: true}, true},
		{"title", Index{Set: "alma", Name: "title", Title: "Title", Relations: []string{"all", "=", "=="}, Sortable: true}, true},
		{"rec.id", Index{Set: "rec", Name: "id", Title: "Record Identifier (MMS ID)",
			Relations: []string{"==", ">", ">=", "<", "<=", "<>", "=", "all"}}, true},
		{"alma.nosuch", Index{}, false},
		{"dc.title", Index{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.Lookup(tt.name)
			if ok != tt.wantOK {
				t.Fatalf("Lookup(%q) ok = %v, want %v", tt.name, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.wantIndex, got); diff != "" {
				t.Errorf("Lookup(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	if !slices.Contains(s.contextSets(), "rec") {
		t.Errorf("context sets %v lack rec", s.contextSets())
	}
}

func TestParseExplainErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"not xml", "this is not xml <"},
		{"no indexes", `<explainResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2</version></explainResponse>`},
		{"diagnostic", string(readTestdata(t, "alma_sru_diagnostic_missing_version_200832.xml"))},
		{"truncated", string(readTestdata(t, "alma_explain_response_TR_INTEGRATION_INST.xml")[:5000])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := ParseExplain([]byte(tt.body)); err == nil {
				t.Errorf("ParseExplain() = %d indexes, want an error", s.Len())
			}
		})
	}
}
