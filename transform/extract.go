package transform

import (
	"slices"
	"strings"

	"github.com/almanet/gateway/internal/stdnum"
)

// derive fills the exported fields from the MARC fields, in one pass.
func (r *Record) derive() {
	r.Leader = r.str(r.leader)
	r.Type = dcType(r.Leader)
	r.Authors = []string{}
	r.ISBNs = []string{}
	r.ISSNs = []string{}
	var n852, n6xx int
	for i := range r.fields {
		if f := &r.fields[i]; !f.control {
			switch r.str(f.tag) {
			case "852":
				n852++
			case "600", "610", "611", "630", "648", "650", "651", "653", "655":
				n6xx++
			}
		}
	}
	r.Holdings = make([]Holding, 0, n852)
	r.Subjects = make([]string, 0, n6xx)
	r.Availability = []Availability{}

	var seen dedup
	var (
		f008                    string
		lang041                 string
		pub264, pub264x, pub260 string
		yr264, yr264x, yr260    string
		types                   = make([]string, 0, n852)
		typeRanges              = make([][2]int, 0, n852)
	)
	for i := range r.fields {
		f := &r.fields[i]
		tag := r.str(f.tag)
		if f.control {
			switch tag {
			case "001":
				if r.MMSID == "" {
					r.MMSID = strings.TrimSpace(r.str(f.value))
				}
			case "008":
				if f008 == "" {
					f008 = r.str(f.value)
				}
			}
			continue
		}
		subs := r.subs[f.sub0:f.sub1]
		switch tag {
		case "020":
			for j, s := range subs {
				if r.code(s) != 'a' {
					continue
				}
				v := r.str(s.value)
				isbn := stdnum.ISBN(v)
				if isbn == "" {
					continue
				}
				r.ISBNs = seen.add(r.ISBNs, "i", isbn)
				set := false
				if q := strings.IndexByte(v, '('); q >= 0 {
					set = setQualifier(v[q:])
				}
				for _, q := range subs[j+1:] {
					if c := r.code(q); c == 'a' {
						break
					} else if c == 'q' && !set {
						set = setQualifier(r.str(q.value))
					}
				}
				if set && !slices.Contains(r.SetISBNs, isbn) {
					r.SetISBNs = append(r.SetISBNs, isbn)
				}
			}
		case "022":
			for _, s := range subs {
				if r.code(s) == 'a' {
					if issn := stdnum.ISSN(r.str(s.value)); issn != "" {
						r.ISSNs = seen.add(r.ISSNs, "s", issn)
					}
				}
			}
		case "035":
			for _, s := range subs {
				if r.code(s) != 'a' {
					continue
				}
				v := strings.TrimSpace(r.str(s.value))
				switch {
				case strings.HasPrefix(v, "(EXLCZ)"):
					if r.CZMMSID == "" {
						r.CZMMSID = strings.TrimSpace(v[len("(EXLCZ)"):])
					}
				case strings.HasPrefix(v, "(EXLNZ-"):
					if end := strings.IndexByte(v, ')'); end > len("(EXLNZ-") && r.NZMMSID == "" {
						r.NetworkCode = v[len("(EXLNZ-"):end]
						r.NZMMSID = strings.TrimSpace(v[end+1:])
					}
				case strings.HasPrefix(v, "(OCoLC)"):
					if n := stdnum.OCLC(v[len("(OCoLC)"):]); n != "" && !slices.Contains(r.OCLCNumbers, n) {
						r.OCLCNumbers = append(r.OCLCNumbers, n)
					}
				}
			}
		case "041":
			if lang041 == "" {
				if v := r.first(subs, 'a'); len(v) >= 3 && isLowerAlpha(v[:3]) {
					lang041 = v[:3]
				}
			}
		case "100", "110", "111", "700", "710", "711":
			if a := r.author(tag, subs); a != "" {
				r.Authors = seen.add(r.Authors, "a", a)
			}
		case "245":
			if r.Title == "" {
				r.Title = r.title(subs)
				r.titleParts(f, subs)
			}
		case "260":
			if pub260 == "" {
				pub260 = cleanPublisher(r.first(subs, 'b'))
			}
			if yr260 == "" {
				yr260 = year(r.first(subs, 'c'))
			}
		case "264":
			pub, yr := &pub264x, &yr264x
			if r.str(f.ind2) == "1" {
				pub, yr = &pub264, &yr264
			}
			if *pub == "" {
				*pub = cleanPublisher(r.first(subs, 'b'))
			}
			if *yr == "" {
				*yr = year(r.first(subs, 'c'))
			}
		case "600", "610", "611", "630", "648", "650", "651", "653", "655":
			if s := r.subject(subs); s != "" {
				r.Subjects = seen.add(r.Subjects, "j", s)
			}
		case "852":
			// SPEC 1: only ind1=0 ind2=1 with $a is member availability.
			if r.str(f.ind1) != "0" || r.str(f.ind2) != "1" {
				continue
			}
			inst := strings.TrimSpace(r.first(subs, 'a'))
			if inst == "" {
				continue
			}
			h := Holding{Institution: inst, IZMMSID: strings.TrimSpace(r.first(subs, '6'))}
			start := len(types)
			for _, s := range subs {
				if r.code(s) != '9' {
					continue
				}
				if t := holdingType(strings.TrimSpace(r.str(s.value))); t != "" {
					types = append(types, t)
				}
			}
			typeRanges = append(typeRanges, [2]int{start, len(types)})
			r.Holdings = append(r.Holdings, h)
		case "AVA", "AVE", "AVD":
			r.Availability = append(r.Availability, r.availability(tag, subs))
		}
	}
	// The holdings share one backing array for their types; the full slice
	// expressions keep an append on one from writing into the next.
	if types == nil {
		types = []string{}
	}
	for i, tr := range typeRanges {
		r.Holdings[i].Types = types[tr[0]:tr[1]:tr[1]]
	}

	r.Publisher = firstNonEmpty(pub264, pub264x, pub260)
	r.Year = firstNonEmpty(yr264, yr264x, yr260)
	if r.Year == "" && len(f008) >= 11 && isDigits(f008[7:11]) {
		r.Year = f008[7:11]
	}
	if len(f008) >= 38 && isLowerAlpha(f008[35:38]) {
		r.Language = f008[35:38]
	} else {
		r.Language = lang041
	}
}

