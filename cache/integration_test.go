//go:build integration

package cache

// These tests run a real redis-server (apt-get install -y redis-server):
//
//	go test -tags integration -run Integration ./cache/
//
// They fail, not skip, when redis-server is missing.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/almanet/gateway/internal/testtool"
)

// startRedisServer starts a real redis-server (see testtool.RedisServer).
func startRedisServer(t *testing.T) (addr string, stop func()) {
	t.Helper()
	return testtool.RedisServer(t)
}

func newIntegrationLoader(t *testing.T, addr string) *Loader {
	t.Helper()
	r, err := NewRedis(RedisOptions{URL: "redis://" + addr, DownFor: 50 * time.Millisecond, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	m := newTestMemory(t, 4<<20)
	l := NewLoader(LoaderOptions{Memory: m, Redis: r, Logger: discardLogger()})
	t.Cleanup(l.Close)
	return l
}

func TestIntegrationReplicasShareEntries(t *testing.T) {
	addr, _ := startRedisServer(t)
	a := newIntegrationLoader(t, addr)
	b := newIntegrationLoader(t, addr)
	ctx := context.Background()
	life := Lifetime{Fresh: time.Minute, Stale: time.Hour}

	got, err := a.Get(ctx, "sru|alma.title=\"x\"|1|10|marcxml", life, func(context.Context) (Loaded, error) {
		return Loaded{Value: []byte("<page/>"), Cache: true, Tags: []string{"q:x"}}, nil
	})
	if err != nil || got.Status != StatusMiss {
		t.Fatalf("a.Get = %s, %v; want MISS", got.Status, err)
	}
	a.bg.Wait() // the Redis write follows the answer
	got, err = b.Get(ctx, "sru|alma.title=\"x\"|1|10|marcxml", life, func(context.Context) (Loaded, error) {
		t.Error("replica b loaded although replica a had stored the entry in Redis")
		return Loaded{}, fmt.Errorf("unexpected load")
	})
	if err != nil || got.Status != StatusHit || string(got.Value) != "<page/>" {
		t.Errorf("b.Get = %s %q, %v; want HIT <page/>", got.Status, got.Value, err)
	}

	// A purge on b removes the shared entry and b's memory copy (a's memory
	// copy lives until it expires: purges are not broadcast).
	b.PurgeTag(ctx, "q:x")
	b.mem.Wait()
	if r, ok := peek(b, ctx, "sru|alma.title=\"x\"|1|10|marcxml"); ok {
		t.Errorf("b.Peek found %q after purging its tag", r.Value)
	}
}

// TestIntegrationRedisStopsMidRun runs two replicas under concurrent load and
// kills redis-server halfway: every request must still be answered with the
// right bytes, from memory or from the load.
func TestIntegrationRedisStopsMidRun(t *testing.T) {
	addr, stopRedis := startRedisServer(t)
	replicas := []*Loader{newIntegrationLoader(t, addr), newIntegrationLoader(t, addr)}
	life := Lifetime{Fresh: 20 * time.Millisecond, Stale: time.Second}
	load := func(key string) LoadFunc {
		return func(context.Context) (Loaded, error) {
			return Loaded{Value: []byte("answer for " + key), Cache: true, Tags: []string{"t"}}, nil
		}
	}

	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			l := replicas[w%2]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprint("key-", (i*7+w)%40)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				got, err := l.Get(ctx, key, life, load(key))
				cancel()
				if err != nil || string(got.Value) != "answer for "+key {
					failed.Add(1)
					t.Errorf("Get(%s) = %q, %v", key, got.Value, err)
					continue
				}
				served.Add(1)
			}
		})
	}
	waitServed := func(n int64) {
		for served.Load() < n && failed.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	waitServed(2000)
	before := served.Load()
	stopRedis()
	waitServed(before + 2000)
	close(stop)
	wg.Wait()

	if failed.Load() != 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	var redisErrors uint64
	for i, l := range replicas {
		s := l.Stats()
		t.Logf("replica %d: %+v", i, s)
		redisErrors += s.RedisErrors
	}
	if redisErrors == 0 {
		t.Errorf("no Redis errors counted after redis-server stopped")
	}
	t.Logf("%d requests served, %d of them after redis-server stopped", served.Load(), served.Load()-before)
}
