package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func newTestRedis(t *testing.T, addr string, clock *fakeClock) *Redis {
	t.Helper()
	opt := RedisOptions{URL: "redis://" + addr, Logger: discardLogger()}
	if clock != nil {
		opt.Now = clock.Now
	}
	r, err := NewRedis(opt)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestNewRedisOptions(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr bool
	}{
		{"plain", "redis://localhost:6379/0", false},
		{"password", "redis://:s3cret@localhost:6379", false},
		{"tls", "rediss://localhost:6380", false},
		{"empty", "", true},
		{"not redis", "http://localhost:6379", true},
		{"bad db", "redis://localhost:6379/notanumber", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedis(RedisOptions{URL: tt.url})
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewRedis(%q) error = %v, want error %v", tt.url, err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			defer r.Close()
			if r.prefix != "almagw:" || r.timeout != 100*time.Millisecond {
				t.Errorf("defaults: prefix %q, timeout %v; want almagw:, 100ms", r.prefix, r.timeout)
			}
		})
	}
}

func TestRedisSetGetTags(t *testing.T) {
	mr := miniredis.RunT(t)
	r := newTestRedis(t, mr.Addr(), nil)
	ctx := context.Background()

	r.Set(ctx, "k1", []byte("one"), time.Minute, "mms:1", "q:x")
	r.Set(ctx, "k2", []byte("two"), time.Hour, "mms:1")
	r.Set(ctx, "k3", []byte("three"), 2*time.Hour, "q:y")
	if got, ok := r.Get(ctx, "k1"); !ok || string(got) != "one" {
		t.Errorf("Get(k1) = %q, %v; want one, true", got, ok)
	}
	if _, ok := r.Get(ctx, "absent"); ok {
		t.Errorf("Get(absent) found")
	}
	if got := mr.TTL("almagw:e:k1"); got != time.Minute {
		t.Errorf("TTL of k1 = %v, want 1m", got)
	}
	// A tag set lives as long as its longest-lived member.
	if got := mr.TTL("almagw:t:mms:1"); got != time.Hour {
		t.Errorf("TTL of tag mms:1 = %v, want 1h", got)
	}
	r.Set(ctx, "k4", []byte("four"), time.Second, "mms:1")
	if got := mr.TTL("almagw:t:mms:1"); got != time.Hour {
		t.Errorf("a shorter member shortened the tag set: TTL %v, want 1h", got)
	}
	members, _ := mr.Members("almagw:t:mms:1")
	slices.Sort(members)
	if want := []string{"almagw:e:k1", "almagw:e:k2", "almagw:e:k4"}; !slices.Equal(members, want) {
		t.Errorf("tag set members = %q, want %q", members, want)
	}

	r.PurgeTag(ctx, "mms:1")
	for key, want := range map[string]bool{"k1": false, "k2": false, "k4": false, "k3": true} {
		if _, ok := r.Get(ctx, key); ok != want {
			t.Errorf("after PurgeTag, Get(%s) found = %v, want %v", key, ok, want)
		}
	}
	if mr.Exists("almagw:t:mms:1") {
		t.Errorf("purged tag set still exists")
	}

	mr.Set("other:keep", "not ours")
	mr.Set("almagw:budget:rate:0123456789ab", "the call budget's")
	r.Clear(ctx)
	if keys := mr.Keys(); !slices.Equal(keys, []string{"almagw:budget:rate:0123456789ab", "other:keep"}) {
		t.Errorf("after Clear, keys = %q, want only the budget's and other:keep", keys)
	}
	if s := r.Stats(); s.Errors != 0 {
		t.Errorf("Errors = %d, want 0", s.Errors)
	}
}

