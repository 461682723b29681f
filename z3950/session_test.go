package z3950

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/go-cmp/cmp"
)

// client is a raw Z39.50 connection for tests.
type client struct {
	t    testing.TB
	conn net.Conn
	buf  []byte
	tmp  []byte
	f    framer
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, f: framer{max: 64 << 20, maxDepth: 64}}
}

func (c *client) send(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)) // hang guard
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one response PDU; nil when the server closed the connection.
func (c *client) recv() *ber.Packet {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // hang guard
	if c.tmp == nil {
		c.tmp = make([]byte, 64<<10)
	}
	tmp := c.tmp
	for {
		if len(c.buf) > 0 {
			n, err := c.f.next(c.buf)
			if err == nil {
				p, derr := ber.DecodePacketErr(c.buf[:n])
				if derr != nil {
					c.t.Fatalf("server sent undecodable BER: %v", derr)
				}
				c.buf = append(c.buf[:0], c.buf[n:]...)
				c.f.reset()
				return p
			}
			if err != errShort {
				c.t.Fatalf("server sent bad framing: %v", err)
			}
		}
		n, err := c.conn.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil {
			if n > 0 {
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("no answer from the server (hang guard)")
			}
			return nil
		}
	}
}

// closed reports whether the server has closed the connection.
func (c *client) closed() bool {
	c.t.Helper()
	return c.recv() == nil
}

func (c *client) init() {
	c.t.Helper()
	c.send(fixture(c.t, "01-init.ber"))
	p := c.recv()
	if p == nil || p.Tag != tagInitResponse || !boolField(c.t, p, 12) {
		c.t.Fatalf("init refused: %v", describe(p))
	}
}

func describe(p *ber.Packet) string {
	if p == nil {
		return "connection closed"
	}
	return "PDU [" + strconv.Itoa(int(p.Tag)) + "]"
}

// child returns p's first child with context tag n, or nil.
func child(p *ber.Packet, n int) *ber.Packet {
	if p == nil {
		return nil
	}
	for _, c := range p.Children {
		if isCtx(c, n) {
			return c
		}
	}
	return nil
}

