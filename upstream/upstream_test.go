package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/budget"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/sru"
)

// testGuard is a guard with a small breaker: it opens after three
// consecutive failures and cools down for cooldown.
func testGuard(t *testing.T, cooldown time.Duration) (*Guard, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	h := NewHealth(m, slog.New(slog.DiscardHandler))
	bc := config.BreakerConfig{Cooldown: config.Duration(cooldown), ConsecutiveFailures: 3, FailureRatio: 0.5, MinRequests: 100, Window: config.Duration(time.Minute)}
	return NewGuard("test", bc, 5*time.Second, h), m
}

// outcome returns a call that ends with err.
func outcome(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

var (
	errMalformedPage = fmt.Errorf("alma sru: %w: unexpected end of element", sru.ErrMalformed)
	errSRU500        = fmt.Errorf("alma sru: %w", &sru.HTTPError{Status: 500})
	errSRU429        = fmt.Errorf("alma sru: %w", &sru.HTTPError{Status: 429, RetryAfter: 7 * time.Second})
	errAPI404        = &alma.Error{Status: 400, Code: "402203", Message: "not valid", Remaining: -1}
	errAPI429        = &alma.Error{Status: 429, Code: "PER_SECOND_THRESHOLD", RetryAfter: 2 * time.Second, Remaining: 4242}
	errAPI503        = &alma.Error{Status: 503, Remaining: -1}
	errReset         = fmt.Errorf("alma sru: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")})
	errCancelled     = fmt.Errorf("alma sru: %w", context.Canceled)
	errBudgetLate    = fmt.Errorf("alma sru: %w", &BudgetError{err: fmt.Errorf("budget: next call slot in 2s is past the deadline: %w", context.DeadlineExceeded)})
	errBudgetBackoff = fmt.Errorf("alma: get bib: %w", &BudgetError{err: budget.ErrBackoff, wait: 3 * time.Second})
	errTooLarge      = fmt.Errorf("alma sru: %w (over 10 bytes)", sru.ErrBodyTooLarge)
)

// TestBreakerClassification holds SPEC 5's list: which outcomes count
// against Alma, which for it, and which not at all.
func TestBreakerClassification(t *testing.T) {
	g, _ := testGuard(t, time.Minute)
	tests := []struct {
		name        string
		err         error
		wantCounted string // "failure", "success" or "excluded"
		wantKind    error  // ErrUnavailable, ErrRateLimited, or nil for a plain answer
	}{
		{"answer", nil, "success", nil},
		{"malformed body", errMalformedPage, "failure", ErrUnavailable},
		{"truncated body", fmt.Errorf("alma sru: read body: %w", io.ErrUnexpectedEOF), "failure", ErrUnavailable},
		{"sru 500", errSRU500, "failure", ErrUnavailable},
		{"api 503", errAPI503, "failure", ErrUnavailable},
		{"connection reset", errReset, "failure", ErrUnavailable},
		{"timeout", fmt.Errorf("alma sru: %w", context.DeadlineExceeded), "failure", ErrUnavailable},
		{"body too large", errTooLarge, "failure", ErrUnavailable},
		{"unknown record", errAPI404, "success", nil},
		{"sru 429", errSRU429, "excluded", ErrRateLimited},
		{"api 429", errAPI429, "excluded", ErrRateLimited},
		{"client cancel", errCancelled, "excluded", ErrUnavailable},
		{"budget slot past deadline", errBudgetLate, "excluded", ErrRateLimited},
		{"budget back-off", errBudgetBackoff, "excluded", ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := g.classify(context.Background(), tt.err)
			counted := "failure"
			switch {
			case isBreakerExcluded(got):
				counted = "excluded"
			case isBreakerSuccess(got):
				counted = "success"
			}
			if counted != tt.wantCounted {
				t.Errorf("classify(%v) is counted as %s, want %s", tt.err, counted, tt.wantCounted)
			}
			if tt.wantKind != nil && !errors.Is(got, tt.wantKind) {
				t.Errorf("classify(%v) = %v, want kind %v", tt.err, got, tt.wantKind)
			}
			if tt.wantKind == nil && got != nil {
				var ue *Error
				if errors.As(got, &ue) {
					t.Errorf("classify(%v) = %v, want the answer passed through", tt.err, got)
				}
			}
		})
	}
}

