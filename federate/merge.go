package federate

import (
	"slices"

	"github.com/almanet/gateway/internal/stdnum"
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
	Member string
	// MemberName is that member's display name, for the holding its
	// records add ("" when unknown).
	MemberName string
	Records    []Record
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
	// NZMMSID is the network record's MMS ID when the cluster has one: the
	// 001 of its nz record, else the 035 (EXLNZ-…) of a member's IZ record.
	NZMMSID  string
	Sources  []Ref               // every record of the cluster, in source order then position
	Holdings []transform.Holding // the union over the sources, one per institution
	Score    float64             // relevance (see the package comment)
	Position int                 // the best position in any source
	Weight   float64             // the highest weight among the sources

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

// idGroup is the records that share one identifier: a chain of entries in
// item order.
type idGroup struct {
	class      byte
	head, tail int32
}

type idEntry struct {
	item, next int32 // item -1: left out of the join
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
	n := len(items)
	u := newUnion(n, len(sources))

	// Every record's work key and the ISBN-13s of its ISBNs go into one
	// arena, made a string once, so that map keys are substrings of it.
	var kb keyBuilder
	arena := make([]byte, 0, n*80)
	keys := make([][2]int32, n) // the work key; [0] -1 when the record has none
	parts := make([][2]int32, n)
	isbns := make([][2]int32, 0, n)
	isbnOf := make([][2]int32, n) // isbns[isbnOf[i][0]:isbnOf[i][1]]
	for i, it := range items {
		r := it.rec.Rec
		start := len(arena)
		var part [2]int
		var ok bool
		if arena, part, ok = kb.workKey(arena, r); ok {
			keys[i] = [2]int32{int32(start), int32(len(arena))}
			parts[i] = [2]int32{int32(part[0]), int32(part[1])}
		} else {
			arena = arena[:start]
			keys[i] = [2]int32{-1, -1}
		}
		isbnOf[i][0] = int32(len(isbns))
		for _, s := range r.ISBNs {
			if slices.Contains(r.SetISBNs, s) {
				continue // names the set, not this volume
			}
			at := len(arena)
			if arena = stdnum.AppendISBN13(arena, s); len(arena) > at {
				isbns = append(isbns, [2]int32{int32(at), int32(len(arena))})
			}
		}
		isbnOf[i][1] = int32(len(isbns))
	}
	text := string(arena)
	sub := func(s [2]int32) string { return text[s[0]:s[1]] }

	// Identifiers, in SPEC 9.4's order, grouped.
	byKey := make(map[idKey]int32, n*3)
	groups := make([]idGroup, 0, n*3)
	entries := make([]idEntry, 0, n*3)
	add := func(key idKey, i int32) {
		g, ok := byKey[key]
		if !ok {
			g = int32(len(groups))
			byKey[key] = g
			groups = append(groups, idGroup{class: key.class, head: -1, tail: -1})
		}
		e := int32(len(entries))
		if t := groups[g].tail; t >= 0 {
			if entries[t].item == i {
				return // one record, one entry (an ISBN-10 and its ISBN-13)
			}
			entries[t].next = e
		} else {
			groups[g].head = e
		}
		groups[g].tail = e
		entries = append(entries, idEntry{item: i, next: -1})
	}
	for i, it := range items {
		i := int32(i)
		src, r := &sources[it.src], it.rec.Rec
		u.targets[i].set(it.src)
		if src.NZ && r.MMSID != "" {
			add(idKey{'n', "", r.MMSID}, i)
		}
		if r.NZMMSID != "" {
			add(idKey{'n', "", r.NZMMSID}, i)
		}
		if src.Member != "" && r.MMSID != "" && r.NZMMSID == "" {
			add(idKey{'z', src.Member, r.MMSID}, i)
		}
		if src.NZ {
			for _, h := range r.Holdings {
				if h.IZMMSID != "" {
					add(idKey{'z', h.Institution, h.IZMMSID}, i)
				}
			}
		}
		if r.CZMMSID != "" {
			add(idKey{'c', "", r.CZMMSID}, i)
		}
		for _, o := range r.OCLCNumbers {
			add(idKey{'o', "", o}, i)
		}
		for _, s := range isbns[isbnOf[i][0]:isbnOf[i][1]] {
			add(idKey{'i', "", sub(s)}, i)
		}
		for _, s := range r.ISSNs {
			add(idKey{'s', "", s}, i)
		}
	}
	// Which ISBNs name a work: not one on several records of one target
	// (a set's, or a reused one), nor one on records of different volumes.
	// The classes are marked on every record before any join.
	for g := range groups {
		grp := &groups[g]
		if grp.class == 'i' {
			isbnGroup(grp, entries, items, parts, text)
		}
		bit := classBit(grp.class)
		for e := grp.head; e >= 0; e = entries[e].next {
			if i := entries[e].item; i >= 0 {
				u.mask[i] |= bit
			}
		}
	}
	for g := range groups {
		var first int32 = -1
		for e := groups[g].head; e >= 0; e = entries[e].next {
			switch i := entries[e].item; {
			case i < 0:
			case first < 0:
				first = i
			default:
				u.union(first, i)
			}
		}
	}

	// Then the work key, where it cannot be wrong: each record meets the
	// earlier records of its key.
	keyHead := make(map[string]int32, n)
	prev := make([]int32, n)
	for i := range items {
		i := int32(i)
		prev[i] = -1
		if keys[i][0] < 0 {
			continue
		}
		k := sub(keys[i])
		if p, ok := keyHead[k]; ok {
			prev[i] = p
		}
		keyHead[k] = i
		r := u.find(i)
		for p := prev[i]; p >= 0; p = prev[p] {
			if c := u.find(p); c != r && u.compatible(r, c) {
				r = u.union(r, c)
			}
		}
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

// isbnGroup leaves out of an ISBN's group the records that do not show it
// names their work: every record of a target that has it on more than one
// record, and all of them when the rest are of more than one volume (their
// work keys' parts differ).
func isbnGroup(grp *idGroup, entries []idEntry, items []item, parts [][2]int32, text string) {
	// Entries are in item order, so one target's are adjacent.
	for e := grp.head; e >= 0; {
		src := items[entries[e].item].src
		f := entries[e].next
		for f >= 0 && items[entries[f].item].src == src {
			f = entries[f].next
		}
		if f != entries[e].next { // more than one record of src
			for x := e; x != f; x = entries[x].next {
				entries[x].item = -1
			}
		}
		e = f
	}
	var part string
	seen := false
	for e := grp.head; e >= 0; e = entries[e].next {
		i := entries[e].item
		if i < 0 {
			continue
		}
		p := text[parts[i][0]:parts[i][1]]
		if p == "" {
			continue
		}
		if seen && p != part {
			for e := grp.head; e >= 0; e = entries[e].next {
				entries[e].item = -1
			}
			return
		}
		part, seen = p, true
	}
}

func classBit(class byte) uint8 {
	switch class {
	case 'n':
		return classNZ
	case 'c':
		return classCZ
	case 'o':
		return classOCLC
	case 'i':
		return classISBN
	case 's':
		return classISSN
	}
	return 0
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
		switch src := &sources[it.src]; {
		case src.NZ && it.rec.Rec.MMSID != "":
			c.NZMMSID = it.rec.Rec.MMSID
		case src.Member != "" && it.rec.Rec.NZMMSID != "" && c.NZMMSID == "":
			c.NZMMSID = it.rec.Rec.NZMMSID
		}
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
			hb.addIZ(m, sources[it.src].MemberName, it.rec.Rec)
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

func (h *holdingSet) add(inst, izID, name string, types []string) {
	i := h.find(inst)
	if i < 0 {
		h.list = append(h.list, transform.Holding{Institution: inst, IZMMSID: izID, Name: name, Types: orderTypes(nil, types)})
		return
	}
	if h.list[i].IZMMSID == "" {
		h.list[i].IZMMSID = izID
	}
	if h.list[i].Name == "" {
		h.list[i].Name = name
	}
	h.list[i].Types = orderTypes(h.list[i].Types, types)
}

func (h *holdingSet) add852s(hs []transform.Holding) {
	for _, x := range hs {
		h.add(x.Institution, x.IZMMSID, x.Name, x.Types)
	}
}

// addIZ adds the holding an IZ record stands for: member holds it, with the
// types its AVA (print), AVE (electronic) and AVD (digital) fields show.
func (h *holdingSet) addIZ(member, name string, r *transform.Record) {
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
	h.add(member, r.MMSID, name, types)
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
