package federate

import (
	"slices"
	"sync"

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

// scratch is one Merge's working memory. It is pooled: a merge of 4 × 100
// records needs some 200 kB of it (the identifier map above all), and
// allocating that anew each time made the garbage collector the merge's
// largest cost (issue 23). Nothing in it outlives the Merge: the clusters
// and everything they hold are allocated for the caller.
type scratch struct {
	items   []item
	arena   []byte
	keys    [][2]int32 // the work key; [0] -1 when the record has none
	parts   [][2]int32
	isbns   [][2]int32
	isbnOf  [][2]int32 // isbns[isbnOf[i][0]:isbnOf[i][1]]
	byKey   map[idKey]int32
	groups  []idGroup
	entries []idEntry
	keyHead map[string]int32
	prev    []int32
	u       union
	kb      keyBuilder
	// cluster membership: group[root] (-1 none yet), then the members of
	// every cluster in one list, at start[g]:start[g+1]
	group   []int32
	start   []int32
	members []int32
	cursor  []int32
	hs      holdingSet
	sc      scorer
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{byKey: map[idKey]int32{}, keyHead: map[string]int32{}}
}}

// release drops what points into the sources and returns s to the pool.
func (s *scratch) release() {
	clear(s.items)
	clear(s.byKey)
	clear(s.keyHead)
	s.hs.reset()
	s.sc.terms = s.sc.terms[:0]
	scratchPool.Put(s)
}

