package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
)

// This file is the one place where errors become answers (STYLE.md): an
// HTTP status, a Retry-After, an SRU diagnostic and a JSON body, for each
// surface. Every handler and middleware hands its error to errorWriter;
// nothing else writes an error status. Successful answers are written by
// writeAnswer (serve.go) with the status their renderer chose.

// clientError is a request the gateway refuses: a bad parameter, an unknown
// record, a member without a key, a client over its rate, a missing token.
// Its diagnostic tells the client why.
type clientError struct {
	status     int
	diag       sru.Diagnostic
	retryAfter time.Duration
}

func (e *clientError) Error() string { return e.diag.Message + ": " + e.diag.Details }

// badRequest is a 400 with SRU diagnostic n (the diagnostics list names
// them; the JSON feed uses the same vocabulary).
func badRequest(n int, details string) error {
	return &clientError{status: http.StatusBadRequest, diag: *sru.NewDiagnostic(n, details)}
}

func fromDiagnostic(d *sru.Diagnostic) error {
	return &clientError{status: search.DiagnosticStatus(*d), diag: *d}
}

// notFound is an unknown record: 404 with diagnostic 65, "record does not
// exist".
func notFound(details string) error {
	return &clientError{status: http.StatusNotFound, diag: *sru.NewDiagnostic(65, details)}
}

// refused is a request refused for a reason other than its parameters: an
// HTTP status with diagnostic 1 and a message naming the status (auth,
// limits, an unknown route or method).
func refused(status int, details string) *clientError {
	d := sru.NewDiagnostic(1, details)
	d.Message = http.StatusText(status)
	return &clientError{status: status, diag: *d}
}

// errDraining is a request the gateway will not start because it is
// shutting down.
var errDraining = errors.New("the gateway is shutting down")

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
		return answer{status: ce.status, diag: ce.diag, retryAfter: ce.retryAfter}
	}
	var qe *search.QueryError
	if errors.As(err, &qe) {
		return answer{status: http.StatusBadRequest, diag: qe.Diag}
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		ra := ue.RetryAfter
		if ra <= 0 {
			ra = 5 * time.Second
		}
		d := sru.NewDiagnostic(1, ue.Detail+"; no cached answer is available")
		d.Message = "Alma is unavailable"
		if errors.Is(ue.Kind, upstream.ErrRateLimited) {
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
	if errors.Is(err, errDraining) {
		d := sru.NewDiagnostic(1, "the gateway is shutting down; another replica answers")
		d.Message = "Service Unavailable"
		return answer{status: http.StatusServiceUnavailable, diag: *d, retryAfter: time.Second}
	}
	if errors.Is(err, errNoAPI) {
		d := sru.NewDiagnostic(1, errNoAPI.Error())
		d.Message = "Live availability is not configured"
		return answer{status: http.StatusServiceUnavailable, diag: *d}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		d := sru.NewDiagnostic(1, "the answer took longer than the gateway waits; it is still being fetched, try again shortly")
		d.Message = "Alma is slow"
		return answer{status: http.StatusServiceUnavailable, diag: *d, retryAfter: 2 * time.Second}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return errorAnswer(log, route, refused(fe.Code, fe.Message))
	}
	log.Error("internal error", "route", route, "error", err)
	d := sru.NewDiagnostic(1, "internal error")
	d.Message = "General system error"
	return answer{status: http.StatusInternalServerError, diag: *d}
}

// partDiagnostic is the diagnostic for a part of an answer that failed
// while the rest was served (a record's live availability, a member's
// network holdings): errorAnswer's, with what failed as its message.
func partDiagnostic(log *slog.Logger, route, what string, err error) sru.Diagnostic {
	d := errorAnswer(log, route, err).diag
	d.Message = what
	return d
}

// errorWriter writes error answers, for every surface the same way.
type errorWriter struct {
	log *slog.Logger
	now func() time.Time
}

// retryAfterSeconds is the one Retry-After rule (RFC 9110 10.2.3, whole
// seconds): the wait rounded up, at least 1, so that a client that
// honours it never comes back before the gateway can answer.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// setRetryAfter sets Retry-After for a wait d; d <= 0 sets nothing.
func setRetryAfter(h *fasthttp.ResponseHeader, d time.Duration) {
	if d > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(d)))
	}
}

