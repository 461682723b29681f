package gateway

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// rawResult is what a raw request got back.
type rawResult struct {
	status int
	header http.Header
	body   []byte
}

// raw sends bytes to the gateway over a fresh TCP connection, as a client
// that does not play by net/http's rules would, and reads one answer. The
// read deadline only keeps a broken gateway from hanging the test; it is
// not an assertion on time.
func (e *testEnv) raw(req string) (rawResult, error) {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		return rawResult{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return rawResult{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawResult{status: resp.StatusCode, header: resp.Header, body: body}, err
}

// rawGet is a GET of target (sent as is, not escaped) with extra header
// lines.
func rawGet(method, target string, extra ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func rawPost(target, ctype, body string, extra ...string) string {
	return strings.TrimSuffix(rawGet(http.MethodPost, target, append(extra, "Content-Type: "+ctype, "Content-Length: "+itoa(len(body)))...), "") + body
}

const sruSR = "/sru?version=1.2&operation=searchRetrieve"

// TestHostileInputs: each hostile request gets a clear 4xx, or for /sru an
// HTTP 200 SRU diagnostic, never a 5xx, and none reaches Alma.
func TestHostileInputs(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.AdminToken = "s3cret-admin-token" })
	long := strings.Repeat("a", 5000)
	huge := strings.Repeat("b", 20000)
	// want: an exact status, or 4 for any 4xx. diag: for /sru, the
	// diagnostic number expected (0: any).
	tests := []struct {
		name string
		req  string
		want int
		diag string
	}{
		// Broken and enormous CQL.
		{"unclosed quote", rawGet("GET", sruSR+"&query="+url.QueryEscape(`alma.title="unclosed`)), 200, "14"},
		{"unbalanced parentheses", rawGet("GET", sruSR+"&query="+url.QueryEscape(`((alma.title=x`)), 200, "10"},
		{"dangling boolean", rawGet("GET", sruSR+"&query="+url.QueryEscape(`alma.title=x and`)), 200, "10"},
		{"unknown index", rawGet("GET", sruSR+"&query="+url.QueryEscape(`alma.nosuchindex=x`)), 200, "16"},
		{"unknown context set", rawGet("GET", sruSR+"&query="+url.QueryEscape(`evil.title=x`)), 200, "16"},
		{"bad relation", rawGet("GET", sruSR+"&query="+url.QueryEscape(`alma.title within "1 2"`)), 200, "19"},
		{"long query", rawGet("GET", sruSR+"&query=alma.title%3D"+long), 200, "6"},
		{"deep unbalanced nesting", rawGet("GET", sruSR+"&query="+url.QueryEscape(strings.Repeat("(", 400)+"x"+strings.Repeat(")", 399))), 200, "10"},
		{"empty query", rawGet("GET", sruSR+"&query="), 200, "7"},
		{"json long query", rawGet("GET", "/v1/search?query=alma.title%3D"+long), 400, ""},
		{"json broken CQL", rawGet("GET", "/v1/search?query="+url.QueryEscape(`alma.title="x`)), 400, ""},
		// Numbers.
		{"negative startRecord", rawGet("GET", sruSR+"&query=x&startRecord=-1"), 200, "6"},
		{"zero startRecord", rawGet("GET", sruSR+"&query=x&startRecord=0"), 200, "6"},
		{"huge startRecord", rawGet("GET", sruSR+"&query=x&startRecord=99999999999999999999999"), 200, ""},
		{"startRecord past Alma", rawGet("GET", sruSR+"&query=x&startRecord=10001"), 200, "61"},
		{"non-numeric maximumRecords", rawGet("GET", sruSR+"&query=x&maximumRecords=ten"), 200, "6"},
		{"negative maximumRecords", rawGet("GET", sruSR+"&query=x&maximumRecords=-5"), 200, "6"},
		{"float maximumRecords", rawGet("GET", sruSR+"&query=x&maximumRecords=1e3"), 200, "6"},
		{"json negative start", rawGet("GET", "/v1/search?q=x&start=-1"), 400, ""},
		{"json huge start", rawGet("GET", "/v1/search?q=x&start=99999999999999999999"), 400, ""},
		{"json huge limit", rawGet("GET", "/v1/search?q=x&limit=1000000"), 400, ""},
		{"json non-numeric limit", rawGet("GET", "/v1/search?q=x&limit=0x10"), 400, ""},
		// Unknown parameters, formats, schemas, versions, operations.
		{"unknown SRU parameter", rawGet("GET", sruSR+"&query=x&foo=bar"), 200, "8"},
		{"apikey as a parameter", rawGet("GET", sruSR+"&query=x&apikey=EVIL"), 200, "8"},
		{"repeated query", rawGet("GET", sruSR+"&query=x&query=y"), 200, "6"},
		{"unknown schema", rawGet("GET", sruSR+"&query=x&recordSchema=pdf"), 200, "66"},
		{"unknown schema URI", rawGet("GET", sruSR+"&query=x&recordSchema=info:srw/schema/1/evil"), 200, "66"},
		{"unknown packing", rawGet("GET", sruSR+"&query=x&recordPacking=json"), 200, "71"},
		{"unknown version", rawGet("GET", "/sru?version=9.9&operation=searchRetrieve&query=x"), 200, "5"},
		{"unknown operation", rawGet("GET", "/sru?version=1.2&operation=delete&query=x"), 200, "4"},
		{"json unknown parameter", rawGet("GET", "/v1/search?q=x&apikey=EVIL"), 400, ""},
		{"json unknown format", rawGet("GET", "/v1/search?q=x&format=../../etc/passwd"), 400, ""},
		{"json no query", rawGet("GET", "/v1/search"), 400, ""},
		{"json blank q", rawGet("GET", "/v1/search?q=%20%20"), 400, ""},
		{"json q and query", rawGet("GET", "/v1/search?q=x&query=alma.title%3Dx"), 400, ""},
		{"record format unknown", rawGet("GET", "/v1/records/9912345678900101?format=pdf"), 400, ""},
		// Smuggling: CR/LF and NUL, invalid UTF-8.
		{"CRLF in unknown index", rawGet("GET", sruSR+"&query="+url.QueryEscape("alma.title\r\nHost: evil=x")), 200, ""},
		// fasthttp alone read this as an HTTP/1.0 request line and a
		// header; the edge refuses a request line without its version
		// (RFC 9112 3, edge.go).
		{"raw CRLF in request line", "GET /sru?version=1.2&query=((\r\nX-Evil: 1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400, ""},
		{"NUL in query", rawGet("GET", sruSR+"&query=alma.title%3Dx%00y"), 200, ""},
		{"NUL in q", rawGet("GET", "/v1/search?q=a%00b"), 400, ""},
		{"invalid UTF-8 in query", rawGet("GET", sruSR+"&query=alma.title%3D%FF%FE"), 200, ""},
		{"invalid UTF-8 in q", rawGet("GET", "/v1/search?q=%C3%28"), 400, ""},
		// Path parameters and traversal.
		{"MMS ID with letters", rawGet("GET", "/v1/records/12ab"), 400, ""},
		{"MMS ID too long", rawGet("GET", "/v1/records/"+strings.Repeat("9", 40)), 400, ""},
		{"MMS ID encoded traversal", rawGet("GET", "/v1/records/..%2F..%2Fetc%2Fpasswd"), 4, ""},
		{"MMS ID raw traversal", rawGet("GET", "/v1/records/../../almaws/v1/bibs/1"), 4, ""},
		{"MMS ID with NUL", rawGet("GET", "/v1/records/123%00456"), 400, ""},
		{"MMS ID with query smuggling", rawGet("GET", "/v1/records/123%3Fapikey%3Dx"), 400, ""},
		{"availability without institution", rawGet("GET", "/v1/availability/9912345678900101"), 400, ""},
		{"availability unknown institution", rawGet("GET", "/v1/availability/9912345678900101?institution=..%2F..%2Fx"), 400, ""},
		{"traversal to nowhere", rawGet("GET", "/../../etc/passwd"), 4, ""},
		// Methods.
		{"DELETE /sru", rawGet("DELETE", "/sru"), 405, ""},
		{"PUT /v1/search", rawGet("PUT", "/v1/search?q=x"), 405, ""},
		{"POST /v1/records", rawPost("/v1/records/9912345678900101", "text/plain", "x"), 405, ""},
		{"GET purge", rawGet("GET", "/admin/cache/purge"), 405, ""},
		{"TRACE", rawGet("TRACE", "/sru"), 405, ""},
		{"garbage method", rawGet("G\x01T", "/sru"), 4, ""},
		// Staff routes with a token configured.
		{"purge without token", rawPost("/admin/cache/purge", "text/plain", ""), 401, ""},
		{"purge wrong token", rawPost("/admin/cache/purge", "text/plain", "", "Authorization: Bearer s3cret-admin-tokeN"), 401, ""},
		{"status token prefix", rawGet("GET", "/v1/status?token=s3cret"), 401, ""},
		// Sizes and headers.
		{"enormous URL", rawGet("GET", sruSR+"&query="+huge), 4, ""},
		{"huge header", rawGet("GET", "/v1/search?q=x", "X-Big: "+huge), 4, ""},
		{"many headers", rawGet("GET", "/v1/search?q=x", strings.Repeat("X-A: 1\r\n", 3000)+"X-B: 2"), 4, ""},
		{"huge POST body", rawPost("/sru", "application/x-www-form-urlencoded", "query="+strings.Repeat("c", 200<<10)), 413, ""},
		{"POST form with bad CQL", rawPost("/sru", "application/x-www-form-urlencoded", "version=1.2&operation=searchRetrieve&query=%28%28"), 200, "10"},
		{"lying Content-Length", "POST /sru HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: -5\r\n\r\n", 4, ""},
		{"absolute-form target", rawGet("GET", "http://alma.example/v1/records/12ab"), 400, ""},
		{"header injection in request id", rawGet("GET", "/v1/search?q=x&limit=-1", "X-Request-Id: a\rSet-Cookie: x=1"), 4, ""},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d hostile inputs", len(tests))
	}
	env.sim.ResetCounters()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.raw(tt.req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if got.status >= 500 {
				t.Fatalf("status %d, a 5xx: %.300s", got.status, got.body)
			}
			switch {
			case tt.want == 4:
				if got.status < 400 || got.status > 499 {
					t.Errorf("status %d, want a 4xx: %.300s", got.status, got.body)
				}
			case got.status != tt.want:
				t.Errorf("status %d, want %d: %.300s", got.status, tt.want, got.body)
			}
			ctype := got.header.Get("Content-Type")
			switch {
			case got.status == http.StatusOK && (strings.HasPrefix(tt.req, "GET /sru") || strings.HasPrefix(tt.req, "POST /sru")):
				if err := xml.Unmarshal(got.body, new(any)); err != nil {
					t.Errorf("SRU answer is not well-formed XML: %v\n%.300s", err, got.body)
				}
				want := "info:srw/diagnostic/1/" + tt.diag
				if tt.diag != "" {
					want += "<"
				}
				if !strings.Contains(string(got.body), want) {
					t.Errorf("SRU answer lacks diagnostic %q:\n%.500s", want, got.body)
				}
			case strings.HasPrefix(ctype, "application/json"):
				var v struct {
					Diagnostics []JSONDiagnostic `json:"diagnostics"`
				}
				if err := json.Unmarshal(got.body, &v); err != nil || len(v.Diagnostics) == 0 || v.Diagnostics[0].Details == "" {
					t.Errorf("JSON error without a diagnostic that says why (%v): %.300s", err, got.body)
				}
			}
			for _, leak := range []string{"s3cret-admin-token", env.gw.cfg.APIKey} {
				if strings.Contains(string(got.body), leak) {
					t.Errorf("the answer carries a secret")
				}
			}
		})
	}
	if n := env.sim.Count(almasim.EndpointAll); n != 0 {
		for _, r := range env.sim.Requests() {
			t.Logf("reached Alma: %s %v", r.Path, r.Query)
		}
		t.Errorf("hostile requests made %d Alma calls, want 0", n)
	}
}

