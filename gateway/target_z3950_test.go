package gateway

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/z3950"
)

// zSimBackend serves the simulator's network catalogue over Z39.50, the way
// a partner's catalogue would (through the z3950 package's own server):
// its records are the NZ's, so they merge with nz's by MMS ID. front are
// raw records put before the catalogue's in every result (MARC-8, or
// undecodable); diag makes every search fail with that Bib-1 diagnostic;
// hang makes a backend call wait until its context ends.
type zSimBackend struct {
	sim *almasim.Simulator

	mu       sync.Mutex
	front    []z3950.Record
	diag     *z3950.Diagnostic
	hang     func(q z3950.Search) bool
	searches []z3950.Search
}

func (b *zSimBackend) Database(name string) (string, bool) {
	if strings.EqualFold(name, "nosuch") {
		return "", false
	}
	return "Default", true
}

func (b *zSimBackend) Indexes() *sru.IndexSet { return nil }

func (b *zSimBackend) Search(ctx context.Context, q z3950.Search) (*z3950.Result, error) {
	b.mu.Lock()
	b.searches = append(b.searches, q)
	sim, front, d, hang := b.sim, b.front, b.diag, b.hang
	b.mu.Unlock()
	if hang != nil && hang(q) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d != nil {
		return nil, d
	}
	ids, err := sim.Search(q.CQL)
	if err != nil {
		return nil, &z3950.Diagnostic{Condition: 2, AddInfo: err.Error()}
	}
	res := &z3950.Result{Total: len(front) + len(ids)}
	for i := q.Start - 1; i < q.Start-1+q.Count && i < res.Total; i++ {
		if i < len(front) {
			res.Records = append(res.Records, front[i])
			continue
		}
		r, _ := sim.Record(ids[i-len(front)])
		rec, err := transform.Parse(r.MARCXML)
		if err != nil {
			return nil, err
		}
		res.Records = append(res.Records, z3950.EncodeRecord(rec, q.Syntax, q.ElementSet))
	}
	return res, nil
}

