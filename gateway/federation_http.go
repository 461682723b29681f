package gateway

import (
	"context"
	"net/http"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
)

// The merged answers of the search model (searchmodel.go, SPEC 9.2, 14):
// the JSON feed (search.go) and the SRU front end (srusrv.go) page through
// one merged result (federation.search); each page is cached like any
// answer, except while a target is still working: then the next request
// pages the completed result instead.

// fedRequest is a federated search as the JSON feed asks it.
type fedRequest struct {
	search  *searchRequest
	targets []string
	order   federate.Sort
	facets  []string
	key     string
	// load makes the merged page on a miss (the Searcher's Load).
	load func(ctx context.Context) (Rendered, error)
}

// fedLife is the lifetime of a federated page: a search answer's.
func (s *Server) fedLife() cache.Lifetime {
	return cache.Lifetime{Fresh: s.cfg.Cache.TTL.D(), Stale: s.cfg.Cache.Stale.D()}
}

// page returns the clusters of one page, 1-based.
func (r *fedResult) page(start, limit int) []*federate.Cluster {
	if start > len(r.clusters) || limit <= 0 {
		return nil
	}
	return r.clusters[start-1 : min(len(r.clusters), start-1+limit)]
}

// mergedInfo is what a page of a merged result says beyond its records.
type mergedInfo struct {
	result *fedResult
	// Complete says whether Total is every record the targets have: false
	// while a target has hits not fetched (or is still working), so that
	// paging on would find more than Total says.
	Complete bool
}

// complete says whether the merged result holds every record its targets
// have: no target still working, and every answering target's records all
// fetched.
func (r *fedResult) complete() bool {
	if r.pending > 0 {
		return false
	}
	for _, t := range r.targets {
		if t.more || (t.Status == tsOK || t.Status == tsStale) && t.Fetched < min(t.Hits, almaMaxPosition) {
			return false
		}
	}
	return true
}

// targetPage is records start..start+count-1 of the merged result as a
// TargetPage, so that the one renderer of each surface writes single and
// merged answers: each record is its cluster's preferred record with the
// union of holdings and its sources; Total is the merged records.
func (r *fedResult) targetPage(start, count int) *TargetPage {
	p := &TargetPage{Total: len(r.clusters), Merged: &mergedInfo{result: r, Complete: r.complete()}}
	if _, diags := r.answerStatus(); len(diags) > 0 {
		p.Diagnostics = diags
	}
	for i, c := range r.page(start, count) {
		// The identifier /v1/records opens (SPEC 14): the network record's
		// MMS ID when the cluster has one, else {target}:{id} of its
		// preferred record.
		id := c.NZMMSID
		if id == "" {
			id = c.Preferred.Target + ":" + c.Preferred.ID
		}
		p.Records = append(p.Records, TargetRecord{Position: start + i, ID: id,
			Record: c.Record, Holdings: c.Holdings, Sources: c.Sources})
	}
	return p
}

// answerStatus is a federated answer's HTTP status and top diagnostics:
// 200, unless no target gave records and every one said the query was at
// fault (skipped, or a query diagnostic): then 400 with those diagnostics.
func (r *fedResult) answerStatus() (int, []sru.Diagnostic) {
	if len(r.clusters) > 0 {
		return http.StatusOK, nil
	}
	var diags []sru.Diagnostic
	for _, t := range r.targets {
		if (t.Status != tsSkipped && t.Status != tsDiagnostic) || t.Diagnostic == nil {
			return http.StatusOK, nil
		}
		d := sru.Diagnostic{URI: t.Diagnostic.URI, Message: t.Diagnostic.Message, Details: t.Diagnostic.Details}
		if diagnosticStatus(d) != http.StatusBadRequest {
			return http.StatusOK, nil
		}
		diags = append(diags, d)
	}
	if len(diags) == 0 {
		return http.StatusOK, nil
	}
	return http.StatusBadRequest, diags[:1]
}
