package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/config"
)

// accessLine is one access log line as a log reader sees it.
type accessLine struct {
	Time   string  `json:"time"`
	Level  string  `json:"level"`
	Msg    string  `json:"msg"`
	ID     string  `json:"id"`
	Client string  `json:"client"`
	Method string  `json:"method"`
	Path   string  `json:"path"`
	Status int     `json:"status"`
	Cache  string  `json:"cache"`
	Bytes  int     `json:"bytes"`
	MS     float64 `json:"ms"`
}

// accessLines decodes every line of the access log, failing the test on a
// line that is not one JSON object.
func accessLines(t *testing.T, log string) []accessLine {
	t.Helper()
	var out []accessLine
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if l == "" {
			continue
		}
		var a accessLine
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("access log line is not a JSON object of the documented fields (%v): %q", err, l)
		}
		out = append(out, a)
	}
	return out
}

// TestAccessLog: one structured line per request, with the request id the
// client saw, the client address, method, path (secrets redacted), status,
// cache state, body bytes and time; hostile bytes in the path cannot break
// the line; preflights and refusals are logged too.
func TestAccessLog(t *testing.T) {
	env := newEnv(t, nil)
	type req struct {
		name, method, path string
		hdr                []string
	}
	reqs := []req{
		{"miss", "GET", "/v1/search?q=history&limit=2", nil},
		{"hit", "GET", "/v1/search?q=history&limit=2", nil},
		{"client id", "GET", "/healthz", []string{"X-Request-Id", "desk-42.a"}},
		{"not found", "GET", "/v1/records/0000", nil},
		{"unknown parameter with a secret", "GET", "/v1/search?q=x&api_key=SECRET-1&access_token=SECRET-2&Signature=SECRET-3", nil},
		{"preflight", "OPTIONS", "/v1/search", []string{"Origin", "https://opac.example.org", "Access-Control-Request-Method", "GET"}},
		{"sru", "GET", sruSR + "&query=alma.title%3Dscience&maximumRecords=1&sortKeys=title", nil},
	}
	type seen struct {
		status int
		id     string
		cache  string
		bytes  int
	}
	var want []seen
	for _, r := range reqs {
		hr, err := http.NewRequest(r.method, env.base+r.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(r.hdr); i += 2 {
			hr.Header.Set(r.hdr[i], r.hdr[i+1])
		}
		code, h, body := env.do(hr)
		want = append(want, seen{code, h.Get("X-Request-Id"), h.Get("X-Cache"), len(body)})
	}
	// A path a client wrote byte by byte: quotes, a backslash, a control
	// character and invalid UTF-8 must come out as one valid line.
	if _, err := env.raw(rawGet("GET", "/nowhere\"\\\xff?q=\"x\"\xc3")); err != nil {
		t.Fatal(err)
	}

	lines := accessLines(t, env.access.String())
	if len(lines) != len(reqs)+1 {
		t.Fatalf("%d access lines for %d requests:\n%s", len(lines), len(reqs)+1, env.access.String())
	}
	for i, r := range reqs {
		l, w := lines[i], want[i]
		t.Run(r.name, func(t *testing.T) {
			if l.Level != "INFO" || l.Msg != "access" || l.Time == "" {
				t.Errorf("time %q level %q msg %q, want a slog-shaped INFO access line", l.Time, l.Level, l.Msg)
			}
			if l.ID == "" || l.ID != w.id {
				t.Errorf("id %q, want the X-Request-Id the client got, %q", l.ID, w.id)
			}
			if l.Client != "127.0.0.1" || l.Method != r.method || l.Status != w.status || l.Cache != w.cache || l.Bytes != w.bytes || l.MS < 0 {
				t.Errorf("line %+v, want client 127.0.0.1, %s, status %d, cache %q, %d bytes", l, r.method, w.status, w.cache, w.bytes)
			}
			if !strings.Contains(r.path, "SECRET") && l.Path != r.path {
				t.Errorf("path %q, want %q", l.Path, r.path)
			}
		})
	}
	if lines[0].Cache != "MISS" || lines[1].Cache != "HIT" {
		t.Errorf("cache %q then %q, want MISS then HIT", lines[0].Cache, lines[1].Cache)
	}
	if lines[2].ID != "desk-42.a" {
		t.Errorf("the client's own request id is logged as %q", lines[2].ID)
	}
	if got, want := lines[4].Path, "/v1/search?q=x&api_key=redacted&access_token=redacted&Signature=redacted"; got != want {
		t.Errorf("path with secrets logged as %q, want %q", got, want)
	}
	if strings.Contains(env.access.String(), "SECRET") {
		t.Errorf("a secret reached the access log:\n%s", env.access.String())
	}
	if !strings.Contains(lines[6].Path, "sortKeys=title") {
		t.Errorf("SRU's sortKeys was redacted: %q", lines[6].Path)
	}
	if raw := lines[len(lines)-1]; raw.Status != http.StatusNotFound || !utf8.ValidString(raw.Path) || !strings.HasPrefix(raw.Path, "/nowhere") || !strings.Contains(raw.Path, "q=\"x\"\ufffd") {
		t.Errorf("hostile path logged as %q (status %d)", raw.Path, raw.Status)
	}
}

// TestAccessLogCutsLongPaths: a long query is cut, so that a line stays
// one atomic write.
func TestAccessLogCutsLongPaths(t *testing.T) {
	env := newEnv(t, nil)
	env.get("/v1/search?q=" + strings.Repeat("a", 3000))
	lines := accessLines(t, env.access.String())
	if len(lines) != 1 || len(lines[0].Path) > maxLoggedPath+len("…") || !strings.HasSuffix(lines[0].Path, "…") {
		t.Fatalf("long path logged as %+v", lines)
	}
	if n := len(env.access.String()); n > 4096 {
		t.Errorf("one access line is %d bytes, more than an atomic pipe write", n)
	}
}

// TestAccessLogOff: log.access: false or GATEWAY_ACCESS_LOG=off turns it
// off; an unknown value is refused naming the variable.
func TestAccessLogOff(t *testing.T) {
	env := newEnv(t, func(c *Config) { off := false; c.Log.Access = &off })
	env.get("/v1/search?q=history")
	if s := env.access.String(); s != "" {
		t.Errorf("log.access false, yet the access log has:\n%s", s)
	}
	base := map[string]string{"ALMA_SRU_URL": "https://alma.example.org/view/sru/01NET_NETWORK"}
	for v, on := range map[string]bool{"": true, "on": true, "off": false, "OFF": false, "false": false, "1": true} {
		env := map[string]string{"GATEWAY_ACCESS_LOG": v}
		for k, x := range base {
			env[k] = x
		}
		cfg, err := config.Load("", envOf(env))
		if err != nil || cfg.Log.AccessLog() != on {
			t.Errorf("GATEWAY_ACCESS_LOG=%q: on %v, error %v; want on %v", v, cfg.Log.AccessLog(), err, on)
		}
	}
	base["GATEWAY_ACCESS_LOG"] = "sometimes"
	if _, err := config.Load("", envOf(base)); err == nil || !strings.Contains(err.Error(), "GATEWAY_ACCESS_LOG") {
		t.Errorf("GATEWAY_ACCESS_LOG=sometimes: %v, want an error naming it", err)
	}
}

// TestAccessLogTimeIsSlogs: the access log's per-second time prefix gives
// the same text as formatting each time in full, across seconds, zones and
// every millisecond digit.
func TestAccessLogTimeIsSlogs(t *testing.T) {
	a := newAccessLog(io.Discard, 0)
	zone := time.FixedZone("CET", 3600)
	base := time.Date(2026, 12, 7, 23, 59, 58, 0, zone)
	for _, d := range []time.Duration{0, time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond, 99 * time.Millisecond,
		100 * time.Millisecond, 999*time.Millisecond + 999999, time.Second, 1500 * time.Millisecond, 2*time.Second + 7*time.Millisecond, time.Millisecond} {
		tm := base.Add(d)
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if got := string(a.appendTime(nil, tm)); got != want {
			t.Errorf("%v: %q, want %q", tm, got, want)
		}
	}
}

// lockedBuffer records each Write apart, safe for the flusher's goroutine.
type lockedBuffer struct {
	mu     sync.Mutex
	writes []string
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes = append(b.writes, string(p))
	return len(p), nil
}

func (b *lockedBuffer) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.writes)
}

