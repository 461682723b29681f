package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// chunkConn is a net.Conn whose reads return data in pieces of the given
// sizes (cycled), then io.EOF.
type chunkConn struct {
	net.Conn
	data  []byte
	sizes []int
	i     int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), max(1, c.sizes[c.i%len(c.sizes)]))
	c.i++
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// drainEdge reads everything an edgeConn gives out over data, read in
// pieces of sizes, with a reader buffer of bufSize.
func drainEdge(data []byte, sizes []int, bufSize int) ([]byte, *edgeError) {
	stats := &edgeStats{refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"reason"})}
	c := &edgeConn{Conn: &chunkConn{data: data, sizes: sizes}, ln: &edgeListener{edge: stats, maxHead: 1 << 10}}
	var out []byte
	p := make([]byte, bufSize)
	for range 1 << 20 {
		n, err := c.Read(p)
		out = append(out, p[:n]...)
		var ee *edgeError
		if errors.As(err, &ee) {
			return out, ee
		}
		if err != nil {
			return out, nil
		}
	}
	panic("edgeConn.Read never ended")
}

// FuzzEdgeFraming: whatever the bytes and however the network splits
// them, the guard never panics or hangs, gives out a prefix of what was
// sent unchanged, and reaches the same verdict at the same place (the
// framing does not depend on read boundaries).
func FuzzEdgeFraming(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /sru HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /sru HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /sru HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\r\nGET http://a:1/x HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(s), uint8(7), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		whole, wholeErr := drainEdge(data, []int{len(data) + 1}, 64<<10)
		split, splitErr := drainEdge(data, []int{int(a), int(b), 1}, 1+int(a)%200)
		for _, got := range [][]byte{whole, split} {
			if !bytes.HasPrefix(data, got) {
				t.Fatalf("gave out %q, not a prefix of %q", got, data)
			}
		}
		if (wholeErr == nil) != (splitErr == nil) || wholeErr != nil && (wholeErr != splitErr || len(whole) != len(split)) {
			t.Fatalf("verdict depends on read sizes: whole %v after %d bytes, split %v after %d bytes", wholeErr, len(whole), splitErr, len(split))
		}
	})
}
