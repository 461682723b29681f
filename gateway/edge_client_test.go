package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// Issue 21 item 4: one client must not take every connection. Loopback
// addresses other than 127.0.0.1 stand for other clients; the tests turn
// limits.limit_loopback on so that loopback is capped like any address.

// dialFrom opens a connection to addr from the local address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard
	t.Cleanup(func() { c.Close() })
	return c
}

// askOn sends one keep-alive GET on c and reads its answer.
func askOn(t *testing.T, c net.Conn, path string) (rawAnswer, error) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return rawAnswer{}, err
	}
	return readOneAnswer(c)
}

// TestConnectionCapPerClient: a client trying to open as many connections
// as the total cap gets limits.max_connections_per_client of them and 503
// for the rest, so other clients are still served; a slot given back is
// usable again; a trusted proxy is not capped per client. Before, the
// first client took all 16 and everyone else got 503.
func TestConnectionCapPerClient(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Limits.MaxConnections = 16
		c.Limits.MaxConnectionsPerClient = 4
		c.Limits.LimitLoopback = true
		c.Limits.TrustedProxies = []string{"127.0.0.9"}
	})
	addr := strings.TrimPrefix(env.base, "http://")
	var held []net.Conn
	refusedN := 0
	for i := range 16 {
		c := dialFrom(t, "127.0.0.2", addr)
		a, err := askOn(t, c, "/healthz")
		switch {
		case err == nil && a.status == 200:
			held = append(held, c)
		case err == nil && a.status == 503:
			refusedN++
			if a.header.Get("Retry-After") == "" || a.header.Get("Connection") != "close" || !strings.Contains(string(a.body), "max_connections_per_client") {
				t.Errorf("refusal %d: Retry-After %q, Connection %q, body %s", i+1, a.header.Get("Retry-After"), a.header.Get("Connection"), a.body)
			}
			if !strings.Contains(string(a.body), `"meta":{`) {
				t.Errorf("the refusal is not the one error body: %s", a.body)
			}
		default:
			t.Fatalf("connection %d of the first client: %v %d", i+1, err, a.status)
		}
	}
	if len(held) != 4 || refusedN != 12 {
		t.Fatalf("one client asking for 16 connections got %d, %d refused; want 4 and 12", len(held), refusedN)
	}
	// Other clients are served.
	for _, from := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"} {
		if a, err := askOn(t, dialFrom(t, from, addr), "/healthz"); err != nil || a.status != 200 {
			t.Errorf("another client (%s) while the first holds its cap: %v %d", from, err, a.status)
		}
	}
	// A trusted proxy carries many clients: not capped per client (the
	// total cap, 16, still holds it).
	for i := range 6 {
		c := dialFrom(t, "127.0.0.9", addr)
		if a, err := askOn(t, c, "/healthz"); err != nil || a.status != 200 {
			t.Errorf("connection %d of the trusted proxy: %v %d", i+1, err, a.status)
		}
		c.Close()
	}
	metrics, _ := askOn(t, dialFrom(t, "127.0.0.7", addr), "/metrics")
	if want := `gateway_edge_refused_total{reason="client_connection_cap"} 12`; !strings.Contains(string(metrics.body), want) {
		t.Errorf("/metrics lacks %q", want)
	}
	// A slot given back is the client's again once the gateway saw the close.
	held[0].Close()
	for i := 0; ; i++ {
		if a, err := askOn(t, dialFrom(t, "127.0.0.2", addr), "/healthz"); err == nil && a.status == 200 {
			break
		}
		if i == 200 {
			t.Fatal("the slot of a closed connection was never given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHeaderTimeout: limits.header_timeout bounds the arrival of a request
// head. A head that trickles is answered 408 and the connection closed
// while the client is still trickling; a connection that sends nothing is
// closed; a keep-alive connection idle between requests is governed by the
// idle timeout, not the head's, and a head that arrives whole is served.
// Before, fasthttp's 30 s read timeout was the only bound, so the trickle
// below (about 10 s) was never cut.
func TestHeaderTimeout(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Limits.HeaderTimeout = Duration(300 * time.Millisecond)
		c.Limits.IdleTimeout = Duration(20 * time.Second)
	})
	addr := strings.TrimPrefix(env.base, "http://")

	// trickle sends a head a line at a time and reports the answer the
	// gateway gave before the trickle ended, if any.
	trickle := func(c net.Conn) (rawAnswer, bool) {
		t.Helper()
		got := make(chan rawAnswer, 1)
		go func() {
			a, err := readOneAnswer(c)
			if err == nil {
				got <- a
			}
			close(got)
		}()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
			t.Fatal(err)
		}
		for range 500 {
			select {
			case a, ok := <-got:
				return a, ok
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
				a, ok := <-got
				return a, ok
			}
		}
		return rawAnswer{}, false
	}
	c := dialFrom(t, "127.0.0.1", addr)
	a, ok := trickle(c)
	if !ok || a.status != 408 || a.header.Get("Connection") != "close" || !strings.Contains(string(a.body), "limits.header_timeout") {
		t.Fatalf("a trickling first head: answered %v, status %d, Connection %q, body %s", ok, a.status, a.header.Get("Connection"), a.body)
	}

	// The same on a keep-alive connection's second request: the head's
	// clock starts at its first byte.
	c = dialFrom(t, "127.0.0.1", addr)
	if a, err := askOn(t, c, "/healthz"); err != nil || a.status != 200 {
		t.Fatalf("first request: %v %d", err, a.status)
	}
	time.Sleep(600 * time.Millisecond) // idle for longer than the head's timeout: allowed
	if a, err := askOn(t, c, "/healthz"); err != nil || a.status != 200 {
		t.Fatalf("a keep-alive request after an idle wait longer than the head timeout: %v %d", err, a.status)
	}
	if a, ok := trickle(c); !ok || a.status != 408 {
		t.Fatalf("a trickling second head: answered %v, status %d", ok, a.status)
	}

	// A connection that sends nothing is closed (with 408).
	c = dialFrom(t, "127.0.0.1", addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, err := io.ReadAll(c)
	if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a silent connection was still open after 10 s (header_timeout 300ms)")
	}
	if !strings.HasPrefix(string(raw), "HTTP/1.1 408") {
		t.Errorf("a silent connection: %q, want a 408", raw)
	}
	_, _, metrics := env.get("/metrics")
	if want := `gateway_edge_refused_total{reason="header_timeout"} 3`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// TestOversizedBodyRefusedOnItsHead (issue 21 item 9): a Content-Length
// over limits.max_body_bytes is answered 413 on the head, so a client
// sending Expect: 100-continue gets the 413 and not 100 Continue (before:
// "HTTP/1.1 100 Continue", then the 413 once it sent its body); a small
// body with Expect still gets 100 Continue and its answer.
func TestOversizedBodyRefusedOnItsHead(t *testing.T) {
	env := newEnv(t, nil)
	addr := strings.TrimPrefix(env.base, "http://")
	for _, expect := range []string{"Expect: 100-continue\r\n", ""} {
		c := dialFrom(t, "127.0.0.1", addr)
		if _, err := io.WriteString(c, "POST /sru HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"+expect+"Content-Length: 9999999\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(raw), "HTTP/1.1 413") || !strings.Contains(string(raw), "limits.max_body_bytes") || !strings.Contains(string(raw), `"meta":{`) {
			t.Errorf("%q and Content-Length 9999999: %q, want the 413 first", expect, raw)
		}
	}
	c := dialFrom(t, "127.0.0.1", addr)
	body := "operation=explain&version=1.2"
	if _, err := io.WriteString(c, "POST /sru HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(c, buf, len("HTTP/1.1 100 Continue\r\n\r\n"))
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 100 Continue\r\n\r\n") {
		t.Fatalf("a small body with Expect: %q, %v", buf[:n], err)
	}
	io.WriteString(c, body)
	a, err := readOneAnswer(c)
	if err != nil || a.status != 200 {
		t.Errorf("the small body's answer: %v %d", err, a.status)
	}
}

// TestRefusalLogIsBounded (issue 21 item 9): 40 malformed requests from
// one address write one log line (before: 40; the attack run saw 9,101 in
// 3 s), while every refusal is counted; the next line after the interval
// says how many were left out.
func TestRefusalLogIsBounded(t *testing.T) {
	env := newEnv(t, nil)
	addr := strings.TrimPrefix(env.base, "http://")
	for range 40 {
		rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	}
	if n := strings.Count(env.logs.String(), "refused a request the edge could not read"); n != 1 {
		t.Errorf("40 malformed requests from one address wrote %d log lines, want 1", n)
	}
	_, _, metrics := env.get("/metrics")
	if want := `gateway_edge_refused_total{reason="two_hosts"} 40`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %q", want)
	}
	var r refusalLog
	ip, other := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	t0 := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	got := []bool{}
	for i := range 5 {
		_, ok := r.allow(ip, t0.Add(time.Duration(i)*time.Second))
		got = append(got, ok)
	}
	if _, ok := r.allow(other, t0); !ok {
		t.Error("another address's first line was suppressed")
	}
	n, ok := r.allow(ip, t0.Add(refusalLogEvery))
	if got[0] != true || got[1] || got[4] || !ok || n != 4 {
		t.Errorf("lines allowed %v, then %v with %d suppressed; want the first, then the one after the interval saying 4", got, ok, n)
	}
}

// TestUnknownRecordIsNegativelyCached (issue 21 item 9): an MMS ID Alma
// does not have is remembered for cache.diagnostic_ttl, so asking for it
// again (by /v1/records or as a DAIA ID) costs no Alma call. Before, every
// request for an unknown record was a search at Alma.
func TestUnknownRecordIsNegativelyCached(t *testing.T) {
	env := newEnv(t, nil)
	before := env.sim.Count(almasim.EndpointSRU)
	for i := range 3 {
		status, _, body := env.get("/v1/records/9900000000000000001")
		if status != 404 || !strings.Contains(string(body), "no record with MMS ID") {
			t.Fatalf("request %d for an unknown record: %d %s", i+1, status, body)
		}
	}
	if n := env.sim.Count(almasim.EndpointSRU) - before; n != 1 {
		t.Errorf("three requests for one unknown record made %d Alma searches, want 1", n)
	}
}
