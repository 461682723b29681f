package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable clock for lifetimes.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestLoader(t *testing.T, clock *fakeClock, rds *Redis) *Loader {
	t.Helper()
	l := NewLoader(LoaderOptions{
		Memory: newTestMemory(t, 8<<20),
		Redis:  rds,
		Now:    clock.Now,
		Logger: discardLogger(),
	})
	t.Cleanup(l.Close)
	return l
}

// settle waits until the flight for key (if any) has finished and its Sets are
// visible: joining an in-flight singleflight call waits for it.
func settle(l *Loader, key string) {
	l.group.Do(key, func() (any, error) { return nil, nil })
	l.bg.Wait()
	l.mem.Wait()
}

// counter is a LoadFunc that returns value-N for its Nth call.
type counter struct {
	calls atomic.Int64
	life  *Lifetime
	tags  []string
	err   error
}

func (c *counter) load(ctx context.Context) (Loaded, error) {
	n := c.calls.Add(1)
	if c.err != nil {
		return Loaded{}, c.err
	}
	return Loaded{Value: fmt.Appendf(nil, "value-%d", n), Cache: true, Life: c.life, Tags: c.tags}, nil
}

var life = Lifetime{Fresh: 10 * time.Second, Stale: 20 * time.Second}

func TestLoaderLifetimes(t *testing.T) {
	tests := []struct {
		name      string
		advance   time.Duration
		want      Result // StoredAt is checked separately
		wantCalls int64  // load calls after the Get (and its refresh) settle
		wantAfter string // what the next Get serves
	}{
		{"just stored is a hit", 0, Result{Value: []byte("value-1"), Status: StatusHit}, 1, "value-1"},
		{"last fresh instant is a hit", 10*time.Second - 1, Result{Value: []byte("value-1"), Status: StatusHit}, 1, "value-1"},
		{"fresh ends: stale and refreshed", 10 * time.Second, Result{Value: []byte("value-1"), Status: StatusStale, Stale: true}, 2, "value-2"},
		{"last stale instant: stale and refreshed", 30*time.Second - 1, Result{Value: []byte("value-1"), Status: StatusStale, Stale: true}, 2, "value-2"},
		{"stale window ends: miss", 30 * time.Second, Result{Value: []byte("value-2"), Status: StatusMiss}, 2, "value-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := newTestLoader(t, clock, nil)
			c := &counter{}
			ctx := context.Background()
			first, err := l.Get(ctx, "k", life, c.load)
			if err != nil {
				t.Fatalf("first Get: %v", err)
			}
			if first.Status != StatusMiss || !first.StoredAt.Equal(clock.Now()) {
				t.Fatalf("first Get = %s stored at %v, want MISS stored at %v", first.Status, first.StoredAt, clock.Now())
			}
			settle(l, "k")

			clock.Advance(tt.advance)
			got, err := l.Get(ctx, "k", life, c.load)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			wantStoredAt := first.StoredAt
			if tt.want.Status == StatusMiss {
				wantStoredAt = clock.Now()
			}
			if !got.StoredAt.Equal(wantStoredAt) {
				t.Errorf("StoredAt = %v, want %v", got.StoredAt, wantStoredAt)
			}
			got.StoredAt = time.Time{}
			tt.want.Life = life
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
			settle(l, "k")
			if n := c.calls.Load(); n != tt.wantCalls {
				t.Errorf("load called %d times, want %d", n, tt.wantCalls)
			}
			next, err := l.Get(ctx, "k", life, c.load)
			if err != nil || string(next.Value) != tt.wantAfter || next.Status != StatusHit {
				t.Errorf("next Get = %s %q, %v; want HIT %q", next.Status, next.Value, err, tt.wantAfter)
			}
		})
	}
}

func TestLoaderColdCoalescing(t *testing.T) {
	for _, callers := range []int{200, 500} {
		t.Run(fmt.Sprint(callers), func(t *testing.T) { testColdCoalescing(t, callers) })
	}
}

