package almasim

import (
	"bytes"
	"strings"
)

// MARC namespace of MARCXML.
const marcNS = "http://www.loc.gov/MARC21/slim"

// field is one MARC field: a control field when subs is nil and tag < 010,
// else a data field.
type field struct {
	tag        string
	ind1, ind2 byte
	value      string
	subs       []subfield
}

type subfield struct {
	code  byte
	value string
}

func (f field) control() bool { return f.subs == nil && f.tag < "010" }

func data(tag string, ind1, ind2 byte, subs ...subfield) field {
	return field{tag: tag, ind1: ind1, ind2: ind2, subs: subs}
}

func sf(code byte, value string) subfield { return subfield{code: code, value: value} }

// first returns the first value of subfield code in the first field with tag.
func first(fields []field, tag string, code byte) string {
	for _, f := range fields {
		if f.tag == tag {
			for _, s := range f.subs {
				if s.code == code {
					return s.value
				}
			}
		}
	}
	return ""
}

// recordLayout says how a record is written: its opening tag, the element
// prefix and the indentation of fields and subfields ("" writes everything on
// one line).
type recordLayout struct {
	open      string // e.g. `<record xmlns="http://www.loc.gov/MARC21/slim">`
	prefix    string // "" or "marc:"
	fieldInd  string // newline + spaces before each field, "" for none
	subInd    string
	closeInd  string
	compactAt int // fields from this index on are written without indentation (API enrichment); -1 for none
}

// layouts of the SRU recordData: the record sits at 8 spaces, its fields at
// 10, subfields at 12, as in Alma's answers (SLSP sample).
var (
	sruNS       = recordLayout{open: `<record xmlns="` + marcNS + `">`, fieldInd: "\n          ", subInd: "\n            ", closeInd: "\n        ", compactAt: -1}
	sruNoNS     = recordLayout{open: `<record xmlns="">`, fieldInd: "\n          ", subInd: "\n            ", closeInd: "\n        ", compactAt: -1}
	sruPrefixed = recordLayout{open: `<marc:record xmlns:marc="` + marcNS + `">`, prefix: "marc:", fieldInd: "\n          ", subInd: "\n            ", closeInd: "\n        ", compactAt: -1}
)

// apiLayout is the Bibs API's record (no namespace, four-space fields) whose
// enrichment fields from compactAt on are written on one line, as Alma does
// (Princeton JSON sample).
func apiLayout(compactAt int) recordLayout {
	return recordLayout{open: "<record>", fieldInd: "\n    ", subInd: "\n      ", closeInd: "\n  ", compactAt: compactAt}
}

// appendRecord writes leader and fields as MARCXML.
func appendRecord(b []byte, leader string, fields []field, l recordLayout) []byte {
	p := l.prefix
	b = append(b, l.open...)
	b = append(b, l.fieldInd...)
	b = append(b, '<')
	b = append(b, p...)
	b = append(b, "leader>"...)
	b = appendText(b, leader)
	b = append(b, "</"...)
	b = append(b, p...)
	b = append(b, "leader>"...)
	for i, f := range fields {
		fi, si, ci := l.fieldInd, l.subInd, l.fieldInd
		if l.compactAt >= 0 && i >= l.compactAt {
			fi, si, ci = "", "", ""
			if i == l.compactAt {
				fi = l.fieldInd[:max(len(l.fieldInd)-2, 0)]
			}
		}
		b = append(b, fi...)
		if f.control() {
			b = append(b, '<')
			b = append(b, p...)
			b = append(b, `controlfield tag="`...)
			b = append(b, f.tag...)
			b = append(b, `">`...)
			b = appendText(b, f.value)
			b = append(b, "</"...)
			b = append(b, p...)
			b = append(b, "controlfield>"...)
			continue
		}
		b = append(b, '<')
		b = append(b, p...)
		b = append(b, `datafield ind1="`...)
		b = append(b, f.ind1)
		b = append(b, `" ind2="`...)
		b = append(b, f.ind2)
		b = append(b, `" tag="`...)
		b = append(b, f.tag...)
		b = append(b, `">`...)
		for _, s := range f.subs {
			b = append(b, si...)
			b = append(b, '<')
			b = append(b, p...)
			b = append(b, `subfield code="`...)
			b = append(b, s.code)
			if s.value == "" {
				b = append(b, `"/>`...)
				continue
			}
			b = append(b, `">`...)
			b = appendText(b, s.value)
			b = append(b, "</"...)
			b = append(b, p...)
			b = append(b, "subfield>"...)
		}
		b = append(b, ci...)
		b = append(b, "</"...)
		b = append(b, p...)
		b = append(b, "datafield>"...)
	}
	b = append(b, l.closeInd...)
	b = append(b, "</"...)
	b = append(b, p...)
	b = append(b, "record>"...)
	return b
}

// appendText escapes s as XML character data the way Alma does: &, < and >
// only (quotes and apostrophes stay as they are, see the SLSP sample).
func appendText(b []byte, s string) []byte { return appendEscaped(b, s, '>', "&gt;") }

// appendAttr escapes s for a double-quoted attribute value.
func appendAttr(b []byte, s string) []byte { return appendEscaped(b, s, '"', "&quot;") }

// appendEscaped escapes & and < always, and the one more byte that the
// context needs (> in text as Alma writes it, " in attribute values).
func appendEscaped(b []byte, s string, extra byte, extraEsc string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch c := s[i]; {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == extra:
			esc = extraEsc
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

func escapeText(s string) string { return string(appendText(nil, s)) }

// leaderFor builds a 24-character leader for a record of about length bytes.
func leaderFor(length int, serial bool, nFields int, encLevel, catForm byte) string {
	bib := byte('m')
	if serial {
		bib = 's'
	}
	base := 25 + 12*(nFields+1)
	var sb strings.Builder
	sb.Grow(24)
	sb.WriteString(pad5(length % 100000))
	sb.WriteString("na")
	sb.WriteByte(bib)
	sb.WriteString(" a22")
	sb.WriteString(pad5(base))
	sb.WriteByte(encLevel)
	sb.WriteByte(catForm)
	sb.WriteString(" 4500")
	return sb.String()
}

func pad5(n int) string {
	s := itoa(n)
	return strings.Repeat("0", max(5-len(s), 0)) + s
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// trimISBD strips the trailing ISBD punctuation of a catalogued value
// (" /", " :", " ;", ",", ".").
func trimISBD(s string) string {
	s = strings.TrimSpace(s)
	for {
		t := strings.TrimRight(s, " /:;,.=")
		if t == s {
			return s
		}
		s = t
	}
}

// indentSRU is the indentation of lines inside an SRU answer (two spaces a
// level, as in the SLSP single-record sample).
func indentSRU(b *bytes.Buffer, level int) {
	b.WriteByte('\n')
	for range level {
		b.WriteString("  ")
	}
}
