package upstream

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the upstream calls' Prometheus instruments. Label values
// never carry keys: an upstream is named "sru:nz", "api:nz", "api:<member
// code>" and so on.
type Metrics struct {
	Calls              *prometheus.CounterVec   // gateway_upstream_calls_total
	Duration           *prometheus.HistogramVec // gateway_upstream_duration_seconds
	BreakerState       *prometheus.GaugeVec     // gateway_breaker_state
	BreakerTransitions *prometheus.CounterVec   // gateway_breaker_transitions_total
	Retries            *prometheus.CounterVec   // gateway_upstream_retries_total
	RateLimited        *prometheus.CounterVec   // gateway_alma_rate_limited_total
	APIRemaining       *prometheus.GaugeVec     // gateway_alma_api_remaining
}

// NewMetrics makes the instruments and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_calls_total", Help: "Calls to Alma by upstream and outcome (ok, answer, error, rate_limited, breaker_open, cancelled).",
		}, []string{"upstream", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_upstream_duration_seconds", Help: "Duration of guarded Alma calls, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
		}, []string{"upstream"}),
		BreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_breaker_state", Help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
		}, []string{"upstream"}),
		BreakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_breaker_transitions_total", Help: "Circuit breaker state changes, by upstream and new state.",
		}, []string{"upstream", "to"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total", Help: "Retried Alma calls, by upstream.",
		}, []string{"upstream"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_alma_rate_limited_total", Help: "Alma 429 answers and budget back-offs, by upstream.",
		}, []string{"upstream"}),
		APIRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_alma_api_remaining", Help: "Alma's X-Exl-Api-Remaining (daily calls left), by API.",
		}, []string{"upstream"}),
	}
	reg.MustRegister(m.Calls, m.Duration, m.BreakerState, m.BreakerTransitions, m.Retries, m.RateLimited, m.APIRemaining)
	return m
}
