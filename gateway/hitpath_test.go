package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/cache"
)

// TestCachedHitAllocatesNothing holds the hit path to its design (DESIGN.md
// "The pipeline"): a cached /v1/search, /sru and /v1/records answer,
// through the whole Fiber stack and middleware, allocates nothing on
// average beyond what fasthttp's pools keep. A count, not a timing, so it
// runs in CI, in .ci/run's step without -race (the race detector changes
// allocation); BenchmarkCachedHit reports the same with -benchmem.
func TestCachedHitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items); .ci/run runs this without -race")
	}
	rig := newBenchRig(t, almasim.Config{Seed: 7, Records: 300}, fedRig)
	if rig.gw.access == nil {
		t.Fatal("the access log is off in the rig; the hit path is measured with it on, as in production")
	}
	h := rig.gw.App().Handler()
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	for _, uri := range []string{
		"/v1/search?q=history",
		"/v1/search?q=history&targets=all", // a merged page: stored bytes too
		"/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=10",
		"/v1/records/" + rig.sim.Records()[0].MMSID,
	} {
		t.Run(uri, func(t *testing.T) {
			rig.mustGet(t, rig.base+uri) // fills the cache
			var fctx fasthttp.RequestCtx
			fctx.Init(&fasthttp.Request{}, remote, nil)
			for range 100 { // warm fasthttp's buffers and the parse memo
				serveInProcess(h, &fctx, uri)
			}
			code := 0
			allocs := testing.AllocsPerRun(2000, func() {
				code, _ = serveInProcess(h, &fctx, uri)
			})
			if code != http.StatusOK || string(fctx.Response.Header.Peek("X-Cache")) != "HIT" {
				t.Fatalf("status %d X-Cache %q, want a 200 HIT", code, fctx.Response.Header.Peek("X-Cache"))
			}
			if allocs >= 1 {
				t.Errorf("a cached hit allocates %.2f times on average, want 0", allocs)
			}
		})
	}
}

// writeCounter counts the write calls on the connections it accepts.
type writeCounter struct {
	net.Listener
	writes atomic.Int64
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, writes: &l.writes}, nil
}

type countedConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestCachedPageIsOneWrite: a cached page larger than fasthttp's default
// 4 KiB write buffer and within limits.write_buffer_bytes goes out in one
// write system call, as a bare fasthttp server sends it in one writev. Behind the
// edge's connection wrapper fasthttp cannot use writev, and with the
// default buffer every such answer cost two writes (issue 23).
func TestCachedPageIsOneWrite(t *testing.T) {
	sim := almasim.New(almasim.Config{Seed: 7, Records: 300})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simS, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer simS.Close()
	gw, err := New(Config{SRUURL: sim.SRUURL(simS.URL()), APIURL: sim.APIURL(simS.URL()), APIKey: sim.NZKey()},
		Options{Logger: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &writeCounter{Listener: inner}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	conn, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, uri := range []string{
		"/v1/search?q=history",
		"/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=5",
	} {
		t.Run(uri, func(t *testing.T) {
			ask := func() (*http.Response, []byte) {
				t.Helper()
				if _, err := io.WriteString(conn, "GET "+uri+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp, body
			}
			ask() // fills the cache
			before := ln.writes.Load()
			resp, body := ask()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache") != "HIT" {
				t.Fatalf("status %d X-Cache %q, want a 200 HIT", resp.StatusCode, resp.Header.Get("X-Cache"))
			}
			if len(body) <= 4096 {
				t.Fatalf("the page is %d bytes; the test needs one larger than fasthttp's default write buffer", len(body))
			}
			if n := ln.writes.Load() - before; n != 1 {
				t.Errorf("a cached page of %d bytes took %d writes, want 1", len(body), n)
			}
		})
	}
}

// TestHitReadsTheClockOnce: a cached Search or Load reads the clock once,
// for the cache's freshness and the answer's Age alike (CacheView.At);
// the lookup and the view read it once each before (issue 23: a clock
// read is ~190 ns on this VM).
func TestHitReadsTheClockOnce(t *testing.T) {
	mem, err := cache.NewMemory(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	at := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	now := func() time.Time { reads.Add(1); return at }
	loader := cache.NewLoader(cache.LoaderOptions{Memory: mem, Now: now, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { loader.Close(); mem.Close() })
	pipe := NewSearcher(SearcherOptions{Loader: loader, Life: cache.Lifetime{Fresh: time.Minute, Stale: time.Hour},
		DiagnosticTTL: 10 * time.Second, Wait: 5 * time.Second, Now: now})
	load := func(context.Context) (Rendered, error) {
		return Rendered{ContentType: ContentJSON, Body: []byte(`{"x":1`)}, nil
	}
	if _, _, err := pipe.Load(context.Background(), "k", cache.Lifetime{Fresh: time.Minute}, load); err != nil {
		t.Fatal(err)
	}
	mem.Wait() // ristretto's Set is asynchronous
	reads.Store(0)
	_, v, err := pipe.Load(context.Background(), "k", cache.Lifetime{Fresh: time.Minute}, load)
	if err != nil || v.Status != cache.StatusHit {
		t.Fatalf("status %q err %v, want a hit", v.Status, err)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("a hit read the clock %d times, want 1", n)
	}
	if !v.At.Equal(at) {
		t.Errorf("CacheView.At = %v, want the clock's %v", v.At, at)
	}
}
