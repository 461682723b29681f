package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// RedisLogger adapts a slog.Logger to go-redis's process-wide logger, which
// otherwise prints every failed dial to standard error (many lines a second
// while Redis is down). Lines are logged at Debug, and at most one per
// interval at Warn; the rest are counted into the next Warn line. The
// integrator installs it once, in main:
//
//	redis.SetLogger(cache.RedisLogger(logger, 10*time.Second))
func RedisLogger(l *slog.Logger, interval time.Duration) *RedisLog {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &RedisLog{log: l, interval: interval, now: time.Now}
}

// RedisLog is go-redis's Logging interface over slog, rate-limited.
type RedisLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

// Printf logs one go-redis line.
func (r *RedisLog) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	r.log.DebugContext(ctx, msg, "source", "go-redis")
	r.mu.Lock()
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	r.log.WarnContext(ctx, msg, "source", "go-redis", "similar_lines_suppressed", n)
}
