package z3950

// The searchRequest and presentRequest decoders as they were over
// asn1-ber's packets alone (before decodeInPlace, 2026-12-07), kept
// verbatim as FuzzInPlaceDecoder's reference: the decoders over el must
// decode every input to what these did.

import (
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// primitive checks that p is primitive (an IMPLICIT tag on a simple type).
func primitiveOld(p *ber.Packet, what string) ([]byte, error) {
	if p.TagType != ber.TypePrimitive {
		return nil, protoErr("%s is constructed", what)
	}
	return content(p), nil
}

// intOf reads an INTEGER's content octets (IMPLICIT tags carry no Value).
func intOfOld(p *ber.Packet, what string) (int, error) {
	b, err := primitiveOld(p, what)
	if err != nil {
		return 0, err
	}
	if len(b) == 0 || len(b) > 4 {
		return 0, protoErr("%s: integer of %d octets", what, len(b))
	}
	n := int64(int8(b[0]))
	for _, c := range b[1:] {
		n = n<<8 | int64(c)
	}
	return int(n), nil
}

func boolOfOld(p *ber.Packet, what string) (bool, error) {
	b, err := primitiveOld(p, what)
	if err != nil {
		return false, err
	}
	if len(b) != 1 {
		return false, protoErr("%s: boolean of %d octets", what, len(b))
	}
	return b[0] != 0, nil
}

func stringOfOld(p *ber.Packet, what string) (string, error) {
	b, err := primitiveOld(p, what)
	if err != nil {
		return "", err
	}
	if len(b) > maxStringBytes {
		return "", protoErr("%s longer than %d bytes", what, maxStringBytes)
	}
	return string(b), nil
}

// oidOf decodes an OBJECT IDENTIFIER's content octets.
func oidOfOld(p *ber.Packet, what string) (string, error) {
	b, err := primitiveOld(p, what)
	if err != nil {
		return "", err
	}
	if len(b) == 0 || len(b) > 64 || b[len(b)-1]&0x80 != 0 {
		return "", protoErr("%s: malformed object identifier", what)
	}
	var parts []string
	var v uint64
	first := true
	for _, c := range b {
		if v == 0 && c == 0x80 {
			return "", protoErr("%s: malformed object identifier", what)
		}
		v = v<<7 | uint64(c&0x7f)
		if v > 1<<32 {
			return "", protoErr("%s: object identifier arc too large", what)
		}
		if c&0x80 != 0 {
			continue
		}
		if first {
			x := min(v/40, 2)
			parts = append(parts, strconv.FormatUint(x, 10), strconv.FormatUint(v-40*x, 10))
			first = false
		} else {
			parts = append(parts, strconv.FormatUint(v, 10))
		}
		v = 0
	}
	return strings.Join(parts, "."), nil
}

// one unwraps an explicit tag: p must hold exactly one element.
func oneOld(p *ber.Packet, what string) (*ber.Packet, error) {
	if p.TagType != ber.TypeConstructed || len(p.Children) != 1 {
		return nil, protoErr("%s: explicit tag must hold one element", what)
	}
	return p.Children[0], nil
}

func decodeSearchOld(p *ber.Packet) (*SearchRequest, error) {
	r := &SearchRequest{}
	var have int
	for _, c := range p.Children {
		if c.ClassType != ber.ClassContext {
			continue
		}
		var err error
		switch int(c.Tag) {
		case 2:
			r.ReferenceID = append([]byte(nil), content(c)...)
		case 13:
			r.SmallSetUpperBound, err = intOfOld(c, "smallSetUpperBound")
			have |= 1
		case 14:
			r.LargeSetLowerBound, err = intOfOld(c, "largeSetLowerBound")
			have |= 2
		case 15:
			r.MediumSetPresentNumber, err = intOfOld(c, "mediumSetPresentNumber")
			have |= 4
		case 16:
			r.ReplaceIndicator, err = boolOfOld(c, "replaceIndicator")
			have |= 8
		case 17:
			r.ResultSetName, err = stringOfOld(c, "resultSetName")
			have |= 16
		case 18:
			if c.TagType != ber.TypeConstructed {
				return nil, protoErr("databaseNames is not a SEQUENCE OF")
			}
			for _, d := range c.Children {
				if !isCtx(d, 105) {
					return nil, protoErr("databaseNames holds a [%d]", d.Tag)
				}
				s, err := stringOfOld(d, "databaseName")
				if err != nil {
					return nil, err
				}
				r.DatabaseNames = append(r.DatabaseNames, s)
			}
			have |= 32
		case 100:
			r.SmallSetElementSetName, err = elementSetNamesOld(c)
		case 101:
			r.MediumSetElementSetName, err = elementSetNamesOld(c)
		case 104:
			r.PreferredRecordSyntax, err = oidOfOld(c, "preferredRecordSyntax")
		case 21:
			var q *ber.Packet
			if q, err = oneOld(c, "query"); err == nil {
				r.Query, err = decodeQueryOld(q)
			}
			have |= 64
		}
		if err != nil {
			return nil, err
		}
	}
	if have != 127 {
		return nil, protoErr("searchRequest lacks a required field")
	}
	return r, nil
}

// elementSetNames decodes an explicitly tagged ElementSetNames CHOICE;
// only a generic name is served.
func elementSetNamesOld(c *ber.Packet) (string, error) {
	e, err := oneOld(c, "elementSetNames")
	if err != nil {
		return "", err
	}
	if !isCtx(e, 0) {
		return "", protoErr("database-specific element set names are not served")
	}
	return stringOfOld(e, "genericElementSetName")
}

func decodeQueryOld(q *ber.Packet) (Query, error) {
	if q.ClassType != ber.ClassContext {
		return Query{}, protoErr("query is not a context-tagged CHOICE")
	}
	out := Query{Type: int(q.Tag)}
	switch out.Type {
	case 1, 101:
		if q.TagType != ber.TypeConstructed || len(q.Children) != 2 {
			return out, protoErr("RPNQuery must hold an attribute set and a structure")
		}
		set := q.Children[0]
		if set.ClassType != ber.ClassUniversal || set.Tag != ber.TagObjectIdentifier {
			return out, protoErr("RPNQuery attributeSet is not an OBJECT IDENTIFIER")
		}
		var err error
		if out.AttributeSet, err = oidOfOld(set, "attributeSet"); err != nil {
			return out, err
		}
		out.RPN, err = decodeRPNOld(q.Children[1])
		return out, err
	case 104:
		oid, data, err := externalOld(q)
		if err != nil {
			return out, err
		}
		out.ExternalOID = oid
		if oid == OIDCQL {
			if len(data) > maxQueryBytes {
				return out, protoErr("CQL query longer than %d bytes", maxQueryBytes)
			}
			out.CQL = string(data)
		}
		return out, nil
	}
	return out, nil
}

// external decodes an EXTERNAL (here IMPLICIT-tagged, so p is the
// SEQUENCE): its direct-reference and, for single-ASN1-type holding a
// string or octet-aligned, the data.
func externalOld(p *ber.Packet) (oid string, data []byte, err error) {
	if p.TagType != ber.TypeConstructed {
		return "", nil, protoErr("EXTERNAL is not constructed")
	}
	for _, c := range p.Children {
		switch {
		case c.ClassType == ber.ClassUniversal && c.Tag == ber.TagObjectIdentifier:
			if oid, err = oidOfOld(c, "direct-reference"); err != nil {
				return "", nil, err
			}
		case isCtx(c, 0):
			v, err := oneOld(c, "single-ASN1-type")
			if err != nil {
				return "", nil, err
			}
			if data, err = primitiveOld(v, "single-ASN1-type value"); err != nil {
				return "", nil, err
			}
		case isCtx(c, 1):
			if data, err = primitiveOld(c, "octet-aligned"); err != nil {
				return "", nil, err
			}
		}
	}
	if oid == "" {
		return "", nil, protoErr("EXTERNAL without a direct-reference")
	}
	return oid, data, nil
}

func decodeRPNOld(p *ber.Packet) (*RPNNode, error) {
	if p.ClassType != ber.ClassContext || p.TagType != ber.TypeConstructed {
		return nil, protoErr("RPNStructure is not a context-tagged CHOICE")
	}
	switch p.Tag {
	case 0: // op [0] Operand (explicit)
		o, err := oneOld(p, "operand")
		if err != nil {
			return nil, err
		}
		return decodeOperandOld(o)
	case 1: // rpnRpnOp [1] IMPLICIT SEQUENCE
		if len(p.Children) != 3 {
			return nil, protoErr("rpnRpnOp must hold two operands and an operator")
		}
		l, err := decodeRPNOld(p.Children[0])
		if err != nil {
			return nil, err
		}
		r, err := decodeRPNOld(p.Children[1])
		if err != nil {
			return nil, err
		}
		op := p.Children[2]
		if !isCtx(op, 46) {
			return nil, protoErr("operator is not [46]")
		}
		o, err := oneOld(op, "operator")
		if err != nil {
			return nil, err
		}
		if o.ClassType != ber.ClassContext {
			return nil, protoErr("operator is not context-tagged")
		}
		n := &RPNNode{Left: l, Right: r}
		switch o.Tag {
		case 0:
			n.Op = "and"
		case 1:
			n.Op = "or"
		case 2:
			n.Op = "and-not"
		case 3:
			n.Op = "prox"
		default:
			return nil, protoErr("unknown operator [%d]", o.Tag)
		}
		return n, nil
	}
	return nil, protoErr("unknown RPNStructure [%d]", p.Tag)
}

func decodeOperandOld(o *ber.Packet) (*RPNNode, error) {
	switch {
	case isCtx(o, 102):
		if o.TagType != ber.TypeConstructed || len(o.Children) != 2 || !isCtx(o.Children[0], 44) {
			return nil, protoErr("AttributesPlusTerm must hold [44] attributes and a term")
		}
		t := &Term{}
		for _, a := range o.Children[0].Children {
			attr, err := decodeAttributeOld(a)
			if err != nil {
				return nil, err
			}
			t.Attributes = append(t.Attributes, attr)
		}
		if len(t.Attributes) > 64 {
			return nil, protoErr("more than 64 attributes on one term")
		}
		v := o.Children[1]
		if v.ClassType != ber.ClassContext {
			return nil, protoErr("term is not context-tagged")
		}
		switch v.Tag {
		case 45:
			t.Kind = "general"
		case 215:
			t.Kind = "numeric"
			n, err := intOfOld(v, "numeric term")
			if err != nil {
				return nil, err
			}
			t.Value = strconv.Itoa(n)
			return &RPNNode{Term: t}, nil
		case 216:
			t.Kind = "characterString"
		default:
			t.Kind = "[" + strconv.Itoa(int(v.Tag)) + "]"
			return &RPNNode{Term: t}, nil
		}
		b, err := primitiveOld(v, "term")
		if err != nil {
			return nil, err
		}
		if len(b) > maxQueryBytes {
			return nil, protoErr("term longer than %d bytes", maxQueryBytes)
		}
		t.Value = string(b)
		return &RPNNode{Term: t}, nil
	case isCtx(o, 31):
		s, err := stringOfOld(o, "resultSetId")
		if err != nil {
			return nil, err
		}
		return &RPNNode{ResultSet: s, ResultSetRef: true}, nil
	case isCtx(o, 214):
		return &RPNNode{ResultAttr: true}, nil
	}
	return nil, protoErr("unknown operand [%d]", o.Tag)
}

func decodeAttributeOld(a *ber.Packet) (Attribute, error) {
	var out Attribute
	if a.ClassType != ber.ClassUniversal || a.Tag != ber.TagSequence || a.TagType != ber.TypeConstructed {
		return out, protoErr("AttributeElement is not a SEQUENCE")
	}
	var have int
	for _, c := range a.Children {
		var err error
		switch {
		case isCtx(c, 1):
			out.Set, err = oidOfOld(c, "attributeSet")
		case isCtx(c, 120):
			out.Type, err = intOfOld(c, "attributeType")
			have |= 1
		case isCtx(c, 121):
			out.Value, err = intOfOld(c, "attributeValue")
			have |= 2
		case isCtx(c, 224):
			out.Complex = true
			have |= 2
		default:
			err = protoErr("AttributeElement holds an unknown element")
		}
		if err != nil {
			return out, err
		}
	}
	if have != 3 {
		return out, protoErr("AttributeElement lacks its type or value")
	}
	return out, nil
}

func decodePresentOld(p *ber.Packet) (*PresentRequest, error) {
	r := &PresentRequest{}
	var have int
	for _, c := range p.Children {
		if c.ClassType != ber.ClassContext {
			continue
		}
		var err error
		switch int(c.Tag) {
		case 2:
			r.ReferenceID = append([]byte(nil), content(c)...)
		case 31:
			r.ResultSetID, err = stringOfOld(c, "resultSetId")
			have |= 1
		case 30:
			r.Start, err = intOfOld(c, "resultSetStartPoint")
			have |= 2
		case 29:
			r.Count, err = intOfOld(c, "numberOfRecordsRequested")
			have |= 4
		case 212:
			r.AdditionalRanges = true
		case 19:
			r.ElementSetName, err = elementSetNamesOld(c)
		case 209:
			r.ComplexComposition = true
		case 104:
			r.PreferredRecordSyntax, err = oidOfOld(c, "preferredRecordSyntax")
		case 206:
			r.MaxRecordSize, err = intOfOld(c, "maxRecordSize")
		}
		if err != nil {
			return nil, err
		}
	}
	if have != 7 {
		return nil, protoErr("presentRequest lacks its result set, start or count")
	}
	return r, nil
}