// TestBreakerCancelDoesNotResetFailures: a cancelled call between failures
// (a sibling page of a failed fetch is cancelled by its errgroup) must not
// count as a success, or a multi-page request never trips the breaker.
func TestBreakerCancelDoesNotResetFailures(t *testing.T) {
	g, _ := testGuard(t, time.Minute)
	ctx := context.Background()
	for _, err := range []error{errSRU500, errSRU500, errCancelled, errSRU429, errBudgetLate, errSRU500} {
		_ = g.Do(ctx, outcome(err))
	}
	if got := g.cb.State(); got != gobreaker.StateOpen {
		t.Errorf("after three failures with a cancel, a 429 and a budget refusal between them the breaker is %v, want open", got)
	}
}

// TestBreakerMalformedOpens: malformed bodies are failures (the sru client
// wraps sru.ErrMalformed), and an open breaker makes no call.
func TestBreakerMalformedOpens(t *testing.T) {
	g, m := testGuard(t, time.Minute)
	var calls atomic.Int32
	call := func(context.Context) error { calls.Add(1); return errMalformedPage }
	for range 3 {
		_ = g.Do(context.Background(), call)
	}
	if got := g.cb.State(); got != gobreaker.StateOpen {
		t.Fatalf("after three malformed bodies the breaker is %v, want open", got)
	}
	before := calls.Load()
	err := g.Do(context.Background(), call)
	if calls.Load() != before {
		t.Errorf("an open breaker let a call through")
	}
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "circuit breaker open") {
		t.Errorf("open breaker answer = %v, want ErrUnavailable naming the breaker", err)
	}
	if got := metricValue(t, m.BreakerState.WithLabelValues("test")); got != float64(gobreaker.StateOpen) {
		t.Errorf("gateway_breaker_state = %v, want %d (open)", got, gobreaker.StateOpen)
	}
	if got := metricValue(t, m.BreakerTransitions.WithLabelValues("test", "open")); got != 1 {
		t.Errorf("transitions to open = %v, want 1", got)
	}
}

// TestHalfOpenProbe: after the cooldown the cheap probe is the trial; a
// failed probe keeps the client's call from Alma, a good one closes the
// breaker and lets it through, and a 429 probe does not close it.
func TestHalfOpenProbe(t *testing.T) {
	tests := []struct {
		name      string
		probe     error
		wantCalls int32
		wantState gobreaker.State
	}{
		{"probe fails", errSRU500, 0, gobreaker.StateOpen},
		{"probe succeeds", nil, 1, gobreaker.StateClosed},
		// Alma is alive but asks to slow down: the client's call waits for
		// another turn and the breaker stays undecided.
		{"probe rate limited", errSRU429, 0, gobreaker.StateHalfOpen},
		// The REST probe's answer is Alma's "no such record": a healthy
		// API, so the breaker closes and the client's call goes on.
		{"probe answered 4xx", errAPI404, 1, gobreaker.StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := testGuard(t, 20*time.Millisecond)
			var probes, calls atomic.Int32
			g.Probe = func(context.Context) error { probes.Add(1); return tt.probe }
			for range 3 {
				_ = g.Do(context.Background(), outcome(errSRU500))
			}
			for g.cb.State() != gobreaker.StateHalfOpen {
				time.Sleep(5 * time.Millisecond)
			}
			_ = g.Do(context.Background(), func(context.Context) error { calls.Add(1); return nil })
			if probes.Load() != 1 {
				t.Errorf("probes = %d, want 1", probes.Load())
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("client calls = %d, want %d", calls.Load(), tt.wantCalls)
			}
			if got := g.cb.State(); got != tt.wantState {
				t.Errorf("state = %v, want %v", got, tt.wantState)
			}
		})
	}
}