func TestRedisDownLatch(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	r := newTestRedis(t, mr.Addr(), clock)
	ctx := context.Background()
	r.Set(ctx, "k", []byte("v"), time.Minute)
	mr.Close()

	if _, ok := r.Get(ctx, "k"); ok {
		t.Fatalf("Get found a value with Redis down")
	}
	r.Set(ctx, "k", []byte("v"), time.Minute)
	r.PurgeTag(ctx, "t")
	r.Clear(ctx)
	s := r.Stats()
	if s.Errors != 1 || s.Skipped != 3 || !s.Down {
		t.Errorf("Errors, Skipped, Down = %d, %d, %v; want 1, 3, true", s.Errors, s.Skipped, s.Down)
	}

	// After the latch, the next call probes again; Redis is back.
	if err := mr.Restart(); err != nil {
		t.Fatalf("miniredis restart: %v", err)
	}
	clock.Advance(5 * time.Second)
	r.Set(ctx, "k", []byte("back"), time.Minute)
	if got, ok := r.Get(ctx, "k"); !ok || string(got) != "back" {
		t.Errorf("Get after restart = %q, %v; want back, true", got, ok)
	}
	if s := r.Stats(); s.Down || s.Errors != 1 {
		t.Errorf("after recovery: Down %v, Errors %d; want false, 1", s.Down, s.Errors)
	}
}

