package gateway

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMARCRecordRoundTrip(t *testing.T) {
	in := `<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:record>` +
		`<marc:leader>00000nam a2200000 i 4500</marc:leader><marc:controlfield tag="001">99</marc:controlfield>` +
		`<marc:datafield tag="590" ind1="1" ind2=""><marc:subfield code="a">A &amp; B &lt;c&gt;</marc:subfield><marc:subfield code="9">LOCAL</marc:subfield></marc:datafield>` +
		`</marc:record></marc:collection>`
	rec, err := parseMARCRecord([]byte(in), false)
	if err != nil {
		t.Fatal(err)
	}
	want := &fieldRecord{Leader: "00000nam a2200000 i 4500", Fields: []marcField{
		{Tag: "001", Ind1: ' ', Ind2: ' ', Value: "99", control: true},
		{Tag: "590", Ind1: '1', Ind2: ' ', Subs: []marcSub{{'a', "A & B <c>"}, {'9', "LOCAL"}}},
	}}
	if d := cmp.Diff(want, rec, cmp.AllowUnexported(marcField{})); d != "" {
		t.Errorf("parsed (-want +got):\n%s", d)
	}
	if !rec.Fields[1].isLocal() || rec.Fields[0].isLocal() {
		t.Error("isLocal is wrong")
	}
	again, err := parseMARCRecord(rec.appendXML(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(rec, again, cmp.AllowUnexported(marcField{})); d != "" {
		t.Errorf("round trip (-first +second):\n%s", d)
	}
}

// FuzzParseMARCRecord: any input is parsed or refused, never a panic, and
// what is parsed writes out as XML that parses back to the same record.
func FuzzParseMARCRecord(f *testing.F) {
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
	f.Fuzz(func(t *testing.T, data []byte, alma bool) {
		rec, err := parseMARCRecord(data, alma)
		if err != nil {
			return
		}
		out := rec.appendXML(nil)
		again, err := parseMARCRecord(out, alma)
		if err != nil {
			t.Fatalf("our own output does not parse: %v\n%s", err, out)
		}
		if len(again.Fields) != len(rec.Fields) {
			t.Fatalf("%d fields, then %d", len(rec.Fields), len(again.Fields))
		}
		for i := range rec.Fields {
			if rec.Fields[i].Tag != again.Fields[i].Tag || rec.Fields[i].isLocal() != again.Fields[i].isLocal() || len(rec.Fields[i].Subs) != len(again.Fields[i].Subs) {
				t.Fatalf("field %d changed: %+v, then %+v", i, rec.Fields[i], again.Fields[i])
			}
		}
	})
}
