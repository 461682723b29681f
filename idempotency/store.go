// Package idempotency takes each write and each webhook event once (SPEC
// 12): the Idempotency-Key store of the write endpoints (Store) and the
// memory of Alma's webhook events (Events). Both keep their records in Redis
// when it is configured, so that replicas agree, and fall back to a bounded
// in-process memory while Redis fails.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the Idempotency-Key store of the write endpoints (SPEC 12).
//
// A write's key is scoped by the institution and the staff member, so two
// staff tools cannot collide, and is kept with a fingerprint of the request
// (method, path, query, body). The first request with a key claims it
// (state pending) before Alma is called; when the answer is known it is
// stored with the key for WritesConfig.IdempotencyTTL. Then:
//   - the same key and the same request again gets the stored answer, with
//     no Alma call (header Idempotent-Replayed: true);
//   - the same key with a different request is 422;
//   - the same key while the first request still runs is 409 with
//     Retry-After: 1 (the gateway does not hold the second request open: a
//     write may take Alma seconds, and a waiting client would only time out
//     and retry into the same answer);
//   - an answer where Alma surely did nothing (its breaker open, the call
//     budget refusing, Alma unreachable) is not stored: the key is released
//     so that the client may retry with it.
//
// With REDIS_URL the claims and answers live in Redis (SET NX, then SET with
// the TTL), so that replicas agree; while Redis fails, the in-process store
// answers (replicas may then disagree, which the log says).

// State is what Claim found.
type State int

const (
	Claimed  State = iota // the key is this request's: call Alma, then finish or release
	Replayed              // a stored answer for the same request
	Busy                  // the same key is running now
	Mismatch              // the key was used for another request
	Full                  // the in-process store is full
)

// Answer is a stored answer.
type Answer struct {
	Fingerprint string `json:"fp"`
	Done        bool   `json:"done"`
	Status      int    `json:"status,omitempty"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

type entry struct {
	Answer
	expires time.Time
}

// Store is the Idempotency-Key store (see the comment above).
type Store struct {
	ttl     time.Duration
	pending time.Duration // how long a claim lives without an answer
	max     int
	rdb     *redis.Client // nil: in-process only
	onRedis func(err error)

	mu sync.Mutex // guards m
	m  map[string]*entry
}

// NewStore keeps answers for ttl and unanswered claims for pending, at
// most max in process; rdb nil: in process only. onRedis hears Redis's
// failures.
func NewStore(ttl, pending time.Duration, max int, rdb *redis.Client, onRedis func(error)) *Store {
	return &Store{ttl: ttl, pending: pending, max: max, rdb: rdb, onRedis: onRedis, m: map[string]*entry{}}
}

// ID is the store's key for a client's key: hashed, so that a client's
// bytes never become a Redis key as they are.
func ID(scope, key string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + key))
	return "almagw:idem:" + hex.EncodeToString(h[:])
}

// Fingerprint hashes what makes two requests the same.
func Fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		l := len(p)
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Claim looks the key up and claims it when it is free.
func (st *Store) Claim(ctx context.Context, id, fp string) (State, *Answer) {
	if st.rdb != nil {
		state, a, err := st.claimRedis(ctx, id, fp)
		if err == nil {
			return state, a
		}
		st.onRedis(err)
	}
	return st.claimLocal(id, fp)
}

func judge(a *Answer, fp string) State {
	switch {
	case a.Fingerprint != fp:
		return Mismatch
	case !a.Done:
		return Busy
	}
	return Replayed
}

func (st *Store) claimLocal(id, fp string) (State, *Answer) {
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.m[id]; ok && now.Before(e.expires) {
		a := e.Answer
		return judge(&a, fp), &a
	}
	if len(st.m) >= st.max {
		for k, e := range st.m {
			if !now.Before(e.expires) {
				delete(st.m, k)
			}
		}
		if len(st.m) >= st.max {
			return Full, nil
		}
	}
	st.m[id] = &entry{Answer: Answer{Fingerprint: fp}, expires: now.Add(st.pending)}
	return Claimed, nil
}

func (st *Store) claimRedis(ctx context.Context, id, fp string) (State, *Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pending, _ := json.Marshal(Answer{Fingerprint: fp})
	ok, err := st.rdb.SetNX(ctx, id, pending, st.pending).Result()
	if err != nil {
		return 0, nil, err
	}
	if ok {
		return Claimed, nil, nil
	}
	raw, err := st.rdb.Get(ctx, id).Bytes()
	if errors.Is(err, redis.Nil) {
		// Expired between the two calls: try once more.
		ok, err = st.rdb.SetNX(ctx, id, pending, st.pending).Result()
		if err != nil {
			return 0, nil, err
		}
		if ok {
			return Claimed, nil, nil
		}
		raw, err = st.rdb.Get(ctx, id).Bytes()
	}
	if err != nil {
		return 0, nil, err
	}
	var a Answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, nil, err
	}
	return judge(&a, fp), &a, nil
}

// Finish stores the answer under a claimed key.
func (st *Store) Finish(ctx context.Context, id string, a Answer) {
	a.Done = true
	st.mu.Lock()
	st.m[id] = &entry{Answer: a, expires: time.Now().Add(st.ttl)}
	st.mu.Unlock()
	if st.rdb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		raw, _ := json.Marshal(a)
		if err := st.rdb.Set(ctx, id, raw, st.ttl).Err(); err != nil {
			st.onRedis(err)
		}
	}
}

// Release frees a claimed key (Alma did nothing: the client may retry).
func (st *Store) Release(ctx context.Context, id string) {
	st.mu.Lock()
	delete(st.m, id)
	st.mu.Unlock()
	if st.rdb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := st.rdb.Del(ctx, id).Err(); err != nil {
			st.onRedis(err)
		}
	}
}
