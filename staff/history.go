package staff

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/upstream"
)

// The dashboard's charts (SPEC 11) come from an in-process history: every
// HistoryInterval the sampler reads the gateway's own counters from the
// types that keep them (the door's requests, each upstream guard's calls,
// the cache's statistics) into a snapshot, and a
// ring of snapshots covering one hour is kept. A chart point is the
// difference between two consecutive snapshots, so nothing per request is
// added to the hot path, and memory is bounded by the ring's length. The
// per-upstream rows of /v1/status use the same snapshots for their recent
// call and failure counts, which an open breaker's own counters (reset on
// every state change) cannot give.

// HistorySpan is how far back the charts reach.
const HistorySpan = time.Hour

// RecentWindow is the span of an upstream row's recent counts.
const RecentWindow = 5 * time.Minute

// snapshot is the gateway's cumulative counters at one moment.
type snapshot struct {
	at        time.Time
	requests  float64   // user requests answered (staff and probe routes excluded)
	buckets   []float64 // their cumulative latency histogram, by latencyBounds
	hits      uint64
	misses    uint64
	stale     uint64
	coalesced uint64
	almaCalls float64 // guarded Alma calls made (a breaker's refusal is no call)
	upstream  map[string]upCounters
}

// upCounters are one upstream's cumulative call counters.
type upCounters struct {
	calls, failures, durSum, durCount float64
}

// HistorySources are what the history reads, each asked at sample time,
// each from the type that counts it.
type HistorySources struct {
	Requests func() RequestTotals     // users' requests (staff and probe routes excluded)
	Cache    func() cache.Stats       // the read-through cache's counters
	Guards   func() []*upstream.Guard // each upstream's calls (Guard.Calls) and breaker
	Now      func() time.Time
}

// RequestTotals are the users' requests answered so far and their
// latency histogram, cumulative.
type RequestTotals struct {
	Count   uint64
	Bounds  []float64 // the histogram's upper bounds, in seconds
	Buckets []uint64  // requests at or under each bound (cumulative)
}

// History is the ring of snapshots and the upstreams' degraded-since marks.
type History struct {
	src      HistorySources
	interval time.Duration
	done     chan struct{}

	mu     sync.Mutex // guards ring, next, full, bounds and since
	ring   []snapshot
	next   int
	full   bool
	bounds []float64            // the request histogram's upper bounds
	since  map[string]time.Time // upstream → when it stopped being healthy
}

// NewHistory keeps an hour of snapshots taken every interval.
func NewHistory(src HistorySources, interval time.Duration) *History {
	n := int(HistorySpan/interval) + 1
	return &History{src: src, interval: interval, done: make(chan struct{}), ring: make([]snapshot, n), since: map[string]time.Time{}}
}

// Interval is the time between snapshots.
func (h *History) Interval() time.Duration { return h.interval }

// Done is closed when Run has returned.
func (h *History) Done() <-chan struct{} { return h.done }

// Run samples until ctx ends.
func (h *History) Run(ctx context.Context) {
	defer close(h.done)
	h.sample()
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.sample()
		}
	}
}

// take reads the counters now.
func (h *History) take() snapshot {
	snap := snapshot{at: h.src.Now(), upstream: map[string]upCounters{}}
	cs := h.src.Cache()
	snap.hits, snap.misses, snap.stale, snap.coalesced = cs.Hits, cs.Misses, cs.StaleServes, cs.Coalesced
	rt := h.src.Requests()
	snap.requests = float64(rt.Count)
	if len(rt.Buckets) > 0 && len(rt.Buckets) == len(rt.Bounds) {
		snap.buckets = make([]float64, len(rt.Buckets))
		for i, n := range rt.Buckets {
			snap.buckets[i] = float64(n)
		}
		h.mu.Lock()
		h.bounds = rt.Bounds
		h.mu.Unlock()
	}
	for _, g := range h.src.Guards() {
		c := g.Calls()
		u := snap.upstream[g.Name()]
		u.calls += float64(c.Calls)
		u.failures += float64(c.Failures)
		u.durSum += c.Duration.Seconds()
		u.durCount += float64(c.Timed)
		snap.upstream[g.Name()] = u
		snap.almaCalls += float64(c.Calls)
	}
	return snap
}

func (h *History) sample() {
	snap := h.take()
	h.mu.Lock()
	h.ring[h.next] = snap
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
	h.mu.Unlock()
	h.MarkStates()
}

// snapshots returns the ring oldest first.
func (h *History) snapshots() []snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []snapshot
	if h.full {
		out = append(out, h.ring[h.next:]...)
	}
	return append(out, h.ring[:h.next]...)
}

// before returns the newest snapshot at least d older than t, else the
// oldest one; ok is false while there is none.
func (h *History) before(t time.Time, d time.Duration) (snapshot, bool) {
	snaps := h.snapshots()
	if len(snaps) == 0 {
		return snapshot{}, false
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if !snaps[i].at.After(t.Add(-d)) {
			return snaps[i], true
		}
	}
	return snaps[0], true
}

