package z3950

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

func parseRPN(t *testing.T, cql string, m map[string]string) *RPNNode {
	t.Helper()
	q, d := sru.ParseQuery(cql, nil)
	if d != nil {
		t.Fatalf("%s: %v", cql, d)
	}
	ia, err := ParseIndexMap(m)
	if err != nil {
		t.Fatal(err)
	}
	n, d := CQLToRPN(q.CQL, ia)
	if d != nil {
		t.Fatalf("%s: %v", cql, d)
	}
	return n
}

// TestOriginAgainstServer searches the package's own server through the
// origin: the query arrives as the CQL it was, records come piggy-backed
// and then by Present in pages, they read as ISO 2709, and the second
// search reuses the session (no Init).
func TestOriginAgainstServer(t *testing.T) {
	fake := newFake(t)
	_, addr := startServer(t, fake, Config{})
	o := NewOrigin(OriginConfig{Address: addr, Database: "Default", PageSize: 3, UTF8: true})
	defer o.Close()
	ctx := context.Background()

	res, err := o.Search(ctx, parseRPN(t, `alma.title = "history" and alma.creator = smith*`, DefaultIndexMap()), 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	if res.Hits != len(fake.records) || len(res.Records) != 8 || res.Warm {
		t.Fatalf("hits %d, %d records, warm %v", res.Hits, len(res.Records), res.Warm)
	}
	if got, want := fake.last().CQL, `alma.title="history" and alma.creator="smith*"`; got != want {
		t.Errorf("server saw %q, want %q", got, want)
	}
	for i, r := range res.Records {
		if r.Position != i+1 || r.Syntax != OIDUSMARC || r.Problem != "" || r.Diagnostic != nil {
			t.Fatalf("record %d: %+v", i, r)
		}
		rec, err := transform.ParseISO2709(r.Data)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.MMSID != fake.records[i].MMSID {
			t.Fatalf("record %d is %s, want %s", i, rec.MMSID, fake.records[i].MMSID)
		}
	}
	res, err = o.Search(ctx, parseRPN(t, `alma.isbn = 9783161484100`, DefaultIndexMap()), 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Warm || o.Inits() != 1 || len(res.Records) != 2 || res.Records[0].Position != 4 {
		t.Fatalf("second search: warm %v, inits %d, %d records", res.Warm, o.Inits(), len(res.Records))
	}
	res, err = o.Search(ctx, parseRPN(t, `alma.title = x`, DefaultIndexMap()), 1, 0)
	if err != nil || res.Hits != len(fake.records) || len(res.Records) != 0 {
		t.Fatalf("hit count only: %v %+v", err, res)
	}
}

// TestOriginDiagnostic: the target's non-surrogate diagnostic is an
// answer, in words, and the session stays usable.
func TestOriginDiagnostic(t *testing.T) {
	fake := newFake(t)
	fake.err = diag(114, "1=9999")
	_, addr := startServer(t, fake, Config{})
	o := NewOrigin(OriginConfig{Address: addr, Database: "Default"})
	defer o.Close()
	res, err := o.Search(context.Background(), parseRPN(t, `alma.title = x`, DefaultIndexMap()), 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Diagnostic == nil || res.Diagnostic.Condition != 114 || res.Diagnostic.AddInfo != "1=9999" {
		t.Fatalf("diagnostic %+v", res.Diagnostic)
	}
	if !strings.Contains(res.Diagnostic.Error(), "unsupported use attribute") && !strings.Contains(res.Diagnostic.Error(), "114") {
		t.Errorf("diagnostic in words: %s", res.Diagnostic)
	}
	if o.Idle() != 1 {
		t.Errorf("the session was not kept after a diagnostic")
	}
}

// scripted serves one connection at a time with handle.
func scripted(t *testing.T, handle func(c net.Conn, w *wire)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, newWire(c, 1<<20))
			}()
		}
	}()
	return ln.Addr().String()
}

// readPDU reads the next request.
func readPDU(w *wire) ([]byte, error) {
	return w.roundTrip(context.Background(), nil, 10*time.Second)
}

var initOK = pdu(tagInitResponse, nil, ctxBits(3, 3, func(int) bool { return true }),
	ctxBits(4, 15, func(i int) bool { return i < 2 }), ctxInt(5, 1<<20), ctxInt(6, 1<<20), ctxBool(12, true))