// countCodes counts the subfields that make up a name: $a, and $b when
// corporate.
func (r *Record) countCodes(subs []subfield, code byte, corporate bool) int {
	n := 0
	for _, s := range subs {
		if c := r.code(s); c == code || corporate && c == 'b' {
			n++
		}
	}
	return n
}

// code returns a subfield's one-character code, or 0.
func (r *Record) code(s subfield) byte {
	if s.code.end-s.code.off != 1 {
		return 0
	}
	return r.text[s.code.off]
}

// first returns the first subfield value with the code, or "".
func (r *Record) first(subs []subfield, code byte) string {
	for _, s := range subs {
		if r.code(s) == code {
			return r.str(s.value)
		}
	}
	return ""
}

func holdingType(code string) string {
	switch code {
	case "P":
		return "print"
	case "E":
		return "electronic"
	case "D":
		return "digital"
	}
	return code
}

// title joins 245 $a $b $n $p with single spaces and strips the trailing
// ISBD punctuation. Non-filing characters are kept: the title is displayed.
func (r *Record) title(subs []subfield) string {
	var b strings.Builder
	for _, s := range subs {
		switch r.code(s) {
		case 'a', 'b', 'n', 'p':
			v := collapseSpace(r.str(s.value))
			if v == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(v)
		}
	}
	if b.Len() == 0 {
		// No title proper: fall back to the form subheading ($k), as for
		// archival material.
		for _, s := range subs {
			if r.code(s) == 'k' {
				if v := collapseSpace(r.str(s.value)); v != "" {
					return trimISBD(v)
				}
			}
		}
	}
	return trimISBD(b.String())
}

// titleParts sets TitleProper, TitleParts and Nonfiling from a 245.
func (r *Record) titleParts(f *field, subs []subfield) {
	if ind := r.str(f.ind2); len(ind) == 1 && ind[0] >= '1' && ind[0] <= '9' {
		r.Nonfiling = int(ind[0] - '0')
	}
	var parts []string
	for _, s := range subs {
		switch r.code(s) {
		case 'a':
			if r.TitleProper == "" {
				r.TitleProper = trimISBD(collapseSpace(r.str(s.value)))
			}
		case 'n', 'p':
			if v := trimISBD(collapseSpace(r.str(s.value))); v != "" {
				parts = append(parts, v)
			}
		}
	}
	switch len(parts) {
	case 0:
	case 1:
		r.TitleParts = parts[0]
	default:
		r.TitleParts = strings.Join(parts, " ")
	}
}

