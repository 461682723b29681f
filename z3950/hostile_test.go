package z3950

import (
	"bytes"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// nested returns depth constructed SEQUENCEs around an INTEGER.
func nested(depth int, indefinite bool) []byte {
	b := []byte{0x02, 0x01, 0x00}
	for i := 0; i < depth; i++ {
		if indefinite {
			b = append(append([]byte{0x30, 0x80}, b...), 0, 0)
		} else {
			b = append([]byte{0x30, 0x82, byte(len(b) >> 8), byte(len(b))}, b...)
		}
	}
	return append(append([]byte{0xb4, 0x80}, b...), 0, 0)
}

func initWith(fields ...*ber.Packet) []byte { return pdu(tagInitRequest, nil, fields...) }

func initFields() []*ber.Packet {
	return []*ber.Packet{
		ctxBits(3, 3, func(int) bool { return true }),
		ctxBits(4, 15, func(i int) bool { return i == 0 || i == 1 }),
		ctxInt(5, 1<<20), ctxInt(6, 1<<20),
	}
}

// TestHostileInputs sends each input on its own session: every one is
// answered with a diagnostic or a Close, a session left open beside them
// keeps working, and no goroutine is left behind.
func TestHostileInputs(t *testing.T) {
	f := newFake(t)
	srv, addr := startServer(t, f, Config{MaxPDUBytes: 64 << 10})
	// The inputs that wait for the idle timeout go to a server of their
	// own with a short one; the bystander would idle out there too.
	_, idleAddr := startServer(t, f, Config{IdleTimeout: 300 * time.Millisecond})
	bystander := dial(t, addr)
	bystander.init()
	base := runtime.NumGoroutine()

	initPDU := fixture(t, "01-init.ber")
	longHTTP := []byte("GET /sru?query=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\nConnection: close\r\n\r\n")
	badOp := func() *ber.Packet {
		q := ctxCons(1)
		q.AppendChild(oid(OIDBib1Attributes))
		q.AppendChild(ctxCons(1, operand("a"), operand("b"), ctxCons(46, ctxBytes(5, nil))))
		return q
	}
	attrNoValue := func() *ber.Packet {
		q := ctxCons(1)
		q.AppendChild(oid(OIDBib1Attributes))
		e := seq()
		e.AppendChild(ctxInt(120, 1))
		q.AppendChild(ctxCons(0, ctxCons(102, ctxCons(44, e), ctxString(45, "x"))))
		return q
	}
	searchWithout := func(skip int) []byte {
		f := []*ber.Packet{ctxInt(13, 0), ctxInt(14, 1), ctxInt(15, 0), ctxBool(16, true), ctxString(17, "default"),
			ctxCons(18, ctxString(105, "Default")), ctxCons(21, rpnQuery("x"))}
		return pdu(tagSearchRequest, nil, append(f[:skip:skip], f[skip+1:]...)...)
	}
	otherExternal := func() *ber.Packet {
		e := ctxCons(104)
		e.AppendChild(oid("1.2.840.10003.16.99"))
		e.AppendChild(ctxCons(0, intl("x")))
		return e
	}
	big := initWith(append(initFields(), ctxString(111, strings.Repeat("n", 66<<10)))...)
	// A record syntax OID whose first arc starts with 0x80 (not minimal).
	badOID := searchPDU(searchOpts{syntax: OIDUSMARC})
	i := bytes.Index(badOID, []byte{0x9f, 0x68, 0x07})
	badOID = append(append(append([]byte{}, badOID[:i]...), 0x9f, 0x68, 0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), badOID[i+10:]...)

	tests := []struct {
		name      string
		init      bool
		send      []byte
		halfClose bool
		want      string // "close:N" or "diag:N" or "answer:TAG"
	}{
		{"truncated init", false, initPDU[:10], true, "close:6"},
		{"only an identifier", false, initPDU[:1], true, "close:6"},
		{"truncated inside a length", false, []byte{0xb4, 0x82, 0x01}, true, "close:6"},
		{"an Init that never ends", false, initPDU[:20], false, "close:7"},
		{"nothing at all", false, nil, false, "close:7"},
		{"length past the PDU bound", false, []byte{0xb4, 0x84, 0x7f, 0xff, 0xff, 0xff}, false, "close:6"},
		{"PDU just past the bound", false, big, false, "close:6"},
		{"five length octets", false, []byte{0xb4, 0x85, 1, 1, 1, 1, 1}, false, "close:6"},
		{"length octet 0xff", false, []byte{0xb4, 0xff, 0}, false, "close:6"},
		{"deep nesting, indefinite", false, nested(40, true), false, "close:6"},
		{"deep nesting, definite", false, nested(40, false), false, "close:6"},
		{"universal SEQUENCE as PDU", false, []byte{0x30, 0x00}, false, "close:6"},
		{"unknown PDU [99]", false, []byte{0xbf, 0x63, 0x00}, false, "close:6"},
		{"primitive PDU", false, []byte{0x94, 0x00}, false, "close:6"},
		{"end-of-contents at the top", false, []byte{0x00, 0x00}, false, "close:6"},
		{"indefinite length on a primitive", false, []byte{0x94, 0x80, 0, 0}, false, "close:6"},
		{"element runs past its parent", false, []byte{0xb4, 0x03, 0x02, 0x05, 0x00}, false, "close:6"},
		{"tag number of six octets", false, []byte{0xbf, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00}, false, "close:6"},
		{"an HTTP request", false, longHTTP, false, "close:6"},
		{"search before Init", false, searchPDU(searchOpts{}), false, "close:6"},
		{"close before Init", false, fixture(t, "08-close.ber"), false, "close:6"},
		{"Init without options", false, initWith(initFields()[0], ctxInt(5, 1), ctxInt(6, 1)), false, "close:6"},
		{"Init with a nine-octet integer", false, initWith(append(initFields()[:2], ctxBytes(5, bytes.Repeat([]byte{1}, 9)), ctxInt(6, 1))...), false, "close:6"},
		{"Init with a bit string of 9 unused bits", false, initWith(ctxBytes(3, []byte{9, 0xe0}), initFields()[1], ctxInt(5, 1), ctxInt(6, 1)), false, "close:6"},
		{"Init with constructed options", false, initWith(initFields()[0], ctxCons(4), ctxInt(5, 1), ctxInt(6, 1)), false, "close:6"},
		{"Init offering only version 1", false, initWith(ctxBits(3, 1, func(int) bool { return true }), initFields()[1], ctxInt(5, 1), ctxInt(6, 1)), false, "answer:21"},
		{"Init twice", true, initPDU, false, "close:6"},
		{"search without a query", true, searchWithout(6), false, "close:6"},
		{"search without a result set name", true, searchWithout(4), false, "close:6"},
		{"search with a databaseNames of integers", true, pdu(tagSearchRequest, nil, ctxInt(13, 0), ctxInt(14, 1), ctxInt(15, 0), ctxBool(16, true), ctxString(17, "x"), ctxCons(18, ctxCons(105)), ctxCons(21, rpnQuery("x"))), false, "close:6"},
		{"a malformed record syntax OID", true, badOID, false, "close:6"},
		{"a result set name of 2000 bytes", true, searchPDU(searchOpts{name: strings.Repeat("n", 2000)}), false, "close:6"},
		{"a term of 9000 bytes", true, searchPDU(searchOpts{query: rpnQuery(strings.Repeat("t", 9000))}), false, "close:6"},
		{"an unknown boolean operator", true, searchPDU(searchOpts{query: badOp()}), false, "close:6"},
		{"an attribute without a value", true, searchPDU(searchOpts{query: attrNoValue()}), false, "close:6"},
		{"access control request", true, pdu(tagAccessCtrlRequest, nil), false, "close:6"},
		{"resource control request", true, pdu(tagResourceCtrlReq, nil), false, "close:6"},
		{"segment request", true, pdu(tagSegmentRequest, nil), false, "close:6"},
		{"garbage after Init", true, []byte{0x00, 0x01, 0x00}, false, "close:6"},
		{"present before search", true, presentPDU("default", 1, 1, "", ""), false, "diag:30"},
		{"present with a negative count", true, append(searchPDU(searchOpts{}), presentPDU("default", 1, -5, "", "")...), false, "diag:13"},
		{"no database named", true, searchPDU(searchOpts{dbs: []string{}}), false, "diag:108"},
		{"query type 0", true, searchPDU(searchOpts{query: ctxCons(0, intl("x"))}), false, "diag:107"},
		{"an external query not CQL", true, searchPDU(searchOpts{query: otherExternal()}), false, "diag:107"},
		{"CQL with a NUL", true, searchPDU(searchOpts{query: cqlQuery("a\x00b")}), false, "diag:108"},
		{"CQL unterminated", true, searchPDU(searchOpts{query: cqlQuery(`alma.title="x`)}), false, "diag:108"},
		{"delete of a set that never existed", true, pdu(tagDeleteRequest, nil, ctxInt(32, 0), func() *ber.Packet { s := seq(); s.AppendChild(ctxString(31, "ghost")); return s }()), false, "answer:27"},
		{"delete function 7", true, pdu(tagDeleteRequest, nil, ctxInt(32, 7)), false, "close:6"},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d hostile inputs", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := addr
			if tt.want == "close:7" {
				at = idleAddr
			}
			c := dial(t, at)
			if tt.init {
				c.init()
			}
			if len(tt.send) > 0 {
				c.send(tt.send)
			}
			if tt.halfClose {
				c.conn.(*net.TCPConn).CloseWrite()
			}
			var last *ber.Packet
			for {
				p := c.recv()
				if p == nil {
					break
				}
				last = p
				n, _ := diagOf(p)
				if p.Tag == tagClose || strings.HasPrefix(tt.want, "answer") || strings.HasPrefix(tt.want, "diag") && n != 0 {
					break
				}
			}
			got := "closed without a Close"
			switch n, _ := diagOf(last); {
			case last == nil:
			case last.Tag == tagClose:
				got = "close:" + strconv.Itoa(closeReason(last))
			case n != 0:
				got = "diag:" + strconv.Itoa(n)
			default:
				got = "answer:" + strconv.Itoa(int(last.Tag))
			}
			if got != tt.want {
				t.Errorf("answered %s, want %s", got, tt.want)
			}
			c.conn.Close()
			// The session beside them is unaffected (and kept from idling).
			bystander.send(searchPDU(searchOpts{}))
			if p := bystander.recv(); p == nil || p.Tag != tagSearchResponse || intField(t, p, 23) != 10 {
				t.Fatalf("the bystander session was affected: %s", describe(p))
			}
		})
	}
	bystander.send(searchPDU(searchOpts{}))
	if p := bystander.recv(); p == nil || p.Tag != tagSearchResponse || intField(t, p, 23) != 10 {
		t.Fatalf("the bystander session was affected: %s", describe(p))
	}
	settleGoroutines(t, base)
	if st := srv.Stats(); st.ProtocolErrors < 30 || st.SessionsActive != 1 {
		t.Errorf("stats after the hostile inputs: %+v", st)
	}
}