// testColdCoalescing makes callers concurrent Gets of one cold key.
func testColdCoalescing(t *testing.T, callers int) {
	l := newTestLoader(t, newFakeClock(), nil)
	release := make(chan struct{})
	var calls atomic.Int64
	want := bytes.Repeat([]byte("record "), 100)
	load := func(ctx context.Context) (Loaded, error) {
		calls.Add(1)
		<-release
		return Loaded{Value: want, Cache: true}, nil
	}

	var wg sync.WaitGroup
	results := make([]Result, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			results[i], errs[i] = l.Get(context.Background(), "cold", life, load)
		})
	}
	// Every caller misses (the load is blocked) before it returns. One that
	// joins the flight only after it ended finds the stored entry instead
	// (HIT); either way one load.
	for l.Stats().Misses < uint64(callers) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()

	if n := calls.Load(); n != 1 {
		t.Errorf("load called %d times, want 1", n)
	}
	statuses := map[Status]int{}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(results[i].Value, want) {
			t.Fatalf("caller %d got %q, want %q", i, results[i].Value, want)
		}
		statuses[results[i].Status]++
	}
	if statuses[StatusMiss] != 1 || statuses[StatusMiss]+statuses[StatusCoalesced]+statuses[StatusHit] != callers {
		t.Errorf("statuses = %v, want one MISS and the rest COALESCED or HIT", statuses)
	}
	if s := l.Stats(); s.Coalesced != uint64(statuses[StatusCoalesced]) {
		t.Errorf("Stats.Coalesced = %d, want %d", s.Coalesced, statuses[StatusCoalesced])
	}
}

func TestLoaderCallerGivesUpLoadContinues(t *testing.T) {
	l := newTestLoader(t, newFakeClock(), nil)
	release := make(chan struct{})
	started := make(chan struct{})
	var loadErr error
	load := func(ctx context.Context) (Loaded, error) {
		close(started)
		<-release
		loadErr = ctx.Err() // the flight's own context must still be live
		return Loaded{Value: []byte("late"), Cache: true}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := l.Get(ctx, "k", life, load)
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get after cancel = %v, want context.Canceled", err)
	}
	close(release)
	settle(l, "k")
	if loadErr != nil {
		t.Errorf("load saw ctx.Err() = %v, want nil", loadErr)
	}
	got, err := l.Get(context.Background(), "k", life, func(context.Context) (Loaded, error) {
		t.Error("load called again; the abandoned load should have filled the cache")
		return Loaded{}, errors.New("unexpected")
	})
	if err != nil || got.Status != StatusHit || string(got.Value) != "late" {
		t.Errorf("Get = %s %q, %v; want HIT \"late\"", got.Status, got.Value, err)
	}
}

