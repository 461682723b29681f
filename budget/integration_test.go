//go:build integration

package budget

// These tests run the budget's Lua scripts on a real redis-server
// (apt-get install -y redis-server):
//
//	go test -tags integration -run Integration ./budget/
//
// They fail, not skip, when redis-server is missing.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/almanet/gateway/internal/testtool"
)

// startRedisServer starts a real redis-server (see testtool.RedisServer)
// and returns a client for it.
func startRedisServer(t *testing.T) *redis.Client {
	t.Helper()
	addr, _ := testtool.RedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIntegrationSharedBudget(t *testing.T) {
	const perSecond, burst = 20, 5
	rdb := startRedisServer(t)
	clock := newFakeClock()
	newB := func() *Budget {
		return New(Options{PerSecond: perSecond, Burst: burst, Redis: rdb, MaxWait: time.Hour, Now: clock.Now, Sleep: clock.Sleep, Logger: quietLogger()})
	}
	replicas := []*Budget{newB(), newB()}
	var granted []time.Time
	for i := range 200 {
		if i%40 == 0 {
			clock.Advance(3 * time.Second)
		}
		if err := replicas[(i/3)%2].Wait(context.Background(), apiKey); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		granted = append(granted, clock.Now())
	}
	if worst := maxInWindow(granted, time.Second); worst > perSecond+burst {
		t.Errorf("%d calls within one second, want at most %d", worst, perSecond+burst)
	}

	replicas[0].Backoff(apiKey, 2*time.Second)
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := replicas[1].Wait(short, apiKey); !errors.Is(err, ErrBackoff) {
		t.Errorf("the other replica's Wait inside a shared backoff = %v, want ErrBackoff", err)
	}
	for _, b := range replicas {
		if n := b.RedisErrors(); n != 0 {
			t.Errorf("RedisErrors = %d, want 0", n)
		}
	}
}

// TestIntegrationOneWaitRule is TestOneWaitRuleAloneAndShared's shared
// case on a real redis-server: the same bounded wait, then the same
// refusal, as the local budget.
func TestIntegrationOneWaitRule(t *testing.T) {
	rdb := startRedisServer(t)
	var slept []time.Duration
	b := New(Options{PerSecond: 10, Burst: 1, MaxWait: 250 * time.Millisecond, Redis: rdb, Now: newFakeClock().Now, Logger: quietLogger(),
		Sleep: func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return ctx.Err() }})
	got := waitOutcomes(t, b, &slept)
	want := []string{"now", "after 100ms", "after 200ms", "refused, next slot in 300ms", "refused, next slot in 300ms", "refused, next slot in 300ms"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("outcomes %q, want %q", got, want)
		}
	}
	if b.RedisErrors() != 0 {
		t.Errorf("%d Redis errors: the shared path was not the one tested", b.RedisErrors())
	}
}
