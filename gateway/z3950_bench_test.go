package gateway

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"testing"

	"github.com/almanet/gateway/z3950"
)

// BenchmarkZ3950CachedSearchPresent is issue 23's Z39.50 figure in
// process: a cached Z39.50 search plus a present of 10 MARC21 records
// over one session, against the same 10 records as a cached SRU page over
// one keep-alive HTTP connection. Both clients are minimal (the package's
// own Z39.50 client, a raw HTTP/1.1 exchange), so the process's CPU time
// per exchange is mostly the server's.
func BenchmarkZ3950CachedSearchPresent(b *testing.B) {
	t := &testing.T{}
	env := newEnv(t, nil)
	zaddr := z3950Env(t, env)
	sru := "/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=10&recordSchema=marcxml"
	if code, _, _ := env.get(sru); code != 200 {
		b.Fatalf("warming SRU: %d", code)
	}
	b.Run("z3950", func(b *testing.B) {
		c, err := z3950.Dial(b.Context(), zaddr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cpu0 := processCPU()
		for b.Loop() {
			if _, err := c.SearchTerm("Default", "s", 4, "history"); err != nil {
				b.Fatal(err)
			}
			if recs, err := c.Present("s", 1, 10, z3950.OIDUSMARC); err != nil || len(recs) != 10 {
				b.Fatal(len(recs), err)
			}
		}
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("sru", func(b *testing.B) {
		c, err := net.Dial("tcp", env.base[len("http://"):])
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		req := []byte("GET " + sru + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		r := textproto.NewReader(bufio.NewReaderSize(c, 256<<10))
		cpu0 := processCPU()
		for b.Loop() {
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
