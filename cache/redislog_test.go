package cache

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRedisLoggerRateLimits(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	l := RedisLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)), 10*time.Second)
	clock := newFakeClock()
	l.now = clock.Now
	ctx := context.Background()
	for i := range 5 {
		l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %s", 1, "refused")
		clock.Advance(time.Second * time.Duration(i))
	}
	clock.Advance(10 * time.Second)
	l.Printf(ctx, "redis: back to %s", "normal")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d Warn lines, want 2:\n%s", len(lines), out)
	}
	if !strings.Contains(lines[0], "failed to dial after 1 attempts") || !strings.Contains(lines[0], "similar_lines_suppressed=0") {
		t.Errorf("first line = %q", lines[0])
	}
	if !strings.Contains(lines[1], "back to normal") || !strings.Contains(lines[1], "similar_lines_suppressed=4") {
		t.Errorf("second line = %q", lines[1])
	}
}
