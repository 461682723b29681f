package budget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// fakeClock is a clock whose sleeps advance it.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	cancel func() // called on the next sleep, if set
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		return ctx.Err()
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) totalSlept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum time.Duration
	for _, d := range c.slept {
		sum += d
	}
	return sum
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newLocal(clock *fakeClock, perSecond float64, burst int) *Budget {
	return New(Options{PerSecond: perSecond, Burst: burst, MaxWait: time.Hour, Now: clock.Now, Sleep: clock.Sleep, Logger: quietLogger()})
}

func newShared(t *testing.T, mr *miniredis.Miniredis, clock *fakeClock, perSecond float64, burst int) *Budget {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return New(Options{PerSecond: perSecond, Burst: burst, Redis: rdb, MaxWait: time.Hour, Now: clock.Now, Sleep: clock.Sleep, Logger: quietLogger()})
}

const apiKey = "l8xx-secret-api-key-0001"

func TestDefaults(t *testing.T) {
	b := New(Options{})
	if b.perSecond != 20 || b.burst != 5 || b.prefix != "almagw:budget:" || b.timeout != 100*time.Millisecond {
		t.Errorf("defaults = %v/s burst %d prefix %q timeout %v; want 20/s burst 5 almagw:budget: 100ms",
			b.perSecond, b.burst, b.prefix, b.timeout)
	}
}

// TestPacing runs n calls back to back through a Budget alone and through two
// Budgets sharing Redis: the calls take the time the rate demands.
func TestPacing(t *testing.T) {
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		calls     int
		wantSlept time.Duration // (calls - burst) / rate
		wantWaits uint64
	}{
		{"within burst", 20, 5, 5, 0, 0},
		{"one past burst", 20, 5, 6, 50 * time.Millisecond, 1},
		{"a second's worth", 20, 5, 25, time.Second, 20},
		{"slow key", 2, 1, 5, 2 * time.Second, 4},
	}
	for _, tt := range tests {
		for _, mode := range []string{"local", "shared"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				clock := newFakeClock()
				var budgets []*Budget
				if mode == "local" {
					budgets = []*Budget{newLocal(clock, tt.perSecond, tt.burst)}
				} else {
					mr := miniredis.RunT(t)
					budgets = []*Budget{newShared(t, mr, clock, tt.perSecond, tt.burst), newShared(t, mr, clock, tt.perSecond, tt.burst)}
				}
				for i := range tt.calls {
					if err := budgets[i%len(budgets)].Wait(context.Background(), apiKey); err != nil {
						t.Fatalf("Wait %d: %v", i, err)
					}
				}
				if got := clock.totalSlept(); got != tt.wantSlept {
					t.Errorf("slept %v in total, want %v", got, tt.wantSlept)
				}
				var calls, waits uint64
				for _, b := range budgets {
					for _, s := range b.Stats() {
						calls += s.Calls
						waits += s.Waits
					}
					if n := b.RedisErrors(); n != 0 {
						t.Errorf("RedisErrors = %d, want 0", n)
					}
				}
				if calls != uint64(tt.calls) || waits != tt.wantWaits {
					t.Errorf("calls, waits = %d, %d; want %d, %d", calls, waits, tt.calls, tt.wantWaits)
				}
			})
		}
	}
}

// TestSharedBudgetsStayWithinLimit lets two replicas call as fast as their
// Budgets allow, interleaved irregularly, and checks every one-second window
// of the granted calls: at most rate + burst calls (the GCRA bound), where
// two independent local limiters would allow twice that.
func TestSharedBudgetsStayWithinLimit(t *testing.T) {
	const perSecond, burst = 20, 5
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	replicas := []*Budget{newShared(t, mr, clock, perSecond, burst), newShared(t, mr, clock, perSecond, burst)}
	var granted []time.Time
	pattern := []int{0, 0, 1, 0, 1, 1, 1, 0, 1}
	for i := range 300 {
		if i%50 == 0 {
			clock.Advance(3 * time.Second) // a quiet spell refills the burst
		}
		if err := replicas[pattern[i%len(pattern)]].Wait(context.Background(), apiKey); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		granted = append(granted, clock.Now())
	}
	worst := maxInWindow(granted, time.Second)
	t.Logf("shared: at most %d calls in any second", worst)
	if worst > perSecond+burst {
		t.Errorf("%d calls within one second, want at most %d", worst, perSecond+burst)
	}

	// The same traffic through two unshared Budgets would overrun.
	clock = newFakeClock()
	alone := []*Budget{newLocal(clock, perSecond, burst), newLocal(clock, perSecond, burst)}
	granted = granted[:0]
	for i := range 100 {
		if err := alone[i%2].Wait(context.Background(), apiKey); err != nil {
			t.Fatal(err)
		}
		granted = append(granted, clock.Now())
	}
	worst = maxInWindow(granted, time.Second)
	t.Logf("unshared: at most %d calls in any second", worst)
	if worst <= perSecond+burst {
		t.Errorf("unshared budgets allowed only %d calls per second; the test would not catch a broken share", worst)
	}
}

