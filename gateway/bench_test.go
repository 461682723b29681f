package gateway

// Benchmarks and counts for SPEC section 8, run by bench/run.sh and written
// up in BENCHMARKS.md:
//
//   - BenchmarkCachedHit: a cached /v1/search and /sru answer driven through
//     the Fiber handler in process (no sockets), beside a bare Fiber handler
//     serving the same bytes: the in-process view of target 2, and the
//     benchmark to profile (-cpuprofile) when wrk shows a gap.
//   - BenchmarkMiss: the latency a miss adds to Alma's own (target 4), against
//     a simulator with a fixed latency, each iteration a fresh query.
//   - TestStampedeOneAlmaCall: 500 concurrent identical cold requests make
//     exactly one Alma call (target 5). A count, not a timing, so it is an
//     ordinary test and runs in CI.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/cache"
)

// almaLatency is the simulated Alma's own latency in BenchmarkMiss.
var almaLatency = flag.Duration("alma-latency", 50*time.Millisecond, "simulated Alma latency for BenchmarkMiss")

// benchRig is a simulated Alma network and a gateway in front of it, both
// real HTTP servers on loopback, for benchmarks (testing.TB, unlike newEnv)
// and with the simulator's latency and the gateway's budget set for load.
type benchRig struct {
	sim    *almasim.Simulator
	sruURL string // the simulator's NZ SRU base
	gw     *Server
	base   string // the gateway's base URL
	client *http.Client
}

// newBenchRig starts the simulator and the gateway; mutate (when not nil)
// changes the gateway's configuration, seeing the simulator and its base
// URL.
func newBenchRig(tb testing.TB, simCfg almasim.Config, mutate func(c *Config, sim *almasim.Simulator, simBase string)) *benchRig {
	tb.Helper()
	sim := almasim.New(simCfg)
	ctx, cancel := context.WithCancel(context.Background())
	simS, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		tb.Fatalf("starting the simulator: %v", err)
	}
	cfg := Config{SRUURL: sim.SRUURL(simS.URL()), APIURL: sim.APIURL(simS.URL()), APIKey: sim.NZKey()}
	cfg.Cache.ExplainRefresh = -1 // Alma calls are counted; keep the built-in index list
	// The call budget protects the real Alma; the simulator needs no
	// protection, and a budget wait would be measured as gateway latency.
	cfg.Upstream.RatePerSecond = 1e6
	cfg.Upstream.RateBurst = 1e6
	cfg.Limits.ClientRate = -1
	if mutate != nil {
		mutate(&cfg, sim, simS.URL())
	}
	gw, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), AccessLog: io.Discard}) // the access log on, as in production
	if err != nil {
		cancel()
		simS.Close()
		tb.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		simS.Close()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	r := &benchRig{sim: sim, sruURL: sim.SRUURL(simS.URL()), gw: gw, base: "http://" + ln.Addr().String(),
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
		gw.Close()
		simS.Close()
	})
	return r
}

