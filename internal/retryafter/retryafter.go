// Package retryafter reads an HTTP Retry-After value (RFC 9110 10.2.3): a
// number of seconds or an HTTP date. It is the one parser the sru and alma
// clients and the gateway's call budget share, so that one 429 means one
// wait wherever it is read.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Most is the longest wait Parse returns: a value further away (or a
// number too large to be meant) is cut to it.
const Most = 24 * time.Hour

// Parse reads v as of now. It returns 0 when v is empty, negative, in the
// past or not a Retry-After value at all; callers choose their own default.
func Parse(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n >= int64(Most/time.Second) { // before multiplying: no overflow
			return Most
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), Most)
	}
	return 0
}
