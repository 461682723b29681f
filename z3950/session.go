package z3950

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/almanet/gateway/sru"
)

// session is one client connection. Its goroutine owns every field.
type session struct {
	srv  *Server
	conn net.Conn

	buf    []byte // received bytes; buf[:have] valid
	have   int
	framer framer

	inited      bool
	options     []int // options agreed in Init
	msgSize     int   // negotiated preferredMessageSize
	recSize     int   // negotiated exceptionalRecordSize
	sets        map[string]*resultSet
	lastRequest time.Time
	initBy      time.Time // the initRequest must have arrived whole by then
}

// maxInitPDU bounds a PDU before Init: an initRequest is a few hundred
// bytes, so a session that has not introduced itself holds no more.
const maxInitPDU = 64 << 10

// baseBuffer is a session's input buffer between large PDUs.
const baseBuffer = 4096

// resultSet is a named result set: the canonical query and its hit count.
type resultSet struct {
	db, cql string
	name    string // the database as the client named it, echoed in records
	total   int
	more    bool // the list may grow past total (Result.More): presents past it ask the Backend
	expires time.Time
}

// grow takes a later answer's count: a count never falls within a result
// set (an earlier page may still answer from the cache with the count it
// had), and whether more may come is the answer's when it is at least as
// deep as what the set already knew.
func (rs *resultSet) grow(res *Result) {
	if !rs.more {
		return
	}
	if res.Total >= rs.total {
		rs.total, rs.more = res.Total, res.More
	}
}

func newSession(s *Server, c net.Conn) *session {
	return &session{srv: s, conn: c, sets: map[string]*resultSet{}, initBy: s.now().Add(s.cfg.InitTimeout),
		framer: framer{max: min(s.cfg.MaxPDUBytes, maxInitPDU), maxDepth: s.cfg.MaxDepth}}
}

// wake makes a session blocked in a read return, so it sees the server
// closing (called with the server's mutex held).
func (ss *session) wake() { ss.conn.SetReadDeadline(time.Unix(1, 0)) }

func (ss *session) run() {
	log := ss.srv.log.With("remote", ss.conn.RemoteAddr().String())
	for {
		if ss.srv.isClosing() {
			ss.send(closePDU(nil, CloseShutdown, "the server is shutting down"))
			return
		}
		frame, err := ss.read()
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			switch {
			case ss.srv.isClosing():
				ss.send(closePDU(nil, CloseShutdown, "the server is shutting down"))
			case !ss.inited:
				ss.srv.stats.initClosed.Add(1)
				ss.send(closePDU(nil, CloseLackOfActivity, "no initRequest within "+ss.srv.cfg.InitTimeout.String()))
			default:
				ss.srv.stats.idleClosed.Add(1)
				ss.send(closePDU(nil, CloseLackOfActivity, "idle for "+ss.srv.cfg.IdleTimeout.String()))
			}
			return
		case errors.Is(err, errBuffersFull):
			ss.srv.stats.bufferRefused.Add(1)
			ss.send(closePDU(nil, CloseResources, "the server holds as many incoming bytes as it may; send smaller requests or try again later"))
			return
		case errors.As(err, new(*ProtocolError)):
			ss.protocolError(log, err)
			return
		default: // the client went away
			return
		}
		req, err := decodePDU(frame)
		if err != nil {
			ss.protocolError(log, err)
			return
		}
		out, end := ss.handle(req)
		if out != nil && !ss.send(out) {
			return
		}
		if end {
			return
		}
	}
}

func (ss *session) protocolError(log interface{ Info(string, ...any) }, err error) {
	ss.srv.stats.protocolErrors.Add(1)
	log.Info("z39.50 protocol error", "err", err.Error())
	msg := err.Error()
	var pe *ProtocolError
	if errors.As(err, &pe) {
		msg = pe.Msg
	}
	ss.send(closePDU(nil, CloseProtocolError, msg))
}

// errBuffersFull is a session's buffer that cannot grow under MaxBuffered.
var errBuffersFull = errors.New("z3950: input buffers full")

