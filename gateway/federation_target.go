package gateway

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

// buildFederation makes the federation's targets: nz and the members are
// the pipeline's guarded Targets (one breaker per upstream, shared with
// the single-target path), each configured target gets its own client and
// guard.
func (s *Server) buildFederation(tr *transport) {
	cfg := s.cfg
	fc := cfg.Federation
	var ts []*fedTarget
	ts = append(ts, &fedTarget{name: NZTarget, target: s.targets[NZTarget], nz: true, weight: 1,
		maxRecords: cfg.Limits.MaxRecords, pageSize: sru.AlmaMaxRecords, schema: "marcxml"})
	for _, m := range cfg.Members {
		t, ok := s.targets[m.Code]
		if !ok {
			continue
		}
		ts = append(ts, &fedTarget{name: m.Code, target: t, member: m.Code, weight: 1,
			maxRecords: cfg.Limits.MaxRecords, pageSize: sru.AlmaMaxRecords, schema: "marcxml"})
	}
	for i := range fc.Targets {
		tc := &fc.Targets[i]
		if tc.isZ3950() {
			if ft := s.zFedTarget(tc); ft != nil {
				ts = append(ts, ft)
			}
			continue
		}
		name := "sru:" + tc.Name
		client := &sru.Client{BaseURL: tc.URL, HTTP: tr.doer(name), MaxBody: cfg.Upstream.MaxBodyBytes,
			Version: tc.Version, PageMax: tc.PageSize, APIKey: tc.APIKey}
		g := newGuard(name, cfg.Breaker, tc.Timeout.D(), s.health)
		ts = append(ts, &fedTarget{name: tc.Name, target: guarded(g, &fedSRUTarget{client: client, indexMap: tc.IndexMap}),
			weight: tc.Weight, maxRecords: tc.MaxRecords, pageSize: tc.PageSize, indexMap: tc.IndexMap, schema: tc.RecordSchema})
	}
	s.fed = newFederation(ts, fc.FanOut.Timeout.D(), cfg.Cache.TTL.D(), cfg.Cache.Stale.D(), cfg.Cache.MaxBytes/4, s.now, s.log)
}
