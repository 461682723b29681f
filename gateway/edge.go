package gateway

// The HTTP edge: a guard in front of fasthttp, on the byte stream of every
// connection, for what fasthttp itself lets through.
//
// fasthttp v1.79 refuses most malformed or ambiguous requests of the edge
// table (edge_test.go) on its own: a missing, repeated or invalid Host,
// Content-Length given twice, a header line without a colon or with a bad
// name, control characters in values or in the target, bad chunk sizes and
// chunk ends, Transfer-Encoding in HTTP/1.0, any transfer coding other than
// a single chunked, a method that is not a token, a head over the read
// buffer. Those reach the server's ErrorHandler (edgeRefusal), which
// answers with the gateway's JSON error and a fixed message; fasthttp
// closes the connection.
//
// What it still lets through, and the guard refuses before fasthttp sees
// it (RFC 9112): Content-Length and Transfer-Encoding together (read as
// chunked), Transfer-Encoding identity (read as no body: what follows is
// parsed as the next request), chunked after another coding (refused, but
// as 400 where it is 501), an absolute-form target of another scheme or
// with a malformed authority, an unknown HTTP/x.y version, obs-fold in the
// head or the trailer, bare LF line ends (fasthttp waits for more), control
// characters in a chunk extension, a non-decimal Content-Length (the guard
// must frame the body), and a Content-Length over limits.max_body_bytes
// (fasthttp would answer Expect: 100-continue first).
//
// edgeConn wraps each accepted connection. It follows the message framing
// exactly as RFC 9112 defines it: a request head is held back until it is
// complete (CRLF CRLF) and checked; then its body is passed through by
// Content-Length, or by parsing the chunked coding (sizes, CRLFs, trailer
// section), so the guard always knows where the next head starts,
// pipelined requests included: the drain (drain.go) and the head deadline
// need exactly that. Bytes are never changed, only held back until
// checked, so fasthttp reads exactly what the client sent. When a head or
// a chunk breaks the rules, the guard gives fasthttp what came before
// (earlier pipelined requests are answered as usual, in order), then the
// first byte of the bad message, then an *edgeError instead of more bytes:
// fasthttp fails to read that request and calls edgeRefusal too.
//
// The listener also caps open connections, in all (limits.max_connections)
// and per client address (limits.max_connections_per_client): one over a
// cap is answered 503 with Retry-After and closed, without reaching
// fasthttp. And it times request heads (limits.header_timeout): a head
// must arrive whole within it, counted from the connection's start for
// the first request and from the head's first byte for the next ones, or
// it is answered 408 and the connection closed; fasthttp's read deadline
// still applies when it is earlier.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/almanet/gateway/internal/clientaddr"
	"github.com/almanet/gateway/internal/hostname"
	"github.com/almanet/gateway/sru"
)

// edgeError is a request the edge refuses: the status, a metric label and
// a fixed message. It never carries request bytes.
type edgeError struct {
	status int
	reason string
	msg    string
}

func (e *edgeError) Error() string { return "edge: " + e.msg }

func refuse(status int, reason, msg string) *edgeError {
	return &edgeError{status: status, reason: reason, msg: msg}
}

var (
	errBareCRLF     = refuse(400, "bare_cr_lf", "the request head has a CR or LF that is not part of a CRLF line end")
	errVersion      = refuse(400, "version", "only HTTP/1.0 and HTTP/1.1 are served")
	errTarget       = refuse(400, "target", "the request target must be a path (origin-form) or an http(s) URL (absolute-form)")
	errObsFold      = refuse(400, "obs_fold", "a header line starts with white space (obsolete line folding)")
	errCLAndTE      = refuse(400, "cl_and_te", "the request carries both Content-Length and Transfer-Encoding")
	errBadCL        = refuse(400, "bad_content_length", "Content-Length is not a decimal number of bytes")
	errTENotChunked = refuse(400, "te_not_chunked", "chunked must be the final transfer coding, applied once")
	errTEUnknown    = refuse(501, "te_unknown", "the only transfer coding served is chunked")
	errChunkSize    = refuse(400, "chunk_size", "a chunk size is not a hexadecimal number followed by CRLF")
	errChunkEnd     = refuse(400, "chunk_end", "a chunk's data is not followed by CRLF")
	errTrailer      = refuse(400, "trailer", "the chunked trailer section is malformed")
	errHeadTooLarge = refuse(431, "head_too_large", "the request head is larger than the read buffer")
	errMalformed    = refuse(400, "malformed", "the request is not valid HTTP/1.1")
	errBodyTooLarge = refuse(413, "body_too_large", "the request body is larger than limits.max_body_bytes")
	errHeadTimeout  = refuse(408, "header_timeout", "the request head did not arrive within limits.header_timeout")
)