// read returns the next complete PDU. The whole PDU must arrive within
// the idle timeout, so a client that trickles an endless PDU is closed;
// the initRequest must arrive within InitTimeout of the connect.
func (ss *session) read() ([]byte, error) {
	by := ss.srv.now().Add(ss.srv.cfg.IdleTimeout)
	if !ss.inited && ss.initBy.Before(by) {
		by = ss.initBy
	}
	ss.conn.SetReadDeadline(by)
	if ss.srv.isClosing() {
		return nil, os.ErrDeadlineExceeded
	}
	for {
		if ss.have > 0 {
			n, err := ss.framer.next(ss.buf[:ss.have])
			if err == nil {
				frame := slices.Clone(ss.buf[:n])
				copy(ss.buf, ss.buf[n:ss.have])
				ss.have -= n
				ss.framer.reset()
				ss.shrink()
				return frame, nil
			}
			if err != errShort {
				return nil, &ProtocolError{err.Error()}
			}
		}
		if ss.have == len(ss.buf) {
			if len(ss.buf) >= ss.framer.max+16 {
				return nil, &ProtocolError{"PDU longer than " + strconv.Itoa(ss.framer.max) + " bytes"}
			}
			size := min(max(2*len(ss.buf), baseBuffer), ss.framer.max+16)
			if !ss.srv.reserve(size - len(ss.buf)) {
				return nil, errBuffersFull
			}
			nb := make([]byte, size)
			copy(nb, ss.buf[:ss.have])
			ss.buf = nb
		}
		n, err := ss.conn.Read(ss.buf[ss.have:])
		ss.have += n
		if err != nil {
			if n > 0 {
				continue // use what came with the error first
			}
			if errors.Is(err, io.EOF) && ss.have > 0 {
				return nil, &ProtocolError{"the connection ended inside a PDU"}
			}
			return nil, err
		}
	}
}

// shrink gives a buffer grown for a large PDU back once it holds no more
// than a small one.
func (ss *session) shrink() {
	if len(ss.buf) <= baseBuffer || ss.have > baseBuffer {
		return
	}
	nb := make([]byte, baseBuffer)
	copy(nb, ss.buf[:ss.have])
	ss.srv.buffered.Add(-int64(len(ss.buf) - baseBuffer))
	ss.buf = nb
}

// release gives the session's buffer back when it ends.
func (ss *session) release() {
	ss.srv.buffered.Add(-int64(len(ss.buf)))
	ss.buf, ss.have = nil, 0
}

func (ss *session) send(b []byte) bool {
	ss.conn.SetWriteDeadline(ss.srv.now().Add(ss.srv.cfg.WriteTimeout))
	_, err := ss.conn.Write(b)
	return err == nil
}

// handle answers one request: the response to send and whether the
// session ends after it.
func (ss *session) handle(req any) ([]byte, bool) {
	st := &ss.srv.stats
	if !ss.inited {
		r, ok := req.(*InitRequest)
		if !ok {
			st.protocolErrors.Add(1)
			return closePDU(nil, CloseProtocolError, "the first PDU must be an initRequest"), true
		}
		st.pdus[tagInitRequest-16].Add(1)
		return ss.init(r), false
	}
	switch r := req.(type) {
	case *InitRequest:
		st.pdus[tagInitRequest-16].Add(1)
		st.protocolErrors.Add(1)
		return closePDU(r.ReferenceID, CloseProtocolError, "initRequest after Init"), true
	case *SearchRequest:
		st.pdus[tagSearchRequest-16].Add(1)
		st.searches.Add(1)
		return ss.search(r), false
	case *PresentRequest:
		st.pdus[tagPresentRequest-16].Add(1)
		st.presents.Add(1)
		return ss.present(r), false
	case *DeleteRequest:
		st.pdus[tagDeleteRequest-16].Add(1)
		return ss.deleteSets(r), false
	case *CloseRequest:
		st.pdus[tagClose-16].Add(1)
		return closePDU(r.ReferenceID, CloseFinished, ""), true
	case *OtherRequest:
		st.pdus[r.Tag-16].Add(1)
		return ss.other(r)
	}
	return closePDU(nil, CloseSystemProblem, "unexpected request"), true
}

