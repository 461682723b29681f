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

// decodePDU decodes one framed PDU. A searchRequest or presentRequest,
// the PDUs of every exchange, is read in place when it can be; every other
// PDU, and one the in-place reader does not take, is asn1-ber's.
func decodePDU(frame []byte) (any, error) {
	if req, ok, err := decodeInPlace(frame); ok {
		return req, err
	}
	return decodePacket(frame)
}

// decodePacket decodes one framed PDU through asn1-ber's packet tree.
func decodePacket(frame []byte) (any, error) {
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
		return decodeSearch(elOf(p))
	case tagPresentRequest:
		return decodePresent(elOf(p))
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

// isCtx reports whether p is context tag n.
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

// The packet forms of the field readers, for the PDUs asn1-ber decodes.
func primitive(p *ber.Packet, what string) ([]byte, error) { return elOf(p).primitive(what) }
func intOf(p *ber.Packet, what string) (int, error)        { return elOf(p).int(what) }
func boolOf(p *ber.Packet, what string) (bool, error)      { return elOf(p).bool(what) }
func stringOf(p *ber.Packet, what string) (string, error)  { return elOf(p).string(what) }
func oidOf(p *ber.Packet, what string) (string, error)     { return elOf(p).oid(what) }
func bitsOf(p *ber.Packet, what string) ([]int, error)     { return elOf(p).bits(what) }

// primitive checks that e is primitive (an IMPLICIT tag on a simple type).
func (e el) primitive(what string) ([]byte, error) {
	if e.cons {
		return nil, protoErr("%s is constructed", what)
	}
	return e.data, nil
}

// int reads an INTEGER's content octets (IMPLICIT tags carry no Value).
func (e el) int(what string) (int, error) {
	b, err := e.primitive(what)
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

func (e el) bool(what string) (bool, error) {
	b, err := e.primitive(what)
	if err != nil {
		return false, err
	}
	if len(b) != 1 {
		return false, protoErr("%s: boolean of %d octets", what, len(b))
	}
	return b[0] != 0, nil
}

func (e el) string(what string) (string, error) {
	b, err := e.primitive(what)
	if err != nil {
		return "", err
	}
	if len(b) > maxStringBytes {
		return "", protoErr("%s longer than %d bytes", what, maxStringBytes)
	}
	return string(b), nil
}

// wellKnownOIDs are the object identifiers requests carry, by their
// content octets: decoding one is a map lookup, not a string built.
var wellKnownOIDs = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{OIDBib1Attributes, OIDBib1Diagnostic, OIDUSMARC, OIDSUTRS, OIDOPAC, OIDXML, OIDXMLApp, OIDCQL} {
		m[string(oid(s).Data.Bytes())] = s
	}
	return m
}()

// oid decodes an OBJECT IDENTIFIER's content octets.
func (e el) oid(what string) (string, error) {
	b, err := e.primitive(what)
	if err != nil {
		return "", err
	}
	if s, ok := wellKnownOIDs[string(b)]; ok {
		return s, nil
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

// bits returns the set bits of a BIT STRING's content octets.
func (e el) bits(what string) ([]int, error) {
	b, err := e.primitive(what)
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

// one unwraps an explicit tag: e must hold exactly one element.
func (e el) one(what string) (el, error) {
	var buf [2]el
	k := e.kids(buf[:0])
	if !e.cons || len(k) != 1 {
		return el{}, protoErr("%s: explicit tag must hold one element", what)
	}
	return k[0], nil
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

// The searchRequest and presentRequest decoders read el, so the same
// rules serve a PDU read in place (decodeInPlace) and one asn1-ber
// decoded. A request's fields are few: the children fit in buffers on the
// stack.

func decodeSearch(p el) (*SearchRequest, error) {
	r := &SearchRequest{}
	var have int
	var buf [16]el
	for _, c := range p.kids(buf[:0]) {
		if c.class != classContext {
			continue
		}
		var err error
		switch c.tag {
		case 2:
			r.ReferenceID = append([]byte(nil), c.data...)
		case 13:
			r.SmallSetUpperBound, err = c.int("smallSetUpperBound")
			have |= 1
		case 14:
			r.LargeSetLowerBound, err = c.int("largeSetLowerBound")
			have |= 2
		case 15:
			r.MediumSetPresentNumber, err = c.int("mediumSetPresentNumber")
			have |= 4
		case 16:
			r.ReplaceIndicator, err = c.bool("replaceIndicator")
			have |= 8
		case 17:
			r.ResultSetName, err = c.string("resultSetName")
			have |= 16
		case 18:
			if !c.cons {
				return nil, protoErr("databaseNames is not a SEQUENCE OF")
			}
			var dbuf [4]el
			for _, d := range c.kids(dbuf[:0]) {
				if !d.isCtx(105) {
					return nil, protoErr("databaseNames holds a [%d]", d.tag)
				}
				s, err := d.string("databaseName")
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
			r.PreferredRecordSyntax, err = c.oid("preferredRecordSyntax")
		case 21:
			var q el
			if q, err = c.one("query"); err == nil {
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
func elementSetNames(c el) (string, error) {
	e, err := c.one("elementSetNames")
	if err != nil {
		return "", err
	}
	if !e.isCtx(0) {
		return "", protoErr("database-specific element set names are not served")
	}
	return e.string("genericElementSetName")
}

func decodeQuery(q el) (Query, error) {
	if q.class != classContext {
		return Query{}, protoErr("query is not a context-tagged CHOICE")
	}
	out := Query{Type: int(q.tag)}
	switch out.Type {
	case 1, 101:
		var buf [3]el
		k := q.kids(buf[:0])
		if !q.cons || len(k) != 2 {
			return out, protoErr("RPNQuery must hold an attribute set and a structure")
		}
		set := k[0]
		if set.class != classUniversal || set.tag != uint64(ber.TagObjectIdentifier) {
			return out, protoErr("RPNQuery attributeSet is not an OBJECT IDENTIFIER")
		}
		var err error
		if out.AttributeSet, err = set.oid("attributeSet"); err != nil {
			return out, err
		}
		out.RPN, err = decodeRPN(k[1])
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
func external(p el) (oid string, data []byte, err error) {
	if !p.cons {
		return "", nil, protoErr("EXTERNAL is not constructed")
	}
	var buf [4]el
	for _, c := range p.kids(buf[:0]) {
		switch {
		case c.class == classUniversal && c.tag == uint64(ber.TagObjectIdentifier):
			if oid, err = c.oid("direct-reference"); err != nil {
				return "", nil, err
			}
		case c.isCtx(0):
			v, err := c.one("single-ASN1-type")
			if err != nil {
				return "", nil, err
			}
			if data, err = v.primitive("single-ASN1-type value"); err != nil {
				return "", nil, err
			}
		case c.isCtx(1):
			if data, err = c.primitive("octet-aligned"); err != nil {
				return "", nil, err
			}
		}
	}
	if oid == "" {
		return "", nil, protoErr("EXTERNAL without a direct-reference")
	}
	return oid, data, nil
}

func decodeRPN(p el) (*RPNNode, error) {
	if p.class != classContext || !p.cons {
		return nil, protoErr("RPNStructure is not a context-tagged CHOICE")
	}
	switch p.tag {
	case 0: // op [0] Operand (explicit)
		o, err := p.one("operand")
		if err != nil {
			return nil, err
		}
		return decodeOperand(o)
	case 1: // rpnRpnOp [1] IMPLICIT SEQUENCE
		var buf [4]el
		k := p.kids(buf[:0])
		if len(k) != 3 {
			return nil, protoErr("rpnRpnOp must hold two operands and an operator")
		}
		l, err := decodeRPN(k[0])
		if err != nil {
			return nil, err
		}
		r, err := decodeRPN(k[1])
		if err != nil {
			return nil, err
		}
		op := k[2]
		if !op.isCtx(46) {
			return nil, protoErr("operator is not [46]")
		}
		o, err := op.one("operator")
		if err != nil {
			return nil, err
		}
		if o.class != classContext {
			return nil, protoErr("operator is not context-tagged")
		}
		n := &RPNNode{Left: l, Right: r}
		switch o.tag {
		case 0:
			n.Op = "and"
		case 1:
			n.Op = "or"
		case 2:
			n.Op = "and-not"
		case 3:
			n.Op = "prox"
		default:
			return nil, protoErr("unknown operator [%d]", o.tag)
		}
		return n, nil
	}
	return nil, protoErr("unknown RPNStructure [%d]", p.tag)
}

func decodeOperand(o el) (*RPNNode, error) {
	switch {
	case o.isCtx(102):
		var buf [3]el
		k := o.kids(buf[:0])
		if !o.cons || len(k) != 2 || !k[0].isCtx(44) {
			return nil, protoErr("AttributesPlusTerm must hold [44] attributes and a term")
		}
		t := &Term{}
		var abuf [8]el
		for _, a := range k[0].kids(abuf[:0]) {
			attr, err := decodeAttribute(a)
			if err != nil {
				return nil, err
			}
			t.Attributes = append(t.Attributes, attr)
		}
		if len(t.Attributes) > 64 {
			return nil, protoErr("more than 64 attributes on one term")
		}
		v := k[1]
		if v.class != classContext {
			return nil, protoErr("term is not context-tagged")
		}
		switch v.tag {
		case 45:
			t.Kind = "general"
		case 215:
			t.Kind = "numeric"
			n, err := v.int("numeric term")
			if err != nil {
				return nil, err
			}
			t.Value = strconv.Itoa(n)
			return &RPNNode{Term: t}, nil
		case 216:
			t.Kind = "characterString"
		default:
			t.Kind = "[" + strconv.Itoa(int(v.tag)) + "]"
			return &RPNNode{Term: t}, nil
		}
		b, err := v.primitive("term")
		if err != nil {
			return nil, err
		}
		if len(b) > maxQueryBytes {
			return nil, protoErr("term longer than %d bytes", maxQueryBytes)
		}
		t.Value = string(b)
		return &RPNNode{Term: t}, nil
	case o.isCtx(31):
		s, err := o.string("resultSetId")
		if err != nil {
			return nil, err
		}
		return &RPNNode{ResultSet: s, ResultSetRef: true}, nil
	case o.isCtx(214):
		return &RPNNode{ResultAttr: true}, nil
	}
	return nil, protoErr("unknown operand [%d]", o.tag)
}

func decodeAttribute(a el) (Attribute, error) {
	var out Attribute
	if a.class != classUniversal || a.tag != uint64(ber.TagSequence) || !a.cons {
		return out, protoErr("AttributeElement is not a SEQUENCE")
	}
	var have int
	var buf [4]el
	for _, c := range a.kids(buf[:0]) {
		var err error
		switch {
		case c.isCtx(1):
			out.Set, err = c.oid("attributeSet")
		case c.isCtx(120):
			out.Type, err = c.int("attributeType")
			have |= 1
		case c.isCtx(121):
			out.Value, err = c.int("attributeValue")
			have |= 2
		case c.isCtx(224):
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

func decodePresent(p el) (*PresentRequest, error) {
	r := &PresentRequest{}
	var have int
	var buf [16]el
	for _, c := range p.kids(buf[:0]) {
		if c.class != classContext {
			continue
		}
		var err error
		switch c.tag {
		case 2:
			r.ReferenceID = append([]byte(nil), c.data...)
		case 31:
			r.ResultSetID, err = c.string("resultSetId")
			have |= 1
		case 30:
			r.Start, err = c.int("resultSetStartPoint")
			have |= 2
		case 29:
			r.Count, err = c.int("numberOfRecordsRequested")
			have |= 4
		case 212:
			r.AdditionalRanges = true
		case 19:
			r.ElementSetName, err = elementSetNames(c)
		case 209:
			r.ComplexComposition = true
		case 104:
			r.PreferredRecordSyntax, err = c.oid("preferredRecordSyntax")
		case 206:
			r.MaxRecordSize, err = c.int("maxRecordSize")
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