// TestSmugglingStaysInsideParameters: text that looks like URL syntax,
// headers or a key travels to Alma only as the value of the re-encoded
// query parameter, never as a parameter or header of its own.
func TestSmugglingStaysInsideParameters(t *testing.T) {
	env := newEnv(t, nil)
	for _, q := range []string{
		`alma.title="x&apikey=EVIL"`,
		`alma.title="x&recordSchema=dc&startRecord=5"`,
		`alma.title="x%26apikey%3DEVIL"`,
		`alma.title="x#fragment"`,
		`alma.title="x?y=z"`,
		"alma.title=\"x\r\nHost: evil\r\n\r\nGET /almaws/v1/bibs/1\"",
	} {
		env.sim.ResetCounters()
		code, _, body := env.get(sruSR + "&maximumRecords=1&query=" + url.QueryEscape(q))
		if code != http.StatusOK {
			t.Errorf("%s: status %d: %s", q, code, body)
		}
		for _, r := range env.sim.Requests() {
			if r.KeyInURL {
				t.Errorf("%s: an apikey parameter reached Alma", q)
			}
			for k := range r.Query {
				switch k {
				case "version", "operation", "recordSchema", "query", "startRecord", "maximumRecords":
				default:
					t.Errorf("%s: Alma received parameter %q", q, k)
				}
			}
			if got := r.Query.Get("recordSchema"); got != "marcxml" {
				t.Errorf("%s: Alma was asked for schema %q", q, got)
			}
			if got := r.Query.Get("startRecord"); got != "1" {
				t.Errorf("%s: Alma was asked to start at %q", q, got)
			}
		}
	}
	// A hostile Host header is not reflected in explain.
	code, _, body := env.get("/sru", "Host", `evil"><script>x</script>`)
	if code != http.StatusOK || strings.Contains(string(body), "<script>") || xml.Unmarshal(body, new(any)) != nil {
		t.Errorf("explain with a hostile Host: status %d body %.300s", code, body)
	}
	// A hostile request id is replaced.
	_, h, _ := env.get("/healthz", "X-Request-Id", "abc\"<>def")
	if id := h.Get("X-Request-Id"); strings.ContainsAny(id, "\"<>") || id == "" {
		t.Errorf("X-Request-Id = %q, want a fresh sane id", id)
	}
}

