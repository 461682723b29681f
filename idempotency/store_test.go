package idempotency

import (
	"context"
	"errors"
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
	for _, s := range steps {
		if got, _ := s.store.Claim(ctx, id, s.fp); got != s.want {
			t.Fatalf("%s: state %d, want %d", s.name, got, s.want)
		}
	}
	a.Finish(ctx, id, Answer{Fingerprint: "fp1", Status: 201, Location: "/x", Body: []byte(`{"ok":true}`)})
	got, ans := b.Claim(ctx, id, "fp1")
	if got != Replayed || ans == nil || ans.Status != 201 || ans.Location != "/x" || string(ans.Body) != `{"ok":true}` {
		t.Fatalf("b after a's answer: state %d answer %+v, want the replay", got, ans)
	}
	if ttl := mr.TTL(id); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("stored answer TTL %v, want the idempotency TTL (1h)", ttl)
	}
	// A released key is free on every replica.
	id2 := ID("01NET_INST\x00admin\x00link", "k2")
	if got, _ := a.Claim(ctx, id2, "fp"); got != Claimed {
		t.Fatal("claim k2")
	}
	a.Release(ctx, id2)
	if got, _ := b.Claim(ctx, id2, "fp"); got != Claimed {
		t.Errorf("after release b's claim state %d, want claimed", got)
	}
	if len(redisErrs) != 0 {
		t.Errorf("redis errors: %v", redisErrs)
	}
	// Redis down: each replica answers from its own memory, and says so.
	mr.Close()
	id3 := ID("01NET_INST\x00admin\x00link", "k3")
	if got, _ := a.Claim(ctx, id3, "fp"); got != Claimed {
		t.Errorf("with Redis down: state %d, want claimed in memory", got)
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
