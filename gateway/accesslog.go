package gateway

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/transform"
)

// accessLog writes one JSON line per answered request, in the shape of the
// gateway's slog lines ("time", "level", "msg", then fields), so that one
// log shipper reads both:
//
//	{"time":"…","level":"INFO","msg":"access","id":"…","client":"192.0.2.7","method":"GET",
//	 "path":"/v1/search?q=history","status":200,"cache":"HIT","bytes":5123,"ms":0.412}
//
// It is on the hit path of every request, so a line is formatted into a
// pooled buffer by appending (no fmt, no maps, no strings): a warm request
// allocates nothing for it (TestCachedHitAllocatesNothing runs with it
// on). Query parameters whose names suggest a secret have their values
// replaced, and the path is cut at maxLoggedPath bytes.
type accessLog struct {
	mu    sync.Mutex // one line (or batch) is one Write: lines never interleave
	w     io.Writer
	pool  sync.Pool // *[]byte line buffers
	sec   atomic.Pointer[logSecond]
	batch []byte        // lines waiting for the next write, when batched
	every time.Duration // batched: lines are written at most this late; 0: each at once
	shut  bool          // closed: lines are written at once again
	stop  chan struct{}
	done  chan struct{}
}

// maxBatch is how many bytes of lines wait at most before they are written.
const maxBatch = 32 << 10

// logSecond is a second's formatted time, "2006-01-02T15:04:05.", which
// the lines of that second share: formatting a time is a tenth of a
// line's cost, and a second holds many lines.
type logSecond struct {
	unix int64
	text []byte
}

// appendTime appends t in UTC as the slog lines have it,
// 2006-01-02T15:04:05.000Z.
func (a *accessLog) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	unix := t.Unix()
	sec := a.sec.Load()
	if sec == nil || sec.unix != unix {
		sec = &logSecond{unix: unix, text: t.AppendFormat(nil, "2006-01-02T15:04:05.")}
		a.sec.Store(sec)
	}
	ms := t.Nanosecond() / 1e6
	return append(append(b, sec.text...), byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// maxLoggedPath bounds the logged path and query, so that a line stays
// within a pipe's atomic write (PIPE_BUF, 4096 bytes).
const maxLoggedPath = 1024

// newAccessLog logs to w. With every > 0 lines are batched: written
// together every so often, or as soon as maxBatch bytes wait, so that a
// busy gateway makes one write system call per batch instead of one per
// request (a tenth of a cached hit's cost); close writes what waits.
func newAccessLog(w io.Writer, every time.Duration) *accessLog {
	a := &accessLog{w: w, every: every}
	a.pool.New = func() any { b := make([]byte, 0, 512); return &b }
	if every > 0 {
		a.batch = make([]byte, 0, maxBatch+4096)
		a.stop, a.done = make(chan struct{}), make(chan struct{})
		go a.flusher()
	}
	return a
}

func (a *accessLog) flusher() {
	defer close(a.done)
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush()
		case <-a.stop:
			a.mu.Lock()
			a.shut = true
			a.mu.Unlock()
			a.flush()
			return
		}
	}
}

// flush writes the lines waiting.
func (a *accessLog) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.batch) > 0 {
		_, _ = a.w.Write(a.batch)
		a.batch = a.batch[:0]
	}
}

// close writes the lines still waiting and stops the flusher.
func (a *accessLog) close() {
	if a == nil || a.stop == nil {
		return
	}
	close(a.stop)
	<-a.done
}

