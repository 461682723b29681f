package sru

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKeywordsCQL(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{"history", `alma.all_for_ui="history"`},
		{"history science", `alma.all_for_ui all "history science"`},
		{`history "data science" society`, `alma.all_for_ui all "history society" and alma.all_for_ui="data science"`},
		{`say "unclosed phrase`, `alma.all_for_ui="say" and alma.all_for_ui="unclosed phrase"`},
		{`back\slash`, `alma.all_for_ui="back\\slash"`},
		// Operators in capitals (issue 22: "history AND science" was three words).
		{"history AND science", `alma.all_for_ui="history" and alma.all_for_ui="science"`},
		{"history OR science", `alma.all_for_ui="history" or alma.all_for_ui="science"`},
		{"history NOT science", `alma.all_for_ui="history" not alma.all_for_ui="science"`},
		{"history science OR art", `alma.all_for_ui all "history science" or alma.all_for_ui="art"`},
		{"art OR history science", `alma.all_for_ui="art" or alma.all_for_ui all "history science"`},
		{`art OR history "data science"`, `alma.all_for_ui="art" or (alma.all_for_ui="history" and alma.all_for_ui="data science")`},
		{`"data science" OR "AND" NOT x`, `alma.all_for_ui="data science" or alma.all_for_ui="AND" not alma.all_for_ui="x"`},
		{"history and science", `alma.all_for_ui all "history and science"`},
		{"AND history", `alma.all_for_ui all "AND history"`},
		{"history OR", `alma.all_for_ui all "history OR"`},
		{"history AND OR art", `alma.all_for_ui all "history AND" or alma.all_for_ui="art"`},
		{"NOT", `alma.all_for_ui="NOT"`},
		// Standard numbers are clauses of their own, for ParseQuery to expand.
		{"history 978-3-16-148410-0", `alma.all_for_ui="history" and alma.all_for_ui="978-3-16-148410-0"`},
		{"(OCoLC)123 0317-8471", `alma.all_for_ui="(OCoLC)123" and alma.all_for_ui="0317-8471"`},
	} {
		t.Run(tc.q, func(t *testing.T) {
			got, d := KeywordsCQL(tc.q)
			if d != nil {
				t.Fatalf("KeywordsCQL(%q): %v", tc.q, d)
			}
			if got != tc.want {
				t.Errorf("KeywordsCQL(%q) = %s, want %s", tc.q, got, tc.want)
			}
			if _, d := ParseQuery(got, nil); d != nil {
				t.Errorf("%s does not parse: %v", got, d)
			}
		})
	}
	for _, q := range []string{"", "  ", `""`, `" "`} {
		if got, d := KeywordsCQL(q); d == nil || d.URI != "info:srw/diagnostic/1/7" {
			t.Errorf("KeywordsCQL(%q) = %q, %v; want diagnostic 7", q, got, d)
		}
	}
}

// FuzzKeywordsCQL: any keywords give diagnostic 7 or CQL that ParseQuery
// accepts (or refuses only for what the text itself holds: characters XML
// cannot carry, or its length).
func FuzzKeywordsCQL(f *testing.F) {
	for _, s := range []string{"history", `a "b c" d`, "x AND y OR z NOT w", `"unclosed`, `\"`, "AND", "978-3-16-148410-0 ocm1", "a\\", `a OR "" OR b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cql, d := KeywordsCQL(q)
		if d != nil {
			if len(strings.Fields(strings.ReplaceAll(q, `"`, " "))) > 0 {
				t.Fatalf("KeywordsCQL(%q): %v although it holds a term", q, d)
			}
			return
		}
		pq, d := ParseQuery(cql, nil)
		if d != nil {
			if !utf8.ValidString(q) || d.Details == "query contains characters that are not allowed" || strings.Contains(d.Details, "longer than") {
				return
			}
			t.Fatalf("KeywordsCQL(%q) = %s, which ParseQuery refuses: %v", q, cql, d)
		}
		again, d := ParseQuery(pq.AlmaQuery, nil)
		if d != nil || again.AlmaQuery != pq.AlmaQuery {
			t.Fatalf("canonical %q is no fixed point: %v %v", pq.AlmaQuery, again, d)
		}
	})
}

// TestEscapeTerm holds escapeTerm's fast path (no table build per request,
// found by BenchmarkCachedHit) to the behaviour of the Replacer it replaced.
func TestEscapeTerm(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"history of science", "history of science"},
		{`say "hi"`, `say \"hi\"`},
		{`a\b`, `a\\b`},
		{`\"`, `\\\"`},
		{"ünïcode \"x\"", "ünïcode \\\"x\\\""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := escapeTerm(tc.in); got != tc.want {
				t.Errorf("escapeTerm(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
