package z3950

import (
	"strconv"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// Builders over asn1-ber. A packet's bytes are copied into its parent when
// appended, so every tree is built bottom up.

func seq() *ber.Packet { return ber.NewSequence("") }

func ctxCons(tag int, kids ...*ber.Packet) *ber.Packet {
	p := ber.Encode(ber.ClassContext, ber.TypeConstructed, ber.Tag(tag), nil, "")
	for _, k := range kids {
		p.AppendChild(k)
	}
	return p
}

func ctxInt(tag, v int) *ber.Packet {
	return ber.NewInteger(ber.ClassContext, ber.TypePrimitive, ber.Tag(tag), int64(v), "")
}

func ctxBool(tag int, v bool) *ber.Packet {
	p := ber.Encode(ber.ClassContext, ber.TypePrimitive, ber.Tag(tag), nil, "")
	if v {
		p.Data.WriteByte(0xff)
	} else {
		p.Data.WriteByte(0)
	}
	return p
}

func ctxBytes(tag int, b []byte) *ber.Packet {
	p := ber.Encode(ber.ClassContext, ber.TypePrimitive, ber.Tag(tag), nil, "")
	p.Data.Write(b)
	return p
}

func ctxString(tag int, s string) *ber.Packet { return ctxBytes(tag, []byte(s)) }

// ctxBits is an IMPLICIT BIT STRING holding bits 0..n-1 (set per on).
func ctxBits(tag, n int, on func(int) bool) *ber.Packet {
	b := make([]byte, 1+(n+7)/8)
	b[0] = byte((8 - n%8) % 8)
	for i := 0; i < n; i++ {
		if on(i) {
			b[1+i/8] |= 0x80 >> (i % 8)
		}
	}
	return ctxBytes(tag, b)
}

func oid(s string) *ber.Packet {
	return ber.NewOID(ber.ClassUniversal, ber.TypePrimitive, ber.TagObjectIdentifier, s, "")
}

func intl(s string) *ber.Packet { // InternationalString ::= GeneralString
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagGeneralString, s, "")
}

func universalInt(v int) *ber.Packet {
	return ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(v), "")
}

// pdu wraps a response's fields in its [tag] IMPLICIT SEQUENCE, with the
// request's referenceId first when it had one.
// Each field is encoded once by asn1-ber and copied once into the PDU.
func pdu(tag int, ref []byte, fields ...*ber.Packet) []byte {
	return pduRecords(tag, ref, false, nil, fields...)
}

// pduRecords is pdu with responseRecords [28] of recs as its last field
// when withRecords (an empty list when recs is). The records are the bulk of a response, so they
// are written straight into the PDU around each record's cached EXTERNAL:
// one copy of their bytes and one allocation for the whole PDU, where
// building a [28] packet and then the PDU from it copied them three times.
func pduRecords(tag int, ref []byte, withRecords bool, recs []record, fields ...*ber.Packet) []byte {
	if ref != nil {
		fields = append([]*ber.Packet{ctxBytes(2, ref)}, fields...)
	}
	enc := make([][]byte, len(fields))
	n := 0
	for i, f := range fields {
		enc[i] = f.Bytes()
		n += len(enc[i])
	}
	var list int // the [28] list's content length
	var names [][]byte
	if withRecords {
		names = make([][]byte, len(recs))
		for i, r := range recs {
			names[i] = recordName(r)
			list += tlvLen(namePlusRecordLen(names[i], r))
		}
		n += tlvLen(list)
	}
	var b []byte
	if tag < 31 {
		b = appendHeader(make([]byte, 0, n+6), 0xa0|byte(tag), n)
	} else { // [31] and up: high-tag-number form, one octet up to 127
		b = appendHeader(make([]byte, 0, n+7), 0xbf, n)
		b = append(b[:1], append([]byte{byte(tag)}, b[1:]...)...)
	}
	for _, e := range enc {
		b = append(b, e...)
	}
	if withRecords {
		b = appendHeader(b, 0xbc, list) // responseRecords [28] IMPLICIT SEQUENCE OF
		for i, r := range recs {
			b = appendNamePlusRecord(b, names[i], r)
		}
	}
	return b
}

// tlvLen is the encoded length of a TLV of n content octets (tags below 31).
func tlvLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 1<<8:
		return 3 + n
	case n < 1<<16:
		return 4 + n
	case n < 1<<24:
		return 5 + n
	}
	return 6 + n
}

