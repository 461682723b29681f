package federate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FacetNames are the facets Facets can count (SPEC 9.2 facets=).
var FacetNames = []string{"institution", "year", "language", "type"}

// ParseFacets reads a facets= value: comma-separated names of FacetNames,
// each once.
func ParseFacets(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(FacetNames, name) {
			return nil, fmt.Errorf("unknown facet %q (%s)", name, strings.Join(FacetNames, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// FacetValue is one value of a facet with the number of merged records that
// have it.
type FacetValue struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Facets counts the clusters per value of each named facet, most frequent
// first (then by value): institution (the institutions of the merged
// holdings), year, language, and type (the merged holdings' types: print,
// electronic, digital). A cluster counts once per value; empty values are
// not counted. Every named facet has a list, empty when nothing counts.
func Facets(cs []*Cluster, names []string) map[string][]FacetValue {
	out := make(map[string][]FacetValue, len(names))
	for _, name := range names {
		counts := map[string]int{}
		seen := map[string]bool{}
		for _, c := range cs {
			clear(seen)
			count := func(v string) {
				if v = strings.TrimSpace(v); v != "" && !seen[v] {
					seen[v] = true
					counts[v]++
				}
			}
			switch name {
			case "institution":
				for _, h := range c.Holdings {
					count(h.Institution)
				}
			case "year":
				count(c.Record.Year)
			case "language":
				count(c.Record.Language)
			case "type":
				for _, h := range c.Holdings {
					for _, t := range h.Types {
						count(t)
					}
				}
			}
		}
		list := make([]FacetValue, 0, len(counts))
		for v, n := range counts {
			list = append(list, FacetValue{Value: v, Count: n})
		}
		slices.SortFunc(list, func(a, b FacetValue) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		out[name] = list
	}
	return out
}
