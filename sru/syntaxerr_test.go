package sru

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSyntaxDetailsInWords: a query syntax error (diagnostic 10) names the
// word and the character where parsing stopped, in plain text; cql-go's
// U+0330 marker ("sciencḛ", issue 10) never reaches the searcher.
func TestSyntaxDetailsInWords(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"history science)", `unexpected text (an unmatched parenthesis or a missing boolean?) at word 2 ("science)"), character 16`},
		{"history science) and x", `unexpected text (an unmatched parenthesis or a missing boolean?) at word 2 ("science)"), character 16`},
		{"title=", `search term expected at the end of the query, after word 1 ("title=")`},
		{"alma.title = history and  ", `search term expected at the end of the query, after word 4 ("and")`},
		{"(a or b", `missing ) at the end of the query, after word 3 ("b")`},
		{"sciencé) or x", `unexpected text (an unmatched parenthesis or a missing boolean?) at word 1 ("sciencé)"), character 8`},
		{")", `search term expected at word 1 (")"), character 1`},
		{"a and )", `search term expected at word 3 (")"), character 7`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			_, d := ParseQuery(tc.query, nil)
			if d == nil {
				t.Fatalf("ParseQuery(%q) = no diagnostic, want 10", tc.query)
			}
			if d.URI != diagPrefix+"10" {
				t.Errorf("URI = %q, want diagnostic 10", d.URI)
			}
			if d.Details != tc.want {
				t.Errorf("details = %q, want %q", d.Details, tc.want)
			}
			if strings.ContainsRune(d.Details, '\u0330') {
				t.Errorf("details %q carry cql-go's U+0330 marker", d.Details)
			}
		})
	}
}

// TestQuoteWordShortens keeps a long word from filling the details.
func TestQuoteWordShortens(t *testing.T) {
	got := quoteWord(strings.Repeat("é", 50))
	want := `"` + strings.Repeat("é", 39) + `…"`
	if got != want {
		t.Errorf("quoteWord(50×é) = %q, want %q", got, want)
	}
}

// FuzzSyntaxDetails: whatever the query, a syntax diagnostic is valid UTF-8
// without the U+0330 marker, and the word it quotes is part of the query.
func FuzzSyntaxDetails(f *testing.F) {
	for _, s := range []string{"history science)", "title=", "(a or b", "a =/ b", "dc.title any", ">x", "a and (b", "é) x", "  )", "a\u0330)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, d := ParseQuery(q, nil)
		if d == nil || d.URI != diagPrefix+"10" {
			return
		}
		if !utf8.ValidString(d.Details) {
			t.Fatalf("details not UTF-8: %q", d.Details)
		}
		if strings.ContainsRune(d.Details, '\u0330') && !strings.ContainsRune(q, '\u0330') {
			t.Fatalf("details %q carry the U+0330 marker", d.Details)
		}
		if i := strings.Index(d.Details, `("`); i >= 0 {
			j := strings.LastIndex(d.Details, `")`)
			if j < i {
				t.Fatalf("unbalanced quote in %q", d.Details)
			}
			if w := strings.TrimSuffix(d.Details[i+2:j], "…"); !strings.Contains(q, w) {
				t.Fatalf("quoted word %q is not in the query %q", w, q)
			}
		}
	})
}
