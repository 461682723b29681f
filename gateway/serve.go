package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/cache"
)

// ContentType is the content type of a finished answer, one of a fixed set
// so that a hit writes a constant.
type ContentType uint8

// The content types of finished answers.
const (
	ContentJSON     ContentType = iota // the JSON feed: left open before "meta"
	ContentXML                         // MARCXML collections
	ContentSRU                         // SRU responses
	ContentSRUMedia                    // SRU 2.0 responses asked for as application/sru+xml (httpAccept)
)

var contentTypes = [...]string{
	ContentJSON:     fiber.MIMEApplicationJSONCharsetUTF8,
	ContentXML:      "application/xml; charset=utf-8",
	ContentSRU:      "text/xml; charset=utf-8",
	ContentSRUMedia: "application/sru+xml; charset=utf-8",
}

// String is the Content-Type header value.
func (t ContentType) String() string {
	if int(t) < len(contentTypes) {
		return contentTypes[t]
	}
	return "application/octet-stream"
}

// Answer is a finished answer as the cache holds it: everything but the
// per-request values (Age, X-Request-Id, Cache-Control's max-age, the JSON
// meta block). Its slices share the cache's bytes: never modify them.
type Answer struct {
	Status int
	Type   ContentType
	ETag   []byte // quoted, ready for the header
	Body   []byte
}

// A packed answer is: HTTP status (2 bytes), content type (1), the quoted
// ETag (18: a 64-bit FNV-1a of status and body in hex), then the body. The
// ETag is computed once, when the answer is made.
const (
	etagLen      = 18
	packedHeader = 3 + etagLen
)

func packAnswer(r Rendered) []byte {
	h := fnv.New64a()
	var st [2]byte
	binary.BigEndian.PutUint16(st[:], uint16(r.Status))
	h.Write(st[:])
	h.Write(r.Body)
	out := make([]byte, packedHeader, packedHeader+len(r.Body))
	copy(out[0:2], st[:])
	out[2] = byte(r.ContentType)
	out[3] = '"'
	hex.Encode(out[4:20], h.Sum(nil))
	out[20] = '"'
	return append(out, r.Body...)
}

func unpackAnswer(v []byte) (Answer, bool) {
	if len(v) < packedHeader || v[3] != '"' || v[20] != '"' {
		return Answer{}, false
	}
	return Answer{
		Status: int(binary.BigEndian.Uint16(v[0:2])),
		Type:   ContentType(v[2]),
		ETag:   v[3:21],
		Body:   v[packedHeader:],
	}, true
}

// CacheView is what the per-request parts of an answer need to know about
// how it was found.
type CacheView struct {
	Status   cache.Status
	Stale    bool
	StoredAt time.Time
	Life     cache.Lifetime
	// At is when the answer was looked up: the Searcher's one clock read
	// of the request, which writeAnswer's Age is counted to.
	At time.Time
}

func viewOf(r cache.Result, life cache.Lifetime, now time.Time) CacheView {
	at := r.StoredAt
	if at.IsZero() {
		at = now
	}
	if r.Life.Fresh > 0 {
		life = r.Life // the entry's own lifetime (a diagnostic's is shorter)
	}
	return CacheView{Status: r.Status, Stale: r.Stale, StoredAt: at, Life: life, At: now}
}

// worse combines the views of an answer made of several cached parts: the
// staler and the less cached wins.
func (v CacheView) worse(o CacheView) CacheView {
	rank := func(s cache.Status) int {
		switch s {
		case cache.StatusCoalesced:
			return 1
		case cache.StatusMiss:
			return 2
		case cache.StatusStale:
			return 3
		}
		return 0
	}
	out := v
	if rank(o.Status) > rank(v.Status) {
		out.Status = o.Status
	}
	out.Stale = v.Stale || o.Stale
	if o.StoredAt.Before(v.StoredAt) {
		out.StoredAt = o.StoredAt
	}
	if o.Life.Fresh < v.Life.Fresh {
		out.Life = o.Life
	}
	return out
}

