package z3950

import (
	"errors"
	"fmt"
)

var errShort = errors.New("need more bytes")

// framer finds the end of one BER element in a growing buffer. It keeps
// its place between calls, so a PDU that arrives a byte at a time is still
// scanned once (O(n)), and it checks the size bound and the nesting depth
// before any decoder sees the bytes.
type framer struct {
	max, maxDepth int
	pos           int   // next header to read
	open          []int // end offset of each open constructed element; -1 indefinite
	started       bool
}

func (f *framer) reset() { f.pos, f.open, f.started = 0, f.open[:0], false }

// next reports the length of the complete element at the start of b, or
// errShort when b holds only a prefix of it.
func (f *framer) next(b []byte) (int, error) {
	for {
		for len(f.open) > 0 && f.open[len(f.open)-1] >= 0 && f.pos == f.open[len(f.open)-1] {
			f.open = f.open[:len(f.open)-1]
		}
		if f.pos > len(b) {
			return 0, errShort
		}
		if f.started && len(f.open) == 0 {
			return f.pos, nil
		}
		id, length, hdr, err := header(b[f.pos:])
		if err != nil {
			return 0, err
		}
		f.started = true
		start := f.pos + hdr
		if id == 0 && length == 0 { // end-of-contents
			if len(f.open) == 0 || f.open[len(f.open)-1] >= 0 {
				return 0, errors.New("end-of-contents outside an indefinite-length element")
			}
			f.open = f.open[:len(f.open)-1]
			f.pos = start
			continue
		}
		constructed := id&0x20 != 0
		if length < 0 && !constructed {
			return 0, errors.New("indefinite length on a primitive element")
		}
		end := -1
		if length >= 0 {
			end = start + length
			if end > f.max {
				return 0, fmt.Errorf("PDU longer than %d bytes", f.max)
			}
			if n := len(f.open); n > 0 && f.open[n-1] >= 0 && end > f.open[n-1] {
				return 0, errors.New("element runs past its enclosing element")
			}
		}
		if start > f.max {
			return 0, fmt.Errorf("PDU longer than %d bytes", f.max)
		}
		if constructed {
			if len(f.open) >= f.maxDepth {
				return 0, fmt.Errorf("PDU nested deeper than %d", f.maxDepth)
			}
			f.open = append(f.open, end)
			f.pos = start
			continue
		}
		f.pos = end
	}
}

// header reads a BER identifier and length. id is the first identifier
// octet; length is -1 for the indefinite form.
func header(b []byte) (id byte, length, n int, err error) {
	if len(b) < 2 {
		return 0, 0, 0, errShort
	}
	id = b[0]
	n = 1
	if id&0x1f == 0x1f {
		for {
			if n >= len(b) {
				return 0, 0, 0, errShort
			}
			if n > 4 {
				return 0, 0, 0, errors.New("tag number too large")
			}
			c := b[n]
			n++
			if c&0x80 == 0 {
				break
			}
		}
	}
	if n >= len(b) {
		return 0, 0, 0, errShort
	}
	l := b[n]
	n++
	switch {
	case l < 0x80:
		return id, int(l), n, nil
	case l == 0x80:
		return id, -1, n, nil
	case l == 0xff:
		return 0, 0, 0, errors.New("invalid length octet 0xff")
	}
	k := int(l & 0x7f)
	if k > 4 {
		return 0, 0, 0, errors.New("length of more than four octets")
	}
	if n+k > len(b) {
		return 0, 0, 0, errShort
	}
	for i := 0; i < k; i++ {
		length = length<<8 | int(b[n+i])
	}
	if length < 0 || length > 1<<30 {
		return 0, 0, 0, errors.New("length out of range")
	}
	return id, length, n + k, nil
}
