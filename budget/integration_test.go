//go:build integration

package budget

// These tests run the budget's Lua scripts on a real redis-server
// (apt-get install -y redis-server):
//
//	go test -tags integration -run Integration ./budget/
//
// They fail, not skip, when redis-server is missing.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedisServer starts redis-server on a free loopback port and returns a
// client for it; the server stops with the test.
func startRedisServer(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (apt-get install -y redis-server): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	for i := 0; ; i++ {
		if err := c.Ping(context.Background()).Err(); err == nil {
			return c
		} else if i == 500 {
			t.Fatalf("redis-server never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIntegrationSharedBudget(t *testing.T) {
	const perSecond, burst = 20, 5
	rdb := startRedisServer(t)
	clock := newFakeClock()
	newB := func() *Budget {
		return New(Options{PerSecond: perSecond, Burst: burst, Redis: rdb, Now: clock.Now, Sleep: clock.Sleep, Logger: quietLogger()})
	}
	replicas := []*Budget{newB(), newB()}
	var granted []time.Time
	for i := range 200 {
		if i%40 == 0 {
			clock.Advance(3 * time.Second)
		}
		if err := replicas[(i/3)%2].Wait(context.Background(), apiKey); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		granted = append(granted, clock.Now())
	}
	if worst := maxInWindow(granted, time.Second); worst > perSecond+burst {
		t.Errorf("%d calls within one second, want at most %d", worst, perSecond+burst)
	}

	replicas[0].Backoff(apiKey, 2*time.Second)
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := replicas[1].Wait(short, apiKey); !errors.Is(err, ErrBackoff) {
		t.Errorf("the other replica's Wait inside a shared backoff = %v, want ErrBackoff", err)
	}
	for _, b := range replicas {
		if n := b.RedisErrors(); n != 0 {
			t.Errorf("RedisErrors = %d, want 0", n)
		}
	}
}
