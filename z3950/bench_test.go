package z3950

import (
	"context"
	"net"
	"runtime"
	"testing"
)

// cachedBackend answers like the gateway on a cache hit: records already
// encoded, kept per syntax.
type cachedBackend struct {
	*fakeBackend
	enc map[string][]Record
}

func (c *cachedBackend) Search(ctx context.Context, q Search) (*Result, error) {
	recs := c.enc[q.Syntax+"|"+q.ElementSet]
	if recs == nil {
		for _, r := range c.records {
			recs = append(recs, EncodeRecord(r, q.Syntax, q.ElementSet))
		}
		c.enc[q.Syntax+"|"+q.ElementSet] = recs
	}
	end := min(q.Start-1+q.Count, len(recs))
	return &Result{Total: len(recs), Records: recs[q.Start-1 : end]}, nil
}

// BenchmarkSearchPresent is the exchange of bench/z3950.sh over loopback
// against a backend that answers from memory: search, present 1+10 MARC21.
func BenchmarkSearchPresent(b *testing.B) {
	be := &cachedBackend{fakeBackend: newFake(b), enc: map[string][]Record{}}
	_, addr := startServer(b, be, Config{})
	c, err := Dial(context.Background(), addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SearchTerm("Default", "default", 4, "science"); err != nil {
			b.Fatal(err)
		}
		if recs, err := c.Present("default", 1, 10, OIDUSMARC); err != nil || len(recs) != 10 {
			b.Fatal(len(recs), err)
		}
	}
}

// BenchmarkIdleSessions measures the memory of 200 idle sessions (each
// sent an Init and waits) in the server's process: heap and goroutine
// stacks after a GC, per session, reported as B/session.
func BenchmarkIdleSessions(b *testing.B) {
	be := newFake(b)
	for b.Loop() {
		_, addr := startServer(b, be, Config{MaxSessions: 300, MaxPerClient: 300})
		settle := func() (uint64, uint64) {
			var m runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&m)
			return m.HeapInuse, m.StackInuse
		}
		// The 200 client connections live in this process too: they are
		// raw sockets with no goroutine, a few hundred bytes each, so the
		// figure slightly overstates a session.
		h0, s0 := settle()
		conns := make([]net.Conn, 200)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.Write(fixture(b, "01-init.ber"))
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil {
				b.Fatal(err)
			}
			conns[i] = c
		}
		h1, s1 := settle()
		for _, c := range conns {
			c.Close()
		}
		b.ReportMetric(float64(h1-h0)/200, "heap-B/session")
		b.ReportMetric(float64(s1-s0)/200, "stack-B/session")
	}
}
