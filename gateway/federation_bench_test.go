package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// BenchmarkFederationFigures measures SPEC 8's federation figures through
// the real gateway and the simulator (Alma latency 50 ms), in alternating
// rounds of A and B, and reports medians and the median of per-round
// ratios:
//   - hung: a federated miss over four targets with one hanging, against
//     the federation deadline, and against the same search over the three
//     healthy targets;
//   - fanout: a federated miss over four targets against one target's miss
//     (the single-target feed);
//   - cached: a cached federated page against a cached single-target page
//     (requests per second over one connection).
//
// Run: go test -run '^$' -bench FederationFigures -benchtime 1x ./gateway
func BenchmarkFederationFigures(b *testing.B) {
	const rounds, perRound = 5, 8
	deadline := 500 * time.Millisecond
	env, names := fedEnvTB(b, almasim.Config{Seed: 7, Records: 800, Latency: 50 * time.Millisecond}, func(c *Config) {
		c.Federation.FanOut.Timeout = Duration(deadline)
		c.Upstream.RatePerSecond, c.Upstream.RateBurst = 5000, 500 // measure latency, not the call budget
		// The hung target must stay hung (not time out and open its breaker,
		// which would answer at once) for the whole run.
		c.Upstream.Timeout, c.Upstream.HeaderTimeout = Duration(5*time.Minute), Duration(5*time.Minute)
		c.Breaker.ConsecutiveFailures, c.Breaker.MinRequests = 100000, 100000
		c.Federation.Groups["healthy"] = []string{names0(c), c.Members[0].Code, "ext"}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	seq := 0
	miss := func(extra url.Values) time.Duration {
		seq++
		// A fresh query per request (a NOT that never matches), so every one is a miss.
		q := url.Values{"query": {fmt.Sprintf(`alma.all_for_ui="history" not alma.all_for_ui="zz%d"`, seq)}, "limit": {"10"}}
		for k, v := range extra {
			q[k] = v
		}
		t0 := time.Now()
		resp, err := client.Get(env.base + "/v1/search?" + q.Encode())
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(t0)
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ratio := func(a, bb func() time.Duration) (float64, float64, float64, time.Duration, time.Duration) {
		var ratios []float64
		var as, bs []time.Duration
		for range rounds {
			var ra, rb []time.Duration
			for range perRound {
				ra = append(ra, a())
				rb = append(rb, bb())
			}
			as, bs = append(as, ra...), append(bs, rb...)
			ratios = append(ratios, float64(median(ra))/float64(median(rb)))
		}
		slices.Sort(ratios)
		return ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], median(as), median(bs)
	}
	b.ResetTimer()
	for b.Loop() {
		// Fan-out: four healthy targets against the single-target feed.
		r, lo, hi, four, one := ratio(
			func() time.Duration { return miss(url.Values{"targets": {"all"}}) },
			func() time.Duration { return miss(nil) })
		b.ReportMetric(r, "fanout_miss_ratio")
		b.Logf("federated miss over four (50 ms latency): median %v; single-target miss %v; ratio %.2f [%.2f..%.2f]", four, one, r, lo, hi)

		// Cached pages: the same request again and again.
		fed := env.base + "/v1/search?" + url.Values{"q": {"history"}, "targets": {"all"}}.Encode()
		single := env.base + "/v1/search?q=history"
		hit := func(u string) func() time.Duration {
			return func() time.Duration {
				t0 := time.Now()
				for range 200 {
					resp, err := client.Get(u)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				return time.Since(t0)
			}
		}
		hit(fed)()
		hit(single)()
		r, lo, hi, tf, ts := ratio(hit(single), hit(fed)) // time single / time fed = rps fed / rps single
		b.ReportMetric(r, "cached_fed_vs_single_rps")
		b.Logf("cached page, 200 requests: federated %v, single %v; federated/single requests per second %.2f [%.2f..%.2f]", ts, tf, r, lo, hi)
		env.sim.SetTargetFault(names[2], almasim.Fault{Kind: almasim.FaultHang})
		// Hung target of four, against the three healthy ones.
		r, lo, hi, hung, healthy := ratio(
			func() time.Duration { return miss(url.Values{"targets": {"all"}}) },
			func() time.Duration { return miss(url.Values{"targets": {"healthy"}}) })
		b.ReportMetric(float64(hung.Milliseconds()), "hung_median_ms")
		b.ReportMetric(float64((hung - deadline).Milliseconds()), "hung_over_deadline_ms")
		b.ReportMetric(float64(healthy.Milliseconds()), "three_healthy_median_ms")
		b.Logf("one hung of four: median %v (deadline %v, +%v); three healthy alone %v; ratio %.2f [%.2f..%.2f]", hung, deadline, hung-deadline, healthy, r, lo, hi)

	}
}

func names0(c *Config) string { return NZTarget }