// TestRemainingExportedOn429: Alma's X-Exl-Api-Remaining arrives on error
// answers too; the gauge follows it.
func TestRemainingExportedOn429(t *testing.T) {
	g, m := testGuard(t, time.Minute)
	err := g.Do(context.Background(), outcome(errAPI429))
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("do = %v, want ErrRateLimited", err)
	}
	var ue *Error
	if !errors.As(err, &ue) || ue.RetryAfter != 2*time.Second {
		t.Errorf("retry hint = %v, want Alma's Retry-After 2s", err)
	}
	if got := metricValue(t, m.APIRemaining.WithLabelValues("test")); got != 4242 {
		t.Errorf("gateway_alma_api_remaining = %v, want 4242", got)
	}
	if got := metricValue(t, m.RateLimited.WithLabelValues("test")); got != 1 {
		t.Errorf("gateway_alma_rate_limited_total = %v, want 1", got)
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

// fakeAlma is an httptest server whose handler answers by the test's rule
// and counts requests.
type fakeAlma struct {
	*httptest.Server
	n atomic.Int32
}

func newFakeAlma(t *testing.T, h func(n int32, w http.ResponseWriter, r *http.Request)) *fakeAlma {
	t.Helper()
	f := &fakeAlma{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(f.n.Add(1), w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func testTransport(t *testing.T, retryRatio float64) (*Transport, *budget.Budget) {
	t.Helper()
	b := budget.New(budget.Options{PerSecond: 1000, Burst: 100})
	cfg := config.UpstreamConfig{ConnectTimeout: config.Duration(time.Second), HeaderTimeout: config.Duration(5 * time.Second), RetryBudget: retryRatio}
	tr := NewTransport(cfg, b, NewMetrics(prometheus.NewRegistry()))
	tr.jitter = func() time.Duration { return time.Millisecond }
	t.Cleanup(tr.base.(*http.Transport).CloseIdleConnections)
	return tr, b
}

func resetConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// TestRetryAtMostOnce: one retry, only for idempotent calls, only for
// connection failures and 502/503/504, and never for 500 or 429.
func TestRetryAtMostOnce(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		handler   func(n int32, w http.ResponseWriter, r *http.Request)
		wantCalls int32
		wantErr   bool
	}{
		{"503 always", http.MethodGet, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }, 2, false},
		{"502 then ok", http.MethodGet, func(n int32, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.WriteHeader(502)
			}
		}, 2, false},
		{"504 on POST", http.MethodPost, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(504) }, 1, false},
		{"500", http.MethodGet, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, 1, false},
		{"429", http.MethodGet, func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
		}, 1, false},
		{"reset always", http.MethodGet, func(_ int32, w http.ResponseWriter, _ *http.Request) { resetConn(w) }, 2, true},
		{"reset then ok", http.MethodGet, func(n int32, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				resetConn(w)
			}
		}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAlma(t, tt.handler)
			tr, _ := testTransport(t, 1)
			req, _ := http.NewRequest(tt.method, f.URL+"/view/sru/X", nil)
			resp, err := tr.Doer("sru:test").Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("Do error = %v, want error %v", err, tt.wantErr)
			}
			if got := f.n.Load(); got != tt.wantCalls {
				t.Errorf("Alma saw %d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestRetryOnReusedConnectionCountsNetHTTPReplay: net/http replays a GET
// once by itself when a kept-alive connection dies under it; that replay is
// the one retry, so Alma sees two calls, not three.
func TestRetryOnReusedConnectionCountsNetHTTPReplay(t *testing.T) {
	f := newFakeAlma(t, func(n int32, w http.ResponseWriter, _ *http.Request) {
		if n > 1 {
			resetConn(w)
			return
		}
		io.WriteString(w, "ok")
	})
	tr, _ := testTransport(t, 1)
	d := tr.Doer("sru:test")
	req, _ := http.NewRequest(http.MethodGet, f.URL, nil)
	resp, err := d.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close() // the connection goes back to the pool
	req, _ = http.NewRequest(http.MethodGet, f.URL, nil)
	resp, err = d.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do succeeded against a server that resets every later connection")
	}
	if got := f.n.Load() - 1; got != 2 {
		t.Errorf("the failing call reached Alma %d times, want 2 (one attempt, one retry)", got)
	}
}

// TestRetryBudgetBounds: with a zero ratio only the floor of one retry per
// window is allowed, so an outage is not doubled.
func TestRetryBudgetBounds(t *testing.T) {
	f := newFakeAlma(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	tr, _ := testTransport(t, 0)
	d := tr.Doer("sru:test")
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, f.URL, nil)
		resp, err := d.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := f.n.Load(); got != 11 {
		t.Errorf("10 calls to a failing Alma made %d attempts, want 11 (the budget's floor of one retry)", got)
	}
	tr.retries = newRetryBudget(-1)
	f.n.Store(0)
	req, _ := http.NewRequest(http.MethodGet, f.URL, nil)
	resp, err := d.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := f.n.Load(); got != 1 {
		t.Errorf("with retries disabled Alma saw %d calls, want 1", got)
	}
}

// TestNoRetryPastDeadlineKeepsTheAnswer: when there is no time left for a
// retry, the first answer is returned whole (its body not closed).
func TestNoRetryPastDeadlineKeepsTheAnswer(t *testing.T) {
	f := newFakeAlma(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, "maintenance")
	})
	tr, _ := testTransport(t, 1)
	tr.jitter = func() time.Duration { return time.Hour }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	resp, err := tr.Doer("sru:test").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "maintenance" {
		t.Errorf("body = %q, %v; want Alma's 503 body intact", body, err)
	}
	if got := f.n.Load(); got != 1 {
		t.Errorf("Alma saw %d calls, want 1", got)
	}
}

