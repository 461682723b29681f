package gateway

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitContext(t *testing.T) {
	w := newWaitContext(20 * time.Millisecond)
	if dl, ok := w.Deadline(); !ok || time.Until(dl) > 20*time.Millisecond {
		t.Errorf("deadline %v %v", dl, ok)
	}
	if w.Err() != nil {
		t.Errorf("Err before the deadline = %v", w.Err())
	}
	<-w.Done() // ends by itself at the deadline
	if !errors.Is(w.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline = %v", w.Err())
	}
	w.release()

	unused := newWaitContext(time.Hour)
	unused.release() // a hit: no timer was ever made
	if unused.ctx != nil {
		t.Errorf("release made a timer")
	}
	// A derived context sees the deadline.
	used := newWaitContext(time.Hour)
	child, cancel := context.WithCancel(used)
	cancel()
	if child.Err() == nil {
		t.Errorf("child not cancelled")
	}
	used.release()
	if used.Err() == nil {
		t.Errorf("released context still live")
	}
}
