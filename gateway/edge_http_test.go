package gateway

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/config"
)

// TestEdgeCORSOnEveryAnswer: every answer carries the same CORS headers,
// with or without Origin, so a shared cache in front serves browsers a
// copy they may read whichever request filled it.
func TestEdgeCORSOnEveryAnswer(t *testing.T) {
	env := newEnv(t, nil)
	for _, path := range []string{
		"/v1/search?q=history",
		sruSR + "&query=alma.all_for_ui%3Dhistory",
		"/sru?version=1.2&operation=explain",
		"/v1/records/99",
		"/healthz",
		"/nope",
	} {
		for _, origin := range []string{"", "https://opac.example.org"} {
			var hdr []string
			if origin != "" {
				hdr = []string{"Origin", origin}
			}
			_, h, _ := env.get(path, hdr...)
			got := []string{h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Expose-Headers")}
			if diff := cmp.Diff(got, []string{"*", corsExpose}); diff != "" {
				t.Errorf("%s with Origin %q: CORS headers (-got +want):\n%s", path, origin, diff)
			}
		}
	}
}

var explainHost = regexp.MustCompile(`<(?:\w+:)?host>([^<]*)</(?:\w+:)?host>\s*<(?:\w+:)?port>([^<]*)</`)

// TestExplainHostAndCaching: explain names GATEWAY_PUBLIC_URL when it is
// set, whatever Host says, and is then public; without it, explain names
// the request's host and is private with Vary: Host. It is built per
// request, so X-Cache says MISS.
func TestExplainHostAndCaching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		public    string
		host      string
		wantHost  []string // host, port
		wantCache []string // Cache-Control, Vary, X-Cache
	}{
		{"no public URL", "", "evil.example", []string{"evil.example", "80"}, []string{"private, max-age=300", "Host", "MISS"}},
		{"public URL", "https://search.example.org/", "evil.example", []string{"search.example.org", "443"}, []string{"public, max-age=300", "", "MISS"}},
		{"public URL with a port", "http://10.0.0.7:8081", "evil.example", []string{"10.0.0.7", "8081"}, []string{"public, max-age=300", "", "MISS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, func(c *Config) { c.PublicURL = tc.public })
			// One explain for every SRU path (issue 19 item 4): before,
			// /sru/{db} and /view/sru/{db} named the client's Host whatever
			// GATEWAY_PUBLIC_URL said, and were cached public as a HIT.
			paths := []string{"/sru", "/sru/nz", "/view/sru/nz"}
			if nc := env.gw.reg.Network(); nc != "" {
				paths = append(paths, "/view/sru/"+nc)
			}
			for _, path := range paths {
				// Go's client would not send a Host of our choosing.
				answers, _ := rawExchange(t, strings.TrimPrefix(env.base, "http://"),
					"GET "+path+"?version=1.2&operation=explain HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
				if len(answers) != 1 {
					t.Fatalf("%s: %d answers", path, len(answers))
				}
				h, body := answers[0].header, answers[0].body
				m := explainHost.FindStringSubmatch(string(body))
				if m == nil {
					t.Fatalf("%s: no host and port in explain: %.400s", path, body)
				}
				if diff := cmp.Diff(m[1:], tc.wantHost); diff != "" {
					t.Errorf("%s: explain host, port (-got +want):\n%s", path, diff)
				}
				got := []string{h.Get("Cache-Control"), h.Get("Vary"), h.Get("X-Cache")}
				if diff := cmp.Diff(got, tc.wantCache); diff != "" {
					t.Errorf("%s: Cache-Control, Vary, X-Cache (-got +want):\n%s", path, diff)
				}
				if !strings.Contains(string(body), "<database>"+strings.TrimPrefix(path, "/")+"</database>") {
					t.Errorf("%s: explain does not name its own path: %.600s", path, body)
				}
			}
		})
	}
	// An absolute-form target names the host; its Host header is ignored
	// (RFC 9112 3.2.2).
	env := newEnv(t, nil)
	answers, _ := rawExchange(t, strings.TrimPrefix(env.base, "http://"),
		"GET http://good.example:8090/sru?version=1.2&operation=explain HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	if len(answers) != 1 {
		t.Fatalf("%d answers", len(answers))
	}
	m := explainHost.FindStringSubmatch(string(answers[0].body))
	if m == nil || m[1] != "good.example" || m[2] != "8090" {
		t.Errorf("explain for an absolute-form target names %q, want good.example:8090", m)
	}
}

