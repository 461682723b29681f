// Package stdnum is the one place that reads standard numbers as people and
// catalogues write them: ISBNs with or without hyphens, as ten or thirteen
// digits; ISSNs with or without the hyphen; OCLC numbers with "(OCoLC)",
// "ocm", "ocn" or "on" and leading zeros. The record extractor (transform),
// DAIA, the merge (federate), the query rewriter (sru) and the simulator
// all call it, so that every front end finds the same records for any form
// of one number (issue 22). It is a leaf: it imports nothing of the project.
package stdnum

import "strings"

// ISBN takes the number at the start of s (an 020 $a, a search term),
// skipping an "ISBN" or "ISBN:" label, hyphens and spaces, and stopping at
// a qualifier such as " (pbk.)" or at a space once ten or thirteen
// characters are read. It returns the digits with an upper-case X when they
// have the shape of an ISBN-10 or of an ISBN-13 from 978 or 979, and ""
// otherwise. Check digits are not verified (ISBNCheck does): a misprinted
// ISBN is still the one on the book. An ISBN-10 stays ten digits.
func ISBN(s string) string {
	var buf [16]byte
	n := 0
	s = strings.TrimSpace(s)
	if len(s) > 4 && strings.EqualFold(s[:4], "isbn") {
		s = strings.TrimLeft(s[4:], " :-")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == 'X' || c == 'x':
			if n == len(buf) {
				return ""
			}
			if c == 'x' {
				c = 'X'
			}
			buf[n] = c
			n++
		case c == '-' || c == ' ':
			// A space ends the number once it is complete: "0375400699 1997".
			if c == ' ' && (n == 10 || n == 13) {
				i = len(s)
			}
		default:
			i = len(s)
		}
	}
	v := string(buf[:n])
	switch n {
	case 10:
		if digits(v[:9]) && (v[9] == 'X' || v[9] >= '0' && v[9] <= '9') {
			return v
		}
	case 13:
		if digits(v) && (strings.HasPrefix(v, "978") || strings.HasPrefix(v, "979")) {
			return v
		}
	}
	return ""
}

// ISBNCheck reports whether v, an ISBN as ISBN returns it, has a right
// check digit.
func ISBNCheck(v string) bool {
	switch len(v) {
	case 10:
		sum := 0
		for i := 0; i < 10; i++ {
			d := int(v[i] - '0')
			if v[i] == 'X' {
				if i != 9 {
					return false
				}
				d = 10
			} else if d < 0 || d > 9 {
				return false
			}
			sum += (10 - i) * d
		}
		return sum%11 == 0
	case 13:
		return digits(v) && v[12] == check13(v)
	}
	return false
}

// check13 is the check digit of the ISBN-13 whose first twelve digits are
// v's.
func check13(v string) byte {
	sum := 0
	for i := range 12 {
		d := int(v[i] - '0')
		if i%2 == 1 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// AppendISBN13 appends the ISBN-13 of v (an ISBN as ISBN returns it; an
// ISBN-10 is converted, with a new check digit) to dst, or nothing when v
// is neither form. It allocates nothing beyond dst.
func AppendISBN13(dst []byte, v string) []byte {
	switch len(v) {
	case 13:
		if !digits(v) {
			return dst
		}
		return append(dst, v...)
	case 10:
		if !digits(v[:9]) {
			return dst
		}
		var b [13]byte
		copy(b[:], "978")
		copy(b[3:], v[:9])
		b[12] = check13(string(b[:12]))
		return append(dst, b[:]...)
	}
	return dst
}

// ISBN13 returns the ISBN-13 of v (see AppendISBN13), or "".
func ISBN13(v string) string {
	var b [13]byte
	return string(AppendISBN13(b[:0], v))
}

// ISBN10 returns the ISBN-10 of v: v itself when it has ten characters,
// the 978 ISBN-13's ten-digit form (with its check digit), or "" (979
// ISBNs have no ISBN-10).
func ISBN10(v string) string {
	switch {
	case len(v) == 10:
		return v
	case len(v) == 13 && digits(v) && strings.HasPrefix(v, "978"):
		s := v[3:12]
		sum := 0
		for i := range 9 {
			sum += (10 - i) * int(s[i]-'0')
		}
		switch c := (11 - sum%11) % 11; c {
		case 10:
			return s + "X"
		default:
			return s + string(rune('0'+c))
		}
	}
	return ""
}

// ISBNForms returns the forms a record may catalogue v in: its ISBN-13
// and, for a 978 ISBN, its ISBN-10; nil when v is no ISBN.
func ISBNForms(v string) []string {
	v13 := ISBN13(v)
	if v13 == "" {
		return nil
	}
	if v10 := ISBN10(v13); v10 != "" {
		return []string{v13, v10}
	}
	return []string{v13}
}

// ISSN returns the ISSN at the start of s as NNNN-NNNC (upper-case X), with
// or without the hyphen in s, or "" when s does not start with one. Check
// digits are not verified (ISSNCheck does).
func ISSN(s string) string {
	var buf [8]byte
	n := 0
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == 'X' || c == 'x':
			if n == len(buf) {
				return ""
			}
			if c == 'x' {
				c = 'X'
			}
			buf[n] = c
			n++
		case c == '-' && n == 4:
		default:
			i = len(s)
		}
	}
	if n != 8 || !digits(string(buf[:7])) || !(buf[7] == 'X' || buf[7] >= '0' && buf[7] <= '9') {
		return ""
	}
	return string(buf[:4]) + "-" + string(buf[4:])
}

// ISSNCheck reports whether v, an ISSN as ISSN returns it, has a right
// check digit.
func ISSNCheck(v string) bool {
	if len(v) != 9 || v[4] != '-' {
		return false
	}
	d := v[:4] + v[5:8]
	if !digits(d) {
		return false
	}
	sum := 0
	for i := range 7 {
		sum += (8 - i) * int(d[i]-'0')
	}
	c := (11 - sum%11) % 11
	if c == 10 {
		return v[8] == 'X'
	}
	return v[8] == byte('0'+c)
}

// OCLC returns an OCLC number as digits alone, without "(OCoLC)", the
// ocm/ocn/on prefixes catalogues write and leading zeros; "" when no
// digits remain or anything else follows.
func OCLC(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 7 && strings.EqualFold(s[:7], "(ocolc)") {
		s = strings.TrimSpace(s[7:])
	}
	for _, p := range []string{"ocm", "ocn", "on"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
			break
		}
	}
	s = strings.TrimLeft(strings.TrimSpace(s), "0")
	if s == "" || !digits(s) {
		return ""
	}
	return s
}

// OCLCPrefixed reports whether s names its number as OCLC's: with
// "(OCoLC)" or an ocm/ocn/on prefix, so that it cannot be another number.
func OCLCPrefixed(s string) bool {
	s = strings.TrimSpace(s)
	if OCLC(s) == "" {
		return false
	}
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "(ocolc)") || strings.HasPrefix(l, "ocm") || strings.HasPrefix(l, "ocn") || strings.HasPrefix(l, "on")
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