// served are the Init options the server offers.
var served = []int{OptSearch, OptPresent, OptDelSet, OptNamedResultSets}

func (ss *session) init(r *InitRequest) []byte {
	cfg := ss.srv.cfg
	for _, o := range served {
		if slices.Contains(r.Options, o) {
			ss.options = append(ss.options, o)
		}
	}
	ss.msgSize = clamp(r.PreferredMessageSize, 4096, cfg.MaxMessageBytes)
	ss.recSize = clamp(r.ExceptionalRecordSize, ss.msgSize, cfg.MaxMessageBytes)
	ok := slices.Contains(r.Versions, 3) || slices.Contains(r.Versions, 2)
	ss.inited = ok
	if ok {
		ss.framer.max = cfg.MaxPDUBytes
	}
	// Every version offered up to 3 is agreed: the PDUs served are the same
	// in versions 2 and 3, and clients read the bits as a run from version 1.
	versions := func(i int) bool { return slices.Contains(r.Versions, i+1) }
	fields := []*ber.Packet{
		ctxBits(3, 3, versions),
		ctxBits(4, 15, func(i int) bool { return slices.Contains(ss.options, i) }),
		ctxInt(5, ss.msgSize),
		ctxInt(6, ss.recSize),
		ctxBool(12, ok),
		ctxString(110, "almanet-gateway"),
		ctxString(111, "Alma network gateway (Z39.50)"),
		ctxString(112, cfg.Version),
	}
	return pdu(tagInitResponse, r.ReferenceID, fields...)
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	return min(v, hi)
}

func (ss *session) has(opt int) bool { return slices.Contains(ss.options, opt) }

// expire drops result sets past their lifetime.
func (ss *session) expire() {
	now := ss.srv.now()
	for name, rs := range ss.sets {
		if now.After(rs.expires) {
			delete(ss.sets, name)
		}
	}
}

// lookupSet returns a live result set, or diagnostic 30 (unknown) or 27
// (expired).
func (ss *session) lookupSet(name string) (*resultSet, *Diagnostic) {
	rs, ok := ss.sets[name]
	if !ok {
		return nil, diag(30, name)
	}
	if ss.srv.now().After(rs.expires) {
		delete(ss.sets, name)
		return nil, diag(27, name+" expired after "+ss.srv.cfg.ResultSetTTL.String())
	}
	return rs, nil
}

func (ss *session) searchFailed(ref []byte, d *Diagnostic) []byte {
	ss.srv.stats.diagnostics.Add(1)
	return pdu(tagSearchResponse, ref,
		ctxInt(23, 0), ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, false),
		ctxInt(26, 3), // resultSetStatus none
		recordsPacket(nil, d))
}

