package upstream

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// This file bounds the memory upstream answers can take (SPEC 16
// upstream.max_inflight_bytes; issue 21 item 2). A target that announced
// 32 MiB and then trickled used to make each call reserve the announced
// length before reading: 100 such federated searches took 2.69 GiB. Now a
// body costs only the bytes it has really sent, and those bytes are counted
// against one bound shared by every upstream GET (the NZ and member SRU
// endpoints, federation targets, the REST API): a piece is taken from the
// bound before each read and the whole is given back when the caller closes
// the body (the sru client closes it after parsing). A trickling body holds
// only what it has sent, and is cut at its call's deadline (guard.do) like
// any other read.
//
// A body that holds nothing yet waits for room (until its deadline); one
// that already holds bytes and finds no room fails at once, so that bodies
// never wait for one another while each holds a part (which could only end
// at their deadlines). The refusal is the gateway pacing itself: the client
// gets 503 with Retry-After and the breaker does not count it.

// gatePiece is the most one read takes from the bound at a time.
const gatePiece = 64 << 10

// ErrInflightBytes is a body refused more room under the bound.
var ErrInflightBytes = errors.New("the gateway holds its limit of upstream answer bytes (upstream.max_inflight_bytes)")

// ByteGate is the bound on upstream body bytes held at once.
type ByteGate struct {
	limit int64 // <= 0: no bound (bytes are still counted)

	mu   sync.Mutex // guards used, peak and wake
	used int64
	peak int64
	wake chan struct{} // closed and replaced when bytes are given back

	refused atomic.Int64 // bodies refused room
}

// NewByteGate bounds the bytes held at once to limit (<= 0: no bound).
func NewByteGate(limit int64) *ByteGate {
	return &ByteGate{limit: limit, wake: make(chan struct{})}
}

// tryTake takes n bytes when they fit under the bound.
func (g *ByteGate) tryTake(n int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.limit > 0 && g.used+n > g.limit {
		return false
	}
	g.used += n
	g.peak = max(g.peak, g.used)
	return true
}

// take waits until n bytes fit or ctx ends.
func (g *ByteGate) take(ctx context.Context, n int64) error {
	for {
		g.mu.Lock()
		if g.limit <= 0 || g.used+n <= g.limit {
			g.used += n
			g.peak = max(g.peak, g.used)
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ErrInflightBytes
		}
	}
}

// give returns n bytes.
func (g *ByteGate) give(n int64) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	g.used -= n
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// InUse is the bytes held now; HighWater the most held at once.
func (g *ByteGate) InUse() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.used
}

func (g *ByteGate) HighWater() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

// gatedBody is a response body whose bytes count against a ByteGate until
// it is closed.
type gatedBody struct {
	body io.ReadCloser
	gate *ByteGate
	ctx  context.Context

	mu     sync.Mutex // guards held and closed
	held   int64
	closed bool
}

func (b *ByteGate) wrap(ctx context.Context, body io.ReadCloser) io.ReadCloser {
	return &gatedBody{body: body, gate: b, ctx: ctx}
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return b.body.Read(p)
	}
	if len(p) > gatePiece {
		p = p[:gatePiece]
	}
	want := int64(len(p))
	b.mu.Lock()
	holding, closed := b.held > 0, b.closed
	b.mu.Unlock()
	if closed {
		return 0, errors.New("read on a closed body")
	}
	if holding {
		if !b.gate.tryTake(want) {
			b.gate.refused.Add(1)
			return 0, ErrInflightBytes
		}
	} else if err := b.gate.take(b.ctx, want); err != nil {
		b.gate.refused.Add(1)
		return 0, err
	}
	n, err := b.body.Read(p)
	b.gate.give(want - int64(n))
	b.mu.Lock()
	if b.closed {
		b.gate.give(int64(n)) // closed while reading: Close gave back only what it saw
	} else {
		b.held += int64(n)
	}
	b.mu.Unlock()
	return n, err
}

func (b *gatedBody) Close() error {
	b.mu.Lock()
	held := b.held
	b.held, b.closed = 0, true
	b.mu.Unlock()
	b.gate.give(held)
	return b.body.Close()
}

// Refused is how many bodies were refused room.
func (g *ByteGate) Refused() int64 { return g.refused.Load() }