// writeAnswer serves a finished answer: the cache headers, a 304 when the
// client's If-None-Match names it, the body and, for JSON, the meta block.
// It allocates nothing: headers are copied into fasthttp's buffers from
// stack arrays, the body is appended to the response's pooled buffer.
func writeAnswer(c *fiber.Ctx, now time.Time, a Answer, v CacheView, t0 time.Time) error {
	h := &c.Response().Header
	h.SetCanonical(hdrXCache, xCacheValue(v.Status))
	var buf [96]byte
	age := max(0, int(now.Sub(v.StoredAt)/time.Second))
	if v.Status == cache.StatusHit || v.Status == cache.StatusStale {
		// Age is how long the answer sat in the cache (RFC 9111 5.1); an
		// answer fetched for this request has none.
		h.SetCanonical(hdrAge, strconv.AppendInt(buf[:0], int64(age), 10))
	}
	cc := buf[:0]
	if v.Stale {
		cc = append(cc, "public, max-age=0, must-revalidate"...)
	} else {
		cc = append(cc, "public, max-age="...)
		cc = strconv.AppendInt(cc, int64(max(0, int(v.Life.Fresh/time.Second)-age)), 10)
		cc = append(cc, ", stale-while-revalidate="...)
		cc = strconv.AppendInt(cc, int64(v.Life.Stale/time.Second), 10)
	}
	h.SetCanonical(hdrCacheControl, cc)
	h.SetCanonical(hdrETag, a.ETag)
	if a.Status == http.StatusOK && etagMatches(c.Request().Header.Peek("If-None-Match"), a.ETag) {
		c.Status(http.StatusNotModified)
		c.Response().ResetBody()
		return nil
	}
	c.Status(a.Status)
	h.SetContentType(a.Type.String())
	resp := c.Response()
	resp.ResetBody()
	if a.Type != ContentJSON {
		resp.SetBodyRaw(a.Body)
		return nil
	}
	// The body goes into the response's pooled buffer: a fresh slice per
	// hit (make + copy of the whole answer) was 40% of a cached hit's time.
	resp.AppendBody(a.Body)
	var meta [160]byte
	resp.AppendBody(jsonMeta(meta[:0], v, time.Since(t0)))
	return nil
}

// xCacheValues are the X-Cache header's values as bytes, so that setting
// one converts nothing.
var xCacheValues = map[cache.Status][]byte{
	cache.StatusHit: []byte(cache.StatusHit), cache.StatusMiss: []byte(cache.StatusMiss),
	cache.StatusStale: []byte(cache.StatusStale), cache.StatusCoalesced: []byte(cache.StatusCoalesced),
}

func xCacheValue(s cache.Status) []byte {
	if v, ok := xCacheValues[s]; ok {
		return v
	}
	return []byte(s)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2)
// without allocating.
func etagMatches(header, etag []byte) bool {
	if t := bytes.TrimSpace(header); len(t) == 1 && t[0] == '*' {
		return true
	}
	for len(header) > 0 {
		var t []byte
		if i := bytes.IndexByte(header, ','); i >= 0 {
			t, header = header[:i], header[i+1:]
		} else {
			t, header = header, nil
		}
		t = bytes.TrimPrefix(bytes.TrimSpace(t), []byte("W/"))
		if len(etag) > 0 && bytes.Equal(t, etag) {
			return true
		}
	}
	return false
}

// jsonMeta appends the JSON feed's meta block and closes the object.
func jsonMeta(dst []byte, v CacheView, took time.Duration) []byte {
	dst = append(dst, `,"meta":{"cache":"`...)
	switch v.Status {
	case cache.StatusHit:
		dst = append(dst, "hit"...)
	case cache.StatusMiss:
		dst = append(dst, "miss"...)
	case cache.StatusStale:
		dst = append(dst, "stale"...)
	case cache.StatusCoalesced:
		dst = append(dst, "coalesced"...)
	default:
		dst = append(dst, "miss"...)
	}
	dst = append(dst, `","stale":`...)
	dst = strconv.AppendBool(dst, v.Stale)
	dst = append(dst, `,"as_of":"`...)
	dst = v.StoredAt.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","took_ms":`...)
	dst = strconv.AppendInt(dst, took.Milliseconds(), 10)
	return append(dst, "}}"...)
}
