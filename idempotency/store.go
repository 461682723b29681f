// Package idempotency takes each write and each webhook event once (SPEC
// 12): the Idempotency-Key store of the write endpoints (Store) and the
// memory of Alma's webhook events (Events). Both keep their records in Redis
// when it is configured, so that replicas agree, and fall back to a bounded
// in-process memory while Redis fails.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the Idempotency-Key store of the write endpoints (SPEC 12,
// 16).
//
// A write's key is scoped by the institution and the staff member, so two
// staff tools cannot collide, and is kept with a fingerprint of the request
// (method, path, query, body). The first request with a key claims it
// (state pending, with the time by which its owner has surely ended: Until)
// before Alma is called; when the answer is known it is stored with the key
// for WritesConfig.IdempotencyTTL. Then:
//   - the same key and the same request again gets the stored answer, with
//     no Alma call (header Idempotent-Replayed: true);
//   - the same key with a different request is 422;
//   - the same key while the first request still runs is 409 with
//     Retry-After: 1 (the gateway does not hold the second request open);
//   - an answer where Alma surely did nothing (its breaker open, the call
//     budget refusing, Alma unreachable) is not stored: the key is released
//     so that the client may retry with it;
//   - an outcome nobody knows is never stored as an answer (issue 21 item
//     3): a claim whose owner died (its Until passed: the process was killed,
//     the replica lost) or whose owner marked it Unknown (Alma did not answer
//     in time) is taken over by the next request with the key, which gets
//     Reconcile: it must look in Alma for the write's effect before it
//     writes, and write only when Alma shows none. A pending claim lives as
//     long as an answer (the TTL), so that a dead claim is never freed by
//     its expiry alone.
//
// With REDIS_URL the claims and answers live in Redis (a Lua script claims,
// another takes a dead claim over only if it is unchanged), so that replicas
// agree; while Redis fails, the in-process store answers. A claim the store
// cannot vouch for is Unsure: Redis is down (another replica may hold the
// key in its own memory), or Redis lost its keys within the last pending
// period (a restart without persistence: a write in flight then may have
// lost its claim). The store sees the loss through an epoch key it keeps in
// Redis: when the key is gone or changed, Redis was emptied. An Unsure
// request must reconcile as a Reconcile one does, or refuse.

// State is what Claim found.
type State int

const (
	Claimed   State = iota // the key is this request's: call Alma, then finish or release
	Replayed               // a stored answer for the same request
	Busy                   // the same key is running now
	Mismatch               // the key was used for another request
	Full                   // the in-process store is full
	Reconcile              // the key is this request's, but an earlier request with it ended without an answer: look in Alma first
	Unsure                 // the key is this request's, but the store cannot say that no earlier request with it is in flight or died
)

func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Replayed:
		return "replayed"
	case Busy:
		return "busy"
	case Mismatch:
		return "mismatch"
	case Full:
		return "full"
	case Reconcile:
		return "reconcile"
	case Unsure:
		return "unsure"
	}
	return "state " + strconv.Itoa(int(s))
}

// Answer is a stored answer, or a claim (Done false).
type Answer struct {
	Fingerprint string `json:"fp"`
	Done        bool   `json:"done"`
	Status      int    `json:"status,omitempty"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body,omitempty"`

	// A claim's fields.
	Started int64  `json:"started,omitempty"` // Unix ms: when the first request with the key claimed it
	Until   int64  `json:"until,omitempty"`   // Unix ms: after it, the claim's owner has surely ended
	Unknown bool   `json:"unknown,omitempty"` // the owner ended without knowing the outcome
	Owner   string `json:"owner,omitempty"`   // a token of the claiming request, so that a takeover is of this claim only
}

// StartedAt is when the first request with the key claimed it (zero for
// an answer stored before claims carried it).
func (a *Answer) StartedAt() time.Time {
	if a == nil || a.Started == 0 {
		return time.Time{}
	}
	return time.UnixMilli(a.Started)
}

type entry struct {
	Answer
	expires time.Time
}

