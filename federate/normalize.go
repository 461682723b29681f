package federate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// isbn13 returns an ISBN-13 for a normalized ISBN (transform's form: digits
// and an upper-case X), converting an ISBN-10; "" when it is neither.
func isbn13(s string) string {
	switch len(s) {
	case 13:
		return s
	case 10:
		var b [13]byte
		copy(b[:], "978")
		copy(b[3:], s[:9])
		sum := 0
		for i := range 12 {
			d := int(b[i] - '0')
			if d < 0 || d > 9 {
				return ""
			}
			if i%2 == 1 {
				d *= 3
			}
			sum += d
		}
		b[12] = byte('0' + (10-sum%10)%10)
		return string(b[:])
	}
	return ""
}

// leadingArticles are dropped from the start of a title key, so that a
// catalogue that files "The science of music" and one that writes "Science
// of music" agree.
var leadingArticles = map[string]bool{
	"the": true, "a": true, "an": true,
	"der": true, "die": true, "das": true, "ein": true, "eine": true,
	"le": true, "la": true, "les": true, "l": true, "un": true, "une": true,
	"el": true, "los": true, "las": true, "il": true, "lo": true, "gli": true,
}

// eachWord calls fn with every folded word of s, in order, using buf as
// scratch space (returned for reuse); fn must not keep the slice.
func eachWord(buf []byte, s string, fn func(w []byte)) []byte {
	buf = buf[:0]
	for _, r := range s {
		if r < 0x80 { // ASCII, inline
			switch {
			case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
				buf = append(buf, byte(r))
				continue
			case 'A' <= r && r <= 'Z':
				buf = append(buf, byte(r)+'a'-'A')
				continue
			}
			if len(buf) > 0 {
				fn(buf)
				buf = buf[:0]
			}
			continue
		}
		f := foldRune(r)
		if f == 0 {
			if len(buf) > 0 {
				fn(buf)
				buf = buf[:0]
			}
			continue
		}
		buf = appendFolded(buf, f)
	}
	if len(buf) > 0 {
		fn(buf)
	}
	return buf[:0]
}

// appendWords appends s's folded words to dst, separated by single spaces;
// with dropArticle a first word that is a leading article is left out
// (unless it is the only word). It returns dst, the scratch buffer and the
// number of words written.
func appendWords(dst, scratch []byte, s string, dropArticle bool) ([]byte, []byte, int) {
	start, n := len(dst), 0
	firstEnd := -1
	scratch = eachWord(scratch, s, func(w []byte) {
		if n > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, w...)
		if n == 0 {
			firstEnd = len(dst)
		}
		n++
	})
	if dropArticle && n > 1 && leadingArticles[string(dst[start:firstEnd])] {
		dst = append(dst[:start], dst[firstEnd+1:]...)
		n--
	}
	return dst, scratch, n
}

// keyBuilder builds title keys and sort keys with reused buffers.
type keyBuilder struct {
	buf, scratch []byte
}

// titleKey is the work key of a record: its main title's words (before " : "
// or " / "), folded, without a leading article; the first author's surname
// folded; and the year. It is "" when the title has no words, so that
// untitled records never meet by key.
func (k *keyBuilder) titleKey(title string, authors []string, year string) string {
	main := title
	if i := strings.Index(main, " : "); i >= 0 {
		main = main[:i]
	}
	if i := strings.Index(main, " / "); i >= 0 {
		main = main[:i]
	}
	var n int
	k.buf, k.scratch, n = appendWords(k.buf[:0], k.scratch, main, true)
	if n == 0 {
		return ""
	}
	k.buf = append(k.buf, '|')
	if len(authors) > 0 {
		surname := authors[0]
		if i := strings.IndexByte(surname, ','); i >= 0 {
			surname = surname[:i]
		}
		k.buf, k.scratch, _ = appendWords(k.buf, k.scratch, surname, false)
	}
	k.buf = append(k.buf, '|')
	k.buf = append(k.buf, strings.TrimSpace(year)...)
	return string(k.buf)
}

// titleSort is a title's sort key: its folded words without a leading
// article.
func (k *keyBuilder) titleSort(title string) string {
	k.buf, k.scratch, _ = appendWords(k.buf[:0], k.scratch, title, true)
	return string(k.buf)
}

// foldRune lowers a letter or digit and strips common Latin diacritics; it
// returns 0 for anything that separates words.
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
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		if unicode.Is(unicode.Mn, r) { // a combining mark: part of the letter before
			return -1
		}
		return 0
	}
	r = unicode.ToLower(r)
	if f, ok := foldTable[r]; ok {
		return f
	}
	return r
}

// appendFolded appends a folded rune; -1 (a combining mark) appends
// nothing, and the ligatures in foldTwo append two letters.
func appendFolded(b []byte, r rune) []byte {
	switch {
	case r == -1:
		return b
	case r >= 0x10000000:
		return append(b, foldTwo[r-0x10000000]...)
	case r < 0x80:
		return append(b, byte(r))
	}
	return utf8.AppendRune(b, r)
}

// foldTable maps accented Latin letters to their base letter; ligatures map
// to a marker >= 0x10000000 that writeFolded spells out from foldTwo.
var foldTable, foldTwo = func() (map[rune]rune, []string) {
	m := map[rune]rune{'ø': 'o', 'đ': 'd', 'ł': 'l', 'ı': 'i'}
	two := []string{"ae", "ss", "oe", "th"}
	for i, r := range []rune{'æ', 'ß', 'œ', 'þ'} {
		m[r] = rune(0x10000000 + i)
	}
	groups := map[rune]string{
		'a': "àáâãäåāăąǎ", 'c': "çćĉċč", 'd': "ď", 'e': "èéêëēĕėęě", 'g': "ĝğġģ", 'h': "ĥ",
		'i': "ìíîïĩīĭįǐ", 'j': "ĵ", 'k': "ķ", 'l': "ĺļľŀ", 'n': "ñńņňŉ", 'o': "òóôõöōŏőǒ",
		'r': "ŕŗř", 's': "śŝşš", 't': "ţťŧ", 'u': "ùúûüũūŭůűųǔ", 'w': "ŵ", 'y': "ýÿŷ", 'z': "źżž",
	}
	for base, chars := range groups {
		for _, c := range chars {
			m[c] = base
		}
	}
	return m, two
}()

// words returns s's folded words.
func words(s string) []string {
	var out []string
	eachWord(nil, s, func(w []byte) { out = append(out, string(w)) })
	return out
}