// TestOriginHostile: each misbehaving target is that target's error,
// bounded by the caller's deadline, never a panic or a hang.
func TestOriginHostile(t *testing.T) {
	deadline := 300 * time.Millisecond
	cases := []struct {
		name   string
		handle func(c net.Conn, w *wire)
		want   func(error) bool
	}{
		{"accepts and never answers", func(c net.Conn, w *wire) { io.Copy(io.Discard, c) },
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"closes after Init", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(initOK)
			readPDU(w)
			c.Write(closePDU(nil, CloseSystemProblem, "going away"))
		}, func(err error) bool {
			var ce *ClosedError
			return errors.As(err, &ce) && ce.Reason == CloseSystemProblem && strings.Contains(err.Error(), "system problem): going away")
		}},
		{"refuses the Init", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(pdu(tagInitResponse, nil, ctxBool(12, false), ctxString(111, "Zebra\x01")))
		}, func(err error) bool { return strings.Contains(err.Error(), "refused the Init (Zebra)") }},
		{"hangs up after Init", func(c net.Conn, w *wire) { readPDU(w); c.Write(initOK); readPDU(w) },
			func(err error) bool { return errors.Is(err, io.EOF) }},
		{"truncated PDU", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(initOK)
			readPDU(w)
			c.Write([]byte{0xb7, 0x82, 0x01, 0x00, 0x97, 0x01})
		}, func(err error) bool { return errors.Is(err, io.EOF) || errors.As(err, new(*ProtocolError)) }},
		{"oversize PDU", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(initOK)
			readPDU(w)
			c.Write([]byte{0xb7, 0x84, 0x10, 0x00, 0x00, 0x00})
			io.Copy(io.Discard, c)
		}, func(err error) bool { return errors.As(err, new(*ProtocolError)) }},
		{"garbage", func(c net.Conn, w *wire) { readPDU(w); c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) },
			func(err error) bool { return err != nil }},
		{"garbage, connection kept open", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(initOK)
			readPDU(w)
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) // 'H' would announce 84 bytes
			io.Copy(io.Discard, c)
		}, func(err error) bool {
			return errors.As(err, new(*ProtocolError)) && strings.Contains(err.Error(), `not a Z39.50 PDU (it starts "HTTP/1.1 400 Bad`)
		}},
		{"a search answer to the Init", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(pdu(tagSearchResponse, nil, ctxInt(23, 1), ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true)))
		}, func(err error) bool { return errors.As(err, new(*ProtocolError)) }},
		{"more records than asked", func(c net.Conn, w *wire) {
			readPDU(w)
			c.Write(initOK)
			readPDU(w)
			c.Write(pdu(tagSearchResponse, nil, ctxInt(23, 9), ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true)))
			readPDU(w)
			recs := make([]record, 5)
			for i := range recs {
				recs[i].ext = externalOctets(OIDUSMARC, []byte("x")).Bytes()
			}
			c.Write(pdu(tagPresentResponse, nil, ctxInt(24, 5), ctxInt(25, 6), ctxInt(27, 0), recordsPacket(recs, nil)))
		}, func(err error) bool { return errors.As(err, new(*ProtocolError)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := scripted(t, c.handle)
			o := NewOrigin(OriginConfig{Address: addr, Database: "x", PageSize: 2, MaxPDU: 1 << 20})
			defer o.Close()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			res, err := o.Search(ctx, parseRPN(t, "alma.title = x", DefaultIndexMap()), 3, 2)
			if err == nil || !c.want(err) {
				t.Fatalf("got %+v, %v", res, err)
			}
		})
	}
}

// TestOriginReopens: a pooled session the target closed while idle is
// replaced within the same search.
func TestOriginReopens(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	addr := scripted(t, func(c net.Conn, w *wire) {
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		readPDU(w)
		c.Write(initOK)
		readPDU(w)
		c.Write(pdu(tagSearchResponse, nil, ctxInt(23, 7), ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true)))
		if n == 1 {
			return // the first session ends after its one search
		}
		readPDU(w)
		c.Write(pdu(tagSearchResponse, nil, ctxInt(23, 8), ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true)))
	})
	o := NewOrigin(OriginConfig{Address: addr, Database: "x"})
	defer o.Close()
	q := parseRPN(t, "alma.title = x", DefaultIndexMap())
	if res, err := o.Search(context.Background(), q, 1, 0); err != nil || res.Hits != 7 {
		t.Fatalf("first: %+v %v", res, err)
	}
	res, err := o.Search(context.Background(), q, 1, 0)
	if err != nil || res.Hits != 7 || res.Warm || o.Inits() != 2 {
		t.Fatalf("second: %+v %v, inits %d", res, err, o.Inits())
	}
}

