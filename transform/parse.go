package transform

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNoRecord is returned by Parse when its input holds no <record> element.
var ErrNoRecord = errors.New("transform: no record element")

// Parse reads one MARCXML <record> element: in the MARC namespace, with a
// prefix (marc:record), or in no namespace, matched by local names. Markup
// before the record (an XML declaration, even one that claims UTF-16, or
// enclosing elements such as a collection) is skipped; the first record is
// read. The input must be UTF-8; invalid bytes become U+FFFD and characters
// XML 1.0 forbids are dropped. Parse does not keep data.
func Parse(data []byte) (*Record, error) {
	var p parser
	return p.parse(data)
}

// ParseElement reads the MARCXML <record> element at the start of data
// (white space before it allowed, nothing else) and returns it with the
// number of bytes it took, through its end tag: data may go on after it.
// It is how an SRU page's records are parsed in the same pass that reads
// the page (sru.ParsePageWith): the envelope scanner hands each
// recordData's content here and resumes after the record.
func ParseElement(data []byte) (*Record, int, error) {
	p := parser{first: true}
	r, err := p.parse(data)
	if err != nil {
		return nil, 0, err
	}
	return r, p.i, nil
}

// parser reads a record out of a byte slice. Its arena is reused between
// records when the same parser parses many (as Convert does).
type parser struct {
	b      []byte
	i      int
	arena  []byte
	fields []field    // scratch, copied into the Record at the end
	subs   []subfield // scratch, copied into the Record at the end
	// first requires the record to be the first markup (ParseElement).
	first bool
}

// maxParse bounds Parse's input: offsets into a record are int32.
const maxParse = 1 << 30

func (p *parser) parse(data []byte) (*Record, error) {
	if len(data) > maxParse {
		return nil, fmt.Errorf("transform: record of %d bytes is too large", len(data))
	}
	p.b, p.i = data, 0
	if cap(p.arena) < len(data)/2 {
		p.arena = make([]byte, 0, len(data)/2+64)
	}
	p.arena = p.arena[:0]
	p.fields, p.subs = p.fields[:0], p.subs[:0]
	r := &Record{}
	err := p.record(r)
	p.b = nil
	if err != nil {
		return nil, err
	}
	r.text = string(p.arena)
	r.fields = append([]field(nil), p.fields...)
	r.subs = append([]subfield(nil), p.subs...)
	r.derive()
	return r, nil
}

var errEOF = errors.New("unexpected end of input")

func (p *parser) next() (kind tokKind, s, e int, err error) {
	if p.i >= len(p.b) {
		return 0, 0, 0, errEOF
	}
	s = p.i
	if p.b[s] != '<' {
		j := bytes.IndexByte(p.b[s:], '<')
		if j < 0 {
			j = len(p.b) - s
		}
		p.i = s + j
		return tokText, s, p.i, nil
	}
	end, kind, ok := markupEnd(p.b, s)
	if !ok {
		return 0, 0, 0, fmt.Errorf("transform: unterminated markup at byte %d", s)
	}
	p.i = end
	return kind, s, end, nil
}

func (p *parser) record(r *Record) error {
	var recName []byte
	for {
		kind, s, e, err := p.next()
		if err == errEOF {
			return ErrNoRecord
		}
		if err != nil {
			return err
		}
		if p.first && (kind != tokText && kind != tokStart && kind != tokEmpty || kind == tokText && len(bytes.TrimSpace(p.b[s:e])) > 0) {
			return ErrNoRecord
		}
		if kind != tokStart && kind != tokEmpty {
			continue
		}
		name := tagName(p.b[s:e])
		if string(localName(name)) != "record" {
			if p.first {
				return ErrNoRecord
			}
			continue
		}
		if kind == tokEmpty {
			return nil
		}
		recName = name
		break
	}
	for {
		kind, s, e, err := p.next()
		if err != nil {
			return fmt.Errorf("transform: record: %w", err)
		}
		switch kind {
		case tokEnd:
			if !bytes.Equal(tagName(p.b[s:e]), recName) {
				return fmt.Errorf("transform: record: unexpected </%s>", tagName(p.b[s:e]))
			}
			return nil
		case tokStart, tokEmpty:
			tag := p.b[s:e]
			name := tagName(tag)
			empty := kind == tokEmpty
			switch string(localName(name)) {
			case "leader":
				v, err := p.text(name, empty)
				if err != nil {
					return err
				}
				r.leader = v
			case "controlfield":
				f := field{control: true, tag: p.attr(tag, len(name), "tag")}
				if f.value, err = p.text(name, empty); err != nil {
					return err
				}
				p.fields = append(p.fields, f)
			case "datafield":
				if err := p.datafield(tag, name, empty); err != nil {
					return err
				}
			default:
				if !empty {
					if err := p.skip(name); err != nil {
						return err
					}
				}
			}
		}
	}
}

