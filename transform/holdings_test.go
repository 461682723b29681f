package transform

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendMARCXMLHoldings(t *testing.T) {
	union := []Holding{
		{Institution: "A_INST", IZMMSID: "991", Types: []string{"print", "digital"}},
		{Institution: "B&B", IZMMSID: "", Types: []string{"electronic", "X"}},
	}
	tests := []struct {
		name   string
		fields []string
		tags   string // the data field tags written, in order
	}{
		{"replaces the member 852s where the first was", []string{
			df("245", "1", "0", "a", "T"),
			df("852", "0", " ", "b", "legacy"),
			df("852", "0", "1", "a", "OLD", "9", "P"),
			df("852", "0", "1", "a", "OLD2"),
			df("856", "4", "0", "u", "http://x"),
		}, "245 852 852 852 856"},
		{"without any, before the first field after 852", []string{
			df("245", "1", "0", "a", "T"),
			df("856", "4", "0", "u", "http://x"),
			df("AVA", " ", " ", "a", "A_INST"),
		}, "245 852 852 856 AVA"},
		{"at the end when nothing follows 852", []string{df("245", "1", "0", "a", "T")}, "245 852 852"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, marc(tt.fields...))
			out := r.AppendMARCXMLHoldings(nil, union)
			back := mustParse(t, out)
			want := []Holding{
				{Institution: "A_INST", IZMMSID: "991", Types: []string{"print", "digital"}},
				{Institution: "B&B", Types: []string{"electronic", "X"}},
			}
			if diff := cmp.Diff(want, back.Holdings); diff != "" {
				t.Errorf("holdings read back (-want +got):\n%s", diff)
			}
			var tags []string
			for _, f := range back.Fields() {
				if f.Value == "" && f.Tag != "001" {
					tags = append(tags, f.Tag)
				}
			}
			if got := strings.Join(tags, " "); got != tt.tags {
				t.Errorf("fields %q, want %q\n%s", got, tt.tags, out)
			}
			if plain := string(r.AppendMARCXML(nil)); strings.Contains(plain, "A_INST</subfield><subfield code=\"6\">991") {
				t.Error("AppendMARCXML wrote the union")
			}
		})
	}
}
