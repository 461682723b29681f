package sru

import (
	"bytes"
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// A small pull scanner over XML bytes, for the hot path of reading Alma's
// envelope and for checking that a record can be embedded as it is. It
// checks what well-formedness needs for this job (tag nesting, attribute
// syntax, references, comments, CDATA) without building anything, and
// refuses DTDs (no entity definitions can hide in the input). It does not
// check UTF-8 validity or name characters in detail: the writers sanitize
// characters separately.

type tokKind int

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokEmpty // <a/>: a start and an end at once
	tokText  // character data; CDATA sections are tokText with cdata set
	tokOther // comment, processing instruction
)

var errSyntax = errors.New("xml syntax error")

type xmlScanner struct {
	b   []byte
	pos int
	// of the last token:
	kind       tokKind
	nameStart  int // qualified name of a start, empty or end tag:
	nameEnd    int // b[nameStart:nameEnd]
	start, end int // byte range of the whole token
	cdata      bool
	// stack holds the open elements' names as offset pairs: no pointers,
	// so pushing costs no write barrier on the hot path.
	stack []span

	// strict adds what embedding a fragment needs beyond the envelope
	// scan: name characters, unique attributes, declared prefixes.
	strict bool
	attrs  []span
	// read takes record elements out of recordData (ParsePageWith).
	read   RecordReader
	nsDecl []nsDecl
}

// nsDecl is a prefix declared by the element at depth.
type nsDecl struct {
	prefix string
	depth  int
}

type span struct{ from, to int }

// name is the qualified name of the last tag token.
func (s *xmlScanner) name() []byte { return s.b[s.nameStart:s.nameEnd] }

func newScanner(b []byte) *xmlScanner {
	s := &xmlScanner{b: b}
	if bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
		s.pos = 3
	}
	return s
}

// depth is the number of open elements after the last token.
func (s *xmlScanner) depth() int { return len(s.stack) }

// next reads one token.
func (s *xmlScanner) next() (tokKind, error) {
	b := s.b
	s.start = s.pos
	s.cdata = false
	s.nameStart, s.nameEnd = 0, 0
	if s.pos >= len(b) {
		s.kind, s.end = tokEOF, s.pos
		return tokEOF, nil
	}
	if b[s.pos] != '<' {
		i := bytes.IndexByte(b[s.pos:], '<')
		if i < 0 {
			i = len(b) - s.pos
		}
		text := b[s.pos : s.pos+i]
		if err := checkRefs(text); err != nil {
			return 0, err
		}
		if bytes.IndexByte(text, ']') >= 0 && bytes.Contains(text, []byte("]]>")) {
			return 0, errSyntax
		}
		s.pos += i
		s.kind, s.end = tokText, s.pos
		return tokText, nil
	}
	rest := b[s.pos:]
	switch {
	case bytes.HasPrefix(rest, []byte("<?")):
		i := bytes.Index(rest[2:], []byte("?>"))
		if i < 0 {
			return 0, errSyntax
		}
		s.pos += 2 + i + 2
		s.kind, s.end = tokOther, s.pos
		return tokOther, nil
	case bytes.HasPrefix(rest, []byte("<!--")):
		i := bytes.Index(rest[4:], []byte("--"))
		if i < 0 || len(rest) < 4+i+3 || rest[4+i+2] != '>' {
			return 0, errSyntax
		}
		s.pos += 4 + i + 3
		s.kind, s.end = tokOther, s.pos
		return tokOther, nil
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		i := bytes.Index(rest[9:], []byte("]]>"))
		if i < 0 {
			return 0, errSyntax
		}
		s.pos += 9 + i + 3
		s.kind, s.end, s.cdata = tokText, s.pos, true
		return tokText, nil
	case bytes.HasPrefix(rest, []byte("<!")):
		return 0, errSyntax // DOCTYPE and friends: not in SRU envelopes
	case bytes.HasPrefix(rest, []byte("</")):
		p := s.pos + 2
		n := scanName(b, p)
		if n == p {
			return 0, errSyntax
		}
		nameStart := p
		p = skipSpace(b, n)
		if p >= len(b) || b[p] != '>' {
			return 0, errSyntax
		}
		if len(s.stack) == 0 {
			return 0, errSyntax
		}
		if top := s.stack[len(s.stack)-1]; !bytes.Equal(b[top.from:top.to], b[nameStart:n]) {
			return 0, errSyntax
		}
		s.stack = s.stack[:len(s.stack)-1]
		if s.strict {
			s.popNS(len(s.stack))
		}
		s.pos = p + 1
		s.kind, s.nameStart, s.nameEnd, s.end = tokEnd, nameStart, n, s.pos
		return tokEnd, nil
	}
	p := s.pos + 1
	n := scanName(b, p)
	if n == p {
		return 0, errSyntax
	}
	nameStart, nameEnd := p, n
	p = n
	if s.strict {
		s.attrs = s.attrs[:0]
	}
	for {
		q := skipSpace(b, p)
		if q >= len(b) {
			return 0, errSyntax
		}
		switch b[q] {
		case '>':
			if s.strict {
				if err := s.checkNames(nameStart, nameEnd, len(s.stack)+1); err != nil {
					return 0, err
				}
			}
			s.stack = append(s.stack, span{nameStart, nameEnd})
			s.pos = q + 1
			s.kind, s.nameStart, s.nameEnd, s.end = tokStart, nameStart, nameEnd, s.pos
			return tokStart, nil
		case '/':
			if q+1 >= len(b) || b[q+1] != '>' {
				return 0, errSyntax
			}
			if s.strict {
				if err := s.checkNames(nameStart, nameEnd, len(s.stack)+1); err != nil {
					return 0, err
				}
				s.popNS(len(s.stack))
			}
			s.pos = q + 2
			s.kind, s.nameStart, s.nameEnd, s.end = tokEmpty, nameStart, nameEnd, s.pos
			return tokEmpty, nil
		}
		if q == p { // attributes need white space before them
			return 0, errSyntax
		}
		an := scanName(b, q)
		if an == q {
			return 0, errSyntax
		}
		if s.strict {
			for _, a := range s.attrs {
				if bytes.Equal(b[a.from:a.to], b[q:an]) {
					return 0, errSyntax
				}
			}
			s.attrs = append(s.attrs, span{q, an})
		}
		q = skipSpace(b, an)
		if q >= len(b) || b[q] != '=' {
			return 0, errSyntax
		}
		q = skipSpace(b, q+1)
		if q >= len(b) || (b[q] != '"' && b[q] != '\'') {
			return 0, errSyntax
		}
		quote := b[q]
		e := bytes.IndexByte(b[q+1:], quote)
		if e < 0 {
			return 0, errSyntax
		}
		val := b[q+1 : q+1+e]
		if bytes.IndexByte(val, '<') >= 0 {
			return 0, errSyntax
		}
		if err := checkRefs(val); err != nil {
			return 0, err
		}
		p = q + 1 + e + 1
	}
}

