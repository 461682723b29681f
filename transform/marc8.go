package transform

import (
	"errors"
	"fmt"

	"golang.org/x/text/unicode/norm"
)

// MARC-8 (the MARC 21 character sets before Unicode) as records with a
// blank leader/09 carry it: G0 Basic Latin (ASCII) and G1 Extended Latin
// (ANSEL) by default, escape sequences that designate either set or the
// three small sets (Greek symbols, subscripts, superscripts), and
// combining marks sent before the character they modify.

// errMARC8 is the error of a value the decoder cannot read.
var errMARC8 = errors.New("transform: MARC-8")

// marc8Set is a graphic character set of MARC-8.
type marc8Set byte

const (
	setBasicLatin marc8Set = iota
	setANSEL
	setGreekSymbols
	setSubscript
	setSuperscript
)

// marc8Decoder holds the designations of G0 and G1 within one field: each
// field starts with ASCII as G0 and ANSEL as G1.
type marc8Decoder struct {
	g0, g1  marc8Set
	pending []rune // combining marks waiting for their base character
	buf     []rune
}

func (d *marc8Decoder) reset() { d.g0, d.g1, d.pending = setBasicLatin, setANSEL, d.pending[:0] }

// decode appends the UTF-8 (NFC) form of one MARC-8 value to dst. An
// escape sequence for a set it does not know (CJK, Hebrew, Cyrillic,
// Arabic, Greek) or a code with no character in the designated set is an
// error: the record cannot be read faithfully.
func (d *marc8Decoder) decode(dst, src []byte) ([]byte, error) {
	d.buf = d.buf[:0]
	for i := 0; i < len(src); i++ {
		b := src[i]
		if b == 0x1B {
			n, err := d.escape(src[i+1:])
			if err != nil {
				return dst, err
			}
			i += n
			continue
		}
		var r rune
		var ok bool
		switch {
		case b < 0x20:
			r, ok = rune(b), true
		case b < 0x7F:
			r, ok = d.char(d.g0, b)
		case b == 0x7F:
			continue
		case b == 0x88 || b == 0x89: // non-sort begin and end: no Unicode form
			continue
		case b == 0x8D:
			r, ok = 0x200D, true
		case b == 0x8E:
			r, ok = 0x200C, true
		case b < 0xA0:
			return dst, fmt.Errorf("%w: control code 0x%02X", errMARC8, b)
		default:
			r, ok = d.char(d.g1, b&0x7F)
		}
		if !ok {
			return dst, fmt.Errorf("%w: no character 0x%02X in the designated set", errMARC8, b)
		}
		if isCombining(r) {
			d.pending = append(d.pending, r)
			continue
		}
		d.buf = append(d.buf, r)
		d.buf = append(d.buf, d.pending...)
		d.pending = d.pending[:0]
	}
	if len(d.pending) > 0 { // marks with nothing after them: on a space
		d.buf = append(d.buf, ' ')
		d.buf = append(d.buf, d.pending...)
		d.pending = d.pending[:0]
	}
	start := len(dst)
	for _, r := range d.buf {
		dst = appendRuneClean(dst, r)
	}
	out := norm.NFC.Append(nil, dst[start:]...)
	return append(dst[:start], out...), nil
}

