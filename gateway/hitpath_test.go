package gateway

import (
	"net"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/almanet/gateway/almasim"
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
	rig := newBenchRig(t, almasim.Config{Seed: 7, Records: 300}, nil)
	if rig.gw.access == nil {
		t.Fatal("the access log is off in the rig; the hit path is measured with it on, as in production")
	}
	h := rig.gw.App().Handler()
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	for _, uri := range []string{
		"/v1/search?q=history",
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
