package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrUTF16 is Scanner.Err for input in UTF-16, which it does not read.
var ErrUTF16 = errors.New("transform: input is UTF-16; convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8)")

// isUTF16 recognises UTF-16 by its byte order mark, or by the NUL bytes
// around an ASCII '<' at the start.
func isUTF16(b []byte) bool {
	switch {
	case len(b) >= 2 && (b[0] == 0xFE && b[1] == 0xFF || b[0] == 0xFF && b[1] == 0xFE):
		return true
	case len(b) >= 4 && (b[0] == '<' && b[1] == 0 && b[3] == 0 || b[0] == 0 && b[1] == '<' && b[2] == 0):
		return true
	}
	return false
}

// MaxRecordSize is the largest single record a Scanner accepts.
const MaxRecordSize = 16 << 20

// ErrRecordTooLarge is returned (wrapped) by Scanner.Err when one record
// is larger than MaxRecordSize.
var ErrRecordTooLarge = errors.New("transform: record larger than 16 MiB")

const scanInitial = 64 << 10

// Scanner streams MARC <record> elements out of an SRU searchRetrieve
// response, a MARCXML collection, or a bare record, holding only the
// record at hand (and the unread rest of its buffer) in memory.
//
// It tracks element depth with the same byte tokenizer as Parse. A
// <record> whose first child is an SRU element (recordSchema,
// recordPacking, recordData, ...) is SRU's wrapper and is looked into;
// any other <record> with child elements is a MARC record and is returned
// whole. An SRU recordData holding text (recordPacking=string) or CDATA
// is unescaped and returned as the record. A record inside an SRU wrapper
// is returned when the wrapper closes, so that its recordPosition (which
// Alma sends after recordData) is known. Records are matched by local
// name, so namespaces and prefixes do not matter.
type Scanner struct {
	r   io.Reader
	buf []byte
	n   int // valid bytes in buf
	pos int // next byte to tokenize
	eof bool
	err error
	max int

	started  bool // the first read is done
	rec      []byte
	position int
	decoded  []byte

	depth     int
	cand      int // offset of the <record> being looked at, -1 none
	candDepth int
	capturing bool
	nest      int    // records nested in the one being captured
	clean     int    // bytes from pos the fast path has already searched
	endPat    []byte // "</qname" of the record being captured
	startPat  []byte // "<qname" of the record being captured
	rd        int    // offset of recordData content while it may be text, -1 none
	rdDepth   int

	// Inside an SRU wrapper record: the MARC record found in it, waiting
	// for the wrapper's end (held in buf, or in decoded when it was packed
	// as a string), and the recordPosition.
	wrapDepth    int // -1 outside a wrapper
	held0, held1 int // buf[held0:held1], held0 -1 none
	heldDecoded  bool
	posStart     int // offset of recordPosition content, -1 none
	wrapPosition int
}

// NewScanner returns a Scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, max: MaxRecordSize, cand: -1, rd: -1, wrapDepth: -1, held0: -1, posStart: -1}
}

