package gateway

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/cache"
)

// A cached answer is stored as: HTTP status (2 bytes), ETag hash (8 bytes),
// then the body. The ETag is computed once, when the answer is made.
const packedHeader = 10

func packAnswer(status int, body []byte) []byte {
	h := fnv.New64a()
	h.Write(body)
	out := make([]byte, packedHeader, packedHeader+len(body))
	binary.BigEndian.PutUint16(out[0:2], uint16(status))
	binary.BigEndian.PutUint64(out[2:10], h.Sum64())
	return append(out, body...)
}

type packed struct {
	status int
	etag   string
	body   []byte
}

func unpackAnswer(v []byte) (packed, bool) {
	if len(v) < packedHeader {
		return packed{}, false
	}
	return packed{
		status: int(binary.BigEndian.Uint16(v[0:2])),
		etag:   `"` + hex.EncodeToString(v[2:10]) + `"`,
		body:   v[packedHeader:],
	}, true
}

// cacheView is what the per-request parts of an answer need to know about
// how it was found.
type cacheView struct {
	status   cache.Status
	stale    bool
	storedAt time.Time
	life     cache.Lifetime
}

func viewOf(r cache.Result, life cache.Lifetime, now time.Time) cacheView {
	at := r.StoredAt
	if at.IsZero() {
		at = now
	}
	if r.Life.Fresh > 0 {
		life = r.Life // the entry's own lifetime (a diagnostic's is shorter)
	}
	return cacheView{status: r.Status, stale: r.Stale, storedAt: at, life: life}
}

// worse combines the views of an answer made of several cached parts: the
// staler and the less cached wins.
func (v cacheView) worse(o cacheView) cacheView {
	rank := map[cache.Status]int{cache.Status("HIT"): 0, cache.Status("COALESCED"): 1, cache.Status("MISS"): 2, cache.Status("STALE"): 3}
	out := v
	if rank[o.status] > rank[v.status] {
		out.status = o.status
	}
	out.stale = v.stale || o.stale
	if o.storedAt.Before(v.storedAt) {
		out.storedAt = o.storedAt
	}
	if o.life.Fresh < v.life.Fresh {
		out.life = o.life
	}
	return out
}

// setCacheHeaders writes X-Cache, Age, ETag and Cache-Control (SPEC 3.5)
// and reports whether the client's If-None-Match already names this answer,
// in which case the caller answers 304.
func (s *Server) setCacheHeaders(c *fiber.Ctx, v cacheView, etag string) (notModified bool) {
	c.Set("X-Cache", string(v.status))
	age := max(0, int(s.now().Sub(v.storedAt).Seconds()))
	c.Set("Age", strconv.Itoa(age))
	if v.stale {
		c.Set("Cache-Control", "public, max-age=0, must-revalidate")
	} else {
		left := max(0, int(v.life.Fresh.Seconds())-age)
		c.Set("Cache-Control", "public, max-age="+strconv.Itoa(left)+", stale-while-revalidate="+strconv.Itoa(int(v.life.Stale.Seconds())))
	}
	if etag == "" {
		return false
	}
	c.Set("ETag", etag)
	return etagMatches(c.Get("If-None-Match"), etag)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag {
			return true
		}
	}
	return false
}

// jsonMeta appends the JSON feed's meta block and closes the object.
func jsonMeta(dst []byte, v cacheView, took time.Duration) []byte {
	dst = append(dst, `,"meta":{"cache":"`...)
	dst = append(dst, strings.ToLower(string(v.status))...)
	dst = append(dst, `","stale":`...)
	dst = strconv.AppendBool(dst, v.stale)
	dst = append(dst, `,"as_of":"`...)
	dst = v.storedAt.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","took_ms":`...)
	dst = strconv.AppendInt(dst, took.Milliseconds(), 10)
	return append(dst, "}}"...)
}
