package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// samplePath fills a route pattern's parameters with a value.
func samplePath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "9912345678900101"
		}
	}
	return strings.Join(segs, "/")
}

// Every path of the route table answers a method it does not take with 405
// and an Allow naming exactly the methods it does take; before the table,
// /v1/daia, /sru/{db} and /webhooks/alma answered 404 (a second route list).
func TestWrongMethodIs405WithAllowFromTheRouteTable(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.AdminToken = testAdminToken })
	byPath := map[string][]string{}
	for _, r := range env.gw.routeTable() {
		byPath[r.path] = append(byPath[r.path], r.method)
	}
	for pattern, methods := range byPath {
		want := []string{}
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "OPTIONS"} {
			if slices.Contains(methods, m) || m == "HEAD" && slices.Contains(methods, "GET") || m == "OPTIONS" {
				want = append(want, m)
			}
		}
		for _, p := range []string{samplePath(pattern), strings.ToUpper(samplePath(pattern)), strings.TrimSuffix(samplePath(pattern), "/") + "/"} {
			code, h, body := env.send(http.MethodDelete, p, "", "")
			if code != http.StatusMethodNotAllowed || h.Get("Allow") != strings.Join(want, ", ") {
				t.Errorf("DELETE %s: %d Allow %q, want 405 Allow %q: %.200s", p, code, h.Get("Allow"), strings.Join(want, ", "), body)
			}
		}
	}
	for _, c := range []struct{ path, allow string }{
		{"/v1/daia", "GET, HEAD, OPTIONS"},
		{"/sru/nz", "GET, HEAD, POST, OPTIONS"},
		{"/view/sru/nz", "GET, HEAD, POST, OPTIONS"},
		{"/webhooks/alma", "GET, HEAD, POST, OPTIONS"},
		{"/admin/cache/purge", "POST, OPTIONS"},
	} {
		code, h, body := env.send(http.MethodDelete, c.path, "", "")
		if code != http.StatusMethodNotAllowed || h.Get("Allow") != c.allow {
			t.Errorf("DELETE %s: %d Allow %q, want 405 %q", c.path, code, h.Get("Allow"), c.allow)
		}
		var e struct {
			Diagnostics []JSONDiagnostic `json:"diagnostics"`
			Meta        map[string]any   `json:"meta"`
		}
		if err := json.Unmarshal(body, &e); err != nil || len(e.Diagnostics) != 1 || e.Meta == nil {
			t.Errorf("DELETE %s: not the JSON error (%v): %s", c.path, err, body)
		}
	}
	if code, _, _ := env.send(http.MethodDelete, "/no/such/path", "", ""); code != http.StatusNotFound {
		t.Errorf("DELETE /no/such/path: %d, want 404", code)
	}
	if code, _, _ := env.send(http.MethodHead, "/healthz", "", ""); code != http.StatusOK {
		t.Errorf("HEAD /healthz: %d, want 200", code)
	}
}

// Staff paths are the route table's, matched as Fiber routes them: another
// case or a trailing slash reaches the same staff route and gets no CORS
// headers either (before: /V1/STATUS, /v1/status/ and /Dashboard/History
// answered with Access-Control-Allow-Origin: *).
func TestStaffPathsMatchedAsFiberRoutesThem(t *testing.T) {
	env, _ := staffEnv(t)
	for _, p := range []string{"/V1/STATUS", "/v1/status/", "/Dashboard/History", "/DASHBOARD/history/", "/v1/Status"} {
		code, h, body := env.get(p, "Authorization", "Bearer "+testAdminToken, "Origin", "https://opac.example")
		if code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200 (the staff route): %.200s", p, code, body)
		}
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("GET %s sent %s: %q", p, k, h.Get(k))
			}
		}
	}
	code, h, _ := env.send(http.MethodOptions, "/Admin/Cache/Purge/", "", "", "Origin", "https://opac.example", "Access-Control-Request-Method", "POST")
	if code != http.StatusNoContent || h.Get("Allow") != "POST, OPTIONS" || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS on a staff path: %d Allow %q ACAO %q, want 204, POST, OPTIONS, none", code, h.Get("Allow"), h.Get("Access-Control-Allow-Origin"))
	}
	for _, p := range []string{"/V1/SEARCH?q=history", "/v1/search/?q=history", "/Healthz"} {
		if _, h, _ := env.get(p, "Origin", "https://opac.example"); h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s lost its CORS header", p)
		}
	}
}

// A method Fiber does not know gets the JSON error, 501 (RFC 9110 15.6.2),
// not Fiber's plain-text 400 "Invalid http method".
func TestUnknownMethodIsJSON501(t *testing.T) {
	env := newEnv(t, nil)
	for _, m := range []string{"FOO", "PROPFIND", "BREW"} {
		got, err := env.raw(rawGet(m, "/sru"))
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Diagnostics []JSONDiagnostic `json:"diagnostics"`
			Meta        map[string]any   `json:"meta"`
		}
		if got.status != http.StatusNotImplemented || !strings.HasPrefix(got.header.Get("Content-Type"), "application/json") ||
			json.Unmarshal(got.body, &e) != nil || len(e.Diagnostics) != 1 || e.Meta == nil {
			t.Errorf("%s /sru: %d %q %s, want 501 JSON error", m, got.status, got.header.Get("Content-Type"), got.body)
		}
	}
}

// One Retry-After rule: whole seconds rounded up, at least 1 (before: the
// error writer rounded to nearest, the writes truncated, the sign-in bound
// added 0.999).
func TestRetryAfterRule(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{
		{time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2},
		{1400 * time.Millisecond, 2}, {1900 * time.Millisecond, 2}, {60 * time.Second, 60},
	} {
		if got := retryAfterSeconds(c.d); got != c.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// openapi.json describes exactly the table's documented routes.
func TestOpenAPIPathsAreTheRouteTable(t *testing.T) {
	doc := loadOpenAPI(t)
	env := newEnv(t, nil)
	documented := map[string]bool{}
	for _, r := range env.gw.routeTable() {
		if !r.doc {
			continue
		}
		p := r.path
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		p = strings.Join(segs, "/")
		documented[r.method+" "+p] = true
		item := doc.Paths.Value(p)
		if item == nil || item.GetOperation(r.method) == nil {
			t.Errorf("openapi.json lacks %s %s", r.method, p)
		}
	}
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if !documented[m+" "+p] {
				t.Errorf("openapi.json has %s %s, which the route table does not mark documented", m, p)
			}
		}
	}
}
