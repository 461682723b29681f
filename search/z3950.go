package search

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
	"github.com/almanet/gateway/z3950"
)

// zTarget is the Target adapter for a Z39.50 target (SPEC 15): the
// gateway's CQL becomes Bib-1 RPN through the target's index map, the
// origin's pooled session searches and presents, and ISO 2709 or MARCXML
// records become transform.Records like SRU ones. Like the other adapters
// it has no breaker or deadline of its own: it is wrapped with guarded.
type ZTarget struct {
	name    string
	Origin  *z3950.Origin
	index   z3950.IndexAttributes
	xml     bool
	timeout time.Duration               // the target's own deadline, for the words of a timeout
	spend   func(context.Context) error // the target's call budget, one slot per search; nil: none
}

// newZTarget builds the adapter of a validated Z39.50 target config.
func newZTarget(tc *config.TargetConfig) (*ZTarget, error) {
	index, err := z3950.ParseIndexMap(tc.IndexMap)
	if err != nil {
		return nil, err
	}
	syntax := z3950.OIDUSMARC
	if tc.Syntax == "xml" {
		syntax = z3950.OIDXML
	}
	o := z3950.NewOrigin(z3950.OriginConfig{
		Address: tc.Address, Database: tc.Database, Syntax: syntax, Elements: tc.Elements,
		UTF8: tc.Charset == "utf-8", Auth: tc.Auth, PageSize: tc.PageSize, IdleTimeout: tc.IdleTimeout.D(),
	})
	return &ZTarget{name: tc.Name, Origin: o, index: index, xml: syntax == z3950.OIDXML, timeout: tc.Timeout.D()}, nil
}

// Search implements Target. A query the target cannot take, and the
// target's Bib-1 diagnostic, are answers (diagnostics); failures are
// upstreamErrors in words; records that cannot be read are dropped and
// counted.
func (t *ZTarget) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	parsed, d := sru.ParseQuery(q.CQL, nil)
	if d != nil {
		return &TargetPage{Diagnostics: []sru.Diagnostic{*d}}, nil
	}
	rpn, d := z3950.CQLToRPN(parsed.CQL, t.index)
	if d != nil {
		return &TargetPage{Diagnostics: []sru.Diagnostic{*d}}, nil
	}
	if t.spend != nil {
		if err := t.spend(ctx); err != nil {
			return nil, err
		}
	}
	res, err := t.Origin.Search(ctx, rpn, q.Start, q.Count)
	if err != nil {
		return nil, t.failure(ctx, err)
	}
	if res.Diagnostic != nil {
		return &TargetPage{Total: res.Hits, Diagnostics: []sru.Diagnostic{bib1Diagnostic(res.Diagnostic)}}, nil
	}
	page := &TargetPage{Total: res.Hits, Records: make([]TargetRecord, 0, len(res.Records))}
	latin1 := res.Charset == "iso-8859-1"
	for _, r := range res.Records {
		rec := t.record(r, latin1)
		if rec == nil {
			page.Dropped++
			continue
		}
		page.Records = append(page.Records, TargetRecord{Position: r.Position, ID: rec.MMSID, Record: rec})
	}
	return page, nil
}

// record reads one retrieved record, nil when it cannot be read.
func (t *ZTarget) record(r z3950.Retrieved, latin1 bool) *transform.Record {
	if r.Data == nil || r.Problem != "" || r.Diagnostic != nil {
		return nil
	}
	data := r.Data
	if latin1 && !utf8.Valid(data) {
		data = latin1ToUTF8(data) // what the target said it would send
	}
	var rec *transform.Record
	var err error
	if t.xml || len(data) > 0 && data[0] == '<' {
		rec, err = transform.Parse(data)
	} else {
		rec, err = transform.ParseISO2709(data)
	}
	if err != nil {
		return nil
	}
	return rec
}

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// bib1Diagnostic is a target's Bib-1 diagnostic as a target status: the
// diagnostic set's OID and the condition as its URI, the condition in
// words, and the target's addinfo.
func bib1Diagnostic(d *z3950.Diagnostic) sru.Diagnostic {
	return sru.Diagnostic{
		URI:     "info:oid/" + z3950.OIDBib1Diagnostic + "/" + strconv.Itoa(d.Condition),
		Message: d.Error(),
		Details: d.AddInfo,
	}
}

// failure turns an origin error into the target's failure in words; a
// deadline stays a deadline (status timeout) and a cancel a cancel.
func (t *ZTarget) failure(ctx context.Context, err error) error {
	up := "z3950:" + t.name
	var ce *z3950.ClosedError
	var pe *z3950.ProtocolError
	var ne *net.OpError
	var detail string
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		detail = "the Z39.50 target did not answer within " + t.timeout.String()
		err = errors.Join(context.DeadlineExceeded, err)
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return err
	case errors.As(err, &ce):
		detail = "the Z39.50 " + strings.TrimPrefix(ce.Error(), "z3950: the ") // target closed the session (why): info
	case errors.As(err, &pe):
		detail = "the Z39.50 target sent a malformed or oversize answer: " + pe.Msg
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		detail = "the Z39.50 target hung up without answering"
	case errors.As(err, &ne) && ne.Op == "dial":
		detail = "the Z39.50 target could not be reached: " + ne.Err.Error()
	default:
		detail = "the Z39.50 target failed: " + strings.TrimPrefix(err.Error(), "z3950: ")
	}
	return &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: up, Detail: detail, Cause: err}
}

// zRegTarget registers a validated Z39.50 target behind its own guard
// (upstream z3950:<name>). One call fetches max_records: the origin
// searches once and presents them in pages of page_size on one session, so
// the federation asks it once. Its index map is the Bib-1 one, so a query
// using an index it lacks skips it with diagnostic 16, as for SRU.
func zRegTarget(cfg *config.Config, tc *config.TargetConfig, tr *upstream.Transport, health *upstream.Health) (*RegTarget, error) {
	zt, err := newZTarget(tc)
	if err != nil {
		return nil, err
	}
	up := "z3950:" + tc.Name
	zt.spend = func(ctx context.Context) error { return tr.Doer(up).Spend(ctx, up) }
	g := upstream.NewGuard(up, cfg.Breaker, tc.Timeout.D(), health)
	return &RegTarget{Name: tc.Name, Kind: KindZ3950, Label: tc.Name + ": federation target (Z39.50)",
		Target: Guarded(g, zt), adapter: zt, Guard: g, Budget: up, Weight: tc.Weight,
		MaxRecords: tc.MaxRecords, PageSize: tc.MaxRecords, IndexMap: tc.IndexMap}, nil
}