// scanName returns the end of the XML name starting at p (p itself when
// there is none). Bytes ≥ 0x80 are accepted as name characters.
func scanName(b []byte, p int) int {
	i := p
	for i < len(b) {
		c := b[i]
		if c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' ||
			(i > p && (c >= '0' && c <= '9' || c == '-' || c == '.')) {
			i++
			continue
		}
		break
	}
	return i
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// checkRefs checks every '&' in b starts a predefined entity or a
// character reference to an allowed character.
func checkRefs(b []byte) error {
	for {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
		j := bytes.IndexByte(b, ';')
		if j < 0 || j > 12 {
			return errSyntax
		}
		if _, ok := refValue(b[:j]); !ok {
			return errSyntax
		}
		b = b[j+1:]
	}
}

// refValue decodes the reference name between '&' and ';'.
func refValue(ref []byte) (rune, bool) {
	switch string(ref) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	var n uint64
	var err error
	if ref[1] == 'x' {
		if len(ref) < 3 {
			return 0, false
		}
		n, err = strconv.ParseUint(string(ref[2:]), 16, 32)
	} else {
		n, err = strconv.ParseUint(string(ref[1:]), 10, 32)
	}
	if err != nil || n > utf8.MaxRune || !allowedRune(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// appendUnescaped appends character data with references decoded.
func appendUnescaped(dst, text []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(text, '&')
		if i < 0 {
			return append(dst, text...), nil
		}
		dst = append(dst, text[:i]...)
		text = text[i+1:]
		j := bytes.IndexByte(text, ';')
		if j < 0 {
			return dst, errSyntax
		}
		r, ok := refValue(text[:j])
		if !ok {
			return dst, errSyntax
		}
		dst = utf8.AppendRune(dst, r)
		text = text[j+1:]
	}
}

// textOf returns the character data of the last token, decoded.
func (s *xmlScanner) textOf(dst []byte) ([]byte, error) {
	if s.cdata {
		return append(dst, s.b[s.start+9:s.end-3]...), nil
	}
	return appendUnescaped(dst, s.b[s.start:s.end])
}

// readText reads to the end of the element just started and returns its
// character data (of the whole subtree), decoded and trimmed.
func (s *xmlScanner) readText() (string, error) {
	if s.kind == tokEmpty {
		return "", nil
	}
	d := s.depth()
	var out []byte
	for {
		k, err := s.next()
		if err != nil {
			return "", err
		}
		switch k {
		case tokEOF:
			return "", errSyntax
		case tokText:
			if out, err = s.textOf(out); err != nil {
				return "", err
			}
		case tokEnd:
			if s.depth() < d {
				return string(bytes.TrimSpace(out)), nil
			}
		}
	}
}

// skip reads to the end of the element just started.
func (s *xmlScanner) skip() error {
	if s.kind == tokEmpty {
		return nil
	}
	d := s.depth()
	for {
		k, err := s.next()
		if err != nil {
			return err
		}
		if k == tokEOF {
			return errSyntax
		}
		if k == tokEnd && s.depth() < d {
			return nil
		}
	}
}

// localName strips a namespace prefix.
func localName(qname []byte) []byte {
	if i := bytes.IndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// wellFormedElement reports whether b is exactly one element (white space,
// comments and processing instructions around it allowed), well-formed by
// this scanner's rules, so that it can be embedded in a response.
func wellFormedElement(b []byte) bool {
	s := newScanner(b)
	s.strict = true
	roots := 0
	for {
		k, err := s.next()
		if err != nil {
			return false
		}
		switch k {
		case tokEOF:
			return roots == 1 && s.depth() == 0
		case tokText:
			if s.depth() == 0 && (s.cdata || len(bytes.TrimSpace(b[s.start:s.end])) > 0) {
				return false
			}
		case tokOther:
			if s.depth() == 0 && bytes.HasPrefix(b[s.start:], []byte("<?xml")) && s.end-s.start > 5 &&
				(b[s.start+5] == ' ' || b[s.start+5] == '?' || b[s.start+5] == '\t' || b[s.start+5] == '\n' || b[s.start+5] == '\r') {
				return false // an XML declaration cannot sit inside a response
			}
		case tokStart, tokEmpty:
			if s.depth() == 0 || (k == tokStart && s.depth() == 1) {
				roots++
			}
		}
	}
}

// checkNames runs the strict checks on a complete start tag: the element
// at depth, its name at b[from:to], its attribute names in s.attrs.
func (s *xmlScanner) checkNames(from, to, depth int) error {
	b := s.b
	attrs := s.attrs
	for _, a := range attrs {
		name := b[a.from:a.to]
		if !validQName(name) {
			return errSyntax
		}
		if p, ok := bytes.CutPrefix(name, []byte("xmlns:")); ok {
			s.nsDecl = append(s.nsDecl, nsDecl{prefix: string(p), depth: depth})
		}
	}
	if !validQName(b[from:to]) || !s.declared(b[from:to]) {
		return errSyntax
	}
	for _, a := range attrs {
		name := b[a.from:a.to]
		if bytes.HasPrefix(name, []byte("xmlns:")) {
			continue
		}
		if !s.declared(name) {
			return errSyntax
		}
	}
	return nil
}

// declared reports whether a qualified name's prefix is in scope.
func (s *xmlScanner) declared(qname []byte) bool {
	i := bytes.IndexByte(qname, ':')
	if i < 0 {
		return true
	}
	prefix := string(qname[:i])
	if prefix == "xml" {
		return true
	}
	for _, d := range s.nsDecl {
		if d.prefix == prefix {
			return true
		}
	}
	return false
}

// popNS drops the declarations of elements deeper than depth.
func (s *xmlScanner) popNS(depth int) {
	for len(s.nsDecl) > 0 && s.nsDecl[len(s.nsDecl)-1].depth > depth {
		s.nsDecl = s.nsDecl[:len(s.nsDecl)-1]
	}
}

// validQName checks a name against XML's name characters (letters,
// digits, marks and ._-) with at most one colon, not at either end.
func validQName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	colons := 0
	for i, w := 0, 0; i < len(name); i += w {
		if c := name[i]; c < utf8.RuneSelf && c != ':' {
			// ASCII fast path: letters and _ anywhere, digits - . after the first.
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.') {
				w = 1
				continue
			}
			return false
		}
		r, n := utf8.DecodeRune(name[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			return false
		case r == ':':
			colons++
			if i == 0 || i == len(name)-1 || colons > 1 {
				return false
			}
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || r == 0xB7 || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
		default:
			return false
		}
	}
	return true
}
