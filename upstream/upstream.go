// Package upstream is the gateway's side of SPEC section 5: every call to
// Alma goes through a Guard, which owns one circuit breaker (one per
// upstream: the NZ SRU endpoint, each member's SRU endpoint, the REST API
// per key), the whole-call deadline and the classification of failures,
// and through an HTTP client (Transport) that has its own connect and
// header deadlines, spends the call budget for each attempt, bounds the
// answer bytes held at once (ByteGate) and retries at most once. It knows
// nothing of HTTP servers: the gateway maps its errors to answers.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/budget"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/internal/retryafter"
	"github.com/almanet/gateway/sru"
)

// Errors a Guard returns, as the Kind of an *Error.
var (
	// ErrUnavailable: the breaker is open, or Alma could not be reached.
	ErrUnavailable = errors.New("alma is unavailable")
	// ErrRateLimited: Alma answered 429, or the call budget is in back-off.
	ErrRateLimited = errors.New("alma rate limit reached")
)

// ErrNoAPI is returned for a call to Alma's REST API (live availability,
// the writes) when the gateway has no API URL and key: not an outage, a
// part the deployment left out.
var ErrNoAPI = errors.New("live availability is not configured (ALMA_API_URL and ALMA_API_KEY)")

// Error carries what a client may be told about a failed Alma call
// (never a key, never a URL with a query) and the retry hint.
type Error struct {
	Kind       error // ErrUnavailable or ErrRateLimited
	Upstream   string
	Detail     string
	RetryAfter time.Duration
	Cause      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Upstream, e.Kind, e.Detail)
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Cause} }

// Guard wraps calls to one upstream.
type Guard struct {
	name string
	cb   *gobreaker.CircuitBreaker[struct{}]
	// Probe is the cheap half-open trial; nil: use the call itself. Set it
	// before the first call.
	Probe   func(ctx context.Context) error
	timeout time.Duration
	health  *Health

	cooldown time.Duration
	openedAt atomic.Int64 // when the breaker last opened, Unix nanoseconds
	counts   callCounters
}

// CallCounts are a guard's calls since it was made, cumulative: what the
// dashboard's history and /v1/status's recent counts read (staff), the same
// calls gateway_upstream_calls_total and _duration_seconds count.
type CallCounts struct {
	Calls    uint64        // calls made: every outcome but a breaker's refusal
	Failures uint64        // of them, those that failed at Alma (outcome "error")
	Timed    uint64        // calls timed, and their summed duration
	Duration time.Duration // (the breaker's refusals included, as in the histogram)
}

type callCounters struct {
	calls, failures, timed, nanos atomic.Uint64
}

// Calls are the guard's calls so far.
func (g *Guard) Calls() CallCounts {
	return CallCounts{Calls: g.counts.calls.Load(), Failures: g.counts.failures.Load(),
		Timed: g.counts.timed.Load(), Duration: time.Duration(g.counts.nanos.Load())}
}

// outcome counts one call's outcome, in the metric and in Counts.
func (g *Guard) outcome(o string) {
	g.health.m.Calls.WithLabelValues(g.name, o).Inc()
	if o != "breaker_open" {
		g.counts.calls.Add(1)
	}
	if o == "error" {
		g.counts.failures.Add(1)
	}
}

// Name is the upstream's name ("sru:nz", "api:<member code>").
func (g *Guard) Name() string { return g.name }

// State is the breaker's state now.
func (g *Guard) State() gobreaker.State { return g.cb.State() }

// Counts are the breaker's counts in its current state.
func (g *Guard) Counts() gobreaker.Counts { return g.cb.Counts() }

// UntilTrial is the Retry-After for a client refused by the open breaker:
// the rest of the cooldown, at least a second.
func (g *Guard) UntilTrial() time.Duration {
	return max(time.Second, g.TrialIn())
}