// The framing states of a connection's byte stream.
const (
	stHead      = iota // at the start of a request head
	stBody             // inside a body or a chunk's data: remain bytes
	stChunkSize        // at a chunk-size line
	stChunkCRLF        // at the CRLF after a chunk's data
	stTrailer          // at the trailer section after the last chunk
)

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4096

// edgeListener wraps the gateway's listener: it caps the open connections,
// in all and per client address, and wraps each in an edgeConn.
type edgeListener struct {
	net.Listener
	s           *Server
	edge        *edgeStats
	max         int64 // open connections allowed; <= 0: no cap
	perClient   int   // open connections one client address may hold; <= 0: no cap
	maxHead     int   // the longest request head
	maxBody     int64 // the largest Content-Length taken; <= 0: any
	headTimeout time.Duration
	refusing    atomic.Int32
	draining    atomic.Bool // the drain has begun (drain.go)

	mu      sync.Mutex
	clients map[string]int         // open connections by clientaddr.Key, of capped clients only
	conns   map[*edgeConn]struct{} // every open connection, for the drain
}

func (s *Server) edgeListener(ln net.Listener) *edgeListener {
	l := s.cfg.Limits
	return &edgeListener{Listener: ln, s: s, edge: &s.edge, max: int64(l.MaxConnections), perClient: l.MaxConnectionsPerClient,
		maxHead: l.ReadBufferBytes, maxBody: int64(l.MaxBodyBytes), headTimeout: l.HeaderTimeout.D(),
		clients: map[string]int{}, conns: map[*edgeConn]struct{}{}}
}

// Accept returns the next connection under the caps; one over either is
// answered 503 and closed here, and the next is waited for.
func (l *edgeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.max > 0 && l.s.edge.open.Load() >= l.max {
			l.s.edge.refused.WithLabelValues("connection_cap").Inc()
			l.turnAway(c, busyAll)
			continue
		}
		key, ok := l.admit(c)
		if !ok {
			l.s.edge.refused.WithLabelValues("client_connection_cap").Inc()
			l.turnAway(c, busyClient)
			continue
		}
		l.s.edge.open.Add(1)
		ec := &edgeConn{Conn: c, ln: l, client: key}
		if l.headTimeout > 0 {
			// The first head is timed from the connection's start: a
			// client that connects and sends nothing holds it no longer.
			ec.headBy = time.Now().Add(l.headTimeout)
			_ = c.SetReadDeadline(ec.headBy)
		}
		l.mu.Lock()
		l.conns[ec] = struct{}{}
		l.mu.Unlock()
		return ec, nil
	}
}

// admit counts c against its client's cap. It returns the client's key
// ("" when not capped) and false when the client holds its cap already.
// Trusted proxies carry many clients and are not capped; loopback is
// capped only with limits.limit_loopback, as the request rate is.
func (l *edgeListener) admit(c net.Conn) (string, bool) {
	if l.perClient <= 0 {
		return "", true
	}
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok || ta.IP.IsLoopback() && !l.s.cfg.Limits.LimitLoopback || l.s.proxies.Trusts(ta.IP) {
		return "", true
	}
	key := clientaddr.Key(ta.IP)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients[key] >= l.perClient {
		return "", false
	}
	l.clients[key]++
	return key, true
}

// release forgets a closed connection and gives back what admit counted.
func (l *edgeListener) release(c *edgeConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	if c.client == "" {
		return
	}
	if l.clients[c.client]--; l.clients[c.client] <= 0 {
		delete(l.clients, c.client)
	}
}

