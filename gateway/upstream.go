package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/budget"
	"github.com/almanet/gateway/sru"
)

// This file is the gateway's side of SPEC section 5: every call to Alma goes
// through a guard, which owns one circuit breaker (one per upstream: the NZ
// SRU endpoint, each member's SRU endpoint, the REST API per key), and
// through an HTTP client whose transport has its own connect and header
// deadlines, spends the call budget for each attempt, and retries at most
// once.

// Errors the guard returns; errorAnswer maps them.
var (
	// errUnavailable: the breaker is open, or Alma could not be reached.
	errUnavailable = errors.New("alma is unavailable")
	// errRateLimited: Alma answered 429, or the call budget is in back-off.
	errRateLimited = errors.New("alma rate limit reached")
)

// upstreamError carries what a client may be told about a failed Alma call
// (never a key, never a URL with a query) and the retry hint.
type upstreamError struct {
	kind       error // errUnavailable or errRateLimited
	upstream   string
	detail     string
	retryAfter time.Duration
	cause      error
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.upstream, e.kind, e.detail)
}

func (e *upstreamError) Unwrap() []error { return []error{e.kind, e.cause} }

// guard wraps calls to one upstream.
type guard struct {
	name    string
	cb      *gobreaker.CircuitBreaker[struct{}]
	probe   func(ctx context.Context) error // the cheap half-open trial; nil: use the call itself
	timeout time.Duration
	health  *upstreamHealth
}

// upstreamHealth remembers recent upstream errors for /v1/status.
type upstreamHealth struct {
	mu     sync.Mutex // guards recent
	recent []statusError
	m      *metrics
	log    *slog.Logger
}

type statusError struct {
	Time     time.Time `json:"time"`
	Upstream string    `json:"upstream"`
	Error    string    `json:"error"`
}

func (h *upstreamHealth) record(upstream string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recent = append(h.recent, statusError{Time: time.Now().UTC(), Upstream: upstream, Error: err.Error()})
	if len(h.recent) > 20 {
		h.recent = append(h.recent[:0], h.recent[len(h.recent)-20:]...)
	}
}

func (h *upstreamHealth) errors() []statusError {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]statusError, len(h.recent))
	copy(out, h.recent)
	return out
}

func newGuard(name string, bc BreakerConfig, timeout time.Duration, h *upstreamHealth) *guard {
	g := &guard{name: name, timeout: timeout, health: h}
	g.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Interval:    bc.Window.D(),
		Timeout:     bc.Cooldown.D(),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= bc.ConsecutiveFailures {
				return true
			}
			return c.Requests >= bc.MinRequests && float64(c.TotalFailures)/float64(c.Requests) >= bc.FailureRatio
		},
		IsSuccessful: isBreakerSuccess,
		OnStateChange: func(name string, from, to gobreaker.State) {
			h.log.Warn("circuit breaker changed state", "upstream", name, "from", from.String(), "to", to.String())
			h.m.breakerState.WithLabelValues(name).Set(float64(to))
			h.m.breakerTransitions.WithLabelValues(name, to.String()).Inc()
		},
	})
	h.m.breakerState.WithLabelValues(name).Set(0)
	return g
}

// isBreakerSuccess says which outcomes do not count against Alma (SPEC 5):
// an SRU diagnostic is a healthy answer (not an error at all here), a
// client's cancel is not Alma's fault, and a 429 is Alma protecting itself.
func isBreakerSuccess(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, errRateLimited) {
		return true
	}
	var ae *alma.Error
	if errors.As(err, &ae) {
		// A 4xx from the REST API (unknown record, bad key) is an answer.
		return ae.Status < 500 || ae.RateLimited()
	}
	return false
}

// do runs call under the breaker and the whole-call deadline. When the
// breaker is half-open, the cheap probe is the trial rather than a client's
// request.
func (g *guard) do(ctx context.Context, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if g.probe != nil && g.cb.State() == gobreaker.StateHalfOpen {
		if _, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, g.classify(ctx, g.probe(ctx)) }); err != nil {
			return g.fail(err)
		}
	}
	start := time.Now()
	_, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, g.classify(ctx, call(ctx)) })
	g.health.m.upstreamDuration.WithLabelValues(g.name).Observe(time.Since(start).Seconds())
	if err != nil {
		return g.fail(err)
	}
	g.health.m.upstreamCalls.WithLabelValues(g.name, "ok").Inc()
	return nil
}

// classify turns transport-level failures into the gateway's error kinds,
// keeping the cause for the log.
func (g *guard) classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ue *upstreamError
	if errors.As(err, &ue) {
		return err
	}
	var ae *alma.Error
	if errors.As(err, &ae) {
		if ae.RateLimited() {
			return &upstreamError{kind: errRateLimited, upstream: g.name, detail: "Alma answered 429 PER_SECOND_THRESHOLD", retryAfter: ae.RetryAfter, cause: err}
		}
		if ae.Status < 500 {
			return err // an answer: unknown record, bad key…
		}
	}
	var he *sru.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
		return &upstreamError{kind: errRateLimited, upstream: g.name, detail: "Alma answered 429", retryAfter: he.RetryAfter, cause: err}
	}
	if errors.Is(err, budget.ErrBackoff) {
		return &upstreamError{kind: errRateLimited, upstream: g.name, detail: "backing off after Alma's 429", retryAfter: time.Second, cause: err}
	}
	detail := "Alma could not be reached"
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		detail = "Alma did not answer within " + g.timeout.String()
	case errors.Is(err, sru.ErrMalformed) || errors.Is(err, alma.ErrMalformed):
		detail = "Alma sent a malformed or truncated answer"
	case he != nil:
		detail = fmt.Sprintf("Alma answered HTTP %d", he.Status)
	case ae != nil:
		detail = fmt.Sprintf("Alma answered HTTP %d", ae.Status)
	}
	return &upstreamError{kind: errUnavailable, upstream: g.name, detail: detail, cause: err}
}

