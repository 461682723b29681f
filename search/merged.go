package search

import (
	"net/http"

	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
)

// page returns the clusters of one page, 1-based.
func (r *Result) page(start, limit int) []*federate.Cluster {
	if start > len(r.Clusters) || limit <= 0 {
		return nil
	}
	return r.Clusters[start-1 : min(len(r.Clusters), start-1+limit)]
}

// mergedInfo is what a page of a merged result says beyond its records.
type MergedInfo struct {
	Result *Result
	// Complete says whether Total is every record the targets have: false
	// while a target has hits not fetched (or is still working), so that
	// paging on would find more than Total says.
	Complete bool
}

// complete says whether the merged result holds every record its targets
// have: no target still working, and every answering target's records all
// fetched.
func (r *Result) complete() bool {
	if r.Pending > 0 {
		return false
	}
	for _, t := range r.Targets {
		if t.more || (t.Status == StatusOK || t.Status == StatusStale) && t.Fetched < min(t.Hits, sru.AlmaMaxPosition) {
			return false
		}
	}
	return true
}

// targetPage is records start..start+count-1 of the merged result as a
// TargetPage, so that the one renderer of each surface writes single and
// merged answers: each record is its cluster's preferred record with the
// union of holdings and its sources; Total is the merged records.
func (r *Result) TargetPage(start, count int) *TargetPage {
	p := &TargetPage{Total: len(r.Clusters), Merged: &MergedInfo{Result: r, Complete: r.complete()}}
	if _, diags := r.AnswerStatus(); len(diags) > 0 {
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
func (r *Result) AnswerStatus() (int, []sru.Diagnostic) {
	if len(r.Clusters) > 0 {
		return http.StatusOK, nil
	}
	var diags []sru.Diagnostic
	for _, t := range r.Targets {
		if (t.Status != StatusSkipped && t.Status != StatusDiagnostic) || t.Diagnostic == nil {
			return http.StatusOK, nil
		}
		d := sru.Diagnostic{URI: t.Diagnostic.URI, Message: t.Diagnostic.Message, Details: t.Diagnostic.Details}
		if DiagnosticStatus(d) != http.StatusBadRequest {
			return http.StatusOK, nil
		}
		diags = append(diags, d)
	}
	if len(diags) == 0 {
		return http.StatusOK, nil
	}
	return http.StatusBadRequest, diags[:1]
}