func TestLoaderLoadTimeoutIsTheFlights(t *testing.T) {
	l := NewLoader(LoaderOptions{Memory: newTestMemory(t, 1<<20), LoadTimeout: time.Millisecond, Logger: discardLogger()})
	defer l.Close()
	_, err := l.Get(context.Background(), "k", life, func(ctx context.Context) (Loaded, error) {
		<-ctx.Done()
		return Loaded{}, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get = %v, want the load's context.DeadlineExceeded", err)
	}
}

func TestLoaderErrorsAreNeverCached(t *testing.T) {
	clock := newFakeClock()
	l := newTestLoader(t, clock, nil)
	boom := errors.New("alma is down")
	c := &counter{err: boom}
	for i := range 3 {
		_, err := l.Get(context.Background(), "k", life, c.load)
		if !errors.Is(err, boom) {
			t.Fatalf("Get %d = %v, want %v", i, err, boom)
		}
		settle(l, "k")
	}
	if n := c.calls.Load(); n != 3 {
		t.Errorf("load called %d times, want 3 (errors are not cached)", n)
	}
	if _, ok := peek(l, context.Background(), "k"); ok {
		t.Errorf("Peek found an entry after failed loads")
	}
	if s := l.Stats(); s.LoadErrors != 3 {
		t.Errorf("LoadErrors = %d, want 3", s.LoadErrors)
	}
}

func TestLoaderFailedRefreshKeepsServingStale(t *testing.T) {
	clock := newFakeClock()
	l := newTestLoader(t, clock, nil)
	c := &counter{}
	ctx := context.Background()
	if _, err := l.Get(ctx, "k", life, c.load); err != nil {
		t.Fatal(err)
	}
	settle(l, "k")
	c.err = errors.New("alma is down")

	for _, step := range []time.Duration{15 * time.Second, 5 * time.Second, 9 * time.Second} {
		clock.Advance(step)
		got, err := l.Get(ctx, "k", life, c.load)
		if err != nil || got.Status != StatusStale || string(got.Value) != "value-1" {
			t.Fatalf("Get = %s %q, %v; want STALE value-1", got.Status, got.Value, err)
		}
		settle(l, "k")
	}
	clock.Advance(time.Second) // the stale window ends
	if _, err := l.Get(ctx, "k", life, c.load); !errors.Is(err, c.err) {
		t.Errorf("Get past the window = %v, want the load error", err)
	}
	s := l.Stats()
	if s.StaleServes != 3 || s.Refreshes != 3 || s.LoadErrors != 4 {
		t.Errorf("StaleServes, Refreshes, LoadErrors = %d, %d, %d; want 3, 3, 4", s.StaleServes, s.Refreshes, s.LoadErrors)
	}
}

func TestLoaderRefreshOncePerKey(t *testing.T) {
	clock := newFakeClock()
	l := newTestLoader(t, clock, nil)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if _, err := l.Get(ctx, k, life, (&counter{}).load); err != nil {
			t.Fatal(err)
		}
		settle(l, k)
	}
	clock.Advance(15 * time.Second)

	release := make(chan struct{})
	var calls sync.Map // key → *atomic.Int64
	loadFor := func(key string) LoadFunc {
		n, _ := calls.LoadOrStore(key, new(atomic.Int64))
		return func(ctx context.Context) (Loaded, error) {
			n.(*atomic.Int64).Add(1)
			<-release
			return Loaded{Value: []byte("new " + key), Cache: true}, nil
		}
	}
	var wg sync.WaitGroup
	for i := range 100 {
		key := []string{"a", "b"}[i%2]
		wg.Go(func() {
			got, err := l.Get(ctx, key, life, loadFor(key))
			if err != nil || got.Status != StatusStale {
				t.Errorf("Get(%s) = %s, %v; want STALE", key, got.Status, err)
			}
		})
	}
	wg.Wait() // every stale Get returned while the refreshes were blocked
	close(release)
	l.bg.Wait()
	l.mem.Wait()
	for _, k := range []string{"a", "b"} {
		n, _ := calls.Load(k)
		if got := n.(*atomic.Int64).Load(); got != 1 {
			t.Errorf("refresh of %s called load %d times, want 1", k, got)
		}
		got, err := l.Get(ctx, k, life, loadFor(k))
		if err != nil || got.Status != StatusHit || string(got.Value) != "new "+k {
			t.Errorf("Get(%s) after refresh = %s %q, %v; want HIT %q", k, got.Status, got.Value, err, "new "+k)
		}
	}
	if s := l.Stats(); s.Refreshes != 2 || s.StaleServes != 100 {
		t.Errorf("Refreshes, StaleServes = %d, %d; want 2, 100", s.Refreshes, s.StaleServes)
	}
}