// busyAnswer is the whole answer to a connection over a cap: the one
// error body (answer.go), 503, Retry-After 1.
func (l *edgeListener) busyAnswer(details string) []byte {
	body := errorBody(nil, []sru.Diagnostic{refused(http.StatusServiceUnavailable, details).diag}, nil, l.s.now(), 0)
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// The details of the two caps' refusals.
const (
	busyAll    = "the gateway is serving as many connections as it is configured for; retry shortly"
	busyClient = "this client address holds as many connections as limits.max_connections_per_client allows; reuse one (keep-alive) or retry shortly"
)

// maxTurningAway bounds the goroutines answering connections over the cap;
// beyond it, such connections are closed without an answer.
const maxTurningAway = 1024

// turnAway answers a connection over the cap with 503 and closes it. It
// half-closes first and reads what the client sent for a moment, so that
// the client's request arriving after the answer does not make the kernel
// reset the connection and destroy the answer before it is read.
func (l *edgeListener) turnAway(c net.Conn, details string) {
	if l.refusing.Add(1) > maxTurningAway {
		l.refusing.Add(-1)
		c.Close()
		return
	}
	busyAnswer := l.busyAnswer(details)
	go func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Write(busyAnswer); err != nil {
			return
		}
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}()
}

// edgeStats is what the edge counts, on the Server.
type edgeStats struct {
	open    atomic.Int64 // connections open now
	refused *prometheus.CounterVec
	logs    refusalLog // bounds the refusal log lines
}

// registerEdgeMetrics adds the edge's instruments to the registry.
func (s *Server) registerEdgeMetrics() {
	s.edge.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_edge_refused_total", Help: "Requests and connections the HTTP edge refused, by reason (malformed framing, Host, connection cap…).",
	}, []string{"reason"})
	s.m.reg.MustRegister(s.edge.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_open_connections", Help: "Client connections open now.",
	}, func() float64 { return float64(s.edge.open.Load()) }))
}

// edgeConn checks the request stream of one connection (see the top of
// this file). Read is called by one goroutine at a time (fasthttp's), so
// the framing state needs no lock.
type edgeConn struct {
	net.Conn
	ln     *edgeListener // the limits, the counters and the drain
	client string        // the key the listener counted the connection under

	// The head deadline (limits.header_timeout): headBy is when the head
	// being received must be complete (zero: none is), readBy the read
	// deadline fasthttp last set; the connection's deadline is the
	// earlier of the two.
	dl     sync.Mutex
	headBy time.Time
	readBy time.Time

	buf     []byte // read from Conn, not yet given out: buf[:rel] is checked
	rel     int
	f       streamState
	bad     *edgeError
	rerr    error // the connection's read error, once buf is drained
	heads   int   // request heads checked and given out
	handled int   // requests the handler took (drain.go)

	closeOnce sync.Once
}

// streamState is where a connection's byte stream is in the framing.
type streamState struct {
	st      int   // stHead, stBody…
	remain  int64 // bytes left in a body or chunk (stBody)
	after   int   // the state after stBody
	scanned int   // how far the unchecked part was searched for its end
}

func (c *edgeConn) Read(p []byte) (n int, err error) {
	defer func() {
		// The framing is fuzzed (FuzzEdgeFraming); should it still
		// panic, refuse the connection rather than take the process down.
		if r := recover(); r != nil {
			c.bad, n, err = errMalformed, 0, errMalformed
		}
	}()
	for {
		if c.rel > 0 {
			n := copy(p, c.buf[:c.rel])
			c.buf = c.buf[:copy(c.buf, c.buf[n:])]
			c.rel -= n
			return n, nil
		}
		if c.bad != nil {
			return 0, c.bad
		}
		if c.rerr != nil {
			if c.drainWoken() {
				continue
			}
			if c.headLate() {
				// The head did not arrive in time: what came of it,
				// then the refusal (408).
				c.bad = errHeadTimeout
				c.ln.edge.refused.WithLabelValues(errHeadTimeout.reason).Inc()
				c.rel = len(c.buf)
				continue
			}
			if len(c.buf) > 0 {
				// The client went away mid-head: hand fasthttp what
				// came, it fails the request as it would have.
				c.rel = len(c.buf)
				continue
			}
			return 0, c.rerr
		}
		if len(c.buf) == 0 && len(p) > 0 {
			// The common case: nothing held back, so read straight into
			// p and hold back only an incomplete tail.
			n, err := c.Conn.Read(p)
			c.rerr = err
			k := c.advance(p[:n])
			if k < n && c.bad == nil {
				c.buf = append(c.buf, p[k:n]...)
			}
			if k > 0 {
				return k, nil
			}
			continue
		}
		if len(c.buf) >= c.ln.maxHead+maxChunkLine {
			// advance refuses a longer head or line first; this only
			// bounds the buffer should it not.
			c.rel = c.fail(0, errHeadTooLarge)
			c.buf = c.buf[:c.rel]
			continue
		}
		if cap(c.buf)-len(c.buf) < 4096 {
			c.buf = append(c.buf, make([]byte, 4096)...)[:len(c.buf)]
		}
		n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		c.rerr = err
		c.rel = c.advance(c.buf)
		if c.bad != nil {
			c.buf = c.buf[:c.rel]
		}
	}
}

