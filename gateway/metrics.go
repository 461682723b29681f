package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds the gateway's Prometheus instruments, registered on the
// server's own registry (no globals). Label values never carry keys: an
// upstream is named "sru:nz", "api:nz", "api:<member code>" and so on.
type metrics struct {
	reg *prometheus.Registry

	requests           *prometheus.CounterVec
	requestDuration    *prometheus.HistogramVec
	upstreamCalls      *prometheus.CounterVec
	upstreamDuration   *prometheus.HistogramVec
	breakerState       *prometheus.GaugeVec
	breakerTransitions *prometheus.CounterVec
	retries            *prometheus.CounterVec
	rateLimited        *prometheus.CounterVec
	apiRemaining       *prometheus.GaugeVec
	clientLimited      prometheus.Counter
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total", Help: "Requests answered, by route and HTTP status.",
		}, []string{"route", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_request_duration_seconds", Help: "Time to answer a request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		upstreamCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_calls_total", Help: "Calls to Alma by upstream and outcome (ok, answer, error, rate_limited, breaker_open, cancelled).",
		}, []string{"upstream", "outcome"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_upstream_duration_seconds", Help: "Duration of guarded Alma calls, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
		}, []string{"upstream"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_breaker_state", Help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
		}, []string{"upstream"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_breaker_transitions_total", Help: "Circuit breaker state changes, by upstream and new state.",
		}, []string{"upstream", "to"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total", Help: "Retried Alma calls, by upstream.",
		}, []string{"upstream"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_alma_rate_limited_total", Help: "Alma 429 answers and budget back-offs, by upstream.",
		}, []string{"upstream"}),
		apiRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_alma_api_remaining", Help: "Alma's X-Exl-Api-Remaining (daily calls left), by API.",
		}, []string{"upstream"}),
		clientLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_client_rate_limited_total", Help: "Requests refused by the per-client rate limit.",
		}),
	}
	f(m.requests)
	f(m.requestDuration)
	f(m.upstreamCalls)
	f(m.upstreamDuration)
	f(m.breakerState)
	f(m.breakerTransitions)
	f(m.retries)
	f(m.rateLimited)
	f(m.apiRemaining)
	f(m.clientLimited)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// gaugeFunc registers a gauge read at scrape time.
func (m *metrics) gaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// counterFunc registers a counter read at scrape time.
func (m *metrics) counterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}