// TestOriginSurrogatesAndBounds: a surrogate diagnostic, an oversize
// record and a structured record are reported per record; the others
// arrive.
func TestOriginSurrogatesAndBounds(t *testing.T) {
	addr := scripted(t, func(c net.Conn, w *wire) {
		readPDU(w)
		c.Write(initOK)
		readPDU(w)
		recs := []record{
			{ext: externalOctets(OIDUSMARC, []byte("ok")).Bytes()},
			{diag: diag(227, "no such record")},
			{ext: externalOctets(OIDUSMARC, make([]byte, 5000)).Bytes()},
			{ext: externalASN1(OIDOPAC, seq()).Bytes()},
		}
		c.Write(pdu(tagSearchResponse, nil, ctxInt(23, 4), ctxInt(24, 4), ctxInt(25, 5), ctxBool(22, true), recordsPacket(recs, nil)))
		readPDU(w)
	})
	o := NewOrigin(OriginConfig{Address: addr, Database: "x", MaxRecord: 1000})
	defer o.Close()
	res, err := o.Search(context.Background(), parseRPN(t, "alma.title = x", DefaultIndexMap()), 1, 4)
	if err != nil || len(res.Records) != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	r := res.Records
	if string(r[0].Data) != "ok" || r[1].Diagnostic == nil || r[1].Diagnostic.Condition != 227 ||
		!strings.Contains(r[2].Problem, "5000 bytes") || !strings.Contains(r[3].Problem, "structured") {
		t.Fatalf("records %+v", r)
	}
}

// TestInitRequest checks the Init against what YAZ itself sends for
// "charset UTF-8" and "auth alice secret" (captured from yaz-client 5.34).
func TestInitRequest(t *testing.T) {
	p, err := ber.DecodePacketErr(initRequest(&OriginConfig{UTF8: true, Auth: "alice/secret", MaxPDU: 1 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	var auth, neg *ber.Packet
	for _, c := range p.Children {
		switch {
		case isCtx(c, 7):
			auth = c
		case isCtx(c, 201):
			neg = c
		}
	}
	if auth == nil || len(auth.Children) != 1 || len(auth.Children[0].Children) != 2 ||
		string(content(auth.Children[0].Children[0])) != "alice" || string(content(auth.Children[0].Children[1])) != "secret" {
		t.Fatalf("idAuthentication %v", auth)
	}
	// [201] { SEQUENCE { [4] { OID 15.3, [0] { [1] { [1] { [2] { [2] 1.0.10646.1.0.8 } }, [3] TRUE } } } } }
	want := []byte{0xa4, 0x1c, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x13, 0x0f, 0x03, 0xa0, 0x11, 0xa1, 0x0f, 0xa1, 0x0a, 0xa2, 0x08, 0x82, 0x06, 0x28, 0xd3, 0x16, 0x01, 0x00, 0x08, 0x83, 0x01}
	got := neg.Bytes()
	if neg == nil || !strings.Contains(string(got), string(want)) {
		t.Fatalf("negotiation % x\nwant it to hold % x", got, want)
	}
}

// FuzzOriginResponse decodes arbitrary bytes as search and present
// responses: an error or records, never a panic.
func FuzzOriginResponse(f *testing.F) {
	recs := []record{{ext: externalOctets(OIDUSMARC, []byte("ok")).Bytes()}, {diag: diag(227, "x")}}
	f.Add(pdu(tagSearchResponse, nil, ctxInt(23, 4), ctxInt(24, 2), ctxInt(25, 3), ctxBool(22, true), recordsPacket(recs, nil)))
	f.Add(pdu(tagPresentResponse, nil, ctxInt(24, 2), ctxInt(25, 3), ctxInt(27, 0), recordsPacket(nil, diag(13, "9"))))
	f.Add(initOK)
	f.Add(closePDU(nil, 6, "x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tag := range []int{tagSearchResponse, tagPresentResponse} {
			resp, err := responseFields(b, tag, "x")
			if err != nil {
				continue
			}
			resp.int(23)
			resp.boolean(22)
			resp.records(1, 100)
		}
		w := newWire(&fakeConn{b: b}, 1<<16)
		w.roundTrip(context.Background(), nil, 0)
	})
}

// fakeConn reads b once, then EOF; writes are discarded.
type fakeConn struct{ b []byte }

func (c *fakeConn) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	return n, nil
}
func (*fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (*fakeConn) Close() error                     { return nil }
func (*fakeConn) LocalAddr() net.Addr              { return nil }
func (*fakeConn) RemoteAddr() net.Addr             { return nil }
func (*fakeConn) SetDeadline(time.Time) error      { return nil }
func (*fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (*fakeConn) SetWriteDeadline(time.Time) error { return nil }
