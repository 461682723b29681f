package idempotency

import (
	"context"
	"testing"
	"time"
)

// The in-process memory is bounded: past its size the oldest ids go.
func TestEventsAreBounded(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := NewEvents(nil, func() time.Time { return now })
	e.maxLocal = 3
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d"} {
		if v := e.First(ctx, k, ""); v != EventNew {
			t.Fatalf("%s: %v, want new", k, v)
		}
	}
	if len(e.local) != 3 || len(e.ring) != 3 {
		t.Errorf("memory holds %d/%d, want 3", len(e.local), len(e.ring))
	}
	if e.First(ctx, "d", "") != EventReplay || e.First(ctx, "a", "") != EventNew {
		t.Errorf("the newest must be remembered and the oldest forgotten")
	}
}