// Store is the Idempotency-Key store (see the comment above).
type Store struct {
	ttl     time.Duration
	pending time.Duration // how long a claim's owner may run before a retry takes over
	max     int
	rdb     *redis.Client // nil: in-process only
	onRedis func(err error)
	now     func() time.Time

	mu     sync.Mutex // guards m, epoch, lostAt
	m      map[string]*entry
	epoch  string    // the Redis epoch this store last saw; "" before the first contact
	lostAt time.Time // when this store saw Redis lose its keys
}

// NewStore keeps answers (and claims) for ttl, lets a claim's owner run
// for pending before the next request takes over, and holds at most max
// keys in process; rdb nil: in process only. onRedis hears Redis's
// failures.
func NewStore(ttl, pending time.Duration, max int, rdb *redis.Client, onRedis func(error)) *Store {
	return &Store{ttl: ttl, pending: pending, max: max, rdb: rdb, onRedis: onRedis, now: time.Now, m: map[string]*entry{}}
}

// SetClock makes the store read the time from now (tests; nil: time.Now).
func (st *Store) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	st.now = now
}

// ID is the store's key for a client's key: hashed, so that a client's
// bytes never become a Redis key as they are.
func ID(scope, key string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + key))
	return "almagw:idem:" + hex.EncodeToString(h[:])
}

// epochKey is the Redis key whose disappearance says Redis lost its keys.
const epochKey = "almagw:idem:epoch"

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

func token() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Claim looks the key up and claims it when it is free (Claimed, Unsure)
// or when its earlier request ended without an answer (Reconcile). With
// those three states the Answer is the new claim: its Owner is what
// Finish, Unknown and Release take, and its StartedAt is when the first
// request with the key began (an earlier one's, for Reconcile). With the
// others it is the record found.
func (st *Store) Claim(ctx context.Context, id, fp string) (State, *Answer) {
	if st.rdb != nil {
		state, a, err := st.claimRedis(ctx, id, fp)
		if err == nil {
			return state, a
		}
		st.onRedis(err)
		state, a = st.claimLocal(id, fp)
		if state == Claimed {
			state = Unsure // another replica may hold it in its memory
		}
		return state, a
	}
	return st.claimLocal(id, fp)
}

// judge says what an existing record means for a request with fp at now;
// takeOver is set when the request may take the claim over.
func judge(a *Answer, fp string, now time.Time) (s State, takeOver bool) {
	switch {
	case a.Fingerprint != fp:
		return Mismatch, false
	case a.Done:
		return Replayed, false
	case a.Unknown || a.Until != 0 && !now.Before(time.UnixMilli(a.Until)):
		return Reconcile, true
	}
	return Busy, false
}

// claim is a new claim's record, started at started (the first request's
// time, kept through takeovers).
func (st *Store) claim(fp string, now, started time.Time) Answer {
	if started.IsZero() {
		started = now
	}
	return Answer{Fingerprint: fp, Started: started.UnixMilli(), Until: now.Add(st.pending).UnixMilli(), Owner: token()}
}