// fail marks the stream bad at data offset at, where a message starts:
// the bytes before it and its first byte are given out, so that fasthttp
// has begun reading the message when it meets the error (with nothing
// read it would close the connection without an answer).
func (c *edgeConn) fail(at int, e *edgeError) int {
	c.bad = e
	c.ln.edge.refused.WithLabelValues(e.reason).Inc()
	return at + 1
}

// advance runs the framing over data, which starts where the last call
// stopped, and returns how many bytes of it are checked. The rest is an
// incomplete head or line, to be offered again with more bytes after it.
func (c *edgeConn) advance(data []byte) int {
	i := 0
	for i < len(data) {
		switch c.f.st {
		case stBody:
			n := int(min(int64(len(data)-i), c.f.remain))
			i += n
			c.f.remain -= int64(n)
			if c.f.remain == 0 {
				c.f.st = c.f.after
			}
		case stHead:
			// A server should ignore empty lines before a request line
			// (RFC 9112 2.2).
			for len(data)-i >= 2 && data[i] == '\r' && data[i+1] == '\n' {
				i += 2
			}
			if i == len(data) || len(data)-i == 1 && data[i] == '\r' {
				return i
			}
			// Only the first maxHead bytes are scanned, so that a long head gets
			// the same verdict however the network splits it: a bare CR or LF
			// past the bound is not seen before the head is too large
			// (FuzzEdgeFraming found 400 in one read, 431 in many).
			end := headEnd(data[i:min(len(data), i+c.ln.maxHead)], c.f.scanned)
			if end == -2 {
				return c.fail(i, errBareCRLF)
			}
			if end < 0 {
				if len(data)-i > c.ln.maxHead {
					return c.fail(i, errHeadTooLarge)
				}
				c.f.scanned = max(0, len(data)-i-3)
				c.headStarted()
				return i
			}
			c.f.scanned = 0
			c.headDone()
			if end > c.ln.maxHead {
				return c.fail(i, errHeadTooLarge)
			}
			f, err := checkHead(data[i : i+end])
			if err != nil {
				return c.fail(i, err)
			}
			if c.ln.maxBody > 0 && f.length > c.ln.maxBody {
				// Refused on the head: a client sending Expect:
				// 100-continue gets the 413 instead of 100 Continue,
				// and no one's body is read.
				return c.fail(i, errBodyTooLarge)
			}
			i += end
			c.heads++
			switch {
			case f.chunked:
				c.f.st = stChunkSize
			case f.length > 0:
				c.f.st, c.f.remain, c.f.after = stBody, f.length, stHead
			}
		case stChunkSize:
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				if len(data)-i > maxChunkLine {
					return c.fail(i, errChunkSize)
				}
				return i
			}
			size, ok := chunkSize(data[i : i+j+1])
			if !ok {
				return c.fail(i, errChunkSize)
			}
			i += j + 1
			if size == 0 {
				c.f.st = stTrailer
			} else {
				c.f.st, c.f.remain, c.f.after = stBody, size, stChunkCRLF
			}
		case stChunkCRLF:
			if len(data)-i < 2 {
				if data[i] != '\r' {
					return c.fail(i, errChunkEnd)
				}
				return i
			}
			if data[i] != '\r' || data[i+1] != '\n' {
				return c.fail(i, errChunkEnd)
			}
			i += 2
			c.f.st = stChunkSize
		case stTrailer:
			if len(data)-i < 2 {
				return i
			}
			if data[i] == '\r' && data[i+1] == '\n' {
				i += 2
				c.f.st = stHead
				continue
			}
			end := headEnd(data[i:min(len(data), i+c.ln.maxHead)], c.f.scanned)
			if end == -2 {
				return c.fail(i, errTrailer)
			}
			if end < 0 {
				if len(data)-i > c.ln.maxHead {
					return c.fail(i, errTrailer)
				}
				c.f.scanned = max(0, len(data)-i-3)
				return i
			}
			c.f.scanned = 0
			if err := checkFields(data[i:i+end-2], nil); err != nil {
				return c.fail(i, errTrailer)
			}
			i += end
			c.f.st = stHead
		}
	}
	return i
}

