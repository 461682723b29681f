package transform

import (
	"bytes"
	"unicode/utf8"

	"github.com/almanet/gateway/internal/xmlchar"
)

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool { return xmlchar.Is(r) }

// appendClean appends src to dst as valid UTF-8 containing only characters
// XML 1.0 allows: invalid UTF-8 becomes U+FFFD, forbidden characters (most
// C0 controls, U+FFFE, U+FFFF) are dropped, and line ends are normalized
// to LF as an XML parser does. Every string a Record holds went
// through here, so every output made from it is clean.
func appendClean(dst, src []byte) []byte {
	i := 0
	for i < len(src) {
		b := src[i]
		if b >= 0x20 && b < utf8.RuneSelf {
			i++
			continue
		}
		break
	}
	if i == len(src) {
		return append(dst, src...)
	}
	dst = append(dst, src[:i]...)
	for i < len(src) {
		b := src[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '\r':
				// XML 1.0 section 2.11: CR LF and a lone CR read as LF.
				if i+1 >= len(src) || src[i+1] != '\n' {
					dst = append(dst, '\n')
				}
			case b >= 0x20 || b == '\t' || b == '\n':
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\uFFFD"...)
		case isXMLChar(r):
			dst = append(dst, src[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendRuneClean appends r if XML allows it, else nothing.
func appendRuneClean(dst []byte, r rune) []byte {
	if !isXMLChar(r) {
		return dst
	}
	return utf8.AppendRune(dst, r)
}

// appendDecoded appends the character data src (text between tags, with
// entity and character references, CDATA sections, comments and processing
// instructions) to dst, decoded and cleaned. Unknown entities are kept
// literally: Alma does not send DTDs, and dropping text would lose data.
func appendDecoded(dst, src []byte) []byte {
	for len(src) > 0 {
		i := bytes.IndexAny(src, "&<")
		if i < 0 {
			return appendClean(dst, src)
		}
		dst = appendClean(dst, src[:i])
		src = src[i:]
		if src[0] == '<' {
			switch {
			case bytes.HasPrefix(src, []byte("<![CDATA[")):
				body := src[len("<![CDATA["):]
				end := bytes.Index(body, []byte("]]>"))
				if end < 0 {
					return appendClean(dst, body)
				}
				dst = appendClean(dst, body[:end])
				src = body[end+3:]
			case bytes.HasPrefix(src, []byte("<!--")):
				end := bytes.Index(src[4:], []byte("-->"))
				if end < 0 {
					return dst
				}
				src = src[4+end+3:]
			case bytes.HasPrefix(src, []byte("<?")):
				end := bytes.Index(src[2:], []byte("?>"))
				if end < 0 {
					return dst
				}
				src = src[2+end+2:]
			default:
				// A stray '<' in text: keep it as text.
				dst = append(dst, '<')
				src = src[1:]
			}
			continue
		}
		var n int
		dst, n = appendEntity(dst, src)
		src = src[n:]
	}
	return dst
}

// appendEntity decodes the reference at the start of src (src[0] == '&')
// and reports how many bytes it used. Anything that is not a well-formed
// reference is kept as a literal '&'.
func appendEntity(dst, src []byte) ([]byte, int) {
	// Only look a few bytes ahead: a long run of bare '&'s must not make
	// this quadratic.
	end := bytes.IndexByte(src[:min(len(src), 13)], ';')
	if end < 2 {
		return append(dst, '&'), 1
	}
	name := src[1:end]
	switch string(name) {
	case "amp":
		return append(dst, '&'), end + 1
	case "lt":
		return append(dst, '<'), end + 1
	case "gt":
		return append(dst, '>'), end + 1
	case "quot":
		return append(dst, '"'), end + 1
	case "apos":
		return append(dst, '\''), end + 1
	}
	if name[0] != '#' {
		return append(dst, '&'), 1
	}
	digits, base := name[1:], rune(10)
	if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return append(dst, '&'), 1
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return append(dst, '&'), 1
		}
		r = r*base + d
		if r > utf8.MaxRune {
			return append(dst, '&'), 1
		}
	}
	return appendRuneClean(dst, r), end + 1
}

// appendEscaped appends s escaped as XML character data (or, with attr, as
// an attribute value in double quotes), dropping characters XML forbids.
func appendEscaped[S []byte | string](dst []byte, s S, attr bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b >= utf8.RuneSelf {
			n := min(len(s)-i, utf8.UTFMax)
			r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
			if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
				dst = append(dst, s[start:i]...)
				if r == utf8.RuneError && size == 1 {
					dst = append(dst, "\uFFFD"...)
				}
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		var esc string
		switch {
		case b == '&':
			esc = "&amp;"
		case b == '<':
			esc = "&lt;"
		case b == '>':
			esc = "&gt;"
		case b == '"' && attr:
			esc = "&quot;"
		case b == '\t' && attr:
			esc = "&#9;"
		case b == '\n' && attr:
			esc = "&#10;"
		case b == '\r':
			esc = "&#13;"
		case b < 0x20 && b != '\t' && b != '\n':
			esc = "" // forbidden in XML 1.0: dropped
		default:
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		i++
		start = i
	}
	return append(dst, s[start:]...)
}
