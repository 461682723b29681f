package sru

import (
	"strings"

	"github.com/indexdata/cql-go/cql"
)

// What federation (SPEC 9.1) needs of the protocol: the dc.* and bath.*
// names accepted as synonyms of Alma's on input, and a query in the
// gateway's names rewritten into another target's through its index map.

// indexSynonyms are the Dublin Core and Bath context-set names the gateway
// accepts for Alma's own indexes (SPEC 9.1), used when the index set has no
// index of that name itself.
var indexSynonyms = map[string]string{
	"dc.title":                "alma.title",
	"dc.creator":              "alma.creator",
	"dc.subject":              "alma.subjects",
	"dc.publisher":            "alma.publisher",
	"dc.date":                 "alma.main_pub_date",
	"bath.isbn":               "alma.isbn",
	"bath.issn":               "alma.issn",
	"bath.name":               "alma.creator",
	"bath.personalname":       "alma.creator",
	"bath.corporatename":      "alma.creator",
	"bath.conferencename":     "alma.creator",
	"bath.keytitle":           "alma.title",
	"bath.topicalsubject":     "alma.subjects",
	"bath.geographicname":     "alma.subjects",
	"bath.standardidentifier": "alma.other_system_number",
	"bath.any":                "alma.all_for_ui",
}

// synonym returns the Alma index a dc.* or bath.* name (lower case) stands
// for, when idx has no index of that name.
func synonym(name string, idx *IndexSet) (string, bool) {
	if _, own := idx.Lookup(name); own {
		return "", false
	}
	s, ok := indexSynonyms[name]
	return s, ok
}

// MapQuery rewrites q (a tree from ParseQuery, in the gateway's index
// names) into a target's index names through indexMap (gateway name →
// target name, keys as ParseQuery writes them: "alma.title"). A nil map
// sends the names unchanged (another Alma). With a map, a search clause
// whose index the map lacks makes diagnostic 16 naming it: the target
// cannot be asked; a sort key the map lacks is dropped (the merge sorts
// anyway). q is not changed.
func MapQuery(q cql.Query, indexMap map[string]string) (string, *Diagnostic) {
	if indexMap == nil {
		return Canonical(q), nil
	}
	lower := make(map[string]string, len(indexMap))
	for k, v := range indexMap {
		lower[strings.ToLower(k)] = v
	}
	c, d := mapClause(q.Clause, lower)
	if d != nil {
		return "", d
	}
	out := cql.Query{Clause: c}
	for _, s := range q.SortSpec {
		if to, ok := lower[strings.ToLower(s.Index)]; ok {
			s.Index = to
			out.SortSpec = append(out.SortSpec, s)
		}
	}
	return Canonical(out), nil
}

// mapClause copies c with every index mapped.
func mapClause(c cql.Clause, m map[string]string) (cql.Clause, *Diagnostic) {
	out := cql.Clause{PrefixMap: c.PrefixMap}
	if sc := c.SearchClause; sc != nil {
		cp := *sc
		if sc.Index != string(cql.AllRecords) {
			to, ok := m[strings.ToLower(sc.Index)]
			if !ok || to == "" {
				return out, NewDiagnostic(16, sc.Index)
			}
			cp.Index = to
		}
		out.SearchClause = &cp
		return out, nil
	}
	if bc := c.BoolClause; bc != nil {
		l, d := mapClause(bc.Left, m)
		if d != nil {
			return out, d
		}
		r, d := mapClause(bc.Right, m)
		if d != nil {
			return out, d
		}
		out.BoolClause = &cql.BoolClause{Left: l, Right: r, Operator: bc.Operator, Modifiers: bc.Modifiers}
	}
	return out, nil
}