// Close closes the connection and counts it closed, once.
func (c *edgeConn) Close() error {
	c.closeOnce.Do(func() {
		c.ln.edge.open.Add(-1)
		c.ln.release(c)
	})
	return c.Conn.Close()
}

// SetReadDeadline is fasthttp's read deadline; while a head is awaited,
// the head's deadline applies when it is earlier.
func (c *edgeConn) SetReadDeadline(t time.Time) error {
	c.dl.Lock()
	defer c.dl.Unlock()
	c.readBy = t
	if c.draining() && c.between() {
		return c.Conn.SetReadDeadline(past) // see drain.go
	}
	return c.Conn.SetReadDeadline(c.deadline())
}

// SetDeadline sets both deadlines, the read one as SetReadDeadline does.
func (c *edgeConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// deadline is the earlier of the head's and fasthttp's (c.dl held).
func (c *edgeConn) deadline() time.Time {
	if c.headBy.IsZero() || !c.readBy.IsZero() && c.readBy.Before(c.headBy) {
		return c.readBy
	}
	return c.headBy
}

// headStarted starts the head deadline, at a head's first byte; for the
// first request it runs from the connection's start already.
func (c *edgeConn) headStarted() {
	if c.ln.headTimeout <= 0 {
		return
	}
	c.dl.Lock()
	defer c.dl.Unlock()
	if c.headBy.IsZero() {
		c.headBy = time.Now().Add(c.ln.headTimeout)
		_ = c.Conn.SetReadDeadline(c.deadline())
	}
}

// headDone ends the head deadline: the head is complete (or refused).
func (c *edgeConn) headDone() {
	c.dl.Lock()
	defer c.dl.Unlock()
	if !c.headBy.IsZero() {
		c.headBy = time.Time{}
		_ = c.Conn.SetReadDeadline(c.readBy)
	}
}

// headLate reports that the read error is the head deadline passing.
func (c *edgeConn) headLate() bool {
	if !errors.Is(c.rerr, os.ErrDeadlineExceeded) {
		return false
	}
	c.dl.Lock()
	defer c.dl.Unlock()
	return !c.headBy.IsZero() && !time.Now().Before(c.headBy) && (c.readBy.IsZero() || !c.readBy.Before(c.headBy))
}

// headEnd returns the length of the head at the start of b up to and
// including its CRLF CRLF, -1 when b holds no complete head yet, or -2
// when b has a CR or LF that is not part of a CRLF (RFC 9112 2.2: a bare
// CR must be refused; a bare LF is refused too, as a proxy in front may
// not read it as a line end). The search resumes at from, where the last
// one stopped.
func headEnd(b []byte, from int) int {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			if k := bytes.IndexByte(b[i:], '\r'); k >= 0 && i+k < len(b)-1 {
				return -2
			}
			return -1
		}
		p := i + j
		if p == 0 || b[p-1] != '\r' || bytes.IndexByte(b[i:max(i, p-1)], '\r') >= 0 {
			return -2
		}
		if p >= 3 && b[p-2] == '\n' && b[p-3] == '\r' {
			return p + 1
		}
		i = p + 1
	}
}

// framing is how a checked request's body is delimited.
type framing struct {
	chunked bool
	length  int64
}

