package gateway

// The drain (SPEC 5, issue 21 item 8). When Serve's context ends (SIGTERM),
// the gateway stops accepting and answers every request that reached it
// before: in flight, pipelined behind one, or already in the socket of a
// keep-alive connection that was idle. Each connection's last answer
// carries Connection: close, after which the connection ends; a
// connection with nothing to answer is closed at once. fasthttp's own
// Shutdown could not be used: it drops a keep-alive connection's next
// request and closes idle connections without looking at what they hold.
//
// The decision to end a connection is always made on its serving
// goroutine, so that no byte that arrived before it is lost: the drain
// only sets a past read deadline on every connection; a read it ends
// looks at the socket (a peek that does not consume) and either goes on
// reading what is there or ends the connection with EOF. Inside a message
// (a head or a body arriving) the connection's own deadlines apply.

import (
	"errors"
	"io"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// past is the read deadline the drain sets: any read ends at once.
var past = time.Unix(1, 0)

// drain stops accepting and waits for the open connections to end, at
// most timeout; it returns how many were still open then. Those are left
// to end on their own (a request in flight is answered at its own
// deadline), unless the process exits first.
func (l *edgeListener) drain(timeout time.Duration) (left int) {
	l.draining.Store(true)
	_ = l.Listener.Close()
	l.mu.Lock()
	for c := range l.conns {
		c.wake()
	}
	l.mu.Unlock()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for l.s.edge.open.Load() > 0 {
		if !time.Now().Before(deadline) {
			return int(l.s.edge.open.Load())
		}
		<-tick.C
	}
	return 0
}

// draining reports that the gateway is draining.
func (c *edgeConn) draining() bool { return c.ln.draining.Load() }

// wake ends the connection's current read, so that it looks at what it
// holds (called by the drain, on another goroutine).
func (c *edgeConn) wake() {
	c.dl.Lock()
	defer c.dl.Unlock()
	_ = c.Conn.SetReadDeadline(past)
}

// between reports that the stream is between messages with nothing held
// back: where a connection may end without losing a request.
func (c *edgeConn) between() bool { return c.f.st == stHead && len(c.buf) == 0 }

// drainWoken handles a read error while draining: a read the drain ended
// between messages goes on when a request is already in the socket and
// ends with EOF when none is; inside a message the connection's own
// deadlines apply again. It reports that the read should be retried.
func (c *edgeConn) drainWoken() bool {
	if !c.draining() || !errors.Is(c.rerr, os.ErrDeadlineExceeded) {
		return false
	}
	c.dl.Lock()
	defer c.dl.Unlock()
	if c.between() {
		if !socketPending(c.Conn) {
			c.rerr = io.EOF
			return false
		}
	} else if d := c.deadline(); !d.IsZero() && !time.Now().Before(d) {
		return false // the connection's own deadline passed
	}
	_ = c.Conn.SetReadDeadline(c.deadline())
	c.rerr = nil
	return true
}

// morePending reports that the connection holds a request not answered
// yet: a head given to fasthttp and not handled, bytes held back, or
// bytes in the socket (called on the serving goroutine).
func (c *edgeConn) morePending() bool {
	return c.heads > c.handled || !c.between() || socketPending(c.Conn)
}

// drainAnswer marks an answer made while draining as the connection's
// last, unless another request is already there to be answered.
func drainAnswer(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(*edgeConn); ok && c.morePending() {
		return
	}
	ctx.Response.SetConnectionClose()
}

// countHandled counts a request the handler takes, for morePending.
func countHandled(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(*edgeConn); ok {
		c.handled++
	}
}
