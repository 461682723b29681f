package staff

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/upstream"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{.001, .01, .1, 1}
	tests := []struct {
		name string
		cum  []float64
		q    float64
		want *float64
	}{
		{"empty", []float64{0, 0, 0, 0}, .5, nil},
		{"all in the first bucket", []float64{10, 10, 10, 10}, .5, ptr(0.5)},
		{"middle of the second", []float64{0, 10, 10, 10}, .5, ptr(5.5)},
		{"p99 in the last", []float64{50, 90, 98, 100}, .99, ptr(550.0)},
	}
	for _, tt := range tests {
		got := quantile(bounds, tt.cum, tt.q)
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("%s: (-got +want)\n%s", tt.name, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestHistoryReadsTheOwnersCounters: the history's points and recent
// counts come from what the sources' own types count (the door's request
// totals, each guard's Calls, the cache's Stats), with no metrics registry
// in between.
func TestHistoryReadsTheOwnersCounters(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	m := upstream.NewMetrics(prometheus.NewRegistry())
	health := upstream.NewHealth(m, slog.New(slog.DiscardHandler))
	bc := config.BreakerConfig{ConsecutiveFailures: 100, FailureRatio: 1, MinRequests: 100, Window: config.Duration(time.Minute), Cooldown: config.Duration(time.Minute)}
	nz := upstream.NewGuard("sru:nz", bc, time.Second, health)
	api := upstream.NewGuard("api:nz", bc, time.Second, health)
	req := RequestTotals{Bounds: []float64{.001, .01, .1}, Buckets: []uint64{0, 0, 0}}
	var cs cache.Stats
	h := NewHistory(HistorySources{
		Requests: func() RequestTotals { return req },
		Cache:    func() cache.Stats { return cs },
		Guards:   func() []*upstream.Guard { return []*upstream.Guard{nz, api} },
		Now:      func() time.Time { return now },
	}, 10*time.Second)
	h.sample()

	// Ten seconds: 20 requests, 15 within 1 ms and 5 within 10 ms; 8 hits
	// and 2 misses; sru:nz 3 calls, one failing; api:nz one answer.
	now = now.Add(10 * time.Second)
	req = RequestTotals{Count: 20, Bounds: req.Bounds, Buckets: []uint64{15, 20, 20}}
	cs = cache.Stats{Hits: 8, Misses: 2}
	ctx := context.Background()
	for _, err := range []error{nil, nil, errors.New("connection refused")} {
		_ = nz.Do(ctx, func(context.Context) error { return err })
	}
	_ = api.Do(ctx, func(context.Context) error { return nil })
	h.sample()

	pts := h.Points()
	if len(pts) != 1 {
		t.Fatalf("%d points, want 1", len(pts))
	}
	p := pts[0]
	if p.RPS != 2 || p.AlmaCalls != 4 || p.Hit == nil || *p.Hit != 80 || p.P50 == nil || *p.P50 > 1 || p.P99 == nil || *p.P99 <= 1 {
		t.Errorf("point %+v (p50 %v, p99 %v, hit %v), want 2 rps, 4 Alma calls, 80%% hits, p50 within 1 ms, p99 over it", p, deref(p.P50), deref(p.P99), deref(p.Hit))
	}
	r := h.Recent()
	if got := r["sru:nz"]; got.Calls != 3 || got.Failures != 1 || got.LatencyMS == nil {
		t.Errorf("sru:nz recent %+v, want 3 calls, 1 failure and a latency", got)
	}
	if got := r["api:nz"]; got.Calls != 1 || got.Failures != 0 {
		t.Errorf("api:nz recent %+v, want 1 call", got)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
