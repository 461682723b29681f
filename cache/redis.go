package cache

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis second-level cache.
type RedisOptions struct {
	// URL is a redis:// or rediss:// URL (redis.ParseURL). Required.
	URL string
	// Prefix starts every key the cache writes; "" means "almagw:".
	Prefix string
	// Timeout bounds each call (dial, read, write, and the whole call);
	// 0 means 100ms.
	Timeout time.Duration
	// DownFor is how long calls are skipped after a failure; 0 means 5s.
	DownFor time.Duration
	// Logger receives one line when Redis goes down and one when it is back;
	// nil discards (the gateway passes its own).
	Logger *slog.Logger
	// Now is the clock for the down latch; nil means time.Now.
	Now func() time.Time
}

// Redis is the shared second-level cache: entries under Prefix+"e:"+key with
// a TTL, and per tag a set Prefix+"t:"+tag of entry keys whose expiry is kept
// at least as long as its longest member's. Purges are also published on the
// channel Prefix+"purge", so that every replica's Loader drops its memory
// copies. The Lua scripts need Redis 5 or later (effect replication of
// scripts that call SRANDMEMBER) and a single instance, not Cluster (a
// script touches entry and tag keys in different slots).
//
// Redis is best effort. Every call has a short deadline; a failure is counted,
// treated as a miss (or a lost write), and latches the client "down" for
// DownFor, during which calls are skipped (and counted) without touching the
// network. The first call after the latch expires probes again.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
	downFor time.Duration
	log     *slog.Logger
	now     func() time.Time

	downUntil atomic.Int64 // Unix nanos until which calls are skipped; 0 when up

	down atomic.Bool // whether the last call failed, for the up/down log lines

	errs, skipped, gets, hits, sets atomic.Uint64
}

// RedisStats are the counters of a Redis.
type RedisStats struct {
	Gets, Hits, Sets uint64
	Errors           uint64 // failed calls (timeouts, connection errors, bad replies)
	Skipped          uint64 // calls not made because Redis was latched down
	Down             bool   // latched down now
}

// setScript stores an entry and adds it to its tag sets, extending a set's
// expiry when this member outlives it. A tag set would otherwise keep the
// names of expired entries for as long as new ones keep arriving, so each Set
// also checks a few random members of each of its tags and drops the dead
// ones (Redis's own expiry sampling, in small). KEYS[1] entry, KEYS[2:] tag
// sets; ARGV[1] value, ARGV[2] ttl in ms.
var setScript = redis.NewScript(`
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
  for _, m in ipairs(redis.call('SRANDMEMBER', KEYS[i], 3)) do
    if redis.call('EXISTS', m) == 0 then
      redis.call('SREM', KEYS[i], m)
    end
  end
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 1
`)

// NewRedis returns a Redis for opt.URL. It does not connect: a server that is
// down at start only means misses until it is up.
func NewRedis(opt RedisOptions) (*Redis, error) {
	if opt.URL == "" {
		return nil, errors.New("cache: redis url is empty")
	}
	ro, err := redis.ParseURL(opt.URL)
	if err != nil {
		// ParseURL errors may quote the URL, which may hold a password.
		return nil, errors.New("cache: redis url is not a valid redis:// or rediss:// url")
	}
	r := &Redis{
		prefix:  opt.Prefix,
		timeout: opt.Timeout,
		downFor: opt.DownFor,
		log:     opt.Logger,
		now:     opt.Now,
	}
	if r.prefix == "" {
		r.prefix = "almagw:"
	}
	if r.timeout <= 0 {
		r.timeout = 100 * time.Millisecond
	}
	if r.downFor <= 0 {
		r.downFor = 5 * time.Second
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	ro.DialTimeout = r.timeout
	ro.ReadTimeout = r.timeout
	ro.WriteTimeout = r.timeout
	ro.PoolTimeout = r.timeout
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1   // a retry doubles the wait; the latch handles failures
	ro.DialerRetries = 1 // likewise for dials (0 would mean 5)
	ro.DisableIdentity = true
	r.client = redis.NewClient(ro)
	return r, nil
}

// Client returns the underlying client (the call budget shares it).
func (r *Redis) Client() *redis.Client { return r.client }

// Close closes the client.
func (r *Redis) Close() error { return r.client.Close() }

// Get returns the bytes under key. Errors are counted and read as a miss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool) {
	if r.skip() {
		return nil, false
	}
	r.gets.Add(1)
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.client.Get(cctx, r.entryKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		r.ok()
		return nil, false
	}
	if err != nil {
		r.fail(ctx, "get", err)
		return nil, false
	}
	r.ok()
	r.hits.Add(1)
	return b, true
}

// Set stores v under key for ttl (at millisecond precision, at least 1ms),
// tagged for PurgeTag. Errors are counted and logged, never returned.
func (r *Redis) Set(ctx context.Context, key string, v []byte, ttl time.Duration, tags ...string) {
	if ttl <= 0 || r.skip() {
		return
	}
	r.sets.Add(1)
	tags = cleanTags(tags)
	keys := make([]string, 0, 1+len(tags))
	keys = append(keys, r.entryKey(key))
	for _, t := range tags {
		keys = append(keys, r.tagKey(t))
	}
	ms := max(ttl.Milliseconds(), 1)
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := setScript.Run(cctx, r.client, keys, v, ms).Err(); err != nil {
		r.fail(ctx, "set", err)
		return
	}
	r.ok()
}

