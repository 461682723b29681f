package gateway

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkEdgeCachedHit is a cached /v1/search hit over one keep-alive
// TCP connection, through the edge guard ("guard") and, for comparison,
// through the same app on a plain listener ("bare"). The difference is
// what the guard costs a hit.
func BenchmarkEdgeCachedHit(b *testing.B) {
	t := &testing.T{}
	env := newEnv(t, nil)
	if code, _, _ := env.get("/v1/search?q=history"); code != 200 {
		b.Fatalf("warming: %d", code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go env.gw.app.Listener(ln) // no edge guard
	bare, guard := ln.Addr().String(), strings.TrimPrefix(env.base, "http://")
	// Alternating rounds: the machine's load drifts between them.
	for _, tc := range []struct{ name, addr string }{
		{"guard", guard}, {"bare", bare}, {"guard", guard}, {"bare", bare}, {"guard", guard}, {"bare", bare},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /v1/search?q=history HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: application/json\r\n\r\n")
			r := textproto.NewReader(bufio.NewReaderSize(c, 64<<10))
			// Wall time on a loaded machine is mostly waiting to be
			// scheduled; the process's CPU time (server and client) per
			// request is the figure to compare.
			cpu0 := processCPU()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := r.ReadLine(); err != nil {
					b.Fatal(err)
				}
				h, err := r.ReadMIMEHeader()
				if err != nil {
					b.Fatal(err)
				}
				n, _ := strconv.Atoi(h.Get("Content-Length"))
				if _, err := io.CopyN(io.Discard, r.R, int64(n)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopConn serves the same bytes on every Read.
type loopConn struct {
	net.Conn
	req []byte
}

func (c *loopConn) Read(p []byte) (int, error) { return copy(p, c.req), nil }

// BenchmarkEdgeGuardRead is the guard's CPU cost on one typical request
// head read in one piece: what the guard adds to every request, hits
// included, without the network's noise.
func BenchmarkEdgeGuardRead(b *testing.B) {
	req := []byte("GET /v1/search?q=history HTTP/1.1\r\nHost: gateway.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\nAccept: application/json\r\nAccept-Language: en\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n\r\n")
	s := &Server{m: newMetrics()}
	s.registerEdgeMetrics()
	c := &edgeConn{Conn: &loopConn{req: req}, ln: &edgeListener{edge: &s.edge, maxHead: 16 << 10}}
	p := make([]byte, 16<<10)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for range b.N {
		if n, err := c.Read(p); err != nil || n != len(req) {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkFasthttpHeaderParse is the baseline for BenchmarkEdgeGuardRead:
// fasthttp parsing the same head, which every request costs anyway.
func BenchmarkFasthttpHeaderParse(b *testing.B) {
	req := "GET /v1/search?q=history HTTP/1.1\r\nHost: gateway.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\nAccept: application/json\r\nAccept-Language: en\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n\r\n"
	var h fasthttp.RequestHeader
	r := strings.NewReader(req)
	br := bufio.NewReaderSize(r, 16<<10)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for range b.N {
		r.Reset(req)
		br.Reset(r)
		if err := h.Read(br); err != nil {
			b.Fatal(err)
		}
	}
}