// TestTenThousandResultSets creates result sets until far past the bound:
// each one past it is diagnostic 112, and the session stays usable.
func TestTenThousandResultSets(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{MaxResultSets: 20})
	c := dial(t, addr)
	c.init()
	refused := 0
	// Pipelined: all 10,000 searches are written while the answers are read.
	// Each batch gets its own write deadline (a hang guard): the one init's
	// send left would run out mid-way on a loaded machine, and the searches
	// after it would never be sent.
	go func() {
		var batch []byte
		for i := 0; i < 10000; i++ {
			batch = append(batch, searchPDU(searchOpts{name: "s" + strconv.Itoa(i)})...)
			if i%500 == 499 {
				c.conn.SetWriteDeadline(time.Now().Add(time.Minute))
				if _, err := c.conn.Write(batch); err != nil {
					t.Errorf("writing searches %d..%d: %v", i-499, i, err)
					return
				}
				batch = batch[:0]
			}
		}
	}()
	for i := 0; i < 10000; i++ {
		p := c.recv()
		if p == nil {
			t.Fatalf("closed at %d", i)
		}
		switch n, _ := diagOf(p); {
		case i < 20 && n != 0, i >= 20 && n != 112:
			t.Fatalf("search %d: diagnostic %d", i, n)
		case n == 112:
			refused++
		}
	}
	c.send(presentPDU("s0", 1, 1, "", ""))
	if len(records(c.recv())) != 1 || refused != 9980 {
		t.Fatalf("refused %d; the first set is gone", refused)
	}
}