func intField(t testing.TB, p *ber.Packet, n int) int {
	t.Helper()
	c := child(p, n)
	if c == nil {
		t.Fatalf("%s has no [%d]", describe(p), n)
	}
	v, err := intOf(c, "field")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func boolField(t testing.TB, p *ber.Packet, n int) bool {
	t.Helper()
	c := child(p, n)
	if c == nil {
		t.Fatalf("%s has no [%d]", describe(p), n)
	}
	v, _ := boolOf(c, "field")
	return v
}

// diagOf finds the first DefaultDiagFormat in p (any depth) and returns
// its condition and addinfo; 0 when there is none.
func diagOf(p *ber.Packet) (int, string) {
	if p == nil {
		return 0, ""
	}
	if len(p.Children) == 3 && p.Children[0].Tag == ber.TagObjectIdentifier && p.Children[0].ClassType == ber.ClassUniversal {
		if s, _ := oidOf(p.Children[0], "diag set"); s == OIDBib1Diagnostic {
			n, _ := intOf(p.Children[1], "condition")
			return n, string(content(p.Children[2]))
		}
	}
	for _, c := range p.Children {
		if n, info := diagOf(c); n != 0 {
			return n, info
		}
	}
	return 0, ""
}

// closeReason returns a Close PDU's reason, or -1 for anything else.
func closeReason(p *ber.Packet) int {
	if p == nil || p.Tag != tagClose {
		return -1
	}
	c := child(p, 211)
	n, _ := intOf(c, "reason")
	return n
}

// records returns the EXTERNALs of a response's responseRecords.
func records(p *ber.Packet) []*ber.Packet {
	var out []*ber.Packet
	for _, npr := range child(p, 28).Children {
		r := child(npr, 1)
		if rec := child(r, 1); rec != nil {
			out = append(out, rec.Children[0])
		} else {
			out = append(out, nil)
		}
	}
	return out
}

// Test PDU builders: the fields yaz-client sends, with options.

type searchOpts struct {
	name     string
	dbs      []string
	query    *ber.Packet // the [21] query's content
	small    int
	large    int
	medium   int
	syntax   string
	esn      string
	noRepl   bool
	omitName bool
}

func rpnQuery(terms ...any) *ber.Packet { // term, attrs...
	q := ctxCons(1)
	q.AppendChild(oid(OIDBib1Attributes))
	q.AppendChild(operand(terms[0].(string), terms[1:]...))
	return q
}

func operand(term string, attrs ...any) *ber.Packet {
	list := ctxCons(44)
	for i := 0; i+1 < len(attrs); i += 2 {
		e := seq()
		e.AppendChild(ctxInt(120, attrs[i].(int)))
		e.AppendChild(ctxInt(121, attrs[i+1].(int)))
		list.AppendChild(e)
	}
	apt := ctxCons(102, list, ctxString(45, term))
	return ctxCons(0, apt)
}

func cqlQuery(q string) *ber.Packet {
	e := ctxCons(104)
	e.AppendChild(oid(OIDCQL))
	e.AppendChild(ctxCons(0, intl(q)))
	return e
}

func searchPDU(o searchOpts) []byte {
	if o.name == "" {
		o.name = "default"
	}
	if o.dbs == nil {
		o.dbs = []string{"Default"}
	}
	if o.query == nil {
		o.query = rpnQuery("history", 1, 4)
	}
	if o.large == 0 {
		o.large = 1
	}
	dbs := ctxCons(18)
	for _, d := range o.dbs {
		dbs.AppendChild(ctxString(105, d))
	}
	f := []*ber.Packet{ctxInt(13, o.small), ctxInt(14, o.large), ctxInt(15, o.medium), ctxBool(16, !o.noRepl)}
	if !o.omitName {
		f = append(f, ctxString(17, o.name))
	}
	f = append(f, dbs)
	if o.esn != "" {
		f = append(f, ctxCons(100, ctxString(0, o.esn)), ctxCons(101, ctxString(0, o.esn)))
	}
	if o.syntax != "" {
		f = append(f, ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, o.syntax, ""))
	}
	f = append(f, ctxCons(21, o.query))
	return pdu(tagSearchRequest, []byte("ref"), f...)
}

func presentPDU(set string, start, count int, syntax, esn string, extra ...*ber.Packet) []byte {
	f := []*ber.Packet{ctxString(31, set), ctxInt(30, start), ctxInt(29, count)}
	f = append(f, extra...)
	if esn != "" {
		f = append(f, ctxCons(19, ctxString(0, esn)))
	}
	if syntax != "" {
		f = append(f, ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, syntax, ""))
	}
	return pdu(tagPresentRequest, []byte("ref"), f...)
}

func TestInitNegotiation(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{MaxMessageBytes: 1 << 20})
	c := dial(t, addr)
	c.send(fixture(t, "01-init.ber")) // asks for 64 MiB messages
	p := c.recv()
	got := []int{intField(t, p, 5), intField(t, p, 6)}
	if diff := cmp.Diff(got, []int{1 << 20, 1 << 20}); diff != "" {
		t.Errorf("sizes (-got +want):\n%s", diff)
	}
	opts, _ := bitsOf(child(p, 4), "options")
	if diff := cmp.Diff(opts, []int{OptSearch, OptPresent, OptDelSet, OptNamedResultSets}); diff != "" {
		t.Errorf("options (-got +want):\n%s", diff)
	}
	vers, _ := bitsOf(child(p, 3), "versions")
	if diff := cmp.Diff(vers, []int{0, 1, 2}); diff != "" {
		t.Errorf("versions (-got +want):\n%s", diff)
	}
}

