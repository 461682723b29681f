package idempotency

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Two replicas share one Redis: a claim on one is seen by the other, and so
// is the stored answer.
func TestIdempotencyStoreReplicasAgreeThroughRedis(t *testing.T) {
	mr := miniredis.RunT(t)
	var redisErrs []error
	onErr := func(err error) { redisErrs = append(redisErrs, err) }
	newReplica := func() *Store {
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return NewStore(time.Hour, time.Minute, 100, rdb, onErr)
	}
	a, b := newReplica(), newReplica()
	ctx := context.Background()
	id := ID("01NET_INST\x00admin\x00link", "k1")
	steps := []struct {
		name  string
		store *Store
		fp    string
		want  State
	}{
		{"first claim on a", a, "fp1", Claimed},
		{"b sees it running", b, "fp1", Busy},
		{"b with another request", b, "fp2", Mismatch},
	}
	var owner string
	for _, s := range steps {
		got, ans := s.store.Claim(ctx, id, s.fp)
		if got != s.want {
			t.Fatalf("%s: state %d, want %d", s.name, got, s.want)
		}
		if got == Claimed {
			owner = ans.Owner
		}
	}
	a.Finish(ctx, id, owner, Answer{Fingerprint: "fp1", Status: 201, Location: "/x", Body: []byte(`{"ok":true}`)})
	got, ans := b.Claim(ctx, id, "fp1")
	if got != Replayed || ans == nil || ans.Status != 201 || ans.Location != "/x" || string(ans.Body) != `{"ok":true}` {
		t.Fatalf("b after a's answer: state %d answer %+v, want the replay", got, ans)
	}
	if ttl := mr.TTL(id); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("stored answer TTL %v, want the idempotency TTL (1h)", ttl)
	}
	// A released key is free on every replica.
	id2 := ID("01NET_INST\x00admin\x00link", "k2")
	got, mine := a.Claim(ctx, id2, "fp")
	if got != Claimed {
		t.Fatal("claim k2")
	}
	a.Release(ctx, id2, mine.Owner)
	if got, _ := b.Claim(ctx, id2, "fp"); got != Claimed {
		t.Errorf("after release b's claim state %d, want claimed", got)
	}
	if len(redisErrs) != 0 {
		t.Errorf("redis errors: %v", redisErrs)
	}
	// Redis down: each replica answers from its own memory, and says so.
	mr.Close()
	id3 := ID("01NET_INST\x00admin\x00link", "k3")
	if got, _ := a.Claim(ctx, id3, "fp"); got != Unsure {
		t.Errorf("with Redis down: state %v, want unsure (claimed in memory; another replica may hold it)", got)
	}
	if got, _ := a.Claim(ctx, id3, "fp"); got != Busy {
		t.Errorf("with Redis down, again: state %d, want busy (in memory)", got)
	}
	if len(redisErrs) == 0 || errors.Is(redisErrs[0], redis.Nil) {
		t.Errorf("redis errors %v, want the outage reported", redisErrs)
	}
}

func TestIdempotencyStoreIsBounded(t *testing.T) {
	st := NewStore(time.Hour, time.Minute, 2, nil, func(error) {})
	ctx := context.Background()
	for i, want := range []State{Claimed, Claimed, Full} {
		if got, _ := st.Claim(ctx, ID("s", string(rune('a'+i))), "fp"); got != want {
			t.Errorf("claim %d: state %d, want %d", i, got, want)
		}
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A claim whose owner died is never freed blindly (issue 21 item 3): it is
// busy while its owner may run, then the next request takes it over once,
// as Reconcile, on whichever replica; an unknown outcome is Reconcile at
// once, never a stored answer. Before, the claim expired after pending and
// the next request got Claimed: a second write.
func TestIdempotencyDeadClaimIsReconciledNotRerun(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[withRedis], func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
			var rdbs []*redis.Client
			if withRedis {
				mr := miniredis.RunT(t)
				for range 2 {
					rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
					t.Cleanup(func() { rdb.Close() })
					rdbs = append(rdbs, rdb)
				}
			} else {
				rdbs = []*redis.Client{nil, nil}
			}
			newStore := func(rdb *redis.Client) *Store {
				st := NewStore(time.Hour, time.Minute, 100, rdb, func(err error) { t.Errorf("redis: %v", err) })
				st.SetClock(clock.Now)
				return st
			}
			a, b := newStore(rdbs[0]), newStore(rdbs[1])
			if !withRedis {
				b = a // one process: its memory is the store
			}
			ctx := context.Background()
			id := ID("s", "dead")
			got, first := a.Claim(ctx, id, "fp")
			if got != Claimed {
				t.Fatalf("first claim %v", got)
			}
			start := clock.Now()
			clock.add(59 * time.Second)
			if got, _ := b.Claim(ctx, id, "fp"); got != Busy {
				t.Errorf("while the owner may run: %v, want busy", got)
			}
			clock.add(2 * time.Second) // the owner surely ended without an answer
			got, prev := b.Claim(ctx, id, "fp")
			if got != Reconcile || !prev.StartedAt().Equal(start) {
				t.Fatalf("after the owner's deadline: %v (started %v), want reconcile started %v", got, prev.StartedAt(), start)
			}
			if got, _ := a.Claim(ctx, id, "fp"); got != Busy {
				t.Errorf("while the reconciling request runs: %v, want busy (taken over once)", got)
			}
			// The reconciling request times out too: unknown, reconciled by
			// the next at once.
			b.Unknown(ctx, id, prev.Owner, prev.StartedAt(), "fp")
			// The first owner, back late, cannot overwrite what its
			// successor left.
			a.Finish(ctx, id, first.Owner, Answer{Fingerprint: "fp", Status: 503})
			got, prev = a.Claim(ctx, id, "fp")
			if got != Reconcile || !prev.StartedAt().Equal(start) {
				t.Errorf("after an unknown outcome: %v (started %v), want reconcile", got, prev.StartedAt())
			}
			if got, _ := b.Claim(ctx, id, "other"); got != Mismatch {
				t.Errorf("another request with the key: %v, want mismatch", got)
			}
			a.Finish(ctx, id, prev.Owner, Answer{Fingerprint: "fp", Status: 201})
			if got, ans := b.Claim(ctx, id, "fp"); got != Replayed || ans.Status != 201 {
				t.Errorf("after the reconciled answer: %v %+v, want replayed 201", got, ans)
			}
		})
	}
}

// Redis restarted empty: its claims are gone, so for one pending period
// every claim is Unsure (a write in flight may have lost its own), on every
// replica that sees it; then claims are sure again.
func TestIdempotencyRedisEmptiedMakesClaimsUnsure(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	st := NewStore(time.Hour, time.Minute, 100, rdb, func(err error) { t.Errorf("redis: %v", err) })
	st.SetClock(clock.Now)
	ctx := context.Background()
	if got, _ := st.Claim(ctx, ID("s", "1"), "fp"); got != Claimed {
		t.Fatalf("first claim: %v", got)
	}
	mr.FlushAll()
	if got, _ := st.Claim(ctx, ID("s", "1"), "fp"); got != Unsure {
		t.Errorf("the same key after Redis lost it: %v, want unsure", got)
	}
	if got, _ := st.Claim(ctx, ID("s", "2"), "fp"); got != Unsure {
		t.Errorf("a new key just after: %v, want unsure", got)
	}
	clock.add(time.Minute)
	if got, _ := st.Claim(ctx, ID("s", "3"), "fp"); got != Claimed {
		t.Errorf("a pending period later: %v, want claimed", got)
	}
}