// TrialIn is how much of the cooldown since the breaker last opened is
// left, 0 when none.
func (g *Guard) TrialIn() time.Duration {
	return max(0, g.cooldown-time.Since(time.Unix(0, g.openedAt.Load())))
}

// OpenedAt is when the breaker last opened; the zero time when never.
func (g *Guard) OpenedAt() time.Time {
	if o := g.openedAt.Load(); o != 0 {
		return time.Unix(0, o)
	}
	return time.Time{}
}

// Health remembers recent upstream errors for /v1/status, and carries the
// metrics and log every guard reports to.
type Health struct {
	mu     sync.Mutex // guards recent
	recent []StatusError
	m      *Metrics
	log    *slog.Logger
}

// NewHealth is the health every guard of a gateway shares.
func NewHealth(m *Metrics, log *slog.Logger) *Health { return &Health{m: m, log: log} }

// StatusError is one recent failure, as /v1/status lists it.
type StatusError struct {
	Time     time.Time `json:"time"`
	Upstream string    `json:"upstream"`
	Error    string    `json:"error"`
}

func (h *Health) record(upstream string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recent = append(h.recent, StatusError{Time: time.Now().UTC(), Upstream: upstream, Error: err.Error()})
	if len(h.recent) > 20 {
		h.recent = append(h.recent[:0], h.recent[len(h.recent)-20:]...)
	}
}

// Errors are the last 20 failures, oldest first.
func (h *Health) Errors() []StatusError {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]StatusError, len(h.recent))
	copy(out, h.recent)
	return out
}

// NewGuard is the guard of one upstream: its breaker set by bc, its calls
// bounded by timeout.
func NewGuard(name string, bc config.BreakerConfig, timeout time.Duration, h *Health) *Guard {
	g := &Guard{name: name, timeout: timeout, health: h, cooldown: bc.Cooldown.D()}
	g.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Interval:    bc.Window.D(),
		Timeout:     bc.Cooldown.D(),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= bc.ConsecutiveFailures {
				return true
			}
			counted := c.Requests - min(c.Requests, c.TotalExclusions)
			return counted >= bc.MinRequests && float64(c.TotalFailures)/float64(counted) >= bc.FailureRatio
		},
		IsSuccessful: isBreakerSuccess,
		IsExcluded:   isBreakerExcluded,
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				g.openedAt.Store(time.Now().UnixNano())
			}
			h.log.Warn("circuit breaker changed state", "upstream", name, "from", from.String(), "to", to.String())
			h.m.BreakerState.WithLabelValues(name).Set(float64(to))
			h.m.BreakerTransitions.WithLabelValues(name, to.String()).Inc()
		},
	})
	h.m.BreakerState.WithLabelValues(name).Set(0)
	return g
}

// isBreakerSuccess says which outcomes show a healthy Alma (SPEC 5): an
// answer, including an SRU diagnostic (not an error at all here) and a 4xx
// of the REST API (an unknown record, a key Alma refuses).
func isBreakerSuccess(err error) bool {
	if err == nil {
		return true
	}
	var ae *alma.Error
	var ue *Error
	if errors.As(err, &ae) && !errors.As(err, &ue) {
		return ae.Status < 500
	}
	return false
}

// isBreakerExcluded says which outcomes count neither for nor against Alma:
// a cancelled call (a client left, or a sibling page of the same fetch
// failed first) is not Alma's doing, and a 429 or the gateway's own call
// budget is Alma protecting itself, not Alma failing. Counting them as
// successes would be as wrong as counting them as failures: a cancel would
// reset the run of consecutive failures, and a 429 would close a half-open
// breaker.
func isBreakerExcluded(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRateLimited) {
		return true
	}
	return errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Do runs call under the breaker and the whole-call deadline. When the
