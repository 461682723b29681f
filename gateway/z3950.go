package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/z3950"
)

// The gateway's side of the Z39.50 server (SPEC 10): the z3950 package
// speaks the protocol and asks this Backend for databases, the index set
// and searches; searches go through the same cache, coalescing and
// breakers as SRU, so a cached search answers while Alma is down.

// z3950Backend adapts the Server to z3950.Backend.
type z3950Backend struct{ s *Server }

// NetworkCode is the network's code: the last path segment of its SRU
// URL (…/view/sru/<code>).
func (s *Server) NetworkCode() string { return s.reg.Network() }

// Z3950Databases lists the database names the Z39.50 server answers, from
// the registry: Default (default_targets), the network code (nz), each
// other target by name, then each group (a federated, merged database).
func (s *Server) Z3950Databases() []string {
	out := []string{"Default"}
	if nc := s.reg.Network(); nc != "" {
		out = append(out, nc)
	}
	for _, t := range s.reg.Targets() {
		if !t.NZ {
			out = append(out, t.Name)
		}
	}
	return append(out, s.reg.Groups()...)
}

// Database resolves a name case-insensitively to the database's own name:
// "Default", a target (the network code is nz) or a group.
func (b z3950Backend) Database(name string) (string, bool) {
	if strings.EqualFold(name, "Default") {
		return "Default", true
	}
	for _, db := range b.s.Z3950Databases() {
		if strings.EqualFold(name, db) {
			if db == b.s.reg.Network() {
				return NZTarget, true
			}
			return db, true
		}
	}
	if strings.EqualFold(name, NZTarget) {
		return NZTarget, true
	}
	return "", false
}

func (b z3950Backend) Indexes() *sru.IndexSet { return b.s.indexes.Load() }

// contentZ3950 marks the pipeline answers of the Z39.50 server: packed
// BER records (packZ3950), never served over HTTP.
const contentZ3950 ContentType = 200

// Search runs one search through the search pipeline (cache → coalesce →
// guarded target), like the SRU server. What is cached is the hit count
// and the records already encoded in the syntax asked, so a cached search
// and present costs a lookup and a write, and a cached search answers
// while Alma is down. Errors become Bib-1 diagnostics through
// errorAnswer, the one place that turns errors into answers: Alma
// unreachable, breaker open, rate limited or slow is diagnostic 2 with
// errorAnswer's details as addinfo.
func (b z3950Backend) Search(ctx context.Context, q z3950.Search) (*z3950.Result, error) {
	s := b.s
	db := q.Database
	if db == "Default" {
		db = "" // default_targets
	}
	names, err := s.reg.Resolve(db)
	if err != nil {
		return nil, &z3950.Diagnostic{Condition: 235, AddInfo: q.Database}
	}
	key := "z3950|" + q.Database + "|" + q.Syntax + "|" + q.ElementSet + "|" + itoa(q.Start) + "|" + itoa(q.Count) + "|" + q.CQL
	var ans Answer
	if len(names) == 1 {
		t, _ := s.reg.Get(names[0])
		req := &SearchRequest{
			Key:    key,
			Target: t.Target,
			Query:  TargetQuery{CQL: q.CQL, Start: q.Start, Count: q.Count},
			Render: func(p *TargetPage) Rendered { return packZ3950(p, q) },
		}
		if q.Syntax == z3950.OIDOPAC {
			// The OPAC syntax is circulation: live availability, as
			// /v1/records has it, and cached for availability's lifetime.
			req.Life = s.recs.availLife
			req.Render = func(p *TargetPage) Rendered {
				passing := s.liveOPAC(ctx, names[0], p)
				r := packZ3950(p, q)
				r.Uncached = r.Uncached || passing
				return r
			}
		}
		ans, _, err = s.pipe.Search(ctx, req)
	} else {
		// A group: one page of the merged result, its records carrying the
		// union of the members' holdings.
		query, d := sru.ParseQuery(q.CQL, s.indexes.Load())
		if d != nil {
			return nil, z3950.FromSRU(d)
		}
		ans, _, err = s.pipe.Load(ctx, "fed|"+key, s.fedLife(), func(ctx context.Context) (Rendered, error) {
			r, _, err := s.fed.SearchTo(ctx, names, query, federate.SortRelevance, q.Start+q.Count-1)
			if err != nil {
				return Rendered{}, err
			}
			out := packZ3950(r.TargetPage(q.Start, q.Count), q)
			out.Uncached = r.Pending > 0
			return out, nil
		})
	}
	if err != nil {
		return nil, s.z3950Error(err)
	}
	return unpackZ3950(ans.Body)
}

