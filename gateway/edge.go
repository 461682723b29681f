package gateway

// The HTTP edge: a guard in front of fasthttp, on the byte stream of every
// connection.
//
// fasthttp is lenient where leniency lets a proxy in front and the
// gateway disagree on where a request ends. v1.51 refused 21 of the 49
// malformed or ambiguous requests of the edge table (edge_test.go) on its
// own; v1.79, the release used now, refuses 41. What it still lets
// through: Content-Length and Transfer-Encoding together (read as chunked,
// the connection kept), Transfer-Encoding identity, an absolute-form
// target of another scheme, an unknown HTTP version, obs-fold and bare LF
// line ends; and its parse errors still quote the raw request head
// (Authorization and cookies included) in the log. It has no option for
// any of it, so the gateway checks the stream itself before fasthttp
// sees it; the rules fasthttp now has too stay, so that the answer is the
// gateway's one JSON error and nothing is logged raw.
//
// edgeConn wraps each accepted connection. It follows the message framing
// exactly as RFC 9112 defines it: a request head is held back until it is
// complete (CRLF CRLF) and checked; then its body is passed through by
// Content-Length, or by parsing the chunked coding (sizes, CRLFs, trailer
// section), so the guard always knows where the next head starts,
// pipelined requests included. Bytes are never changed, only held back
// until checked, so fasthttp reads exactly what the client sent. When a
// head or a chunk breaks the rules, the guard gives fasthttp what came
// before (earlier pipelined requests are answered as usual, in order),
// then the first byte of the bad message, then an *edgeError instead of
// more bytes: fasthttp fails to read that request and calls the server's
// ErrorHandler (edgeRefusal), which answers with the gateway's JSON error
// and a fixed message, and fasthttp closes the connection.
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
	errRequestLine  = refuse(400, "request_line", "the request line is not METHOD SP target SP HTTP/1.x")
	errVersion      = refuse(400, "version", "only HTTP/1.0 and HTTP/1.1 are served")
	errTarget       = refuse(400, "target", "the request target must be a path (origin-form) or an http(s) URL (absolute-form)")
	errFieldSyntax  = refuse(400, "field_syntax", "a header line is not a field name, a colon and a value")
	errObsFold      = refuse(400, "obs_fold", "a header line starts with white space (obsolete line folding)")
	errFieldValue   = refuse(400, "field_value", "a header value carries a control character")
	errNoHost       = refuse(400, "no_host", "an HTTP/1.1 request must carry one Host header")
	errTwoHosts     = refuse(400, "two_hosts", "the request carries more than one Host header")
	errBadHost      = refuse(400, "bad_host", "the Host header is not a host name or address with an optional port")
	errCLAndTE      = refuse(400, "cl_and_te", "the request carries both Content-Length and Transfer-Encoding")
	errTwoCL        = refuse(400, "two_content_length", "the request carries more than one Content-Length")
	errBadCL        = refuse(400, "bad_content_length", "Content-Length is not a decimal number of bytes")
	errTENotChunked = refuse(400, "te_not_chunked", "chunked must be the final transfer coding, applied once")
	errTEUnknown    = refuse(501, "te_unknown", "the only transfer coding served is chunked")
	errTE10         = refuse(400, "te_http10", "Transfer-Encoding is not allowed in an HTTP/1.0 request")
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
	max         int64 // open connections allowed; <= 0: no cap
	perClient   int   // open connections one client address may hold; <= 0: no cap
	maxHead     int   // the longest request head
	headTimeout time.Duration
	refusing    atomic.Int32
	draining    atomic.Bool // the drain has begun (drain.go)

	mu      sync.Mutex
	clients map[string]int         // open connections by clientaddr.Key, of capped clients only
	conns   map[*edgeConn]struct{} // every open connection, for the drain
}

