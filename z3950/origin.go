package z3950

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// OIDCharNeg is the character-set and language negotiation definition
// (Z39.50-2003 Appendix 14, version 3) carried in the Init's otherInfo.
const OIDCharNeg = "1.2.840.10003.15.3"

// oidUTF8 is ISO 10646's encoding level for UTF-8, as proposed at Init.
const oidUTF8 = "1.0.10646.1.0.8"

// utf8Level is oidUTF8's content octets, as they appear in a target's
// negotiation response.
var utf8Level = []byte{0x28, 0xd3, 0x16, 0x01, 0x00, 0x08}

// OriginConfig is one Z39.50 target as the gateway searches it (SPEC 15).
type OriginConfig struct {
	Address  string // host:port
	Database string
	// Syntax is the preferred record syntax OID; empty means USMARC.
	Syntax string
	// Elements is the element set name; empty means "F".
	Elements string
	// UTF8 proposes UTF-8 at Init (character-set negotiation).
	UTF8 bool
	// Auth is the idAuthentication: "user/password" (idPass), another
	// string (open), or empty for none.
	Auth string
	// PageSize is the largest Present; zero means 25.
	PageSize int
	// MaxPDU bounds a PDU read from the target; zero means 8 MiB. A
	// longer one is a protocol error of that target.
	MaxPDU int
	// MaxRecord bounds one record; a longer one is dropped and counted.
	// Zero means 1 MiB.
	MaxRecord int
	// MaxIdle is how many idle sessions are kept; zero means 2.
	MaxIdle int
	// IdleTimeout closes a session idle this long; zero means 60s.
	IdleTimeout time.Duration
	// Dial opens connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Origin searches one Z39.50 target over a small pool of sessions: each
// opened once (Init, with UTF-8 proposed and the configured
// idAuthentication), reused by later searches and closed after its idle
// timeout. A reused session the target has closed meanwhile is replaced
// within the same search. Safe for concurrent use.
type Origin struct {
	cfg OriginConfig

	mu     sync.Mutex
	idle   []*originSession
	reaper *time.Timer
	closed bool

	inits atomic.Int64
}

// NewOrigin returns an Origin for cfg (defaults filled in).
func NewOrigin(cfg OriginConfig) *Origin {
	if cfg.Syntax == "" {
		cfg.Syntax = OIDUSMARC
	}
	if cfg.Elements == "" {
		cfg.Elements = "F"
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 25
	}
	if cfg.MaxPDU <= 0 {
		cfg.MaxPDU = 8 << 20
	}
	if cfg.MaxRecord <= 0 {
		cfg.MaxRecord = 1 << 20
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 2
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	return &Origin{cfg: cfg}
}

// Inits counts the Init exchanges made so far (a warm search makes none).
func (o *Origin) Inits() int64 { return o.inits.Load() }

// Idle is the number of idle sessions held.
func (o *Origin) Idle() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.idle)
}

// Close closes the idle sessions; sessions in use close when returned.
func (o *Origin) Close() {
	o.mu.Lock()
	idle := o.idle
	o.idle, o.closed = nil, true
	if o.reaper != nil {
		o.reaper.Stop()
	}
	o.mu.Unlock()
	for _, s := range idle {
		s.close(true)
	}
}

// Retrieved is one record of a result: its data in its syntax, or why it
// is missing.
type Retrieved struct {
	Position int
	Syntax   string // record syntax OID
	Data     []byte
	// Diagnostic is the target's surrogate diagnostic instead of the
	// record.
	Diagnostic *Diagnostic
	// Problem says why the record could not be taken (oversize, an
	// encoding other than octets, malformed); "" when Data is the record.
	Problem string
}

// OriginResult is one search's answer.
type OriginResult struct {
	Hits    int
	Records []Retrieved
	// Diagnostic is the target's non-surrogate diagnostic: the search
	// failed there (no records).
	Diagnostic *Diagnostic
	// Warm says the search ran on a session opened earlier (no Init).
	Warm bool
	// Charset is the character set the target selected at Init
	// ("utf-8", or the name of another it chose), "" when it did not
	// negotiate.
	Charset string
}

