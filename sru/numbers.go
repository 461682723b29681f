package sru

import (
	"strings"

	"github.com/indexdata/cql-go/cql"

	"github.com/almanet/gateway/internal/stdnum"
)

// Standard numbers as people type them (issue 22): an ISBN with hyphens or
// as ISBN-10, an ISSN with or without its hyphen, an OCLC number with
// "(OCoLC)", ocm/ocn/on or leading zeros must find what the catalogued
// form finds, in every front end. ParseQuery rewrites each search clause
// whose whole term is such a number into the forms a record may catalogue
// it in, joined with or:
//
//   - alma.isbn (and alma.standard_number) = an ISBN: its ISBN-13 or, for a
//     978 ISBN, its ISBN-10, without hyphens;
//   - alma.issn (and alma.standard_number) = an ISSN: NNNN-NNNC or NNNNNNNC;
//   - alma.oclc_control_number_* = an OCLC number: its digits alone;
//   - keywords (alma.all_for_ui) = an ISBN or ISSN with a right check digit:
//     those forms as keywords; = an OCLC number with its prefix: the term as
//     typed or alma.oclc_control_number_035_a = its digits.
//
// The rewritten query is the canonical one, so every form is one cache
// key, and rewriting it again leaves it as it is (an or of exactly the
// forms one clause expands to is recognized and kept).

// expandNumbers rewrites c in place.
func expandNumbers(c *cql.Clause, idx *IndexSet) {
	switch {
	case c.BoolClause != nil:
		if isExpansion(c, idx) {
			return
		}
		expandNumbers(&c.BoolClause.Left, idx)
		expandNumbers(&c.BoolClause.Right, idx)
	case c.SearchClause != nil:
		if e := expandSearch(*c.SearchClause, idx); e != nil {
			*c = *e
		}
	}
}

// isExpansion reports whether c, an or of search clauses, is what one of
// its own clauses expands to.
func isExpansion(c *cql.Clause, idx *IndexSet) bool {
	var leaves []cql.SearchClause
	var walk func(c *cql.Clause) bool
	walk = func(c *cql.Clause) bool {
		switch {
		case c.SearchClause != nil:
			leaves = append(leaves, *c.SearchClause)
			return true
		case c.BoolClause != nil && c.BoolClause.Operator == cql.OR && len(c.BoolClause.Modifiers) == 0:
			return walk(&c.BoolClause.Left) && walk(&c.BoolClause.Right)
		}
		return false
	}
	if !walk(c) || len(leaves) > 3 {
		return false
	}
	want := canonicalClause(c)
	for _, l := range leaves {
		if e := expandSearch(l, idx); e != nil && canonicalClause(e) == want {
			return true
		}
	}
	return false
}

// expandSearch returns the clause sc becomes, or nil when it stays.
func expandSearch(sc cql.SearchClause, idx *IndexSet) *cql.Clause {
	if len(sc.Modifiers) > 0 || !numberChars(sc.Term) {
		return nil
	}
	switch rel := string(sc.Relation); rel {
	case "=", "==", "all", "any":
	default:
		return nil
	}
	term := sc.Term
	forms := func(index string, terms ...string) *cql.Clause {
		if len(terms) == 1 && index == sc.Index && terms[0] == term {
			return nil
		}
		var c *cql.Clause
		for _, t := range terms {
			leaf := &cql.Clause{SearchClause: &cql.SearchClause{Index: index, Relation: sc.Relation, Term: t}}
			if c == nil {
				c = leaf
			} else {
				c = &cql.Clause{BoolClause: &cql.BoolClause{Left: *c, Operator: cql.OR, Right: *leaf}}
			}
		}
		return c
	}
	isbn := func() []string { return stdnum.ISBNForms(isbnOf(term)) }
	issn := func() []string {
		if v := issnOf(term); v != "" {
			return []string{v, strings.Replace(v, "-", "", 1)}
		}
		return nil
	}
	switch name := sc.Index; {
	case name == "alma.isbn":
		if f := isbn(); f != nil {
			return forms(name, f...)
		}
	case name == "alma.issn":
		if f := issn(); f != nil {
			return forms(name, f...)
		}
	case name == "alma.standard_number":
		if f := isbn(); f != nil {
			return forms(name, f...)
		}
		if f := issn(); f != nil {
			return forms(name, f...)
		}
	case strings.HasPrefix(name, "alma.oclc_control_number_"):
		if v := stdnum.OCLC(term); v != "" {
			return forms(name, v)
		}
	case name == serverChoiceIndex:
		if v := isbnOf(term); v != "" && stdnum.ISBNCheck(v) {
			return forms(name, stdnum.ISBNForms(v)...)
		}
		if v := issnOf(term); v != "" && stdnum.ISSNCheck(v) {
			return forms(name, issn()...)
		}
		const oclcIndex = "alma.oclc_control_number_035_a"
		if _, ok := idx.Lookup(oclcIndex); ok && stdnum.OCLCPrefixed(term) {
			e := forms(oclcIndex, stdnum.OCLC(term))
			return &cql.Clause{BoolClause: &cql.BoolClause{Left: cql.Clause{SearchClause: &sc}, Operator: cql.OR, Right: *e}}
		}
	}
	return nil
}

// numberChars reports whether s could be one standard number as typed:
// no truncation or masking, no escapes, not longer than any number is.
func numberChars(s string) bool {
	return s != "" && len(s) <= 40 && !strings.ContainsAny(s, `*?^\"`)
}

// isbnOf returns the ISBN that s is, and nothing else (stdnum.ISBN reads
// one at the start of a longer value), or "".
func isbnOf(s string) string {
	v := stdnum.ISBN(s)
	if v == "" {
		return ""
	}
	s = strings.TrimSpace(s)
	if len(s) > 4 && strings.EqualFold(s[:4], "isbn") {
		s = strings.TrimLeft(s[4:], " :-")
	}
	if strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s)) != v {
		return ""
	}
	return v
}

// issnOf returns the ISSN that s is, and nothing else, or "".
func issnOf(s string) string {
	v := stdnum.ISSN(s)
	if v == "" || strings.ToUpper(strings.Replace(strings.TrimSpace(s), "-", "", 1)) != v[:4]+v[5:] {
		return ""
	}
	return v
}
