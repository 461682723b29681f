package search

import (
	"context"

	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// Target is one searchable source behind the search pipeline: the network's
// Alma SRU (`nz`), a member's own IZ SRU, or another SRU server (SPEC 9.1).
// The pipeline (cache → coalesce → target → render) and every front end
// (JSON feed, SRU, Z39.50, federation) reach a source only through this
// interface; the breaker, call budget and deadline are a wrapper that
// implements it too. Names are held by whoever registers the target, as
// with groupcache's Getter.
type Target interface {
	// Search returns records q.Start..q.Start+q.Count-1 of q's result list,
	// parsed once. An SRU diagnostic from the target is an answer
	// (TargetPage.Diagnostics), not an error; errors are transport,
	// timeout, breaker, budget and malformed-body failures.
	Search(ctx context.Context, q TargetQuery) (*TargetPage, error)
}

// TargetFunc adapts a function to Target, for inline fakes in tests.
type TargetFunc func(ctx context.Context, q TargetQuery) (*TargetPage, error)

// Search calls f.
func (f TargetFunc) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	return f(ctx, q)
}

// TargetQuery is one canonical search as a target receives it.
type TargetQuery struct {
	// CQL is the validated, canonically re-serialized query in the
	// gateway's own index names (Alma's); a target maps them to its own.
	CQL string
	// Start is the first position wanted, 1-based.
	Start int
	// Count is how many records are wanted; 0 asks for the hit count only.
	Count int
	// Schema is the record schema asked of the target; empty means marcxml.
	Schema string
}

// TargetPage is what a target answered for one TargetQuery.
type TargetPage struct {
	// Total is the target's own hit count for the query.
	Total int
	// Records are in result-list order.
	Records []TargetRecord
	// Diagnostics are the target's SRU diagnostics (URIs normalized).
	Diagnostics []sru.Diagnostic
	// Merged is set when the page is one of a merged result (several
	// targets, or a sort the target cannot do): the targets' states, their
	// summed hits, and whether Total covers everything (fedResult.targetPage).
	Merged *MergedInfo
	// Dropped counts the records the target sent that could not be read
	// and were left out (a Z39.50 target's undecodable MARC).
	Dropped int
}

// TargetRecord is one record of a TargetPage.
type TargetRecord struct {
	// Position is the record's position in the target's result list.
	Position int
	// ID is the target's own record identifier (SRU recordIdentifier, or
	// the record's 001 when the target sends none).
	ID string
	// Record is the parsed record; nil when the target sent one that could
	// not be read (renderers answer it with a surrogate diagnostic, 64).
	// Output bytes come from transform's writers, never from re-parsing.
	Record *transform.Record
	// Holdings and Sources are set on a merged record: the union of its
	// sources' holdings (written instead of Record's own 852s) and every
	// (target, id) it was merged from.
	Holdings []transform.Holding
	Sources  []federate.Ref
}

// next is the position a client asks for after this page (start, count
// asked), or 0 when the list, or Alma's paging window, ends here. A page
// of a merged result that is not complete goes on past its total: the
// next page fetches deeper (SPEC 14).
func (p *TargetPage) Next(start, count int) int {
	if count <= 0 {
		return 0
	}
	if n := NextPosition(start, len(p.Records), p.Total); n > 0 {
		return n
	}
	if m := p.Merged; m != nil && !m.Complete && len(p.Records) > 0 && start+len(p.Records) <= sru.AlmaMaxPosition {
		return start + len(p.Records)
	}
	return 0
}
