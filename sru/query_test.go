package sru

import (
	"testing"

	"github.com/indexdata/cql-go/cql"
)

const (
	isbnBoth = `alma.isbn="9783161484100" or alma.isbn="316148410X"`
	issnBoth = `alma.issn="0317-8471" or alma.issn="03178471"`
)

func TestParseQueryCanonical(t *testing.T) {
	tests := []struct {
		name, query, wantCanonical, wantAlma, wantSort string
	}{
		{"spaces around =", `alma.title = "x"`, `alma.title="x"`, `alma.title="x"`, ""},
		{"no spaces", `alma.title="x"`, `alma.title="x"`, `alma.title="x"`, ""},
		{"upper case, bare term", `ALMA.TITLE = x`, `alma.title="x"`, `alma.title="x"`, ""},
		{"unprefixed index", `title=x`, `alma.title="x"`, `alma.title="x"`, ""},
		{"term keeps case", `alma.title=History`, `alma.title="History"`, `alma.title="History"`, ""},
		{"bare term is server choice", `history`, `alma.all_for_ui="history"`, `alma.all_for_ui="history"`, ""},
		{"cql.serverChoice", `cql.serverChoice = history`, `alma.all_for_ui="history"`, `alma.all_for_ui="history"`, ""},
		{"multi word bare term", `history   of art`, `alma.all_for_ui="history of art"`, `alma.all_for_ui="history of art"`, ""},
		{"named relation", `alma.title ALL "a b"`, `alma.title all "a b"`, `alma.title all "a b"`, ""},
		{"exact is ==", `alma.title exact "a b"`, `alma.title=="a b"`, `alma.title=="a b"`, ""},
		{"scr is =", `alma.title scr x`, `alma.title="x"`, `alma.title="x"`, ""},
		{"booleans lower case", `title=a AND creator=b Or title=c`,
			`alma.title="a" and alma.creator="b" or alma.title="c"`, `alma.title="a" and alma.creator="b" or alma.title="c"`, ""},
		{"left parentheses dropped", `(title=a and creator=b) not title=c`,
			`alma.title="a" and alma.creator="b" not alma.title="c"`, `alma.title="a" and alma.creator="b" not alma.title="c"`, ""},
		{"right parentheses kept", `title=a and (creator=b or title=c)`,
			`alma.title="a" and (alma.creator="b" or alma.title="c")`, `alma.title="a" and (alma.creator="b" or alma.title="c")`, ""},
		{"escaped quote", `title="say \"hi\""`, `alma.title="say \"hi\""`, `alma.title="say \"hi\""`, ""},
		{"masking kept", `title=hist*`, `alma.title="hist*"`, `alma.title="hist*"`, ""},
		{"empty term", `title=""`, `alma.title=""`, `alma.title=""`, ""},
		{"reserved word quoted as term", `title="and"`, `alma.title="and"`, `alma.title="and"`, ""},
		{"prox modifiers kept", `title=cat prox/unit=word/distance>2 title=hat`,
			`alma.title="cat" prox/unit=word/distance>2 alma.title="hat"`, `alma.title="cat" prox/unit=word/distance>2 alma.title="hat"`, ""},
		{"sortBy default ascending", `title=x sortBy title`, `alma.title="x"`, `alma.title="x" sortBy alma.title/sort.ascending`, "alma.title/sort.ascending"},
		{"sortBy descending", `title=x sortby alma.main_pub_date/sort.descending`, `alma.title="x"`,
			`alma.title="x" sortBy alma.main_pub_date/sort.descending`, "alma.main_pub_date/sort.descending"},
		{"sortBy bare modifier", `title=x sortBy CREATOR/Descending`, `alma.title="x"`,
			`alma.title="x" sortBy alma.creator/sort.descending`, "alma.creator/sort.descending"},
		{"rec.id range", `rec.id >= 99`, `rec.id>="99"`, `rec.id>="99"`, ""},
		{"decomposed Unicode is NFC", "alma.title=Zu\u0308rich", "alma.title=\"Z\u00fcrich\"", "alma.title=\"Z\u00fcrich\"", ""},
		{"decomposed inside quotes", "\"Cafe\u0301 Zu\u0308rich\"", "alma.all_for_ui=\"Caf\u00e9 Z\u00fcrich\"", "alma.all_for_ui=\"Caf\u00e9 Z\u00fcrich\"", ""},
		{"bare term with an open parenthesis, words joined as CQL joins them", `alma.other_system_number==(NET x`,
			`alma.other_system_number=="(NET x"`, `alma.other_system_number=="(NET x"`, ""},
		{"bare term with parentheses after == (almasru)", `alma.other_system_number==(NET)0000001-netdb`,
			`alma.other_system_number=="(NET)0000001-netdb"`, `alma.other_system_number=="(NET)0000001-netdb"`, ""},
		{"bare term with parentheses, spaces around ==", `alma.other_system_number == (OCoLC)123 and title=x`,
			`alma.other_system_number=="(OCoLC)123" and alma.title="x"`, `alma.other_system_number=="(OCoLC)123" and alma.title="x"`, ""},
		{"bare term with parentheses inside a group", `title=x and (alma.other_system_number==(NET)1-netdb or alma.other_system_number=(NET)2)`,
			`alma.title="x" and (alma.other_system_number=="(NET)1-netdb" or alma.other_system_number="(NET)2")`,
			`alma.title="x" and (alma.other_system_number=="(NET)1-netdb" or alma.other_system_number="(NET)2")`, ""},
		// Standard numbers as people type them (issue 22, numbers.go).
		{"ISBN-13 with hyphens", `alma.isbn=978-3-16-148410-0`, isbnBoth, isbnBoth, ""},
		{"ISBN-10 finds the ISBN-13 too", `alma.isbn=316148410x`, isbnBoth, isbnBoth, ""},
		{"ISBN with its label", `alma.isbn="ISBN 3-16-148410-X"`, isbnBoth, isbnBoth, ""},
		{"979 ISBN has no ISBN-10", `alma.isbn=979-10-90636-07-1`, `alma.isbn="9791090636071"`, `alma.isbn="9791090636071"`, ""},
		{"ISBN truncated stays", `alma.isbn=978316*`, `alma.isbn="978316*"`, `alma.isbn="978316*"`, ""},
		{"ISBN and a word stays", `alma.isbn="9783161484100 pbk"`, `alma.isbn="9783161484100 pbk"`, `alma.isbn="9783161484100 pbk"`, ""},
		{"ISSN without hyphen", `alma.issn=03178471`, issnBoth, issnBoth, ""},
		{"ISSN with hyphen", `alma.issn=0317-8471`, issnBoth, issnBoth, ""},
		{"standard number takes both", `alma.standard_number=0-306-40615-2`,
			`alma.standard_number="9780306406157" or alma.standard_number="0306406152"`,
			`alma.standard_number="9780306406157" or alma.standard_number="0306406152"`, ""},
		{"OCLC index takes the digits", `alma.oclc_control_number_035_a="(OCoLC)ocm00012345"`,
			`alma.oclc_control_number_035_a="12345"`, `alma.oclc_control_number_035_a="12345"`, ""},
		{"keyword ISBN with hyphens", `978-3-16-148410-0`,
			`alma.all_for_ui="9783161484100" or alma.all_for_ui="316148410X"`, `alma.all_for_ui="9783161484100" or alma.all_for_ui="316148410X"`, ""},
		{"keyword with a wrong check digit stays", `978-3-16-148410-1`, `alma.all_for_ui="978-3-16-148410-1"`, `alma.all_for_ui="978-3-16-148410-1"`, ""},
		{"keyword ISSN", `0317-8471`, `alma.all_for_ui="0317-8471" or alma.all_for_ui="03178471"`, `alma.all_for_ui="0317-8471" or alma.all_for_ui="03178471"`, ""},
		{"keyword OCLC number", `ocm00012345`, `alma.all_for_ui="ocm00012345" or alma.oclc_control_number_035_a="12345"`,
			`alma.all_for_ui="ocm00012345" or alma.oclc_control_number_035_a="12345"`, ""},
		{"plain digits are no OCLC keyword", `12345`, `alma.all_for_ui="12345"`, `alma.all_for_ui="12345"`, ""},
		{"inside a query, reversed forms", `title=x and (alma.isbn=3161484100 or alma.isbn=9783161484100)`,
			`alma.title="x" and (` + isbnBoth + ` or (` + isbnBoth + `))`, `alma.title="x" and (` + isbnBoth + ` or (` + isbnBoth + `))`, ""},
		{"expansion on the left", `alma.isbn=316148410X and title=x`, isbnBoth + ` and alma.title="x"`, isbnBoth + ` and alma.title="x"`, ""},
	}
	idx := DefaultIndexSet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, d := ParseQuery(tt.query, idx)
			if d != nil {
				t.Fatalf("ParseQuery(%q) diagnostic %v", tt.query, d)
			}
			if q.Canonical != tt.wantCanonical {
				t.Errorf("Canonical = %s, want %s", q.Canonical, tt.wantCanonical)
			}
			if q.AlmaQuery != tt.wantAlma {
				t.Errorf("AlmaQuery = %s, want %s", q.AlmaQuery, tt.wantAlma)
			}
			if q.SortKey != tt.wantSort {
				t.Errorf("SortKey = %q, want %q", q.SortKey, tt.wantSort)
			}
			// The canonical form is a fixed point.
			again, d := ParseQuery(q.AlmaQuery, idx)
			if d != nil {
				t.Fatalf("re-parsing %q: %v", q.AlmaQuery, d)
			}
			if again.AlmaQuery != q.AlmaQuery {
				t.Errorf("re-canonicalized %q, want the fixed point %q", again.AlmaQuery, q.AlmaQuery)
			}
		})
	}
}

