package z3950

import (
	"slices"
	"strconv"
	"strings"

	"github.com/almanet/gateway/sru"
)

// useIndexes maps Bib-1 use attributes (type 1) to the gateway's indexes
// (Alma's, SPEC 10).
var useIndexes = map[int]string{
	4:    "alma.title",
	1:    "alma.creator", // personal name
	1003: "alma.creator", // author
	1004: "alma.creator", // author-name personal
	7:    "alma.isbn",
	8:    "alma.issn",
	1016: "alma.all_for_ui", // any
	1017: "alma.all_for_ui", // server choice
	21:   "alma.subjects",
	31:   "alma.main_pub_date",
	12:   "alma.mms_id", // local number
	1211: "alma.oclc_control_number_035_a",
	9:    "alma.lccn",
	1018: "alma.publisher",
	5:    "alma.series",
}

// UseAttributes returns the Bib-1 use attributes served and their indexes,
// in attribute order (for documentation and explain-like listings).
func UseAttributes() [][2]string {
	keys := make([]int, 0, len(useIndexes))
	for k := range useIndexes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{strconv.Itoa(k), useIndexes[k]}
	}
	return out
}

// relations maps Bib-1 relation attributes (type 2) to CQL.
var relations = map[int]string{1: "<", 2: "<=", 3: "=", 4: ">=", 5: ">", 6: "<>"}

// Bib-1 attribute types.
const (
	attrUse          = 1
	attrRelation     = 2
	attrPosition     = 3
	attrStructure    = 4
	attrTruncation   = 5
	attrCompleteness = 6
)

// rpnToCQL turns an RPN query in the Bib-1 attribute set into CQL. A
// result set operand is replaced by that set's query (lookup). The CQL is
// then validated like an SRU query by the caller.
func rpnToCQL(q Query, lookup func(name string) (string, *Diagnostic)) (string, *Diagnostic) {
	if q.AttributeSet != OIDBib1Attributes {
		return "", diag(121, q.AttributeSet)
	}
	var b strings.Builder
	if d := writeRPN(&b, q.RPN, lookup); d != nil {
		return "", d
	}
	return b.String(), nil
}

func writeRPN(b *strings.Builder, n *RPNNode, lookup func(string) (string, *Diagnostic)) *Diagnostic {
	switch {
	case n == nil:
		return diag(108, "empty query")
	case n.Op != "":
		var op string
		switch n.Op {
		case "and":
			op = " and "
		case "or":
			op = " or "
		case "and-not":
			op = " not "
		case "prox":
			return diag(110, "prox")
		}
		b.WriteByte('(')
		if d := writeRPN(b, n.Left, lookup); d != nil {
			return d
		}
		b.WriteString(")" + op + "(")
		if d := writeRPN(b, n.Right, lookup); d != nil {
			return d
		}
		b.WriteByte(')')
		return nil
	case n.ResultAttr:
		return diag(245, "")
	case n.ResultSetRef:
		cql, d := lookup(n.ResultSet)
		if d != nil {
			return d
		}
		b.WriteString("(" + cql + ")")
		return nil
	}
	return writeTerm(b, n.Term)
}

// writeTerm writes one attributes-plus-term as a CQL search clause.
func writeTerm(b *strings.Builder, t *Term) *Diagnostic {
	if t.Kind != "general" && t.Kind != "characterString" && t.Kind != "numeric" {
		return diag(229, t.Kind)
	}
	var seen [7]bool
	use, rel, structure, trunc := 0, 3, 0, 100
	for _, a := range t.Attributes {
		if a.Set != "" && a.Set != OIDBib1Attributes {
			return diag(121, a.Set)
		}
		if a.Type < 1 || a.Type > 6 {
			return diag(113, strconv.Itoa(a.Type))
		}
		if a.Complex {
			return diag(246, "attribute type "+strconv.Itoa(a.Type))
		}
		if seen[a.Type] {
			return diag(123, "attribute type "+strconv.Itoa(a.Type)+" given twice")
		}
		seen[a.Type] = true
		v := strconv.Itoa(a.Value)
		switch a.Type {
		case attrUse:
			if _, ok := useIndexes[a.Value]; !ok {
				return diag(114, v)
			}
			use = a.Value
		case attrRelation:
			if _, ok := relations[a.Value]; !ok {
				return diag(117, v)
			}
			rel = a.Value
		case attrPosition:
			if a.Value != 3 { // any position in field
				return diag(119, v)
			}
		case attrStructure:
			if a.Value != 1 && a.Value != 2 && a.Value != 6 { // phrase, word, word list
				return diag(118, v)
			}
			structure = a.Value
		case attrTruncation:
			if a.Value != 1 && a.Value != 100 { // right, none
				return diag(120, v)
			}
			trunc = a.Value
		case attrCompleteness:
			if a.Value != 1 { // incomplete subfield
				return diag(122, v)
			}
		}
	}
	index := "alma.all_for_ui"
	if use != 0 {
		index = useIndexes[use]
	}
	if strings.TrimSpace(t.Value) == "" {
		return diag(108, "empty term")
	}
	relation := relations[rel]
	if structure == 6 { // word list: every word
		if rel != 3 {
			return diag(123, "word list with relation "+relation)
		}
		relation = "all"
	}
	if trunc == 1 && rel != 3 {
		return diag(123, "right truncation with relation "+relation)
	}
	b.WriteString(index)
	b.WriteByte(' ')
	b.WriteString(relation)
	b.WriteString(` "`)
	for i := 0; i < len(t.Value); i++ {
		switch c := t.Value[i]; c {
		case '\\', '"', '*', '?', '^':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	if trunc == 1 {
		b.WriteByte('*')
	}
	b.WriteByte('"')
	return nil
}

// FromSRU maps an SRU diagnostic (from query validation, or sent by Alma)
// to the Bib-1 diagnostic a Z39.50 client understands.
func FromSRU(d *sru.Diagnostic) *Diagnostic { return fromSRU(d) }

func fromSRU(d *sru.Diagnostic) *Diagnostic {
	info := d.Details
	switch d.Number() {
	case 10, 13, 14, 7, 6: // syntax, unterminated quote, empty query, bad value
		return diag(108, firstNonEmpty(info, d.Message))
	case 16: // unsupported index
		return diag(114, info)
	case 19: // unsupported relation
		return diag(117, info)
	case 20, 21: // relation modifier, boolean modifier
		return diag(123, info)
	case 27, 28, 29, 30: // empty term, masking
		return diag(108, firstNonEmpty(info, d.Message))
	case 48: // unsupported query feature
		return diag(108, firstNonEmpty(info, d.Message))
	case 61: // start past the window
		return diag(13, info)
	case 1, 2:
		return diag(2, firstNonEmpty(info, d.Message))
	}
	return diag(100, strings.TrimSpace("SRU diagnostic "+strconv.Itoa(d.Number())+" "+firstNonEmpty(info, d.Message)))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