// Scan advances to the next record, which Bytes then returns. It returns
// false at the end of the input or on an error (see Err).
func (s *Scanner) Scan() bool {
	s.rec, s.position = nil, 0
	for s.err == nil {
		if s.pos >= s.n {
			if s.eof {
				switch {
				case s.cand >= 0 && s.capturing || s.rd >= 0 || s.held0 >= 0 || s.heldDecoded:
					s.err = fmt.Errorf("transform: input ends inside a record: %w", io.ErrUnexpectedEOF)
				case s.depth > 0:
					// A truncated response: the records so far were
					// returned, but the caller must know it is not all.
					s.err = fmt.Errorf("transform: input ends inside an element: %w", io.ErrUnexpectedEOF)
				}
				return false
			}
			s.fill()
			continue
		}
		if s.capturing {
			// Fast path: inside a MARC record only its end matters. Jump
			// to the next end tag named like the record, unless a
			// comment, CDATA section, processing instruction or nested
			// record start comes first: those go through the tokenizer,
			// which counts nested records.
			off, isEnd := s.scanCapture(s.buf[s.pos+s.clean : s.n])
			switch {
			case off >= 0:
				s.pos += s.clean + off
				s.clean = 0
				if isEnd && s.nest == 0 {
					s.depth = s.candDepth
				}
			case s.eof:
				s.err = fmt.Errorf("transform: input ends inside a record: %w", io.ErrUnexpectedEOF)
				return false
			default:
				// Nothing up to the last few bytes, which may hold the
				// start of what is looked for.
				s.clean = max(s.clean, s.n-s.pos-len(s.endPat)-2)
				s.fill()
				continue
			}
		}
		if s.buf[s.pos] != '<' {
			j := bytes.IndexByte(s.buf[s.pos:s.n], '<')
			if j < 0 {
				s.pos = s.n
			} else {
				s.pos += j
			}
			continue
		}
		end, kind, ok := markupEnd(s.buf[:s.n], s.pos)
		if !ok {
			if s.eof {
				s.err = fmt.Errorf("transform: unterminated markup: %w", io.ErrUnexpectedEOF)
				return false
			}
			s.fill()
			continue
		}
		start := s.pos
		s.pos = end
		switch kind {
		case tokStart, tokEmpty:
			name := localName(tagName(s.buf[start:end]))
			if s.cand >= 0 && !s.capturing {
				if isSRUChild(name) {
					s.wrapDepth, s.wrapPosition = s.candDepth, 0
					s.cand = -1
				} else {
					s.capturing, s.nest, s.clean = true, 0, 0
					qname := tagName(s.buf[s.cand:])
					s.endPat = append(append(s.endPat[:0], "</"...), qname...)
					s.startPat = append(append(s.startPat[:0], '<'), qname...)
				}
			}
			s.rd = -1 // recordData holds elements: packed as XML
			if kind == tokEmpty {
				continue
			}
			s.depth++
			if s.capturing && bytes.Equal(tagName(s.buf[start:end]), s.startPat[1:]) {
				s.nest++
			}
			if s.cand < 0 {
				switch string(name) {
				case "record":
					s.cand, s.candDepth = start, s.depth
				case "recordData":
					s.rd, s.rdDepth = end, s.depth
				case "recordPosition":
					if s.wrapDepth >= 0 && s.depth == s.wrapDepth+1 {
						s.posStart = end
					}
				}
			}
		case tokEnd:
			d := s.depth
			s.depth--
			switch {
			case s.capturing && s.nest > 0 && bytes.Equal(tagName(s.buf[start:end]), s.startPat[1:]):
				s.nest--
			case s.cand >= 0 && d == s.candDepth:
				capturing := s.capturing
				c := s.cand
				s.cand, s.capturing = -1, false
				if !capturing {
					continue // a record element without child elements
				}
				if s.wrapDepth >= 0 {
					// SRU wraps one record; a second one (in
					// extraRecordData, say) is not a result.
					if s.held0 < 0 && !s.heldDecoded {
						s.held0, s.held1 = c, end
					}
					continue
				}
				s.rec = s.buf[c:end]
				return true
			case s.rd >= 0 && d == s.rdDepth:
				content := s.buf[s.rd:start]
				s.rd = -1
				s.decoded = appendDecoded(s.decoded[:0], content)
				if rec := bytes.TrimSpace(s.decoded); bytes.IndexByte(rec, '<') >= 0 {
					if s.wrapDepth >= 0 {
						s.heldDecoded = s.held0 < 0
						continue
					}
					s.rec = rec
					return true
				}
			case s.posStart >= 0 && d == s.wrapDepth+1:
				s.wrapPosition = atoiPositive(bytes.TrimSpace(s.buf[s.posStart:start]))
				s.posStart = -1
			case s.wrapDepth >= 0 && d == s.wrapDepth:
				s.wrapDepth = -1
				switch {
				case s.held0 >= 0:
					s.rec, s.position = s.buf[s.held0:s.held1], s.wrapPosition
					s.held0 = -1
					return true
				case s.heldDecoded:
					s.rec, s.position = bytes.TrimSpace(s.decoded), s.wrapPosition
					s.heldDecoded = false
					return true
				}
			}
		}
	}
	return false
}

