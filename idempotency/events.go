package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/almanet/gateway/internal/ident"
)

// Events takes each of Alma's webhook events once (issue 21: one signed
// event sent 300 times was taken 300 times, each purging and auditing). An
// event is known by its id, or by the hash of its body when it has none.
// With Redis every replica shares the record (SET NX with the memory's
// lifetime); without it, or while Redis fails, each replica remembers
// in-process, bounded: the oldest ids are forgotten first. An event older
// than the memory (Alma's time field) cannot be told from a replay, so it
// is not taken either.
type Events struct {
	redis    *redis.Client // nil: in process only
	memory   time.Duration
	maxLocal int
	now      func() time.Time

	mu    sync.Mutex // guards local and ring
	local map[string]time.Time
	ring  []string // ids in the order they were seen, len <= maxLocal
	head  int      // the oldest entry of ring once it is full
}

// EventMemory is how long an event id is remembered, and how old an
// event may be to be taken.
const EventMemory = 24 * time.Hour

// NewEvents remembers in rc (nil: in process only).
func NewEvents(rc *redis.Client, now func() time.Time) *Events {
	return &Events{redis: rc, memory: EventMemory, maxLocal: 100_000, now: now, local: map[string]time.Time{}}
}

// EventKey names an event: its id when it has a sane one, else its body.
func EventKey(id string, body []byte) string {
	if ident.Sane(id, 128) {
		return "id:" + id
	}
	h := sha256.Sum256(body)
	return "body:" + hex.EncodeToString(h[:16])
}

// Verdict says what to do with an event.
type Verdict int

const (
	EventNew    Verdict = iota // take it
	EventReplay                // its id was taken before
	EventStale                 // older than the memory: a replay that cannot be checked
)

// First records the event and says whether it is new. sent is Alma's time
// field ("" when there is none).
func (e *Events) First(ctx context.Context, key, sent string) Verdict {
	now := e.now()
	if sent != "" {
		if t, err := time.Parse(time.RFC3339Nano, sent); err == nil && now.Sub(t) > e.memory {
			return EventStale
		}
	}
	if e.redis != nil {
		ok, err := e.redis.SetNX(ctx, "gw:webhook:"+key, 1, e.memory).Result()
		if err == nil {
			if !ok {
				return EventReplay
			}
			e.remember(key, now) // so that a Redis outage later still knows it
			return EventNew
		}
	}
	if e.remember(key, now) {
		return EventNew
	}
	return EventReplay
}

// remember adds key to the in-process memory; false when it was there
// (and not yet forgotten).
func (e *Events) remember(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if at, ok := e.local[key]; ok && now.Sub(at) <= e.memory {
		return false
	}
	if _, ok := e.local[key]; !ok {
		if len(e.ring) < e.maxLocal {
			e.ring = append(e.ring, key)
		} else {
			delete(e.local, e.ring[e.head])
			e.ring[e.head] = key
			e.head = (e.head + 1) % len(e.ring)
		}
	}
	e.local[key] = now
	return true
}
