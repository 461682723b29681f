package alma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/antchfx/xmlquery"

	"github.com/almanet/gateway/internal/retryafter"
)

// ErrMalformed is wrapped by GetBib's error when Alma answers 2xx with a
// body that cannot be read (truncated, not XML/JSON, no MARC record): the
// gateway's breaker counts it as a failure of the upstream.
var ErrMalformed = errors.New("alma: malformed response")

// ErrTooLarge is wrapped by GetBib's error when the body exceeds MaxBody.
var ErrTooLarge = errors.New("alma: response body too large")

// Error is an error answer of the Alma REST API: a non-2xx status, or a
// 2xx whose body says errorsExist. Its text never holds the API key.
type Error struct {
	Status     int           // HTTP status
	Code       string        // Alma's errorCode, e.g. "402203" or "PER_SECOND_THRESHOLD"; "" if none
	Message    string        // Alma's errorMessage, or the HTTP status text
	RetryAfter time.Duration // from Retry-After; 0 when absent
	Remaining  int           // X-Exl-Api-Remaining (daily calls left); -1 unknown
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "alma: http %d", e.Status)
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// notFoundCodes are the Alma errors that mean "no such record": 402203
// "Input parameters mmsId X is not valid" is what the Bibs API answers for
// an unknown MMS ID; 402204 "... is not numeric" cannot name a record
// either.
var notFoundCodes = map[string]bool{"402203": true, "402204": true}

// NotFound reports whether the error means the record does not exist.
func (e *Error) NotFound() bool {
	return e.Status == http.StatusNotFound || notFoundCodes[e.Code]
}

// RateLimited reports whether Alma refused the call for its rate limits
// (HTTP 429, PER_SECOND_THRESHOLD, or the daily DAILY_THRESHOLD): back off,
// honour RetryAfter, and do not count it against the upstream's health.
func (e *Error) RateLimited() bool {
	return e.Status == http.StatusTooManyRequests ||
		e.Code == "PER_SECOND_THRESHOLD" || e.Code == "DAILY_THRESHOLD"
}

// ParseError reads an Alma error answer: a web_service_result XML body, an
// errorList JSON body, or anything else (then Message is the HTTP status
// text). It always returns an *Error.
func ParseError(status int, header http.Header, body []byte) *Error {
	e := &Error{Status: status, Remaining: remaining(header), RetryAfter: retryafter.Parse(header.Get("Retry-After"), time.Now())}
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
		e.Code, e.Message = jsonError(trimmed)
	case len(trimmed) > 0 && trimmed[0] == '<':
		e.Code, e.Message = xmlError(trimmed)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

func xmlError(body []byte) (code, msg string) {
	doc, err := xmlquery.Parse(bytes.NewReader(body))
	if err != nil {
		return "", ""
	}
	// Local names: web_service_result is in a namespace Alma varies.
	n := xmlquery.FindOne(doc, "//*[local-name()='error']")
	if n == nil {
		return "", ""
	}
	if c := xmlquery.FindOne(n, "*[local-name()='errorCode']"); c != nil {
		code = strings.TrimSpace(c.InnerText())
	}
	if m := xmlquery.FindOne(n, "*[local-name()='errorMessage']"); m != nil {
		msg = strings.TrimSpace(m.InnerText())
	}
	return code, msg
}

func jsonError(body []byte) (code, msg string) {
	var v struct {
		ErrorList struct {
			Error json.RawMessage `json:"error"`
		} `json:"errorList"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.ErrorList.Error) == 0 {
		return "", ""
	}
	type item struct {
		Code    json.RawMessage `json:"errorCode"`
		Message string          `json:"errorMessage"`
	}
	var items []item
	if json.Unmarshal(v.ErrorList.Error, &items) != nil {
		var one item
		if json.Unmarshal(v.ErrorList.Error, &one) != nil {
			return "", ""
		}
		items = []item{one}
	}
	if len(items) == 0 {
		return "", ""
	}
	// errorCode is a string in captures, but a number would be read too.
	c := strings.Trim(string(items[0].Code), `" `)
	return c, strings.TrimSpace(items[0].Message)
}

func remaining(h http.Header) int {
	v := h.Get("X-Exl-Api-Remaining")
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return -1
	}
	return n
}