// TestClientRateLimit: with loopback not exempt, a client over its rate
// gets 429 with Retry-After, before anything reaches Alma.
func TestClientRateLimit(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Limits.ClientRate = 1
		c.Limits.ClientBurst = 3
		c.Limits.LimitLoopback = true
	})
	var codes []int
	for range 6 {
		code, h, _ := env.get("/v1/search?q=x&limit=abc")
		codes = append(codes, code)
		if code == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	limited := 0
	for _, c := range codes {
		if c == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 || codes[0] == http.StatusTooManyRequests {
		t.Errorf("statuses %v: want the burst answered, then 429s", codes)
	}
	// Loopback is exempt by default.
	env2 := newEnv(t, func(c *Config) { c.Limits.ClientRate = 1; c.Limits.ClientBurst = 1 })
	for i := range 5 {
		if code, _, _ := env2.get("/healthz"); code != http.StatusOK {
			t.Errorf("loopback request %d: status %d, want 200 (loopback exempt by default)", i, code)
		}
	}
}

// TestClientLimiterBounds: buckets are per IPv4 address and per IPv6 /64;
// a flood of new addresses past the table's size shares one overflow
// bucket instead of growing the table.
func TestClientLimiterBounds(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	l := newClientLimiter(LimitsConfig{ClientRate: 1, ClientBurst: 2})
	l.now = clock.Now
	l.maxClients = 4
	tests := []struct {
		name string
		ip   string
		want bool
	}{
		{"first v4", "192.0.2.1", true},
		{"first v4 burst", "192.0.2.1", true},
		{"first v4 over", "192.0.2.1", false},
		{"other v4 has its own bucket", "192.0.2.2", true},
		{"v6", "2001:db8:1:2::1", true},
		{"v6 same /64", "2001:db8:1:2::ffff", true},
		{"v6 same /64 over", "2001:db8:1:2:abcd::9", false},
		{"v6 other /64", "2001:db8:1:3::1", true},
		// The table (4) is full: newcomers share the overflow bucket.
		{"overflow 1", "198.51.100.1", true},
		{"overflow 2", "198.51.100.2", true},
		{"overflow 3", "198.51.100.3", false},
		{"known client unaffected", "192.0.2.2", true},
		{"loopback exempt", "127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.allow(net.ParseIP(tt.ip)); got != tt.want {
				t.Errorf("allow(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	if n := len(l.clients); n != 4 {
		t.Errorf("table holds %d clients, want 4 (its bound)", n)
	}
	clock.Advance(clientIdle + time.Minute)
	if !l.allow(net.ParseIP("203.0.113.9")) {
		t.Errorf("after idle clients were forgotten a newcomer was refused")
	}
	if n := len(l.clients); n != 1 {
		t.Errorf("after the sweep the table holds %d clients, want 1", n)
	}
}
