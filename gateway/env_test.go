package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// envOf is a getenv reading m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testEnv is a gateway serving on loopback in front of a simulated Alma
// network, both real HTTP servers.
type testEnv struct {
	t    *testing.T
	sim  *almasim.Simulator
	simS *almasim.Server
	gw   *Server
	base string
	logs *syncBuffer
	now  *fakeClock
	// access holds the access log's lines (on in every test, as in production).
	access *syncBuffer
}

// syncBuffer collects the gateway's log for leak checks.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a settable clock for lifetime tests.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newEnv starts a gateway on a simulated network. mutate may adjust the
// configuration (lifetimes, limits) before the gateway starts.
func newEnv(t *testing.T, mutate func(*Config)) *testEnv {
	t.Helper()
	sim := almasim.New(almasim.Config{Seed: 7, Records: 3000})
	simCtx, simCancel := context.WithCancel(context.Background())
	simS, err := sim.Start(simCtx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { simCancel(); simS.Close() })
	return newEnvOn(t, sim, simS, nil, mutate)
}

// newEnvOn is a gateway in front of a running simulator: a second replica
// of another env's gateway (sharing its clock when clock is not nil).
func newEnvOn(t *testing.T, sim *almasim.Simulator, simS *almasim.Server, clock *fakeClock, mutate func(*Config)) *testEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{
		SRUURL: sim.SRUURL(simS.URL()),
		APIURL: simS.URL(),
		APIKey: sim.NZKey(),
	}
	for _, m := range sim.Members() {
		cfg.Members = append(cfg.Members, Member{Code: m.Code, Name: m.Name, APIKey: m.APIKey, SRUURL: simS.URL() + "/view/sru/" + m.Code})
	}
	cfg.Cache.ExplainRefresh = -1 // tests count Alma calls; the explain test turns it on
	cfg.Upstream.Timeout = Duration(3 * time.Second)
	cfg.Breaker.Cooldown = Duration(200 * time.Millisecond)
	if mutate != nil {
		mutate(&cfg)
	}
	if clock == nil {
		clock = &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	}
	env := &testEnv{t: t, sim: sim, simS: simS, logs: &syncBuffer{}, access: &syncBuffer{}, now: clock}
	gw, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: env.now.Now, AccessLog: env.access})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	env.gw = gw
	env.base = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		gw.Close()
	})
	return env
}

// get fetches path from the gateway and returns status, headers and body.
func (e *testEnv) get(path string, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(req)
}

func (e *testEnv) do(req *http.Request) (int, http.Header, []byte) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("reading %s: %v", req.URL, err)
	}
	return resp.StatusCode, resp.Header, body
}

// searchJSON is the /v1/search answer as a client reads it.
type searchJSON struct {
	Query   string `json:"query"`
	Total   int    `json:"total"`
	Start   int    `json:"start"`
	Limit   int    `json:"limit"`
	Next    *int   `json:"next"`
	Records []struct {
		Position int     `json:"position"`
		MMSID    string  `json:"mms_id"`
		CZMMSID  *string `json:"cz_mms_id"`
		Title    string  `json:"title"`
		Holdings []struct {
			Institution string   `json:"institution"`
			IZMMSID     *string  `json:"iz_mms_id"`
			Types       []string `json:"types"`
		} `json:"holdings"`
	} `json:"records"`
	Diagnostics []JSONDiagnostic `json:"diagnostics"`
	Meta        struct {
		Cache string `json:"cache"`
		Stale bool   `json:"stale"`
		AsOf  string `json:"as_of"`
	} `json:"meta"`
}

func (e *testEnv) search(params url.Values) (int, http.Header, searchJSON) {
	e.t.Helper()
	code, h, body := e.get("/v1/search?" + params.Encode())
	var out searchJSON
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatalf("/v1/search?%s: body is not JSON: %v\n%s", params.Encode(), err, body)
	}
	return code, h, out
}
