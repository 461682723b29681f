package federate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/indexdata/cql-go/cql"
)

// Sort is an order of the merged list (SPEC 9.2 sort=).
type Sort string

const (
	SortRelevance Sort = "relevance" // score, then the tie-breakers
	SortDate      Sort = "date"      // newest year first, unknown years last
	SortTitle     Sort = "title"     // title words, a leading article ignored
	SortPosition  Sort = "position"  // the best position in any target: the targets interleaved
)

// ParseSort reads a sort= value; "" gives def.
func ParseSort(s string, def Sort) (Sort, error) {
	switch Sort(s) {
	case "":
		return def, nil
	case SortRelevance, SortDate, SortTitle, SortPosition:
		return Sort(s), nil
	}
	return "", fmt.Errorf("unknown sort %q (relevance, date, title, position)", s)
}

// Field weights of relevance: title above author above subjects above the
// rest.
const (
	weightTitle   = 8
	weightAuthor  = 4
	weightSubject = 2
	weightRest    = 1
)

// Terms returns the words a query searches for, folded like the records'
// words, for relevance: every search term of the CQL except those under NOT
// and cql.allRecords. A trailing '*' (right truncation) stays on its word. It
// returns nil for a query it cannot parse.
func Terms(query string) []string {
	var p cql.Parser
	q, err := p.Parse(query)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(c *cql.Clause)
	walk = func(c *cql.Clause) {
		if c == nil {
			return
		}
		if bc := c.BoolClause; bc != nil {
			walk(&bc.Left)
			if bc.Operator != cql.NOT {
				walk(&bc.Right)
			}
			return
		}
		sc := c.SearchClause
		if sc == nil || sc.Index == string(cql.AllRecords) {
			return
		}
		star := strings.HasSuffix(strings.TrimSpace(sc.Term), "*")
		ws := words(sc.Term)
		for i, w := range ws {
			if star && i == len(ws)-1 {
				w += "*"
			}
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	walk(&q.Clause)
	return out
}

// scorer computes relevance with reused buffers.
type scorer struct {
	terms  []string
	prefix []bool // terms[i] ended in '*': a prefix
	hits   []int  // per term, the set of field weights that hold it
	digits bool   // some term holds a digit
	// pre is, per term, what an ASCII field must contain (in any case)
	// for one of its words to fold to the term: the term up to its first
	// a, o or u (the first place a digraph's e may have been folded
	// away), all of it if it has none; "" for a term that is not ASCII.
	pre   []string
	words wordList
}

// reset makes s score terms, reusing its buffers.
func (s *scorer) reset(terms []string) {
	s.terms = sized(s.terms, len(terms))
	s.prefix = sized(s.prefix, len(terms))
	s.hits = sized(s.hits, len(terms))
	s.pre = sized(s.pre, len(terms))
	s.digits = false
	for i, t := range terms {
		s.terms[i], s.prefix[i] = strings.CutSuffix(t, "*")
		s.digits = s.digits || strings.ContainsAny(t, "0123456789")
		t = s.terms[i]
		switch k := strings.IndexAny(t, "aou"); {
		case t == "" || !ascii(t):
			s.pre[i] = ""
		case k >= 0:
			s.pre[i] = t[:k+1]
		default:
			s.pre[i] = t
		}
	}
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// mayHold reports whether v may hold a term not yet marked with w: v is
// not ASCII, or it holds the term's pre in some case. Folding an ASCII
// field only lowers its letters and drops an e after a, o or u, so a word
// that folds to the term starts with its pre; most fields hold no term,
// and this spares folding them.
func (s *scorer) mayHold(v string, w int) bool {
	for i, p := range s.pre {
		if s.hits[i]&w != 0 {
			continue
		}
		if p == "" || containsFold(v, p) {
			return true
		}
	}
	return false
}

// containsFold reports whether v holds a byte that is not ASCII, or p (a
// lower-case ASCII word) in any case.
func containsFold(v, p string) bool {
	c0 := p[0]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x80 {
			return true
		}
		if c|0x20 != c0 || len(v)-i < len(p) {
			continue
		}
		j := 1
		for j < len(p) && v[i+j]|0x20 == p[j] {
			j++
		}
		if j == len(p) {
			return true
		}
	}
	return false
}

// mark records weight w for every term that is a word of v.
func (s *scorer) mark(v string, w int) {
	if !s.mayHold(v, w) {
		return
	}
	s.words.set(v)
	for j := range s.words.spans {
		word := s.words.word(j)
		for i, t := range s.terms {
			if s.hits[i]&w != 0 {
				continue
			}
			if string(word) == t || s.prefix[i] && len(word) >= len(t) && string(word[:len(t)]) == t {
				s.hits[i] |= w
			}
		}
	}
}

// score is a cluster's relevance: for every term, the weights of the fields
// of the preferred record that hold it (each field counted once), times the
// cluster's weight.
func (s *scorer) score(c *Cluster) float64 {
	if len(s.terms) == 0 {
		return c.Weight
	}
	clear(s.hits)
	r := c.Record
	s.mark(r.Title, weightTitle)
	for _, a := range r.Authors {
		s.mark(a, weightAuthor)
	}
	for _, v := range r.Subjects {
		s.mark(v, weightSubject)
	}
	s.mark(r.Publisher, weightRest)
	if s.digits { // years and identifiers can only hold a term with a digit
		s.mark(r.Year, weightRest)
		for _, v := range r.ISBNs {
			s.mark(v, weightRest)
		}
		for _, v := range r.ISSNs {
			s.mark(v, weightRest)
		}
	}
	total := 0
	for _, h := range s.hits {
		total += h // the weights are distinct powers of two: the set's sum
	}
	return float64(total) * c.Weight
}

// sortClusters orders clusters by s, every order ending in the same
// tie-breakers, so that the result is one order for one input.
func sortClusters(cs []*Cluster, s Sort) {
	// Each comparison is made only when the ones before it tie (cmp.Or
	// would make all six for every pair).
	ties := func(a, b *Cluster) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(len(b.Holdings), len(a.Holdings)); c != 0 {
			return c
		}
		if c := cmp.Compare(len(b.Sources), len(a.Sources)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Position, b.Position); c != 0 {
			return c
		}
		if c := cmp.Compare(a.first, b.first); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	}
	var f func(a, b *Cluster) int
	switch s {
	case SortDate:
		f = func(a, b *Cluster) int {
			if (a.year == 0) != (b.year == 0) {
				return cmp.Compare(b.year, a.year) // unknown (0) last
			}
			if c := cmp.Compare(b.year, a.year); c != 0 {
				return c
			}
			return ties(a, b)
		}
	case SortTitle:
		f = func(a, b *Cluster) int {
			if c := strings.Compare(a.title, b.title); c != 0 {
				return c
			}
			return ties(a, b)
		}
	case SortPosition:
		f = func(a, b *Cluster) int {
			if c := cmp.Compare(a.Position, b.Position); c != 0 {
				return c
			}
			if c := cmp.Compare(a.first, b.first); c != 0 {
				return c
			}
			return ties(a, b)
		}
	default:
		f = ties
	}
	slices.SortFunc(cs, f)
}