func TestLoaderLoadedControlsCaching(t *testing.T) {
	short := &Lifetime{Fresh: time.Second}
	tests := []struct {
		name       string
		loaded     Loaded
		advance    time.Duration
		wantCached bool
	}{
		{"cacheable", Loaded{Value: []byte("v"), Cache: true}, 9 * time.Second, true},
		{"not cacheable", Loaded{Value: []byte("v"), Cache: false}, 0, false},
		{"own shorter life, within", Loaded{Value: []byte("v"), Cache: true, Life: short}, 999 * time.Millisecond, true},
		{"own shorter life, past", Loaded{Value: []byte("v"), Cache: true, Life: short}, time.Second, false},
		{"life past a century is capped", Loaded{Value: []byte("v"), Cache: true, Life: &Lifetime{Fresh: 1 << 62}}, 50 * 365 * 24 * time.Hour, true},
		{"zero life", Loaded{Value: []byte("v"), Cache: true, Life: &Lifetime{}}, 0, false},
		{"negative life", Loaded{Value: []byte("v"), Cache: true, Life: &Lifetime{Fresh: -time.Second, Stale: -time.Second}}, 0, false},
		{"too many tags", Loaded{Value: []byte("v"), Cache: true, Tags: tooManyTags()}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := newTestLoader(t, clock, nil)
			got, err := l.Get(context.Background(), "k", life, func(context.Context) (Loaded, error) { return tt.loaded, nil })
			if err != nil || got.Status != StatusMiss || string(got.Value) != "v" {
				t.Fatalf("Get = %s %q, %v; want MISS \"v\"", got.Status, got.Value, err)
			}
			settle(l, "k")
			clock.Advance(tt.advance)
			_, cached := peek(l, context.Background(), "k")
			if cached != tt.wantCached {
				t.Errorf("cached = %v, want %v", cached, tt.wantCached)
			}
		})
	}
}

func tooManyTags() []string {
	tags := make([]string, maxTagsPerEntry+1)
	for i := range tags {
		tags[i] = fmt.Sprint("t", i)
	}
	return tags
}

func TestLoaderPurgeTag(t *testing.T) {
	l := newTestLoader(t, newFakeClock(), nil)
	ctx := context.Background()
	tagged := map[string][]string{
		"q1": {"mms:1", "q:one"},
		"q2": {"mms:1", "mms:2", "q:two"},
		"q3": {"mms:3", "q:three"},
	}
	for key, tags := range tagged {
		c := &counter{tags: tags}
		if _, err := l.Get(ctx, key, life, c.load); err != nil {
			t.Fatal(err)
		}
		settle(l, key)
	}
	l.PurgeTag(ctx, "mms:1")
	l.mem.Wait()
	for key, want := range map[string]bool{"q1": false, "q2": false, "q3": true} {
		if _, ok := peek(l, ctx, key); ok != want {
			t.Errorf("after PurgeTag(mms:1), Peek(%s) = %v, want %v", key, ok, want)
		}
	}
	l.PurgeAll(ctx)
	if _, ok := peek(l, ctx, "q3"); ok {
		t.Errorf("Peek(q3) found after PurgeAll")
	}
}

func TestLoaderPurgeDuringLoadSkipsStore(t *testing.T) {
	l := newTestLoader(t, newFakeClock(), nil)
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	go l.Get(ctx, "k", life, func(context.Context) (Loaded, error) {
		close(started)
		<-release
		return Loaded{Value: []byte("pre-purge"), Cache: true, Tags: []string{"mms:1"}}, nil
	})
	<-started
	l.PurgeTag(ctx, "mms:1")
	close(release)
	settle(l, "k")
	if r, ok := peek(l, ctx, "k"); ok {
		t.Errorf("Peek = %q: a value loaded before a purge was stored after it", r.Value)
	}
}

func TestLoaderSurvivesBadInput(t *testing.T) {
	l := newTestLoader(t, newFakeClock(), nil)
	ctx := context.Background()
	t.Run("panicking load", func(t *testing.T) {
		_, err := l.Get(ctx, "p", life, func(context.Context) (Loaded, error) { panic("bug") })
		if err == nil {
			t.Errorf("Get with a panicking load = nil error, want an error")
		}
	})
	t.Run("nil load", func(t *testing.T) {
		if _, err := l.Get(ctx, "n", life, nil); err == nil {
			t.Errorf("Get with a nil load = nil error, want an error")
		}
	})
	t.Run("garbage in memory", func(t *testing.T) {
		l.mem.Set("g", []byte("not an envelope"), time.Minute)
		l.mem.Wait()
		c := &counter{}
		got, err := l.Get(ctx, "g", life, c.load)
		if err != nil || got.Status != StatusMiss || c.calls.Load() != 1 {
			t.Errorf("Get = %s, %v after %d loads; want MISS after 1", got.Status, err, c.calls.Load())
		}
		if s := l.Stats(); s.BadEntries == 0 {
			t.Errorf("BadEntries = 0, want the garbage counted")
		}
	})
	t.Run("empty key and value", func(t *testing.T) {
		got, err := l.Get(ctx, "", life, func(context.Context) (Loaded, error) { return Loaded{Cache: true}, nil })
		if err != nil || len(got.Value) != 0 {
			t.Errorf("Get = %q, %v; want empty, nil", got.Value, err)
		}
	})
}

