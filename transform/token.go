package transform

import "bytes"

// The MARCXML readers (Parse and Scanner) share this small byte tokenizer.
// It finds where one piece of markup ends without building any tree, and
// lets the caller look at element names and attributes in place.

type tokKind uint8

const (
	tokText tokKind = iota
	tokStart
	tokEmpty // <x/>
	tokEnd
	tokComment
	tokPI
	tokCDATA
	tokDoctype
)

// markupEnd returns the index just past the markup starting at b[i] == '<'
// and its kind. complete is false when b ends before the markup does.
func markupEnd(b []byte, i int) (end int, kind tokKind, complete bool) {
	rest := b[i:]
	if len(rest) < 2 {
		return 0, 0, false
	}
	switch rest[1] {
	case '?':
		e := bytes.Index(rest[2:], []byte("?>"))
		if e < 0 {
			return 0, 0, false
		}
		return i + 2 + e + 2, tokPI, true
	case '!':
		if bytes.HasPrefix(rest, []byte("<!--")) {
			e := bytes.Index(rest[4:], []byte("-->"))
			if e < 0 {
				return 0, 0, false
			}
			return i + 4 + e + 3, tokComment, true
		}
		if bytes.HasPrefix(rest, []byte("<![CDATA[")) {
			e := bytes.Index(rest[9:], []byte("]]>"))
			if e < 0 {
				return 0, 0, false
			}
			return i + 9 + e + 3, tokCDATA, true
		}
		if len(rest) < 9 && bytes.HasPrefix([]byte("<![CDATA["), rest) {
			return 0, 0, false
		}
		if len(rest) < 4 && bytes.HasPrefix([]byte("<!--"), rest) {
			return 0, 0, false
		}
		// <!DOCTYPE ...> possibly with an internal subset in [...].
		depth := 0
		for j := 2; j < len(rest); j++ {
			switch rest[j] {
			case '[':
				depth++
			case ']':
				depth--
			case '>':
				if depth <= 0 {
					return i + j + 1, tokDoctype, true
				}
			}
		}
		return 0, 0, false
	case '/':
		e := bytes.IndexByte(rest, '>')
		if e < 0 {
			return 0, 0, false
		}
		return i + e + 1, tokEnd, true
	}
	// Start tag: '>' inside a quoted attribute value does not end it.
	// Tags are short: a plain loop, with quoted values skipped by one
	// vectorized search each, beats searching the whole tag repeatedly.
	for j := 1; j < len(rest); j++ {
		switch c := rest[j]; c {
		case '>':
			if rest[j-1] == '/' {
				return i + j + 1, tokEmpty, true
			}
			return i + j + 1, tokStart, true
		case '"', '\'':
			k := bytes.IndexByte(rest[j+1:], c)
			if k < 0 {
				return 0, 0, false
			}
			j += k + 1
		}
	}
	return 0, 0, false
}

// tagName returns the qualified name of a start or end tag (tag includes
// the angle brackets).
func tagName(tag []byte) []byte {
	j := 1
	if len(tag) > 1 && tag[1] == '/' {
		j = 2
	}
	k := j
	for k < len(tag) {
		switch tag[k] {
		case ' ', '\t', '\n', '\r', '/', '>':
			return tag[j:k]
		}
		k++
	}
	return tag[j:k]
}

// localName strips a namespace prefix.
func localName(qname []byte) []byte {
	if i := bytes.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// attr returns the raw (undecoded) value of the attribute called name in a
// start tag, matched by local name.
func attr(tag []byte, name string) (value []byte, ok bool) {
	return attrAfter(tag, 1+len(tagName(tag)), name)
}

// attrAfter is attr for a tag whose name ends at i.
func attrAfter(tag []byte, i int, name string) (value []byte, ok bool) {
	for {
		an, v, next, more := nextAttr(tag, i)
		if !more {
			return nil, false
		}
		if string(localName(an)) == name {
			return v, true
		}
		i = next
	}
}

// nextAttr reads the attribute at or after tag[i]: its name, its raw
// value, and where to continue. more is false when there is none left.
// Malformed attributes (no '=', no quotes) are skipped.
func nextAttr(tag []byte, i int) (name, value []byte, next int, more bool) {
	for i < len(tag) {
		c := tag[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		if c == '/' || c == '>' {
			return nil, nil, i, false
		}
		ns := i
		for i < len(tag) && tag[i] != '=' && tag[i] != ' ' && tag[i] != '\t' &&
			tag[i] != '\n' && tag[i] != '\r' && tag[i] != '>' && tag[i] != '/' {
			i++
		}
		an := tag[ns:i]
		for i < len(tag) && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\n' || tag[i] == '\r') {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			continue // attribute without value: not XML, skip it
		}
		i++
		for i < len(tag) && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\n' || tag[i] == '\r') {
			i++
		}
		if i >= len(tag) {
			return nil, nil, i, false
		}
		q := tag[i]
		if q != '"' && q != '\'' {
			continue
		}
		vs := i + 1
		ve := bytes.IndexByte(tag[vs:], q)
		if ve < 0 {
			return nil, nil, i, false
		}
		return an, tag[vs : vs+ve], vs + ve + 1, true
	}
	return nil, nil, i, false
}
