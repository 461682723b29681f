package gateway

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/almasim"
)

// The fault suite (issue 7): for every way Alma fails, against the
// simulator over real HTTP, the gateway answers (it never waits past its
// deadline for a hanging Alma), with the right status or diagnostic; a
// cached answer is served stale; nothing bad is cached; the breaker opens,
// keeps calls from Alma while open (the simulator's counter stays put) and
// closes after Alma recovers. No assertion is on wall-clock time: what is
// checked is that an answer came at all, and in which order things happened.

// faultEnv is a gateway with a short deadline and a small breaker.
func faultEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnv(t, func(c *Config) {
		c.Upstream.Timeout = Duration(700 * time.Millisecond)
		c.Upstream.HeaderTimeout = Duration(700 * time.Millisecond)
		c.Breaker.ConsecutiveFailures = 3
		c.Breaker.Cooldown = Duration(300 * time.Millisecond)
		c.Cache.TTL = Duration(time.Minute)
		c.Cache.Stale = Duration(time.Hour)
	})
}

// searchPage asks /v1/search for a page no earlier request asked for, so
// that it cannot be answered from the cache.
func (e *testEnv) searchPage(start int) (int, http.Header, searchJSON) {
	e.t.Helper()
	return e.search(url.Values{"q": {"history"}, "start": {strconv.Itoa(start)}, "limit": {"5"}})
}