func (ss *session) search(r *SearchRequest) []byte {
	if !ss.has(OptSearch) {
		return ss.searchFailed(r.ReferenceID, diag(1025, "search was not agreed in Init"))
	}
	name := r.ResultSetName
	if !validName(name) {
		return ss.searchFailed(r.ReferenceID, diag(128, name))
	}
	if name != "default" && !ss.has(OptNamedResultSets) {
		return ss.searchFailed(r.ReferenceID, diag(22, name))
	}
	ss.expire()
	if _, exists := ss.sets[name]; exists && !r.ReplaceIndicator {
		return ss.searchFailed(r.ReferenceID, diag(21, name))
	}
	if _, exists := ss.sets[name]; !exists && len(ss.sets) >= ss.srv.cfg.MaxResultSets {
		return ss.searchFailed(r.ReferenceID, diag(112, strconv.Itoa(ss.srv.cfg.MaxResultSets)))
	}
	switch len(r.DatabaseNames) {
	case 0:
		return ss.searchFailed(r.ReferenceID, diag(108, "no database named"))
	case 1:
	default:
		return ss.searchFailed(r.ReferenceID, diag(111, "1"))
	}
	db, ok := ss.srv.backend.Database(r.DatabaseNames[0])
	if !ok {
		return ss.searchFailed(r.ReferenceID, diag(235, r.DatabaseNames[0]))
	}
	// A failed search deletes the set it would have replaced (Z39.50
	// 3.2.2.1.2), so a client never presents the previous result.
	delete(ss.sets, name)
	cql, d := ss.queryCQL(r.Query)
	if d != nil {
		return ss.searchFailed(r.ReferenceID, d)
	}
	// Piggy-backed records: fetch the most the client could get, then
	// keep what the small/medium set rules give for the hit count.
	want := r.SmallSetUpperBound
	if r.LargeSetLowerBound > 1 {
		want = max(want, r.MediumSetPresentNumber)
	}
	want = min(max(want, 0), ss.srv.cfg.MaxPresent)
	// The element set is the small set's; a medium set with its own is
	// checked (and fetched) when it applies.
	syntax, esn, sd := checkSyntax(r.PreferredRecordSyntax, r.SmallSetElementSetName)
	if sd != nil {
		want = 0
	}
	q := Search{Database: db, CQL: cql, Start: 1, Count: want, Syntax: syntax, ElementSet: esn}
	if want == 0 {
		q.Syntax, q.ElementSet = "", "" // a hit count is the same for every syntax
	}
	res, err := ss.call(q)
	if err != nil {
		return ss.searchFailed(r.ReferenceID, err)
	}
	ss.sets[name] = &resultSet{db: db, name: r.DatabaseNames[0], cql: cql, total: res.Total, more: res.More, expires: ss.srv.now().Add(ss.srv.cfg.ResultSetTTL)}
	n, medium := 0, false
	switch {
	case res.Total <= r.SmallSetUpperBound:
		n = res.Total
	case res.Total < r.LargeSetLowerBound:
		n, medium = min(r.MediumSetPresentNumber, res.Total), true
	}
	n = min(n, ss.srv.cfg.MaxPresent, ss.srv.cfg.MaxPosition)
	fields := []*ber.Packet{ctxInt(23, res.Total)}
	if n == 0 {
		return pdu(tagSearchResponse, r.ReferenceID, append(fields, ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true))...)
	}
	if sd != nil {
		ss.srv.stats.diagnostics.Add(1)
		return pdu(tagSearchResponse, r.ReferenceID, append(fields, ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true),
			ctxInt(27, 5), recordsPacket(nil, sd))...)
	}
	if medium && r.MediumSetElementSetName != r.SmallSetElementSetName {
		mSyntax, mESN, md := checkSyntax(r.PreferredRecordSyntax, r.MediumSetElementSetName)
		if md == nil && mESN != esn {
			res, md = ss.call(Search{Database: db, CQL: cql, Start: 1, Count: n, Syntax: mSyntax, ElementSet: mESN})
		}
		if md != nil {
			ss.srv.stats.diagnostics.Add(1)
			return pdu(tagSearchResponse, r.ReferenceID, append(fields, ctxInt(24, 0), ctxInt(25, 1), ctxBool(22, true),
				ctxInt(27, 5), recordsPacket(nil, md))...)
		}
	}
	recs, status := ss.records(res, r.DatabaseNames[0], n)
	return pduRecords(tagSearchResponse, r.ReferenceID, true, recs, append(fields, ctxInt(24, len(recs)), ctxInt(25, 1+len(recs)), ctxBool(22, true),
		ctxInt(27, status))...)
}

// queryCQL turns the query into validated, canonical CQL.
func (ss *session) queryCQL(q Query) (string, *Diagnostic) {
	var cql string
	switch {
	case q.Type == 1 || q.Type == 101:
		var d *Diagnostic
		cql, d = rpnToCQL(q, func(name string) (string, *Diagnostic) {
			rs, d := ss.lookupSet(name)
			if d != nil {
				return "", diag(128, name)
			}
			return rs.cql, nil
		})
		if d != nil {
			return "", d
		}
	case q.Type == 104 && q.ExternalOID == OIDCQL:
		cql = q.CQL
	case q.Type == 104:
		return "", diag(107, "external query "+q.ExternalOID+"; offered: type-1 (Bib-1) and type-104 CQL ("+OIDCQL+")")
	default:
		return "", diag(107, "type-"+strconv.Itoa(q.Type)+"; offered: type-1 (Bib-1) and type-104 CQL")
	}
	parsed, sd := sru.ParseQuery(cql, ss.srv.backend.Indexes())
	if sd != nil {
		return "", fromSRU(sd)
	}
	return parsed.AlmaQuery, nil
}

