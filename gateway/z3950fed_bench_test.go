package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/z3950"
)

// BenchmarkZ3950FederationFigures measures issue 20's figures through the
// real gateway over HTTP, against simulated delays: the simulator's SRU
// targets answer after 50 ms, and the Z39.50 target (the simulated network
// behind the z3950 package's own server) sits behind a proxy that holds
// every chunk 25 ms each way, a 50 ms round trip. Every request is a miss
// (a fresh query). In alternating rounds, each reporting its load average:
//   - fanout: a federated miss over nz, a member, the external SRU target
//     and the Z39.50 target, against the slowest of the four alone (the
//     single-target feed of each, its median in that round); the Z39.50
//     target fetches its 100 records in Presents of page_size 25 (the
//     default), and, as fanout100, of 100;
//   - warm/cold: a miss of the Z39.50 target alone on its pooled session
//     (no Init), against another target on the same server whose sessions
//     are closed after every search (connect and Init each time); the
//     Inits are counted;
//   - hung: a federated miss over four targets, one a Z39.50 target that
//     accepts and never answers, against the federation deadline (1.5 s),
//     and against the three healthy ones alone.
//
// Run: go test -run '^$' -bench Z3950FederationFigures -benchtime 1x ./gateway
// (bench/z3950fed.sh runs it with the load average before and after).
func BenchmarkZ3950FederationFigures(b *testing.B) {
	const rounds, perRound = 5, 6
	// Long enough that the fan-outs end before it on a loaded machine:
	// the fanout figure must time the targets, not the deadline.
	deadline := 1500 * time.Millisecond
	be := &zSimBackend{}
	far := delayProxy(b, serveZ(b, be), 25*time.Millisecond)
	silent := zScripted(b, func(c net.Conn) { io.Copy(io.Discard, c) })
	env, names := fedEnvTB(b, almasim.Config{Seed: 7, Records: 800, Latency: 50 * time.Millisecond}, func(c *Config) {
		c.Federation.FanOut.Timeout = Duration(deadline)
		c.Upstream.RatePerSecond, c.Upstream.RateBurst = 5000, 500 // latency, not the call budget
		// The hung target must stay hung, not time out and open its
		// breaker (which would answer at once), for the whole run.
		c.Upstream.Timeout, c.Upstream.HeaderTimeout = Duration(5*time.Minute), Duration(5*time.Minute)
		c.Breaker.ConsecutiveFailures, c.Breaker.MinRequests = 100000, 100000
		hung := zTargetConfig("zhung", silent)
		hung.Timeout = Duration(5 * time.Minute)
		big := zTargetConfig("zt100", far)
		big.PageSize = 100 // its 100 records in one Present, not four
		c.Federation.Targets = append(c.Federation.Targets, zTargetConfig("zt", far), big, zTargetConfig("zcold", far), hung)
		m := c.Members[0].Code
		c.Federation.Groups["zfour"] = []string{NZTarget, m, "ext", "zt"}
		c.Federation.Groups["zfour100"] = []string{NZTarget, m, "ext", "zt100"}
		c.Federation.Groups["zhung4"] = []string{NZTarget, m, "zt", "zhung"}
		c.Federation.Groups["zthree"] = []string{NZTarget, m, "zt"}
	})
	be.set(func(z *zSimBackend) { z.sim = env.sim })
	origin := func(name string) *z3950.Origin {
		t, _ := env.gw.reg.Get(name)
		return t.Origin()
	}
	warm, cold := origin("zt"), origin("zcold")
	cold.Close() // from now on every session of zcold is closed after its search
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	seq := 0
	miss := func(targets string) func() time.Duration {
		return func() time.Duration {
			seq++
			q := url.Values{"query": {fmt.Sprintf(`alma.all_for_ui="history" not alma.all_for_ui="zz%d"`, seq)}, "limit": {"10"}, "targets": {targets}}
			t0 := time.Now()
			resp, err := client.Get(env.base + "/v1/search?" + q.Encode())
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"mms_id"`) {
				b.Fatalf("targets=%s: status %d, no records:\n%.2000s", targets, resp.StatusCode, body)
			}
			return time.Since(t0)
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	load := func() string {
		l, _ := os.ReadFile("/proc/loadavg")
		f := strings.Fields(string(l))
		if len(f) < 3 {
			return "?"
		}
		return strings.Join(f[:3], " ")
	}
	spread := func(r []float64) (float64, float64, float64) {
		slices.Sort(r)
		return r[len(r)/2], r[0], r[len(r)-1]
	}
	b.ResetTimer()
	for b.Loop() {
		singles := []string{NZTarget, names[1], "ext", "zt"}
		var ratios, ratios100, warmCold, hungOver []float64
		for round := range rounds {
			fed := make([]time.Duration, 0, perRound)
			var fed100 []time.Duration
			one := make([][]time.Duration, len(singles))
			var w, c, h, three []time.Duration
			wInits, cInits := warm.Inits(), cold.Inits()
			for range perRound {
				fed = append(fed, miss("zfour")())
				fed100 = append(fed100, miss("zfour100")())
				for i, s := range singles {
					one[i] = append(one[i], miss(s)())
				}
				w = append(w, miss("zt")())
				c = append(c, miss("zcold")())
				h = append(h, miss("zhung4")())
				three = append(three, miss("zthree")())
			}
			slowest, which := time.Duration(0), ""
			var each []string
			for i, s := range singles {
				m := median(one[i])
				each = append(each, fmt.Sprintf("%s %v", s, m.Round(time.Millisecond)))
				if m > slowest {
					slowest, which = m, s
				}
			}
			ratios = append(ratios, float64(median(fed))/float64(slowest))
			ratios100 = append(ratios100, float64(median(fed100))/float64(slowest))
			warmCold = append(warmCold, float64(median(c))/float64(median(w)))
			hungOver = append(hungOver, float64((median(h) - deadline).Milliseconds()))
			b.Logf("round %d, load %s: fanout over four %v (page_size 100: %v, %.2f×) vs slowest alone %v (%s; %s) = %.2f×; zt warm %v (%d Inits in %d searches of zt, the Z39.50 part of the fan-outs included) vs cold %v (%d Inits in %d) = %.2f×; one hung of four %v (deadline %v, +%v), the three healthy alone %v",
				round+1, load(), median(fed).Round(time.Millisecond), median(fed100).Round(time.Millisecond), ratios100[round], slowest.Round(time.Millisecond), which, strings.Join(each, ", "),
				ratios[round], median(w).Round(time.Millisecond), warm.Inits()-wInits, 4*perRound, median(c).Round(time.Millisecond), cold.Inits()-cInits, perRound, warmCold[round],
				median(h).Round(time.Millisecond), deadline, (median(h) - deadline).Round(time.Millisecond), median(three).Round(time.Millisecond))
		}
		r, lo, hi := spread(ratios)
		b.ReportMetric(r, "fanout_vs_slowest")
		b.Logf("fanout over four (one Z39.50) vs the slowest alone: median of rounds %.2f [%.2f, %.2f]", r, lo, hi)
		r, lo, hi = spread(ratios100)
		b.ReportMetric(r, "fanout100_vs_slowest")
		b.Logf("the same, the Z39.50 target's page_size 100: median of rounds %.2f [%.2f, %.2f]", r, lo, hi)
		r, lo, hi = spread(warmCold)
		b.ReportMetric(r, "cold_vs_warm")
		b.Logf("Z39.50 target alone, cold vs warm: median of rounds %.2f [%.2f, %.2f]", r, lo, hi)
		r, lo, hi = spread(hungOver)
		b.ReportMetric(r, "hung_over_deadline_ms")
		b.Logf("one hung Z39.50 target of four, ms over the %v deadline: median of rounds %.0f [%.0f, %.0f]", deadline, r, lo, hi)
	}
}