func TestFaultSuite(t *testing.T) {
	tests := []struct {
		name  string
		fault almasim.Fault
		// opens: the fault counts against Alma and trips the breaker.
		opens bool
		// wantDetail is a phrase of the 503's diagnostic details.
		wantDetail string
	}{
		{"slow past the deadline", almasim.Fault{Kind: almasim.FaultSlow, Delay: 30 * time.Second}, true, "did not answer within"},
		{"500", almasim.Fault{Kind: almasim.Fault500}, true, "HTTP 500"},
		{"429 with Retry-After", almasim.Fault{Kind: almasim.Fault429, RetryAfter: 2}, false, "429"},
		{"malformed XML", almasim.Fault{Kind: almasim.FaultMalformed}, true, "malformed or truncated"},
		{"truncated body", almasim.Fault{Kind: almasim.FaultTruncated}, true, "malformed or truncated"},
		{"hang", almasim.Fault{Kind: almasim.FaultHang}, true, "did not answer within"},
		{"connection reset", almasim.Fault{Kind: almasim.FaultReset}, true, "could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := faultEnv(t)
			cb := env.gw.reg.NZ().Guard

			// A cached answer, then past its fresh lifetime.
			code, _, first := env.searchPage(1)
			if code != http.StatusOK || len(first.Records) == 0 {
				t.Fatalf("before the fault: status %d, %d records", code, len(first.Records))
			}
			env.now.Advance(2 * time.Minute)
			env.sim.SetFault(almasim.EndpointSRU, tt.fault)

			// The cached answer is served stale, whatever Alma does.
			code, h, stale := env.searchPage(1)
			if code != http.StatusOK || h.Get("X-Cache") != "STALE" || !stale.Meta.Stale || len(stale.Records) != len(first.Records) {
				t.Errorf("cached query during the fault: status %d X-Cache %q stale %v, %d records; want 200 STALE with the cached records",
					code, h.Get("X-Cache"), stale.Meta.Stale, len(stale.Records))
			}

			// An uncached query gets 503 with Retry-After and a diagnostic
			// saying why; for a hang, while Alma is still hanging.
			code, h, got := env.searchPage(101)
			if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || h.Get("Cache-Control") != "no-store" {
				t.Fatalf("uncached query: status %d Retry-After %q Cache-Control %q; want 503, a Retry-After, no-store",
					code, h.Get("Retry-After"), h.Get("Cache-Control"))
			}
			if len(got.Diagnostics) != 1 || !strings.Contains(got.Diagnostics[0].Details, tt.wantDetail) {
				t.Errorf("diagnostics = %+v, want one whose details say %q", got.Diagnostics, tt.wantDetail)
			}
			if f := env.sim.Faults()[almasim.EndpointSRU]; f.Kind != tt.fault.Kind {
				t.Errorf("the fault ended before the answer came (%q); the answer must not wait for Alma to recover", f.Kind)
			}
			if tt.fault.Kind == almasim.Fault429 {
				if ra, _ := strconv.Atoi(h.Get("Retry-After")); ra < 1 {
					t.Errorf("Retry-After = %q after Alma's 429 with Retry-After 2", h.Get("Retry-After"))
				}
			}

			// SRU clients get diagnostic 1 in a well-formed response.
			sc, _, sb := env.get("/sru?version=1.2&operation=searchRetrieve&maximumRecords=3&query=" + url.QueryEscape(`alma.title=water`))
			if sc != http.StatusOK || !strings.Contains(string(sb), "info:srw/diagnostic/1/1") || xml.Unmarshal(sb, new(any)) != nil {
				t.Errorf("SRU during the fault: status %d body %s; want 200 with diagnostic 1", sc, sb)
			}

			// More uncached queries: the breaker opens for failures, stays
			// closed for a 429.
			for i := 0; i < 4 && cb.State() == gobreaker.StateClosed; i++ {
				if code, _, _ := env.searchPage(201 + 10*i); code != http.StatusServiceUnavailable {
					t.Errorf("uncached query %d during the fault: status %d, want 503", i, code)
				}
			}
			if tt.opens {
				if cb.State() != gobreaker.StateOpen {
					t.Fatalf("breaker %v after repeated %s, want open", cb.State(), tt.fault.Kind)
				}
				// While open, no call reaches Alma. Should the cooldown end
				// inside this window on a slow machine, the breaker's trial
				// is the one call allowed (two with the reset's retry), and
				// the request that carried it gets the trial's own error.
				trials := func() float64 {
					return metricValue(t, env.gw.m.up.BreakerTransitions.WithLabelValues("sru:nz", "half-open"))
				}
				before, trials0 := env.sim.Count(almasim.EndpointSRU), trials()
				notNamed := 0
				for i := range 5 {
					code, h, got := env.searchPage(401 + 10*i)
					if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
						t.Errorf("while open: status %d, want 503 with Retry-After", code)
					}
					if len(got.Diagnostics) == 0 || !strings.Contains(got.Diagnostics[0].Details, "circuit breaker open") {
						notNamed++
					}
				}
				n, tr := env.sim.Count(almasim.EndpointSRU)-before, int64(trials()-trials0)
				if n > 2*tr {
					t.Errorf("an open breaker let %d calls reach Alma with %d trials", n, tr)
				}
				if int64(notNamed) > tr {
					t.Errorf("%d answers while open did not name the breaker (%d trials)", notNamed, tr)
				}
				_, _, metrics := env.get("/metrics")
				if !strings.Contains(string(metrics), `gateway_breaker_state{upstream="sru:nz"} 2`) {
					t.Errorf("/metrics does not show the open breaker")
				}
			} else {
				if cb.State() != gobreaker.StateClosed {
					t.Errorf("breaker %v after Alma's 429s, want closed (a 429 is not a failure)", cb.State())
				}
				// Inside the Retry-After window no call is made at all.
				before := env.sim.Count(almasim.EndpointSRU)
				if code, _, _ := env.searchPage(901); code != http.StatusServiceUnavailable {
					t.Errorf("inside the back-off window: status %d, want 503", code)
				}
				if n := env.sim.Count(almasim.EndpointSRU) - before; n != 0 {
					t.Errorf("%d calls reached Alma inside its Retry-After window", n)
				}
				time.Sleep(2100 * time.Millisecond) // let Alma's Retry-After pass
			}

			// Alma recovers: after the cooldown the breaker lets a trial
			// through, closes, and answers are fresh again. The failed
			// queries were not cached.
			env.sim.ClearFaults()
			var after searchJSON
			for i := 0; ; i++ {
				code, h, after = env.searchPage(101)
				if code == http.StatusOK {
					if h.Get("X-Cache") != "MISS" && h.Get("X-Cache") != "COALESCED" {
						t.Errorf("after recovery X-Cache = %q, want MISS (errors are not cached)", h.Get("X-Cache"))
					}
					break
				}
				if i > 100 {
					t.Fatalf("no answer after Alma recovered: status %d, breaker %v", code, cb.State())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(after.Records) == 0 || after.Total == 0 {
				t.Errorf("after recovery: %d records of %d; an empty answer was cached", len(after.Records), after.Total)
			}
			if cb.State() != gobreaker.StateClosed {
				t.Errorf("breaker %v after recovery, want closed", cb.State())
			}
			// The stale entry was refreshed in the background.
			for i := 0; ; i++ {
				_, h, again := env.searchPage(1)
				if h.Get("X-Cache") == "HIT" && !again.Meta.Stale {
					break
				}
				if i > 100 {
					t.Fatalf("the stale entry never became fresh again: X-Cache %q", h.Get("X-Cache"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestFaultRecordsAPI: the REST API has its own breaker per key; a failing
// Bibs API leaves the record answer up (availability carries a
// diagnostic), and the SRU breaker stays closed.
func TestFaultRecordsAPI(t *testing.T) {
	env := faultEnv(t)
	var ids []string
	for _, r := range env.sim.Records() {
		if r.NZMMSID == "" && len(r.Avail) > 0 {
			ids = append(ids, r.MMSID)
		}
		if len(ids) == 8 {
			break
		}
	}
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.Fault500})
	api := env.gw.apiGuard["nz"]
	for i, id := range ids {
		code, h, body := env.get("/v1/records/" + id)
		var got struct {
			MMSID        string            `json:"mms_id"`
			Availability []json.RawMessage `json:"availability"`
			Diagnostics  []JSONDiagnostic  `json:"diagnostics"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, body)
		}
		if code != http.StatusOK || got.MMSID != id || len(got.Diagnostics) != 1 || len(got.Availability) != 0 {
			t.Errorf("record %s with the API down: status %d, %d diagnostics; want 200, the record, one diagnostic", id, code, len(got.Diagnostics))
		}
		if h.Get("Cache-Control") == "" {
			t.Errorf("no Cache-Control")
		}
	}
	if api.State() != gobreaker.StateOpen {
		t.Errorf("API breaker %v after %d failures, want open", api.State(), len(ids))
	}
	if s := env.gw.reg.NZ().Guard.State(); s != gobreaker.StateClosed {
		t.Errorf("SRU breaker %v; the API's failures must not trip it", s)
	}
	env.sim.ClearFaults()
	for i := 0; ; i++ {
		_, _, body := env.get("/v1/records/" + ids[len(ids)-1])
		if !strings.Contains(string(body), `"diagnostics":[]`) {
			if i > 100 {
				t.Fatalf("availability never came back: %s", body)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	if api.State() != gobreaker.StateClosed {
		t.Errorf("API breaker %v after recovery, want closed", api.State())
	}
}

// TestFault429FromBibsAPIIsCountedAndExported: a 429 PER_SECOND_THRESHOLD
// from the Bibs API is counted, backs off the key's budget, exports Alma's
// X-Exl-Api-Remaining, and does not trip the breaker.
func TestFault429FromBibsAPIIsCountedAndExported(t *testing.T) {
	env := faultEnv(t)
	var id string
	for _, r := range env.sim.Records() {
		if r.NZMMSID == "" && len(r.Avail) > 0 {
			id = r.MMSID
			break
		}
	}
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.Fault429, RetryAfter: 5})
	before := env.sim.Count(almasim.EndpointBibs)
	for range 4 {
		code, _, body := env.get("/v1/records/" + id)
		if code != http.StatusOK || !strings.Contains(string(body), "429") {
			t.Errorf("status %d body %s; want 200 with a rate-limit diagnostic for availability", code, body)
		}
	}
	if n := env.sim.Count(almasim.EndpointBibs) - before; n != 1 {
		t.Errorf("4 requests made %d Bibs API calls, want 1 (the back-off holds the rest)", n)
	}
	if s := env.gw.apiGuard["nz"].State(); s != gobreaker.StateClosed {
		t.Errorf("API breaker %v after 429s, want closed", s)
	}
	_, _, m := env.get("/metrics")
	for _, want := range []string{`gateway_alma_rate_limited_total{upstream="api:nz"} 4`, `gateway_alma_api_remaining{upstream="api:nz"}`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_, _, st := env.get("/v1/status")
	var status struct {
		Budget []struct {
			Backoffs  int `json:"Backoffs"`
			Remaining int `json:"Remaining"`
		} `json:"budget"`
	}
	if err := json.Unmarshal(st, &status); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range status.Budget {
		if b.Backoffs == 1 && b.Remaining >= 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("/v1/status budget shows no back-off with a known remaining quota: %s", fmt.Sprint(status.Budget))
	}
}

// metricValue reads a gauge's or counter's current value.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatalf("not a gauge or counter: %v", c.Desc())
	return 0
}
