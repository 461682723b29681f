package sru

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/indexdata/cql-go/cql"
)

// syntaxDetails turns a cql-go parse error into the details of diagnostic
// 10 (query syntax error) in words a searcher can act on: which word of the
// query, counted from 1, and which character.
//
// cql-go's own Error() marks the spot by inserting U+0330 (combining tilde
// below) into the query, which renders as a stray accent on the last
// character of the offending token ("sciencḛ") and is garbled by many
// clients (issue 10). Its Pos() is the byte offset just past the token the
// parser could not use, or the end of the query when something is missing
// there, so the offending word is the one holding the last non-space
// character before Pos().
func syntaxDetails(query string, err error) string {
	var pe *cql.ParseError
	if !errors.As(err, &pe) {
		return "query syntax error"
	}
	msg := syntaxMessage(pe.Message())
	pos := min(max(pe.Pos(), 0), len(query))
	end := tokenEnd(query, pos)
	if end == 0 {
		return msg + " at the start of the query"
	}
	word, n := wordAt(query, end)
	if strings.TrimSpace(query[pos:]) == "" && missingAtEnd(query, end) {
		return fmt.Sprintf("%s at the end of the query, after word %d (%s)", msg, n, quoteWord(word))
	}
	char := utf8.RuneCountInString(query[:end])
	return fmt.Sprintf("%s at word %d (%s), character %d", msg, n, quoteWord(word), char)
}

// missingAtEnd tells an error about what is missing after the last token
// ("title=") from one about the last token itself ("a and )"): both stop at
// the end of the query. With a term appended, the first parses or fails
// further on; the second fails at the same place.
func missingAtEnd(query string, end int) bool {
	var p cql.Parser
	q := query + " x"
	_, err := p.Parse(q)
	var pe *cql.ParseError
	return !errors.As(err, &pe) || tokenEnd(q, min(max(pe.Pos(), 0), len(q))) > end
}

// tokenEnd backs from pos over spaces to just after the last character of
// the token before it (the lexer's position may include the spaces after it).
func tokenEnd(query string, pos int) int {
	for pos > 0 {
		r, w := utf8.DecodeLastRuneInString(query[:pos])
		if !unicode.IsSpace(r) {
			break
		}
		pos -= w
	}
	return pos
}

// wordAt returns the space-separated word that holds the byte before end,
// and its number counted from 1.
func wordAt(query string, end int) (string, int) {
	n, start, in := 0, 0, false
	for i, r := range query {
		if i >= end {
			break
		}
		if unicode.IsSpace(r) {
			in = false
			continue
		}
		if !in {
			n++
			start = i
			in = true
		}
	}
	stop := start
	for stop < len(query) {
		r, w := utf8.DecodeRuneInString(query[stop:])
		if unicode.IsSpace(r) {
			break
		}
		stop += w
	}
	return query[start:stop], n
}

// quoteWord quotes a word for the details, shortened to 40 characters.
func quoteWord(w string) string {
	if utf8.RuneCountInString(w) > 40 {
		w = string([]rune(w)[:39]) + "…"
	}
	return `"` + w + `"`
}

// syntaxMessage rewords cql-go's parser messages where they speak the
// parser's language rather than the searcher's.
func syntaxMessage(m string) string {
	switch m {
	case "EOF expected":
		return "unexpected text (an unmatched parenthesis or a missing boolean?)"
	case "":
		return "syntax error"
	}
	return m
}