func TestLoaderCloseStopsRefreshes(t *testing.T) {
	clock := newFakeClock()
	l := NewLoader(LoaderOptions{Memory: newTestMemory(t, 1<<20), Now: clock.Now, Logger: discardLogger()})
	c := &counter{}
	if _, err := l.Get(context.Background(), "k", life, c.load); err != nil {
		t.Fatal(err)
	}
	settle(l, "k")
	l.Close()
	clock.Advance(15 * time.Second)
	got, err := l.Get(context.Background(), "k", life, c.load)
	if err != nil || got.Status != StatusStale {
		t.Errorf("Get after Close = %s, %v; want STALE", got.Status, err)
	}
	l.bg.Wait()
	if n := c.calls.Load(); n != 1 {
		t.Errorf("load called %d times after Close, want no refresh", n)
	}
}

// BenchmarkLoaderHit measures the hot path: a fresh entry in memory.
func BenchmarkLoaderHit(b *testing.B) {
	m, err := NewMemory(8 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	l := NewLoader(LoaderOptions{Memory: m})
	defer l.Close()
	value := bytes.Repeat([]byte("x"), 8<<10)
	load := func(context.Context) (Loaded, error) { return Loaded{Value: value, Cache: true}, nil }
	ctx := context.Background()
	if _, err := l.Get(ctx, "k", Lifetime{Fresh: time.Hour}, load); err != nil {
		b.Fatal(err)
	}
	m.Wait()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := l.Get(ctx, "k", Lifetime{Fresh: time.Hour}, load); err != nil || r.Status != StatusHit {
				b.Errorf("Get = %s, %v", r.Status, err)
				return
			}
		}
	})
}

// BenchmarkLoaderMiss measures what the Loader adds to a load on a miss
// (singleflight, envelope, memory Set and Wait); the load itself is free.
func BenchmarkLoaderMiss(b *testing.B) {
	m, err := NewMemory(64 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	l := NewLoader(LoaderOptions{Memory: m})
	defer l.Close()
	value := bytes.Repeat([]byte("x"), 8<<10)
	load := func(context.Context) (Loaded, error) {
		return Loaded{Value: value, Cache: true, Tags: []string{"q:x"}}, nil
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := l.Get(ctx, fmt.Sprint("key-", i), Lifetime{Fresh: time.Hour}, load); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestLoaderResultCarriesEntryLife(t *testing.T) {
	l := newTestLoader(t, newFakeClock(), nil)
	ctx := context.Background()
	diag := Lifetime{Fresh: time.Minute}
	load := func(context.Context) (Loaded, error) {
		return Loaded{Value: []byte("diagnostic"), Cache: true, Life: &diag}, nil
	}
	for _, want := range []Status{StatusMiss, StatusHit} {
		got, err := l.Get(ctx, "k", life, load)
		if err != nil || got.Status != want || got.Life != diag {
			t.Errorf("Get = %s life %+v, %v; want %s life %+v", got.Status, got.Life, err, want, diag)
		}
	}
	if got, ok := peek(l, ctx, "k"); !ok || got.Life != diag {
		t.Errorf("Peek = life %+v, %v; want %+v, true", got.Life, ok, diag)
	}
}

// peek finds a live (fresh or stale) entry for key without loading,
// refreshing or counting: what a test checks after purges and failures.
func peek(l *Loader, ctx context.Context, key string) (Result, bool) {
	now := l.now()
	e, ok := l.lookup(ctx, key, now, true)
	if !ok {
		return Result{}, false
	}
	return Result{Value: e.value, StoredAt: e.storedAt, Life: e.life, Stale: e.stateAt(now) == stateStale}, true
}
