package z3950

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/indexdata/cql-go/cql"

	"github.com/almanet/gateway/sru"
)

// CQL → Type-1 RPN for Z39.50 targets (SPEC 15): the gateway's query, in
// its own index names (Alma's) as sru.ParseQuery leaves it, becomes a
// Bib-1 query through an index map (index → attribute list).

// defaultUse is the Bib-1 use attribute for each gateway index: the
// inverse of the server's table (SPEC 10), with one use per index.
var defaultUse = map[string]int{
	"alma.title":                     4,
	"alma.creator":                   1003,
	"alma.subjects":                  21,
	"alma.isbn":                      7,
	"alma.issn":                      8,
	"alma.all_for_ui":                1016,
	"alma.main_pub_date":             31,
	"alma.mms_id":                    12,
	"alma.oclc_control_number_035_a": 1211,
	"alma.lccn":                      9,
	"alma.publisher":                 1018,
	"alma.series":                    5,
}

// DefaultIndexMap is the index map of a Z39.50 target without one: each
// gateway index the server maps from a Bib-1 use attribute, back to that
// attribute ("alma.title": "1=4").
func DefaultIndexMap() map[string]string {
	m := make(map[string]string, len(defaultUse))
	for k, v := range defaultUse {
		m[k] = "1=" + strconv.Itoa(v)
	}
	return m
}

// ParseAttributes reads an attribute list as YAZ writes it: "type=value"
// pairs separated by spaces or commas, Bib-1 types 1-6 ("1=4 4=1").
func ParseAttributes(s string) ([]Attribute, error) {
	var out []Attribute
	seen := map[int]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		t, v, ok := strings.Cut(f, "=")
		ti, err1 := strconv.Atoi(t)
		vi, err2 := strconv.Atoi(v)
		if !ok || err1 != nil || err2 != nil || ti < 1 || ti > 6 || vi < 0 {
			return nil, fmt.Errorf("%q is not a Bib-1 attribute (type=value, types 1 to 6)", f)
		}
		if seen[ti] {
			return nil, fmt.Errorf("attribute type %d given twice", ti)
		}
		seen[ti] = true
		out = append(out, Attribute{Type: ti, Value: vi})
	}
	if !seen[attrUse] {
		return nil, fmt.Errorf("%q has no use attribute (1=…)", s)
	}
	return out, nil
}

// IndexAttributes is a parsed index map: lower-case gateway index →
// attribute list.
type IndexAttributes map[string][]Attribute