// TestTransport429BacksOffAndReadsRemaining: a 429 opens a back-off window
// in the budget (Retry-After honoured), the next call is refused at once
// without reaching Alma, and X-Exl-Api-Remaining is recorded for the key.
func TestTransport429BacksOffAndReadsRemaining(t *testing.T) {
	f := newFakeAlma(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.Header().Set("X-Exl-Api-Remaining", "77")
		w.WriteHeader(429)
	})
	tr, b := testTransport(t, 1)
	d := tr.Doer("api")
	req, _ := http.NewRequest(http.MethodGet, f.URL, nil)
	req.Header.Set("Authorization", "apikey l8xxsecret")
	resp, err := d.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	req.Header.Set("Authorization", "apikey l8xxsecret")
	_, err = d.Do(req)
	var be *BudgetError
	if !errors.As(err, &be) || !errors.Is(err, budget.ErrBackoff) {
		t.Fatalf("second call = %v, want a budget back-off", err)
	}
	if be.wait < 20*time.Second {
		t.Errorf("back-off left = %v, want about Alma's Retry-After of 30s", be.wait)
	}
	if got := f.n.Load(); got != 1 {
		t.Errorf("Alma saw %d calls, want 1 (no call during the back-off)", got)
	}
	var st budget.KeyStats
	for _, s := range b.Stats() {
		if s.ID == budget.ID("apikey:l8xxsecret") {
			st = s
		}
	}
	if st.Remaining != 77 || st.Backoffs != 1 {
		t.Errorf("budget stats = %+v, want Remaining 77 and one back-off", st)
	}
}

// TestHeaderDeadline: an upstream that never sends headers is cut off by
// the transport's header timeout, and that is a breaker failure.
func TestHeaderDeadline(t *testing.T) {
	release := make(chan struct{})
	f := newFakeAlma(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	b := budget.New(budget.Options{})
	tr := NewTransport(config.UpstreamConfig{ConnectTimeout: config.Duration(time.Second), HeaderTimeout: config.Duration(50 * time.Millisecond), RetryBudget: 1}, b, NewMetrics(prometheus.NewRegistry()))
	g, _ := testGuard(t, time.Minute)
	c := &sru.Client{BaseURL: f.URL + "/view/sru/X", HTTP: tr.Doer("sru:test")}
	err := g.Do(context.Background(), func(ctx context.Context) error {
		_, err := c.Search(ctx, sru.SearchParams{Query: "alma.title=x", Max: 1})
		return err
	})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("hung upstream = %v, want ErrUnavailable saying Alma did not answer", err)
	}
	if got := g.cb.Counts().TotalFailures; got != 1 {
		t.Errorf("breaker failures = %d, want 1", got)
	}
	if got := f.n.Load(); got != 1 {
		t.Errorf("a timeout was retried: Alma saw %d calls", got)
	}
}

