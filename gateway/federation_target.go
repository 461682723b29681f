package gateway

import (
	"context"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// sruTarget is a Target over one SRU endpoint (the network, a member's IZ
// or a configured server) with its own guard: breaker and deadline; the
// transport spends the call budget of its upstream name on every attempt.
type sruTarget struct {
	client   *sru.Client
	guard    *guard
	indexMap map[string]string // nil: the gateway's index names go unchanged
}

// Search maps the query into the target's index names, asks one page and
// parses its records once. Records that cannot be parsed are left out.
func (t *sruTarget) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
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
	var page *sru.Page
	err := t.guard.do(ctx, func(ctx context.Context) error {
		p, err := t.client.Search(ctx, sru.SearchParams{Query: query, Start: q.Start, Max: q.Count, Schema: q.Schema})
		page = p
		return err
	})
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

// buildFederation makes the federation's targets: nz and the members on
// their existing upstreams (one breaker per upstream, shared with the
// single-target path), each configured target on its own client and guard.
func (s *Server) buildFederation(tr *transport) {
	cfg := s.cfg
	fc := cfg.Federation
	var ts []*fedTarget
	ts = append(ts, &fedTarget{name: NZTarget, target: &sruTarget{client: s.nz.client, guard: s.nz.guard}, nz: true, weight: 1,
		maxRecords: cfg.Limits.MaxRecords, pageSize: sru.AlmaMaxRecords, schema: "marcxml"})
	for _, m := range cfg.Members {
		u, ok := s.members[m.Code]
		if !ok {
			continue
		}
		ts = append(ts, &fedTarget{name: m.Code, target: &sruTarget{client: u.client, guard: u.guard}, member: m.Code, weight: 1,
			maxRecords: cfg.Limits.MaxRecords, pageSize: sru.AlmaMaxRecords, schema: "marcxml"})
	}
	for _, tc := range fc.Targets {
		name := "sru:" + tc.Name
		client := &sru.Client{BaseURL: tc.URL, HTTP: tr.doer(name), MaxBody: cfg.Upstream.MaxBodyBytes,
			Version: tc.Version, PageMax: tc.PageSize, APIKey: tc.APIKey}
		g := newGuard(name, cfg.Breaker, tc.Timeout.D(), s.health)
		ts = append(ts, &fedTarget{name: tc.Name, target: &sruTarget{client: client, guard: g, indexMap: tc.IndexMap},
			weight: tc.Weight, maxRecords: tc.MaxRecords, pageSize: tc.PageSize, indexMap: tc.IndexMap, schema: tc.RecordSchema})
	}
	s.fed = newFederation(ts, fc.FanOut.Timeout.D(), cfg.Cache.TTL.D(), cfg.Cache.Stale.D(), cfg.Cache.MaxBytes/4, s.now, s.log)
}