// call asks the backend, on the server's deadline, and turns its errors
// into Bib-1 diagnostics.
func (ss *session) call(q Search) (*Result, *Diagnostic) {
	ctx, cancel := context.WithTimeout(ss.srv.base, ss.srv.cfg.SearchTimeout)
	defer cancel()
	res, err := ss.srv.backend.Search(ctx, q)
	if err == nil && res == nil {
		err = errors.New("no answer")
	}
	if err != nil {
		var d *Diagnostic
		if errors.As(err, &d) {
			if d.Condition == 1 || d.Condition == 2 {
				ss.srv.stats.backendErrors.Add(1)
			}
			return nil, d
		}
		ss.srv.stats.backendErrors.Add(1)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, diag(2, "Alma did not answer within "+ss.srv.cfg.SearchTimeout.String())
		}
		return nil, diag(2, err.Error())
	}
	return res, nil
}

// records takes up to n of res's records within the negotiated message
// size. The status is the presentStatus: success, or partial-2 when the
// message size cut the list short.
func (ss *session) records(res *Result, db string, n int) ([]record, int) {
	budget := ss.msgSize - 512 // room for the response's own fields
	var out []record
	size := 0
	status := 0
	for i := 0; i < len(res.Records) && len(out) < n; i++ {
		rec := res.Records[i]
		r := record{db: db, ext: rec.External, diag: rec.Diag}
		sz := len(rec.External) + len(db) + 16
		if r.diag == nil && size+sz > budget {
			switch {
			case len(out) > 0:
				status = 2
			case n == 1 && sz <= ss.recSize:
				// one record beyond the message size: the exceptional
				// record size allows it
			default:
				r, sz = record{db: db, diag: diag(16, strconv.Itoa(len(rec.External))+" bytes")}, 128
			}
			if status != 0 {
				break
			}
		}
		size += sz
		out = append(out, r)
	}
	ss.srv.stats.recordsSent.Add(int64(len(out)))
	return out, status
}

// outOfRange is diagnostic 13 for a present past a result set's end.
func (ss *session) outOfRange(r *PresentRequest, rs *resultSet) *Diagnostic {
	return diag(13, "start "+strconv.Itoa(r.Start)+", result set "+r.ResultSetID+" has "+strconv.Itoa(rs.total)+" records")
}

func (ss *session) presentFailed(ref []byte, d *Diagnostic, next int) []byte {
	ss.srv.stats.diagnostics.Add(1)
	return pdu(tagPresentResponse, ref, ctxInt(24, 0), ctxInt(25, next), ctxInt(27, 5), recordsPacket(nil, d))
}

