package transform

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseElementTakesOneRecord(t *testing.T) {
	const rec = `<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:controlfield tag="001">99123</marc:controlfield></marc:record>`
	for _, c := range []struct {
		name, in string
		n        int    // bytes taken; -1: refused
		mmsID    string // of the record read
	}{
		{"alone", rec, len(rec), "99123"},
		{"white space first", "\n  " + rec, len(rec) + 3, "99123"},
		{"more after it", rec + "\n</recordData></record>", len(rec), "99123"},
		{"text first", "x" + rec, -1, ""},
		{"another element first", "<a/>" + rec, -1, ""},
		{"a comment first", "<!-- c -->" + rec, -1, ""},
		{"unclosed", rec[:len(rec)-3], -1, ""},
		{"empty", "", -1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, n, err := ParseElement([]byte(c.in))
			if c.n < 0 {
				if err == nil {
					t.Errorf("ParseElement took %d bytes, want it refused", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]any{n, r.MMSID}, []any{c.n, c.mmsID}); d != "" {
				t.Errorf("(bytes, 001) (-got +want):\n%s", d)
			}
		})
	}
}

// FuzzParseElement: what ParseElement takes is within its input and
// parses, alone, to the same record.
func FuzzParseElement(f *testing.F) {
	f.Add([]byte(`<record><controlfield tag="001">1</controlfield></record><x/>`))
	f.Add([]byte(` <marc:record xmlns:marc="m"><marc:datafield tag="245"><marc:subfield code="a">T</marc:subfield></marc:datafield></marc:record>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, n, err := ParseElement(data)
		if err != nil {
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("took %d of %d bytes", n, len(data))
		}
		again, err := Parse(data[:n])
		if err != nil {
			t.Fatalf("the %d bytes taken do not parse alone: %v", n, err)
		}
		if string(again.AppendMARCXML(nil)) != string(r.AppendMARCXML(nil)) {
			t.Fatalf("the bytes taken parse to another record")
		}
	})
}