// Search runs q on the target and retrieves records start..start+count-1
// (1-based; count 0 asks the hit count only): piggy-backed on the search
// when they fit one page, then by Present in pages of PageSize. Errors
// are the target's failures (connection, Init refused, Close, malformed
// or oversize PDU, ctx); a Bib-1 diagnostic is an answer (OriginResult.Diagnostic).
func (o *Origin) Search(ctx context.Context, q *RPNNode, start, count int) (*OriginResult, error) {
	start = max(start, 1)
	for attempt := 0; ; attempt++ {
		s, warm, err := o.session(ctx)
		if err != nil {
			return nil, err
		}
		res, err := s.search(ctx, &o.cfg, q, start, count)
		if err == nil {
			res.Warm, res.Charset = warm, s.charset
			o.release(s)
			return res, nil
		}
		s.close(false)
		if warm && attempt == 0 && ctx.Err() == nil && !isTimeout(err) {
			continue // closed while idle: reopen within the same deadline
		}
		return nil, err
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// session returns an idle session or opens one.
func (o *Origin) session(ctx context.Context) (*originSession, bool, error) {
	now := time.Now()
	o.mu.Lock()
	for len(o.idle) > 0 {
		s := o.idle[len(o.idle)-1]
		o.idle = o.idle[:len(o.idle)-1]
		if now.Sub(s.used) < o.cfg.IdleTimeout {
			o.mu.Unlock()
			return s, true, nil
		}
		go s.close(true)
	}
	o.mu.Unlock()
	s, err := o.open(ctx)
	return s, false, err
}

// release returns a session to the pool, or closes it when the pool is
// full or closed.
func (o *Origin) release(s *originSession) {
	s.used = time.Now()
	o.mu.Lock()
	if o.closed || len(o.idle) >= o.cfg.MaxIdle {
		o.mu.Unlock()
		s.close(true)
		return
	}
	o.idle = append(o.idle, s)
	if o.reaper == nil {
		o.reaper = time.AfterFunc(o.cfg.IdleTimeout, o.reap)
	}
	o.mu.Unlock()
}

// reap closes the sessions idle past the timeout.
func (o *Origin) reap() {
	now := time.Now()
	o.mu.Lock()
	keep := o.idle[:0]
	var old []*originSession
	next := o.cfg.IdleTimeout
	for _, s := range o.idle {
		if age := now.Sub(s.used); age >= o.cfg.IdleTimeout {
			old = append(old, s)
		} else {
			keep = append(keep, s)
			next = min(next, o.cfg.IdleTimeout-age)
		}
	}
	o.idle = keep
	o.reaper = nil
	if len(keep) > 0 && !o.closed {
		o.reaper = time.AfterFunc(next, o.reap)
	}
	o.mu.Unlock()
	for _, s := range old {
		s.close(true)
	}
}

// originSession is one open session with the target.
type originSession struct {
	w       *wire
	used    time.Time
	charset string // what the target selected at Init; "" none
}

// open dials the target and makes the Init.
func (o *Origin) open(ctx context.Context) (*originSession, error) {
	conn, err := o.cfg.Dial(ctx, "tcp", o.cfg.Address)
	if err != nil {
		return nil, err
	}
	s := &originSession{w: newWire(conn, o.cfg.MaxPDU)}
	o.inits.Add(1)
	raw, err := s.w.roundTrip(ctx, initRequest(&o.cfg), 0)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("z3950: init: %w", err)
	}
	p, err := ber.DecodePacketErr(raw)
	if err != nil || p.ClassType != ber.ClassContext || p.Tag != tagInitResponse {
		conn.Close()
		return nil, protoErr("the answer to the Init is not an initResponse")
	}
	ok := false
	var impl string
	for _, c := range p.Children {
		switch {
		case isCtx(c, 12):
			ok, _ = boolOf(c, "result")
		case isCtx(c, 111):
			impl = string(content(c))
		}
	}
	if !ok {
		conn.Close()
		msg := "z3950: the target refused the Init"
		if impl != "" {
			msg += " (" + oneLine(impl) + ")"
		}
		if d := diagIn(p); d != nil {
			return nil, fmt.Errorf("%s: %w", msg, d)
		}
		return nil, errors.New(msg)
	}
	if o.cfg.UTF8 {
		s.charset = negotiated(p)
	}
	return s, nil
}

// negotiated is the character set a target selected in its Init
// response's negotiation: "utf-8" for ISO 10646's UTF-8, a private
// set's name (YAZ servers name theirs, e.g. "ISO-8859-1"), or "" when
// the target did not negotiate.
func negotiated(p *ber.Packet) string {
	var info *ber.Packet
	for _, c := range p.Children {
		if isCtx(c, 201) {
			info = c
		}
	}
	if info == nil {
		return ""
	}
	var name string
	var walk func(n *ber.Packet, depth int)
	walk = func(n *ber.Packet, depth int) {
		if depth > 16 || name != "" {
			return
		}
		if len(n.Children) == 0 {
			b := content(n)
			switch {
			case bytes.Equal(b, utf8Level):
				name = "utf-8"
			case !(n.ClassType == ber.ClassUniversal && n.Tag == ber.TagObjectIdentifier) && printable(b):
				// a private set's name: [1] IMPLICIT OCTET STRING in YAZ's
				name = strings.ToLower(string(b))
			}
			return
		}
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(info, 0)
	return name
}

// close ends the session, with a Close PDU when polite (the session is
// healthy and idle); the Close's answer is not awaited.
func (s *originSession) close(polite bool) {
	if polite {
		s.w.conn.SetWriteDeadline(time.Now().Add(time.Second))
		s.w.conn.Write(closePDU(nil, CloseFinished, ""))
	}
	s.w.conn.Close()
}

// initRequest is the Init: version 3, search and present, named result
// sets, the sizes, idAuthentication, and UTF-8 proposed.
func initRequest(cfg *OriginConfig) []byte {
	fields := []*ber.Packet{
		ctxBits(3, 3, func(int) bool { return true }),
		ctxBits(4, 18, func(i int) bool {
			return i == OptSearch || i == OptPresent || i == OptDelSet || i == OptNamedResultSets || i == 17 && cfg.UTF8
		}),
		ctxInt(5, cfg.MaxPDU), ctxInt(6, cfg.MaxPDU),
	}
	if cfg.Auth != "" {
		if user, pass, ok := strings.Cut(cfg.Auth, "/"); ok {
			idPass := seq()
			idPass.AppendChild(ctxString(1, user))
			idPass.AppendChild(ctxString(2, pass))
			fields = append(fields, ctxCons(7, idPass))
		} else {
			fields = append(fields, ctxCons(7, ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagVisibleString, cfg.Auth, "")))
		}
	}
	fields = append(fields, ctxString(110, "almanet-gateway"), ctxString(111, "almanet gateway origin"), ctxString(112, "1"))
	if cfg.UTF8 {
		iso10646 := ctxCons(2, ber.NewOID(ber.ClassContext, ber.TypePrimitive, 2, oidUTF8, ""))
		proposal := ctxCons(1, ctxCons(1, iso10646), ctxBool(3, true))
		info := seq()
		info.AppendChild(ctxCons(4, oid(OIDCharNeg), ctxCons(0, proposal)))
		fields = append(fields, ctxCons(201, info))
	}
	return pdu(tagInitRequest, nil, fields...)
}

// originSet is the one result set an origin session uses.
const originSet = "default"

// search runs one search and its presents on the session.
func (s *originSession) search(ctx context.Context, cfg *OriginConfig, q *RPNNode, start, count int) (*OriginResult, error) {
	small := 0
	if start == 1 && count > 0 && count <= cfg.PageSize {
		small = count // piggy-back a small set
	}
	fields := []*ber.Packet{
		ctxInt(13, small), ctxInt(14, small+1), ctxInt(15, 0), ctxBool(16, true),
		ctxString(17, originSet), ctxCons(18, ctxString(105, cfg.Database)),
		ctxCons(100, ctxString(0, cfg.Elements)), ctxCons(101, ctxString(0, cfg.Elements)),
		ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, cfg.Syntax, ""),
		ctxCons(21, encodeRPNQuery(q)),
	}
	raw, err := s.w.roundTrip(ctx, pdu(tagSearchRequest, nil, fields...), 0)
	if err != nil {
		return nil, err
	}
	resp, err := responseFields(raw, tagSearchResponse, "searchResponse")
	if err != nil {
		return nil, err
	}
	res := &OriginResult{}
	hits, ok := resp.int(23)
	if !ok || hits < 0 {
		return nil, protoErr("searchResponse without a resultCount")
	}
	res.Hits = hits
	recs, d, err := resp.records(start, cfg.MaxRecord)
	if err != nil {
		return nil, err
	}
	if status, _ := resp.boolean(22); !status || d != nil {
		if d == nil {
			d = diag(2, "search failed without a diagnostic")
		}
		res.Diagnostic = d
		return res, nil
	}
	res.Records = recs
	last := min(hits, start+count-1)
	for next := start + len(recs); next <= last; {
		n := min(cfg.PageSize, last-next+1)
		page, d, err := s.present(ctx, cfg, next, n)
		if err != nil {
			return nil, err
		}
		if d != nil {
			if len(res.Records) == 0 {
				res.Diagnostic = d
			}
			break
		}
		if len(page) == 0 {
			break // the target sent nothing more: what came is the answer
		}
		res.Records = append(res.Records, page...)
		next += len(page)
	}
	return res, nil
}