// escape reads an escape sequence (after the ESC) and returns how many
// bytes it took.
func (d *marc8Decoder) escape(s []byte) (int, error) {
	if len(s) == 0 {
		return 0, fmt.Errorf("%w: escape at the end of a value", errMARC8)
	}
	switch s[0] {
	case 'g':
		d.g0 = setGreekSymbols
		return 1, nil
	case 'b':
		d.g0 = setSubscript
		return 1, nil
	case 'p':
		d.g0 = setSuperscript
		return 1, nil
	case 's':
		d.g0 = setBasicLatin
		return 1, nil
	case '(', ',', ')', '-':
		g1 := s[0] == ')' || s[0] == '-'
		var set marc8Set
		n := 2
		switch {
		case len(s) >= 2 && s[1] == 'B':
			set = setBasicLatin
		case len(s) >= 3 && s[1] == '!' && s[2] == 'E':
			set, n = setANSEL, 3
		case len(s) >= 2 && s[1] == 'g':
			set = setGreekSymbols
		case len(s) >= 2 && s[1] == 'b':
			set = setSubscript
		case len(s) >= 2 && s[1] == 'p':
			set = setSuperscript
		default:
			return 0, fmt.Errorf("%w: character set %q not supported", errMARC8, escapeName(s))
		}
		if g1 {
			d.g1 = set
		} else {
			d.g0 = set
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: character set %q not supported", errMARC8, escapeName(s))
}

func escapeName(s []byte) string {
	if len(s) > 3 {
		s = s[:3]
	}
	return "ESC " + string(s)
}

// char is the character of a 7-bit code (0x21-0x7E, or space) in a set.
func (d *marc8Decoder) char(set marc8Set, c byte) (rune, bool) {
	if c == 0x20 {
		return ' ', true
	}
	switch set {
	case setBasicLatin:
		return rune(c), true
	case setANSEL:
		r := ansel[c]
		return r, r != 0
	case setGreekSymbols:
		switch c {
		case 0x61:
			return 'α', true
		case 0x62:
			return 'β', true
		case 0x63:
			return 'γ', true
		}
		return 0, false
	case setSubscript, setSuperscript:
		if r, ok := scripts[c]; ok {
			if set == setSubscript {
				return r[0], true
			}
			return r[1], true
		}
		return 0, false
	}
	return 0, false
}

// scripts maps the subscript and superscript sets: {subscript, superscript}.
var scripts = map[byte][2]rune{
	'(': {0x208D, 0x207D}, ')': {0x208E, 0x207E}, '+': {0x208A, 0x207A}, '-': {0x208B, 0x207B},
	'0': {0x2080, 0x2070}, '1': {0x2081, 0x00B9}, '2': {0x2082, 0x00B2}, '3': {0x2083, 0x00B3},
	'4': {0x2084, 0x2074}, '5': {0x2085, 0x2075}, '6': {0x2086, 0x2076}, '7': {0x2087, 0x2077},
	'8': {0x2088, 0x2078}, '9': {0x2089, 0x2079},
}

// isCombining says whether an ANSEL character is a combining mark.
func isCombining(r rune) bool {
	return r >= 0x0300 && r <= 0x036F || r >= 0xFE20 && r <= 0xFE2F
}

// ansel is MARC-8 Extended Latin (ANSEL, ANSI/NISO Z39.47) by its 7-bit
// code (the G1 byte less 0x80), from the Library of Congress mapping.
var ansel = [128]rune{
	0x21: 0x0141, 0x22: 0x00D8, 0x23: 0x0110, 0x24: 0x00DE, 0x25: 0x00C6, 0x26: 0x0152, 0x27: 0x02B9,
	0x28: 0x00B7, 0x29: 0x266D, 0x2A: 0x00AE, 0x2B: 0x00B1, 0x2C: 0x01A0, 0x2D: 0x01AF, 0x2E: 0x02BC,
	0x30: 0x02BB, 0x31: 0x0142, 0x32: 0x00F8, 0x33: 0x0111, 0x34: 0x00FE, 0x35: 0x00E6, 0x36: 0x0153,
	0x37: 0x02BA, 0x38: 0x0131, 0x39: 0x00A3, 0x3A: 0x00F0, 0x3C: 0x01A1, 0x3D: 0x01B0,
	0x40: 0x00B0, 0x41: 0x2113, 0x42: 0x2117, 0x43: 0x00A9, 0x44: 0x266F, 0x45: 0x00BF, 0x46: 0x00A1,
	0x47: 0x00DF, 0x48: 0x20AC,
	// combining marks
	0x60: 0x0309, 0x61: 0x0300, 0x62: 0x0301, 0x63: 0x0302, 0x64: 0x0303, 0x65: 0x0304, 0x66: 0x0306,
	0x67: 0x0307, 0x68: 0x0308, 0x69: 0x030C, 0x6A: 0x030A, 0x6B: 0xFE20, 0x6C: 0xFE21, 0x6D: 0x0315,
	0x6E: 0x030B, 0x6F: 0x0310, 0x70: 0x0327, 0x71: 0x0328, 0x72: 0x0323, 0x73: 0x0324, 0x74: 0x0325,
	0x75: 0x0333, 0x76: 0x0332, 0x77: 0x0326, 0x78: 0x031C, 0x79: 0x032E, 0x7A: 0xFE22, 0x7B: 0xFE23,
	0x7E: 0x0313,
}

// DecodeMARC8 decodes one MARC-8 string (as a field's value, starting in
// the default sets) to UTF-8 in NFC.
func DecodeMARC8(src []byte) (string, error) {
	var d marc8Decoder
	d.reset()
	b, err := d.decode(nil, src)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
