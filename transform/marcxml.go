package transform

import "strings"

// MARCNamespace is the MARC 21 XML (MARCXML) namespace.
const MARCNamespace = "http://www.loc.gov/MARC21/slim"

// AppendCollectionStart appends the opening of a MARCXML collection (with
// the XML declaration) for format=marcxml.
func AppendCollectionStart(dst []byte) []byte {
	return append(dst, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<collection xmlns="`+MARCNamespace+`">`+"\n"...)
}

// AppendCollectionEnd closes what AppendCollectionStart opened.
func AppendCollectionEnd(dst []byte) []byte {
	return append(dst, "</collection>\n"...)
}

// defaultLeader stands in for a missing leader when the record has fields:
// the schema wants a leader before any field.
const defaultLeader = "00000nam a2200000   4500"

// AppendMARCXML appends the record as a MARCXML <record> in the MARC
// namespace (whatever namespace or prefix Alma used), with the leader,
// control and data fields in Alma's order. The output is well-formed and
// valid against MARC21slim.xsd; to stay valid it departs from the input
// only where the schema leaves no choice:
//   - control fields come before data fields;
//   - a leader that does not fit the schema's pattern has the offending
//     positions replaced (blank, or "0" where a digit is required);
//   - fields whose tags the schema cannot hold (Alma's four-letter INST in
//     Bibs API answers) and subfields with unusable codes are left out, as
//     are data fields left with no subfield;
//   - an upper-case indicator is lower-cased, any other invalid one blank.
func (r *Record) AppendMARCXML(dst []byte) []byte { return r.appendMARCXML(dst, nil, false) }

// AppendMARCXMLHoldings is AppendMARCXML with the record's member-
// availability 852s (SPEC 1) replaced by holdings, one 852 (ind1=0, ind2=1,
// $a, $6 when known, $9 per type) each, where the record's first one was or
// else before the first field after 852: the merged record of a federated
// search carries the union of its sources' holdings (SPEC 9.2).
func (r *Record) AppendMARCXMLHoldings(dst []byte, holdings []Holding) []byte {
	return r.appendMARCXML(dst, holdings, true)
}

// isMember852 reports whether data field f is a member-availability 852.
func (r *Record) isMember852(f *field) bool {
	if r.str(f.tag) != "852" || r.str(f.ind1) != "0" || r.str(f.ind2) != "1" {
		return false
	}
	for _, s := range r.subs[f.sub0:f.sub1] {
		if r.code(s) == 'a' && strings.TrimSpace(r.str(s.value)) != "" {
			return true
		}
	}
	return false
}

// appendHoldings writes holdings as member-availability 852s.
func appendHoldings(dst []byte, holdings []Holding) []byte {
	for _, h := range holdings {
		dst = append(dst, `<datafield tag="852" ind1="0" ind2="1"><subfield code="a">`...)
		dst = appendEscaped(dst, h.Institution, false)
		dst = append(dst, "</subfield>"...)
		if h.IZMMSID != "" {
			dst = append(dst, `<subfield code="6">`...)
			dst = appendEscaped(dst, h.IZMMSID, false)
			dst = append(dst, "</subfield>"...)
		}
		for _, t := range h.Types {
			code := t
			switch t {
			case "print":
				code = "P"
			case "electronic":
				code = "E"
			case "digital":
				code = "D"
			}
			dst = append(dst, `<subfield code="9">`...)
			dst = appendEscaped(dst, code, false)
			dst = append(dst, "</subfield>"...)
		}
		dst = append(dst, "</datafield>"...)
	}
	return dst
}

func (r *Record) appendMARCXML(dst []byte, holdings []Holding, replace bool) []byte {
	dst = append(dst, `<record xmlns="`+MARCNamespace+`">`...)
	leader := r.str(r.leader)
	if leader == "" && len(r.fields) > 0 {
		leader = defaultLeader
	}
	if leader != "" {
		dst = append(dst, "<leader>"...)
		dst = appendLeader(dst, leader)
		dst = append(dst, "</leader>"...)
	}
	for i := range r.fields {
		f := &r.fields[i]
		if !f.control {
			continue
		}
		tag := r.str(f.tag)
		if !validControlTag(tag) {
			continue
		}
		dst = append(dst, `<controlfield tag="`...)
		dst = append(dst, tag...)
		dst = append(dst, `">`...)
		dst = appendEscaped(dst, r.str(f.value), false)
		dst = append(dst, "</controlfield>"...)
	}
	written := !replace // the holdings
	for i := range r.fields {
		f := &r.fields[i]
		if f.control {
			continue
		}
		tag := r.str(f.tag)
		if !validDataTag(tag) {
			continue
		}
		if !written && (tag > "852" || r.isMember852(f)) {
			dst = appendHoldings(dst, holdings)
			written = true
		}
		if replace && r.isMember852(f) {
			continue
		}
		subs := r.subs[f.sub0:f.sub1]
		n := 0
		for _, s := range subs {
			if validCode(r.str(s.code)) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		dst = append(dst, `<datafield tag="`...)
		dst = append(dst, tag...)
		dst = append(dst, `" ind1="`...)
		dst = append(dst, indicator(r.str(f.ind1)))
		dst = append(dst, `" ind2="`...)
		dst = append(dst, indicator(r.str(f.ind2)))
		dst = append(dst, `">`...)
		for _, s := range subs {
			code := r.str(s.code)
			if !validCode(code) {
				continue
			}
			dst = append(dst, `<subfield code="`...)
			dst = appendEscaped(dst, code, true)
			dst = append(dst, `">`...)
			dst = appendEscaped(dst, r.str(s.value), false)
			dst = append(dst, "</subfield>"...)
		}
		dst = append(dst, "</datafield>"...)
	}
	if !written {
		dst = appendHoldings(dst, holdings)
	}
	return append(dst, "</record>"...)
}

// appendLeader writes a leader fitting MARC21slim's leaderDataType:
// [\d ]{5}[\dA-Za-z ][\dA-Za-z][\dA-Za-z ]{3}(2| )(2| )[\d ]{5}[\dA-Za-z ]{3}(4500|    ).
func appendLeader(dst []byte, leader string) []byte {
	var l [24]byte
	for i := range l {
		c := byte(' ')
		if i < len(leader) {
			c = leader[i]
		}
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		switch {
		case i < 5 || (i >= 12 && i < 17):
			if !(c >= '0' && c <= '9' || c == ' ') {
				c = '0'
			}
		case i == 6:
			if !alnum {
				c = 'a'
			}
		case i == 5 || (i >= 7 && i < 10) || (i >= 17 && i < 20):
			if !alnum && c != ' ' {
				c = ' '
			}
		case i == 10 || i == 11:
			if c != '2' && c != ' ' {
				c = ' '
			}
		}
		l[i] = c
	}
	if tail := string(l[20:]); tail != "4500" && tail != "    " {
		copy(l[20:], "4500")
	}
	return append(dst, l[:]...)
}

func validControlTag(t string) bool {
	return len(t) == 3 && t[0] == '0' && t[1] == '0' &&
		(t[2] >= '1' && t[2] <= '9' || t[2] >= 'a' && t[2] <= 'z' || t[2] >= 'A' && t[2] <= 'Z')
}

// validDataTag follows MARC21slim's tagDataType: three digits or letters of
// one case, not starting with "00".
func validDataTag(t string) bool {
	if len(t) != 3 {
		return false
	}
	upper, lower := true, true
	for i := 0; i < 3; i++ {
		c := t[i]
		d := c >= '0' && c <= '9'
		upper = upper && (d || c >= 'A' && c <= 'Z')
		lower = lower && (d || c >= 'a' && c <= 'z')
	}
	if !upper && !lower {
		return false
	}
	if t[0] == '0' {
		return t[1] != '0'
	}
	return true
}

// validCode follows subfieldcodeDataType: one digit, letter or one of
// !"#$%&'()*+,-./:;<=>?{}_^`~[]\.
func validCode(c string) bool {
	if len(c) != 1 {
		return false
	}
	b := c[0]
	switch {
	case b >= '0' && b <= '9', b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z':
		return true
	}
	switch b {
	case '!', '"', '#', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
		':', ';', '<', '=', '>', '?', '{', '}', '_', '^', '`', '~', '[', ']', '\\':
		return true
	}
	return false
}

// indicator returns a schema-valid indicator ([\da-z ]).
func indicator(s string) byte {
	if len(s) != 1 {
		return ' '
	}
	c := s[0]
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c == ' ':
		return c
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	}
	return ' '
}