func (st *Store) claimLocal(id, fp string) (State, *Answer) {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.m[id]; ok && now.Before(e.expires) {
		a := e.Answer
		s, takeOver := judge(&a, fp, now)
		if takeOver {
			e.Answer = st.claim(fp, now, a.StartedAt())
			mine := e.Answer
			return s, &mine
		}
		return s, &a
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
	mine := st.claim(fp, now, time.Time{})
	st.m[id] = &entry{Answer: mine, expires: now.Add(st.ttl)}
	return Claimed, &mine
}

// claimScript reads the epoch (setting it when absent) and claims the key
// when it is free: it answers {epoch, ""} for a claim, {epoch, record}
// when the key is held.
var claimScript = redis.NewScript(`
local ep = redis.call('GET', KEYS[2])
if not ep then
  redis.call('SET', KEYS[2], ARGV[3])
  ep = ARGV[3]
end
local cur = redis.call('GET', KEYS[1])
if cur then
  return {ep, cur}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ep, ''}
`)

// takeOverScript replaces a claim only if it is still the one read.
var takeOverScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

func (st *Store) claimRedis(ctx context.Context, id, fp string) (State, *Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	now := st.now()
	mine := st.claim(fp, now, time.Time{})
	raw, _ := json.Marshal(mine)
	ttl := strconv.FormatInt(st.ttl.Milliseconds(), 10)
	res, err := claimScript.Run(ctx, st.rdb, []string{id, epochKey}, raw, ttl, token()).StringSlice()
	if err != nil {
		return 0, nil, err
	}
	if len(res) != 2 {
		return 0, nil, errors.New("idempotency: unexpected claim answer from redis")
	}
	unsure := st.sawEpoch(res[0], now)
	if res[1] == "" {
		if unsure {
			return Unsure, &mine, nil
		}
		return Claimed, &mine, nil
	}
	var a Answer
	if err := json.Unmarshal([]byte(res[1]), &a); err != nil {
		return 0, nil, err
	}
	s, takeOver := judge(&a, fp, now)
	if !takeOver {
		return s, &a, nil
	}
	mine = st.claim(fp, now, a.StartedAt())
	next, _ := json.Marshal(mine)
	ok, err := takeOverScript.Run(ctx, st.rdb, []string{id}, res[1], next, ttl).Int()
	if err != nil {
		return 0, nil, err
	}
	if ok != 1 {
		return Busy, &a, nil // another request took it over first
	}
	return Reconcile, &mine, nil
}

// sawEpoch notes the epoch Redis holds and reports whether claims are
// unsure now: Redis's epoch changed (it lost its keys) within the last
// pending period. The first epoch a store sees is taken as it is.
func (st *Store) sawEpoch(ep string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.epoch != "" && st.epoch != ep {
		st.lostAt = now
	}
	st.epoch = ep
	return !st.lostAt.IsZero() && now.Sub(st.lostAt) < st.pending
}

// ownedScript sets a key only while it is absent or still the claim of
// ARGV[1] (a late owner whose claim was taken over, or answered, must not
// overwrite the answer of the request that took it): 1 when set, 0 not.
var ownedScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and not string.find(cur, '"owner":"' .. ARGV[1] .. '"', 1, true) then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)

// Finish stores the answer under the key claimed by owner.
func (st *Store) Finish(ctx context.Context, id, owner string, a Answer) {
	a.Done = true
	a.Unknown, a.Until, a.Owner = false, 0, ""
	st.put(ctx, id, owner, &a)
}

// Unknown marks the outcome of owner's claim as unknown (Alma may have
// done the write without the gateway hearing of it): the next request with
// the key reconciles at once, and nothing is stored as the answer.
func (st *Store) Unknown(ctx context.Context, id, owner string, started time.Time, fp string) {
	a := Answer{Fingerprint: fp, Unknown: true, Owner: owner}
	if !started.IsZero() {
		a.Started = started.UnixMilli()
	}
	st.put(ctx, id, owner, &a)
}

// Release frees owner's claim (Alma did nothing: the client may retry).
func (st *Store) Release(ctx context.Context, id, owner string) {
	st.put(ctx, id, owner, nil)
}

// put sets (a nil: deletes) the key in process and in Redis, where it is
// owner's claim or absent.
func (st *Store) put(ctx context.Context, id, owner string, a *Answer) {
	st.mu.Lock()
	if e, ok := st.m[id]; !ok || !e.Done && e.Owner == owner {
		if a == nil {
			delete(st.m, id)
		} else {
			st.m[id] = &entry{Answer: *a, expires: st.now().Add(st.ttl)}
		}
	}
	st.mu.Unlock()
	if st.rdb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		var raw []byte
		if a != nil {
			raw, _ = json.Marshal(a)
		}
		if err := ownedScript.Run(ctx, st.rdb, []string{id}, owner, raw, strconv.FormatInt(st.ttl.Milliseconds(), 10)).Err(); err != nil {
			st.onRedis(err)
		}
	}
}