// TestSessionLimit refuses a session past the bound with a Close
// (resources) and serves the others.
func TestSessionLimit(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{MaxSessions: 2})
	a, b := dial(t, addr), dial(t, addr)
	a.init()
	b.init()
	c := dial(t, addr)
	if r := closeReason(c.recv()); r != CloseResources {
		t.Errorf("third session: close reason %d, want %d", r, CloseResources)
	}
	a.send(searchPDU(searchOpts{}))
	if p := a.recv(); p == nil || p.Tag != tagSearchResponse {
		t.Error("first session affected")
	}
}

// TestShutdownClosesSessions: Shutdown sends idle sessions a Close
// (shutdown) and Serve returns.
func TestShutdownClosesSessions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(newFake(t), Config{}, nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context(), ln) }()
	c := dial(t, ln.Addr().String())
	c.init()
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := closeReason(c.recv()); r != CloseShutdown {
		t.Errorf("close reason %d, want %d", r, CloseShutdown)
	}
	if err := <-done; err != ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
}

// dialFrom opens a raw session from the local address from (another
// loopback address stands for another client).
func dialFrom(t testing.TB, from, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, f: framer{max: 64 << 20, maxDepth: 64}}
}

// TestSessionsPerClient (issue 21 item 4): one address holding
// MaxPerClient sessions is refused one more with a Close (resources),
// while another address still gets sessions; a session ended gives its
// slot back. Before, one address took all the server's sessions.
func TestSessionsPerClient(t *testing.T) {
	srv, addr := startServer(t, newFake(t), Config{MaxSessions: 10, MaxPerClient: 3})
	var held []*client
	for range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		c.init()
		held = append(held, c)
	}
	for i := range 7 {
		c := dialFrom(t, "127.0.0.2", addr)
		if r := closeReason(c.recv()); r != CloseResources {
			t.Fatalf("session %d of one address: close reason %d, want %d (resources)", 4+i, r, CloseResources)
		}
	}
	other := dialFrom(t, "127.0.0.3", addr)
	other.init()
	other.send(searchPDU(searchOpts{}))
	if p := other.recv(); p == nil || p.Tag != tagSearchResponse {
		t.Errorf("another address was not served: %v", describe(p))
	}
	if st := srv.Stats(); st.SessionsRefusedClient != 7 || st.SessionsRefused != 7 {
		t.Errorf("refused %d, at the per-client bound %d; want 7 and 7", st.SessionsRefused, st.SessionsRefusedClient)
	}
	held[0].conn.Close()
	for i := 0; ; i++ {
		c := dialFrom(t, "127.0.0.2", addr)
		c.send(fixture(t, "01-init.ber"))
		if p := c.recv(); p != nil && p.Tag == tagInitResponse {
			break
		}
		if i == 200 {
			t.Fatal("the slot of an ended session was never given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInitTimeout: a session that sends no initRequest, or trickles one,
// is closed at InitTimeout (lack of activity) rather than at the idle
// timeout; one that sends its Init in time is then governed by the idle
// timeout. Before, 100 silent connections held every session for the
// 5-minute idle timeout.
func TestInitTimeout(t *testing.T) {
	srv, addr := startServer(t, newFake(t), Config{InitTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute})
	silent := dial(t, addr)
	trickling := dial(t, addr)
	initPDU := fixture(t, "01-init.ber")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < len(initPDU)-1; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := trickling.conn.Write(initPDU[i : i+1]); err != nil {
				return
			}
		}
	}()
	good := dial(t, addr)
	good.init()
	for name, c := range map[string]*client{"silent": silent, "trickling": trickling} {
		p := c.recv()
		if closeReason(p) != CloseLackOfActivity {
			t.Errorf("%s session: %v, reason %d; want a Close (lack of activity)", name, describe(p), closeReason(p))
		}
	}
	time.Sleep(400 * time.Millisecond) // past InitTimeout: an inited session stays
	good.send(searchPDU(searchOpts{}))
	if p := good.recv(); p == nil || p.Tag != tagSearchResponse {
		t.Errorf("a session inited in time: %v after the init timeout", describe(p))
	}
	if st := srv.Stats(); st.InitClosed != 2 || st.IdleClosed != 0 {
		t.Errorf("closed for no Init %d, for idleness %d; want 2 and 0", st.InitClosed, st.IdleClosed)
	}
}

// TestPartialPDUMemoryBound: partial PDUs cannot add up past MaxBuffered
// across sessions (a session whose buffer would pass it is closed with a
// Close, resources), a session that has not sent its Init cannot hold
// more than 64 KiB, and an ended session's bytes are given back. Before,
// 100 sessions each holding a nearly 1 MiB partial PDU added 117 MiB.
func TestPartialPDUMemoryBound(t *testing.T) {
	const bound = 7 << 19 // 3.5 MiB: room for three grown buffers
	srv, addr := startServer(t, newFake(t), Config{MaxSessions: 50, MaxPerClient: 50, MaxPDUBytes: 1 << 20, MaxBuffered: bound})
	// A searchRequest announcing 1 MiB (one OCTET STRING inside), of
	// which 900 KiB are sent.
	partial := func() []byte {
		n, m := 1<<20-100, 1<<20-105
		b := []byte{0xb6, 0x83, byte(n >> 16), byte(n >> 8), byte(n), 0x04, 0x83, byte(m >> 16), byte(m >> 8), byte(m)}
		return append(b, make([]byte, 900<<10)...)
	}()
	write := func(c *client) {
		go func() {
			c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
			c.conn.Write(partial)
		}()
	}
	// Before Init: cut at 64 KiB.
	pre := dial(t, addr)
	write(pre)
	if r := closeReason(pre.recv()); r != CloseProtocolError {
		t.Errorf("a large PDU before Init: close reason %d, want protocol error", r)
	}
	var sessions []*client
	for range 6 {
		c := dial(t, addr)
		c.init()
		sessions = append(sessions, c)
	}
	// One at a time: each either comes to hold its partial PDU (the
	// buffer grown to 1 MiB) or is told there is no room.
	held, refused := 0, 0
	for k, c := range sessions {
		before := srv.Stats()
		write(c)
		for i := 0; ; i++ {
			st := srv.Stats()
			if st.Buffered > bound {
				t.Fatalf("%d bytes buffered, bound %d", st.Buffered, bound)
			}
			if st.BufferRefused > before.BufferRefused {
				if r := closeReason(c.recv()); r != CloseResources {
					t.Errorf("session %d past the bound: close reason %d, want resources", k+1, r)
				}
				refused++
				break
			}
			if st.Buffered >= before.Buffered+1<<20-baseBuffer {
				held++
				break
			}
			if i == 3000 {
				t.Fatalf("session %d: neither held nor refused (buffered %d)", k+1, st.Buffered)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if held != 3 || refused != 3 {
		t.Errorf("%d sessions hold a partial MiB, %d refused; want 3 and 3 under 3.5 MiB", held, refused)
	}
	for _, c := range sessions {
		c.conn.Close()
	}
	for i := 0; srv.Stats().Buffered != 0; i++ {
		if i == 3000 {
			t.Fatalf("%d bytes still counted after every session ended", srv.Stats().Buffered)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
