package sru

import (
	"bytes"
	"slices"
	"unicode/utf8"

	"github.com/almanet/gateway/internal/xmlchar"
)

// allowedRune reports whether r may appear in an XML 1.0 document.
func allowedRune(r rune) bool { return xmlchar.Is(r) }

// asciiOK marks the ASCII bytes XML 1.0 allows; bytes ≥ 0x80 are false
// and take the UTF-8 path.
var asciiOK = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['\t'], t['\n'], t['\r'] = true, true, true
	return t
}()

// cleanXML reports whether b holds only valid UTF-8 made of XML 1.0 chars.
func cleanXML(b []byte) bool {
	for i := 0; i < len(b); {
		if asciiOK[b[i]] {
			i++
			continue
		}
		if b[i] < utf8.RuneSelf {
			return false
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || !allowedRune(r) {
			return false
		}
		i += n
	}
	return true
}

// SanitizeXML returns b without the bytes XML 1.0 forbids: invalid UTF-8
// sequences and characters outside the Char production (control characters
// other than tab, newline and carriage return, surrogates, U+FFFE, U+FFFF).
// It returns b itself when there is nothing to drop.
func SanitizeXML(b []byte) []byte {
	if cleanXML(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 || c == 0x9 || c == 0xA || c == 0xD {
				out = append(out, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if !(r == utf8.RuneError && n == 1) && allowedRune(r) {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// sanitizeString is SanitizeXML for strings.
func sanitizeString(s string) string {
	if cleanXML([]byte(s)) {
		return s
	}
	return string(SanitizeXML([]byte(s)))
}

// writeText writes s as XML character data (also safe in attribute values),
// escaping markup and dropping characters XML 1.0 forbids.
func writeText(buf *bytes.Buffer, s string) {
	writeTextBytes(buf, []byte(sanitizeString(s)))
}

// writeTextBytes escapes already sanitized bytes.
func writeTextBytes(buf *bytes.Buffer, b []byte) {
	last := 0
	for i, c := range b {
		var esc string
		switch c {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		buf.Write(b[last:i])
		buf.WriteString(esc)
		last = i + 1
	}
	buf.Write(b[last:])
}

// writeElem writes <prefix:name>text</prefix:name>.
func writeElem(buf *bytes.Buffer, prefix, name, text string) {
	buf.WriteByte('<')
	buf.WriteString(prefix)
	buf.WriteString(name)
	buf.WriteByte('>')
	writeText(buf, text)
	buf.WriteString("</")
	buf.WriteString(prefix)
	buf.WriteString(name)
	buf.WriteByte('>')
}

func sortStrings(s []string) { slices.Sort(s) }