// setQualifier reports whether an ISBN's qualifier names the whole set of a
// multi-volume work: "set", "Gesamtwerk", "Gesamtausgabe", "ensemble",
// "obra completa", or a range of volumes such as "v. 1-3".
func setQualifier(q string) bool {
	var buf [64]byte
	w := buf[:0]
	for i := 0; i < len(q) && len(w) < len(buf); i++ {
		c := q[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		w = append(w, c)
	}
	l := string(w)
	for _, word := range []string{"set", "gesamtwerk", "gesamtausg", "ensemble", "obra completa", "coffret"} {
		for i := 0; ; {
			j := strings.Index(l[i:], word)
			if j < 0 {
				break
			}
			j += i
			end := j + len(word)
			before := j == 0 || !isLetter(l[j-1])
			after := end == len(l) || !isLetter(l[end]) || word == "gesamtausg"
			if before && after {
				return true
			}
			i = end
		}
	}
	// A range of volumes: a digit, a dash, a digit.
	for i := 0; i+2 < len(l); i++ {
		if l[i] >= '0' && l[i] <= '9' && l[i+1] == '-' && l[i+2] >= '0' && l[i+2] <= '9' {
			return true
		}
	}
	return false
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || c >= 0x80 }

// author is $a for personal names and meetings (100, 111, 700, 711) and
// $a followed by the subordinate units $b for corporate names (110, 710),
// with trailing punctuation stripped.
func (r *Record) author(tag string, subs []subfield) string {
	corporate := tag == "110" || tag == "710"
	if n := r.countCodes(subs, 'a', corporate); n == 1 {
		// One part (the usual case): a substring, no allocation.
		for _, s := range subs {
			if r.code(s) == 'a' || corporate && r.code(s) == 'b' {
				if v := collapseSpace(r.str(s.value)); v != "" {
					return trimISBD(v)
				}
			}
		}
	}
	var b strings.Builder
	for _, s := range subs {
		c := r.code(s)
		if c != 'a' && !(corporate && c == 'b') {
			continue
		}
		if c == 'a' && b.Len() > 0 {
			break // a second $a is not part of this name
		}
		v := collapseSpace(r.str(s.value))
		if v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
	}
	return trimISBD(b.String())
}

// subject is the heading ($a-$d, $q, $t) followed by its subdivisions ($v,
// $x, $y, $z), joined by " -- ".
func (r *Record) subject(subs []subfield) string {
	if len(subs) > 0 && r.code(subs[0]) == 'a' {
		// Only $a (and control subfields such as $0 or $2): a substring,
		// no allocation.
		single := true
		for _, s := range subs[1:] {
			if c := r.code(s); c >= 'a' && c <= 'z' {
				single = false
				break
			}
		}
		if single {
			return trimISBD(collapseSpace(r.str(subs[0].value)))
		}
	}
	var stack [256]byte
	out := stack[:0]
	for _, s := range subs {
		switch r.code(s) {
		case 'a', 'b', 'c', 'd', 'q', 't':
			if v := collapseSpace(r.str(s.value)); v != "" {
				if len(out) > 0 {
					out = append(out, ' ')
				}
				out = append(out, v...)
			}
		}
	}
	out = trimISBD(out)
	if len(out) == 0 {
		return ""
	}
	for _, s := range subs {
		switch r.code(s) {
		case 'v', 'x', 'y', 'z':
			if v := trimISBD(collapseSpace(r.str(s.value))); v != "" {
				out = append(out, " -- "...)
				out = append(out, v...)
			}
		}
	}
	return string(out)
}

func cleanPublisher(s string) string { return trimISBD(collapseSpace(s)) }

// year returns the first four consecutive digits of s, or "".
func year(s string) string {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			if run == 4 {
				return s[i-3 : i+1]
			}
		} else {
			run = 0
		}
	}
	return ""
}

// trimISBD strips trailing ISBD punctuation (" /", " :", " ;", " =", ",",
// and a final "." unless it ends an abbreviation or an initial) and spaces.
func trimISBD[S string | []byte](s S) S {
	for {
		for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
			s = s[:len(s)-1]
		}
		if len(s) == 0 {
			return s
		}
		switch c := s[len(s)-1]; c {
		case '/', ':', ';', '=', ',':
			s = s[:len(s)-1]
			continue
		case '.':
			if endsWithAbbreviation(s) {
				return s
			}
			s = s[:len(s)-1]
			continue
		}
		return s
	}
}