// TestAccessLogBatches: batched lines are written together, whole, none
// lost: by the flusher, when 32 KiB wait, and at close; after close each
// line is written at once.
func TestAccessLogBatches(t *testing.T) {
	out := &lockedBuffer{}
	a := newAccessLog(out, time.Hour)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(func(c *fiber.Ctx) error {
		now := time.Now()
		err := c.Next()
		a.write(c, c.Context().RemoteIP(), now, now)
		return err
	})
	app.Get("/x", func(c *fiber.Ctx) error { return c.SendString("ok") })
	get := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://gateway.example/x?"+strings.Repeat("q", 200), nil)
		if resp, err := app.Test(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /x: %v %v", resp, err)
		}
	}
	const n = 300
	for range n {
		get()
	}
	// An hour's batch: only the 32 KiB bound has written so far.
	early := out.all()
	for _, w := range early {
		if len(w) < maxBatch || !strings.HasSuffix(w, "\n") {
			t.Errorf("a batch written early of %d bytes, want at least %d and whole lines", len(w), maxBatch)
		}
	}
	a.close()
	lines := 0
	for _, w := range out.all() {
		if !strings.HasSuffix(w, "\n") {
			t.Errorf("a write that does not end a line: %.80q", w)
		}
		lines += strings.Count(w, "\n")
	}
	if lines != n {
		t.Errorf("%d lines written, want %d", lines, n)
	}
	before := len(out.all())
	get()
	if got := out.all(); len(got) != before+1 || strings.Count(got[len(got)-1], "\n") != 1 {
		t.Errorf("after close: %d writes, want %d, the last one line", len(got), before+1)
	}
}