// TestBudgetWaitLeavesTimeForTheCall: a call whose budget slot lies past
// half its remaining time is refused at once as the gateway's own rate
// limit (not sent late, to time out on a healthy Alma and count against
// it in the breaker).
func TestBudgetWaitLeavesTimeForTheCall(t *testing.T) {
	f := newFakeAlma(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second): // slow but within the deadline when called in time
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, `<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2</version><numberOfRecords>0</numberOfRecords><records/></searchRetrieveResponse>`)
	})
	b := budget.New(budget.Options{PerSecond: 0.4, Burst: 1})
	if err := b.Wait(context.Background(), "sru:test"); err != nil { // the only token; the next is 2.5s away
		t.Fatal(err)
	}
	tr := NewTransport(config.UpstreamConfig{ConnectTimeout: config.Duration(time.Second), HeaderTimeout: config.Duration(10 * time.Second), RetryBudget: -1}, b, NewMetrics(prometheus.NewRegistry()))
	g, _ := testGuard(t, time.Minute)
	g.timeout = 4 * time.Second
	c := &sru.Client{BaseURL: f.URL + "/view/sru/X", HTTP: tr.Doer("sru:test")}
	err := g.Do(context.Background(), func(ctx context.Context) error {
		_, err := c.Search(ctx, sru.SearchParams{Query: "alma.title=x", Max: 1})
		return err
	})
	if !errors.Is(err, ErrRateLimited) {
		t.Errorf("call = %v, want the gateway's own rate limit", err)
	}
	if got := f.n.Load(); got != 0 {
		t.Errorf("Alma saw %d calls, want 0 (a call sent that late would time out)", got)
	}
	if got := g.cb.Counts().TotalFailures; got != 0 {
		t.Errorf("breaker failures = %d, want 0 (Alma did nothing wrong)", got)
	}
}

// TestRetryBudgetCountsOnlyCallsSent: calls the call budget refused never
// reached Alma and must not raise the retry allowance.
func TestRetryBudgetCountsOnlyCallsSent(t *testing.T) {
	f := newFakeAlma(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	tr, b := testTransport(t, 0.1)
	b.Backoff("sru:blocked", time.Hour)
	blocked := tr.Doer("sru:blocked")
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
		if _, err := blocked.Do(req); !errors.Is(err, budget.ErrBackoff) {
			t.Fatalf("blocked call = %v, want a budget back-off", err)
		}
		cancel()
	}
	d := tr.Doer("sru:test")
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, f.URL, nil)
		resp, err := d.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// 10 calls sent: at most 1 + 0.1×10 = 2 retries.
	if got := f.n.Load(); got != 12 {
		t.Errorf("10 calls to a failing Alma made %d attempts, want 12 (refused calls do not buy retries)", got)
	}
}

// TestOpenBreakerRetryAfterIsTheCooldownLeft: a client refused by the open
// breaker is told to come back when the trial is due, not after a fixed
// second.
func TestOpenBreakerRetryAfterIsTheCooldownLeft(t *testing.T) {
	g, _ := testGuard(t, time.Minute)
	for range 3 {
		_ = g.Do(context.Background(), outcome(errSRU500))
	}
	err := g.Do(context.Background(), outcome(nil))
	var ue *Error
	if !errors.As(err, &ue) || !strings.Contains(ue.Detail, "circuit breaker open") {
		t.Fatalf("do = %v, want the open breaker", err)
	}
	if ue.RetryAfter < 50*time.Second || ue.RetryAfter > time.Minute {
		t.Errorf("Retry-After = %v, want about the minute of cooldown left", ue.RetryAfter)
	}
}