func TestParseQueryDiagnostics(t *testing.T) {
	tests := []struct {
		name, query string
		wantNumber  int
		wantDetails string
	}{
		{"empty", "", 7, "query"},
		{"blank", "   ", 7, "query"},
		{"syntax: dangling and", "title=a and", 10, ""},
		{"syntax: missing paren", "(title=a", 10, ""},
		{"syntax: a term of a parenthesis alone", "alma.title=(", 10, ""},
		{"syntax: a term of parentheses alone", "alma.title==()", 10, ""},
		{"syntax: missing term", "title=", 10, ""},
		{"unterminated quote", `title="abc`, 14, "unterminated quoted string"},
		{"NUL byte", "title=a\x00b", 10, "query contains characters that are not allowed"},
		{"invalid utf-8", "title=\xff", 10, "query contains characters that are not allowed"},
		{"unknown index", "marc.title=x", 16, "marc.title"},
		{"dc and bath are synonyms but not every dc index", "dc.identifier=x", 16, "dc.identifier"},
		{"unknown unprefixed index", "nosuch=x", 16, "nosuch"},
		{"unsupported relation", "alma.title < x", 19, "<"},
		{"relation modifier", "title =/IgnoreCase x", 20, "IgnoreCase"},
		{"relation modifier with value", "alma.title all/fuzzy=2 x", 20, "fuzzy"},
		{"adj unsupported", "alma.title adj x", 19, "adj"},
		{"prefix map", `> dc = "info:srw/cql-context-set/1/dc-v1.1" dc.title=x`, 48, "prefix assignment"},
		{"sort on unsortable index", "title=x sortBy alma.isbn", 88, "alma.isbn"},
		{"sort on unknown index", "title=x sortBy nosuch", 88, "nosuch"},
		{"two sort keys", "title=x sortBy alma.title alma.creator", 84, "1"},
		{"sort respectCase", "title=x sortBy alma.title/sort.respectCase", 91, "sort.respectCase"},
		{"sort missingOmit", "title=x sortBy alma.title/missingOmit", 92, "missingOmit"},
		{"sort unknown modifier", "title=x sortBy alma.title/sort.locale", 80, "sort modifier sort.locale"},
	}
	idx := DefaultIndexSet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, d := ParseQuery(tt.query, idx)
			if d == nil {
				t.Fatalf("ParseQuery(%q) = %q, want diagnostic %d", tt.query, q.AlmaQuery, tt.wantNumber)
			}
			if d.Number() != tt.wantNumber {
				t.Errorf("diagnostic %d (%s), want %d", d.Number(), d.Details, tt.wantNumber)
			}
			if tt.wantDetails != "" && d.Details != tt.wantDetails {
				t.Errorf("details %q, want %q", d.Details, tt.wantDetails)
			}
		})
	}
}

