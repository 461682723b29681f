package upstream

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/almanet/gateway/budget"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/sru"
)

// trickler announces announced bytes, sends first bytes of them, and then
// nothing more until release is closed or the client goes away (issue 21
// item 2: a target that announces 32 MiB and trickles).
func trickler(t *testing.T, announced int, first []byte, release <-chan struct{}) *fakeAlma {
	t.Helper()
	return newFakeAlma(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("Content-Length", strconv.Itoa(announced))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
}

func gateTransport(t *testing.T, limit int64) *Transport {
	t.Helper()
	b := budget.New(budget.Options{PerSecond: 1000, Burst: 1000})
	cfg := config.UpstreamConfig{ConnectTimeout: config.Duration(time.Second), HeaderTimeout: config.Duration(5 * time.Second), RetryBudget: -1, MaxInflightBytes: limit}
	tr := NewTransport(cfg, b, NewMetrics(prometheus.NewRegistry()))
	t.Cleanup(tr.base.(*http.Transport).CloseIdleConnections)
	return tr
}

// waitFor polls cond; the test's own timeout is the only deadline.
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTricklingBodiesCostWhatTheySent: 20 searches against a target that
// announces 32 MiB and sends 8 KiB hold 20 × 8 KiB, not 20 × 32 MiB (the
// attack run's 100 searches reached 2.69 GiB), and each is cut at its
// deadline, giving every byte back.
func TestTricklingBodiesCostWhatTheySent(t *testing.T) {
	const calls, sent = 20, 8 << 10
	release := make(chan struct{})
	defer close(release)
	f := trickler(t, 32<<20, []byte("<"+strings.Repeat("x", sent-1)), release)
	tr := gateTransport(t, 64<<20)
	c := &sru.Client{BaseURL: f.URL + "/view/sru/X", HTTP: tr.Doer("sru:test"), MaxBody: 32 << 20}
	g, _ := testGuard(t, time.Minute)
	g.timeout = time.Hour // the test cuts the calls itself below, once measured

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, calls)
	for range calls {
		go func() {
			errs <- g.Do(ctx, func(ctx context.Context) error {
				_, err := c.Search(ctx, sru.SearchParams{Query: "alma.title=x", Max: 1})
				return err
			})
		}()
	}
	waitFor(func() bool { return tr.bytes.InUse() >= calls*sent })
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if got := tr.bytes.InUse(); got > calls*2*gatePiece {
		t.Errorf("bytes held by %d trickling bodies = %d, want at most %d", calls, got, calls*2*gatePiece)
	}
	if grew := int64(during.TotalAlloc - before.TotalAlloc); grew > 16<<20 {
		t.Errorf("%d trickling bodies allocated %d MiB, want under 16 MiB (each announced 32 MiB)", calls, grew>>20)
	}
	cancel()
	for range calls {
		if err := <-errs; err == nil {
			t.Error("a trickling body that never finished gave no error")
		}
	}
	if got := tr.bytes.InUse(); got != 0 {
		t.Errorf("bytes held after the calls ended = %d, want 0", got)
	}
}

// TestTricklingBodyCutAtDeadline: the guard's deadline ends a body that
// stops sending; the call fails as a timeout and gives its bytes back.
func TestTricklingBodyCutAtDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := trickler(t, 1<<20, []byte("<searchRetrieveResponse"), release)
	tr := gateTransport(t, 64<<20)
	c := &sru.Client{BaseURL: f.URL + "/view/sru/X", HTTP: tr.Doer("sru:test")}
	g, _ := testGuard(t, time.Minute)
	g.timeout = 100 * time.Millisecond
	err := g.Do(context.Background(), func(ctx context.Context) error {
		_, err := c.Search(ctx, sru.SearchParams{Query: "alma.title=x", Max: 1})
		return err
	})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("trickling body = %v, want ErrUnavailable saying Alma did not answer", err)
	}
	if got := tr.bytes.InUse(); got != 0 {
		t.Errorf("bytes held after the deadline = %d, want 0", got)
	}
}

// TestInflightBytesBound: with the bound nearly taken by one body, a second
// body is refused once it would pass the bound (503 with Retry-After, the
// gateway pacing itself: the breaker does not count it); the bytes held never
// pass the bound, and the first body completes.
func TestInflightBytesBound(t *testing.T) {
	const limit = 1 << 20
	page := []byte(`<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2</version><numberOfRecords>0</numberOfRecords><!--` + strings.Repeat("x", 700<<10) + `--></searchRetrieveResponse>`)
	release := make(chan struct{})
	var once sync.Once
	f := newFakeAlma(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		if n == 1 {
			// The first call sends all but the last byte, then waits.
			_, _ = w.Write(page[:len(page)-1])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			_, _ = w.Write(page[len(page)-1:])
			return
		}
		_, _ = w.Write(page)
	})
	tr := gateTransport(t, limit)
	c := &sru.Client{BaseURL: f.URL + "/view/sru/X", HTTP: tr.Doer("sru:test")}
	g, m := testGuard(t, time.Minute)
	search := func() error {
		return g.Do(context.Background(), func(ctx context.Context) error {
			_, err := c.Search(ctx, sru.SearchParams{Query: "alma.title=x", Max: 1})
			return err
		})
	}
	first := make(chan error, 1)
	go func() { first <- search() }()
	waitFor(func() bool { return tr.bytes.InUse() >= int64(len(page)-1) })

	err := search()
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "max_inflight_bytes") {
		t.Errorf("second body past the bound = %v, want ErrRateLimited naming upstream.max_inflight_bytes", err)
	}
	once.Do(func() { close(release) })
	if err := <-first; err != nil {
		t.Errorf("first body = %v, want it to complete", err)
	}
	if got := tr.bytes.HighWater(); got > limit {
		t.Errorf("bytes held at once = %d, want at most the bound %d", got, limit)
	}
	if got := tr.bytes.refused.Load(); got != 1 {
		t.Errorf("bodies refused = %d, want 1", got)
	}
	if got := g.cb.Counts().TotalFailures; got != 0 {
		t.Errorf("breaker failures = %d, want 0 (the refusal is the gateway's own)", got)
	}
	_ = m
	if got := tr.bytes.InUse(); got != 0 {
		t.Errorf("bytes held after both calls = %d, want 0", got)
	}
	// With the first body done, the same search fits again.
	if err := search(); err != nil {
		t.Errorf("search after the bound freed = %v", err)
	}
}
