// Package budget paces the gateway's outbound calls to Alma per API key
// (SPEC 5): Alma allows about 25 calls per second per institution and answers
// more with HTTP 429 PER_SECOND_THRESHOLD.
//
// Each key gets a rate with a burst. Alone, a Budget paces with
// golang.org/x/time/rate. With Redis, replicas share one schedule per key: a
// Lua script runs GCRA (the generic cell rate algorithm) on a "theoretical
// arrival time" kept in Redis, reserving the caller's slot and returning how
// long to wait for it, so several replicas together stay within the rate.
// When Alma answers 429, Backoff records a window (Retry-After) in which no
// call for that key is made, shared through Redis as well; a caller that
// cannot wait that long gets ErrBackoff at once, so the gateway can serve
// stale instead of queueing.
//
// One rule bounds the wait for a slot, alone and with Redis alike: a call
// waits at most MaxWait (or until its deadline, if sooner) for its slot; a
// slot further away is not reserved and the call is refused at once with a
// *SlotError saying when the next slot is, which the gateway turns into 503
// with Retry-After. (Before, a shared budget queued callers up to half
// their deadline while the local one refused them, and closed-loop load
// with Redis collapsed to a few hundred requests per second.)
//
// Redis is best effort: a failed call is counted, latches Redis off for a few
// seconds, and the Budget paces locally meanwhile (each replica then at the
// full rate).
//
// Keys are API keys, which are secret: they appear nowhere, not in Redis key
// names nor in Stats, only as a short SHA-256 prefix (the ID).
package budget

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// ErrBackoff is returned by Wait when the key is in a 429 backoff window that
// ends after the caller's deadline.
var ErrBackoff = errors.New("budget: alma asked to back off")

// Options configure a Budget.
type Options struct {
	// PerSecond is the calls per second allowed per key; 0 means 20 (below
	// Alma's 25).
	PerSecond float64
	// Burst is how many calls may go at once after a quiet spell; 0 means 5.
	Burst int
	// Redis shares the schedule and backoffs between replicas; nil means
	// local only.
	Redis *redis.Client
	// Prefix starts the Redis key names; "" means "almagw:budget:".
	Prefix string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; nil means a timer. Tests pass one
	// that advances a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait is the longest a call waits for its slot, alone or with
	// Redis; 0 means 250ms. A slot further away is refused (SlotError).
	MaxWait time.Duration
	// Timeout bounds each Redis call; 0 means 100ms.
	Timeout time.Duration
	// DownFor is how long Redis is skipped after a failure; 0 means 5s.
	DownFor time.Duration
	// Logger; nil discards (the gateway passes its own).
	Logger *slog.Logger
}

// KeyStats describe one key's budget. ID is a short SHA-256 prefix of the
// key, never the key.
type KeyStats struct {
	ID           string
	Calls        uint64    // calls allowed
	Waits        uint64    // of those, calls that had to wait for their slot
	Backoffs     uint64    // 429 backoffs recorded
	Refused      uint64    // Waits refused: ErrBackoff, or a SlotError
	Remaining    int       // last X-Exl-Api-Remaining; -1 when unknown
	BackoffUntil time.Time // end of the current backoff window; zero when none
}

// Budget paces calls per key. It is safe for concurrent use.
type Budget struct {
	perSecond float64
	burst     int
	rdb       *redis.Client
	prefix    string
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	timeout   time.Duration
	downFor   time.Duration
	maxWait   time.Duration
	log       *slog.Logger

	mu   sync.Mutex           // guards keys
	keys map[string]*keyState // by ID

	downUntil   atomic.Int64 // Unix nanos until which Redis is skipped
	redisErrors atomic.Uint64
	redisDown   atomic.Bool // for logging the transitions once
}

type keyState struct {
	id      string
	limiter *rate.Limiter // local pacing (alone, or while Redis is down)

	calls, waits, backoffs, refused atomic.Uint64
	remaining                       atomic.Int64
	backoffUntil                    atomic.Int64 // Unix nanos; 0 when none
}