// scanCapture finds, in b, the first markup the fast path must hand to
// the tokenizer: "<!", "<?", or a start or end tag named like the
// captured record (isEnd tells which). It returns -1 when b holds none,
// or ends before one can be recognised.
func (s *Scanner) scanCapture(b []byte) (off int, isEnd bool) {
	for i := 0; ; i++ {
		k := bytes.IndexByte(b[i:], '<')
		if k < 0 {
			return -1, false
		}
		i += k
		if i+1 >= len(b) {
			return -1, false
		}
		pat := s.startPat
		switch b[i+1] {
		case '!', '?':
			return i, false
		case '/':
			pat = s.endPat
		}
		if !bytes.HasPrefix(b[i:], pat) {
			continue
		}
		j := i + len(pat)
		if j >= len(b) {
			return -1, false
		}
		switch b[j] {
		case '>', ' ', '\t', '\n', '\r':
			return i, pat[1] == '/'
		case '/':
			if pat[1] != '/' {
				return i, false
			}
		}
	}
}

// atoiPositive reads a decimal number, 0 when b is not one.
func atoiPositive(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func isSRUChild(name []byte) bool {
	switch string(name) {
	case "recordSchema", "recordPacking", "recordData", "recordPosition",
		"recordIdentifier", "extraRecordData", "recordXMLEscaping":
		return true
	}
	return false
}

// fill drops what is no longer needed from the buffer and reads more,
// until the buffer is full or the input ends, so that a long piece of
// markup is rescanned only a logarithmic number of times.
func (s *Scanner) fill() {
	keep := s.pos
	for _, off := range [...]int{s.cand, s.rd, s.held0, s.posStart} {
		if off >= 0 && off < keep {
			keep = off
		}
	}
	if keep > 0 {
		copy(s.buf, s.buf[keep:s.n])
		s.n -= keep
		s.pos -= keep
		for _, off := range [...]*int{&s.cand, &s.rd, &s.held0, &s.posStart} {
			if *off >= 0 {
				*off -= keep
			}
		}
		if s.held0 >= 0 {
			s.held1 -= keep
		}
	}
	if s.n >= s.max {
		if s.cand >= 0 || s.rd >= 0 || s.held0 >= 0 {
			s.err = ErrRecordTooLarge
		} else {
			s.err = fmt.Errorf("transform: markup longer than %d bytes", s.max)
		}
		return
	}
	if len(s.buf)-s.n < len(s.buf)/4 || len(s.buf) == 0 {
		size := max(2*len(s.buf), scanInitial)
		size = min(size, s.max+1)
		nb := make([]byte, size)
		copy(nb, s.buf[:s.n])
		s.buf = nb
	}
	first := s.n == 0 && !s.started
	s.started = true
	zero := 0
	defer func() {
		if first && s.err == nil && isUTF16(s.buf[:s.n]) {
			s.err = ErrUTF16
		}
	}()
	for s.n < len(s.buf) {
		m, err := s.r.Read(s.buf[s.n:])
		s.n += m
		if err == io.EOF {
			s.eof = true
			return
		}
		if err != nil {
			s.err = err
			return
		}
		if m == 0 {
			if zero++; zero > 100 {
				s.err = io.ErrNoProgress
				return
			}
		}
	}
}

// Position returns the SRU recordPosition of the current record, or 0
// when it has none (a collection, or a response without positions).
func (s *Scanner) Position() int { return s.position }

// Bytes returns the current record's bytes. They are valid until the next
// call of Scan.
func (s *Scanner) Bytes() []byte { return s.rec }

// Err returns the first error met, or nil at a clean end of input.
func (s *Scanner) Err() error { return s.err }
