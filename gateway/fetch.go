package gateway

import (
	"context"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/almanet/gateway/sru"
)

// almaPageSize is Alma's cap on records per SRU page (SPEC section 1).
const almaPageSize = 50

// almaMaxPosition is the last record position Alma will page to.
const almaMaxPosition = 10000

// resultSet is a stitched run of Alma's result list.
type resultSet struct {
	total       int
	records     []sru.RawRecord
	diagnostics []sru.Diagnostic
}

// fetch returns records start..start+count-1 of the query's result list.
// A request larger than Alma's page is split into pages of at most 50 that
// are fetched concurrently (SPEC 3.1: 100 records cost about one round trip)
// and stitched in order. count 0 asks for the hit count only. Each page goes
// through the upstream's guard; any failed page fails the whole set, so a
// partial list is never cached.
func (s *Server) fetch(ctx context.Context, up *sruUpstream, query string, start, count int) (*resultSet, error) {
	if start < 1 {
		start = 1
	}
	end := min(start+count-1, almaMaxPosition)
	type span struct{ start, max int }
	var spans []span
	if count == 0 || start > end {
		spans = []span{{start, 0}}
	}
	for p := start; p <= end; p += almaPageSize {
		spans = append(spans, span{p, min(almaPageSize, end-p+1)})
	}
	pages := make([]*sru.Page, len(spans))
	g, gctx := errgroup.WithContext(ctx)
	for i, sp := range spans {
		g.Go(func() error {
			return up.guard.do(gctx, func(ctx context.Context) error {
				p, err := up.client.Search(ctx, sru.SearchParams{Query: query, Start: sp.start, Max: sp.max, Schema: "marcxml"})
				pages[i] = p
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	rs := &resultSet{total: pages[0].Total}
	for i, p := range pages {
		if i > 0 && spans[i].start > rs.total {
			// A page fetched concurrently past the end of a short list:
			// Alma answers it with diagnostic 61, which is not the
			// client's error.
			continue
		}
		if len(p.Diagnostics) > 0 {
			rs.diagnostics = append(rs.diagnostics, p.Diagnostics...)
			continue
		}
		if i == 0 || p.Total > rs.total {
			rs.total = max(rs.total, p.Total)
		}
		for j, r := range p.Records {
			if r.Position == 0 {
				r.Position = spans[i].start + j
			}
			rs.records = append(rs.records, r)
		}
	}
	if len(rs.diagnostics) > 0 && len(rs.records) == 0 {
		rs.total = 0
	}
	return rs, nil
}

// nextPosition is the position a client asks for next, or 0 when the list
// (or Alma's paging window) ends here.
func nextPosition(start, got, total int) int {
	n := start + got
	if got == 0 || n > total || n > almaMaxPosition {
		return 0
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
