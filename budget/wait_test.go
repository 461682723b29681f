package budget

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// waitOutcomes runs six callers arriving at one instant (their sleeps do
// not move the clock) against b and returns, for each, how long it was
// told to wait or why it was refused.
func waitOutcomes(t *testing.T, b *Budget, slept *[]time.Duration) []string {
	t.Helper()
	var out []string
	for range 6 {
		before := len(*slept)
		err := b.Wait(context.Background(), apiKey)
		var se *SlotError
		switch {
		case err == nil && len(*slept) == before:
			out = append(out, "now")
		case err == nil:
			out = append(out, "after "+(*slept)[before].String())
		case errors.As(err, &se) && errors.Is(err, ErrNoSlot):
			out = append(out, "refused, next slot in "+se.Wait.String())
		default:
			out = append(out, "error "+err.Error())
		}
	}
	return out
}

// TestOneWaitRuleAloneAndShared: the local and the Redis-shared budget
// follow one rule: a call waits for its slot up to MaxWait, and one whose
// slot is further away is refused at once, nothing reserved, with the time
// to the next slot (the gateway's Retry-After). Before, the shared budget
// queued such calls for up to half their deadline.
func TestOneWaitRuleAloneAndShared(t *testing.T) {
	want := []string{"now", "after 100ms", "after 200ms", "refused, next slot in 300ms", "refused, next slot in 300ms", "refused, next slot in 300ms"}
	for _, mode := range []string{"local", "shared"} {
		t.Run(mode, func(t *testing.T) {
			clock := newFakeClock()
			var slept []time.Duration
			opt := Options{PerSecond: 10, Burst: 1, MaxWait: 250 * time.Millisecond, Now: clock.Now, Logger: quietLogger(),
				Sleep: func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return ctx.Err() }}
			if mode == "shared" {
				rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr(), DisableIdentity: true, MaxRetries: -1})
				t.Cleanup(func() { rdb.Close() })
				opt.Redis = rdb
			}
			b := New(opt)
			// A deadline far away: the bound, not the deadline, refuses.
			got := waitOutcomes(t, b, &slept)
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("outcomes (-got +want):\n%s", diff)
			}
			if st := b.Stats(); len(st) != 1 || st[0].Refused != 3 || st[0].Calls != 3 {
				t.Errorf("stats %+v, want 3 calls and 3 refused", st)
			}
		})
	}
}

func TestDefaultMaxWait(t *testing.T) {
	if got := New(Options{}).maxWait; got != 250*time.Millisecond {
		t.Errorf("default MaxWait %v, want 250ms", got)
	}
}