// PurgeTag deletes the entries tagged with tag, and the tag set.
func (r *Redis) PurgeTag(ctx context.Context, tag string) {
	if r.skip() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tk := r.tagKey(tag)
	members, err := r.client.SMembers(cctx, tk).Result()
	if err != nil {
		r.fail(ctx, "purge", err)
		return
	}
	keys := append(members, tk)
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := r.client.Unlink(cctx, keys[:n]...).Err(); err != nil {
			r.fail(ctx, "purge", err)
			return
		}
		keys = keys[n:]
	}
	r.publish(cctx, ctx, "t"+tag)
	r.ok()
}

// Clear deletes every entry and tag set under the prefix (Prefix+"e:*" and
// Prefix+"t:*", so that other users of the prefix, such as the call budget's
// "almagw:budget:" keys, survive), scanning in batches. It gets ten times the
// per-call timeout.
func (r *Redis) Clear(ctx context.Context) {
	if r.skip() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*r.timeout)
	defer cancel()
	for _, pattern := range []string{escapeGlob(r.prefix+"e:") + "*", escapeGlob(r.prefix+"t:") + "*"} {
		var cursor uint64
		for {
			keys, next, err := r.client.Scan(cctx, cursor, pattern, 500).Result()
			if err != nil {
				r.fail(ctx, "clear", err)
				return
			}
			if len(keys) > 0 {
				if err := r.client.Unlink(cctx, keys...).Err(); err != nil {
					r.fail(ctx, "clear", err)
					return
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	r.publish(cctx, ctx, "a")
	r.ok()
}

// The purge channel tells every replica's Loader to drop its memory copies:
// a message is "a" (everything) or "t" followed by a tag.
func (r *Redis) purgeChannel() string { return r.prefix + "purge" }

// publish announces a purge; a failure is counted like any other.
func (r *Redis) publish(cctx, ctx context.Context, msg string) {
	if err := r.client.Publish(cctx, r.purgeChannel(), msg).Err(); err != nil {
		r.fail(ctx, "publish", err)
	}
}

// listenPurges calls onTag or onAll for every purge announced on the purge
// channel (this replica's own included) until ctx ends. It reconnects after
// failures, waiting up to DownFor between attempts, and treats a connection
// that stays silent through a read timeout and a ping as dead.
func (r *Redis) listenPurges(ctx context.Context, onTag func(tag string), onAll func()) {
	const idle = 30 * time.Second // how long a healthy subscription may be silent before a ping
	// A blocked read ignores ctx: closing the subscription ends it.
	var mu sync.Mutex // guards sub
	var sub *redis.PubSub
	closeSub := func() {
		mu.Lock()
		if sub != nil {
			sub.Close()
			sub = nil
		}
		mu.Unlock()
	}
	stop := context.AfterFunc(ctx, closeSub)
	defer stop()
	defer closeSub()
	pinged := false
	var wait time.Duration
	for ctx.Err() == nil {
		mu.Lock()
		if ctx.Err() != nil { // closeSub has run or will find sub
			mu.Unlock()
			return
		}
		if sub == nil {
			sub = r.client.Subscribe(ctx, r.purgeChannel())
			pinged = false
		}
		cur := sub
		mu.Unlock()
		msg, err := cur.ReceiveTimeout(ctx, idle)
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		switch {
		case err == nil:
			wait, pinged = 0, false
			if m, ok := msg.(*redis.Message); ok {
				switch {
				case m.Payload == "a":
					onAll()
				case strings.HasPrefix(m.Payload, "t"):
					onTag(m.Payload[1:])
				}
			}
			continue
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			if cur.Ping(ctx) == nil {
				pinged = true
				continue
			}
		}
		// A dead or failing connection: start over after a pause.
		closeSub()
		wait = min(max(2*wait, 100*time.Millisecond), r.downFor)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Stats returns the counters.
func (r *Redis) Stats() RedisStats {
	return RedisStats{
		Gets:    r.gets.Load(),
		Hits:    r.hits.Load(),
		Sets:    r.sets.Load(),
		Errors:  r.errs.Load(),
		Skipped: r.skipped.Load(),
		Down:    r.downUntil.Load() > r.now().UnixNano(),
	}
}

func (r *Redis) entryKey(key string) string { return r.prefix + "e:" + key }
func (r *Redis) tagKey(tag string) string   { return r.prefix + "t:" + tag }

// skip reports (and counts) whether Redis is latched down.
func (r *Redis) skip() bool {
	if r.downUntil.Load() > r.now().UnixNano() {
		r.skipped.Add(1)
		return true
	}
	return false
}

// fail counts a failed call and latches Redis down. A call that failed
// because the caller's own context (ctx, not the per-call one) ended says
// nothing about Redis: it is counted but does not latch.
func (r *Redis) fail(ctx context.Context, op string, err error) {
	r.errs.Add(1)
	if ctx.Err() != nil {
		return
	}
	r.downUntil.Store(r.now().Add(r.downFor).UnixNano())
	if !r.down.Swap(true) {
		r.log.Warn("redis cache unavailable, serving from memory only",
			"op", op, "err", redactErr(err), "retry_in", r.downFor)
	}
}

// ok records a successful call.
func (r *Redis) ok() {
	// Load first: the common case (up, staying up) writes nothing shared.
	if r.down.Load() && r.down.Swap(false) {
		r.log.Info("redis cache available again")
	}
}

// redactErr keeps the error's text short; go-redis errors carry no
// credentials, but a reply from a foreign server is not trusted with length.
func redactErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// escapeGlob escapes Redis glob metacharacters in a literal prefix.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