// sized returns b with length n, reusing its array when it is large enough;
// the elements are not cleared.
func sized[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// Merge clusters the sources' records, ranks the clusters and sorts them
// (see the package comment). It never changes the sources' records. Records
// without a parsed record (Rec nil) are left out.
func Merge(sources []Source, opt Options) []*Cluster {
	s := scratchPool.Get().(*scratch)
	defer s.release()
	items := s.items[:0]
	for si := range sources {
		for ri := range sources[si].Records {
			if sources[si].Records[ri].Rec != nil {
				items = append(items, item{si, &sources[si].Records[ri]})
			}
		}
	}
	s.items = items
	n := len(items)
	u := &s.u
	u.reset(n, len(sources))

	// Every record's work key and the ISBN-13s of its ISBNs go into one
	// arena, made a string once, so that map keys are substrings of it.
	kb := &s.kb
	arena := s.arena[:0]
	keys := sized(s.keys, n)
	parts := sized(s.parts, n)
	isbns := s.isbns[:0]
	isbnOf := sized(s.isbnOf, n)
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
			parts[i] = [2]int32{}
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
	s.arena, s.keys, s.parts, s.isbns, s.isbnOf = arena, keys, parts, isbns, isbnOf
	text := string(arena)
	sub := func(s [2]int32) string { return text[s[0]:s[1]] }

	// Identifiers, in SPEC 9.4's order, grouped.
	byKey := s.byKey
	groups := s.groups[:0]
	entries := s.entries[:0]
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
		u.setTarget(i, it.src)
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
	s.groups, s.entries = groups, entries
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
	keyHead := s.keyHead
	prev := sized(s.prev, n)
	s.prev = prev
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
	clusters := s.clusters(sources)
	sc := &s.sc
	sc.reset(opt.Terms)
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

// union is a union-find over the items whose root is always the lowest
// index, so that the outcome does not depend on the order of joins; each
// root carries its cluster's identifier classes and targets (a set of
// source indexes, words uint64s per item in targets).
type union struct {
	parent  []int32
	mask    []uint8
	words   int
	targets []uint64
}

// reset makes u n singletons over nSources sources.
func (u *union) reset(n, nSources int) {
	u.words = (nSources + 63) / 64
	u.parent = sized(u.parent, n)
	u.mask = sized(u.mask, n)
	u.targets = sized(u.targets, n*u.words)
	for i := range u.parent {
		u.parent[i] = int32(i)
	}
	clear(u.mask)
	clear(u.targets)
}

func (u *union) setTarget(i int32, src int) {
	u.targets[int(i)*u.words+src/64] |= 1 << (src % 64)
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
	ta, tb := u.targets[int(a)*u.words:][:u.words], u.targets[int(b)*u.words:][:u.words]
	for w := range ta {
		ta[w] |= tb[w]
	}
	return a
}

// compatible reports whether the clusters of roots a and b may be joined by
// the key alone: no target in common, and no identifier class in common.
func (u *union) compatible(a, b int32) bool {
	if u.mask[a]&u.mask[b] != 0 {
		return false
	}
	ta, tb := u.targets[int(a)*u.words:][:u.words], u.targets[int(b)*u.words:][:u.words]
	for w := range ta {
		if ta[w]&tb[w] != 0 {
			return false
		}
	}
	return true
}

// clusters builds one Cluster per root, in the order of their first
// records. The clusters, their sources, their holdings and the holdings'
// types are each allocated once for all clusters, each cluster's slices
// capped at their length, so that the merge makes a handful of allocations
// however many clusters it yields.
func (s *scratch) clusters(sources []Source) []*Cluster {
	items, u := s.items, &s.u
	n := len(items)
	group := sized(s.group, n)
	for i := range group {
		group[i] = -1
	}
	count := sized(s.start, n+1)[:0]
	holdings, types := 0, 0 // upper bounds of what the clusters hold
	for i := range items {
		r := u.find(int32(i))
		g := group[r]
		if g < 0 {
			g = int32(len(count))
			group[r] = g
			count = append(count, 0)
		}
		count[g]++
		rec := items[i].rec.Rec
		holdings += len(rec.Holdings)
		for _, h := range rec.Holdings {
			types += len(h.Types)
		}
		if sources[items[i].src].Member != "" {
			holdings++
			types += min(len(rec.Availability), 3)
		}
	}
	ng := len(count)
	// count becomes start: group g's members are members[start[g]:start[g+1]].
	start := append(count, 0)
	at := int32(0)
	for g := range ng {
		c := start[g]
		start[g] = at
		at += c
	}
	start[ng] = at
	members := sized(s.members, n)
	cursor := append(sized(s.cursor, 0), start[:ng]...)
	s.group, s.start, s.members, s.cursor = group, start, members, cursor
	// Filled in index order, so that each cluster's members are in index
	// order.
	for i := range items {
		g := group[u.find(int32(i))]
		members[cursor[g]] = int32(i)
		cursor[g]++
	}

	cs := make([]Cluster, ng)
	out := make([]*Cluster, ng)
	refs := make([]Ref, n)
	hold := make([]transform.Holding, 0, max(holdings, 1))
	typ := make([]string, 0, max(types, 1))
	for g := range ng {
		c := &cs[g]
		hold, typ = s.build(c, members[start[g]:start[g+1]], refs[start[g]:start[g+1]:start[g+1]], sources, hold, typ)
		out[g] = c
	}
	return out
}
func weightOf(s *Source) float64 {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

// build makes cluster c of items g (in index order), its Sources in refs
// (len(g) long); its holdings and their types are appended to hold and
// typ, which it returns.
func (s *scratch) build(c *Cluster, g []int32, refs []Ref, sources []Source, hold []transform.Holding, typ []string) ([]transform.Holding, []string) {
	items := s.items
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
	*c = Cluster{Sources: refs[:0], first: items[g[0]].src, Position: items[g[0]].rec.Position}
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

	hs := &s.hs
	hs.reset()
	hs.add852s(c.Record.Holdings)
	for _, i := range g {
		if i != pref {
			hs.add852s(items[i].rec.Rec.Holdings)
		}
	}
	for _, i := range g {
		it := items[i]
		if m := sources[it.src].Member; m != "" {
			hs.addIZ(m, sources[it.src].MemberName, it.rec.Rec)
		}
	}
	at := len(hold)
	hold, typ = hs.appendTo(hold, typ)
	c.Holdings = hold[at:len(hold):len(hold)] // never nil: hold has an array
	return hold, typ
}

// holdingSet is the union of holdings, one per institution in first-seen
// order, types in the order print, electronic, digital, then others in
// first-seen order.
type holdingSet struct {
	list []holdingTypes
}

// holdingTypes is one holding of a holdingSet: the types print,
// electronic and digital as bits, the others in a list.
type holdingTypes struct {
	inst, izID, name string
	known            uint8
	others           []string
}

// The known types, in their order.
var knownTypes = [...]string{"print", "electronic", "digital"}

func (h *holdingSet) reset() {
	clear(h.list)
	h.list = h.list[:0]
}

// add merges one holding into the set and returns its index.
func (h *holdingSet) add(inst, izID, name string, types []string) int {
	i := -1
	for j := range h.list {
		if h.list[j].inst == inst {
			i = j
			break
		}
	}
	if i < 0 {
		h.list = append(h.list, holdingTypes{inst: inst, izID: izID, name: name})
		i = len(h.list) - 1
	} else {
		if h.list[i].izID == "" {
			h.list[i].izID = izID
		}
		if h.list[i].name == "" {
			h.list[i].name = name
		}
	}
	x := &h.list[i]
	for _, t := range types {
		switch t {
		case "print":
			x.known |= 1
		case "electronic":
			x.known |= 2
		case "digital":
			x.known |= 4
		default:
			if !slices.Contains(x.others, t) {
				x.others = append(x.others, t)
			}
		}
	}
	return i
}

func (h *holdingSet) add852s(hs []transform.Holding) {
	for _, x := range hs {
		h.add(x.Institution, x.IZMMSID, x.Name, x.Types)
	}
}

// addIZ adds the holding an IZ record stands for: member holds it, with the
// types its AVA (print), AVE (electronic) and AVD (digital) fields show.
func (h *holdingSet) addIZ(member, name string, r *transform.Record) {
	x := &h.list[h.add(member, r.MMSID, name, nil)]
	for _, a := range r.Availability {
		switch a.Kind {
		case "physical":
			x.known |= 1
		case "electronic":
			x.known |= 2
		case "digital":
			x.known |= 4
		}
	}
}

// appendTo appends the set's holdings to hold, their types to typ (each
// holding's Types capped at its length, never nil), and returns both.
func (h *holdingSet) appendTo(hold []transform.Holding, typ []string) ([]transform.Holding, []string) {
	for _, x := range h.list {
		at := len(typ)
		for b, t := range knownTypes {
			if x.known&(1<<b) != 0 {
				typ = append(typ, t)
			}
		}
		typ = append(typ, x.others...)
		hold = append(hold, transform.Holding{Institution: x.inst, IZMMSID: x.izID, Name: x.name, Types: typ[at:len(typ):len(typ)]})
	}
	return hold, typ
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
