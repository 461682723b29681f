package search

import (
	"context"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// fedSRUTarget is the Target adapter for a configured SRU server (SPEC
// 9.1): any SRU version, the target's own page size (one page per call),
// and the gateway's index names mapped into the target's. Like sruTarget it
// has no breaker or deadline of its own: it is wrapped with guarded.
type fedSRUTarget struct {
	client   *sru.Client
	indexMap map[string]string // nil: the gateway's index names go unchanged
}

// Search maps the query into the target's index names, asks one page and
// parses its records once. Records that cannot be parsed are left out.
func (t *fedSRUTarget) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	query := q.CQL
	if t.indexMap != nil {
		parsed, d := sru.ParseQuery(q.CQL, nil)
		if d != nil {
			return &TargetPage{Diagnostics: []sru.Diagnostic{*d}}, nil
		}
		if query, d = sru.MapQuery(parsed.CQL, t.indexMap); d != nil {
			return &TargetPage{Diagnostics: []sru.Diagnostic{*d}}, nil
		}
	}
	page, err := t.client.Search(ctx, sru.SearchParams{Query: query, Start: q.Start, Max: q.Count, Schema: q.Schema})
	if err != nil {
		return nil, err
	}
	out := &TargetPage{Total: page.Total, Diagnostics: page.Diagnostics, Records: make([]TargetRecord, 0, len(page.Records))}
	for i, raw := range page.Records {
		rec, err := transform.Parse(raw.Data)
		if err != nil {
			continue
		}
		pos := raw.Position
		if pos <= 0 {
			pos = q.Start + i
		}
		id := raw.Identifier
		if id == "" {
			id = rec.MMSID
		}
		out.Records = append(out.Records, TargetRecord{Position: pos, ID: id, Record: rec})
	}
	return out, nil
}
