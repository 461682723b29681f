package federate

import (
	"html"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func FuzzTerms(f *testing.F) {
	for _, s := range []string{`alma.title="Data and Society"`, `a not b`, `x*`, `(`, `"Über" or ß`, "dc.title=\u0301e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, w := range Terms(q) {
			if w == "" || strings.ContainsAny(w, " \t\n") {
				t.Fatalf("Terms(%q) has the word %q", q, w)
			}
		}
	})
}

// FuzzMerge merges records with arbitrary titles, authors, years and
// identifiers: every record lands in exactly one cluster, and a second merge
// of the same input gives the same clusters in the same order.
func FuzzMerge(f *testing.F) {
	f.Add("The music : a history", "Smith, A", "2001", "9780306406157", "ocm12", "Music", "Smith", "2001", "0306406152", "12")
	f.Add("", "", "", "", "", "ÆØÅ", "ß,", "19", "x", "(")
	f.Fuzz(func(t *testing.T, t1, a1, y1, i1, o1, t2, a2, y2, i2, o2 string) {
		esc := html.EscapeString
		r1 := rec{id: "1", title: esc(t1), author: esc(a1), year: esc(y1), isbn: esc(i1), oclc: esc(o1)}
		r2 := rec{id: "2", title: esc(t2), author: esc(a2), year: esc(y2), isbn: esc(i2), oclc: esc(o2)}
		for _, r := range []rec{r1, r2} {
			if !utf8.ValidString(r.title+r.author+r.year+r.isbn+r.oclc) || strings.ContainsAny(r.title+r.author+r.year+r.isbn+r.oclc, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff") {
				return // not XML 1.0 characters: no record can carry them
			}
		}
		sources := func() []Source {
			return []Source{src(t, "nz", true, "", 1, r1, r2), src(t, "ext", false, "", 2, r2, r1)}
		}
		got := Merge(sources(), Options{Terms: Terms(t1)})
		n := 0
		for _, c := range got {
			n += len(c.Sources)
		}
		if n != 4 {
			t.Fatalf("%d records in the clusters, want 4: %v", n, groups(got))
		}
		again := Merge(sources(), Options{Terms: Terms(t1)})
		if diff := cmp.Diff(groups(got), groups(again)); diff != "" {
			t.Fatalf("two merges differ:\n%s", diff)
		}
	})
}
