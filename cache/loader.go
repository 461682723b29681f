// Package cache keeps finished responses as bytes with lifetimes, in memory
// (ristretto, bounded in bytes) and optionally in Redis shared by replicas,
// and reads through them with request coalescing.
//
// A Loader.Get looks in memory, then Redis (promoting a Redis hit into
// memory). A fresh entry is a HIT. An entry in its stale window is served at
// once, marked STALE, and refreshed in the background. Otherwise the caller
// joins the key's single flight (x/sync/singleflight): the first caller's
// flight checks the cache again (another replica or flight may just have
// filled it) and then calls the load function on its own deadline, detached
// from any caller, so a caller that gives up does not waste the load: it still
// fills the cache for the next one. Each caller waits only as long as its own
// context allows.
//
// Entries are stored in an envelope (stored-at time, fresh and stale
// durations, tags, then the value) with a store TTL of fresh+stale. Load
// errors are never stored; the load decides whether its value may be cached
// and for how long. The stores are best effort: a dropped ristretto Set or a
// Redis outage is counted and never fails a request.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Status says where a Result came from. The values are the X-Cache header's.
type Status string

// The statuses of a Result.
const (
	StatusHit       Status = "HIT"       // a fresh cached entry
	StatusMiss      Status = "MISS"      // loaded by this caller
	StatusStale     Status = "STALE"     // past fresh, within the stale window
	StatusCoalesced Status = "COALESCED" // loaded by another caller's flight that this one joined
)

// Lifetime is how long an entry is fresh, and for how long after that it may
// still be served stale while it is refreshed.
type Lifetime struct {
	Fresh, Stale time.Duration
}

// Loaded is what a LoadFunc returns.
type Loaded struct {
	Value []byte
	// Cache says whether Value may be stored.
	Cache bool
	// Life overrides the Get's Lifetime for this value (say, a short one for
	// an upstream diagnostic); nil means the Get's.
	Life *Lifetime
	// Tags name the entry for PurgeTag (MMS IDs, the canonical query). At
	// most 64, each at most 65535 bytes; an entry with more is not stored.
	Tags []string
}

// LoadFunc produces a value on a miss. Its context carries the flight's own
// deadline (LoaderOptions.LoadTimeout), not a caller's.
type LoadFunc func(ctx context.Context) (Loaded, error)

// Result is what Get and Cached return. Value is shared with the cache and
// other callers: it must not be modified.
type Result struct {
	Value    []byte
	Status   Status
	StoredAt time.Time // when the value was loaded; zero for an uncached load
	Life     Lifetime  // the entry's lifetime (a load's own Life if it gave one); zero for an uncached load
	Stale    bool
}

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	Memory *Memory // required
	Redis  *Redis  // nil = memory only
	// LoadTimeout is the deadline of one flight (re-check and load);
	// 0 means 15s.
	LoadTimeout time.Duration
	// Now is the clock for lifetimes; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards (the gateway passes its own).
	Logger *slog.Logger
}

// Stats are a Loader's counters, with its stores'.
type Stats struct {
	Hits        uint64 // fresh entries served
	Misses      uint64 // Gets that found no usable entry (leaders and joiners)
	StaleServes uint64 // stale entries served by Get
	Coalesced   uint64 // Gets answered by another caller's flight
	Refreshes   uint64 // background refreshes that called the load
	LoadErrors  uint64 // load calls that failed (never cached)
	BadEntries  uint64 // stored bytes that did not decode (treated as misses)
	Uncached    uint64 // loads not stored: Cache false, no lifetime, bad tags, or a purge meanwhile
	RedisHits   uint64 // live entries found in Redis (and promoted into memory)
	// RemotePurges counts purges received on Redis's purge channel (this
	// replica's own included) and applied to memory.
	RemotePurges uint64

	Evictions    uint64 // memory entries evicted or expired
	DroppedSets  uint64 // memory Sets dropped
	RejectedSets uint64 // memory Sets refused by ristretto's admission policy
	BytesInUse   int64  // memory bytes in use, as ristretto accounts them
	MaxBytes     int64  // memory bound

	RedisEnabled bool
	RedisErrors  uint64 // failed Redis calls
	RedisSkipped uint64 // Redis calls skipped while it was latched down
	RedisDown    bool
}