func TestSearchPresentSession(t *testing.T) {
	f := newFake(t)
	_, addr := startServer(t, f, Config{})
	c := dial(t, addr)
	c.init()

	// Search, then present records 1-3 as MARC21 and 4 as MARCXML.
	c.send(fixture(t, "02-search.ber"))
	p := c.recv()
	if got := []any{p.Tag, intField(t, p, 23), intField(t, p, 24), boolField(t, p, 22)}; !cmp.Equal(got, []any{ber.Tag(tagSearchResponse), 10, 0, true}) {
		t.Fatalf("search response %v", got)
	}
	if diff := cmp.Diff(f.last(), Search{Database: "01NET", CQL: `alma.title="history" and alma.creator="author"`, Start: 1, Count: 0}); diff != "" {
		t.Errorf("backend search (-got +want):\n%s", diff)
	}
	c.send(presentPDU("1", 1, 3, OIDUSMARC, ""))
	p = c.recv()
	recs := records(p)
	if len(recs) != 3 || intField(t, p, 24) != 3 || intField(t, p, 25) != 4 || intField(t, p, 27) != 0 {
		t.Fatalf("present: %d records, returned %d, next %d", len(recs), intField(t, p, 24), intField(t, p, 25))
	}
	for i, r := range recs {
		syntax, _ := oidOf(r.Children[0], "oid")
		want, _ := f.records[i].AppendISO2709(nil)
		if syntax != OIDUSMARC || string(content(r.Children[1])) != string(want) {
			t.Errorf("record %d: syntax %s, data differs from AppendISO2709", i+1, syntax)
		}
	}
	c.send(presentPDU("1", 4, 1, OIDXML, "marcxml"))
	p = c.recv()
	recs = records(p)
	if len(recs) != 1 || string(content(recs[0].Children[1])) != string(f.records[3].AppendMARCXML(nil)) {
		t.Fatalf("marcxml record differs")
	}
	c.send(presentPDU("1", 4, 1, OIDXML, "dc"))
	if recs = records(c.recv()); len(recs) != 1 || string(content(recs[0].Children[1])) != string(f.records[3].AppendDC(nil)) {
		t.Fatalf("dc record differs")
	}
	// SUTRS travels as single-ASN1-type text, OPAC as an OPACRecord with
	// one holdings entry per member 852.
	c.send(presentPDU("1", 1, 1, OIDSUTRS, ""))
	recs = records(c.recv())
	if text := string(content(recs[0].Children[1].Children[0])); !strings.HasPrefix(text, "Title: Aesthetik der bildenden Kunst") {
		t.Errorf("sutrs %q", text)
	}
	c.send(presentPDU("1", 1, 1, OIDOPAC, ""))
	recs = records(c.recv())
	opac := recs[0].Children[1].Children[0]
	holdings := child(opac, 2)
	var nuc []string
	for _, h := range holdings.Children {
		nuc = append(nuc, string(content(child(h, 8))))
	}
	var want []string
	for _, h := range f.records[0].Holdings {
		want = append(want, h.Institution)
	}
	if diff := cmp.Diff(nuc, want); diff != "" || len(want) == 0 {
		t.Errorf("opac holdings (-got +want):\n%s", diff)
	}
	// Out of range, unknown set, unsupported syntax and element set.
	for _, tt := range []struct {
		name string
		pdu  []byte
		want int
	}{
		{"past the end", presentPDU("1", 11, 1, "", ""), 13},
		{"start zero", presentPDU("1", 0, 1, "", ""), 13},
		{"unknown set", presentPDU("nope", 1, 1, "", ""), 30},
		{"unsupported syntax", presentPDU("1", 1, 1, "1.2.840.10003.5.1", ""), 239},
		{"element set of another syntax", presentPDU("1", 1, 1, OIDUSMARC, "dc"), 25},
		{"unknown element set", presentPDU("1", 1, 1, OIDXML, "mods"), 25},
		{"additional ranges", presentPDU("1", 1, 1, "", "", ctxCons(212)), 243},
	} {
		c.send(tt.pdu)
		p := c.recv()
		if n, _ := diagOf(p); p.Tag != tagPresentResponse || n != tt.want || intField(t, p, 27) != 5 {
			t.Errorf("%s: diagnostic %d, want %d", tt.name, n, tt.want)
		}
	}
	// Delete the set: presenting it again is diagnostic 30.
	c.send(fixture(t, "07-deleteResultSet.ber"))
	if p := c.recv(); p.Tag != tagDeleteResponse || intField(t, p, 0) != 0 {
		t.Fatalf("delete: %v", describe(p))
	}
	c.send(presentPDU("1", 1, 1, "", ""))
	if n, _ := diagOf(c.recv()); n != 30 {
		t.Errorf("present after delete: %d, want 30", n)
	}
	c.send(fixture(t, "08-close.ber"))
	if r := closeReason(c.recv()); r != CloseFinished {
		t.Errorf("close reason %d", r)
	}
}

