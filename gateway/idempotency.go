package gateway

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

// idemState is what claim found.
type idemState int

const (
	idemClaimed  idemState = iota // the key is this request's: call Alma, then finish or release
	idemReplay                    // a stored answer for the same request
	idemBusy                      // the same key is running now
	idemMismatch                  // the key was used for another request
	idemFull                      // the in-process store is full
)

// idemAnswer is a stored answer.
type idemAnswer struct {
	Fingerprint string `json:"fp"`
	Done        bool   `json:"done"`
	Status      int    `json:"status,omitempty"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

type idemEntry struct {
	idemAnswer
	expires time.Time
}

type idemStore struct {
	ttl     time.Duration
	pending time.Duration // how long a claim lives without an answer
	max     int
	rdb     *redis.Client // nil: in-process only
	onRedis func(err error)

	mu sync.Mutex // guards m
	m  map[string]*idemEntry
}

func newIdemStore(ttl, pending time.Duration, max int, rdb *redis.Client, onRedis func(error)) *idemStore {
	return &idemStore{ttl: ttl, pending: pending, max: max, rdb: rdb, onRedis: onRedis, m: map[string]*idemEntry{}}
}

// idemID is the store's key for a client's key: hashed, so that a client's
// bytes never become a Redis key as they are.
func idemID(scope, key string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + key))
	return "almagw:idem:" + hex.EncodeToString(h[:])
}

// fingerprint hashes what makes two requests the same.
func fingerprint(parts ...[]byte) string {
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

// claim looks the key up and claims it when it is free.
func (st *idemStore) claim(ctx context.Context, id, fp string) (idemState, *idemAnswer) {
	if st.rdb != nil {
		state, a, err := st.claimRedis(ctx, id, fp)
		if err == nil {
			return state, a
		}
		st.onRedis(err)
	}
	return st.claimLocal(id, fp)
}

func judge(a *idemAnswer, fp string) idemState {
	switch {
	case a.Fingerprint != fp:
		return idemMismatch
	case !a.Done:
		return idemBusy
	}
	return idemReplay
}

func (st *idemStore) claimLocal(id, fp string) (idemState, *idemAnswer) {
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.m[id]; ok && now.Before(e.expires) {
		a := e.idemAnswer
		return judge(&a, fp), &a
	}
	if len(st.m) >= st.max {
		for k, e := range st.m {
			if !now.Before(e.expires) {
				delete(st.m, k)
			}
		}
		if len(st.m) >= st.max {
			return idemFull, nil
		}
	}
	st.m[id] = &idemEntry{idemAnswer: idemAnswer{Fingerprint: fp}, expires: now.Add(st.pending)}
	return idemClaimed, nil
}

func (st *idemStore) claimRedis(ctx context.Context, id, fp string) (idemState, *idemAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pending, _ := json.Marshal(idemAnswer{Fingerprint: fp})
	ok, err := st.rdb.SetNX(ctx, id, pending, st.pending).Result()
	if err != nil {
		return 0, nil, err
	}
	if ok {
		return idemClaimed, nil, nil
	}
	raw, err := st.rdb.Get(ctx, id).Bytes()
	if errors.Is(err, redis.Nil) {
		// Expired between the two calls: try once more.
		ok, err = st.rdb.SetNX(ctx, id, pending, st.pending).Result()
		if err != nil {
			return 0, nil, err
		}
		if ok {
			return idemClaimed, nil, nil
		}
		raw, err = st.rdb.Get(ctx, id).Bytes()
	}
	if err != nil {
		return 0, nil, err
	}
	var a idemAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, nil, err
	}
	return judge(&a, fp), &a, nil
}

// finish stores the answer under a claimed key.
func (st *idemStore) finish(ctx context.Context, id string, a idemAnswer) {
	a.Done = true
	st.mu.Lock()
	st.m[id] = &idemEntry{idemAnswer: a, expires: time.Now().Add(st.ttl)}
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

// release frees a claimed key (Alma did nothing: the client may retry).
func (st *idemStore) release(ctx context.Context, id string) {
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