// Loader is the read-through cache. Create it with NewLoader.
type Loader struct {
	mem         *Memory
	rds         *Redis
	loadTimeout time.Duration
	now         func() time.Time
	log         *slog.Logger

	group singleflight.Group
	// epoch counts purges: a flight that started before a purge does not
	// store its (possibly pre-purge) value.
	epoch atomic.Uint64

	mu         sync.Mutex          // guards closed, refreshing and bg.Add
	closed     bool                // no new background work after Close
	refreshing map[string]struct{} // keys with a background refresh running
	bg         sync.WaitGroup      // background refreshes and Redis writes

	stopListen func()        // ends the purge listener; nil without Redis
	listening  chan struct{} // closed when the purge listener has ended

	hits, misses, stale, coalesced, refreshes, loadErrs, bad, uncached, l2hits, remotePurges atomic.Uint64
}

// NewLoader returns a Loader over opt's stores. It panics if opt.Memory is nil:
// that is a wiring mistake, not a runtime condition.
func NewLoader(opt LoaderOptions) *Loader {
	if opt.Memory == nil {
		panic("cache: NewLoader needs a Memory")
	}
	l := &Loader{
		mem:         opt.Memory,
		rds:         opt.Redis,
		loadTimeout: opt.LoadTimeout,
		now:         opt.Now,
		log:         opt.Logger,
		refreshing:  make(map[string]struct{}),
	}
	if l.loadTimeout <= 0 {
		l.loadTimeout = 15 * time.Second
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.rds != nil {
		ctx, cancel := context.WithCancel(context.Background())
		l.stopListen, l.listening = cancel, make(chan struct{})
		go func() {
			defer close(l.listening)
			l.rds.listenPurges(ctx, func(tag string) {
				l.epoch.Add(1)
				l.mem.PurgeTag(tag)
				l.remotePurges.Add(1)
			}, func() {
				l.epoch.Add(1)
				l.mem.Clear()
				l.remotePurges.Add(1)
			})
		}()
	}
	return l
}

// Get returns the value for key: from the cache when fresh (HIT) or within
// its stale window (STALE, refreshed in the background), else from load,
// shared by every concurrent Get of the key (MISS for the caller whose flight
// ran, COALESCED for the others). life is the lifetime of a loaded value
// unless the load gives its own. A load error is returned as is and never
// cached; a caller whose ctx ends first returns ctx.Err() while the load goes
// on and fills the cache.
func (l *Loader) Get(ctx context.Context, key string, life Lifetime, load LoadFunc) (Result, error) {
	if load == nil {
		return Result{}, errors.New("cache: nil load function")
	}
	now := l.now()
	if e, ok := l.lookup(ctx, key, now, false); ok {
		switch e.stateAt(now) {
		case stateFresh:
			l.hits.Add(1)
			return Result{Value: e.value, Status: StatusHit, StoredAt: e.storedAt, Life: e.life}, nil
		case stateStale:
			l.stale.Add(1)
			l.refresh(ctx, key, life, load)
			return Result{Value: e.value, Status: StatusStale, StoredAt: e.storedAt, Life: e.life, Stale: true}, nil
		}
	}
	l.misses.Add(1)

	// leader is set by this caller's closure only if singleflight runs it;
	// the channel receive orders that write before the read below.
	leader := false
	ch := l.group.DoChan(key, func() (any, error) {
		leader = true
		return l.flight(ctx, key, life, load, false)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Result{}, res.Err
		}
		r := res.Val.(Result)
		if !leader {
			l.coalesced.Add(1)
			r.Status = StatusCoalesced
		}
		return r, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Cached returns key's entry when the in-process cache holds it fresh, and
// counts the hit; otherwise it returns false and counts nothing, and the
// caller goes on to Get (which also serves stale and loads). It is the hit
// path without a load function, a context or a timer: it allocates
// nothing.
func (l *Loader) Cached(key string) (Result, bool) {
	return l.CachedAt(key, l.now())
}

// CachedAt is Cached for a caller that has read the Loader's clock (its
// LoaderOptions.Now) already: a hit then costs no clock read of its own.
func (l *Loader) CachedAt(key string, now time.Time) (Result, bool) {
	b, ok := l.mem.Get(key)
	if !ok {
		return Result{}, false
	}
	e, err := decodeEntry(b)
	if err != nil || e.stateAt(now) != stateFresh {
		return Result{}, false // Get deals with it
	}
	l.hits.Add(1)
	return Result{Value: e.value, Status: StatusHit, StoredAt: e.storedAt, Life: e.life}, true
}

// PurgeTag deletes the entries tagged with tag, in memory and in Redis, and
// (through Redis) in the other replicas' memory. Flights running meanwhile do
// not store their values. While Redis is down, other replicas keep their
// copies until they expire.
func (l *Loader) PurgeTag(ctx context.Context, tag string) {
	l.epoch.Add(1)
	l.mem.PurgeTag(tag)
	if l.rds != nil {
		l.rds.PurgeTag(ctx, tag)
	}
}

// PurgeAll deletes every entry, in memory and in Redis (under its prefix).
func (l *Loader) PurgeAll(ctx context.Context) {
	l.epoch.Add(1)
	l.mem.Clear()
	if l.rds != nil {
		l.rds.Clear(ctx)
	}
}

// Stats returns the counters.
func (l *Loader) Stats() Stats {
	ms := l.mem.Stats()
	s := Stats{
		Hits:         l.hits.Load(),
		Misses:       l.misses.Load(),
		StaleServes:  l.stale.Load(),
		Coalesced:    l.coalesced.Load(),
		Refreshes:    l.refreshes.Load(),
		LoadErrors:   l.loadErrs.Load(),
		BadEntries:   l.bad.Load(),
		Uncached:     l.uncached.Load(),
		RedisHits:    l.l2hits.Load(),
		RemotePurges: l.remotePurges.Load(),
		Evictions:    ms.Evictions,
		DroppedSets:  ms.Dropped,
		RejectedSets: ms.Rejected,
		BytesInUse:   ms.BytesInUse,
		MaxBytes:     ms.MaxBytes,
	}
	if l.rds != nil {
		rs := l.rds.Stats()
		s.RedisEnabled = true
		s.RedisErrors = rs.Errors
		s.RedisSkipped = rs.Skipped
		s.RedisDown = rs.Down
	}
	return s
}

// Close stops new background work and the purge listener, and waits for
// running refreshes and Redis writes, at most LoadTimeout plus a second. It
// does not close the stores.
func (l *Loader) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		if l.stopListen != nil {
			l.stopListen()
			<-l.listening
		}
		l.bg.Wait()
		close(done)
	}()
	t := time.NewTimer(l.loadTimeout + time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		l.log.Warn("cache: background refreshes still running at close")
	}
}

// background runs f on its own goroutine, tracked for Close, unless the
// Loader is closed.
func (l *Loader) background(f func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.bg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.bg.Done()
		f()
	}()
	return true
}

