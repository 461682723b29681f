package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/almanet/gateway/upstream"
)

// metrics holds the gateway's Prometheus instruments, registered on the
// server's own registry (no globals). Label values never carry keys: an
// upstream is named "sru:nz", "api:nz", "api:<member code>" and so on.
type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	up              *upstream.Metrics // the upstream calls' own (package upstream)
	clientLimited   prometheus.Counter
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
		clientLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_client_rate_limited_total", Help: "Requests refused by the per-client rate limit.",
		}),
	}
	f(m.requests)
	f(m.requestDuration)
	f(m.clientLimited)
	m.up = upstream.NewMetrics(reg)
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