// checkHead checks a complete request head (ending in CRLF CRLF; no bare
// CR or LF, headEnd saw to that) for the rules fasthttp lets through (the
// top of this file) and returns its body's framing. A head this passes
// may still be one fasthttp refuses.
func checkHead(head []byte) (framing, *edgeError) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	// METHOD SP target SP version; a line of another shape fasthttp refuses.
	if sp := bytes.LastIndexByte(line, ' '); sp >= 0 {
		switch version := line[sp+1:]; {
		case string(version) == "HTTP/1.1" || string(version) == "HTTP/1.0":
		case bytes.HasPrefix(version, []byte("HTTP/")):
			return framing{}, errVersion
		}
		if _, target, ok := bytes.Cut(line[:sp], []byte(" ")); ok && len(target) > 0 {
			if err := checkTarget(target); err != nil {
				return framing{}, err
			}
		}
	}
	var h headStats
	if err := checkFields(rest[:len(rest)-2], &h); err != nil {
		return framing{}, err
	}
	switch {
	case h.te && h.cl:
		return framing{}, errCLAndTE
	case h.te:
		return framing{chunked: true}, checkCodings(h.codings)
	case h.cl && h.clErr:
		return framing{}, errBadCL
	}
	return framing{length: h.length}, nil
}

// checkTarget accepts origin-form, asterisk-form (fasthttp takes it for
// OPTIONS only) and absolute-form with an http(s) URL and a valid
// authority (RFC 9112 3.2). fasthttp takes any scheme and host.
func checkTarget(t []byte) *edgeError {
	if t[0] == '/' || len(t) == 1 && t[0] == '*' {
		return nil
	}
	rest, ok := cutPrefixFold(t, "http://")
	if !ok {
		if rest, ok = cutPrefixFold(t, "https://"); !ok {
			return errTarget
		}
	}
	auth := rest
	if i := bytes.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if !hostname.Valid(auth) {
		return errTarget
	}
	return nil
}

func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || !bytes.EqualFold(b[:len(prefix)], []byte(prefix)) {
		return b, false
	}
	return b[len(prefix):], true
}

// headStats is what checkFields collects about the fields that frame the
// message.
type headStats struct {
	cl      bool // Content-Length seen
	length  int64
	clErr   bool     // a Content-Length that is not one decimal number
	te      bool     // Transfer-Encoding seen
	codings [][]byte // its codings, in order, every field's
}

// checkFields checks field lines (each ending in CRLF; the empty line
// excluded) for obs-fold and, when h is not nil, collects Content-Length
// and Transfer-Encoding. Other field syntax is fasthttp's to refuse.
func checkFields(b []byte, h *headStats) *edgeError {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\r\n"))
		b = rest
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return errObsFold
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || h == nil {
			continue
		}
		value = trimOWS(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			h.cl = true
			n, ok := decimal(value)
			h.clErr = h.clErr || !ok
			h.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.te = true
			for _, v := range bytes.Split(value, []byte(",")) {
				h.codings = append(h.codings, trimOWS(v))
			}
		}
	}
	return nil
}

// checkCodings accepts exactly one transfer coding, chunked (RFC 9112
// 6.1): identity, chunked not last, or twice, leaves the body's end
// unknown (400); another coding before chunked is one the gateway does not
// implement (501). fasthttp refuses all but identity, with a 400.
func checkCodings(codings [][]byte) *edgeError {
	n := len(codings)
	if n == 0 || !bytes.EqualFold(codings[n-1], []byte("chunked")) {
		return errTENotChunked
	}
	for _, c := range codings[:n-1] {
		name, _, _ := bytes.Cut(c, []byte(";"))
		if bytes.EqualFold(trimOWS(name), []byte("chunked")) {
			return errTENotChunked
		}
	}
	if n > 1 {
		return errTEUnknown
	}
	return nil
}

// chunkSize parses a chunk-size line: 1*HEXDIG, optional extensions, CRLF.
func chunkSize(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, false
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return 0, false
	}
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i >= 15 { // more than 15 hex digits could overflow int64
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	if ext := line[i:]; len(ext) > 0 {
		ext = bytes.TrimLeft(ext, " \t")
		if len(ext) == 0 || ext[0] != ';' {
			return 0, false
		}
		for _, c := range ext {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, false
			}
		}
	}
	return n, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// decimal parses 1*DIGIT, at most 18 digits (no overflow).
func decimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimOWS(b []byte) []byte { return bytes.Trim(b, " \t") }