// liveOPAC gives the records of a page their live availability (AVA, AVE,
// AVD from the Bibs API) for the OPAC syntax: the network's records with
// the NZ key, a member database's with that member's key, each cached as
// for /v1/records. It reports whether some record's availability could
// not be had for a passing reason (the answer is then not stored, and the
// record keeps what its SRU record carried).
func (s *Server) liveOPAC(ctx context.Context, db string, p *TargetPage) (passing bool) {
	who, key := "nz", s.cfg.APIKey
	if db != "nz" {
		m, ok := s.cfg.Member(db)
		if !ok {
			return false
		}
		who, key = m.Code, m.APIKey
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(daiaParallel)
	for _, tr := range p.Records {
		rec := tr.Record
		if rec == nil || !validMMSID(rec.MMSID) {
			continue
		}
		g.Go(func() error {
			live, _, err := s.recs.liveAvailability(ctx, who, key, rec.MMSID)
			var ce *clientError
			var ae *alma.Error
			switch {
			case err == nil:
				rec.Availability = live.Availability // each goroutine its own record
			case errors.Is(err, errNoAPI), errors.As(err, &ce), errors.As(err, &ae) && ae.NotFound():
				// No REST API or key, or Alma has no such record: nothing live to add.
			default:
				mu.Lock()
				passing = true
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return passing
}

// z3950Error turns a search error into a Bib-1 diagnostic.
func (s *Server) z3950Error(err error) error {
	var d *z3950.Diagnostic
	if errors.As(err, &d) {
		return d
	}
	var ce *clientError
	if errors.As(err, &ce) {
		return z3950.FromSRU(&ce.diag)
	}
	a := errorAnswer(s.log, "z3950", err)
	return &z3950.Diagnostic{Condition: 2, AddInfo: strings.TrimPrefix(a.diag.Message+": "+a.diag.Details, ": ")}
}

// packZ3950 is a page as cached: the hit count, then either the target's
// first diagnostic (kept for the diagnostic lifetime) or the records, each
// an encoded EXTERNAL or a surrogate diagnostic, length-prefixed.
func packZ3950(p *TargetPage, q z3950.Search) Rendered {
	b := binary.AppendUvarint(nil, uint64(p.Total))
	if len(p.Diagnostics) > 0 && len(p.Records) == 0 {
		d := z3950.FromSRU(&p.Diagnostics[0])
		b = append(b, 'D')
		b = binary.AppendUvarint(b, uint64(d.Condition))
		b = append(b, d.AddInfo...)
		return Rendered{ContentType: contentZ3950, Body: b, Diagnostic: true}
	}
	b = append(b, 'R')
	tags := []string{"q:" + q.CQL}
	for _, tr := range p.Records {
		var rec z3950.Record
		if tr.Record == nil {
			rec.Diag = &z3950.Diagnostic{Condition: 14, AddInfo: "record at position " + itoa(tr.Position) + " could not be read"}
		} else {
			tags = append(tags, "mms:"+tr.Record.MMSID)
			r := tr.Record
			if tr.Sources != nil {
				// A merged record: its 852s are the union of its sources'.
				if u, err := transform.Parse(r.AppendMARCXMLHoldings(nil, tr.Holdings)); err == nil {
					r = u
				}
			}
			rec = z3950.EncodeRecord(r, q.Syntax, q.ElementSet)
		}
		if rec.Diag != nil {
			b = append(b, 'd')
			b = binary.AppendUvarint(b, uint64(rec.Diag.Condition))
			b = binary.AppendUvarint(b, uint64(len(rec.Diag.AddInfo)))
			b = append(b, rec.Diag.AddInfo...)
			continue
		}
		b = append(b, 'r')
		b = binary.AppendUvarint(b, uint64(len(rec.External)))
		b = append(b, rec.External...)
	}
	return Rendered{ContentType: contentZ3950, Body: b, Tags: tags, Diagnostic: len(p.Diagnostics) > 0}
}

var errBadEntry = errors.New("z3950: malformed cache entry")

// unpackZ3950 reads what packZ3950 wrote; the records share v's bytes.
func unpackZ3950(v []byte) (*z3950.Result, error) {
	total, n := binary.Uvarint(v)
	if n <= 0 || n >= len(v) {
		return nil, errBadEntry
	}
	v = v[n:]
	res := &z3950.Result{Total: int(total)}
	kind, v := v[0], v[1:]
	if kind == 'D' {
		c, n := binary.Uvarint(v)
		if n <= 0 {
			return nil, errBadEntry
		}
		return nil, &z3950.Diagnostic{Condition: int(c), AddInfo: string(v[n:])}
	}
	for len(v) > 0 {
		kind := v[0]
		v = v[1:]
		var c uint64
		if kind == 'd' {
			if c, n = binary.Uvarint(v); n <= 0 {
				return nil, errBadEntry
			}
			v = v[n:]
		}
		l, n := binary.Uvarint(v)
		if n <= 0 || uint64(len(v)-n) < l {
			return nil, errBadEntry
		}
		data := v[n : n+int(l)]
		v = v[n+int(l):]
		if kind == 'd' {
			res.Records = append(res.Records, z3950.Record{Diag: &z3950.Diagnostic{Condition: int(c), AddInfo: string(data)}})
		} else {
			res.Records = append(res.Records, z3950.Record{External: data})
		}
	}
	return res, nil
}

// ServeZ3950 answers Z39.50 on ln until ctx ends, then drains its
// sessions (bounded by the drain timeout).
func (s *Server) ServeZ3950(ctx context.Context, ln net.Listener) error {
	err := s.z3950.Serve(ctx, ln)
	if errors.Is(err, z3950.ErrServerClosed) {
		return nil
	}
	return err
}

// initZ3950 creates the Z39.50 server (it listens only in ServeZ3950) and
// registers its counters in /metrics.
func (s *Server) initZ3950() {
	s.z3950 = z3950.NewServer(z3950Backend{s}, s.cfg.Z3950Server(s.version), s.log)
	st := func(f func(z3950.Stats) int64) func() float64 {
		return func() float64 { return float64(f(s.z3950.Stats())) }
	}
	s.m.gaugeFunc("gateway_z3950_sessions", "Open Z39.50 sessions.", st(func(x z3950.Stats) int64 { return x.SessionsActive }))
	s.m.counterFunc("gateway_z3950_sessions_total", "Z39.50 sessions accepted.", st(func(x z3950.Stats) int64 { return x.SessionsTotal }))
	s.m.counterFunc("gateway_z3950_sessions_refused_total", "Z39.50 sessions refused at the session limit.", st(func(x z3950.Stats) int64 { return x.SessionsRefused }))
	s.m.counterFunc("gateway_z3950_protocol_errors_total", "Z39.50 sessions closed for a malformed or hostile PDU.", st(func(x z3950.Stats) int64 { return x.ProtocolErrors }))
	s.m.counterFunc("gateway_z3950_diagnostics_total", "Bib-1 diagnostics sent in Z39.50 responses.", st(func(x z3950.Stats) int64 { return x.Diagnostics }))
	s.m.counterFunc("gateway_z3950_backend_errors_total", "Z39.50 searches that failed upstream (diagnostic 2).", st(func(x z3950.Stats) int64 { return x.BackendFails }))
	s.m.counterFunc("gateway_z3950_idle_closed_total", "Z39.50 sessions closed for inactivity.", st(func(x z3950.Stats) int64 { return x.IdleClosed }))
	s.m.counterFunc("gateway_z3950_sessions_refused_client_total", "Z39.50 sessions refused at z3950.max_sessions_per_client (also in gateway_z3950_sessions_refused_total).", st(func(x z3950.Stats) int64 { return x.SessionsRefusedClient }))
	s.m.counterFunc("gateway_z3950_init_timeouts_total", "Z39.50 sessions closed for sending no initRequest within z3950.init_timeout.", st(func(x z3950.Stats) int64 { return x.InitClosed }))
	s.m.counterFunc("gateway_z3950_buffer_refused_total", "Z39.50 sessions closed because incoming PDU bytes reached z3950.max_buffered_bytes.", st(func(x z3950.Stats) int64 { return x.BufferRefused }))
	s.m.gaugeFunc("gateway_z3950_buffered_bytes", "Bytes of incoming Z39.50 PDUs held now (bounded by z3950.max_buffered_bytes).", st(func(x z3950.Stats) int64 { return x.Buffered }))
	s.m.counterFunc("gateway_z3950_records_total", "Records sent over Z39.50.", st(func(x z3950.Stats) int64 { return x.Records }))
	s.m.reg.MustRegister(z3950PDUs{s})
}

// z3950PDUs exports the PDU counts by type as one labelled counter.
type z3950PDUs struct{ s *Server }

var z3950PDUDesc = prometheus.NewDesc("gateway_z3950_pdus_total", "Z39.50 request PDUs received, by type.", []string{"pdu"}, nil)

func (c z3950PDUs) Describe(ch chan<- *prometheus.Desc) { ch <- z3950PDUDesc }

func (c z3950PDUs) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.s.z3950.Stats().PDUs {
		ch <- prometheus.MustNewConstMetric(z3950PDUDesc, prometheus.CounterValue, float64(n), name)
	}
}

// z3950Status is the Z39.50 block of /v1/status.
func (s *Server) z3950Status() map[string]any {
	st := s.z3950.Stats()
	return map[string]any{
		"enabled":          s.cfg.Z3950.Addr != "",
		"databases":        s.Z3950Databases(),
		"sessions":         st.SessionsActive,
		"sessions_total":   st.SessionsTotal,
		"sessions_refused": st.SessionsRefused,
		"pdus":             st.PDUs,
		"protocol_errors":  st.ProtocolErrors,
		"diagnostics":      st.Diagnostics,
		"backend_errors":   st.BackendFails,
		"records":          st.Records,
	}
}
