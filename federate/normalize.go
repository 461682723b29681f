package federate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/almanet/gateway/transform"
	"golang.org/x/text/unicode/norm"
)

// ordinals spell a volume's number as a word ("Erster Band").
var ordinals = map[string]string{
	"first": "1", "erster": "1", "erste": "1", "premier": "1", "premiere": "1", "primo": "1", "primero": "1",
	"second": "2", "zweiter": "2", "zweite": "2", "deuxieme": "2", "secondo": "2", "segundo": "2",
	"third": "3", "dritter": "3", "dritte": "3", "troisieme": "3", "terzo": "3", "tercero": "3",
	"fourth": "4", "vierter": "4", "vierte": "4", "quatrieme": "4", "fifth": "5", "funfter": "5", "funfte": "5",
}

// The word lists below are switches, not maps: they are asked about every
// word of every title a merge keys, and a switch on a word costs a tenth
// of a map lookup (issue 23).

// isArticle reports whether w is a leading article. Leading articles are
// dropped from the start of a title key when 245 ind2 did not skip one
// already, so that a catalogue that files "The science of music" and one
// that writes "Science of music" agree. They are the articles of the
// record's language (008/35-37, else 041); "the" is one in every language,
// and a record of no known language drops any of the list.
func isArticle(w, lang string) bool {
	if w == "the" {
		return true
	}
	switch lang {
	case "eng":
		return w == "a" || w == "an"
	case "ger":
		switch w {
		case "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines", "einem", "einen":
			return true
		}
	case "fre":
		switch w {
		case "le", "la", "les", "l", "un", "une":
			return true
		}
	case "spa":
		switch w {
		case "el", "la", "los", "las", "un", "una", "unos", "unas":
			return true
		}
	case "ita":
		switch w {
		case "il", "lo", "la", "i", "gli", "le", "l", "un", "uno", "una":
			return true
		}
	case "por":
		switch w {
		case "o", "a", "os", "as", "um", "uma":
			return true
		}
	case "cat":
		switch w {
		case "el", "la", "els", "les", "l", "un", "una":
			return true
		}
	case "dut":
		switch w {
		case "de", "het", "een", "t":
			return true
		}
	case "swe":
		switch w {
		case "en", "ett", "den", "det":
			return true
		}
	case "dan":
		switch w {
		case "en", "et", "den", "det":
			return true
		}
	case "nor":
		switch w {
		case "en", "et", "ei", "den", "det":
			return true
		}
	default: // no known language: any of the list
		switch w {
		case "a", "an", "der", "die", "das", "ein", "eine", "le", "la", "les", "l", "un", "une",
			"el", "los", "las", "il", "lo", "gli", "het":
			return true
		}
	}
	return false
}

// isConjunction reports whether w is left out of a title key wherever it
// stands: "&" is a separator, so "Pride & prejudice" must meet "Pride and
// prejudice" (and "Krieg & Frieden" "Krieg und Frieden").
func isConjunction(w []byte) bool {
	switch string(w) {
	case "and", "und", "et", "e", "y", "en", "och", "og":
		return true
	}
	return false
}

// isVolumeWord reports whether w precedes a volume's number: "Band 1",
// "v. 2", "T. III".
func isVolumeWord(w []byte) bool {
	switch string(w) {
	case "band", "bd", "bde", "vol", "volume", "v", "teil", "tl", "t", "tome", "tomo", "part", "pt",
		"partie", "parte", "book", "bk", "buch", "heft", "livre", "libro", "deel", "del", "no", "nr", "number",
		"numero", "abt", "abteilung", "lfg", "lieferung":
		return true
	}
	return false
}