// New returns a Budget; zero Options fields take their documented defaults.
func New(opt Options) *Budget {
	b := &Budget{
		perSecond: opt.PerSecond,
		burst:     opt.Burst,
		rdb:       opt.Redis,
		prefix:    opt.Prefix,
		now:       opt.Now,
		sleep:     opt.Sleep,
		timeout:   opt.Timeout,
		downFor:   opt.DownFor,
		maxWait:   opt.MaxWait,
		log:       opt.Logger,
		keys:      make(map[string]*keyState),
	}
	if b.perSecond <= 0 || math.IsNaN(b.perSecond) || math.IsInf(b.perSecond, 0) {
		b.perSecond = 20
	}
	if b.burst <= 0 {
		b.burst = 5
	}
	if b.prefix == "" {
		b.prefix = "almagw:budget:"
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.sleep == nil {
		b.sleep = sleep
	}
	if b.timeout <= 0 {
		b.timeout = 100 * time.Millisecond
	}
	if b.downFor <= 0 {
		b.downFor = 5 * time.Second
	}
	if b.maxWait <= 0 {
		b.maxWait = 250 * time.Millisecond
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b
}

// ID returns the name under which key appears in Stats and Redis: the first
// 12 hex digits of its SHA-256.
func ID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

// Wait blocks until a call with key is allowed, or ctx ends. If key is in a
// backoff window that ends after ctx's deadline it returns ErrBackoff at once;
// if its slot is further away than MaxWait or ctx's deadline it returns a
// *SlotError at once (it matches ErrNoSlot and context.DeadlineExceeded),
// alone and with Redis alike. Otherwise it returns ctx.Err() if ctx ends
// first.
func (b *Budget) Wait(ctx context.Context, key string) error {
	ks := b.state(key)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := b.now()
		if until := ks.backoffUntil.Load(); until > now.UnixNano() {
			if err := b.waitBackoff(ctx, ks, time.Duration(until-now.UnixNano())); err != nil {
				return err
			}
			continue
		}
		if b.redisUp(now) {
			wait, backoff, err := b.reserveShared(ctx, ks, now)
			if err == nil && backoff > 0 {
				raise(&ks.backoffUntil, now.Add(backoff).UnixNano())
				continue // waited out (or refused) at the top of the loop
			}
			if err == nil {
				return b.waitSlot(ctx, ks, wait, nil)
			}
			if !isRedisErr(err) {
				return err
			}
			// Redis failed: pace locally.
		}
		r := ks.limiter.ReserveN(now, 1)
		d := r.DelayFrom(now)
		if d > b.horizon(ctx) {
			r.CancelAt(now)
			ks.refused.Add(1)
			return &SlotError{Wait: d}
		}
		return b.waitSlot(ctx, ks, d, r)
	}
}

// Backoff records a 429 for key: no call until now+d (Retry-After; d ≤ 0
// means 1s). With Redis, every replica sees it.
func (b *Budget) Backoff(key string, d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	ks := b.state(key)
	ks.backoffs.Add(1)
	until := b.now().Add(d)
	raise(&ks.backoffUntil, until.UnixNano())
	if !b.redisUp(b.now()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	err := backoffScript.Run(ctx, b.rdb, []string{b.backoffKey(ks.id)},
		strconv.FormatInt(until.UnixMicro(), 10), d.Milliseconds()+1000).Err()
	if err != nil {
		b.fail("backoff", err)
		return
	}
	b.ok()
}

// Remaining records Alma's X-Exl-Api-Remaining for key (its daily quota left).
func (b *Budget) Remaining(key string, n int) {
	b.state(key).remaining.Store(int64(n))
}

// Stats returns one entry per key seen, sorted by ID.
func (b *Budget) Stats() []KeyStats {
	b.mu.Lock()
	states := make([]*keyState, 0, len(b.keys))
	for _, ks := range b.keys {
		states = append(states, ks)
	}
	b.mu.Unlock()
	now := b.now().UnixNano()
	out := make([]KeyStats, 0, len(states))
	for _, ks := range states {
		s := KeyStats{
			ID:        ks.id,
			Calls:     ks.calls.Load(),
			Waits:     ks.waits.Load(),
			Backoffs:  ks.backoffs.Load(),
			Refused:   ks.refused.Load(),
			Remaining: int(ks.remaining.Load()),
		}
		if until := ks.backoffUntil.Load(); until > now {
			s.BackoffUntil = time.Unix(0, until)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b KeyStats) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// RedisErrors returns how many Redis calls failed.
func (b *Budget) RedisErrors() uint64 { return b.redisErrors.Load() }

// ErrNoSlot is matched by a *SlotError.
var ErrNoSlot = errors.New("budget: no call slot within the wait bound")

// SlotError is a call refused because its slot is further away than the
// caller may wait (MaxWait, or its deadline if sooner). Nothing was
// reserved. It matches ErrNoSlot and context.DeadlineExceeded.
type SlotError struct {
	Wait time.Duration // until the slot the call would have had
}

func (e *SlotError) Error() string {
	return "budget: the next call slot is " + e.Wait.Round(time.Millisecond).String() + " away, past the wait bound"
}

func (e *SlotError) Is(target error) bool {
	return target == ErrNoSlot || target == context.DeadlineExceeded
}

// horizon is how far away a slot may be for ctx: MaxWait, or less when
// ctx's deadline is sooner.
func (b *Budget) horizon(ctx context.Context) time.Duration {
	h := b.maxWait
	if left, ok := timeLeft(ctx); ok && left < h {
		h = max(left, 0)
	}
	return h
}

// waitBackoff waits out a backoff window of length d, or refuses at once when
// ctx's deadline comes first.
func (b *Budget) waitBackoff(ctx context.Context, ks *keyState, d time.Duration) error {
	if left, ok := timeLeft(ctx); ok && left < d {
		ks.refused.Add(1)
		return ErrBackoff
	}
	return b.sleep(ctx, d)
}

// waitSlot waits d for a reserved slot. A local reservation r is returned to
// the limiter if ctx ends first.
func (b *Budget) waitSlot(ctx context.Context, ks *keyState, d time.Duration, r *rate.Reservation) error {
	if d > 0 {
		ks.waits.Add(1)
		if err := b.sleep(ctx, d); err != nil {
			if r != nil {
				r.CancelAt(b.now())
			}
			return err
		}
	}
	ks.calls.Add(1)
	return nil
}

// reserveScript is GCRA with reservation. KEYS[1] holds the key's theoretical
// arrival time (TAT), KEYS[2] its backoff end; ARGV: now, emission interval,
// burst, longest acceptable wait, all times in microseconds.
// Returns {0, wait} for a reserved slot, {1, left} inside a backoff window,
// {2, wait} when the slot would come too late (nothing reserved).
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local maxwait = tonumber(ARGV[4])
local bo = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if bo > now then
  return {1, bo - now}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then
  tat = now
end
local wait = tat - now - (burst - 1) * interval
if wait < 0 then
  wait = 0
end
if maxwait >= 0 and wait > maxwait then
  return {2, wait}
end
local newtat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1000)
return {0, wait}
`)

// backoffScript moves a key's shared backoff end later, never earlier.
// KEYS[1] backoff key; ARGV: end (µs), expiry (ms).
var backoffScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// reserveShared asks Redis for a slot. It returns the wait for a reserved
// slot, or the time left in a shared backoff window.
func (b *Budget) reserveShared(ctx context.Context, ks *keyState, now time.Time) (wait, backoff time.Duration, err error) {
	maxWait := b.horizon(ctx).Microseconds()
	interval := max(int64(math.Round(1e6/b.perSecond)), 1)
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := reserveScript.Run(cctx, b.rdb, []string{b.rateKey(ks.id), b.backoffKey(ks.id)},
		now.UnixMicro(), interval, b.burst, maxWait).Int64Slice()
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err() // the caller's context, not Redis
		}
		b.fail("reserve", err)
		return 0, 0, &redisError{err}
	}
	if len(res) != 2 || res[1] < 0 {
		err := fmt.Errorf("budget: unexpected reply from redis: %v", res)
		b.fail("reserve", err)
		return 0, 0, &redisError{err}
	}
	b.ok()
	d := time.Duration(res[1]) * time.Microsecond
	switch res[0] {
	case 0:
		return d, 0, nil
	case 1:
		return 0, d, nil
	case 2:
		ks.refused.Add(1)
		return 0, 0, &SlotError{Wait: d}
	}
	err = fmt.Errorf("budget: unexpected reply from redis: %v", res)
	b.fail("reserve", err)
	return 0, 0, &redisError{err}
}

// redisError marks an error that came from Redis (so Wait falls back).
type redisError struct{ err error }

func (e *redisError) Error() string { return e.err.Error() }
func (e *redisError) Unwrap() error { return e.err }

func isRedisErr(err error) bool {
	var re *redisError
	return errors.As(err, &re)
}

func (b *Budget) redisUp(now time.Time) bool {
	return b.rdb != nil && b.downUntil.Load() <= now.UnixNano()
}

func (b *Budget) fail(op string, err error) {
	b.redisErrors.Add(1)
	b.downUntil.Store(b.now().Add(b.downFor).UnixNano())
	if !b.redisDown.Swap(true) {
		b.log.Warn("budget: redis unavailable, pacing Alma calls locally", "op", op, "err", err.Error(), "retry_in", b.downFor)
	}
}

func (b *Budget) ok() {
	if b.redisDown.Swap(false) {
		b.log.Info("budget: redis available again, pacing shared")
	}
}

func (b *Budget) rateKey(id string) string    { return b.prefix + "rate:" + id }
func (b *Budget) backoffKey(id string) string { return b.prefix + "backoff:" + id }

// state returns key's state, creating it on first use.
func (b *Budget) state(key string) *keyState {
	id := ID(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	ks, ok := b.keys[id]
	if !ok {
		ks = &keyState{id: id, limiter: rate.NewLimiter(rate.Limit(b.perSecond), b.burst)}
		ks.remaining.Store(-1)
		b.keys[id] = ks
	}
	return ks
}

// raise sets a to v unless it holds more.
func raise(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// timeLeft returns the time until ctx's deadline, if it has one.
func timeLeft(ctx context.Context) (time.Duration, bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(deadline), true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