// TestEdgeConfig: the edge's variables and keys, their defaults, and the
// one-line errors for bad values.
func TestEdgeConfig(t *testing.T) {
	const sruURL = "https://alma.example.org/view/sru/41SLSP_NETWORK"
	cfg, err := config.Load("", envOf(map[string]string{"ALMA_SRU_URL": sruURL}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg.Limits.EdgeLimits, EdgeLimits{MaxConnections: 4096, IdleTimeout: Duration(30 * time.Second), ReadBufferBytes: 16 << 10, WriteBufferBytes: 32 << 10, MaxConnectionsPerClient: 64, HeaderTimeout: Duration(10 * time.Second)}); diff != "" {
		t.Errorf("defaults (-got +want):\n%s", diff)
	}
	file := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(file, []byte("limits:\n  max_connections: 100\n  idle_timeout: 45s\n  read_buffer_bytes: 32768\n  write_buffer_bytes: 65536\n  max_connections_per_client: 8\n  header_timeout: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Load(file, envOf(map[string]string{"ALMA_SRU_URL": sruURL, "GATEWAY_IDLE_TIMEOUT": "10s", "GATEWAY_PUBLIC_URL": "https://search.example.org"}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg.Limits.EdgeLimits, EdgeLimits{MaxConnections: 100, IdleTimeout: Duration(10 * time.Second), ReadBufferBytes: 32 << 10, WriteBufferBytes: 64 << 10, MaxConnectionsPerClient: 8, HeaderTimeout: Duration(5 * time.Second)}); diff != "" {
		t.Errorf("file and environment (-got +want):\n%s", diff)
	}
	if cfg.PublicURL != "https://search.example.org" {
		t.Errorf("PublicURL = %q", cfg.PublicURL)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GATEWAY_PUBLIC_URL": "search.example.org"}, "GATEWAY_PUBLIC_URL"},
		{map[string]string{"GATEWAY_PUBLIC_URL": "ftp://search.example.org"}, "GATEWAY_PUBLIC_URL"},
		{map[string]string{"GATEWAY_PUBLIC_URL": "https://user:pw@search.example.org"}, "GATEWAY_PUBLIC_URL"},
		{map[string]string{"GATEWAY_PUBLIC_URL": "https://search.example.org/?a=b"}, "GATEWAY_PUBLIC_URL"},
		{map[string]string{"GATEWAY_PUBLIC_URL": "https://search.example.org:99999"}, "GATEWAY_PUBLIC_URL"},
		{map[string]string{"GATEWAY_MAX_CONNECTIONS": "many"}, "GATEWAY_MAX_CONNECTIONS"},
		{map[string]string{"GATEWAY_IDLE_TIMEOUT": "0s"}, "GATEWAY_IDLE_TIMEOUT"},
	} {
		tc.env["ALMA_SRU_URL"] = sruURL
		_, err := config.Load("", envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line naming %s", tc.env, err, tc.want)
		}
	}
	if err := os.WriteFile(file, []byte("limits:\n  read_buffer_bytes: 4096\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(file, envOf(map[string]string{"ALMA_SRU_URL": sruURL})); err == nil || !strings.Contains(err.Error(), "limits.read_buffer_bytes") {
		t.Errorf("a read buffer smaller than the URL limit: error %v", err)
	}
	for _, n := range []string{"1024", "2097152"} {
		if err := os.WriteFile(file, []byte("limits:\n  write_buffer_bytes: "+n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(file, envOf(map[string]string{"ALMA_SRU_URL": sruURL})); err == nil || !strings.Contains(err.Error(), "limits.write_buffer_bytes") {
			t.Errorf("write_buffer_bytes %s: error %v, want one naming limits.write_buffer_bytes", n, err)
		}
	}
}

// TestConnectionCap: with the cap reached, a new connection is answered
// 503 with Retry-After and closed; connections already open keep being
// served; the count is in /metrics and /v1/status, and a slot freed is
// usable again.
func TestConnectionCap(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Limits.MaxConnections = 3 })
	addr := strings.TrimPrefix(env.base, "http://")
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // hang guard
		t.Cleanup(func() { c.Close() })
		return c
	}
	// ask sends one keep-alive request on c and reads its answer.
	ask := func(c net.Conn, path string) rawAnswer {
		t.Helper()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		a, err := readOneAnswer(c)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return a
	}
	idle1, idle2, client := dial(), dial(), dial()
	if a := ask(idle1, "/healthz"); a.status != 200 {
		t.Fatalf("first connection: %d", a.status)
	}
	ask(idle2, "/healthz")
	// A connection over the cap.
	over := dial()
	_, _ = io.WriteString(over, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	raw, _ := io.ReadAll(over)
	answers, err := parseRawAnswers(raw)
	if err != nil || len(answers) != 1 {
		t.Fatalf("over the cap: %v, %q", err, raw)
	}
	got := []string{itoa(answers[0].status), answers[0].header.Get("Retry-After"), answers[0].header.Get("Connection"), answers[0].header.Get("Content-Type")}
	if diff := cmp.Diff(got, []string{"503", "1", "close", "application/json"}); diff != "" {
		t.Errorf("over the cap: status, Retry-After, Connection, Content-Type (-got +want):\n%s", diff)
	}
	// The connections inside the cap are still served.
	metrics := ask(client, "/metrics")
	for _, want := range []string{"gateway_open_connections 3", `gateway_edge_refused_total{reason="connection_cap"} 1`} {
		if !strings.Contains(string(metrics.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	st := ask(client, "/v1/status")
	var status struct {
		Connections struct{ Open, Max int } `json:"connections"`
	}
	if err := json.Unmarshal(st.body, &status); err != nil {
		t.Fatal(err)
	}
	if status.Connections.Open != 3 || status.Connections.Max != 3 {
		t.Errorf("/v1/status connections = %+v, want 3 open of 3", status.Connections)
	}
	// A freed slot is usable again once the gateway has seen the close.
	idle1.Close()
	for i := 0; ; i++ {
		c := dial()
		if a := ask(c, "/healthz"); a.status == 200 {
			break
		}
		if i == 200 {
			t.Fatal("the slot of a closed connection was never freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readOneAnswer reads one Content-Length framed answer from c.
func readOneAnswer(c net.Conn) (rawAnswer, error) {
	var buf []byte
	tmp := make([]byte, 64<<10)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := strings.Index(string(buf), "\r\n\r\n"); i >= 0 {
			if as, perr := parseRawAnswers(buf); perr == nil && len(as) == 1 {
				return as[0], nil
			}
		}
		if err != nil {
			return rawAnswer{}, err
		}
	}
}