// headers writes what every error answer carries: Retry-After when there
// is a hint, never cached, X-Cache MISS (no Age: nothing came from the
// cache) and an ETag of the body.
func (w errorWriter) headers(c *fiber.Ctx, a answer, body []byte) {
	errorHeaders(&c.Response().Header, a, body)
}

func errorHeaders(h *fasthttp.ResponseHeader, a answer, body []byte) {
	setRetryAfter(h, a.retryAfter)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Cache", "MISS")
	f := fnv.New64a()
	f.Write(body)
	h.Set("ETag", `"`+strconv.FormatUint(f.Sum64()|1<<63, 16)+`"`)
}

// errorBody is the one JSON error shape, for every surface:
//
//	{<fields>"diagnostics":[…],"alma":{…},"meta":{…}}
//
// fields are what a surface adds in front, each ending in a comma (DAIA's
// error, code and error_description); alma is Alma's own refusal, which
// the writes add (nil: none).
func errorBody(fields []byte, diags []sru.Diagnostic, alma *almaErrorJSON, asOf time.Time, took time.Duration) []byte {
	body := append([]byte{'{'}, fields...)
	body = append(body, `"diagnostics":`...)
	body = appendJSONDiagnostics(body, diags)
	if alma != nil {
		a, _ := json.Marshal(alma)
		body = append(append(body, `,"alma":`...), a...)
	}
	return jsonMeta(body, CacheView{Status: cache.StatusMiss, StoredAt: asOf}, took)
}

// json answers an error in the JSON shape every /v1 and operations route
// uses: {"diagnostics":[…],"meta":{…}}.
func (w errorWriter) json(c *fiber.Ctx, route string, err error, t0 time.Time) error {
	a := errorAnswer(w.log, route, err)
	body := errorBody(nil, []sru.Diagnostic{a.diag}, nil, w.now(), time.Since(t0))
	w.headers(c, a, body)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Status(a.status).Send(body)
}

// raw answers an error for a request Fiber never routes (a method it does
// not know, a request fasthttp could not read), in the same shape.
func (w errorWriter) raw(ctx *fasthttp.RequestCtx, err error) {
	a := errorAnswer(w.log, "edge", err)
	body := errorBody(nil, []sru.Diagnostic{a.diag}, nil, w.now(), 0)
	ctx.Response.Reset()
	errorHeaders(&ctx.Response.Header, a, body)
	ctx.SetStatusCode(a.status)
	ctx.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
	ctx.SetBody(body)
}

// sru answers an error on the SRU surface: a diagnostics-only response in
// version v for operation op, with HTTP 200, as SRU clients expect (SRU 1.2
// "Diagnostics"); the status and Retry-After errorAnswer chose go into the
// log and the Retry-After header only.
func (w errorWriter) sru(c *fiber.Ctx, v sru.Version, op string, err error) error {
	a := errorAnswer(w.log, "/sru", err)
	var buf bytes.Buffer
	sru.WriteDiagnostics(&buf, v, op, []sru.Diagnostic{a.diag})
	w.headers(c, a, buf.Bytes())
	c.Set(fiber.HeaderContentType, ContentSRU.String())
	return c.Status(http.StatusOK).Send(buf.Bytes())
}

// appendJSONDiagnostics appends diagnostics as the JSON feed's list.
func appendJSONDiagnostics(dst []byte, ds []sru.Diagnostic) []byte {
	dst = append(dst, '[')
	for i, d := range ds {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"uri":`...)
		dst = transform.AppendJSONString(dst, d.URI)
		dst = append(dst, `,"message":`...)
		dst = transform.AppendJSONString(dst, d.Message)
		if d.Details != "" {
			dst = append(dst, `,"details":`...)
			dst = transform.AppendJSONString(dst, d.Details)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// JSONDiagnostics is search.JSONDiagnostics.
var JSONDiagnostics = search.JSONDiagnostics