// breaker is half-open, the cheap probe is the trial rather than a client's
// request.
func (g *Guard) Do(ctx context.Context, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if g.Probe != nil && g.cb.State() == gobreaker.StateHalfOpen {
		// An answer the breaker counts as healthy (e.g. the REST probe's
		// "no such record") closes it; only a failure ends the call here.
		if _, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, g.classify(ctx, g.Probe(ctx)) }); err != nil && !isBreakerSuccess(err) {
			return g.fail(err)
		}
	}
	start := time.Now()
	_, err := g.cb.Execute(func() (struct{}, error) { return struct{}{}, g.classify(ctx, call(ctx)) })
	took := time.Since(start)
	g.health.m.Duration.WithLabelValues(g.name).Observe(took.Seconds())
	g.counts.timed.Add(1)
	g.counts.nanos.Add(uint64(took))
	if err != nil {
		return g.fail(err)
	}
	g.outcome("ok")
	return nil
}

// classify turns transport-level failures into the gateway's error kinds,
// keeping the cause for the log. What counts against the breaker is decided
// from its result by isBreakerSuccess: rate limits (Alma's 429 and the
// gateway's own call budget) and a client's cancel do not.
func (g *Guard) classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ue *Error
	if errors.As(err, &ue) {
		return err
	}
	var ae *alma.Error
	if errors.As(err, &ae) {
		if ae.Remaining >= 0 {
			// Alma sends its daily quota on error answers too (429 above all).
			g.health.m.APIRemaining.WithLabelValues(g.name).Set(float64(ae.Remaining))
		}
		if ae.RateLimited() {
			return &Error{Kind: ErrRateLimited, Upstream: g.name, Detail: "Alma answered 429 PER_SECOND_THRESHOLD", RetryAfter: ae.RetryAfter, Cause: err}
		}
		if ae.Status < 500 {
			return err // an answer: unknown record, bad key…
		}
	}
	var he *sru.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
		return &Error{Kind: ErrRateLimited, Upstream: g.name, Detail: "Alma answered 429", RetryAfter: he.RetryAfter, Cause: err}
	}
	if errors.Is(err, ErrInflightBytes) {
		return &Error{Kind: ErrRateLimited, Upstream: g.name, Detail: ErrInflightBytes.Error(), RetryAfter: time.Second, Cause: err}
	}
	var be *BudgetError
	if errors.As(err, &be) {
		detail := "the gateway's Alma call budget has no slot before the deadline"
		if errors.Is(be.err, budget.ErrBackoff) {
			detail = "backing off after Alma's 429"
		}
		return &Error{Kind: ErrRateLimited, Upstream: g.name, Detail: detail, RetryAfter: be.wait, Cause: err}
	}
	detail := "Alma could not be reached"
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded || errors.As(err, &ne) && ne.Timeout():
		detail = "Alma did not answer within " + g.timeout.String()
	case errors.Is(err, context.Canceled):
		detail = "the call was cancelled"
	case errors.Is(err, sru.ErrMalformed) || errors.Is(err, alma.ErrMalformed):
		detail = "Alma sent a malformed or truncated answer"
	case errors.Is(err, sru.ErrBodyTooLarge) || errors.Is(err, alma.ErrTooLarge):
		detail = "Alma sent an answer larger than the gateway accepts"
	case errors.Is(err, io.ErrUnexpectedEOF):
		detail = "Alma's answer was cut off"
	case he != nil:
		detail = fmt.Sprintf("Alma answered HTTP %d", he.Status)
	case ae != nil:
		detail = fmt.Sprintf("Alma answered HTTP %d", ae.Status)
	}
	return &Error{Kind: ErrUnavailable, Upstream: g.name, Detail: detail, Cause: err}
}