// set replaces l's words with the folded words of s, in order, folded in
// place in l's buffer. Folding lowers case, strips diacritics, spells ß, æ,
// œ and þ out, and then writes the German digraphs ae, oe and ue as a, o
// and u, so that "Müller", "Mueller" and "Muller" are one word (and "Boell"
// is "Böll").
func (l *wordList) set(s string) {
	buf, spans := l.buf[:0], l.spans[:0]
	start := 0 // of the word being read
	end := func() {
		if len(buf) > start {
			buf = buf[:start+len(foldDigraphs(buf[start:]))]
			spans = append(spans, [2]int32{int32(start), int32(len(buf))})
			start = len(buf)
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 { // ASCII, inline
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				buf = append(buf, c)
			case 'A' <= c && c <= 'Z':
				buf = append(buf, c+'a'-'A')
			default:
				end()
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		f := foldRune(r)
		if f == 0 {
			end()
			continue
		}
		buf = appendFolded(buf, f)
	}
	end()
	l.buf, l.spans = buf, spans
}

// foldDigraphs rewrites ae, oe and ue as a, o and u in place.
func foldDigraphs(w []byte) []byte {
	j := 0
	for i := 0; i < len(w); i++ {
		w[j] = w[i]
		j++
		if c := w[i]; (c == 'a' || c == 'o' || c == 'u') && i+1 < len(w) && w[i+1] == 'e' {
			i++
		}
	}
	return w[:j]
}

// wordList is a list of folded words held in one buffer.
type wordList struct {
	buf   []byte
	spans [][2]int32
}

func (l *wordList) word(i int) []byte { return l.buf[l.spans[i][0]:l.spans[i][1]] }

// keyBuilder builds work keys and sort keys with reused buffers.
type keyBuilder struct {
	title  wordList
	rest   wordList
	parts  wordList
	author wordList
}

// workKey appends the record's work key to dst and returns it with the span
// of its part (the volume) inside it; ok is false when the title has no
// words, so that untitled records never meet by key. The key is:
//
//   - the main title: 245 $a after its non-filing characters (ind2), cut
//     at the first subtitle mark (":", " ; ", " = ", " / ", " - ", or ". "
//     after a word of four letters or more), its words folded (see
//     wordList.set), conjunctions left out, and a leading article left out when
//     ind2 skipped none;
//   - the part: the number of the volume (arabic, roman or an ordinal) from
//     245 $n $p, else from a volume word and number in $a ("Band 1", "v. 2",
//     "Bd. I"), else the folded words of $n $p;
//   - the first author's surname (the last word of what precedes the comma,
//     or of a name in direct order) and the initial of the forename;
//   - the year.
func (k *keyBuilder) workKey(dst []byte, r *transform.Record) (key []byte, part [2]int, ok bool) {
	title, skipped := r.TitleProper, false
	if title == "" {
		title = r.Title
	} else if n := r.Nonfiling; n > 0 {
		title, skipped = nonfiling(title, n)
	}
	main, rest := splitSubtitle(title)
	k.title.set(main)
	words := k.title.spans
	// Conjunctions out; a volume word followed by a number ends the title.
	var partNum string
	out := words[:0]
	for i := range words {
		w := k.title.buf[words[i][0]:words[i][1]]
		if i > 0 && isVolumeWord(w) && i+1 < len(words) {
			if n := number(k.title.word(i + 1)); n != "" {
				partNum = n
				break
			}
		}
		if isConjunction(w) {
			continue
		}
		out = append(out, words[i])
	}
	words = out
	if !skipped && len(words) > 1 && isArticle(string(k.title.buf[words[0][0]:words[0][1]]), r.Language) {
		words = words[1:]
	}
	if len(words) == 0 {
		return dst, part, false
	}
	for i, w := range words {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, k.title.buf[w[0]:w[1]]...)
	}
	dst = append(dst, '|')
	part[0] = len(dst)
	switch {
	case r.TitleParts != "":
		k.parts.set(r.TitleParts)
		if n := partNumber(&k.parts); n != "" {
			dst = append(dst, n...)
		} else {
			for i := range k.parts.spans {
				if i > 0 {
					dst = append(dst, ' ')
				}
				dst = append(dst, k.parts.word(i)...)
			}
		}
	case partNum != "":
		dst = append(dst, partNum...)
	case rest != "":
		k.rest.set(rest)
		if len(k.rest.spans) >= 2 && isVolumeWord(k.rest.word(0)) {
			dst = append(dst, number(k.rest.word(1))...)
		}
	}
	part[1] = len(dst)
	dst = append(dst, '|')
	if len(r.Authors) > 0 {
		dst = k.appendAuthor(dst, r.Authors[0])
	} else {
		dst = append(dst, '|')
	}
	dst = append(dst, '|')
	dst = append(dst, strings.TrimSpace(r.Year)...)
	return dst, part, true
}

// appendAuthor appends a name's surname and forename initial, "surname|i":
// "García Márquez, Gabriel", "Gabriel García Márquez" and "Garcia Marquez,
// G." are all "marquez|g".
func (k *keyBuilder) appendAuthor(dst []byte, name string) []byte {
	surname, forename, inverted := strings.Cut(name, ",")
	k.author.set(surname)
	n := len(k.author.spans)
	if n == 0 {
		return append(dst, '|')
	}
	dst = append(dst, k.author.word(n-1)...)
	dst = append(dst, '|')
	var first []byte
	if inverted {
		k.author.set(forename)
		if len(k.author.spans) > 0 {
			first = k.author.word(0)
		}
	} else if n > 1 {
		first = k.author.word(0)
	}
	if len(first) > 0 {
		_, size := utf8.DecodeRune(first)
		dst = append(dst, first[:size]...)
	}
	return dst
}

// nonfiling returns title without its first n characters, when they end
// where a word does (an article and its space or apostrophe: "The ",
// "L'"); otherwise ind2 is taken to be wrong and title is returned whole.
func nonfiling(title string, n int) (string, bool) {
	i := 0
	var last rune
	for range n {
		if i >= len(title) {
			return title, false
		}
		r, size := utf8.DecodeRuneInString(title[i:])
		last = r
		i += size
	}
	if unicode.IsLetter(last) || unicode.IsDigit(last) || strings.TrimSpace(title[i:]) == "" {
		return title, false
	}
	return title[i:], true
}

// splitSubtitle cuts a title proper at its first subtitle mark: a colon
// (with or without spaces), " ; ", " = ", " / ", a spaced dash, or a full
// stop and space after a word of four letters or more ("Ansichten eines
// Clowns. Roman", not "Dr. Faustus").
func splitSubtitle(t string) (main, rest string) {
	for i := 0; i < len(t); i++ {
		switch c := t[i]; c {
		case ':':
			return t[:i], t[i+1:]
		case ';', '=', '/', '-':
			if i > 0 && t[i-1] == ' ' && i+1 < len(t) && t[i+1] == ' ' {
				return t[:i-1], t[i+2:]
			}
		case '.':
			if i+1 < len(t) && t[i+1] == ' ' && wordBefore(t, i) >= 4 {
				return t[:i], t[i+2:]
			}
		case 0xe2: // – and — (U+2013, U+2014) between spaces
			if i > 0 && t[i-1] == ' ' && i+3 < len(t) && t[i+1] == 0x80 && (t[i+2] == 0x93 || t[i+2] == 0x94) && t[i+3] == ' ' {
				return t[:i-1], t[i+4:]
			}
		}
	}
	return t, ""
}

// wordBefore is the number of letters of the word that ends at t[i].
func wordBefore(t string, i int) int {
	n := 0
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(t[:i])
		if !unicode.IsLetter(r) {
			break
		}
		n++
		i -= size
	}
	return n
}