func TestNamedResultSetsAndPiggyback(t *testing.T) {
	f := newFake(t)
	_, addr := startServer(t, f, Config{MaxResultSets: 3})
	c := dial(t, addr)
	c.init()
	// Small set: every hit comes back with the search.
	c.send(searchPDU(searchOpts{name: "a", small: 10, syntax: OIDXML, esn: "marcxml"}))
	p := c.recv()
	if n := len(records(p)); n != 10 || intField(t, p, 24) != 10 || intField(t, p, 25) != 11 {
		t.Fatalf("small set piggy-back: %d records", n)
	}
	// Medium set: mediumSetPresentNumber of them.
	c.send(searchPDU(searchOpts{name: "b", small: 2, large: 100, medium: 4}))
	if n := len(records(c.recv())); n != 4 {
		t.Fatalf("medium set piggy-back: %d records", n)
	}
	// Large set: none.
	c.send(searchPDU(searchOpts{name: "c", small: 0, large: 5, medium: 4}))
	if p := c.recv(); child(p, 28) != nil || intField(t, p, 24) != 0 {
		t.Fatalf("large set had records")
	}
	// The three sets live side by side; a fourth is refused (112), a
	// replacement is not, and replace off on an existing name is 21.
	c.send(presentPDU("a", 2, 1, "", ""))
	if len(records(c.recv())) != 1 {
		t.Fatal("set a lost")
	}
	for _, tt := range []struct {
		o    searchOpts
		want int
	}{
		{searchOpts{name: "d"}, 112},
		{searchOpts{name: "b", noRepl: true}, 21},
		{searchOpts{name: "b"}, 0},
		{searchOpts{name: "bad\x01name"}, 128},
		{searchOpts{name: "b", dbs: []string{"nosuch"}}, 235},
		{searchOpts{name: "b", dbs: []string{"Default", "member1"}}, 111},
		{searchOpts{name: "c", query: cqlQuery("alma.nosuchindex=x")}, 114},
		{searchOpts{name: "c", query: cqlQuery("((")}, 108},
		{searchOpts{name: "c", query: ctxCons(2, ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "x", ""))}, 107},
		{searchOpts{name: "c", query: rpnQuery("x", 1, 4), syntax: "1.2.840.10003.5.1", small: 10}, 239},
	} {
		c.send(searchPDU(tt.o))
		p := c.recv()
		n, info := diagOf(p)
		if n != tt.want {
			t.Errorf("search %+v: diagnostic %d (%s), want %d", tt.o.name, n, info, tt.want)
		}
	}
	// A search referring to set a by name ANDs its query in.
	c.send(searchPDU(searchOpts{name: "b", query: func() *ber.Packet {
		q := ctxCons(1)
		q.AppendChild(oid(OIDBib1Attributes))
		op := ctxCons(1, ctxCons(0, ctxString(31, "a")), operand("x", 1, 21), ctxCons(46, ctxBytes(0, nil)))
		q.AppendChild(op)
		return q
	}()}))
	if p := c.recv(); intField(t, p, 23) != 10 {
		t.Fatal("search in a result set failed")
	}
	if got := f.last().CQL; got != `alma.title="history" and alma.subjects="x"` {
		t.Errorf("result set reference gave %s", got)
	}
}

