package search

import (
	"net/http"

	"github.com/almanet/gateway/sru"
)

// QueryError is a search the client must change (a bad targets=, sort= or
// query): the gateway answers it 400 with Diag.
type QueryError struct {
	Diag sru.Diagnostic
}

func (e *QueryError) Error() string { return e.Diag.Message + ": " + e.Diag.Details }

// badRequest is a QueryError with SRU diagnostic n.
func badRequest(n int, details string) error {
	return &QueryError{Diag: *sru.NewDiagnostic(n, details)}
}

// DiagnosticStatus is the JSON feed's HTTP status for an answer that is
// only a diagnostic: 400 for the client's own mistakes (a query the target
// or the gateway refuses, the diagnostics list's 4-49, and 6-8 parameter
// errors; a sort it cannot do, 80-96), 404 for an unknown record (65), else
// 200 (a start past the end, 61, still answers with the real total).
func DiagnosticStatus(d sru.Diagnostic) int {
	switch n := d.Number(); {
	case n == 65:
		return http.StatusNotFound
	case n >= 4 && n < 50, n >= 80 && n <= 96:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// JSONDiagnostic is a diagnostic in the JSON feed.
type JSONDiagnostic struct {
	URI     string `json:"uri"`
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
}

// JSONDiagnostics is ds in the JSON feed's shape.
func JSONDiagnostics(ds []sru.Diagnostic) []JSONDiagnostic {
	out := make([]JSONDiagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, JSONDiagnostic{URI: d.URI, Message: d.Message, Details: d.Details})
	}
	return out
}

// NextPosition is the position a client asks for next, or 0 when the list
// (or Alma's paging window) ends here.
func NextPosition(start, got, total int) int {
	req := sru.Request{StartRecord: start}
	return req.NextPosition(total, got, sru.AlmaMaxPosition)
}
