package writes

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Entry is one line of the audit log: one per write (SPEC 12) and per
// webhook. It names who acted and on what, never a key or a token: the
// staff member is named by the YAML entry's name ("admin" for the admin
// token), the idempotency key is the client's own label.
type Entry struct {
	Who            string   // staff name, or "alma" for a webhook
	Institution    string   // member code (for a webhook: Alma's institution)
	Operation      string   // link, local_fields, unlink, po_line, rs_request, webhook:BIB_UPDATED …
	Records        []string // MMS IDs touched (NZ and IZ)
	Status         int      // the gateway's answer
	AlmaCode       string   // Alma's error code; "" when Alma accepted
	Outcome        string   // ok, existing (303), reconciled, unknown, held, refused, conflict, unavailable, replayed, bad_signature …
	IdempotencyKey string
	RequestID      string
}

// Metrics are the package's collectors: writes and webhooks.
type Metrics struct {
	writes   *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	evicted  prometheus.Counter
	replays  prometheus.Counter
}

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_writes_total", Help: "Network write requests (SPEC 12), by operation and outcome.",
		}, []string{"operation", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_webhooks_total", Help: "Alma webhook events received, by action and outcome.",
		}, []string{"action", "outcome"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_write_evictions_total", Help: "Record tags purged from the cache after writes and webhooks.",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_idempotent_replays_total", Help: "Write requests answered from the Idempotency-Key store without calling Alma.",
		}),
	}
	reg.MustRegister(m.writes, m.webhooks, m.evicted, m.replays)
	return m
}

// Webhook counts one webhook event by action and outcome.
func (m *Metrics) Webhook(action, outcome string) { m.webhooks.WithLabelValues(action, outcome).Inc() }

// Audit writes the entry as one structured line.
func (w *Service) Audit(e Entry) {
	if e.Records == nil {
		e.Records = []string{}
	}
	w.Log.LogAttrs(context.Background(), slog.LevelInfo, "audit",
		slog.String("who", e.Who),
		slog.String("institution", e.Institution),
		slog.String("operation", e.Operation),
		slog.Any("records", e.Records),
		slog.Int("status", e.Status),
		slog.String("alma_code", e.AlmaCode),
		slog.String("outcome", e.Outcome),
		slog.String("idempotency_key", e.IdempotencyKey),
		slog.String("request_id", e.RequestID),
	)
}
