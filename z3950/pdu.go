package z3950

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// PDU tags (Z39.50-2003 PDU ::= CHOICE, all [n] IMPLICIT).
const (
	tagInitRequest       = 20
	tagInitResponse      = 21
	tagSearchRequest     = 22
	tagSearchResponse    = 23
	tagPresentRequest    = 24
	tagPresentResponse   = 25
	tagDeleteRequest     = 26
	tagDeleteResponse    = 27
	tagAccessCtrlRequest = 28
	tagResourceCtrlReq   = 30
	tagTriggerResource   = 32
	tagResourceReportReq = 33
	tagScanRequest       = 35
	tagScanResponse      = 36
	tagSortRequest       = 43
	tagSortResponse      = 44
	tagSegmentRequest    = 45
	tagESRequest         = 46
	tagESResponse        = 47
	tagClose             = 48
)

// Object identifiers the server speaks.
const (
	OIDBib1Attributes = "1.2.840.10003.3.1"
	OIDBib1Diagnostic = "1.2.840.10003.4.1"
	OIDUSMARC         = "1.2.840.10003.5.10"
	OIDSUTRS          = "1.2.840.10003.5.101"
	OIDOPAC           = "1.2.840.10003.5.102"
	OIDXML            = "1.2.840.10003.5.109.10" // text/xml
	OIDXMLApp         = "1.2.840.10003.5.109.3"  // application/xml
	OIDCQL            = "1.2.840.10003.16.2"     // Type-104 CQL
)

// Init options (Options ::= BIT STRING).
const (
	OptSearch          = 0
	OptPresent         = 1
	OptDelSet          = 2
	OptScan            = 7
	OptSort            = 8
	OptNamedResultSets = 14
)

// Close reasons (CloseReason ::= [211] IMPLICIT INTEGER).
const (
	CloseFinished       = 0
	CloseShutdown       = 1
	CloseSystemProblem  = 2
	CloseResources      = 4
	CloseProtocolError  = 6
	CloseLackOfActivity = 7
)

// maxStringBytes bounds any single string field; a longer one is a
// protocol error (result set names, database names, element sets).
const maxStringBytes = 1024

// ProtocolError is a PDU that cannot be decoded or breaks the protocol;
// the session answers it with a Close (protocol error) and ends.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "z39.50 protocol error: " + e.Msg }

func protoErr(format string, a ...any) error { return &ProtocolError{fmt.Sprintf(format, a...)} }

// InitRequest is the fields of an initRequest the server uses.
type InitRequest struct {
	ReferenceID           []byte
	Versions              []int // protocol versions offered: 1, 2, 3
	Options               []int // option bits set
	PreferredMessageSize  int
	ExceptionalRecordSize int
	ImplementationID      string
	ImplementationName    string
	ImplementationVersion string
}

// SearchRequest is a searchRequest.
type SearchRequest struct {
	ReferenceID             []byte
	SmallSetUpperBound      int
	LargeSetLowerBound      int
	MediumSetPresentNumber  int
	ReplaceIndicator        bool
	ResultSetName           string
	DatabaseNames           []string
	SmallSetElementSetName  string
	MediumSetElementSetName string
	PreferredRecordSyntax   string
	Query                   Query
}

// Query is a search's query: Type 1 or 101 (RPN), 104 (External: CQL when
// its OID is OIDCQL), or another type the server refuses.
type Query struct {
	Type         int
	AttributeSet string   // RPN
	RPN          *RPNNode // RPN
	ExternalOID  string   // Type 104
	CQL          string   // Type 104 with OIDCQL
}

// RPNNode is one node of an RPN query: an operator with two operands, or
// an operand (attributes plus term, or a result set reference).
type RPNNode struct {
	Op          string // "and", "or", "and-not", "prox"; "" for an operand
	Left, Right *RPNNode

	Term      *Term  // attributes plus term
	ResultSet string // result set reference, when ResultSetRef
	// ResultSetRef marks a result set operand; ResultAttr a result set
	// with attributes, which is refused.
	ResultSetRef, ResultAttr bool
}

// Term is an AttributesPlusTerm.
type Term struct {
	Attributes []Attribute
	Value      string
	Kind       string // "general", "numeric", "characterString" or the type refused
}

// Attribute is one AttributeElement.
type Attribute struct {
	Set     string // "" means the query's attribute set
	Type    int
	Value   int
	Complex bool // complex attribute value, refused
}

// PresentRequest is a presentRequest.
type PresentRequest struct {
	ReferenceID           []byte
	ResultSetID           string
	Start, Count          int
	ElementSetName        string
	ComplexComposition    bool
	AdditionalRanges      bool
	PreferredRecordSyntax string
	MaxRecordSize         int
}