// recordName is a NamePlusRecord's name, [0] IMPLICIT DatabaseName, or
// nothing.
func recordName(r record) []byte {
	if r.db == "" {
		return nil
	}
	return append(appendHeader(make([]byte, 0, len(r.db)+6), 0x80, len(r.db)), r.db...)
}

// namePlusRecordLen is the content length of r's NamePlusRecord.
func namePlusRecordLen(name []byte, r record) int {
	if r.diag != nil {
		return len(name) + len(diagRecord(r.diag))
	}
	return len(name) + tlvLen(tlvLen(len(r.ext)))
}

// diagRecord is a surrogate diagnostic, [1] { [2] DefaultDiagFormat }.
func diagRecord(d *Diagnostic) []byte { return ctxCons(1, ctxCons(2, d.packet())).Bytes() }

// appendNamePlusRecord appends r's NamePlusRecord SEQUENCE: its name, and
// [1] { [1] EXTERNAL } (retrievalRecord) or its surrogate diagnostic.
func appendNamePlusRecord(b, name []byte, r record) []byte {
	b = appendHeader(b, 0x30, namePlusRecordLen(name, r))
	b = append(b, name...)
	if r.diag != nil {
		return append(b, diagRecord(r.diag)...)
	}
	b = appendHeader(b, 0xa1, tlvLen(len(r.ext)))
	b = appendHeader(b, 0xa1, len(r.ext))
	return append(b, r.ext...)
}

// Diagnostic is a Bib-1 diagnostic (diagnostic set 1.2.840.10003.4.1).
// Returned as an error by a Backend, it reaches the client unchanged.
type Diagnostic struct {
	Condition int
	AddInfo   string
}

func (d *Diagnostic) Error() string {
	s := "bib-1 diagnostic " + strconv.Itoa(d.Condition)
	if m := bib1Messages[d.Condition]; m != "" {
		s += " (" + m + ")"
	}
	if d.AddInfo != "" {
		s += ": " + d.AddInfo
	}
	return s
}

// diag returns a Bib-1 diagnostic.
func diag(n int, addinfo string) *Diagnostic { return &Diagnostic{Condition: n, AddInfo: addinfo} }

// defaultDiag is a DefaultDiagFormat.
func (d *Diagnostic) packet() *ber.Packet {
	s := seq()
	s.AppendChild(oid(OIDBib1Diagnostic))
	s.AppendChild(universalInt(d.Condition))
	s.AppendChild(intl(d.AddInfo))
	return s
}

// bib1Messages are the Bib-1 conditions the server sends and those
// targets commonly send the gateway's origin, for logs, error strings and
// target statuses (the client has its own table).
var bib1Messages = map[int]string{
	1:    "permanent system error",
	2:    "temporary system error",
	13:   "present request out of range",
	16:   "record exceeds preferred-message-size",
	17:   "record exceeds maximum-record-size",
	21:   "result set exists and replace indicator off",
	22:   "result set naming not supported",
	25:   "specified element set name not valid for specified database",
	27:   "result set no longer exists - unilaterally deleted by target",
	30:   "specified result set does not exist",
	100:  "unspecified error",
	107:  "query type not supported",
	108:  "malformed query",
	110:  "operator unsupported",
	111:  "too many databases specified",
	112:  "too many result sets created",
	113:  "unsupported attribute type",
	114:  "unsupported use attribute",
	117:  "unsupported relation attribute",
	118:  "unsupported structure attribute",
	119:  "unsupported position attribute",
	120:  "unsupported truncation attribute",
	121:  "unsupported attribute set",
	122:  "unsupported completeness attribute",
	123:  "unsupported attribute combination",
	128:  "illegal result set name",
	229:  "term type not supported",
	235:  "database does not exist",
	238:  "record not available in requested syntax",
	239:  "record syntax not supported",
	243:  "present: additional-ranges parameter not supported",
	244:  "present: comp-spec parameter not supported",
	245:  "type-1 query: restriction ('resultAttr') operand not supported",
	246:  "type-1 query: 'complex' attributeValue not supported",
	1025: "service not supported for this database",
	3:    "unsupported search",
	4:    "search term consists only of stopwords",
	5:    "too many argument words",
	6:    "too many boolean operators",
	7:    "too many truncated words",
	8:    "too many incomplete subfield words",
	9:    "truncated words too short",
	11:   "too many characters in search statement",
	12:   "too many records retrieved",
	14:   "system error in presenting records",
	15:   "record not authorized to be sent intersystem",
	18:   "result set not supported as a search term",
	19:   "only single result set as search term supported",
	20:   "only ANDing of a single result set as search term",
	26:   "only generic form of element set name supported",
	28:   "result set is in use",
	29:   "one of the specified databases is locked",
	31:   "resources exhausted - no results available",
	101:  "access-control failure",
	102:  "challenge required, could not be issued - operation terminated",
	103:  "challenge required, could not be issued - record not included",
	104:  "challenge failed - record not included",
	105:  "terminated at origin request",
	106:  "no abstract syntaxes agreed to for this record",
	109:  "database unavailable",
	115:  "unsupported term value for use attribute",
	116:  "use attribute required but not supplied",
	124:  "unsupported coded value for term",
	125:  "malformed search term",
	126:  "illegal term value for attribute",
	227:  "no data available in requested record syntax",
	236:  "access to specified database denied",
}

