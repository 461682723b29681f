package transform

import (
	"strconv"
	"unicode/utf8"
)

// FeedRecord is one record of the JSON search feed (SPEC 3.2).
type FeedRecord struct {
	Position  int           `json:"position"`
	MMSID     string        `json:"mms_id"`
	CZMMSID   *string       `json:"cz_mms_id"`
	Title     string        `json:"title"`
	Authors   []string      `json:"authors"`
	ISBNs     []string      `json:"isbns"`
	ISSNs     []string      `json:"issns"`
	Publisher string        `json:"publisher"`
	Year      string        `json:"year"`
	Language  string        `json:"language"`
	Holdings  []FeedHolding `json:"holdings"`
}

// FeedHolding is one member holding in the feed.
type FeedHolding struct {
	Institution string   `json:"institution"`
	Name        *string  `json:"name"` // the member's display name, as DAIA and the search page show it; null when not configured
	IZMMSID     *string  `json:"iz_mms_id"`
	Types       []string `json:"types"`
}

// Feed returns the record as the feed serves it at the given position.
// Lists are never nil, so they encode as [] rather than null.
func (r *Record) Feed(position int) FeedRecord {
	fr := FeedRecord{
		Position:  position,
		MMSID:     r.MMSID,
		Title:     r.Title,
		Authors:   nonNil(r.Authors),
		ISBNs:     nonNil(r.ISBNs),
		ISSNs:     nonNil(r.ISSNs),
		Publisher: r.Publisher,
		Year:      r.Year,
		Language:  r.Language,
		Holdings:  make([]FeedHolding, len(r.Holdings)),
	}
	if r.CZMMSID != "" {
		cz := r.CZMMSID
		fr.CZMMSID = &cz
	}
	for i, h := range r.Holdings {
		fh := FeedHolding{Institution: h.Institution, Types: nonNil(h.Types)}
		if h.Name != "" {
			name := h.Name
			fh.Name = &name
		}
		if h.IZMMSID != "" {
			iz := h.IZMMSID
			fh.IZMMSID = &iz
		}
		fr.Holdings[i] = fh
	}
	return fr
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AppendFeedJSON appends the record's feed JSON, byte for byte what
// json.Marshal(r.Feed(position)) gives, without reflection or allocation.
func (r *Record) AppendFeedJSON(dst []byte, position int) []byte {
	return r.AppendFeedJSONAs(dst, position, r.MMSID, r.Holdings)
}

// AppendFeedJSONAs is AppendFeedJSON with the record's mms_id and holdings
// given: a merged record's identifier and the union of its sources'
// holdings, or a target's record under the identifier the gateway opens
// it by.
func (r *Record) AppendFeedJSONAs(dst []byte, position int, mmsID string, holdings []Holding) []byte {
	dst = append(dst, `{"position":`...)
	dst = strconv.AppendInt(dst, int64(position), 10)
	dst = append(dst, `,"mms_id":`...)
	dst = AppendJSONString(dst, mmsID)
	dst = append(dst, `,"cz_mms_id":`...)
	if r.CZMMSID == "" {
		dst = append(dst, "null"...)
	} else {
		dst = AppendJSONString(dst, r.CZMMSID)
	}
	dst = append(dst, `,"title":`...)
	dst = AppendJSONString(dst, r.Title)
	dst = append(dst, `,"authors":`...)
	dst = appendJSONStrings(dst, r.Authors)
	dst = append(dst, `,"isbns":`...)
	dst = appendJSONStrings(dst, r.ISBNs)
	dst = append(dst, `,"issns":`...)
	dst = appendJSONStrings(dst, r.ISSNs)
	dst = append(dst, `,"publisher":`...)
	dst = AppendJSONString(dst, r.Publisher)
	dst = append(dst, `,"year":`...)
	dst = AppendJSONString(dst, r.Year)
	dst = append(dst, `,"language":`...)
	dst = AppendJSONString(dst, r.Language)
	dst = append(dst, `,"holdings":[`...)
	for i := range holdings {
		h := &holdings[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"institution":`...)
		dst = AppendJSONString(dst, h.Institution)
		dst = append(dst, `,"name":`...)
		if h.Name == "" {
			dst = append(dst, "null"...)
		} else {
			dst = AppendJSONString(dst, h.Name)
		}
		dst = append(dst, `,"iz_mms_id":`...)
		if h.IZMMSID == "" {
			dst = append(dst, "null"...)
		} else {
			dst = AppendJSONString(dst, h.IZMMSID)
		}
		dst = append(dst, `,"types":`...)
		dst = appendJSONStrings(dst, h.Types)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendJSONStrings(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s quoted exactly as encoding/json does with
// HTML escaping on (json.Marshal's default): <, > and & as \u003c...,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped. It allocates
// nothing: the feed and the gateway's JSON answers quote with it.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	return appendJSONQuoted(dst, s, true)
}

// AppendJSONLogString is AppendJSONString without HTML escaping, as
// log/slog's JSON lines quote (a logged URL keeps its & readable): the
// gateway's access log quotes with it.
func AppendJSONLogString[T string | []byte](dst []byte, s T) []byte {
	return appendJSONQuoted(dst, s, false)
}

// appendJSONQuoted is the one JSON string quoter; html escapes <, > and &.
func appendJSONQuoted[T string | []byte](dst []byte, s T, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!html || b != '<' && b != '>' && b != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		var r [utf8.UTFMax]byte
		c, size := utf8.DecodeRune(r[:copy(r[:], s[i:])])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