// refresh starts a background refresh of key unless one is running. It goes
// through the key's single flight, so it also joins (or is joined by) a miss.
func (l *Loader) refresh(ctx context.Context, key string, life Lifetime, load LoadFunc) {
	l.mu.Lock()
	if _, running := l.refreshing[key]; running || l.closed {
		l.mu.Unlock()
		return
	}
	l.refreshing[key] = struct{}{}
	l.bg.Add(1)
	l.mu.Unlock()

	ctx = context.WithoutCancel(ctx)
	go func() {
		defer l.bg.Done()
		defer func() {
			l.mu.Lock()
			delete(l.refreshing, key)
			l.mu.Unlock()
		}()
		_, err, _ := l.group.Do(key, func() (any, error) {
			return l.flight(ctx, key, life, load, true)
		})
		if err != nil {
			l.log.Debug("cache: background refresh failed, still serving stale", "err", err)
		}
	}()
}

// flight is the body of a key's single flight: check the cache again, else
// load and store. It runs on its own deadline, detached from the caller.
func (l *Loader) flight(ctx context.Context, key string, life Lifetime, load LoadFunc, refresh bool) (Result, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.loadTimeout)
	defer cancel()

	now := l.now()
	if e, ok := l.lookup(ctx, key, now, true); ok && e.stateAt(now) == stateFresh {
		return Result{Value: e.value, Status: StatusHit, StoredAt: e.storedAt, Life: e.life}, nil
	}
	if refresh {
		l.refreshes.Add(1)
	}
	epoch := l.epoch.Load()
	ld, err := l.callLoad(ctx, load)
	if err != nil {
		l.loadErrs.Add(1)
		return Result{}, err
	}
	storedAt := l.now()
	res := Result{Value: ld.Value, Status: StatusMiss}
	if !ld.Cache {
		l.uncached.Add(1)
		return res, nil
	}
	lf := life
	if ld.Life != nil {
		lf = *ld.Life
	}
	lf.Fresh = min(max(lf.Fresh, 0), maxLifetime)
	lf.Stale = min(max(lf.Stale, 0), maxLifetime)
	ttl := lf.Fresh + lf.Stale
	tags := cleanTags(ld.Tags)
	if ttl <= 0 || !encodable(tags) || l.epoch.Load() != epoch {
		l.uncached.Add(1)
		return res, nil
	}
	env := encodeEntry(storedAt, lf, tags, ld.Value)
	res.Value = env[len(env)-len(ld.Value):]
	res.StoredAt = storedAt
	res.Life = lf
	if l.mem.Set(key, env, ttl, tags...) {
		// Make the entry visible before the flight ends: a caller that
		// misses just after would otherwise start a second load.
		l.mem.Wait()
	}
	if l.rds != nil {
		// The shared copy is written after the flight answers: a slow Redis
		// must not delay the callers (a cold replica may miss it meanwhile).
		if !l.background(func() { l.rds.Set(context.WithoutCancel(ctx), key, env, ttl, tags...) }) {
			l.rds.Set(ctx, key, env, ttl, tags...)
		}
	}
	return res, nil
}