// present asks records start..start+n-1 of the result set.
func (s *originSession) present(ctx context.Context, cfg *OriginConfig, start, n int) ([]Retrieved, *Diagnostic, error) {
	raw, err := s.w.roundTrip(ctx, pdu(tagPresentRequest, nil, ctxString(31, originSet), ctxInt(30, start), ctxInt(29, n),
		ctxCons(19, ctxString(0, cfg.Elements)),
		ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, cfg.Syntax, "")), 0)
	if err != nil {
		return nil, nil, err
	}
	resp, err := responseFields(raw, tagPresentResponse, "presentResponse")
	if err != nil {
		return nil, nil, err
	}
	recs, d, err := resp.records(start, cfg.MaxRecord)
	if err != nil {
		return nil, nil, err
	}
	if len(recs) > n {
		return nil, nil, protoErr("presentResponse holds %d records, %d were asked", len(recs), n)
	}
	return recs, d, nil
}

// fields are a response PDU's elements, walked TLV by TLV (records are
// most of a response; a packet tree would copy each at every level).
type fields []tlv

func responseFields(raw []byte, tag int, what string) (fields, error) {
	top, err := splitTLV(raw)
	if err != nil || len(top) != 1 || top[0].class != 0x80 || top[0].tag != tag {
		return nil, protoErr("the answer is not a %s", what)
	}
	f, err := splitTLV(top[0].content)
	if err != nil {
		return nil, protoErr("%s: %v", what, err)
	}
	return f, nil
}

