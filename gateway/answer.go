package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/sru"
)

// This file is the one place where errors become answers (STYLE.md): an
// HTTP status, SRU diagnostics, a JSON body. Nothing else invents status
// codes.

// clientError is a request the gateway refuses: a bad parameter, an unknown
// record, a member without a key. Its diagnostic tells the client why.
type clientError struct {
	status int
	diag   sru.Diagnostic
}

func (e *clientError) Error() string { return e.diag.Message + ": " + e.diag.Details }

// badRequest is a 400 with SRU diagnostic n (the diagnostics list names
// them; the JSON feed uses the same vocabulary).
func badRequest(n int, details string) error {
	return &clientError{status: http.StatusBadRequest, diag: *sru.NewDiagnostic(n, details)}
}

func fromDiagnostic(d *sru.Diagnostic) error {
	return &clientError{status: http.StatusBadRequest, diag: *d}
}

func notFound(details string) error {
	// Diagnostic 64 is "record temporarily unavailable"; there is no "no such
	// record" in the list, so the JSON feed uses 1/1 with clear details.
	d := sru.NewDiagnostic(1, details)
	d.Message = "Record not found"
	return &clientError{status: http.StatusNotFound, diag: *d}
}

// answer is what errorAnswer decides.
type answer struct {
	status     int
	diag       sru.Diagnostic
	retryAfter time.Duration
}

// errorAnswer maps any error to its answer. Unknown errors become a generic
// internal error outward, with the full detail in the log.
func errorAnswer(log *slog.Logger, route string, err error) answer {
	var ce *clientError
	if errors.As(err, &ce) {
		return answer{status: ce.status, diag: ce.diag}
	}
	var ue *upstreamError
	if errors.As(err, &ue) {
		ra := ue.retryAfter
		if ra <= 0 {
			ra = 5 * time.Second
		}
		d := sru.NewDiagnostic(1, ue.detail+"; no cached answer is available")
		d.Message = "Alma is unavailable"
		if errors.Is(ue.kind, errRateLimited) {
			d.Message = "Alma's rate limit is reached"
		}
		return answer{status: http.StatusServiceUnavailable, diag: *d, retryAfter: ra}
	}
	var ae *alma.Error
	if errors.As(err, &ae) {
		if ae.NotFound() {
			return errorAnswer(log, route, notFound("Alma knows no record with that MMS ID"))
		}
		// Another 4xx from Alma's REST API: a key Alma refuses, or a request
		// it finds invalid. Alma's own words (never the key) go to the client.
		d := sru.NewDiagnostic(1, "Alma answered HTTP "+strconv.Itoa(ae.Status)+": "+ae.Code+" "+ae.Message)
		d.Message = "Alma refused the request"
		log.Warn("alma refused a request", "route", route, "status", ae.Status, "code", ae.Code)
		return answer{status: http.StatusBadGateway, diag: *d}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		d := sru.NewDiagnostic(1, "the answer took longer than the gateway waits; it is still being fetched, try again shortly")
		d.Message = "Alma is slow"
		return answer{status: http.StatusServiceUnavailable, diag: *d, retryAfter: 2 * time.Second}
	}
	log.Error("internal error", "route", route, "error", err)
	d := sru.NewDiagnostic(1, "internal error")
	d.Message = "General system error"
	return answer{status: http.StatusInternalServerError, diag: *d}
}

// jsonDiagnostic is a diagnostic in the JSON feed.
type jsonDiagnostic struct {
	URI     string `json:"uri"`
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
}

func toJSONDiagnostics(ds []sru.Diagnostic) []jsonDiagnostic {
	out := make([]jsonDiagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, jsonDiagnostic{URI: d.URI, Message: d.Message, Details: d.Details})
	}
	return out
}