// lookup finds a live (fresh or stale) entry for key: memory first, then
// Redis, promoting a Redis entry into memory. With deep, a stale memory entry
// is also compared with Redis's (another replica may have refreshed it).
func (l *Loader) lookup(ctx context.Context, key string, now time.Time, deep bool) (entry, bool) {
	var best entry
	found := false
	if b, ok := l.mem.Get(key); ok {
		e, err := decodeEntry(b)
		switch {
		case err != nil:
			l.bad.Add(1)
			l.mem.Del(key)
		case e.stateAt(now) == stateFresh:
			return e, true
		case e.stateAt(now) == stateStale:
			if !deep || l.rds == nil {
				return e, true
			}
			best, found = e, true
		}
	}
	if l.rds == nil {
		return best, found
	}
	b, ok := l.rds.Get(ctx, key)
	if !ok {
		return best, found
	}
	e, err := decodeEntry(b)
	if err != nil {
		l.bad.Add(1)
		return best, found
	}
	if e.stateAt(now) == stateExpired || (found && !e.storedAt.After(best.storedAt)) {
		return best, found
	}
	l.l2hits.Add(1)
	if ttl := min(e.remaining(now), e.life.Fresh+e.life.Stale); ttl > 0 {
		l.mem.Set(key, b, ttl, e.tagList()...)
	}
	return e, true
}

// callLoad calls load, turning a panic into an error: singleflight runs a
// DoChan flight on its own goroutine, where a panic would end the process.
func (l *Loader) callLoad(ctx context.Context, load LoadFunc) (ld Loaded, err error) {
	defer func() {
		if p := recover(); p != nil {
			l.log.Error("cache: load panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = errors.New("cache: load panicked")
		}
	}()
	return load(ctx)
}
