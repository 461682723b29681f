package search

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// almaPageSize is Alma's cap on records per SRU page (SPEC section 1).
const almaPageSize = sru.AlmaMaxRecords

// sruTarget is the Target adapter for an Alma SRU endpoint (the network's
// or a member's). A query for more than Alma's page is split into pages of
// at most 50 that are fetched concurrently (SPEC 3.1: 100 records cost
// about one round trip) and joined in order; any failed page fails the
// whole answer, so a partial list is never cached. It has no breaker and
// no deadline of its own: wrap it with guarded.
type SRUTarget struct {
	Client *sru.Client
	Names  func(code string) string // member display names for the records' holdings; nil: none
}

// Search implements Target.
func (t *SRUTarget) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	start := max(q.Start, 1)
	schema := q.Schema
	if schema == "" {
		schema = "marcxml"
	}
	req := sru.Request{AlmaQuery: q.CQL, StartRecord: start, MaximumRecords: max(0, min(q.Count, sru.AlmaMaxPosition-start+1))}
	calls := req.AlmaPages()
	for i := range calls {
		calls[i].Schema = schema
	}
	pages := make([]*sru.Page, len(calls))
	parsed := make([][]*transform.Record, len(calls))
	if len(calls) == 1 {
		p, err := t.Client.SearchWith(ctx, calls[0], recordReader(&parsed[0]))
		if err != nil {
			return nil, err
		}
		pages[0] = p
	} else {
		g, gctx := errgroup.WithContext(ctx)
		for i, call := range calls {
			g.Go(func() error {
				p, err := t.Client.SearchWith(gctx, call, recordReader(&parsed[i]))
				pages[i] = p
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	out := &TargetPage{Total: pages[0].Total}
	for i, p := range pages {
		if len(p.Diagnostics) > 0 {
			if i > 0 && isPastEnd(p.Diagnostics) {
				// A page fetched concurrently past the end of a short
				// list: Alma answers it with diagnostic 61, which is not
				// the client's error.
				continue
			}
			out.Diagnostics = append(out.Diagnostics, p.Diagnostics...)
			continue
		}
		out.Total = max(out.Total, p.Total)
		read := parsed[i]
		for j, r := range p.Records {
			pos := r.Position
			if pos == 0 {
				pos = calls[i].Start + j
			}
			var rec *transform.Record
			if r.Read && len(read) > 0 {
				rec, read = read[0], read[1:]
			}
			tr := targetRecord(r, rec, pos)
			if tr.Record != nil && t.Names != nil {
				tr.Record.NameHoldings(t.Names)
			}
			out.Records = append(out.Records, tr)
		}
	}
	if start > 1 && len(out.Records) == 0 && isPastEnd(out.Diagnostics) {
		// Alma answers a start past the end with diagnostic 61 and no
		// numberOfRecords; the client is told the real total.
		p, err := t.Client.Search(ctx, sru.SearchParams{Query: q.CQL, Start: 1, Max: 0, Schema: schema})
		if err != nil {
			return nil, err
		}
		if len(p.Diagnostics) == 0 {
			out.Total = p.Total
		}
	}
	return out, nil
}

// isPastEnd says whether diagnostics are only "first record position out
// of range" (61).
func isPastEnd(ds []sru.Diagnostic) bool {
	if len(ds) == 0 {
		return false
	}
	for i := range ds {
		if ds[i].Number() != 61 {
			return false
		}
	}
	return true
}

// recordReader parses each record of a page where the page's scan finds
// it (sru.ParsePageWith): one tokenization of every record, no copy.
func recordReader(out *[]*transform.Record) sru.RecordReader {
	return func(b []byte) (int, error) {
		rec, n, err := transform.ParseElement(b)
		if err != nil {
			return 0, err
		}
		*out = append(*out, rec)
		return n, nil
	}
}

// targetRecord is one SRU record with its parsed form: rec when the page's
// scan parsed it, else parsed from the bytes ParsePage kept (a record sent
// escaped). A record that cannot be read has a nil Record: the renderers
// answer it with a surrogate diagnostic.
func targetRecord(r sru.RawRecord, rec *transform.Record, pos int) TargetRecord {
	tr := TargetRecord{Position: pos, ID: r.Identifier}
	if rec == nil && !r.Read {
		var err error
		if rec, err = transform.Parse(r.Data); err != nil {
			return tr
		}
	}
	if rec == nil {
		return tr
	}
	tr.Record = rec
	if tr.ID == "" {
		tr.ID = rec.MMSID
	}
	return tr
}