// partNumber finds a volume's number in the words of 245 $n $p: after a
// volume word, or first, or an ordinal ("Erster Band").
func partNumber(l *wordList) string {
	for i := range l.spans {
		w := l.word(i)
		if isVolumeWord(w) && i+1 < len(l.spans) {
			if n := number(l.word(i + 1)); n != "" {
				return n
			}
		}
		if i == 0 {
			if n := number(w); n != "" {
				return n
			}
		}
		if n, ok := ordinals[string(w)]; ok {
			return n
		}
	}
	return ""
}

// number reads a volume number, arabic or roman (up to 3999), as decimal
// digits without leading zeros; "" when w is neither.
func number(w []byte) string {
	if len(w) == 0 {
		return ""
	}
	if w[0] >= '0' && w[0] <= '9' {
		for _, c := range w {
			if c < '0' || c > '9' {
				return ""
			}
		}
		for len(w) > 1 && w[0] == '0' {
			w = w[1:]
		}
		return string(w)
	}
	total, prev := 0, 0
	for i := len(w) - 1; i >= 0; i-- {
		v := romanValue(w[i])
		if v == 0 {
			return ""
		}
		if v < prev {
			total -= v
		} else {
			total += v
			prev = v
		}
	}
	if total <= 0 || total >= 4000 || romanString(total) != string(w) {
		return "" // not a well-formed numeral ("mix", "dim")
	}
	return itoa(total)
}