func (s *Server) edgeListener(ln net.Listener) *edgeListener {
	l := s.cfg.Limits
	return &edgeListener{Listener: ln, s: s, max: int64(l.MaxConnections), perClient: l.MaxConnectionsPerClient,
		maxHead: l.ReadBufferBytes, headTimeout: l.HeaderTimeout.D(), clients: map[string]int{}, conns: map[*edgeConn]struct{}{}}
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
		ec := &edgeConn{Conn: c, edge: &l.s.edge, maxHead: l.maxHead, maxBody: int64(l.s.cfg.Limits.MaxBodyBytes), ln: l, client: key, headTimeout: l.headTimeout}
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
	edge    *edgeStats
	maxHead int
	maxBody int64         // the largest Content-Length taken; <= 0: any
	ln      *edgeListener // nil in tests of the framing alone
	client  string        // the key the listener counted the connection under

	// The head deadline (limits.header_timeout): headBy is when the head
	// being received must be complete (zero: none is), readBy the read
	// deadline fasthttp last set; the connection's deadline is the
	// earlier of the two.
	headTimeout time.Duration
	dl          sync.Mutex
	headBy      time.Time
	readBy      time.Time

	buf     []byte // read from Conn, not yet given out: buf[:rel] is checked
	rel     int
	scanned int // how far the unchecked part was searched for its end
	st      int
	remain  int64 // bytes left in a body or chunk (stBody)
	after   int   // the state after stBody
	bad     *edgeError
	rerr    error // the connection's read error, once buf is drained
	heads   int   // request heads checked and given out
	handled int   // requests the handler took (drain.go)

	closeOnce sync.Once
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
				c.edge.refused.WithLabelValues(errHeadTimeout.reason).Inc()
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
		if len(c.buf) >= c.maxHead+maxChunkLine {
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
	c.edge.refused.WithLabelValues(e.reason).Inc()
	return at + 1
}

// advance runs the framing over data, which starts where the last call
// stopped, and returns how many bytes of it are checked. The rest is an
// incomplete head or line, to be offered again with more bytes after it.
func (c *edgeConn) advance(data []byte) int {
	i := 0
	for i < len(data) {
		switch c.st {
		case stBody:
			n := int(min(int64(len(data)-i), c.remain))
			i += n
			c.remain -= int64(n)
			if c.remain == 0 {
				c.st = c.after
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
			end := headEnd(data[i:], c.scanned)
			if end == -2 {
				return c.fail(i, errBareCRLF)
			}
			if end < 0 {
				if len(data)-i > c.maxHead {
					return c.fail(i, errHeadTooLarge)
				}
				c.scanned = max(0, len(data)-i-3)
				c.headStarted()
				return i
			}
			c.scanned = 0
			c.headDone()
			if end > c.maxHead {
				return c.fail(i, errHeadTooLarge)
			}
			f, err := checkHead(data[i : i+end])
			if err != nil {
				return c.fail(i, err)
			}
			if c.maxBody > 0 && f.length > c.maxBody {
				// Refused on the head: a client sending Expect:
				// 100-continue gets the 413 instead of 100 Continue,
				// and no one's body is read.
				return c.fail(i, errBodyTooLarge)
			}
			i += end
			c.heads++
			switch {
			case f.chunked:
				c.st = stChunkSize
			case f.length > 0:
				c.st, c.remain, c.after = stBody, f.length, stHead
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
				c.st = stTrailer
			} else {
				c.st, c.remain, c.after = stBody, size, stChunkCRLF
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
			c.st = stChunkSize
		case stTrailer:
			if len(data)-i < 2 {
				return i
			}
			if data[i] == '\r' && data[i+1] == '\n' {
				i += 2
				c.st = stHead
				continue
			}
			end := headEnd(data[i:], c.scanned)
			if end == -2 {
				return c.fail(i, errTrailer)
			}
			if end < 0 {
				if len(data)-i > c.maxHead {
					return c.fail(i, errTrailer)
				}
				c.scanned = max(0, len(data)-i-3)
				return i
			}
			c.scanned = 0
			if err := checkFields(data[i:i+end-2], nil); err != nil {
				return c.fail(i, errTrailer)
			}
			i += end
			c.st = stHead
		}
	}
	return i
}

// Close closes the connection and counts it closed, once.
func (c *edgeConn) Close() error {
	c.closeOnce.Do(func() {
		c.edge.open.Add(-1)
		if c.ln != nil {
			c.ln.release(c)
		}
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
	if c.headTimeout <= 0 {
		return
	}
	c.dl.Lock()
	defer c.dl.Unlock()
	if c.headBy.IsZero() {
		c.headBy = time.Now().Add(c.headTimeout)
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

// checkHead checks a complete request head (ending in CRLF CRLF) against
// RFC 9112 and returns its body's framing.
func checkHead(head []byte) (framing, *edgeError) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 {
		return framing{}, errBareCRLF
	}
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || !isToken(method) || len(target) == 0 {
		return framing{}, errRequestLine
	}
	var http10 bool
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		if bytes.HasPrefix(version, []byte("HTTP/")) {
			return framing{}, errVersion
		}
		return framing{}, errRequestLine
	}
	for _, b := range target {
		if b <= ' ' || b == 0x7f {
			return framing{}, errRequestLine
		}
	}
	if err := checkTarget(method, target); err != nil {
		return framing{}, err
	}
	var h headStats
	if err := checkFields(rest[:len(rest)-2], &h); err != nil {
		return framing{}, err
	}
	switch {
	case h.hosts > 1:
		return framing{}, errTwoHosts
	case h.hosts == 0 && !http10:
		return framing{}, errNoHost
	case h.hosts == 1 && !hostname.Valid(h.host):
		return framing{}, errBadHost
	}
	if h.te > 0 {
		switch {
		case http10:
			return framing{}, errTE10
		case h.cl > 0:
			return framing{}, errCLAndTE
		}
		return framing{chunked: true}, checkCodings(h.codings)
	}
	if h.cl > 1 {
		return framing{}, errTwoCL
	}
	if h.cl == 1 {
		return framing{length: h.length}, h.clErr
	}
	return framing{}, nil
}

// checkTarget accepts origin-form, absolute-form with an http(s) URL and
// an authority, and asterisk-form for OPTIONS (RFC 9112 3.2).
func checkTarget(method, t []byte) *edgeError {
	switch {
	case t[0] == '/':
		return nil
	case len(t) == 1 && t[0] == '*':
		if string(method) == http.MethodOptions {
			return nil
		}
		return errTarget
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
	if bytes.IndexByte(auth, '@') >= 0 || !hostname.Valid(auth) {
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
// message or name its host.
type headStats struct {
	hosts   int
	host    []byte
	cl      int // Content-Length values seen, list elements counted
	length  int64
	clErr   *edgeError
	te      int      // Transfer-Encoding fields
	codings [][]byte // their codings, in order
}

// checkFields checks field lines (each ending in CRLF; the empty line
// excluded) and, when h is not nil, collects Host, Content-Length and
// Transfer-Encoding.
func checkFields(b []byte, h *headStats) *edgeError {
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			return errFieldSyntax
		}
		b = rest
		if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 {
			return errBareCRLF
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) {
			return errFieldSyntax
		}
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return errFieldValue
			}
		}
		if h == nil {
			continue
		}
		value = trimOWS(value)
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			h.hosts++
			h.host = value
		case bytes.EqualFold(name, []byte("Content-Length")):
			for _, v := range bytes.Split(value, []byte(",")) {
				h.cl++
				n, ok := decimal(trimOWS(v))
				if !ok {
					h.clErr = errBadCL
				}
				h.length = n
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.te++
			for _, v := range bytes.Split(value, []byte(",")) {
				h.codings = append(h.codings, trimOWS(v))
			}
		}
	}
	return nil
}

// checkCodings accepts exactly one transfer coding, chunked (RFC 9112
// 6.1): chunked not last, or twice, leaves the body's end unknown (400);
// any other coding is one the gateway does not implement (501).
func checkCodings(codings [][]byte) *edgeError {
	n := len(codings)
	if n == 0 || !bytes.EqualFold(codings[n-1], []byte("chunked")) {
		return errTENotChunked
	}
	for _, c := range codings[:n-1] {
		name, _, _ := bytes.Cut(c, []byte(";"))
		name = trimOWS(name)
		if bytes.EqualFold(name, []byte("chunked")) || !isToken(name) {
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

// isToken reports whether b is an RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

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
	var ne net.Error
	switch {
	case errors.As(err, &ee):
		out := *ee
		out.reason = "edge"
		return out
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		return *refuse(http.StatusRequestHeaderFieldsTooLarge, "head_too_large", "the request head is larger than the read buffer")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return *refuse(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than the gateway accepts")
	case errors.Is(err, fasthttp.ErrTimeout) || errors.As(err, &ne) && ne.Timeout():
		return *refuse(http.StatusRequestTimeout, "timeout", "the request was not received in time")
	}
	return *refuse(http.StatusBadRequest, "malformed", "the request is not valid HTTP/1.1")
}
