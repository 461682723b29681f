package transform

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrISO2709 wraps every reason ParseISO2709 refuses a record.
var ErrISO2709 = errors.New("transform: ISO 2709")

// MaxISO2709 is the largest record ISO 2709 can describe (five digits of
// record length).
const MaxISO2709 = 99999

// ParseISO2709 reads one ISO 2709 record (MARC 21 communications format)
// as a Z39.50 target sends it: the leader's record length and base
// address, the directory's entries (lengths and offsets as the leader's
// entry map says), control fields for tags 001-009 and data fields with
// their indicators and subfields. Leader/09 'a' is UTF-8 (invalid bytes
// become U+FFFD); blank is MARC-8, decoded to UTF-8 in NFC; any other
// value, a directory that points outside the record, or MARC-8 that
// cannot be decoded is an error wrapping ErrISO2709. Bytes after the
// record are ignored. The record is derived as a MARCXML one is (the same
// identifiers, holdings and merge keys), and its leader says UTF-8.
func ParseISO2709(data []byte) (*Record, error) {
	if len(data) < 25 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a leader and a directory", ErrISO2709, len(data))
	}
	length, ok := isoNum(data[0:5])
	if !ok || length < 25 {
		return nil, fmt.Errorf("%w: record length %q is not a number of at least 25", ErrISO2709, data[0:5])
	}
	if length > len(data) {
		return nil, fmt.Errorf("%w: record length %d but %d bytes", ErrISO2709, length, len(data))
	}
	data = data[:length]
	base, ok := isoNum(data[12:17])
	if !ok || base < 25 || base > length {
		return nil, fmt.Errorf("%w: base address %q outside the record", ErrISO2709, data[12:17])
	}
	var marc8 bool
	switch data[9] {
	case 'a':
	case ' ':
		marc8 = true
	default:
		return nil, fmt.Errorf("%w: character coding %q (leader/09) is neither blank (MARC-8) nor 'a' (UCS)", ErrISO2709, data[9])
	}
	lenDigits, startDigits := 4, 5
	if c := data[20]; c >= '1' && c <= '9' {
		lenDigits = int(c - '0')
	}
	if c := data[21]; c >= '1' && c <= '9' {
		startDigits = int(c - '0')
	}
	indicators := 2
	if c := data[10]; c >= '0' && c <= '9' {
		indicators = int(c - '0')
	}
	entry := 3 + lenDigits + startDigits + int(data[22]-'0')*boolInt(data[22] >= '0' && data[22] <= '9')
	dir := data[24 : base-1]
	if data[base-1] != isoField {
		return nil, fmt.Errorf("%w: the directory does not end with a field terminator", ErrISO2709)
	}
	if len(dir)%entry != 0 {
		return nil, fmt.Errorf("%w: directory of %d bytes is not whole %d-byte entries", ErrISO2709, len(dir), entry)
	}
	fieldData := data[base:]
	r := &Record{}
	arena := make([]byte, 0, len(data)+len(data)/8)
	put := func(b []byte) span {
		off := len(arena)
		arena = appendClean(arena, b)
		return span{int32(off), int32(len(arena))}
	}
	var dec marc8Decoder
	putText := func(b []byte) (span, error) {
		if !marc8 {
			return put(b), nil
		}
		off := len(arena)
		var err error
		if arena, err = dec.decode(arena, b); err != nil {
			return span{}, fmt.Errorf("%w: %v", ErrISO2709, err)
		}
		return span{int32(off), int32(len(arena))}, nil
	}
	leader := append([]byte(nil), data[:24]...)
	leader[9] = 'a'
	r.leader = put(leader)
	var fields []field
	var subs []subfield
	for e := 0; e < len(dir); e += entry {
		tag := dir[e : e+3]
		n, ok1 := isoNum(dir[e+3 : e+3+lenDigits])
		at, ok2 := isoNum(dir[e+3+lenDigits : e+3+lenDigits+startDigits])
		if !ok1 || !ok2 || at+n > len(fieldData) {
			return nil, fmt.Errorf("%w: directory entry %q points outside the record", ErrISO2709, dir[e:e+entry])
		}
		v := fieldData[at : at+n]
		if len(v) > 0 && v[len(v)-1] == isoField {
			v = v[:len(v)-1]
		}
		dec.reset()
		f := field{tag: put(tag)}
		if validControlTag(string(tag)) {
			f.control = true
			var err error
			if f.value, err = putText(v); err != nil {
				return nil, err
			}
			fields = append(fields, f)
			continue
		}
		if len(v) < indicators {
			return nil, fmt.Errorf("%w: field %s shorter than its indicators", ErrISO2709, tag)
		}
		var ind [2][]byte
		for i := 0; i < indicators && i < 2; i++ {
			ind[i] = v[i : i+1]
		}
		f.ind1, f.ind2 = put(ind[0]), put(ind[1])
		v = v[indicators:]
		f.sub0 = int32(len(subs))
		for len(v) > 0 {
			if v[0] != isoSubfield {
				// Text before the first delimiter has no code; it is dropped.
				j := bytes.IndexByte(v, isoSubfield)
				if j < 0 {
					break
				}
				v = v[j:]
				continue
			}
			v = v[1:]
			j := bytes.IndexByte(v, isoSubfield)
			if j < 0 {
				j = len(v)
			}
			if j == 0 {
				v = v[j:]
				continue
			}
			code := put(v[:1])
			val, err := putText(v[1:j])
			if err != nil {
				return nil, err
			}
			subs = append(subs, subfield{code: code, value: val})
			v = v[j:]
		}
		f.sub1 = int32(len(subs))
		fields = append(fields, f)
	}
	if len(arena) > maxParse {
		return nil, fmt.Errorf("%w: record too large", ErrISO2709)
	}
	r.text = string(arena)
	r.fields = fields
	r.subs = subs
	r.derive()
	return r, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isoNum reads an all-digit number.
func isoNum(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