func romanValue(c byte) int {
	switch c {
	case 'i':
		return 1
	case 'v':
		return 5
	case 'x':
		return 10
	case 'l':
		return 50
	case 'c':
		return 100
	case 'd':
		return 500
	case 'm':
		return 1000
	}
	return 0
}

func romanString(n int) string {
	var b strings.Builder
	for _, p := range []struct {
		v int
		s string
	}{{1000, "m"}, {900, "cm"}, {500, "d"}, {400, "cd"}, {100, "c"}, {90, "xc"}, {50, "l"}, {40, "xl"}, {10, "x"}, {9, "ix"}, {5, "v"}, {4, "iv"}, {1, "i"}} {
		for n >= p.v {
			b.WriteString(p.s)
			n -= p.v
		}
	}
	return b.String()
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// appendWords appends s's folded words to dst, separated by single spaces;
// with dropArticle a first word that is a leading article (of any
// language) is left out, unless it is the only word.
func (k *keyBuilder) appendWords(dst []byte, s string, dropArticle bool) []byte {
	k.rest.set(s)
	ws := k.rest.spans
	if dropArticle && len(ws) > 1 && isArticle(string(k.rest.word(0)), "") {
		ws = ws[1:]
	}
	for i, w := range ws {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, k.rest.buf[w[0]:w[1]]...)
	}
	return dst
}

// titleSort is a title's sort key: its folded words without a leading
// article.
func (k *keyBuilder) titleSort(title string) string {
	return string(k.appendWords(nil, title, true))
}

// foldRune lowers a letter or digit and strips diacritics; it returns 0 for
// anything that separates words and -1 for a combining mark (part of the
// letter before).
func foldRune(r rune) rune {
	if r < 0x80 {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return 0
	}
	if r < foldLimit {
		if f := foldLatin[r]; f != 0 {
			return f
		}
	}
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return 0
	}
	r = unicode.ToLower(r)
	if r < foldLimit {
		if f := foldLatin[r]; f != 0 {
			return f
		}
	}
	return r
}

// appendFolded appends a folded rune; -1 (a combining mark) appends
// nothing, and the letters in foldTwo append two letters.
func appendFolded(b []byte, r rune) []byte {
	switch {
	case r == -1:
		return b
	case r >= foldTwoBase:
		return append(b, foldTwo[r-foldTwoBase]...)
	case r < 0x80:
		return append(b, byte(r))
	}
	return utf8.AppendRune(b, r)
}

const (
	foldLimit   = 0x1f00 // Latin-1 Supplement up to Latin Extended Additional
	foldTwoBase = 0x10000000
)

// foldLatin maps every Latin letter below foldLimit that decomposes (NFD)
// into an ASCII letter and combining marks to that letter, lower case, and
// the letters that do not decompose to their usual spelling: ø o, đ d, ł l,
// ı i, and æ ae, ß ss, œ oe, þ th (markers from foldTwoBase, spelled out by
// foldTwo). 0 means the rune is not folded here.
var foldLatin, foldTwo = func() (*[foldLimit]rune, []string) {
	var t [foldLimit]rune
	for r := rune(0xc0); r < foldLimit; r++ {
		if !unicode.IsLetter(r) {
			continue
		}
		d := norm.NFD.String(string(r))
		base, size := utf8.DecodeRuneInString(d)
		if size == len(d) || base >= 0x80 || !unicode.IsLetter(base) {
			continue
		}
		marks := true
		for _, m := range d[size:] {
			marks = marks && unicode.Is(unicode.Mn, m)
		}
		if marks {
			t[r] = unicode.ToLower(base)
		}
	}
	for r, f := range map[rune]rune{'ø': 'o', 'Ø': 'o', 'đ': 'd', 'Đ': 'd', 'ł': 'l', 'Ł': 'l', 'ı': 'i', 'ħ': 'h', 'Ħ': 'h', 'ŧ': 't', 'Ŧ': 't'} {
		t[r] = f
	}
	two := []string{"ae", "ss", "oe", "th"}
	for i, rs := range []string{"æÆ", "ßẞ", "œŒ", "þÞ"} {
		for _, r := range rs {
			if r < foldLimit {
				t[r] = foldTwoBase + rune(i)
			}
		}
	}
	return &t, two
}()

// words returns s's folded words.
func words(s string) []string {
	var l wordList
	l.set(s)
	var out []string
	for i := range l.spans {
		out = append(out, string(l.word(i)))
	}
	return out
}