// TestAccessLogNamesTheProxiedClient: behind a proxy listed in
// limits.trusted_proxies the line names the client the proxy forwarded
// for; from any other peer X-Forwarded-For changes nothing.
func TestAccessLogNamesTheProxiedClient(t *testing.T) {
	for _, tc := range []struct {
		trusted []string
		want    string
	}{{nil, "127.0.0.1"}, {[]string{"127.0.0.1"}, "203.0.113.9"}} {
		env := newEnv(t, func(c *Config) { c.Limits.TrustedProxies = tc.trusted })
		if code, _, _ := env.get("/healthz", "X-Forwarded-For", "203.0.113.9"); code != 200 {
			t.Fatalf("healthz: %d", code)
		}
		lines := accessLines(t, env.access.String())
		if len(lines) == 0 || lines[len(lines)-1].Client != tc.want {
			t.Errorf("trusted proxies %v: lines %+v, want the last with client %s", tc.trusted, lines, tc.want)
		}
	}
}

// TestAppendMillis: the log's "ms" is what strconv.AppendFloat with three
// decimals wrote, from whole microseconds; a negative duration is 0.
func TestAppendMillis(t *testing.T) {
	for _, us := range []int64{0, 1, 9, 10, 99, 100, 412, 999, 1000, 1001, 12345, 999999, 1234567890} {
		d := time.Duration(us) * time.Microsecond
		want := strconv.FormatFloat(float64(us)/1000, 'f', 3, 64)
		if got := string(appendMillis(nil, d+999*time.Nanosecond)); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	if got := string(appendMillis(nil, -time.Second)); got != "0.000" {
		t.Errorf("a negative duration: %q, want 0.000", got)
	}
}