// maxInWindow returns the most timestamps (sorted) within any span shorter
// than w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	worst, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= w {
			lo++
		}
		worst = max(worst, hi-lo+1)
	}
	return worst
}

func TestDeadlineBeforeSlot(t *testing.T) {
	for _, mode := range []string{"local", "shared"} {
		t.Run(mode, func(t *testing.T) {
			clock := newFakeClock()
			b := newLocal(clock, 1, 1)
			if mode == "shared" {
				b = newShared(t, miniredis.RunT(t), clock, 1, 1)
			}
			if err := b.Wait(context.Background(), apiKey); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// The next slot is in 1s: fits a minute's deadline.
			if err := b.Wait(ctx, apiKey); err != nil {
				t.Fatalf("Wait with a minute to spare: %v", err)
			}
			short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel2()
			before := clock.totalSlept()
			err := b.Wait(short, apiKey)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait with 100ms left for a slot 1s away = %v, want context.DeadlineExceeded", err)
			}
			if clock.totalSlept() != before {
				t.Errorf("Wait slept although the slot was past the deadline")
			}
			// The refused call took no slot: the next one is still 1s away.
			if err := b.Wait(context.Background(), apiKey); err != nil {
				t.Fatal(err)
			}
			if got := clock.totalSlept() - before; got != time.Second {
				t.Errorf("next call waited %v, want 1s", got)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, mode := range []string{"local", "shared"} {
		t.Run(mode, func(t *testing.T) {
			clock := newFakeClock()
			var setter, waiter *Budget
			if mode == "local" {
				setter = newLocal(clock, 20, 5)
				waiter = setter
			} else {
				mr := miniredis.RunT(t)
				setter, waiter = newShared(t, mr, clock, 20, 5), newShared(t, mr, clock, 20, 5)
			}
			setter.Backoff(apiKey, 3*time.Second)

			short, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := waiter.Wait(short, apiKey); !errors.Is(err, ErrBackoff) {
				t.Errorf("Wait with 1s left in a 3s backoff = %v, want ErrBackoff", err)
			}
			if got := clock.totalSlept(); got != 0 {
				t.Errorf("a refused Wait slept %v", got)
			}
			if err := waiter.Wait(context.Background(), "another key"); err != nil {
				t.Errorf("another key is not backed off: %v", err)
			}
			if err := waiter.Wait(context.Background(), apiKey); err != nil {
				t.Fatalf("Wait without deadline: %v", err)
			}
			if got := clock.totalSlept(); got != 3*time.Second {
				t.Errorf("Wait slept %v, want the 3s backoff", got)
			}
			// A shorter Retry-After does not cut a longer window short.
			setter.Backoff(apiKey, 10*time.Second)
			setter.Backoff(apiKey, time.Second)
			s := findStats(t, setter, apiKey)
			if want := clock.Now().Add(10 * time.Second); !s.BackoffUntil.Equal(want) || s.Backoffs != 3 {
				t.Errorf("BackoffUntil, Backoffs = %v, %d; want %v, 3", s.BackoffUntil, s.Backoffs, want)
			}
			if s := findStats(t, waiter, apiKey); s.Refused != 1 {
				t.Errorf("Refused = %d, want 1", s.Refused)
			}
		})
	}
}

func TestCancelDuringWaitReturnsSlot(t *testing.T) {
	clock := newFakeClock()
	b := newLocal(clock, 1, 1)
	if err := b.Wait(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	clock.cancel = cancel
	if err := b.Wait(ctx, apiKey); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled while waiting = %v, want context.Canceled", err)
	}
	if err := b.Wait(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	if got := clock.totalSlept(); got != time.Second {
		t.Errorf("the call after a cancelled one waited %v, want 1s (its slot was returned)", got)
	}
	if err := b.Wait(ctx, apiKey); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a done context = %v, want context.Canceled", err)
	}
}

func TestRedisDownFallsBackToLocal(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	b := newShared(t, mr, clock, 20, 5)
	if err := b.Wait(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	mr.Close()
	for i := range 10 {
		if err := b.Wait(context.Background(), apiKey); err != nil {
			t.Fatalf("Wait %d with Redis down: %v", i, err)
		}
	}
	b.Backoff(apiKey, time.Second) // skipped in Redis, kept locally
	if err := b.Wait(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	if n := b.RedisErrors(); n != 1 {
		t.Errorf("RedisErrors = %d, want 1 (then skipped while latched)", n)
	}
	if s := findStats(t, b, apiKey); s.Calls != 12 || s.Backoffs != 1 {
		t.Errorf("Calls, Backoffs = %d, %d; want 12, 1", s.Calls, s.Backoffs)
	}
	// Local pacing kept the rate: 10 calls, burst 5 → 5 × 50ms; then the 1s
	// backoff, after which the burst has refilled.
	if got, want := clock.totalSlept(), 250*time.Millisecond+time.Second; got != want {
		t.Errorf("slept %v, want %v", got, want)
	}
}

func TestKeysNeverAppear(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	b := newShared(t, mr, clock, 20, 5)
	b.Wait(context.Background(), apiKey)
	b.Backoff(apiKey, time.Second)
	b.Remaining(apiKey, 4321)
	for _, k := range mr.Keys() {
		if strings.Contains(k, apiKey) {
			t.Errorf("Redis key %q contains the API key", k)
		}
	}
	stats := b.Stats()
	if len(stats) != 1 {
		t.Fatalf("Stats has %d keys, want 1", len(stats))
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(stats[0].ID) || stats[0].ID != ID(apiKey) {
		t.Errorf("ID = %q, want 12 hex digits of the key's SHA-256 (%q)", stats[0].ID, ID(apiKey))
	}
	want := KeyStats{ID: ID(apiKey), Calls: 1, Backoffs: 1, Remaining: 4321, BackoffUntil: clock.Now().Add(time.Second)}
	if diff := cmp.Diff(want, stats[0]); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestStatsSortedAndUnknownRemaining(t *testing.T) {
	b := newLocal(newFakeClock(), 20, 5)
	for _, k := range []string{"c", "a", "b"} {
		b.Wait(context.Background(), k)
	}
	stats := b.Stats()
	for i, s := range stats {
		if s.Remaining != -1 {
			t.Errorf("Remaining of %s = %d, want -1 (unknown)", s.ID, s.Remaining)
		}
		if i > 0 && stats[i-1].ID >= s.ID {
			t.Errorf("Stats not sorted by ID: %q before %q", stats[i-1].ID, s.ID)
		}
	}
}

func TestConcurrentWaitsLocal(t *testing.T) {
	clock := newFakeClock()
	b := newLocal(clock, 20, 5)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := b.Wait(context.Background(), apiKey); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s := findStats(t, b, apiKey); s.Calls != 50 {
		t.Errorf("Calls = %d, want 50", s.Calls)
	}
}

func findStats(t *testing.T, b *Budget, key string) KeyStats {
	t.Helper()
	for _, s := range b.Stats() {
		if s.ID == ID(key) {
			return s
		}
	}
	t.Fatalf("no stats for key %s", ID(key))
	return KeyStats{}
}

func ExampleBudget_Wait() {
	b := New(Options{PerSecond: 20, Burst: 5})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Wait(ctx, "the-nz-api-key"); err != nil {
		// ErrBackoff: serve stale; a deadline error: the budget is exhausted
		// for this request.
		return
	}
	// … call Alma; on 429: b.Backoff("the-nz-api-key", retryAfter)
	b.Remaining("the-nz-api-key", 49999)
	s := b.Stats()[0]
	fmt.Println(s.ID, s.Calls, s.Remaining)
	// Output: 22c9f9b57df8 1 49999
}

func TestGarbageInRedisIsHarmless(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	b := newShared(t, mr, clock, 20, 5)
	mr.Set("almagw:budget:rate:"+ID(apiKey), "not a number")
	mr.Set("almagw:budget:backoff:"+ID(apiKey), "{}")
	for i := range 6 {
		if err := b.Wait(context.Background(), apiKey); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
	}
	if got := clock.totalSlept(); got != 50*time.Millisecond {
		t.Errorf("slept %v, want 50ms (the garbage read as an empty schedule)", got)
	}
	if n := b.RedisErrors(); n != 0 {
		t.Errorf("RedisErrors = %d, want 0", n)
	}
}