func (p *parser) datafield(tag, name []byte, empty bool) error {
	f := field{sub0: int32(len(p.subs))}
	var seen [3]bool
	for i := 1 + len(name); ; {
		an, v, next, more := nextAttr(tag, i)
		if !more {
			break
		}
		i = next
		var dst *span
		switch string(localName(an)) {
		case "tag":
			dst = &f.tag
			if seen[0] {
				continue
			}
			seen[0] = true
		case "ind1":
			dst = &f.ind1
			if seen[1] {
				continue
			}
			seen[1] = true
		case "ind2":
			dst = &f.ind2
			if seen[2] {
				continue
			}
			seen[2] = true
		default:
			continue
		}
		*dst = p.value(v)
	}
	// Missing attributes are empty spans at the arena's end.
	for k, sp := range [...]*span{&f.tag, &f.ind1, &f.ind2} {
		if !seen[k] {
			*sp = span{int32(len(p.arena)), int32(len(p.arena))}
		}
	}
	for !empty {
		kind, s, e, err := p.next()
		if err != nil {
			return fmt.Errorf("transform: datafield: %w", err)
		}
		if kind == tokEnd {
			if !bytes.Equal(tagName(p.b[s:e]), name) {
				return fmt.Errorf("transform: datafield: unexpected </%s>", tagName(p.b[s:e]))
			}
			break
		}
		if kind != tokStart && kind != tokEmpty {
			continue
		}
		stag := p.b[s:e]
		sname := tagName(stag)
		if string(localName(sname)) != "subfield" {
			if kind == tokStart {
				if err := p.skip(sname); err != nil {
					return err
				}
			}
			continue
		}
		sf := subfield{code: p.attr(stag, len(sname), "code")}
		if sf.value, err = p.text(sname, kind == tokEmpty); err != nil {
			return err
		}
		p.subs = append(p.subs, sf)
	}
	f.sub1 = int32(len(p.subs))
	p.fields = append(p.fields, f)
	return nil
}

// attr decodes an attribute of tag, whose name is nameLen bytes long,
// into the arena.
func (p *parser) attr(tag []byte, nameLen int, name string) span {
	v, ok := attrAfter(tag, 1+nameLen, name)
	if !ok {
		return span{int32(len(p.arena)), int32(len(p.arena))}
	}
	return p.value(v)
}

// value decodes a raw attribute value into the arena.
func (p *parser) value(v []byte) span {
	off := len(p.arena)
	if bytes.IndexByte(v, '&') < 0 {
		p.arena = appendClean(p.arena, v)
	} else {
		p.arena = appendDecoded(p.arena, v)
	}
	return span{int32(off), int32(len(p.arena))}
}

// text decodes the character data of the element just opened (name) into
// the arena, up to its end tag. Elements nested inside are skipped.
func (p *parser) text(name []byte, empty bool) (span, error) {
	off := len(p.arena)
	depth := 0
	for !empty {
		kind, s, e, err := p.next()
		if err != nil {
			return span{}, fmt.Errorf("transform: %s: %w", name, err)
		}
		switch kind {
		case tokText:
			if depth == 0 {
				if t := p.b[s:e]; bytes.IndexByte(t, '&') < 0 {
					p.arena = appendClean(p.arena, t)
				} else {
					p.arena = appendDecoded(p.arena, t)
				}
			}
		case tokCDATA:
			if depth == 0 {
				p.arena = appendClean(p.arena, p.b[s+9:e-3])
			}
		case tokStart:
			depth++
		case tokEnd:
			if depth == 0 {
				if !bytes.Equal(tagName(p.b[s:e]), name) {
					return span{}, fmt.Errorf("transform: %s: unexpected </%s>", name, tagName(p.b[s:e]))
				}
				empty = true
				continue
			}
			depth--
		}
	}
	return span{int32(off), int32(len(p.arena))}, nil
}

// skip passes over the element just opened, whatever it holds.
func (p *parser) skip(name []byte) error {
	depth := 0
	for {
		kind, s, e, err := p.next()
		if err != nil {
			return fmt.Errorf("transform: %s: %w", name, err)
		}
		switch kind {
		case tokStart:
			depth++
		case tokEnd:
			if depth == 0 {
				if !bytes.Equal(tagName(p.b[s:e]), name) {
					return fmt.Errorf("transform: %s: unexpected </%s>", name, tagName(p.b[s:e]))
				}
				return nil
			}
			depth--
		}
	}
}
