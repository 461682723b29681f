package federate

import (
	"slices"

	"github.com/almanet/gateway/transform"
)

// Source is one target's answer to a federated search: its records in its
// own result order.
type Source struct {
	Target string  // the target's name, e.g. "nz", "01NET_INST", "loc"
	Weight float64 // ranking weight; 0 means 1
	// NZ marks the network's own SRU: its records' 001 is the NZ MMS ID, and
	// its record is a cluster's preferred source.
	NZ bool
	// Member is the institution code of a member's own IZ SRU ("" for any
	// other target): its records' 001 is that member's IZ MMS ID, and each
	// record adds a holding for the member.
	Member  string
	Records []Record
}

// Record is one record of a Source.
type Record struct {
	ID       string // the target's own identifier (recordIdentifier, else 001)
	Position int    // in the target's result list, 1-based
	Rec      *transform.Record
}

// Ref names one record of one target.
type Ref struct {
	Target string `json:"target"`
	ID     string `json:"id"`
}

// Cluster is one merged record: every source record of one work.
type Cluster struct {
	// Record is the preferred source's record: the cluster's bibliographic
	// fields. Its own Holdings are that record's; the cluster's are Holdings.
	Record    *transform.Record
	Preferred Ref
	Sources   []Ref               // every record of the cluster, in source order then position
	Holdings  []transform.Holding // the union over the sources, one per institution
	Score     float64             // relevance (see the package comment)
	Position  int                 // the best position in any source
	Weight    float64             // the highest weight among the sources

	first int    // index of the first source that has a record in the cluster
	id    string // the preferred record's ID, the last tie-breaker
	year  int    // the year as a number, 0 when unknown
	title string // the title's sort key, made for SortTitle only
}

// Options say how to rank and sort.
type Options struct {
	// Terms are the query's words (see Terms); relevance scores them.
	Terms []string
	// Sort orders the clusters; "" means SortRelevance.
	Sort Sort
}

// idKey is one identifier of a record: its class ('n' NZ MMS ID, 'z' IZ
// MMS ID of member inst, 'c' CZ ID, 'o' OCLC number, 'i' ISBN-13, 's' ISSN)
// and value.
type idKey struct {
	class    byte
	inst, id string
}

// item is one record of the merge with where it came from.
type item struct {
	src int
	rec *Record
}

