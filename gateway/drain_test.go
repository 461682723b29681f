package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// TestDrainAnswersEveryRequestThatArrived (issue 21 item 8): on shutdown,
// every request that reached the gateway before the signal is answered,
// on keep-alive connections too, and the last answer on each connection
// carries Connection: close; idle connections are closed at once. Before,
// fasthttp's Shutdown dropped a keep-alive connection's next request
// (16 of 16 lost in the attack run) and sent no Connection: close.
func TestDrainAnswersEveryRequestThatArrived(t *testing.T) {
	sim := almasim.New(almasim.Config{Seed: 7, Records: 1000})
	simCtx, simCancel := context.WithCancel(context.Background())
	defer simCancel()
	simS, err := sim.Start(simCtx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer simS.Close()
	cfg := Config{SRUURL: sim.SRUURL(simS.URL())}
	cfg.Cache.ExplainRefresh = -1
	cfg.Upstream.RatePerSecond = 1000
	cfg.Upstream.RateBurst = 100
	cfg.Limits.DrainTimeout = Duration(60 * time.Second)
	cfg.Limits.IdleTimeout = Duration(60 * time.Second)
	logs := &syncBuffer{}
	gw, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()

	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(90 * time.Second)) // hang guard
		t.Cleanup(func() { c.Close() })
		return c
	}
	search := func(n int) string {
		return fmt.Sprintf("GET /v1/search?q=history&limit=1&start=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", n)
	}
	// Idle keep-alive connections: one stays idle, one sends a request
	// just before the signal.
	idle, late := dial(), dial()
	for _, c := range []net.Conn{idle, late} {
		if a, err := askOn(t, c, "/healthz"); err != nil || a.status != 200 {
			t.Fatalf("warm-up: %v %d", err, a.status)
		}
	}
	// Busy keep-alive connections: a slow search in flight and a second
	// one pipelined behind it, both sent before the signal.
	sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.FaultSlow, Delay: time.Second})
	const busy = 8
	var conns []net.Conn
	for i := range busy {
		c := dial()
		if _, err := io.WriteString(c, search(2*i+1)+search(2*i+2)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	awaitAlmaCalls(t, sim, busy)
	if _, err := io.WriteString(late, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	cancel() // SIGTERM

	for i, c := range conns {
		br := bufio.NewReader(c)
		for k := range 2 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("busy connection %d, request %d sent before the signal: %v", i, k+1, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("busy connection %d, request %d: status %d", i, k+1, resp.StatusCode)
			}
			if resp.Close != (k == 1) {
				t.Errorf("busy connection %d, answer %d: Connection %q; want close on the last only", i, k+1, resp.Header.Get("Connection"))
			}
		}
		if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("busy connection %d after its last answer: %d bytes, %v; want EOF", i, n, err)
		}
	}
	// The late request is answered either after the signal, then with
	// Connection: close, or (when the gateway read it first) before it,
	// and then its connection is closed as idle: answered and ended,
	// either way.
	lateR := bufio.NewReader(late)
	if resp, err := http.ReadResponse(lateR, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("a request sent on an idle connection just before the signal: %v, %v", err, resp)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n, err := lateR.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("the late request's connection after its answer (Connection: close %v): %d bytes, %v; want EOF", resp.Close, n, err)
		}
	}
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("an idle connection at the signal: %d bytes, %v; want it closed", n, err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after shutdown: %v", err)
	}
	if strings.Contains(logs.String(), "drain timeout") {
		t.Errorf("the drain ran into its timeout: %s", logs.String())
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("a new connection was accepted after shutdown")
	}
}
