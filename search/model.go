package search

import (
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
)

// The search model (SPEC 14), one for the JSON feed, the SRU front end and
// Z39.50: a search names its targets (targets=, a database, else
// default_targets, else nz). One target is a pass-through: its own total,
// paging to Alma's 10,000 cap, and a sort it can do sent as its own CQL
// sortBy. Several targets, a sort the one target cannot do, or facets
// (counts over merged records) are fanned out and merged (federation.go),
// and the answer says whether it covers everything (complete).

// searchPlan is how one search is answered.
type SearchPlan struct {
	Names []string // the resolved targets, in registration order
	// single is the pass-through target; nil when the search is merged.
	Single *RegTarget
	// query is what goes to the targets: for a pass-through, with the
	// sortBy the sort asks for.
	Query *sru.Query
	Order federate.Sort // the merged order (merged searches)
}

// almaSorts are the sorts a target that sorts by Alma's indexes does
// itself, as the CQL sortBy sent to it; relevance and position are its own
// result order.
var almaSorts = map[federate.Sort]string{
	federate.SortDate:  "alma.main_pub_date/sort.descending",
	federate.SortTitle: "alma.title/sort.ascending",
}

// plan decides how a search over names is answered. sort is the sort=
// value ("" for none; SRU and Z39.50 have none), facets whether facet
// counts are asked. A sort= that asks for an order while the query has its
// own CQL sortBy is a client error: the two would disagree.
func (r *Registry) Plan(names []string, sort string, facets bool, q *sru.Query) (SearchPlan, error) {
	def := federate.SortRelevance
	if len(names) == 1 {
		def = federate.SortPosition
	}
	order, err := federate.ParseSort(sort, def)
	if err != nil {
		return SearchPlan{}, badRequest(6, err.Error())
	}
	p := SearchPlan{Names: names, Query: q, Order: order}
	if len(names) != 1 || facets {
		return p, nil
	}
	t, _ := r.Get(names[0])
	key, sorted := almaSorts[order]
	if !sorted {
		p.Single = t // position and relevance: the target's own order
		return p, nil
	}
	if q.SortKey != "" {
		return SearchPlan{}, badRequest(6, "sort="+sort+" and the query's sortBy both ask for an order; give one of them")
	}
	if !t.Sorts {
		return p, nil // merged: sorted over the records fetched, and says so (complete)
	}
	sq := *q
	sq.SortKey = key
	sq.AlmaQuery = q.Canonical + " sortBy " + key
	p.Single, p.Query = t, &sq
	return p, nil
}
