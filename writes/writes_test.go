package writes

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/idempotency"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/staff"
	"github.com/almanet/gateway/transform"
)

// fakeAlma counts calls; ListPOLines answers lines or fails with err.
type fakeAlma struct {
	Alma  // any other call panics: the test did not expect it
	calls int
	lines []alma.POLine
	err   error
}

func (f *fakeAlma) ListPOLines(ctx context.Context, q, key string) ([]alma.POLine, int, error) {
	f.calls++
	return f.lines, len(f.lines), f.err
}

func (f *fakeAlma) CreatePOLine(ctx context.Context, body []byte, profile, key string) (*alma.Written, error) {
	f.calls++
	return &alma.Written{Body: []byte(`{"number":"POL-9"}`)}, nil
}

func (f *fakeAlma) CreateResourceSharingRequest(ctx context.Context, user string, body []byte, key string) (*alma.Written, error) {
	f.calls++
	return &alma.Written{Body: []byte(`{}`)}, nil
}

type guardFunc func(ctx context.Context, call func(ctx context.Context) error) error

func (g guardFunc) Do(ctx context.Context, call func(ctx context.Context) error) error {
	return g(ctx, call)
}

// fakeStore answers one state and records what becomes of the key.
type fakeStore struct {
	state idempotency.State
	ended string // finish, unknown or release
}

func (s *fakeStore) Claim(ctx context.Context, id, fp string) (idempotency.State, *idempotency.Answer) {
	return s.state, &idempotency.Answer{Fingerprint: fp, Owner: "me", Started: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).UnixMilli()}
}
func (s *fakeStore) Finish(ctx context.Context, id, owner string, a idempotency.Answer) {
	s.ended = "finish"
}
func (s *fakeStore) Unknown(ctx context.Context, id, owner string, started time.Time, fp string) {
	s.ended = "unknown"
}
func (s *fakeStore) Release(ctx context.Context, id, owner string) { s.ended = "release" }

type refusal struct {
	status  int
	details string
}

func (r *refusal) Error() string { return r.details }

// fakeErrors stands in for the gateway's one mapping and body.
type fakeErrors struct{}

func (fakeErrors) Answer(route string, err error) (int, time.Duration, sru.Diagnostic) {
	var r *refusal
	if errors.As(err, &r) {
		return r.status, 0, sru.Diagnostic{Details: r.details}
	}
	return http.StatusServiceUnavailable, time.Second, sru.Diagnostic{Details: err.Error()}
}
func (fakeErrors) Body(d []sru.Diagnostic, a *AlmaError) []byte {
	b, _ := json.Marshal(map[string]any{"diagnostics": d, "alma": a})
	return b
}
func (fakeErrors) Refuse(status int, details string) error { return &refusal{status, details} }

type noCache struct{}

func (noCache) PurgeTag(ctx context.Context, tag string) {}

type noRecords struct{}

func (noRecords) NZRecord(ctx context.Context, id string) (*transform.Record, error) {
	return &transform.Record{Holdings: []transform.Holding{{Institution: "LENDER"}}}, nil
}

func service(a *fakeAlma, st *fakeStore) *Service {
	return New(Deps{
		Alma: a,
		Guard: func(string) Guard {
			return guardFunc(func(ctx context.Context, call func(context.Context) error) error { return call(ctx) })
		},
		Members: func(code string) (config.Member, bool) {
			return config.Member{Code: code, APIKey: "k"}, code == "OWN" || code == "LENDER"
		},
		Records: noRecords{}, Cache: noCache{}, Store: st, Errors: fakeErrors{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(prometheus.NewRegistry()),
		Now: func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }, Timeout: time.Second, MaxBody: 1 << 16,
	})
}

func request(path, body string) *Request {
	return &Request{Signed: true, Who: staff.Principal{Name: "alice", Institution: "OWN"}, Code: "OWN", Method: http.MethodPost,
		URLPath: path, CType: "application/json", Body: []byte(body), IdemKey: "k1"}
}

// The workflows run on their declared interfaces alone, with no HTTP
// server: what an earlier request with the key may have done decides
// whether Alma is written to, and what becomes of the key.
func TestReconcileDecidesOnFakes(t *testing.T) {
	order := `{"match":"iz","mms_id":"9911","po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"}}}`
	line := alma.POLine{Number: "POL-1", MMSID: "9911", Owner: "MAIN", Type: "PRINTED_BOOK_OT", CreatedDate: "2026-11-26Z", JSON: json.RawMessage(`{"number":"POL-1"}`)}
	rs := `{"nz_mms_id":"9922","lender":"LENDER","user_id":"p1"}`
	for _, tc := range []struct {
		name       string
		op         func(*Service) Op
		body       string
		state      idempotency.State
		alma       fakeAlma
		status     int
		calls      int
		ended      string
		reconciled bool
	}{
		{"po line found after a takeover", (*Service).POLine, order, idempotency.Reconcile, fakeAlma{lines: []alma.POLine{line}}, http.StatusCreated, 1, "finish", true},
		{"po line not found: ordered", (*Service).POLine, order, idempotency.Reconcile, fakeAlma{}, http.StatusCreated, 2, "finish", false},
		{"po line found while unsure: unknown", (*Service).POLine, order, idempotency.Unsure, fakeAlma{lines: []alma.POLine{line}}, http.StatusConflict, 1, "unknown", false},
		{"po line look fails after a takeover: key stays unknown", (*Service).POLine, order, idempotency.Reconcile, fakeAlma{err: errors.New("alma down")}, http.StatusServiceUnavailable, 1, "unknown", false},
		{"po line look fails while unsure: key freed", (*Service).POLine, order, idempotency.Unsure, fakeAlma{err: errors.New("alma down")}, http.StatusServiceUnavailable, 1, "release", false},
		{"resource sharing after a takeover: unknown, not sent", (*Service).ResourceSharing, rs, idempotency.Reconcile, fakeAlma{}, http.StatusConflict, 0, "unknown", false},
		{"resource sharing while unsure: held", (*Service).ResourceSharing, rs, idempotency.Unsure, fakeAlma{}, http.StatusServiceUnavailable, 0, "release", false},
		{"resource sharing claimed: sent", (*Service).ResourceSharing, rs, idempotency.Claimed, fakeAlma{}, http.StatusCreated, 1, "finish", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{state: tc.state}
			a := tc.alma
			svc := service(&a, st)
			got := svc.Do(tc.op(svc), request("/v1/institutions/OWN/x", tc.body))
			if got.Status != tc.status || a.calls != tc.calls || st.ended != tc.ended {
				t.Errorf("status %d, %d Alma calls, key %s; want %d, %d, %s\n%s", got.Status, a.calls, st.ended, tc.status, tc.calls, tc.ended, got.Body)
			}
			if r := strings.Contains(string(got.Body), `"reconciled":true`); r != tc.reconciled {
				t.Errorf("reconciled %v, want %v\n%s", r, tc.reconciled, got.Body)
			}
		})
	}
}
