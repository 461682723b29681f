package transform

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadFieldsRoundTrip(t *testing.T) {
	in := `<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:record>` +
		`<marc:leader>00000nam a2200000 i 4500</marc:leader><marc:controlfield tag="001">99</marc:controlfield>` +
		`<marc:datafield tag="590" ind1="1" ind2=""><marc:subfield code="a">A &amp; B &lt;c&gt;</marc:subfield><marc:subfield code="9">LOCAL</marc:subfield></marc:datafield>` +
		`</marc:record></marc:collection>`
	leader, fields, err := ReadFields([]byte(in), false)
	if err != nil {
		t.Fatal(err)
	}
	if leader != "00000nam a2200000 i 4500" {
		t.Errorf("leader %q", leader)
	}
	want := []Field{
		{Tag: "001", Value: "99"},
		{Tag: "590", Ind1: "1", Ind2: " ", Subfields: []Subfield{{"a", "A & B <c>"}, {"9", "LOCAL"}}},
	}
	if d := cmp.Diff(fields, want); d != "" {
		t.Errorf("parsed (-got +want):\n%s", d)
	}
	if !fields[1].Local() || fields[0].Local() {
		t.Error("Local is wrong")
	}
	if !fields[0].MARC21() || (Field{Tag: "AVA"}).MARC21() {
		t.Error("MARC21 is wrong")
	}
	l2, again, err := ReadFields(AppendFields(nil, leader, fields), false)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(again, fields); d != "" || l2 != leader {
		t.Errorf("round trip (-second +first), leader %q:\n%s", l2, d)
	}
}

// TestReadFieldsRefuses: what a payload must not be is refused with a
// message that says why.
func TestReadFieldsRefuses(t *testing.T) {
	for _, c := range []struct {
		name, in   string
		enrichment bool
		want       string
	}{
		{"not XML", `<record><datafield`, false, "not well-formed XML"},
		{"undefined entity", `<!DOCTYPE r [<!ENTITY a "b">]><record>&a;</record>`, false, "not well-formed XML"},
		{"no record", `<collection/>`, false, "no MARC record element"},
		{"two records", `<collection><record/><record/></collection>`, false, "more than one record"},
		{"field outside a record", `<collection><datafield tag="500"/></collection>`, false, "datafield outside a record"},
		{"field in a field", `<record><datafield tag="500"><controlfield tag="001"/></datafield></record>`, false, "controlfield outside a record or inside a field"},
		{"subfield outside a field", `<record><subfield code="a">x</subfield></record>`, false, "subfield outside a data field"},
		{"short tag", `<record><datafield tag="59"/></record>`, false, `tag "59"`},
		{"enrichment in a payload", `<record><datafield tag="INST"/></record>`, false, `tag "INST"`},
		{"two-character indicator", `<record><datafield tag="500" ind1="ab"/></record>`, false, `indicator "ab"`},
		{"two-character code", `<record><datafield tag="500"><subfield code="ab">x</subfield></datafield></record>`, false, `subfield code "ab"`},
		{"control character", "<record><datafield tag=\"500\"><subfield code=\"a\">\x01</subfield></datafield></record>", false, "not well-formed XML"},
		{"attribute twice", `<record><datafield tag="500"><subfield code="a" code="b">x</subfield></datafield></record>`, false, "two code attributes"},
		{"deep", strings.Repeat("<a>", 17) + strings.Repeat("</a>", 17), false, "nested too deep"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadFields([]byte(c.in), c.enrichment)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadFields(%q) = %v, want an error with %q", c.in, err, c.want)
			}
		})
	}
	if _, fs, err := ReadFields([]byte(`<bib><record><datafield tag="INST"><subfield code="a">x</subfield></datafield></record></bib>`), true); err != nil || len(fs) != 1 {
		t.Errorf("Alma's enrichment in Alma's record: %v, %v", fs, err)
	}
}

// FuzzReadFields: any input is read or refused, never a panic, and what is
// read writes out as XML that reads back to the same fields.
func FuzzReadFields(f *testing.F) {
	for _, s := range []string{
		`<record><datafield tag="590" ind1=" " ind2=" "><subfield code="a">x</subfield><subfield code="9">local</subfield></datafield></record>`,
		`<bib><record><leader>x</leader><controlfield tag="001">1</controlfield></record></bib>`,
		`<record><datafield tag="59"/></record>`,
		`<record><subfield code="a">x</subfield></record>`,
		`<!DOCTYPE r [<!ENTITY a "b">]><record>&a;</record>`,
		`<record><datafield tag="500"><subfield code="ab">x</subfield></datafield></record>`,
		"<record><datafield tag=\"500\"><subfield code=\"a\">\x01\uFFFE</subfield></datafield></record>",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, enrichment bool) {
		leader, fields, err := ReadFields(data, enrichment)
		if err != nil {
			return
		}
		out := AppendFields(nil, leader, fields)
		l2, again, err := ReadFields(out, enrichment)
		if err != nil {
			t.Fatalf("our own output does not read: %v\n%s", err, out)
		}
		if d := cmp.Diff(again, fields); d != "" || l2 != leader {
			t.Fatalf("changed in the round trip, leader %q then %q (-second +first):\n%s\n%s", leader, l2, d, out)
		}
	})
}