// get fetches a URL and returns the status, the X-Cache header and the body.
func (r *benchRig) get(tb testing.TB, u string) (int, string, []byte) {
	resp, err := r.client.Get(u)
	if err != nil {
		tb.Errorf("GET %s: %v", u, err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Errorf("reading %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header.Get("X-Cache"), body
}

// mustGet is get for setup steps, which must succeed with 200.
func (r *benchRig) mustGet(tb testing.TB, u string) []byte {
	tb.Helper()
	code, _, body := r.get(tb, u)
	if code != http.StatusOK {
		tb.Fatalf("GET %s: status %d, want 200\n%.300s", u, code, body)
	}
	return body
}

// mustHit fills the cache with uri's answer and returns the body once the
// gateway answers it from the cache. The memory cache applies a Set
// asynchronously, so the answer after the one that filled it may still be
// a miss; it gives up after 100 tries.
func (r *benchRig) mustHit(tb testing.TB, uri string) []byte {
	tb.Helper()
	for range 100 {
		code, x, body := r.get(tb, r.base+uri)
		if code != http.StatusOK {
			tb.Fatalf("GET %s: status %d, want 200\n%.300s", uri, code, body)
		}
		if x == string(cache.StatusHit) {
			return body
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("GET %s: never answered from the cache", uri)
	return nil
}

// serveInProcess answers one request through a Fiber handler without a
// socket and returns the status and the body's length. The response keeps
// its body buffer from one request to the next, as fasthttp's server does
// on a connection (keepBodyBuffer): without it every body went back to
// fasthttp's byte buffer pool, which drops buffers larger than its
// calibrated size, and a page larger than the one measured before it
// allocated its buffer anew on every hit until the pool recalibrated.
func serveInProcess(h fasthttp.RequestHandler, fctx *fasthttp.RequestCtx, uri string) (int, int) {
	fctx.Request.Reset()
	fctx.Response.KeepBodyBuffer = true
	fctx.Response.Reset()
	fctx.Request.SetRequestURI(uri)
	fctx.Request.Header.SetMethod(fasthttp.MethodGet)
	fctx.Request.Header.SetHost("127.0.0.1")
	h(fctx)
	return fctx.Response.StatusCode(), len(fctx.Response.Body())
}

// fedRig is a mutate for newBenchRig: the simulator's members and external
// target, and the group "all" of four targets (fedTargets).
func fedRig(c *Config, sim *almasim.Simulator, base string) { fedTargets(c, sim, base) }

// BenchmarkCachedHit measures a cached answer through the gateway's whole
// Fiber stack (middleware included) and a bare Fiber handler that sends the
// same bytes, in process, on all cores (RunParallel). search-fed-10 is a
// merged page of four targets, which is stored bytes as a single target's
// page is (issue 23: it must cost what search-json-10 costs).
func BenchmarkCachedHit(b *testing.B) {
	rig := newBenchRig(b, almasim.Config{Seed: 7, Records: 3000}, fedRig)
	paths := []struct{ name, uri string }{
		{"search-json-10", "/v1/search?q=history"},
		{"search-fed-10", "/v1/search?q=history&targets=all"},
		{"sru-marcxml-10", "/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=10"},
		{"record-json", "/v1/records/" + rig.sim.Records()[0].MMSID},
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	hit := []byte(cache.StatusHit)
	for _, p := range paths {
		body := rig.mustHit(b, p.uri)
		gwHandler := rig.gw.App().Handler()
		bare := fiber.New(fiber.Config{DisableStartupMessage: true})
		bare.Get("/*", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
			return c.Send(body)
		})
		for _, h := range []struct {
			name    string
			handler fasthttp.RequestHandler
		}{{"gateway", gwHandler}, {"bare-fiber", bare.Handler()}} {
			b.Run(p.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				// The process's CPU time per hit (GC included), the figure
				// a loaded machine disturbs least (issue 23).
				cpu0 := processCPU()
				defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
				b.RunParallel(func(pb *testing.PB) {
					var fctx fasthttp.RequestCtx
					fctx.Init(&fasthttp.Request{}, remote, nil)
					for pb.Next() {
						code, n := serveInProcess(h.handler, &fctx, p.uri)
						if h.name == "gateway" && !bytes.Equal(fctx.Response.Header.Peek("X-Cache"), hit) {
							b.Errorf("%s: X-Cache %q, want HIT: the benchmark would measure something else", p.uri, fctx.Response.Header.Peek("X-Cache"))
							return
						}
						if code != http.StatusOK || n < len(body) {
							b.Errorf("%s: status %d, %d bytes, want 200 and at least %d", p.uri, code, n, len(body))
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkMiss measures cache misses against a simulated Alma that takes
// -alma-latency (default 50ms) per answer. Every iteration asks five fresh
// queries, so each is a miss, interleaving the gateway with direct calls to
// the simulator so that both see the same machine load:
//
//	alma-10, alma-50    the simulator directly, 10 and 50 records
//	search-10, sru-10   a /v1/search (JSON) and /sru (MARCXML) miss, 10 records
//	search-100          a /v1/search miss of 100 records (two Alma pages)
//
// It reports medians in ms, the gateway's added latency (median gateway
// minus median direct, target: under 1 ms) and search-100/search-10 (target:
// about 1, one round trip rather than two).
func BenchmarkMiss(b *testing.B) {
	rig := newBenchRig(b, almasim.Config{Seed: 7, Records: 3000, Latency: *almaLatency}, nil)
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() % 1e9)
	// A fresh query each time: history titles but one MMS ID, which Alma
	// answers with a full page (hundreds of hits) and the gateway has never seen.
	fresh := func() string {
		return "alma.title=history not alma.mms_id=" + strconv.FormatInt(seq.Add(1), 10)
	}
	direct := func(q string, n int) string {
		return rig.sruURL + "?" + url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"},
			"query": {q}, "maximumRecords": {strconv.Itoa(n)}, "recordSchema": {"marcxml"}}.Encode()
	}
	search := func(q string, n int) string {
		return rig.base + "/v1/search?" + url.Values{"query": {q}, "limit": {strconv.Itoa(n)}}.Encode()
	}
	sruURL := func(q string, n int) string {
		return rig.base + "/sru?" + url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"},
			"query": {q}, "maximumRecords": {strconv.Itoa(n)}}.Encode()
	}
	cases := []struct {
		name string
		url  func() string
		miss bool // a gateway request, which must answer MISS
	}{
		{"alma-10", func() string { return direct(fresh(), 10) }, false},
		{"search-10", func() string { return search(fresh(), 10) }, true},
		{"sru-10", func() string { return sruURL(fresh(), 10) }, true},
		{"alma-50", func() string { return direct(fresh(), 50) }, false},
		{"search-100", func() string { return search(fresh(), 100) }, true},
	}
	// Warm every connection and code path once.
	for _, c := range cases {
		rig.mustGet(b, c.url())
	}
	took := make([][]float64, len(cases))
	b.ResetTimer()
	for b.Loop() {
		for i, c := range cases {
			u := c.url()
			t0 := time.Now()
			code, xc, body := rig.get(b, u)
			d := time.Since(t0)
			if code != http.StatusOK || (c.miss && xc != "MISS") {
				b.Fatalf("%s: status %d X-Cache %q, want 200 MISS\n%.300s", c.name, code, xc, body)
			}
			took[i] = append(took[i], float64(d.Microseconds())/1000)
		}
	}
	b.StopTimer()
	med := make(map[string]float64, len(cases))
	for i, c := range cases {
		med[c.name] = median(took[i])
		b.ReportMetric(med[c.name], c.name+"-ms")
	}
	b.ReportMetric(med["search-10"]-med["alma-10"], "added-search-10-ms")
	b.ReportMetric(med["sru-10"]-med["alma-10"], "added-sru-10-ms")
	b.ReportMetric(med["search-100"]-med["alma-50"], "added-search-100-ms")
	b.ReportMetric(med["search-100"]/med["search-10"], "100/10-ratio")
}

// median returns the middle value of xs (the mean of the middle two when
// even); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 0 {
		return (xs[m-1] + xs[m]) / 2
	}
	return xs[m]
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			if got := median(slices.Clone(tc.in)); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestStampedeOneAlmaCall is SPEC 8's fifth target: 500 concurrent
// identical cold requests make exactly one Alma call. The simulator is slow
// (100ms) so that the requests really overlap the one flight; every answer
// must be the same 200, and the X-Cache tally is logged (-v) for
// BENCHMARKS.md.
func TestStampedeOneAlmaCall(t *testing.T) {
	const n = 500
	rig := newBenchRig(t, almasim.Config{Seed: 7, Records: 3000, Latency: 100 * time.Millisecond}, nil)
	for _, tc := range []struct{ name, path string }{
		{"search", "/v1/search?q=stampede+history&limit=10"},
		{"sru", "/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dstampede+or+alma.title%3Dhistory&maximumRecords=10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig.sim.ResetCounters()
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex // guards tally and bodies
				tally  = map[string]int{}
				bodies = map[string]int{}
				start  = make(chan struct{})
			)
			for range n {
				wg.Go(func() {
					<-start
					code, xc, body := rig.get(t, rig.base+tc.path)
					mu.Lock()
					defer mu.Unlock()
					tally[strconv.Itoa(code)+" "+xc]++
					if tc.name == "sru" {
						bodies[string(body)]++
					} else {
						bodies[string(stripMeta(body))]++
					}
				})
			}
			close(start)
			wg.Wait()
			calls := rig.sim.Count(almasim.EndpointSRU)
			t.Logf("%d concurrent cold %s requests: %d Alma call(s); answers %v", n, tc.path, calls, tally)
			if calls != 1 {
				t.Errorf("Alma calls = %d, want 1", calls)
			}
			if len(bodies) != 1 {
				t.Errorf("%d different bodies, want one", len(bodies))
			}
			for k, c := range tally {
				if k[:4] != "200 " {
					t.Errorf("%d answers were %q, want 200", c, k)
				}
			}
		})
	}
}

// stripMeta cuts a /v1/search body before its per-request meta block.
func stripMeta(body []byte) []byte {
	for i := len(body) - len(`,"meta":`); i >= 0; i-- {
		if string(body[i:i+len(`,"meta":`)]) == `,"meta":` {
			return body[:i]
		}
	}
	return body
}