// write logs the request c answered for client (the door's clientIP: a
// trusted proxy's client, else the peer), started at start and done now.
func (a *accessLog) write(c *fiber.Ctx, client net.IP, start, now time.Time) {
	bp, pp := a.pool.Get().(*[]byte), a.pool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = a.appendTime(b, now)
	b = append(b, `","level":"INFO","msg":"access","id":`...)
	b = transform.AppendJSONLogString(b, c.Response().Header.Peek("X-Request-Id"))
	b = append(b, `,"client":"`...)
	b = appendClient(b, client)
	b = append(b, `","method":`...)
	b = transform.AppendJSONLogString(b, c.Request().Header.Method())
	b = append(b, `,"path":`...)
	*pp = appendLoggedPath((*pp)[:0], c.Request().RequestURI())
	b = transform.AppendJSONLogString(b, *pp)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(c.Response().StatusCode()), 10)
	if xc := c.Response().Header.Peek("X-Cache"); len(xc) > 0 {
		b = append(b, `,"cache":`...)
		b = transform.AppendJSONLogString(b, xc)
	}
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(sentBytes(c)), 10)
	b = append(b, `,"ms":`...)
	b = appendMillis(b, now.Sub(start))
	b = append(b, "}\n"...)
	a.mu.Lock()
	if a.every > 0 && !a.shut {
		a.batch = append(a.batch, b...)
		if len(a.batch) >= maxBatch {
			_, _ = a.w.Write(a.batch)
			a.batch = a.batch[:0]
		}
	} else {
		_, _ = a.w.Write(b)
	}
	a.mu.Unlock()
	*bp = b
	a.pool.Put(bp)
	a.pool.Put(pp)
}

// appendMillis appends d in milliseconds with three decimals (0.412),
// from whole microseconds with integer arithmetic: strconv.AppendFloat was
// a seventh of a line's cost.
func appendMillis(b []byte, d time.Duration) []byte {
	us := max(0, d.Microseconds())
	b = strconv.AppendInt(b, us/1000, 10)
	f := us % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// sentBytes is the length of the body the client gets: none for HEAD, 1xx,
// 204 and 304, whatever the handler set (fasthttp skips it).
func sentBytes(c *fiber.Ctx) int {
	status := c.Response().StatusCode()
	if c.Request().Header.IsHead() || status < 200 || status == fiber.StatusNoContent || status == fiber.StatusNotModified {
		return 0
	}
	return len(c.Response().Body())
}

// appendClient appends the peer's IP address without its port.
func appendClient(b []byte, client net.IP) []byte {
	if ip, ok := netip.AddrFromSlice(client); ok {
		return ip.Unmap().AppendTo(b)
	}
	return append(b, '-')
}

// secretParam reports whether a query parameter's name suggests a secret
// (a client that put its token, key or signature in the URL): its value is
// not logged. The gateway itself never takes secrets in URLs. Names are
// matched by ending, ignoring case: apikey, api_key, access_token,
// X-Signature; SRU's sortKeys is not one.
func secretParam(name []byte) bool {
	for _, w := range [...]string{"key", "token", "secret", "password", "passwd", "signature", "sig", "auth", "authorization", "session", "sessionid", "credentials"} {
		if hasSuffixFold(name, w) {
			return true
		}
	}
	return false
}

// hasSuffixFold reports whether s ends with the lower-case ASCII word,
// ignoring case.
func hasSuffixFold(s []byte, word string) bool {
	if len(s) < len(word) {
		return false
	}
	s = s[len(s)-len(word):]
	for i := 0; i < len(word); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

// appendLoggedPath appends the request URI: the path, then the query with
// secret-looking values replaced by "redacted", cut at maxLoggedPath bytes
// (then ending in "…"). It is unquoted: the caller quotes it.
func appendLoggedPath(b []byte, uri []byte) []byte {
	cut := len(uri) > maxLoggedPath
	if cut {
		uri = uri[:maxLoggedPath]
	}
	path, query, hasQuery := bytes.Cut(uri, []byte{'?'})
	b = append(b, path...)
	if hasQuery {
		b = append(b, '?')
		for first := true; len(query) > 0; first = false {
			var pair []byte
			pair, query, _ = bytes.Cut(query, []byte{'&'})
			if !first {
				b = append(b, '&')
			}
			if name, _, hasValue := bytes.Cut(pair, []byte{'='}); hasValue && secretParam(name) {
				b = append(append(b, name...), "=redacted"...)
				continue
			}
			b = append(b, pair...)
		}
	}
	if cut {
		b = append(b, "…"...)
	}
	return b
}