// ParseIndexMap parses an index map; an error names the index.
func ParseIndexMap(m map[string]string) (IndexAttributes, error) {
	out := make(IndexAttributes, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a, err := ParseAttributes(m[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		out[strings.ToLower(k)] = a
	}
	return out, nil
}

// CQLToRPN turns a parsed, normalized CQL query (sru.ParseQuery) into an
// RPN tree with Bib-1 attributes. What the target cannot be asked is an
// SRU diagnostic, as for SRU targets: 16 an index the map lacks, 19 a
// relation with no Bib-1 form, 28 masking other than a trailing '*', 32
// anchoring, 37 prox. The sort clause is dropped (the merge sorts).
func CQLToRPN(q cql.Query, m IndexAttributes) (*RPNNode, *sru.Diagnostic) {
	return clauseRPN(q.Clause, m)
}

func clauseRPN(c cql.Clause, m IndexAttributes) (*RPNNode, *sru.Diagnostic) {
	if b := c.BoolClause; b != nil {
		var op string
		switch strings.ToLower(string(b.Operator)) {
		case "and":
			op = "and"
		case "or":
			op = "or"
		case "not":
			op = "and-not"
		default:
			return nil, sru.NewDiagnostic(37, string(b.Operator))
		}
		l, d := clauseRPN(b.Left, m)
		if d != nil {
			return nil, d
		}
		r, d := clauseRPN(b.Right, m)
		if d != nil {
			return nil, d
		}
		return &RPNNode{Op: op, Left: l, Right: r}, nil
	}
	sc := c.SearchClause
	if sc == nil {
		return nil, sru.NewDiagnostic(10, "empty clause")
	}
	index := strings.ToLower(sc.Index)
	if index == "cql.allrecords" {
		index = "alma.all_for_ui"
	}
	attrs, ok := m[index]
	if !ok {
		return nil, sru.NewDiagnostic(16, sc.Index)
	}
	if len(sc.Modifiers) > 0 {
		return nil, sru.NewDiagnostic(20, sc.Modifiers[0].Name)
	}
	term, trunc, d := cqlTerm(sc.Term)
	if d != nil {
		return nil, d
	}
	if strings.TrimSpace(term) == "" {
		return nil, sru.NewDiagnostic(27, "empty term")
	}
	rel := string(sc.Relation)
	leaf := func(value string, relation, structure int) *RPNNode {
		return &RPNNode{Term: &Term{Kind: "general", Value: value, Attributes: withDefaults(attrs, relation, structure, trunc)}}
	}
	join := func(op string, words []string) *RPNNode {
		n := leaf(words[0], 3, 2)
		for _, w := range words[1:] {
			n = &RPNNode{Op: op, Left: n, Right: leaf(w, 3, 2)}
		}
		return n
	}
	words := strings.Fields(term)
	switch rel {
	case "=", "scr", "":
		if len(words) > 1 { // every word, as Alma's "=" means
			return join("and", words), nil
		}
		return leaf(term, 3, 2), nil
	case "all":
		return join("and", words), nil
	case "any":
		return join("or", words), nil
	case "adj", "==", "exact":
		if len(words) > 1 {
			return leaf(strings.Join(words, " "), 3, 1), nil
		}
		return leaf(term, 3, 2), nil
	case "<", "<=", ">=", ">", "<>":
		if trunc {
			return nil, sru.NewDiagnostic(28, "truncation with relation "+rel)
		}
		return leaf(term, map[string]int{"<": 1, "<=": 2, ">=": 4, ">": 5, "<>": 6}[rel], 0), nil
	}
	return nil, sru.NewDiagnostic(19, rel)
}

// withDefaults is an index's attributes with the relation, structure and
// truncation of the clause added where the map does not set them.
func withDefaults(attrs []Attribute, relation, structure int, trunc bool) []Attribute {
	out := append([]Attribute(nil), attrs...)
	has := func(t int) bool {
		for _, a := range attrs {
			if a.Type == t {
				return true
			}
		}
		return false
	}
	if !has(attrRelation) {
		out = append(out, Attribute{Type: attrRelation, Value: relation})
	}
	if structure != 0 && !has(attrStructure) {
		out = append(out, Attribute{Type: attrStructure, Value: structure})
	}
	if trunc && !has(attrTruncation) {
		out = append(out, Attribute{Type: attrTruncation, Value: 1})
	}
	return out
}

// cqlTerm unescapes a CQL term and reports a trailing unescaped '*' (right
// truncation). Other masking and anchoring have no Bib-1 form here.
func cqlTerm(s string) (string, bool, *sru.Diagnostic) {
	var b strings.Builder
	trunc := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '*':
			if i == len(s)-1 && i > 0 {
				trunc = true
				continue
			}
			return "", false, sru.NewDiagnostic(28, s)
		case '?':
			return "", false, sru.NewDiagnostic(28, s)
		case '^':
			return "", false, sru.NewDiagnostic(32, s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), trunc, nil
}

// encodeRPNQuery encodes a Type-1 query ([1] RPNQuery) in the Bib-1 attribute
// set.
func encodeRPNQuery(n *RPNNode) *ber.Packet {
	q := ctxCons(1)
	q.AppendChild(oid(OIDBib1Attributes))
	q.AppendChild(rpnStructure(n))
	return q
}

func rpnStructure(n *RPNNode) *ber.Packet {
	if n.Op != "" {
		op := map[string]int{"and": 0, "or": 1, "and-not": 2}[n.Op]
		return ctxCons(1, rpnStructure(n.Left), rpnStructure(n.Right),
			ctxCons(46, ber.Encode(ber.ClassContext, ber.TypePrimitive, ber.Tag(op), nil, "")))
	}
	attrs := ctxCons(44)
	for _, a := range n.Term.Attributes {
		e := seq()
		e.AppendChild(ctxInt(120, a.Type))
		e.AppendChild(ctxInt(121, a.Value))
		attrs.AppendChild(e)
	}
	return ctxCons(0, ctxCons(102, attrs, ctxString(45, n.Term.Value)))
}

// PQF writes an RPN tree as YAZ's prefix query format, for logs and tests.
func PQF(n *RPNNode) string {
	if n.Op != "" {
		op := map[string]string{"and": "@and", "or": "@or", "and-not": "@not"}[n.Op]
		return op + " " + PQF(n.Left) + " " + PQF(n.Right)
	}
	var b strings.Builder
	for _, a := range n.Term.Attributes {
		fmt.Fprintf(&b, "@attr %d=%d ", a.Type, a.Value)
	}
	b.WriteString(strconv.Quote(n.Term.Value))
	return b.String()
}
