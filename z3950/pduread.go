package z3950

import ber "github.com/go-asn1-ber/asn1-ber"

// el is one BER element as the request decoders see it: read in place
// from a PDU's bytes, or a packet asn1-ber decoded. The decoders' rules
// are written once, over el; only where the children come from differs.
type el struct {
	class byte   // the identifier's class bits: 0x00 universal, 0x40, 0x80 context, 0xc0
	cons  bool   // constructed
	tag   uint64 // as asn1-ber reads it (ber.Tag)
	data  []byte // the content octets
	p     *ber.Packet
}

const (
	classUniversal = byte(ber.ClassUniversal)
	classContext   = byte(ber.ClassContext)
)

func elOf(p *ber.Packet) el {
	return el{class: byte(p.ClassType), cons: p.TagType == ber.TypeConstructed, tag: uint64(p.Tag), data: content(p), p: p}
}

// isCtx reports whether e is context tag n.
func (e el) isCtx(n uint64) bool { return e.class == classContext && e.tag == n }

// kids appends e's children to dst. An element read in place was walked
// whole by plain before any decoder saw it, so its children read cleanly.
func (e el) kids(dst []el) []el {
	if e.p != nil {
		for _, c := range e.p.Children {
			dst = append(dst, elOf(c))
		}
		return dst
	}
	if !e.cons {
		return dst
	}
	for b := e.data; len(b) > 0; {
		c, n, ok := plainHeader(b)
		if !ok {
			break // not reached: plain accepted these bytes
		}
		dst = append(dst, c)
		b = b[n:]
	}
	return dst
}

// The in-place reader takes only what asn1-ber would decode to a tree
// whose re-encoding is the same bytes: definite lengths in their shortest
// form, tags in theirs, no end-of-contents, and none of the universal
// types asn1-ber checks the content of (REAL, UTF8String,
// PrintableString, IA5String, GeneralizedTime). Everything else (YAZ and
// the package's own client send none of it) goes to asn1-ber, which then
// decodes or refuses it as it always did: the two readers agree by
// construction, and FuzzInPlaceDecoder holds them to it.

// maxPlainDepth bounds the in-place walk's nesting; a deeper PDU goes to
// asn1-ber (whose own bound is ber.MaxNestingDepth), and the framer has
// refused one deeper than the server's MaxDepth before either sees it.
const maxPlainDepth = 100

// plain reports the length of the element at the start of b when it and
// everything inside it can be read in place.
func plain(b []byte, depth int) (int, bool) {
	if depth > maxPlainDepth {
		return 0, false
	}
	e, n, ok := plainHeader(b)
	if !ok {
		return 0, false
	}
	if e.class == classUniversal {
		switch ber.Tag(e.tag) {
		case ber.TagEOC, ber.TagRealFloat, ber.TagUTF8String, ber.TagPrintableString, ber.TagIA5String, ber.TagGeneralizedTime:
			if e.tag == uint64(ber.TagEOC) || !e.cons {
				return 0, false
			}
		}
	}
	if e.cons {
		for c := e.data; len(c) > 0; {
			k, ok := plain(c, depth+1)
			if !ok {
				return 0, false
			}
			c = c[k:]
		}
	}
	return n, true
}

// plainHeader reads the element at the start of b: its identifier, a
// definite length in shortest form, and its content, which must be in b.
// n is the element's whole length.
func plainHeader(b []byte) (e el, n int, ok bool) {
	if len(b) < 2 {
		return e, 0, false
	}
	id := b[0]
	e.class, e.cons = id&0xc0, id&0x20 != 0
	n = 1
	if id&0x1f != 0x1f {
		e.tag = uint64(id & 0x1f)
	} else {
		for {
			if n >= len(b) || n > 4 {
				return e, 0, false
			}
			c := b[n]
			n++
			if n == 2 && c&0x7f == 0 {
				return e, 0, false // a leading zero group: not the shortest form
			}
			e.tag = e.tag<<7 | uint64(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		if e.tag < 0x1f {
			return e, 0, false // the high-tag form of a low tag
		}
	}
	if n >= len(b) {
		return e, 0, false
	}
	l := b[n]
	n++
	length := int(l)
	if l >= 0x80 {
		k := int(l & 0x7f)
		if k == 0 || k > 4 || n+k > len(b) || b[n] == 0 {
			return e, 0, false // indefinite, too long, or a leading zero octet
		}
		length = 0
		for i := 0; i < k; i++ {
			length = length<<8 | int(b[n+i])
		}
		n += k
		if length < 0x80 {
			return e, 0, false // the long form of a short length
		}
	}
	if length > len(b)-n {
		return e, 0, false
	}
	e.data = b[n : n+length : n+length]
	return e, n + length, true
}

// decodeInPlace decodes a searchRequest or presentRequest without
// building a packet tree: ok is false when the frame is neither, or is
// not one the in-place reader takes, and asn1-ber must decode it.
func decodeInPlace(frame []byte) (req any, ok bool, err error) {
	if len(frame) < 2 || frame[0] != 0xa0|tagSearchRequest && frame[0] != 0xa0|tagPresentRequest {
		return nil, false, nil
	}
	if _, ok := plain(frame, 0); !ok {
		return nil, false, nil
	}
	e, _, _ := plainHeader(frame)
	if e.tag == tagSearchRequest {
		r, err := decodeSearch(e)
		return r, true, err
	}
	r, err := decodePresent(e)
	return r, true, err
}