// Merge clusters the sources' records, ranks the clusters and sorts them
// (see the package comment). It never changes the sources' records. Records
// without a parsed record (Rec nil) are left out.
func Merge(sources []Source, opt Options) []*Cluster {
	var items []item
	for si := range sources {
		for ri := range sources[si].Records {
			if sources[si].Records[ri].Rec != nil {
				items = append(items, item{si, &sources[si].Records[ri]})
			}
		}
	}
	u := newUnion(len(items), len(sources))
	byKey := make(map[idKey]int32, len(items)*4)
	join := func(key idKey, i int32) {
		if j, ok := byKey[key]; ok {
			u.union(i, j)
			return
		}
		byKey[key] = i
	}
	// Identifiers, in SPEC 9.4's order.
	for i, it := range items {
		i := int32(i)
		src, r := &sources[it.src], it.rec.Rec
		u.targets[i].set(it.src)
		if src.NZ && r.MMSID != "" {
			join(idKey{'n', "", r.MMSID}, i)
			u.mask[i] |= classNZ
		}
		if r.NZMMSID != "" {
			join(idKey{'n', "", r.NZMMSID}, i)
			u.mask[i] |= classNZ
		}
		if src.Member != "" && r.MMSID != "" && r.NZMMSID == "" {
			join(idKey{'z', src.Member, r.MMSID}, i)
		}
		if src.NZ {
			for _, h := range r.Holdings {
				if h.IZMMSID != "" {
					join(idKey{'z', h.Institution, h.IZMMSID}, i)
				}
			}
		}
		if r.CZMMSID != "" {
			join(idKey{'c', "", r.CZMMSID}, i)
			u.mask[i] |= classCZ
		}
		for _, o := range r.OCLCNumbers {
			join(idKey{'o', "", o}, i)
			u.mask[i] |= classOCLC
		}
		for _, s := range r.ISBNs {
			if s = isbn13(s); s != "" {
				join(idKey{'i', "", s}, i)
				u.mask[i] |= classISBN
			}
		}
		for _, s := range r.ISSNs {
			join(idKey{'s', "", s}, i)
			u.mask[i] |= classISSN
		}
	}
	// Then the title/author/year key, where it cannot be wrong.
	var kb keyBuilder
	keyRoots := make(map[string][]int32, len(items))
	for i, it := range items {
		k := kb.titleKey(it.rec.Rec.Title, it.rec.Rec.Authors, it.rec.Rec.Year)
		if k == "" {
			continue
		}
		r := u.find(int32(i))
		list := keyRoots[k]
		for _, c := range list {
			if c = u.find(c); c != r && u.compatible(r, c) {
				r = u.union(r, c)
			}
		}
		out := list[:0]
		for _, c := range list {
			if c = u.find(c); c != r && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		keyRoots[k] = append(out, r)
	}
	clusters := u.clusters(items, sources)
	sc := newScorer(opt.Terms)
	for _, c := range clusters {
		c.Score = sc.score(c)
	}
	if opt.Sort == SortTitle {
		for _, c := range clusters {
			c.title = kb.titleSort(c.Record.Title)
		}
	}
	sortClusters(clusters, opt.Sort)
	return clusters
}

// Identifier classes a cluster carries; two clusters that both carry one
// class (necessarily with different values, or they would be one cluster)
// are two works, whatever their titles say.
const (
	classNZ uint8 = 1 << iota
	classCZ
	classOCLC
	classISBN
	classISSN
)

// bits is a small set of source indexes.
type bits []uint64

func (b bits) set(i int) { b[i/64] |= 1 << (i % 64) }

func (b bits) or(o bits) {
	for i := range b {
		b[i] |= o[i]
	}
}

func and(a, b bits) bool {
	for i := range a {
		if a[i]&b[i] != 0 {
			return true
		}
	}
	return false
}

// union is a union-find over the items whose root is always the lowest
// index, so that the outcome does not depend on the order of joins; each
// root carries its cluster's identifier classes and targets.
type union struct {
	parent  []int32
	mask    []uint8
	targets []bits
}

func newUnion(n, nSources int) *union {
	words := (nSources + 63) / 64
	backing := make([]uint64, n*words)
	u := &union{parent: make([]int32, n), mask: make([]uint8, n), targets: make([]bits, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
		u.targets[i] = bits(backing[i*words : (i+1)*words : (i+1)*words])
	}
	return u
}

func (u *union) find(i int32) int32 {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

// union joins the sets of a and b and returns the new root.
func (u *union) union(a, b int32) int32 {
	a, b = u.find(a), u.find(b)
	if a == b {
		return a
	}
	if b < a {
		a, b = b, a
	}
	u.parent[b] = a
	u.mask[a] |= u.mask[b]
	u.targets[a].or(u.targets[b])
	return a
}

// compatible reports whether the clusters of roots a and b may be joined by
// the key alone: no target in common, and no identifier class in common.
func (u *union) compatible(a, b int32) bool {
	return u.mask[a]&u.mask[b] == 0 && !and(u.targets[a], u.targets[b])
}

// clusters builds one Cluster per root, in the order of their first records.
func (u *union) clusters(items []item, sources []Source) []*Cluster {
	index := make(map[int32]int, len(items))
	var groups [][]int32
	for i := range items {
		r := u.find(int32(i))
		g, ok := index[r]
		if !ok {
			g = len(groups)
			index[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], int32(i))
	}
	out := make([]*Cluster, len(groups))
	for gi, g := range groups {
		out[gi] = build(g, items, sources)
	}
	return out
}

func weightOf(s *Source) float64 {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

// build makes the cluster of items g (in index order).
func build(g []int32, items []item, sources []Source) *Cluster {
	pref := g[0]
	better := func(a, b int32) bool { // a preferred over b
		sa, sb := &sources[items[a].src], &sources[items[b].src]
		if sa.NZ != sb.NZ {
			return sa.NZ
		}
		if wa, wb := weightOf(sa), weightOf(sb); wa != wb {
			return wa > wb
		}
		if items[a].src != items[b].src {
			return items[a].src < items[b].src
		}
		return items[a].rec.Position < items[b].rec.Position
	}
	c := &Cluster{Sources: make([]Ref, 0, len(g)), first: items[g[0]].src, Position: items[g[0]].rec.Position}
	for _, i := range g {
		it := items[i]
		if better(i, pref) {
			pref = i
		}
		c.Sources = append(c.Sources, Ref{Target: sources[it.src].Target, ID: it.rec.ID})
		c.Position = min(c.Position, it.rec.Position)
		c.Weight = max(c.Weight, weightOf(&sources[it.src]))
	}
	p := items[pref]
	c.Record = p.rec.Rec
	c.Preferred = Ref{Target: sources[p.src].Target, ID: p.rec.ID}
	c.id = p.rec.ID
	c.year = yearOf(c.Record.Year)

	var hb holdingSet
	hb.add852s(c.Record.Holdings)
	for _, i := range g {
		if i != pref {
			hb.add852s(items[i].rec.Rec.Holdings)
		}
	}
	for _, i := range g {
		it := items[i]
		if m := sources[it.src].Member; m != "" {
			hb.addIZ(m, it.rec.Rec)
		}
	}
	c.Holdings = hb.list
	if c.Holdings == nil {
		c.Holdings = []transform.Holding{}
	}
	return c
}

// holdingSet is the union of holdings, one per institution in first-seen
// order, types in the order print, electronic, digital, then others.
type holdingSet struct {
	list []transform.Holding
}

func (h *holdingSet) find(inst string) int {
	for i := range h.list {
		if h.list[i].Institution == inst {
			return i
		}
	}
	return -1
}

func (h *holdingSet) add(inst, izID string, types []string) {
	i := h.find(inst)
	if i < 0 {
		h.list = append(h.list, transform.Holding{Institution: inst, IZMMSID: izID, Types: orderTypes(nil, types)})
		return
	}
	if h.list[i].IZMMSID == "" {
		h.list[i].IZMMSID = izID
	}
	h.list[i].Types = orderTypes(h.list[i].Types, types)
}

func (h *holdingSet) add852s(hs []transform.Holding) {
	for _, x := range hs {
		h.add(x.Institution, x.IZMMSID, x.Types)
	}
}

// addIZ adds the holding an IZ record stands for: member holds it, with the
// types its AVA (print), AVE (electronic) and AVD (digital) fields show.
func (h *holdingSet) addIZ(member string, r *transform.Record) {
	var types []string
	for _, a := range r.Availability {
		switch a.Kind {
		case "physical":
			types = append(types, "print")
		case "electronic":
			types = append(types, "electronic")
		case "digital":
			types = append(types, "digital")
		}
	}
	h.add(member, r.MMSID, types)
}

var typeOrder = map[string]int{"print": 0, "electronic": 1, "digital": 2}

// orderTypes returns the union of have and add (a new slice, never one of
// the records'), known types first in their fixed order.
func orderTypes(have, add []string) []string {
	out := make([]string, 0, len(have)+len(add))
	out = append(out, have...)
	for _, t := range add {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int {
		ra, oka := typeOrder[a]
		rb, okb := typeOrder[b]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	return out
}

func yearOf(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	if len(s) < 4 {
		return 0
	}
	return n
}