func TestResultSetExpiry(t *testing.T) {
	f := newFake(t)
	var skew atomic.Int64
	_, addr := startServer(t, f, Config{ResultSetTTL: time.Minute}, func(s *Server) {
		s.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	c := dial(t, addr)
	c.init()
	c.send(searchPDU(searchOpts{name: "x"}))
	c.recv()
	skew.Store(int64(2 * time.Minute))
	c.send(presentPDU("x", 1, 1, "", ""))
	if n, _ := diagOf(c.recv()); n != 27 {
		t.Errorf("expired set: diagnostic %d, want 27", n)
	}
}

func TestMessageSizeHonoured(t *testing.T) {
	f := newFake(t)
	_, addr := startServer(t, f, Config{MaxMessageBytes: 8192})
	c := dial(t, addr)
	c.init() // asks 64 MiB, gets 8 KiB
	c.send(searchPDU(searchOpts{}))
	c.recv()
	c.send(presentPDU("default", 1, 10, OIDUSMARC, ""))
	p := c.recv()
	size := 0
	for _, r := range records(p) {
		if r != nil {
			size += len(content(r.Children[1]))
		}
	}
	if n := intField(t, p, 24); n == 0 || n == 10 || intField(t, p, 27) != 2 || size > 8192 {
		t.Errorf("8 KiB message: %d records, %d bytes, status %d; want a partial-2 cut", n, size, intField(t, p, 27))
	}
	// One record larger than the whole message (4 KiB, the least the
	// server grants; the first SLSP record is 4.5 KiB in ISO 2709): a
	// surrogate diagnostic 16 in its place.
	_, addr = startServer(t, f, Config{MaxMessageBytes: 4096})
	c = dial(t, addr)
	c.init()
	c.send(searchPDU(searchOpts{}))
	c.recv()
	c.send(presentPDU("default", 1, 1, OIDUSMARC, ""))
	p = c.recv()
	if n, _ := diagOf(p); n != 16 || intField(t, p, 24) != 1 {
		t.Errorf("oversized record: diagnostic %d, want 16", n)
	}
}

func TestUnsupportedServices(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{})
	c := dial(t, addr)
	c.init()
	for _, tt := range []struct {
		tag, resp int
	}{{tagScanRequest, tagScanResponse}, {tagSortRequest, tagSortResponse}, {tagESRequest, tagESResponse}} {
		c.send(pdu(tt.tag, []byte("r")))
		p := c.recv()
		if n, _ := diagOf(p); p.Tag != ber.Tag(tt.resp) || n != 1025 {
			t.Errorf("[%d]: answered %s with diagnostic %d", tt.tag, describe(p), n)
		}
	}
	c.send(searchPDU(searchOpts{}))
	if p := c.recv(); p.Tag != tagSearchResponse {
		t.Error("session unusable after the unsupported services")
	}
}

func TestBackendFailureIsDiagnostic2(t *testing.T) {
	f := newFake(t)
	f.err = errors.New("Alma SRU unreachable: connection refused")
	_, addr := startServer(t, f, Config{})
	c := dial(t, addr)
	c.init()
	c.send(searchPDU(searchOpts{}))
	p := c.recv()
	n, info := diagOf(p)
	if n != 2 || info != "Alma SRU unreachable: connection refused" || boolField(t, p, 22) {
		t.Errorf("diagnostic %d %q", n, info)
	}
	// A hang: the search deadline answers 2.
	f.mu.Lock()
	f.err, f.block = nil, make(chan struct{})
	f.mu.Unlock()
	_, addr = startServer(t, f, Config{SearchTimeout: 50 * time.Millisecond})
	c = dial(t, addr)
	c.init()
	c.send(searchPDU(searchOpts{}))
	if n, info := diagOf(c.recv()); n != 2 || !strings.Contains(info, "did not answer") {
		t.Errorf("hang: diagnostic %d %q", n, info)
	}
	close(f.block)
}

// settleGoroutines waits (as a hang guard, not a timing assertion) until
// the goroutine count is back to at most base.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("goroutines: %d, want at most %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
}

// growingBackend is a merged result that deepens as it is paged: it holds
// the first round records of its list, answers Total as the records held
// and More while the list has more, and fetches further rounds when asked
// for positions past them (as the gateway's federation does). stall makes
// the next deepening bring nothing (targets that missed the deadline).
type growingBackend struct {
	*fakeBackend
	round, held int
	stall       int
}

