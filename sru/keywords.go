package sru

import (
	"strings"

	"github.com/almanet/gateway/internal/stdnum"
)

// KeywordsCQL turns keywords as people type them (the JSON feed's q=, the
// search page, OpenSearch's {searchTerms}) into CQL on Alma's keyword index:
//
//   - loose words must all match, in any order: alma.all_for_ui all "…"
//     (one word: alma.all_for_ui="…");
//   - a part in double quotes must match as a phrase, alma.all_for_ui="…";
//     an unclosed quote runs to the end;
//   - a standard number (an ISBN, an ISSN, an OCLC number with its prefix)
//     is a clause of its own, so that ParseQuery finds it in every form
//     (numbers.go);
//   - AND, OR and NOT in capitals between two terms are CQL's and, or and
//     not; the words and phrases between two operators are one term, and
//     operators apply from left to right with equal precedence, as in CQL:
//     `history science OR art` is (history and science) or art. An operator
//     with no term on one side is searched as a word.
//
// Diagnostic 7 when q holds no term.
func KeywordsCQL(q string) (string, *Diagnostic) {
	type item struct {
		text   string
		phrase bool
		op     string // "and", "or", "not"; "" for a term
	}
	var items []item
	for i, part := range strings.Split(q, `"`) {
		if i%2 == 1 {
			if p := strings.Join(strings.Fields(part), " "); p != "" {
				items = append(items, item{text: p, phrase: true})
			}
			continue
		}
		for _, w := range strings.Fields(part) {
			switch w {
			case "AND", "OR", "NOT":
				items = append(items, item{text: w, op: strings.ToLower(w)})
			default:
				items = append(items, item{text: w})
			}
		}
	}
	var b strings.Builder
	var words, clauses []string
	flush := func(op string) {
		switch len(words) {
		case 0:
		case 1:
			clauses = append(clauses, serverChoiceIndex+`="`+escapeTerm(words[0])+`"`)
		default:
			clauses = append(clauses, serverChoiceIndex+` all "`+escapeTerm(strings.Join(words, " "))+`"`)
		}
		// Loose words first, then phrases and numbers, as typed.
		if len(words) > 0 && len(clauses) > 1 {
			clauses = append(clauses[len(clauses)-1:], clauses[:len(clauses)-1]...)
		}
		if b.Len() > 0 {
			b.WriteString(" " + op + " ")
			if len(clauses) > 1 {
				b.WriteString("(" + strings.Join(clauses, " and ") + ")")
			} else {
				b.WriteString(clauses[0])
			}
		} else {
			b.WriteString(strings.Join(clauses, " and "))
		}
		words, clauses = words[:0], clauses[:0]
	}
	op := ""
	for i, it := range items {
		switch {
		case it.op != "" && (len(words) > 0 || len(clauses) > 0) && i+1 < len(items) && items[i+1].op == "":
			flush(op)
			op = it.op
		case it.phrase:
			clauses = append(clauses, serverChoiceIndex+`="`+escapeTerm(it.text)+`"`)
		case isNumber(it.text):
			clauses = append(clauses, serverChoiceIndex+`="`+escapeTerm(it.text)+`"`)
		default:
			words = append(words, it.text)
		}
	}
	if len(words) > 0 || len(clauses) > 0 {
		flush(op)
	}
	if b.Len() == 0 {
		return "", NewDiagnostic(7, "q")
	}
	return b.String(), nil
}

// isNumber reports whether a keyword is a standard number that numbers.go
// rewrites.
func isNumber(w string) bool {
	return isbnOf(w) != "" || issnOf(w) != "" || stdnum.OCLCPrefixed(w)
}

// escapeTerm escapes a term for a double-quoted CQL string.
func escapeTerm(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