func (g *Guard) fail(err error) error {
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		g.outcome("breaker_open")
		return &Error{Kind: ErrUnavailable, Upstream: g.name, Detail: "circuit breaker open after repeated Alma failures", RetryAfter: g.UntilTrial(), Cause: err}
	}
	var ue *Error
	if errors.As(err, &ue) {
		if isBreakerExcluded(err) && !errors.Is(ue.Kind, ErrRateLimited) {
			g.outcome("cancelled")
			return err
		}
		outcome := "error"
		if errors.Is(ue.Kind, ErrRateLimited) {
			outcome = "rate_limited"
			g.health.m.RateLimited.WithLabelValues(g.name).Inc()
		}
		g.outcome(outcome)
		g.health.record(g.name, err)
		level := slog.LevelWarn
		var be *BudgetError
		if errors.As(err, &be) {
			// The gateway pacing itself: one line per refused request would
			// flood the log exactly when it is busiest; the metric counts it.
			level = slog.LevelDebug
		}
		g.health.log.Log(context.Background(), level, "alma call failed", "upstream", g.name, "error", ue.Detail, "cause", redactErr(ue.Cause))
		return err
	}
	g.outcome("answer")
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

// Transport is the HTTP client every Alma call uses (never
// http.DefaultClient): connect and header deadlines, the call budget spent
// per attempt, and at most one retry.
type Transport struct {
	base    http.RoundTripper
	budget  *budget.Budget
	retries *retryBudget
	m       *Metrics
	bytes   *ByteGate // upstream body bytes held at once (bytes.go)
	// jitter returns the wait before a retry; nil means 50-250ms at random.
	jitter func() time.Duration
}

// NewTransport is the transport of cfg, spending b.
func NewTransport(cfg config.UpstreamConfig, b *budget.Budget, m *Metrics) *Transport {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout.D(), KeepAlive: 30 * time.Second}
	return &Transport{
		base: &http.Transport{
			Proxy:                  nil, // Alma is called directly; no proxy from the environment
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    cfg.ConnectTimeout.D(),
			ResponseHeaderTimeout:  cfg.HeaderTimeout.D(),
			MaxResponseHeaderBytes: 64 << 10,
			MaxIdleConns:           256,
			MaxIdleConnsPerHost:    64,
			IdleConnTimeout:        90 * time.Second,
			ForceAttemptHTTP2:      true,
		},
		budget:  b,
		retries: newRetryBudget(cfg.RetryBudget),
		m:       m,
		bytes:   NewByteGate(cfg.MaxInflightBytes),
	}
}

// Doer returns the Doer for one upstream: the client the sru and alma
// packages use.
func (t *Transport) Doer(upstream string) *Doer {
	return &Doer{t: t, upstream: upstream}
}

// Bytes is the gate bounding the answer bytes held at once.
func (t *Transport) Bytes() *ByteGate { return t.bytes }

// Doer sends one upstream's requests through the transport.
type Doer struct {
	t        *Transport
	upstream string
}

// BudgetError is the call budget refusing an attempt: a 429 back-off window
// (wrapping budget.ErrBackoff) or no slot before the deadline. It is the
// gateway pacing itself, not Alma failing, so the breaker does not count it.
type BudgetError struct {
	err  error
	wait time.Duration // how long until a call may go; 0 unknown
}

func (e *BudgetError) Error() string { return e.err.Error() }
func (e *BudgetError) Unwrap() error { return e.err }

// Do sends req, spending the budget named by the upstream (or by the API key
// for REST calls), and retries once when the call is idempotent and failed
// to connect or got 502/503/504, within the retry budget. net/http itself
// replays an idempotent request once when a reused keep-alive connection
// dies under it; such an attempt counts as the one retry.
func (d *Doer) Do(req *http.Request) (*http.Response, error) {
	// REST calls spend their API key's budget (Alma counts per key; the
	// budget stores only a hash of it); SRU calls spend the endpoint's.
	key := d.upstream
	if k, ok := strings.CutPrefix(req.Header.Get("Authorization"), "apikey "); ok && k != "" {
		key = "apikey:" + k
	}
	var conns atomic.Int32
	traced := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { conns.Add(1) },
	}))
	resp, err := d.attempt(traced, key)
	var be *BudgetError
	if errors.As(err, &be) {
		return resp, err // never sent: neither a call nor a reason to retry
	}
	// Only calls that went out count towards the retry budget: refusals by
	// the call budget would otherwise inflate it in exactly the overload
	// where retries hurt most (the soak found this).
	d.t.retries.call()
	if conns.Load() > 1 || !retryable(req, resp, err) {
		return resp, err
	}
	// Jitter: 50-250 ms, never past the caller's deadline.
	wait := 50*time.Millisecond + rand.N(200*time.Millisecond)
	if d.t.jitter != nil {
		wait = d.t.jitter()
	}
	if dl, ok := req.Context().Deadline(); ok && time.Until(dl) < wait {
		return resp, err
	}
	if !d.t.retries.allow() {
		return resp, err
	}
	if resp != nil {
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	d.t.m.Retries.WithLabelValues(d.upstream).Inc()
	return d.attempt(req, key)
}

