package gateway

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
	newReplica := func() *idemStore {
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return newIdemStore(time.Hour, time.Minute, 100, rdb, onErr)
	}
	a, b := newReplica(), newReplica()
	ctx := context.Background()
	id := idemID("01NET_INST\x00admin\x00link", "k1")
	steps := []struct {
		name  string
		store *idemStore
		fp    string
		want  idemState
	}{
		{"first claim on a", a, "fp1", idemClaimed},
		{"b sees it running", b, "fp1", idemBusy},
		{"b with another request", b, "fp2", idemMismatch},
	}
	for _, s := range steps {
		if got, _ := s.store.claim(ctx, id, s.fp); got != s.want {
			t.Fatalf("%s: state %d, want %d", s.name, got, s.want)
		}
	}
	a.finish(ctx, id, idemAnswer{Fingerprint: "fp1", Status: 201, Location: "/x", Body: []byte(`{"ok":true}`)})
	got, ans := b.claim(ctx, id, "fp1")
	if got != idemReplay || ans == nil || ans.Status != 201 || ans.Location != "/x" || string(ans.Body) != `{"ok":true}` {
		t.Fatalf("b after a's answer: state %d answer %+v, want the replay", got, ans)
	}
	if ttl := mr.TTL(id); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("stored answer TTL %v, want the idempotency TTL (1h)", ttl)
	}
	// A released key is free on every replica.
	id2 := idemID("01NET_INST\x00admin\x00link", "k2")
	if got, _ := a.claim(ctx, id2, "fp"); got != idemClaimed {
		t.Fatal("claim k2")
	}
	a.release(ctx, id2)
	if got, _ := b.claim(ctx, id2, "fp"); got != idemClaimed {
		t.Errorf("after release b's claim state %d, want claimed", got)
	}
	if len(redisErrs) != 0 {
		t.Errorf("redis errors: %v", redisErrs)
	}
	// Redis down: each replica answers from its own memory, and says so.
	mr.Close()
	id3 := idemID("01NET_INST\x00admin\x00link", "k3")
	if got, _ := a.claim(ctx, id3, "fp"); got != idemClaimed {
		t.Errorf("with Redis down: state %d, want claimed in memory", got)
	}
	if got, _ := a.claim(ctx, id3, "fp"); got != idemBusy {
		t.Errorf("with Redis down, again: state %d, want busy (in memory)", got)
	}
	if len(redisErrs) == 0 || errors.Is(redisErrs[0], redis.Nil) {
		t.Errorf("redis errors %v, want the outage reported", redisErrs)
	}
}

func TestIdempotencyStoreIsBounded(t *testing.T) {
	st := newIdemStore(time.Hour, time.Minute, 2, nil, func(error) {})
	ctx := context.Background()
	for i, want := range []idemState{idemClaimed, idemClaimed, idemFull} {
		if got, _ := st.claim(ctx, idemID("s", string(rune('a'+i))), "fp"); got != want {
			t.Errorf("claim %d: state %d, want %d", i, got, want)
		}
	}
}