// DeleteRequest is a deleteResultSetRequest.
type DeleteRequest struct {
	ReferenceID []byte
	All         bool
	Names       []string
}

// CloseRequest is a close from the client.
type CloseRequest struct {
	ReferenceID []byte
	Reason      int
}

// OtherRequest is a request the server answers with a diagnostic or a
// Close: Scan, Sort, Extended Services and the rest.
type OtherRequest struct {
	Tag         int
	ReferenceID []byte
}

// decodePDU decodes one framed PDU.
func decodePDU(frame []byte) (any, error) {
	p, err := ber.DecodePacketErr(frame)
	if err != nil {
		return nil, protoErr("BER: %v", err)
	}
	if p.ClassType != ber.ClassContext || p.TagType != ber.TypeConstructed {
		return nil, protoErr("PDU is not a context-tagged SEQUENCE")
	}
	switch int(p.Tag) {
	case tagInitRequest:
		return decodeInit(p)
	case tagSearchRequest:
		return decodeSearch(p)
	case tagPresentRequest:
		return decodePresent(p)
	case tagDeleteRequest:
		return decodeDelete(p)
	case tagClose:
		return decodeClose(p)
	case tagAccessCtrlRequest, tagResourceCtrlReq, tagTriggerResource, tagResourceReportReq,
		tagScanRequest, tagSortRequest, tagSegmentRequest, tagESRequest:
		return &OtherRequest{Tag: int(p.Tag), ReferenceID: refID(p)}, nil
	}
	return nil, protoErr("unknown or unexpected PDU [%d]", p.Tag)
}

// ctx reports whether p is context tag n.
func isCtx(p *ber.Packet, n int) bool { return p.ClassType == ber.ClassContext && int(p.Tag) == n }

func content(p *ber.Packet) []byte {
	if p == nil || p.Data == nil {
		return nil
	}
	return p.Data.Bytes()
}

func refID(p *ber.Packet) []byte {
	for _, c := range p.Children {
		if isCtx(c, 2) && c.TagType == ber.TypePrimitive {
			return append([]byte(nil), content(c)...)
		}
	}
	return nil
}

// primitive checks that p is primitive (an IMPLICIT tag on a simple type).
func primitive(p *ber.Packet, what string) ([]byte, error) {
	if p.TagType != ber.TypePrimitive {
		return nil, protoErr("%s is constructed", what)
	}
	return content(p), nil
}

