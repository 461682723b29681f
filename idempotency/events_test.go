package idempotency

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
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

// failFirstSetNX is a go-redis hook that fails its client's first SET NX (go-redis sends SETNX with an expiry as SET … NX)
// before it reaches Redis, as a loaded Redis's timeout does.
type failFirstSetNX struct{ failed atomic.Bool }

func (h *failFirstSetNX) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *failFirstSetNX) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *failFirstSetNX) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if (cmd.Name() == "setnx" || cmd.Name() == "set") && h.failed.CompareAndSwap(false, true) {
			cmd.SetErr(errors.New("i/o timeout"))
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

// TestEventTakenOnceThroughARedisHiccup: one replica's claim fails once
// before reaching Redis; it asks again instead of deciding alone, so the
// other replica sees the claim and the event is taken once (before: the
// first replica took it from its own memory and the second from Redis).
func TestEventTakenOnceThroughARedisHiccup(t *testing.T) {
	mr := miniredis.RunT(t)
	ra := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	ra.AddHook(&failFirstSetNX{})
	rb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { ra.Close(); rb.Close() })
	now := func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) }
	a, b := NewEvents(ra, now), NewEvents(rb, now)
	key := EventKey("evt-1", nil)
	if v := a.First(context.Background(), key, ""); v != EventNew {
		t.Fatalf("replica a: %v, want new", v)
	}
	if v := b.First(context.Background(), key, ""); v != EventReplay {
		t.Errorf("replica b after a took it through a failed first claim: %v, want replay", v)
	}
	if v := a.First(context.Background(), key, ""); v != EventReplay {
		t.Errorf("replica a again: %v, want replay", v)
	}
}
