package gateway

import (
	"context"
	"sync"
	"time"
)

// waitContext is how long a client waits for an answer. Fiber does not
// cancel a handler when its client goes away, so this deadline is the
// bound. Most answers are cache hits that never look at the context, so the
// timer behind Done is made only when something first waits on it (a miss):
// a hit costs no timer (BENCHMARKS.md, target 2's profile).
type waitContext struct {
	deadline time.Time

	once   sync.Once
	ctx    context.Context // made by once
	cancel context.CancelFunc
}

func newWaitContext(d time.Duration) *waitContext {
	return &waitContext{deadline: time.Now().Add(d)}
}

func (w *waitContext) inner() context.Context {
	w.once.Do(func() { w.ctx, w.cancel = context.WithDeadline(context.Background(), w.deadline) })
	return w.ctx
}

func (w *waitContext) Deadline() (time.Time, bool) { return w.deadline, true }
func (w *waitContext) Done() <-chan struct{}       { return w.inner().Done() }
func (w *waitContext) Err() error                  { return w.inner().Err() }
func (w *waitContext) Value(any) any               { return nil }

// release frees the timer, if one was made.
func (w *waitContext) release() {
	w.once.Do(func() {}) // nothing was made: make nothing now
	if w.cancel != nil {
		w.cancel()
	}
}