// TestRedisSlowServerTimesOut points the client at a server that accepts
// connections and never answers: calls end on the per-call timeout, are
// counted, and latch.
func TestRedisSlowServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // read nothing, answer nothing
		}
	}()
	r, err := NewRedis(RedisOptions{URL: "redis://" + ln.Addr().String(), Timeout: 20 * time.Millisecond, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.Get(context.Background(), "k"); ok {
		t.Errorf("Get from a silent server found a value")
	}
	if _, ok := r.Get(context.Background(), "k"); ok {
		t.Errorf("Get from a silent server found a value")
	}
	if s := r.Stats(); s.Errors != 1 || s.Skipped != 1 {
		t.Errorf("Errors, Skipped = %d, %d; want 1, 1", s.Errors, s.Skipped)
	}
}

func TestRedisCallerCancelDoesNotLatch(t *testing.T) {
	mr := miniredis.RunT(t)
	r := newTestRedis(t, mr.Addr(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Get(ctx, "k")
	if s := r.Stats(); s.Down {
		t.Errorf("a cancelled caller latched Redis down")
	}
}

func TestLoaderWithRedis(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	ctx := context.Background()
	a := newTestLoader(t, clock, newTestRedis(t, mr.Addr(), clock))
	b := newTestLoader(t, clock, newTestRedis(t, mr.Addr(), clock))

	ca := &counter{tags: []string{"mms:1"}}
	if _, err := a.Get(ctx, "k", life, ca.load); err != nil {
		t.Fatal(err)
	}
	settle(a, "k")

	t.Run("second replica reads the shared entry", func(t *testing.T) {
		got, err := b.Get(ctx, "k", life, func(context.Context) (Loaded, error) {
			t.Error("replica b loaded; it should have read a's entry from Redis")
			return Loaded{}, errors.New("unexpected")
		})
		if err != nil || got.Status != StatusHit || string(got.Value) != "value-1" {
			t.Errorf("b.Get = %s %q, %v; want HIT value-1", got.Status, got.Value, err)
		}
		b.mem.Wait()
		if _, ok := b.mem.Get("k"); !ok {
			t.Errorf("the Redis hit was not promoted into b's memory")
		}
	})

	t.Run("promoted entry keeps its tags", func(t *testing.T) {
		b.mem.PurgeTag("mms:1")
		b.mem.Wait()
		if _, ok := b.mem.Get("k"); ok {
			t.Errorf("b's memory copy survived PurgeTag(mms:1)")
		}
	})

	t.Run("stale refresh picks up another replica's fresh entry", func(t *testing.T) {
		clock.Advance(15 * time.Second)
		// a refreshes; b's memory copy is gone, b reads Redis.
		got, err := a.Get(ctx, "k", life, ca.load)
		if err != nil || got.Status != StatusStale {
			t.Fatalf("a.Get = %s, %v; want STALE", got.Status, err)
		}
		settle(a, "k")
		got, err = b.Get(ctx, "k", life, func(context.Context) (Loaded, error) {
			t.Error("replica b loaded; a's refresh was in Redis")
			return Loaded{}, errors.New("unexpected")
		})
		if err != nil || got.Status != StatusHit || string(got.Value) != "value-2" {
			t.Errorf("b.Get = %s %q, %v; want HIT value-2", got.Status, got.Value, err)
		}
	})

	t.Run("garbage in Redis is a miss", func(t *testing.T) {
		mr.Set("almagw:e:g", "garbage")
		c := &counter{}
		got, err := b.Get(ctx, "g", life, c.load)
		if err != nil || got.Status != StatusMiss || c.calls.Load() != 1 {
			t.Errorf("Get = %s, %v after %d loads; want MISS after 1", got.Status, err, c.calls.Load())
		}
		if s := b.Stats(); s.BadEntries == 0 {
			t.Errorf("BadEntries = 0, want the garbage counted")
		}
	})

	t.Run("purge reaches Redis", func(t *testing.T) {
		a.PurgeTag(ctx, "mms:1")
		if mr.Exists("almagw:e:k") {
			t.Errorf("entry k is still in Redis after PurgeTag(mms:1)")
		}
	})

	t.Run("Redis down: memory and load still answer", func(t *testing.T) {
		c := &counter{}
		if _, err := a.Get(ctx, "before", life, c.load); err != nil {
			t.Fatal(err)
		}
		settle(a, "before")
		mr.Close()
		got, err := a.Get(ctx, "before", life, c.load)
		if err != nil || got.Status != StatusHit {
			t.Errorf("Get of a cached key with Redis down = %s, %v; want HIT", got.Status, err)
		}
		for _, key := range []string{"new1", "new2", "new3"} {
			got, err := a.Get(ctx, key, life, c.load)
			if err != nil || got.Status != StatusMiss || len(got.Value) == 0 {
				t.Errorf("Get(%s) with Redis down = %s %q, %v; want MISS with a value", key, got.Status, got.Value, err)
			}
			settle(a, key)
		}
		s := a.Stats()
		if !s.RedisEnabled || !s.RedisDown || s.RedisErrors == 0 || s.RedisSkipped == 0 {
			t.Errorf("Stats = %+v; want Redis enabled, down, errors and skips counted", s)
		}
	})
}

func TestEscapeGlob(t *testing.T) {
	tests := []struct{ in, want string }{
		{"almagw:", "almagw:"},
		{"a*b?[c]\\", `a\*b\?\[c\]\\`},
	}
	for _, tt := range tests {
		if got := escapeGlob(tt.in); got != tt.want {
			t.Errorf("escapeGlob(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// waitUntil polls cond; a broken implementation hangs until the test binary's
// own timeout rather than asserting a duration.
func waitUntil(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

func TestPurgesReachOtherReplicas(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	ctx := context.Background()
	a := newTestLoader(t, clock, newTestRedis(t, mr.Addr(), clock))
	b := newTestLoader(t, clock, newTestRedis(t, mr.Addr(), clock))
	subscribed := func(n int) func() bool {
		return func() bool { return mr.PubSubNumSub("almagw:purge")["almagw:purge"] == n }
	}
	waitUntil(subscribed(2))

	fill := func(key string, tags ...string) {
		t.Helper()
		c := &counter{tags: tags}
		if _, err := a.Get(ctx, key, life, c.load); err != nil {
			t.Fatal(err)
		}
		settle(a, key)
		if got, err := b.Get(ctx, key, life, c.load); err != nil || got.Status != StatusHit {
			t.Fatalf("b.Get(%s) = %s, %v; want a HIT from Redis", key, got.Status, err)
		}
		b.mem.Wait()
		if _, ok := b.mem.Get(key); !ok {
			t.Fatalf("b's memory has no copy of %s", key)
		}
	}
	inMemoryOfB := func(key string) bool {
		b.mem.Wait()
		_, ok := b.mem.Get(key)
		return ok
	}

	fill("k1", "mms:1")
	fill("k2", "mms:2")
	a.PurgeTag(ctx, "mms:1")
	waitUntil(func() bool { return b.Stats().RemotePurges >= 1 })
	if inMemoryOfB("k1") || !inMemoryOfB("k2") {
		t.Errorf("after a purged mms:1, b's memory holds k1 %v, k2 %v; want false, true", inMemoryOfB("k1"), inMemoryOfB("k2"))
	}
	a.PurgeAll(ctx)
	waitUntil(func() bool { return b.Stats().RemotePurges >= 2 })
	if inMemoryOfB("k2") {
		t.Errorf("after a purged everything, b's memory still holds k2")
	}

	// The listeners come back with Redis.
	mr.Close()
	waitUntil(subscribed(0))
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(subscribed(2))
	clock.Advance(5 * time.Second) // past the cache's down latch
	fill("k3", "mms:3")
	a.PurgeTag(ctx, "mms:3")
	waitUntil(func() bool { return b.Stats().RemotePurges >= 3 })
	if inMemoryOfB("k3") {
		t.Errorf("after reconnecting, a purge of mms:3 did not reach b")
	}
	// Garbage on the channel is ignored.
	mr.Publish("almagw:purge", "")
	mr.Publish("almagw:purge", "xyz")
}

func TestRedisLogsTransitionsOnce(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := newFakeClock()
	var buf strings.Builder
	var mu sync.Mutex
	r, err := NewRedis(RedisOptions{
		URL:    "redis://" + mr.Addr(),
		Now:    clock.Now,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	r.Get(ctx, "k")
	mr.Close()
	for range 3 { // fail, then probe and fail again after each latch
		r.Get(ctx, "k")
		r.Get(ctx, "k") // skipped
		clock.Advance(5 * time.Second)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	r.Get(ctx, "k")
	r.Get(ctx, "k")
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if n := strings.Count(logs, "redis cache unavailable"); n != 1 {
		t.Errorf("logged 'unavailable' %d times, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, "redis cache available again"); n != 1 {
		t.Errorf("logged 'available again' %d times, want 1:\n%s", n, logs)
	}
	if s := r.Stats(); s.Errors != 3 || s.Skipped != 3 {
		t.Errorf("Errors, Skipped = %d, %d; want 3, 3", s.Errors, s.Skipped)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestRedisTagSetsShedExpiredMembers(t *testing.T) {
	mr := miniredis.RunT(t)
	r := newTestRedis(t, mr.Addr(), nil)
	ctx := context.Background()
	for i := range 5 {
		r.Set(ctx, fmt.Sprint("short-", i), []byte("v"), time.Second, "mms:1")
	}
	r.Set(ctx, "long", []byte("v"), time.Hour, "mms:1")
	mr.FastForward(2 * time.Second) // the five short entries expire
	dead := func() int {
		members, _ := mr.Members("almagw:t:mms:1")
		n := 0
		for _, m := range members {
			if !mr.Exists(m) {
				n++
			}
		}
		return n
	}
	sets := 0
	for ; dead() > 0 && sets < 1000; sets++ {
		r.Set(ctx, fmt.Sprint("new-", sets), []byte("v"), time.Hour, "mms:1")
	}
	if n := dead(); n > 0 {
		t.Errorf("%d expired members still in the tag set after %d Sets", n, sets)
	}
	if ok, _ := mr.IsMember("almagw:t:mms:1", "almagw:e:long"); !ok {
		t.Errorf("a live member was dropped from the tag set")
	}
	t.Logf("expired members gone after %d Sets", sets)
}