// intOf reads an INTEGER's content octets (IMPLICIT tags carry no Value).
func intOf(p *ber.Packet, what string) (int, error) {
	b, err := primitive(p, what)
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

func boolOf(p *ber.Packet, what string) (bool, error) {
	b, err := primitive(p, what)
	if err != nil {
		return false, err
	}
	if len(b) != 1 {
		return false, protoErr("%s: boolean of %d octets", what, len(b))
	}
	return b[0] != 0, nil
}

func stringOf(p *ber.Packet, what string) (string, error) {
	b, err := primitive(p, what)
	if err != nil {
		return "", err
	}
	if len(b) > maxStringBytes {
		return "", protoErr("%s longer than %d bytes", what, maxStringBytes)
	}
	return string(b), nil
}

// oidOf decodes an OBJECT IDENTIFIER's content octets.
func oidOf(p *ber.Packet, what string) (string, error) {
	b, err := primitive(p, what)
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

// bitsOf returns the set bits of a BIT STRING's content octets.
func bitsOf(p *ber.Packet, what string) ([]int, error) {
	b, err := primitive(p, what)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[0] > 7 || len(b) > 32 {
		return nil, protoErr("%s: malformed bit string", what)
	}
	var out []int
	for i, c := range b[1:] {
		for j := 0; j < 8; j++ {
			if c&(0x80>>j) != 0 {
				out = append(out, i*8+j)
			}
		}
	}
	return out, nil
}

// one unwraps an explicit tag: p must hold exactly one element.
func one(p *ber.Packet, what string) (*ber.Packet, error) {
	if p.TagType != ber.TypeConstructed || len(p.Children) != 1 {
		return nil, protoErr("%s: explicit tag must hold one element", what)
	}
	return p.Children[0], nil
}

func decodeInit(p *ber.Packet) (*InitRequest, error) {
	r := &InitRequest{}
	var have int
	for _, c := range p.Children {
		if c.ClassType != ber.ClassContext {
			continue
		}
		var err error
		switch int(c.Tag) {
		case 2:
			r.ReferenceID, err = primitive(c, "referenceId")
			r.ReferenceID = append([]byte(nil), r.ReferenceID...)
		case 3:
			var bits []int
			bits, err = bitsOf(c, "protocolVersion")
			for _, b := range bits {
				r.Versions = append(r.Versions, b+1)
			}
			have |= 1
		case 4:
			r.Options, err = bitsOf(c, "options")
			have |= 2
		case 5:
			r.PreferredMessageSize, err = intOf(c, "preferredMessageSize")
			have |= 4
		case 6:
			r.ExceptionalRecordSize, err = intOf(c, "exceptionalRecordSize")
			have |= 8
		case 110:
			r.ImplementationID, err = stringOf(c, "implementationId")
		case 111:
			r.ImplementationName, err = stringOf(c, "implementationName")
		case 112:
			r.ImplementationVersion, err = stringOf(c, "implementationVersion")
		}
		if err != nil {
			return nil, err
		}
	}
	if have != 15 {
		return nil, protoErr("initRequest lacks protocolVersion, options or the sizes")
	}
	return r, nil
}

func decodeSearch(p *ber.Packet) (*SearchRequest, error) {
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
			r.SmallSetUpperBound, err = intOf(c, "smallSetUpperBound")
			have |= 1
		case 14:
			r.LargeSetLowerBound, err = intOf(c, "largeSetLowerBound")
			have |= 2
		case 15:
			r.MediumSetPresentNumber, err = intOf(c, "mediumSetPresentNumber")
			have |= 4
		case 16:
			r.ReplaceIndicator, err = boolOf(c, "replaceIndicator")
			have |= 8
		case 17:
			r.ResultSetName, err = stringOf(c, "resultSetName")
			have |= 16
		case 18:
			if c.TagType != ber.TypeConstructed {
				return nil, protoErr("databaseNames is not a SEQUENCE OF")
			}
			for _, d := range c.Children {
				if !isCtx(d, 105) {
					return nil, protoErr("databaseNames holds a [%d]", d.Tag)
				}
				s, err := stringOf(d, "databaseName")
				if err != nil {
					return nil, err
				}
				r.DatabaseNames = append(r.DatabaseNames, s)
			}
			have |= 32
		case 100:
			r.SmallSetElementSetName, err = elementSetNames(c)
		case 101:
			r.MediumSetElementSetName, err = elementSetNames(c)
		case 104:
			r.PreferredRecordSyntax, err = oidOf(c, "preferredRecordSyntax")
		case 21:
			var q *ber.Packet
			if q, err = one(c, "query"); err == nil {
				r.Query, err = decodeQuery(q)
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
func elementSetNames(c *ber.Packet) (string, error) {
	e, err := one(c, "elementSetNames")
	if err != nil {
		return "", err
	}
	if !isCtx(e, 0) {
		return "", protoErr("database-specific element set names are not served")
	}
	return stringOf(e, "genericElementSetName")
}

func decodeQuery(q *ber.Packet) (Query, error) {
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
		if out.AttributeSet, err = oidOf(set, "attributeSet"); err != nil {
			return out, err
		}
		out.RPN, err = decodeRPN(q.Children[1])
		return out, err
	case 104:
		oid, data, err := external(q)
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

// maxQueryBytes bounds a CQL query or an RPN term.
const maxQueryBytes = 8 << 10

// external decodes an EXTERNAL (here IMPLICIT-tagged, so p is the
// SEQUENCE): its direct-reference and, for single-ASN1-type holding a
// string or octet-aligned, the data.
func external(p *ber.Packet) (oid string, data []byte, err error) {
	if p.TagType != ber.TypeConstructed {
		return "", nil, protoErr("EXTERNAL is not constructed")
	}
	for _, c := range p.Children {
		switch {
		case c.ClassType == ber.ClassUniversal && c.Tag == ber.TagObjectIdentifier:
			if oid, err = oidOf(c, "direct-reference"); err != nil {
				return "", nil, err
			}
		case isCtx(c, 0):
			v, err := one(c, "single-ASN1-type")
			if err != nil {
				return "", nil, err
			}
			if data, err = primitive(v, "single-ASN1-type value"); err != nil {
				return "", nil, err
			}
		case isCtx(c, 1):
			if data, err = primitive(c, "octet-aligned"); err != nil {
				return "", nil, err
			}
		}
	}
	if oid == "" {
		return "", nil, protoErr("EXTERNAL without a direct-reference")
	}
	return oid, data, nil
}

func decodeRPN(p *ber.Packet) (*RPNNode, error) {
	if p.ClassType != ber.ClassContext || p.TagType != ber.TypeConstructed {
		return nil, protoErr("RPNStructure is not a context-tagged CHOICE")
	}
	switch p.Tag {
	case 0: // op [0] Operand (explicit)
		o, err := one(p, "operand")
		if err != nil {
			return nil, err
		}
		return decodeOperand(o)
	case 1: // rpnRpnOp [1] IMPLICIT SEQUENCE
		if len(p.Children) != 3 {
			return nil, protoErr("rpnRpnOp must hold two operands and an operator")
		}
		l, err := decodeRPN(p.Children[0])
		if err != nil {
			return nil, err
		}
		r, err := decodeRPN(p.Children[1])
		if err != nil {
			return nil, err
		}
		op := p.Children[2]
		if !isCtx(op, 46) {
			return nil, protoErr("operator is not [46]")
		}
		o, err := one(op, "operator")
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

func decodeOperand(o *ber.Packet) (*RPNNode, error) {
	switch {
	case isCtx(o, 102):
		if o.TagType != ber.TypeConstructed || len(o.Children) != 2 || !isCtx(o.Children[0], 44) {
			return nil, protoErr("AttributesPlusTerm must hold [44] attributes and a term")
		}
		t := &Term{}
		for _, a := range o.Children[0].Children {
			attr, err := decodeAttribute(a)
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
			n, err := intOf(v, "numeric term")
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
		b, err := primitive(v, "term")
		if err != nil {
			return nil, err
		}
		if len(b) > maxQueryBytes {
			return nil, protoErr("term longer than %d bytes", maxQueryBytes)
		}
		t.Value = string(b)
		return &RPNNode{Term: t}, nil
	case isCtx(o, 31):
		s, err := stringOf(o, "resultSetId")
		if err != nil {
			return nil, err
		}
		return &RPNNode{ResultSet: s, ResultSetRef: true}, nil
	case isCtx(o, 214):
		return &RPNNode{ResultAttr: true}, nil
	}
	return nil, protoErr("unknown operand [%d]", o.Tag)
}

func decodeAttribute(a *ber.Packet) (Attribute, error) {
	var out Attribute
	if a.ClassType != ber.ClassUniversal || a.Tag != ber.TagSequence || a.TagType != ber.TypeConstructed {
		return out, protoErr("AttributeElement is not a SEQUENCE")
	}
	var have int
	for _, c := range a.Children {
		var err error
		switch {
		case isCtx(c, 1):
			out.Set, err = oidOf(c, "attributeSet")
		case isCtx(c, 120):
			out.Type, err = intOf(c, "attributeType")
			have |= 1
		case isCtx(c, 121):
			out.Value, err = intOf(c, "attributeValue")
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

func decodePresent(p *ber.Packet) (*PresentRequest, error) {
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
			r.ResultSetID, err = stringOf(c, "resultSetId")
			have |= 1
		case 30:
			r.Start, err = intOf(c, "resultSetStartPoint")
			have |= 2
		case 29:
			r.Count, err = intOf(c, "numberOfRecordsRequested")
			have |= 4
		case 212:
			r.AdditionalRanges = true
		case 19:
			r.ElementSetName, err = elementSetNames(c)
		case 209:
			r.ComplexComposition = true
		case 104:
			r.PreferredRecordSyntax, err = oidOf(c, "preferredRecordSyntax")
		case 206:
			r.MaxRecordSize, err = intOf(c, "maxRecordSize")
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

func decodeDelete(p *ber.Packet) (*DeleteRequest, error) {
	r := &DeleteRequest{}
	have := false
	for _, c := range p.Children {
		switch {
		case isCtx(c, 2):
			r.ReferenceID = append([]byte(nil), content(c)...)
		case isCtx(c, 32):
			f, err := intOf(c, "deleteFunction")
			if err != nil {
				return nil, err
			}
			if f != 0 && f != 1 {
				return nil, protoErr("deleteFunction %d", f)
			}
			r.All, have = f == 1, true
		case c.ClassType == ber.ClassUniversal && c.Tag == ber.TagSequence:
			for _, n := range c.Children {
				if !isCtx(n, 31) {
					return nil, protoErr("resultSetList holds a [%d]", n.Tag)
				}
				s, err := stringOf(n, "resultSetId")
				if err != nil {
					return nil, err
				}
				r.Names = append(r.Names, s)
			}
		}
	}
	if !have {
		return nil, protoErr("deleteResultSetRequest lacks deleteFunction")
	}
	return r, nil
}

func decodeClose(p *ber.Packet) (*CloseRequest, error) {
	r := &CloseRequest{Reason: -1}
	for _, c := range p.Children {
		switch {
		case isCtx(c, 2):
			r.ReferenceID = append([]byte(nil), content(c)...)
		case isCtx(c, 211):
			n, err := intOf(c, "closeReason")
			if err != nil {
				return nil, err
			}
			r.Reason = n
		}
	}
	if r.Reason < 0 {
		return nil, protoErr("close lacks closeReason")
	}
	return r, nil
}

// validName reports whether a result set or database name is printable
// UTF-8 without control characters.
func validName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

var errClosed = errors.New("session closed")