func (ss *session) present(r *PresentRequest) []byte {
	if !ss.has(OptPresent) {
		return ss.presentFailed(r.ReferenceID, diag(1025, "present was not agreed in Init"), 0)
	}
	rs, d := ss.lookupSet(r.ResultSetID)
	if d != nil {
		return ss.presentFailed(r.ReferenceID, d, 0)
	}
	switch {
	case r.AdditionalRanges:
		return ss.presentFailed(r.ReferenceID, diag(243, ""), r.Start)
	case r.ComplexComposition:
		return ss.presentFailed(r.ReferenceID, diag(244, ""), r.Start)
	case r.Start < 1 || r.Count < 0 || r.Start > rs.total && !rs.more:
		return ss.presentFailed(r.ReferenceID, ss.outOfRange(r, rs), r.Start)
	case r.Start > ss.srv.cfg.MaxPosition:
		return ss.presentFailed(r.ReferenceID, diag(13, "positions past "+strconv.Itoa(ss.srv.cfg.MaxPosition)+" cannot be presented (Alma pages no further)"), r.Start)
	}
	syntax, esn, d := checkSyntax(r.PreferredRecordSyntax, r.ElementSetName)
	if d != nil {
		return ss.presentFailed(r.ReferenceID, d, r.Start)
	}
	// A set that may grow (a merged result) is asked past its count: the
	// Backend fetches deeper, and its answer's count is the set's new one.
	n := min(r.Count, ss.srv.cfg.MaxPresent, ss.srv.cfg.MaxPosition-r.Start+1)
	if !rs.more {
		n = min(n, rs.total-r.Start+1)
	}
	if n == 0 {
		return pdu(tagPresentResponse, r.ReferenceID, ctxInt(24, 0), ctxInt(25, r.Start), ctxInt(27, 0))
	}
	res, d := ss.call(Search{Database: rs.db, CQL: rs.cql, Start: r.Start, Count: n, Syntax: syntax, ElementSet: esn})
	if d != nil {
		return ss.presentFailed(r.ReferenceID, d, r.Start)
	}
	rs.grow(res)
	if r.Start > rs.total && !rs.more {
		return ss.presentFailed(r.ReferenceID, ss.outOfRange(r, rs), r.Start)
	}
	recs, status := ss.records(res, rs.name, min(n, max(rs.total-r.Start+1, 0)))
	if status == 0 && (len(recs) < min(n, rs.total-r.Start+1) || rs.more && len(recs) < n) {
		// partial-4: fewer than asked: Alma's list changed, or a merged
		// result's targets did not bring more within the deadline (the
		// next position says where to ask again).
		status = 4
	}
	next := r.Start + len(recs)
	if next > rs.total && !rs.more {
		next = 0
	}
	return pduRecords(tagPresentResponse, r.ReferenceID, true, recs, ctxInt(24, len(recs)), ctxInt(25, next), ctxInt(27, status))
}

func (ss *session) deleteSets(r *DeleteRequest) []byte {
	if !ss.has(OptDelSet) {
		return pdu(tagDeleteResponse, r.ReferenceID, ctxInt(0, 3)) // systemProblemAtServer
	}
	if r.All {
		clear(ss.sets)
		return pdu(tagDeleteResponse, r.ReferenceID, ctxInt(0, 0))
	}
	list := ctxCons(1)
	overall := 0
	for _, name := range r.Names {
		status := 0
		if _, ok := ss.sets[name]; ok {
			delete(ss.sets, name)
		} else {
			status, overall = 1, 9 // resultSetDidNotExist; notAllRequestedResultSetsDeleted
		}
		e := seq()
		e.AppendChild(ctxString(31, name))
		e.AppendChild(ctxInt(33, status))
		list.AppendChild(e)
	}
	if len(r.Names) == 1 && overall != 0 {
		overall = 1
	}
	return pdu(tagDeleteResponse, r.ReferenceID, ctxInt(0, overall), list)
}

// other answers Scan, Sort and Extended Services with their failure
// responses and diagnostic 1025 (service not supported); any other
// request ends the session.
func (ss *session) other(r *OtherRequest) ([]byte, bool) {
	d := diag(1025, "")
	ss.srv.stats.diagnostics.Add(1)
	diags := func(tag int) *ber.Packet { return ctxCons(tag, d.packet()) }
	switch r.Tag {
	case tagScanRequest:
		d.AddInfo = "scan"
		// scanStatus failure(6), no entries, the diagnostic in entries.
		return pdu(tagScanResponse, r.ReferenceID, ctxInt(4, 6), ctxInt(5, 0), ctxCons(7, diags(2))), false
	case tagSortRequest:
		d.AddInfo = "sort"
		return pdu(tagSortResponse, r.ReferenceID, ctxInt(3, 2), diags(5)), false
	case tagESRequest:
		d.AddInfo = "extended services"
		return pdu(tagESResponse, r.ReferenceID, ctxInt(3, 3), diags(4)), false
	}
	ss.srv.stats.protocolErrors.Add(1)
	return closePDU(r.ReferenceID, CloseProtocolError, "request ["+strconv.Itoa(r.Tag)+"] not agreed in Init"), true
}