// record is one entry of a response's records: an EXTERNAL, or a
// surrogate diagnostic.
type record struct {
	db   string
	ext  []byte // an EXTERNAL's encoding
	diag *Diagnostic
}

// recordsPacket builds Records: responseRecords [28], or a
// nonSurrogateDiagnostic [130].
func recordsPacket(recs []record, nonSurrogate *Diagnostic) *ber.Packet {
	if nonSurrogate != nil {
		// [130] IMPLICIT DefaultDiagFormat: asn1-ber writes the identifier
		// only in Bytes, so retagging the built SEQUENCE is enough.
		p := nonSurrogate.packet()
		p.ClassType, p.Tag = ber.ClassContext, 130
		return p
	}
	// The records are the bulk of a response: rather than nest packets
	// (asn1-ber copies a child into each enclosing packet), the list's
	// content is written once, each NamePlusRecord's TLVs directly around
	// the EXTERNAL's (cached) encoding, and handed to asn1-ber whole.
	size := 0
	for _, r := range recs {
		size += len(r.ext) + len(r.db) + 32
	}
	b := make([]byte, 0, size)
	for _, r := range recs {
		var rec []byte // [1] { [1] EXTERNAL } or [1] { [2] DefaultDiagFormat }
		if r.diag != nil {
			rec = ctxCons(1, ctxCons(2, r.diag.packet())).Bytes()
		} else {
			inner := appendHeader(nil, 0xa1, len(r.ext)) // retrievalRecord [1]
			rec = appendHeader(nil, 0xa1, len(inner)+len(r.ext))
			rec = append(append(rec, inner...), r.ext...)
		}
		var name []byte
		if r.db != "" {
			name = ctxString(0, r.db).Bytes()
		}
		b = appendHeader(b, 0x30, len(name)+len(rec)) // NamePlusRecord SEQUENCE
		b = append(append(b, name...), rec...)
	}
	list := ctxCons(28)
	list.Data.Write(b)
	return list
}

// appendHeader appends a BER identifier octet (tags below 31) and a
// definite length.
func appendHeader(dst []byte, id byte, n int) []byte {
	dst = append(dst, id)
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n < 1<<8:
		return append(dst, 0x81, byte(n))
	case n < 1<<16:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// externalOctets is an EXTERNAL with octet-aligned data (ISO 2709, XML).
func externalOctets(syntax string, data []byte) *ber.Packet {
	e := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagExternal, nil, "")
	e.AppendChild(oid(syntax))
	e.AppendChild(ctxBytes(1, data))
	return e
}

// externalASN1 is an EXTERNAL with single-ASN1-type data (SUTRS, OPAC).
func externalASN1(syntax string, v *ber.Packet) *ber.Packet {
	e := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagExternal, nil, "")
	e.AppendChild(oid(syntax))
	e.AppendChild(ctxCons(0, v))
	return e
}

// closePDU is a Close.
func closePDU(ref []byte, reason int, info string) []byte {
	fields := []*ber.Packet{ctxInt(211, reason)}
	if info != "" {
		fields = append(fields, ctxString(3, info))
	}
	return pdu(tagClose, ref, fields...)
}