func (f fields) find(tag int) *tlv {
	for i := range f {
		if f[i].class == 0x80 && f[i].tag == tag {
			return &f[i]
		}
	}
	return nil
}

func (f fields) int(tag int) (int, bool) {
	t := f.find(tag)
	if t == nil {
		return 0, false
	}
	return tlvInt(t.content)
}

func (f fields) boolean(tag int) (bool, bool) {
	t := f.find(tag)
	if t == nil || len(t.content) != 1 {
		return false, false
	}
	return t.content[0] != 0, true
}

// records reads a response's Records: the list, or its non-surrogate
// diagnostic(s).
func (f fields) records(start, maxRecord int) ([]Retrieved, *Diagnostic, error) {
	if t := f.find(130); t != nil {
		d, err := defaultDiag(t.content)
		return nil, d, err
	}
	if t := f.find(205); t != nil {
		recs, err := splitTLV(t.content)
		if err != nil || len(recs) == 0 {
			return nil, nil, protoErr("malformed multipleNonSurDiagnostics")
		}
		d, err := diagRec(recs[0])
		return nil, d, err
	}
	t := f.find(28)
	if t == nil {
		return nil, nil, nil
	}
	list, err := splitTLV(t.content)
	if err != nil {
		return nil, nil, protoErr("responseRecords: %v", err)
	}
	out := make([]Retrieved, 0, len(list))
	for i, npr := range list {
		r, err := namePlusRecord(npr, maxRecord)
		if err != nil {
			return nil, nil, err
		}
		r.Position = start + i
		out = append(out, r)
	}
	return out, nil, nil
}

// namePlusRecord reads one NamePlusRecord: a retrieval record (EXTERNAL),
// a surrogate diagnostic, or a fragment (not taken).
func namePlusRecord(npr tlv, maxRecord int) (Retrieved, error) {
	var r Retrieved
	parts, err := splitTLV(npr.content)
	if err != nil || len(parts) == 0 {
		return r, protoErr("malformed NamePlusRecord")
	}
	rec := parts[len(parts)-1]
	if rec.class != 0x80 || rec.tag != 1 {
		return r, protoErr("NamePlusRecord without its record")
	}
	inner, err := splitTLV(rec.content)
	if err != nil || len(inner) != 1 || inner[0].class != 0x80 {
		return r, protoErr("malformed NamePlusRecord record")
	}
	switch inner[0].tag {
	case 1: // retrievalRecord [1] EXTERNAL
		ext, err := splitTLV(inner[0].content)
		if err != nil || len(ext) != 1 {
			return r, protoErr("malformed retrievalRecord")
		}
		els := ext[0].content
		if ext[0].class != 0 || ext[0].tag != 8 {
			els = inner[0].content // an IMPLICIT EXTERNAL, as some targets send
		}
		return retrievalExternal(els, maxRecord)
	case 2: // surrogateDiagnostic [2] DiagRec
		d, err := splitTLV(inner[0].content)
		if err != nil || len(d) != 1 {
			return r, protoErr("malformed surrogateDiagnostic")
		}
		r.Diagnostic, err = diagRec(d[0])
		return r, err
	}
	r.Problem = "a record fragment (segmentation is not used)"
	return r, nil
}