func (b *zSimBackend) set(f func(b *zSimBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// serveZ serves b over Z39.50 on loopback until the test ends.
func serveZ(t testing.TB, b z3950.Backend) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := z3950.NewServer(b, z3950.Config{}, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// zTargetConfig is a Z39.50 target named name at addr, defaults otherwise.
func zTargetConfig(name, addr string) TargetConfig {
	return TargetConfig{Name: name, ZTargetFields: ZTargetFields{Protocol: config.ProtocolZ3950, Address: addr, Database: "Default"}}
}

// zFedEnv is fedEnv with the Z39.50 targets zs added to the group "all"
// (mutate, if given, changes the config after); b, if given, serves the
// env's simulator. It returns the group's names.
func zFedEnv(t *testing.T, b *zSimBackend, zs []TargetConfig, mutate func(*Config)) (*testEnv, []string) {
	t.Helper()
	var names []string
	env, _ := fedEnv(t, func(cfg *Config) {
		cfg.Federation.Targets = append(cfg.Federation.Targets, zs...)
		for _, z := range zs {
			cfg.Federation.Groups["all"] = append(cfg.Federation.Groups["all"], z.Name)
		}
		names = cfg.Federation.Groups["all"]
		if mutate != nil {
			mutate(cfg)
		}
	})
	if b != nil {
		b.set(func(b *zSimBackend) { b.sim = env.sim })
	}
	return env, names
}

func (e *testEnv) origin(name string) *z3950.Origin {
	e.t.Helper()
	t, ok := e.gw.reg.Get(name)
	if !ok {
		e.t.Fatalf("no target %s", name)
	}
	return t.Origin()
}

func targetState0(r fedJSON, name string) (st struct {
	Status     string
	Hits       int
	Fetched    int
	Dropped    int
	Diagnostic *JSONDiagnostic
}) {
	for _, tg := range r.Targets {
		if tg.Name == name {
			st.Status, st.Hits, st.Fetched, st.Dropped, st.Diagnostic = tg.Status, tg.Hits, tg.Fetched, tg.Dropped, tg.Diagnostic
		}
	}
	return st
}

// TestZ3950TargetFederated federates a Z39.50 target (the simulator's
// network catalogue behind the z3950 package's server) with nz, two
// members and the external SRU target: it answers with the network's hit
// count, its records merge with nz's, a second search reuses its session,
// alone its records keep its order, and it is listed wherever targets are.
func TestZ3950TargetFederated(t *testing.T) {
	b := &zSimBackend{}
	env, names := zFedEnv(t, b, []TargetConfig{zTargetConfig("zt", serveZ(t, b))}, nil)
	want, err := env.sim.Search(`alma.all_for_ui="history"`)
	if err != nil {
		t.Fatal(err)
	}
	code, _, r := env.fed(url.Values{"q": {"history"}, "targets": {"all"}, "limit": {"100"}})
	if code != 200 {
		t.Fatalf("status %d: %v", code, r.Diagnostics)
	}
	for _, n := range names {
		if r.status()[n] != search.StatusOK {
			t.Errorf("target %s: %s %+v", n, r.status()[n], targetState0(r, n).Diagnostic)
		}
	}
	zt := targetState0(r, "zt")
	if zt.Hits != len(want) || zt.Fetched != min(100, len(want)) || zt.Dropped != 0 {
		t.Errorf("zt: %+v, want %d hits", zt, len(want))
	}
	if got := b.searches[0].CQL; got != `alma.all_for_ui="history"` { // the server reads back the RPN the adapter sent
		t.Errorf("the target was asked %q", got)
	}
	withZ, withBoth := 0, 0
	for _, rec := range r.Records {
		var z, nz bool
		for _, s := range rec.Sources {
			z = z || s.Target == "zt"
			nz = nz || s.Target == NZTarget
			if s.Target == "zt" && s.ID != rec.MMSID {
				t.Errorf("zt's record %s is the network's %s", s.ID, rec.MMSID)
			}
		}
		if z {
			withZ++
		}
		if z && nz {
			withBoth++
		}
	}
	if withZ == 0 || withBoth != withZ {
		t.Errorf("%d records from zt, %d of them merged with nz's", withZ, withBoth)
	}

	o := env.origin("zt")
	if o.Inits() != 1 {
		t.Errorf("%d Inits after one search", o.Inits())
	}
	code, _, r = env.fed(url.Values{"q": {"alma.title=science"}, "targets": {"all"}})
	if code != 200 || r.status()["zt"] != search.StatusOK || o.Inits() != 1 {
		t.Errorf("a second search: %d, zt %s, %d Inits (want the session reused)", code, r.status()["zt"], o.Inits())
	}

	// Alone it is a pass-through (SPEC 14): its own total, its records in
	// its own order, each under the {target}:{id} that /v1/records opens.
	code, _, r = env.fed(url.Values{"q": {"history"}, "targets": {"zt"}, "limit": {"10"}, "start": {"11"}})
	if code != 200 || r.Total != len(want) || len(r.Records) != 10 || r.Records[0].MMSID != "zt:"+want[10] {
		t.Errorf("zt alone: %d, total %d (want %d), %d records", code, r.Total, len(want), len(r.Records))
	}

	// It is listed wherever targets are.
	code, _, body := env.get("/v1/status")
	if code != 200 || !strings.Contains(string(body), `"z3950:zt"`) {
		t.Errorf("/v1/status lacks z3950:zt: %s", body)
	}
	_, _, body = env.get("/metrics")
	if want := `gateway_target_info{kind="z3950",target="zt",upstream="z3950:zt"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if dbs := env.gw.Z3950Databases(); !strings.Contains(strings.Join(dbs, ","), "zt") {
		t.Errorf("Z39.50 databases %v lack zt", dbs)
	}
}

// iso2709 builds an ISO 2709 record with leader/09 coding from fields
// given as tag + content (indicators and 0x1F-coded subfields for data
// fields), as a target sends it.
func iso2709(coding byte, fields ...string) []byte {
	var dir, data []byte
	for _, f := range fields {
		v := f[3:] + "\x1e"
		dir = append(dir, f[:3]...)
		dir = append(dir, zeroPad(len(v), 4)...)
		dir = append(dir, zeroPad(len(data), 5)...)
		data = append(data, v...)
	}
	base := 24 + len(dir) + 1
	leader := []byte(zeroPad(base+len(data)+1, 5) + "nam ?22" + zeroPad(base, 5) + " a 4500")
	leader[9] = coding
	out := append(append(leader, dir...), 0x1e)
	return append(append(out, data...), 0x1d)
}

func zeroPad(n, w int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", max(0, w-len(s))) + s
}

// TestZ3950TargetMARC8AndUndecodable: a target that sends MARC-8 records
// (leader/09 blank) has them decoded to UTF-8 NFC; a record that cannot be
// decoded (a CJK set the decoder does not take) is dropped and counted in
// the target's status, and the rest of its answer stands.
func TestZ3950TargetMARC8AndUndecodable(t *testing.T) {
	b := &zSimBackend{}
	env, _ := zFedEnv(t, b, []TargetConfig{zTargetConfig("zt", serveZ(t, b))}, nil)
	marc8 := iso2709(' ', "001zt-marc8-1",
		"10010\x1faM\xe8uller, Jos\xe2e,\x1fd1950-",
		"24510\x1faStra\xc7e und Pl\xe8atze :\x1fbGeschichte einer Stadt /\x1fcJ. M\xe8uller.",
		"260  \x1faZ\xe8urich :\x1fbVerlag,\x1fc1999.")
	cjk := iso2709(' ', "001zt-cjk-1", "24510\x1fa\x1b$1!0\x23\x1b(B history")
	b.set(func(b *zSimBackend) {
		b.front = []z3950.Record{{External: zExternal(z3950.OIDUSMARC, marc8)}, {External: zExternal(z3950.OIDUSMARC, cjk)}}
	})
	want, _ := env.sim.Search(`alma.all_for_ui="history"`)
	code, _, r := env.fed(url.Values{"q": {"history"}, "targets": {"all"}, "limit": {"100"}})
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	zt := targetState0(r, "zt")
	if zt.Status != search.StatusOK || zt.Dropped != 1 || zt.Hits != len(want)+2 || zt.Fetched != min(100, len(want)+2)-1 {
		t.Errorf("zt: %+v (hits %d + 2 front)", zt, len(want))
	}
	code, _, r = env.fed(url.Values{"q": {"history"}, "targets": {"zt"}, "limit": {"5"}})
	if code != 200 || len(r.Records) == 0 {
		t.Fatalf("zt alone: %d, %d records", code, len(r.Records))
	}
	if got := r.Records[0].Title; !strings.HasPrefix(got, "Straße und Plätze") {
		t.Errorf("the MARC-8 record's title is %q", got)
	}
	if r.Records[0].MMSID != "zt:zt-marc8-1" {
		t.Errorf("first record %s", r.Records[0].MMSID)
	}
}

// TestZ3950TargetDiagnosticAndSkip: the target's Bib-1 diagnostic is its
// status in words (with the condition's URI and its addinfo) while the
// others answer; a query using an index its map lacks is not sent there
// (skipped, diagnostic 16), nor one that Bib-1 cannot say.
func TestZ3950TargetDiagnosticAndSkip(t *testing.T) {
	b := &zSimBackend{}
	z := zTargetConfig("zt", serveZ(t, b))
	z.IndexMap = map[string]string{"alma.all_for_ui": "1=1016", "alma.title": "1=4 4=1"}
	env, _ := zFedEnv(t, b, []TargetConfig{z}, nil)
	b.set(func(b *zSimBackend) { b.diag = &z3950.Diagnostic{Condition: 114, AddInfo: "1016"} })
	code, _, r := env.fed(url.Values{"q": {"history"}, "targets": {"all"}})
	if code != 200 || r.status()[NZTarget] != search.StatusOK || len(r.Records) == 0 {
		t.Fatalf("%d, nz %s, %d records", code, r.status()[NZTarget], len(r.Records))
	}
	zt := targetState0(r, "zt")
	wantDiag := &JSONDiagnostic{URI: "info:oid/1.2.840.10003.4.1/114", Message: (&z3950.Diagnostic{Condition: 114, AddInfo: "1016"}).Error(), Details: "1016"}
	if zt.Status != search.StatusDiagnostic || !cmp.Equal(zt.Diagnostic, wantDiag) || !strings.Contains(zt.Diagnostic.Message, "use attribute") {
		t.Errorf("zt: %+v %+v, want %+v", zt, zt.Diagnostic, wantDiag)
	}

	b.set(func(b *zSimBackend) { b.diag = nil })
	n := len(b.searches)
	for _, q := range []string{"alma.creator=smith", `alma.title="hist*ory"`} {
		code, _, r = env.fed(url.Values{"query": {q}, "targets": {"all"}})
		zt = targetState0(r, "zt")
		if code != 200 || zt.Status != search.StatusSkipped || zt.Diagnostic == nil {
			t.Errorf("%s: %d, zt %+v", q, code, zt)
		}
	}
	if zt := targetState0(r, "zt"); zt.Diagnostic != nil && zt.Diagnostic.URI != "info:srw/diagnostic/1/28" {
		t.Errorf("masking inside a term: %+v", zt.Diagnostic)
	}
	if len(b.searches) != n {
		t.Errorf("skipped queries reached the target: %+v", b.searches[n:])
	}
}

// zExternal is an EXTERNAL holding data in syntax (octet-aligned), as a
// target's response record carries it.
func zExternal(syntax string, data []byte) []byte {
	e := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagExternal, nil, "")
	e.AppendChild(ber.NewOID(ber.ClassUniversal, ber.TypePrimitive, ber.TagObjectIdentifier, syntax, ""))
	d := ber.Encode(ber.ClassContext, ber.TypePrimitive, 1, nil, "")
	d.Data.Write(data)
	e.AppendChild(d)
	return e.Bytes()
}

// zScripted serves each connection with handle, a misbehaving Z39.50
// target, until the test ends (connections are closed then).
func zScripted(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// zPDU is a PDU [tag] IMPLICIT SEQUENCE of fields.
func zPDU(tag int, fields ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassContext, ber.TypeConstructed, ber.Tag(tag), nil, "")
	for _, f := range fields {
		p.AppendChild(f)
	}
	return p.Bytes()
}

func zCtxBool(tag int, v bool) *ber.Packet {
	return ber.NewBoolean(ber.ClassContext, ber.TypePrimitive, ber.Tag(tag), v, "")
}

// zInitOK is an initResponse accepting the Init.
var zInitOK = zPDU(21, zCtxBool(12, true))

// zRead reads the origin's next PDU; false when the connection ended.
func zRead(c net.Conn) bool {
	_, err := ber.ReadPacket(c)
	return err == nil
}

func zWrite(c net.Conn, b []byte) bool {
	_, err := c.Write(b)
	return err == nil
}

// TestZ3950HostileTargets federates the network, two members, the
// external SRU target and one Z39.50 target of each kind of misbehaviour.
// Each costs at most the federation deadline: the answer comes with the
// others' records, the hung ones are timeout (still working at the
// deadline, their own timeout is longer), and the others' status says
// what went wrong in words. The gateway's process and its other
// sessions are untouched: the next search answers the same way.
func TestZ3950HostileTargets(t *testing.T) {
	hangPresent := &zSimBackend{}
	hangPresent.hang = func(q z3950.Search) bool { return q.Start > 1 && q.Count > 0 } // the second Present hangs
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there
	hostile := []struct {
		name, addr string
		status     string
		words      string // in the status's diagnostic details
	}{
		{"silent", zScripted(t, func(c net.Conn) { io.Copy(io.Discard, c) }), search.StatusTimeout, "no answer within the federation deadline of 3s"},
		{"midpresent", serveZ(t, hangPresent), search.StatusTimeout, "no answer within the federation deadline of 3s"},
		{"closer", zScripted(t, func(c net.Conn) {
			if zRead(c) && zWrite(c, zInitOK) && zRead(c) {
				c.Write(zPDU(48, ber.NewInteger(ber.ClassContext, ber.TypePrimitive, 211, 2, ""), ber.NewString(ber.ClassContext, ber.TypePrimitive, 3, "going away", "")))
			}
		}), search.StatusError, "closed the session (system problem): going away"},
		{"garbage", zScripted(t, func(c net.Conn) {
			if zRead(c) && zWrite(c, zInitOK) && zRead(c) {
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
				io.Copy(io.Discard, c)
			}
		}), search.StatusError, "malformed"},
		{"oversize", zScripted(t, func(c net.Conn) {
			if zRead(c) && zWrite(c, zInitOK) && zRead(c) {
				c.Write([]byte{0xb7, 0x84, 0x10, 0x00, 0x00, 0x00}) // a searchResponse of 256 MiB
				io.Copy(io.Discard, c)
			}
		}), search.StatusError, "malformed or oversize"},
		{"truncated", zScripted(t, func(c net.Conn) {
			if zRead(c) && zWrite(c, zInitOK) && zRead(c) {
				c.Write([]byte{0xb7, 0x82, 0x01, 0x00, 0x97, 0x01}) // 256 bytes announced, 2 sent, then the end
			}
		}), search.StatusError, "the Z39.50 target"},
		{"refuser", zScripted(t, func(c net.Conn) {
			if zRead(c) {
				c.Write(zPDU(21, zCtxBool(12, false), ber.NewString(ber.ClassContext, ber.TypePrimitive, 111, "Zebra", "")))
			}
		}), search.StatusError, "refused the Init (Zebra)"},
		{"unreachable", deadAddr, search.StatusError, "could not be reached"},
		{"shortfuse", zScripted(t, func(c net.Conn) { io.Copy(io.Discard, c) }), search.StatusTimeout, "the Z39.50 target did not answer within 300ms"},
	}
	var zs []TargetConfig
	for _, h := range hostile {
		z := zTargetConfig(h.name, h.addr)
		z.Timeout = Duration(20 * time.Second) // far past the federation deadline: the deadline, not the target, ends the wait
		if h.name == "shortfuse" {
			z.Timeout = Duration(300 * time.Millisecond) // its own deadline ends it first
		}
		zs = append(zs, z)
	}
	env, names := zFedEnv(t, hangPresent, zs, nil)
	for round := 0; round < 2; round++ {
		code, _, r := env.fed(url.Values{"q": {"history"}, "targets": {"all"}, "limit": {"100"}})
		if code != 200 || len(r.Records) != 100 {
			t.Fatalf("round %d: %d, %d records", round, code, len(r.Records))
		}
		for _, n := range names[:4] {
			if st := targetState0(r, n); st.Status != search.StatusOK || st.Fetched == 0 {
				t.Errorf("round %d: %s beside the hostile targets: %+v", round, n, st)
			}
		}
		for _, h := range hostile {
			st := targetState0(r, h.name)
			if st.Status != h.status || st.Fetched != 0 {
				t.Errorf("round %d: %s: %+v %+v, want %s", round, h.name, st, st.Diagnostic, h.status)
				continue
			}
			if h.words != "" && (st.Diagnostic == nil || !strings.Contains(st.Diagnostic.Details, h.words)) {
				t.Errorf("round %d: %s: diagnostic %+v, want words %q", round, h.name, st.Diagnostic, h.words)
			}
		}
		if round == 0 {
			// The answer at the deadline is not cached as complete: ask a
			// new query the second time, as a later client would.
			env.now.Advance(time.Hour)
		}
	}
}

// memoBackend answers each search from memory after the first, as a
// target's own cache would, so that what a benchmark measures is the
// session and the adapter, not the simulator's search.
type memoBackend struct {
	*zSimBackend
	m sync.Map
}

func (b *memoBackend) Search(ctx context.Context, q z3950.Search) (*z3950.Result, error) {
	k := q.CQL + "|" + strconv.Itoa(q.Start) + "|" + strconv.Itoa(q.Count) + "|" + q.Syntax + "|" + q.ElementSet
	if r, ok := b.m.Load(k); ok {
		return r.(*z3950.Result), nil
	}
	r, err := b.zSimBackend.Search(ctx, q)
	if err == nil {
		b.m.Store(k, r)
	}
	return r, err
}

// delayProxy forwards connections to addr, holding every chunk for
// oneWay in each direction (a round trip of twice that), until the
// benchmark ends.
func delayProxy(tb testing.TB, addr string, oneWay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				time.Sleep(oneWay)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return ln.Addr().String()
}

// BenchmarkZ3950TargetSearch is one search of a Z39.50 target through its
// registered (guarded) adapter, 10 records piggy-backed, against the
// simulated network behind the z3950 package's server (answering from
// memory after the first search): warm on the pooled
// session (no Init), cold with the pool closed so that every search dials
// and makes its Init. inits/op says which it was. The search asks 10 of
// 487 hits, so it is a Search and a Present (two round trips) warm, and
// a connect, an Init, a Search, a Present and a Close cold.
func BenchmarkZ3950TargetSearch(b *testing.B) {
	be := &zSimBackend{}
	addr := serveZ(b, &memoBackend{zSimBackend: be})
	env, _ := fedEnvTB(b, almasim.Config{Seed: 7, Records: 800}, func(cfg *Config) {
		cfg.Federation.Targets = append(cfg.Federation.Targets, zTargetConfig("zt", addr),
			zTargetConfig("far", delayProxy(b, addr, time.Millisecond)))
		cfg.Upstream.RatePerSecond, cfg.Upstream.RateBurst = 1e6, 1000 // the call budget would pace it at 20/s
	})
	be.set(func(z *zSimBackend) { z.sim = env.sim })
	q := TargetQuery{CQL: `alma.all_for_ui="history"`, Start: 1, Count: 10}
	for _, name := range []string{"zt", "far"} {
		t, _ := env.gw.reg.Get(name)
		o := t.Origin()
		search := func(b *testing.B) {
			inits := o.Inits()
			for b.Loop() {
				p, err := t.Target.Search(context.Background(), q)
				if err != nil || len(p.Records) != 10 {
					b.Fatal(p, err)
				}
			}
			b.ReportMetric(float64(o.Inits()-inits)/float64(b.N), "inits/op")
		}
		rtt := "loopback"
		if name == "far" {
			rtt = "rtt=2ms"
		}
		b.Run(rtt+"/warm", search)
		b.Run(rtt+"/cold", func(b *testing.B) {
			o.Close() // from now on every session is closed after its search
			search(b)
		})
	}
}