// edgeRefusal is fasthttp's ErrorHandler: it answers a request fasthttp
// could not read (refused by the guard above, or failed in fasthttp's own
// parser) with the gateway's JSON error and a fixed message. fasthttp's
// own errors quote the raw request head, so neither the answer nor the log
// ever carries the error's text; fasthttp closes the connection after.
func (s *Server) edgeRefusal(ctx *fasthttp.RequestCtx, err error) {
	e := classifyReadError(err)
	if e.reason != "edge" {
		// The guard's refusals were counted where they were found.
		s.edge.refused.WithLabelValues(e.reason).Inc()
	}
	if n, ok := s.edge.logs.allow(ctx.RemoteIP(), time.Now()); ok {
		s.log.Info("refused a request the edge could not read", "reason", e.reason, "status", e.status, "remote", ctx.RemoteIP().String(), "suppressed", n)
	}
	s.errs.raw(ctx, refused(e.status, e.msg))
}

// refusalLog bounds the edge's refusal lines: one a client address every
// refusalLogEvery, the next one saying how many were left out meanwhile
// (the refusals are all counted in gateway_edge_refused_total). A flood
// of malformed requests cannot flood the log.
type refusalLog struct {
	mu      sync.Mutex
	clients map[string]*refusalLogged
}

type refusalLogged struct {
	next       time.Time
	suppressed int
}

const (
	refusalLogEvery   = 10 * time.Second
	refusalLogClients = 10_000 // the table is cleared when it holds more
)

// allow reports whether a line for ip may be written now, and how many
// were suppressed before it.
func (r *refusalLog) allow(ip net.IP, now time.Time) (int, bool) {
	key := clientaddr.Key(ip)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients == nil || len(r.clients) >= refusalLogClients {
		r.clients = map[string]*refusalLogged{}
	}
	e := r.clients[key]
	if e == nil {
		r.clients[key] = &refusalLogged{next: now.Add(refusalLogEvery)}
		return 0, true
	}
	if now.Before(e.next) {
		e.suppressed++
		return 0, false
	}
	n := e.suppressed
	e.next, e.suppressed = now.Add(refusalLogEvery), 0
	return n, true
}

// classifyReadError maps a request read error to an answer. The reason of
// a guard refusal is replaced by "edge" (it is counted already).
func classifyReadError(err error) edgeError {
	var ee *edgeError
	if errors.As(err, &ee) {
		out := *ee
		out.reason = "edge"
		return out
	}
	for _, r := range fasthttpRefusals {
		if r.is(err) {
			return *r.e
		}
	}
	return *errMalformed
}

// fasthttpRefusals name the errors of the requests fasthttp refuses on its
// own with the answer the guard gave them before it left them to fasthttp
// (edge_test.go's table; SecureErrorLogMessage keeps the request's bytes
// out of them). fasthttp exports no error for the two Host rules: they are
// known by their text.
var fasthttpRefusals = []struct {
	is func(error) bool
	e  *edgeError
}{
	{func(err error) bool { return errors.As(err, new(*fasthttp.ErrSmallBuffer)) }, errHeadTooLarge},
	{func(err error) bool { return errors.Is(err, fasthttp.ErrBodyTooLarge) }, refuse(413, "body_too_large", "the request body is larger than the gateway accepts")},
	{func(err error) bool {
		var ne net.Error
		return errors.Is(err, fasthttp.ErrTimeout) || errors.As(err, &ne) && ne.Timeout()
	}, refuse(http.StatusRequestTimeout, "timeout", "the request was not received in time")},
	{func(err error) bool { return strings.Contains(err.Error(), "missing required host header") },
		refuse(400, "no_host", "an HTTP/1.1 request must carry one Host header")},
	{func(err error) bool { return strings.Contains(err.Error(), "too many host headers") },
		refuse(400, "two_hosts", "the request carries more than one Host header")},
	{func(err error) bool { return errors.As(err, new(fasthttp.InvalidHostError)) },
		refuse(400, "bad_host", "the Host header is not a host name or address with an optional port")},
	{func(err error) bool { return errors.Is(err, fasthttp.ErrDuplicateContentLength) },
		refuse(400, "two_content_length", "the request carries more than one Content-Length")},
	{func(err error) bool { return errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding) },
		refuse(400, "te_unsupported", "Transfer-Encoding is served only as chunked, once, in HTTP/1.1")},
	{func(err error) bool { return errors.As(err, new(fasthttp.ErrBrokenChunk)) },
		refuse(400, "chunk", "the chunked body is malformed")},
}