func (g *growingBackend) Search(ctx context.Context, q Search) (*Result, error) {
	g.mu.Lock()
	g.searches = append(g.searches, q)
	if g.stall > 0 && q.Start+q.Count-1 > g.held {
		g.stall--
	} else {
		for g.held < len(g.records) && (g.held == 0 || g.held < q.Start+q.Count-1) {
			g.held = min(g.held+g.round, len(g.records))
		}
	}
	held := g.held
	g.mu.Unlock()
	res := &Result{Total: held, More: held < len(g.records)}
	for i := q.Start - 1; i < q.Start-1+q.Count && i < held; i++ {
		res.Records = append(res.Records, EncodeRecord(g.records[i], q.Syntax, q.ElementSet))
	}
	return res, nil
}

// TestPresentPastAGrowingSet: a result set whose Backend says more may
// come (a merged group) is paged past the count the Search gave: the
// present asks the Backend, the set's count grows with the answers, and a
// client paging by nextResultSetPosition gets every record once, in order,
// to the end, where next is 0 and a present past it is diagnostic 13. A
// deepening that brings nothing is partial-4 with next where it was.
func TestPresentPastAGrowingSet(t *testing.T) {
	g := &growingBackend{fakeBackend: newFake(t), round: 2, stall: 1}
	_, addr := startServer(t, g, Config{})
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hits, err := c.SearchCQL("Default", "default", `alma.title="history"`)
	if err != nil || hits != 2 {
		t.Fatalf("search: %d hits, %v; want the first round's 2", hits, err)
	}
	var got [][]byte
	stalled := 0
	for pos, pages := 1, 0; pos != 0; pages++ {
		if pages > 20 {
			t.Fatal("more than 20 pages")
		}
		recs, info, err := c.PresentPage("default", pos, 2, OIDUSMARC)
		if err != nil {
			t.Fatalf("present at %d: %v", pos, err)
		}
		if len(recs) == 0 {
			if info.Status != 4 || info.Next != pos {
				t.Fatalf("present at %d: no records, status %d, next %d; want partial-4 and next %d", pos, info.Status, info.Next, pos)
			}
			stalled++
			continue
		}
		if info.Next != 0 && info.Next != pos+len(recs) {
			t.Fatalf("present at %d: %d records, next %d", pos, len(recs), info.Next)
		}
		got = append(got, recs...)
		pos = info.Next
	}
	if len(got) != len(g.records) || stalled != 1 {
		t.Fatalf("%d records paged, %d stalled pages; want all %d and 1", len(got), stalled, len(g.records))
	}
	for i, r := range got {
		if want, _ := g.records[i].AppendISO2709(nil); string(r) != string(want) {
			t.Errorf("record at %d is not the list's record %d", i+1, i+1)
		}
	}
	// Past the end, now known: diagnostic 13 naming the grown count.
	_, err = c.Present("default", len(g.records)+1, 1, OIDUSMARC)
	var d *Diagnostic
	if !errors.As(err, &d) || d.Condition != 13 || !strings.Contains(d.AddInfo, "has 10 records") {
		t.Errorf("present past the end: %v, want diagnostic 13 with the grown count", err)
	}
	// A search again counts what is held now.
	if hits, err := c.SearchCQL("Default", "default", `alma.title="history"`); err != nil || hits != len(g.records) {
		t.Errorf("search again: %d hits, %v", hits, err)
	}
	// A set that cannot grow is still refused past its count without
	// asking the Backend.
	f := newFake(t)
	f.total = 4
	_, addr2 := startServer(t, f, Config{})
	c2, err := Dial(context.Background(), addr2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.SearchCQL("Default", "default", `alma.title="history"`); err != nil {
		t.Fatal(err)
	}
	asked := f.calls()
	if _, err := c2.Present("default", 5, 1, OIDUSMARC); !errors.As(err, &d) || d.Condition != 13 || f.calls() != asked {
		t.Errorf("present past a fixed set: %v, %d backend calls; want diagnostic 13 and none", err, f.calls()-asked)
	}
}

func (f *fakeBackend) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.searches)
}