// HistoryPoint is one chart point: what happened between two samples.
// A ratio or percentile is null when there was nothing to measure.
type HistoryPoint struct {
	Time      time.Time `json:"time"`
	RPS       float64   `json:"requests_per_second"`
	P50       *float64  `json:"p50_ms"`
	P99       *float64  `json:"p99_ms"`
	Hit       *float64  `json:"hit_ratio"`
	Stale     *float64  `json:"stale_ratio"`
	Coalesced *float64  `json:"coalesced_ratio"`
	AlmaCalls float64   `json:"alma_calls"`
}

// Points turns the ring into chart points, oldest first.
func (h *History) Points() []HistoryPoint {
	snaps := h.snapshots()
	h.mu.Lock()
	bounds := h.bounds
	h.mu.Unlock()
	out := make([]HistoryPoint, 0, len(snaps))
	for i := 1; i < len(snaps); i++ {
		a, b := snaps[i-1], snaps[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		p := HistoryPoint{Time: b.at.UTC(), RPS: round2(max(0, b.requests-a.requests) / dt), AlmaCalls: max(0, b.almaCalls-a.almaCalls)}
		if len(a.buckets) == len(b.buckets) && len(b.buckets) == len(bounds) || a.buckets == nil && len(b.buckets) == len(bounds) {
			delta := make([]float64, len(b.buckets))
			for j := range b.buckets {
				delta[j] = b.buckets[j]
				if a.buckets != nil {
					delta[j] -= a.buckets[j]
				}
			}
			p.P50 = quantile(bounds, delta, 0.5)
			p.P99 = quantile(bounds, delta, 0.99)
		}
		hits, misses, stale, coal := float64(b.hits-a.hits), float64(b.misses-a.misses), float64(b.stale-a.stale), float64(b.coalesced-a.coalesced)
		if n := hits + misses + stale; n > 0 {
			p.Hit, p.Stale, p.Coalesced = ratio(hits, n), ratio(stale, n), ratio(min(coal, n), n)
		}
		out = append(out, p)
	}
	return out
}

func ratio(a, n float64) *float64 { v := round2(a / n * 100); return &v }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// quantile estimates the q-quantile in milliseconds from cumulative bucket
// counts, interpolating linearly inside the bucket, as Prometheus's
// histogram_quantile does. Nil when the buckets are empty.
func quantile(bounds, cum []float64, q float64) *float64 {
	if len(cum) == 0 {
		return nil
	}
	total := cum[len(cum)-1]
	// Requests slower than the last bound are in the implicit +Inf bucket,
	// which the cumulative counts above do not reach: they are not in
	// total, and the estimate is capped at the last bound.
	if total <= 0 {
		return nil
	}
	rank := q * total
	lo, prev := 0.0, 0.0
	for i, c := range cum {
		if c >= rank {
			hi := bounds[i]
			v := lo
			if c > prev {
				v = lo + (hi-lo)*(rank-prev)/(c-prev)
			}
			ms := round2(v * 1000)
			return &ms
		}
		lo, prev = bounds[i], c
	}
	ms := round2(bounds[len(bounds)-1] * 1000)
	return &ms
}

// MarkStates records when each upstream stopped being healthy.
func (h *History) MarkStates() {
	now := h.src.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.src.Guards() {
		if g.State() == gobreaker.StateClosed {
			delete(h.since, g.Name())
			continue
		}
		if _, ok := h.since[g.Name()]; !ok {
			at := now
			if o := g.OpenedAt(); !o.IsZero() {
				at = o
			}
			h.since[g.Name()] = at
		}
	}
}

// Recent is one upstream's calls over the last RecentWindow.
type Recent struct {
	Calls, Failures int
	LatencyMS       *float64   // the mean; nil when there was no call
	Since           *time.Time // when it stopped being healthy; nil while it is
}

// Recent marks the states and returns every upstream's recent counts, by
// name, from the counters now and the snapshot RecentWindow ago.
func (h *History) Recent() map[string]Recent {
	h.MarkStates()
	cur := h.take()
	old, haveOld := h.before(h.src.Now(), RecentWindow)
	out := map[string]Recent{}
	for name, c := range cur.upstream {
		var o upCounters
		if haveOld {
			o = old.upstream[name]
		}
		r := Recent{Calls: int(c.calls - o.calls), Failures: int(c.failures - o.failures)}
		if n := c.durCount - o.durCount; n > 0 {
			ms := round2((c.durSum - o.durSum) / n * 1000)
			r.LatencyMS = &ms
		}
		out[name] = r
	}
	h.mu.Lock()
	for name, t := range h.since {
		r := out[name]
		t = t.UTC().Truncate(time.Second)
		r.Since = &t
		out[name] = r
	}
	h.mu.Unlock()
	return out
}