// Spend waits for a slot of key's call budget, using at most half the
// time left before ctx's deadline (see attempt). A refusal is a
// *BudgetError; the caller's own deadline or cancel is ctx's error. The
// Z39.50 targets spend theirs per search through it too.
func (d *Doer) Spend(ctx context.Context, key string) error {
	waitCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
		defer cancel()
	}
	if err := d.t.budget.Wait(waitCtx, key); err != nil {
		if ctx.Err() != nil {
			return err // the caller's own deadline or cancel
		}
		wait := d.backoffLeft(key)
		var se *budget.SlotError
		if errors.As(err, &se) {
			wait = se.Wait // the client may retry when the next slot is free
		}
		return &BudgetError{err: err, wait: wait}
	}
	return nil
}

// attempt sends req once, after waiting for the call budget. The wait may
// use at most half the time left before the call's deadline: a call that
// queued behind the budget until its deadline would then time out on a
// healthy Alma, and that timeout would count against Alma in the breaker
// (the soak found this: a burst of cache misses opened the breaker with
// Alma answering in 30 ms). A slot further away is refused at once, as the
// gateway's own rate limit, which the breaker does not count.
func (d *Doer) attempt(req *http.Request, key string) (*http.Response, error) {
	ctx := req.Context()
	if err := d.Spend(ctx, key); err != nil {
		return nil, err
	}
	resp, err := d.t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		// Reads are bounded by the shared byte gate; a write's answer is
		// small and always read, since losing it would leave the write's
		// outcome unknown.
		resp.Body = d.t.bytes.wrap(ctx, resp.Body)
	}
	if v := resp.Header.Get("X-Exl-Api-Remaining"); v != "" && key != d.upstream {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			d.t.budget.Remaining(key, n)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		d.t.budget.Backoff(key, backoffFor(resp.Header.Get("Retry-After")))
	}
	return resp, nil
}

// backoffLeft is how long key's back-off window still runs (0 when none),
// for the Retry-After the client is given.
func (d *Doer) backoffLeft(key string) time.Duration {
	id := budget.ID(key)
	for _, st := range d.t.budget.Stats() {
		if st.ID == id && !st.BackoffUntil.IsZero() {
			return max(0, time.Until(st.BackoffUntil))
		}
	}
	return 0
}

// retryable says whether a failed attempt may be tried once more: only GET
// and HEAD, only when the connection failed (refused, reset, closed before
// an answer: the request most likely never reached Alma's application) or
// Alma's front answered 502, 503 or 504. Timeouts are not retried (a slow
// Alma would only get twice the load), nor 500 or 429.
func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if err != nil {
		if req.Context().Err() != nil {
			return false
		}
		var be *BudgetError
		if errors.As(err, &be) {
			return false
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return true
		}
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoffFor is the call budget's back-off after a 429 with Retry-After v:
// the value read by the one parser (internal/retryafter), 1s when absent or
// odd, capped at 5 minutes.
func backoffFor(v string) time.Duration {
	const most = 5 * time.Minute
	d := retryafter.Parse(v, time.Now())
	if d <= 0 {
		return time.Second
	}
	return min(d, most)
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