// retrievalExternal reads an EXTERNAL's elements: the syntax and the octets.
func retrievalExternal(b []byte, maxRecord int) (Retrieved, error) {
	var r Retrieved
	els, err := splitTLV(b)
	if err != nil || len(els) < 2 {
		return r, protoErr("malformed EXTERNAL")
	}
	if els[0].class != 0 || els[0].tag != int(ber.TagObjectIdentifier) {
		return r, protoErr("EXTERNAL without a direct-reference")
	}
	if r.Syntax, err = tlvOID(els[0].content); err != nil {
		return r, err
	}
	enc := els[len(els)-1]
	switch {
	case enc.class == 0x80 && enc.tag == 1: // octet-aligned
		r.Data = enc.content
	case enc.class == 0x80 && enc.tag == 0: // single-ASN1-type
		v, err := splitTLV(enc.content)
		if err != nil || len(v) != 1 {
			return r, protoErr("malformed single-ASN1-type")
		}
		if v[0].class == 0 && (v[0].tag == int(ber.TagOctetString) || v[0].tag == int(ber.TagGeneralString) || v[0].tag == int(ber.TagVisibleString)) {
			r.Data = v[0].content
		} else {
			r.Problem = "a structured record (syntax " + r.Syntax + ")"
			return r, nil
		}
	default:
		r.Problem = "a record encoding other than octets"
		return r, nil
	}
	if len(r.Data) > maxRecord {
		r.Problem = fmt.Sprintf("a record of %d bytes, over the bound of %d", len(r.Data), maxRecord)
		r.Data = nil
		return r, nil
	}
	r.Data = bytes.Clone(r.Data)
	return r, nil
}

// diagRec reads a DiagRec: a DefaultDiagFormat, or an externally defined
// one (reported by its OID).
func diagRec(t tlv) (*Diagnostic, error) {
	if t.class == 0 && t.tag == int(ber.TagSequence) {
		return defaultDiag(t.content)
	}
	return diag(100, "a diagnostic in a format other than Bib-1's default"), nil
}

// defaultDiag reads a DefaultDiagFormat's elements.
func defaultDiag(b []byte) (*Diagnostic, error) {
	els, err := splitTLV(b)
	if err != nil || len(els) < 2 {
		return nil, protoErr("malformed diagnostic")
	}
	n, ok := tlvInt(els[1].content)
	if !ok {
		return nil, protoErr("diagnostic without a condition")
	}
	d := &Diagnostic{Condition: n}
	if set, err := tlvOID(els[0].content); err == nil && set != OIDBib1Diagnostic {
		d.AddInfo = "diagnostic set " + set + ": "
	}
	if len(els) > 2 {
		info := els[2].content
		if len(info) > maxStringBytes {
			info = info[:maxStringBytes]
		}
		d.AddInfo += oneLine(string(info))
	}
	d.AddInfo = strings.TrimSuffix(d.AddInfo, ": ")
	return d, nil
}

// tlvInt reads a BER INTEGER's content (at most 8 octets).
func tlvInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return int(v), true
}

// tlvOID reads an OBJECT IDENTIFIER's content.
func tlvOID(b []byte) (string, error) {
	if len(b) == 0 || len(b) > 64 {
		return "", protoErr("malformed OBJECT IDENTIFIER")
	}
	var arcs []uint64
	var v uint64
	for i, c := range b {
		if v > 1<<50 {
			return "", protoErr("OBJECT IDENTIFIER arc too large")
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			arcs = append(arcs, v)
			v = 0
		} else if i == len(b)-1 {
			return "", protoErr("OBJECT IDENTIFIER ends inside an arc")
		}
	}
	var sb strings.Builder
	first := arcs[0]
	switch {
	case first < 40:
		fmt.Fprintf(&sb, "0.%d", first)
	case first < 80:
		fmt.Fprintf(&sb, "1.%d", first-40)
	default:
		fmt.Fprintf(&sb, "2.%d", first-80)
	}
	for _, a := range arcs[1:] {
		fmt.Fprintf(&sb, ".%d", a)
	}
	return sb.String(), nil
}

// printable says whether b is a short run of printable ASCII.
func printable(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// oneLine makes target text safe for a status line: control characters
// become spaces, invalid UTF-8 is replaced.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s))
}