// endsWithAbbreviation reports whether the final "." of s belongs to an
// abbreviation ("Jr.", "etc.", "U.S.A.", an initial "J.", an ellipsis).
func endsWithAbbreviation[S string | []byte](s S) bool {
	word := s[:len(s)-1]
	for i := len(word) - 1; i >= 0; i-- {
		if c := word[i]; c == ' ' || c == ',' || c == '(' {
			word = word[i+1:]
			break
		}
	}
	if len(word) == 0 || word[len(word)-1] == '.' {
		// "..." is an ellipsis; " ." or ".." otherwise is just punctuation.
		n := len(s)
		return n >= 3 && s[n-1] == '.' && s[n-2] == '.' && s[n-3] == '.'
	}
	for i := 0; i < len(word); i++ {
		if word[i] == '.' {
			return true // U.S.A. or ...
		}
	}
	if len(word) == 1 && (word[0] >= 'A' && word[0] <= 'Z') {
		return true // an initial
	}
	if len(word) > 5 {
		return false
	}
	var lower [5]byte
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(word)]) {
	case "jr", "sr", "etc", "inc", "ltd", "co", "corp", "bros", "st", "dr", "mr",
		"mrs", "ms", "ed", "eds", "vol", "vols", "no", "ca", "cf", "publ", "hrsg", "dept":
		return true
	}
	return false
}

// collapseSpace trims s and turns runs of white space into single spaces.
func collapseSpace(s string) string {
	s = stripNonFiling(strings.TrimSpace(s))
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\t' || c == '\n' || c == '\r' || (c == ' ' && i+1 < len(s) && s[i+1] == ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// stripNonFiling drops the non-filing markers from a display string:
// Alma's "<<Das>> Altarbild" (the words between << and >> are not sorted
// on) and MARC's NSB/NSE control characters (U+0098, U+009C) around the
// same words. The words stay; the markers are cataloguing, not text. A
// lone "<<" or ">>" is text and stays. The MARCXML keeps them all.
func stripNonFiling(s string) string {
	if !strings.Contains(s, "<<") && !strings.Contains(s, "\u0098") && !strings.Contains(s, "\u009c") {
		return s
	}
	s = strings.NewReplacer("\u0098", "", "\u009c", "").Replace(s)
	var b strings.Builder
	for {
		i := strings.Index(s, "<<")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], ">>")
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(s[i+2 : i+2+j])
		s = s[i+2+j+2:]
	}
	if b.Len() == 0 {
		return strings.TrimSpace(s)
	}
	b.WriteString(s)
	return strings.TrimSpace(b.String())
}

// dedup keeps lists free of repeats: by a linear search while they are
// short, by a map once they are long, so that a record with thousands of
// subjects costs linear time, not quadratic.
type dedup struct {
	seen map[string]bool // kind + value, once some list is long
}

const dedupLinear = 64

func (d *dedup) add(list []string, kind, s string) []string {
	if len(list) < dedupLinear && d.seen == nil {
		for _, v := range list {
			if v == s {
				return list
			}
		}
		return append(list, s)
	}
	if d.seen == nil {
		d.seen = make(map[string]bool)
	}
	if !d.seen[kind+"\x00"] {
		// First time this list is looked up by map: index it.
		for _, v := range list {
			d.seen[kind+"\x00"+v] = true
		}
		d.seen[kind+"\x00"] = true
	}
	key := kind + "\x00" + s
	if d.seen[key] {
		return list
	}
	d.seen[key] = true
	return append(list, s)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}

// dcType maps the leader to a Dublin Core type as the Library of Congress
// "MARC to Dublin Core Crosswalk" does: leader/06 a, c, d, t: text; e, f,
// g, k: image; i, j: sound; otherwise (m, o, p, r: "no type provided")
// "collection" when leader/07 is c or s, else "".
func dcType(leader string) string {
	if len(leader) < 7 {
		return ""
	}
	switch leader[6] {
	case 'a', 'c', 'd', 't':
		return "text"
	case 'e', 'f', 'g', 'k':
		return "image"
	case 'i', 'j':
		return "sound"
	}
	if len(leader) >= 8 && (leader[7] == 'c' || leader[7] == 's') {
		return "collection"
	}
	return ""
}