func (g *guard) fail(err error) error {
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		g.health.m.upstreamCalls.WithLabelValues(g.name, "breaker_open").Inc()
		return &upstreamError{kind: errUnavailable, upstream: g.name, detail: "circuit breaker open after repeated Alma failures", retryAfter: time.Second, cause: err}
	}
	var ue *upstreamError
	if errors.As(err, &ue) {
		outcome := "error"
		if errors.Is(ue.kind, errRateLimited) {
			outcome = "rate_limited"
			g.health.m.rateLimited.WithLabelValues(g.name).Inc()
		}
		g.health.m.upstreamCalls.WithLabelValues(g.name, outcome).Inc()
		g.health.record(g.name, err)
		g.health.log.Warn("alma call failed", "upstream", g.name, "error", ue.detail, "cause", redactErr(ue.cause))
		return err
	}
	g.health.m.upstreamCalls.WithLabelValues(g.name, "answer").Inc()
	return err
}

// redactErr renders an error for the log. URLs in net/http errors carry no
// keys (keys travel in headers only), so the text is safe as it is; the
// function exists so that this stays a single, reviewed place.
func redactErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// transport is the HTTP client every Alma call uses (never
// http.DefaultClient): connect and header deadlines, the call budget spent
// per attempt, and at most one retry.
type transport struct {
	base    *http.Transport
	budget  *budget.Budget
	retries *retryBudget
	m       *metrics
}

func newTransport(cfg UpstreamConfig, b *budget.Budget, m *metrics) *transport {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout.D(), KeepAlive: 30 * time.Second}
	return &transport{
		base: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   cfg.ConnectTimeout.D(),
			ResponseHeaderTimeout: cfg.HeaderTimeout.D(),
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		budget:  b,
		retries: newRetryBudget(cfg.RetryBudget),
		m:       m,
	}
}

// doer returns the Doer for one upstream: the client the sru and alma
// packages use.
func (t *transport) doer(upstream string) *upstreamDoer {
	return &upstreamDoer{t: t, upstream: upstream}
}

type upstreamDoer struct {
	t        *transport
	upstream string
}

// Do sends req, spending the budget named by the upstream (or by the API key
// for REST calls), and retries once when the call is idempotent and failed
// to connect or got 502/503/504, within the retry budget.
func (d *upstreamDoer) Do(req *http.Request) (*http.Response, error) {
	// REST calls spend their API key's budget (Alma counts per key; the
	// budget stores only a hash of it); SRU calls spend the endpoint's.
	key := d.upstream
	if k, ok := strings.CutPrefix(req.Header.Get("Authorization"), "apikey "); ok && k != "" {
		key = "apikey:" + k
	}
	resp, err := d.attempt(req, key)
	d.t.retries.call()
	if !retryable(req, resp, err) || !d.t.retries.allow() {
		return resp, err
	}
	if resp != nil {
		resp.Body.Close()
	}
	// Jitter: 50-250 ms, never past the caller's deadline.
	wait := 50*time.Millisecond + rand.N(200*time.Millisecond)
	if dl, ok := req.Context().Deadline(); ok && time.Until(dl) < wait {
		return resp, err
	}
	select {
	case <-time.After(wait):
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	d.t.m.retries.WithLabelValues(d.upstream).Inc()
	return d.attempt(req, key)
}

func (d *upstreamDoer) attempt(req *http.Request, key string) (*http.Response, error) {
	if err := d.t.budget.Wait(req.Context(), key); err != nil {
		return nil, err
	}
	resp, err := d.t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		d.t.budget.Backoff(key, retryAfter(resp.Header.Get("Retry-After")))
	}
	return resp, nil
}

func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if err != nil {
		if req.Context().Err() != nil || errors.Is(err, budget.ErrBackoff) {
			return false
		}
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter reads a Retry-After header in seconds; 1s when absent or odd,
// capped at 5 minutes.
func retryAfter(v string) time.Duration {
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n <= 0 {
		return time.Second
	}
	return min(time.Duration(n)*time.Second, 5*time.Minute)
}

// retryBudget allows retries up to a fraction of the calls seen in the last
// ten seconds (plus one), so that retries never multiply an outage.
type retryBudget struct {
	ratio float64
	mu    sync.Mutex // guards the buckets
	calls [10]int
	tries [10]int
	epoch [10]int64
}

func newRetryBudget(ratio float64) *retryBudget { return &retryBudget{ratio: ratio} }

func (b *retryBudget) slot() int {
	now := time.Now().Unix()
	i := int(now % 10)
	if b.epoch[i] != now {
		b.epoch[i], b.calls[i], b.tries[i] = now, 0, 0
	}
	return i
}

func (b *retryBudget) sums() (calls, tries int) {
	now := time.Now().Unix()
	for i := range b.calls {
		if now-b.epoch[i] < 10 {
			calls += b.calls[i]
			tries += b.tries[i]
		}
	}
	return calls, tries
}

func (b *retryBudget) call() {
	b.mu.Lock()
	b.calls[b.slot()]++
	b.mu.Unlock()
}

func (b *retryBudget) allow() bool {
	if b.ratio < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	calls, tries := b.sums()
	if float64(tries) >= 1+b.ratio*float64(calls) {
		return false
	}
	b.tries[b.slot()]++
	return true
}
