package transform

import (
	"errors"
	"strconv"
)

// ISO 2709 (MARC 21 "communications format") separators.
const (
	isoSubfield = 0x1F // subfield delimiter
	isoField    = 0x1E // field terminator
	isoRecord   = 0x1D // record terminator
)

// ErrISO2709TooLarge is returned by AppendISO2709 when the record does not
// fit the format's fixed-width numbers: a field of 10,000 bytes or more, or
// a record of 100,000 bytes or more.
var ErrISO2709TooLarge = errors.New("record too large for ISO 2709")

// AppendISO2709 appends the record in ISO 2709 as MARC 21 defines it, in
// UTF-8: a 24-byte leader whose record length, base address, indicator and
// subfield-code counts and entry map are computed (positions 10-11 "22",
// 20-23 "4500") and whose position 9 is "a" (UCS/Unicode); the directory;
// then the fields, each ended by 0x1E, and the record ended by 0x1D. The
// fields are those AppendMARCXML writes, in the same order (control fields
// first), with the same leader repairs, so the two outputs carry the same
// record. Separator bytes inside values are dropped. On error dst is
// returned unchanged.
func (r *Record) AppendISO2709(dst []byte) ([]byte, error) {
	start := len(dst)
	type entry struct {
		tag        string
		start, end int // in data
	}
	var entries []entry
	var data []byte
	put := func(tag string, f *field) {
		s := len(data)
		if f.control {
			data = appendISOValue(data, r.str(f.value))
		} else {
			data = append(data, indicator(r.str(f.ind1)), indicator(r.str(f.ind2)))
			for _, sf := range r.subs[f.sub0:f.sub1] {
				code := r.str(sf.code)
				if !validCode(code) {
					continue
				}
				data = append(data, isoSubfield, code[0])
				data = appendISOValue(data, r.str(sf.value))
			}
		}
		data = append(data, isoField)
		entries = append(entries, entry{tag, s, len(data)})
	}
	for i := range r.fields {
		f := &r.fields[i]
		if f.control && validControlTag(r.str(f.tag)) {
			put(r.str(f.tag), f)
		}
	}
	for i := range r.fields {
		f := &r.fields[i]
		if f.control || !validDataTag(r.str(f.tag)) {
			continue
		}
		n := 0
		for _, sf := range r.subs[f.sub0:f.sub1] {
			if validCode(r.str(sf.code)) {
				n++
			}
		}
		if n > 0 {
			put(r.str(f.tag), f)
		}
	}
	base := 24 + 12*len(entries) + 1
	total := base + len(data) + 1
	if total > 99999 {
		return dst[:start], ErrISO2709TooLarge
	}
	leader := r.str(r.leader)
	if leader == "" {
		leader = defaultLeader
	}
	dst = appendLeader(dst, leader)
	l := dst[start : start+24]
	putNum(l[0:5], total)
	l[9] = 'a'
	l[10], l[11] = '2', '2'
	putNum(l[12:17], base)
	copy(l[20:24], "4500")
	for _, e := range entries {
		n := e.end - e.start
		if n > 9999 {
			return dst[:start], ErrISO2709TooLarge
		}
		dst = append(dst, e.tag...)
		var num [9]byte
		putNum(num[0:4], n)
		putNum(num[4:9], e.start)
		dst = append(dst, num[:]...)
	}
	dst = append(dst, isoField)
	dst = append(dst, data...)
	return append(dst, isoRecord), nil
}

// putNum writes n right-aligned with leading zeros into b.
func putNum(b []byte, n int) {
	s := strconv.Itoa(n)
	for i := range b {
		b[i] = '0'
	}
	copy(b[len(b)-len(s):], s)
}

// appendISOValue appends v without the three separator bytes.
func appendISOValue(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case isoSubfield, isoField, isoRecord:
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