// TestCanonicalBooleanModifiers covers what cql-go's String() drops.
func TestCanonicalBooleanModifiers(t *testing.T) {
	tests := []struct {
		name string
		q    cql.Query
		want string
	}{
		{
			name: "prox with unit and distance",
			q: cql.Query{Clause: cql.Clause{BoolClause: &cql.BoolClause{
				Left:      cql.Clause{SearchClause: &cql.SearchClause{Index: "alma.title", Relation: "=", Term: "cat"}},
				Operator:  cql.PROX,
				Modifiers: []cql.Modifier{{Name: "unit", Relation: "=", Value: "word"}, {Name: "distance", Relation: ">", Value: "2"}},
				Right:     cql.Clause{SearchClause: &cql.SearchClause{Index: "alma.title", Relation: "=", Term: "hat"}},
			}}},
			want: `alma.title="cat" prox/unit=word/distance>2 alma.title="hat"`,
		},
		{
			name: "and with a flag modifier and a value needing quotes",
			q: cql.Query{Clause: cql.Clause{BoolClause: &cql.BoolClause{
				Left:      cql.Clause{SearchClause: &cql.SearchClause{Term: "a"}},
				Operator:  cql.AND,
				Modifiers: []cql.Modifier{{Name: "rel.algorithm", Relation: "=", Value: "a b"}, {Name: "flag"}},
				Right:     cql.Clause{SearchClause: &cql.SearchClause{Term: "b"}},
			}}},
			want: `cql.serverChoice="a" and/rel.algorithm="a b"/flag cql.serverChoice="b"`,
		},
		{
			name: "sortBy",
			q: cql.Query{
				Clause:   cql.Clause{SearchClause: &cql.SearchClause{Index: "alma.title", Relation: "all", Term: "x y"}},
				SortSpec: []cql.Sort{{Index: "alma.title", Modifiers: []cql.Modifier{{Name: "sort.descending"}}}},
			},
			want: `alma.title all "x y" sortBy alma.title/sort.descending`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Canonical(tt.q); got != tt.want {
				t.Errorf("Canonical() = %s, want %s", got, tt.want)
			}
			// cql-go reads it back to the same tree shape.
			var p cql.Parser
			back, err := p.Parse(tt.want)
			if err != nil {
				t.Fatalf("cql-go cannot parse %q: %v", tt.want, err)
			}
			if got := Canonical(back); got != tt.want {
				t.Errorf("Canonical(Parse(%q)) = %s", tt.want, got)
			}
		})
	}
}

func TestWriteTermRoundTrip(t *testing.T) {
	tests := []struct{ query, want string }{
		{`title=a"b`, `alma.title="a\"b"`},
		{`title=ab\`, `alma.title="ab\\"`},
		{`title="a\\"`, `alma.title="a\\"`},
		{`title=x\*`, `alma.title="x\*"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, d := ParseQuery(tt.query, DefaultIndexSet())
			if d != nil {
				t.Fatalf("diagnostic %v", d)
			}
			if q.Canonical != tt.want {
				t.Errorf("Canonical = %s, want %s", q.Canonical, tt.want)
			}
			again, d := ParseQuery(q.Canonical, DefaultIndexSet())
			if d != nil || again.Canonical != q.Canonical {
				t.Errorf("not a fixed point: %v %v", again, d)
			}
		})
	}
}
