package almasim

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/indexdata/cql-go/cql"

	"github.com/almanet/gateway/internal/almaindex"
	"github.com/almanet/gateway/internal/stdnum"
)

// Index kinds: words (phrase, all, any, exact value), identifiers (whole
// normalized values), numbers (years, compared numerically), and listed
// indexes the generated records carry no data for (they answer no hits, as
// Alma's do for a field no record has).
type ixKind int

const (
	kText ixKind = iota
	kIdent
	kNumber
	kEmpty
)

// indexDef is one searchable index, as listed in explain.
type indexDef struct {
	name      string // qualified, "alma.title", "rec.id"
	title     string
	kind      ixKind
	relations []string
	sortable  bool
	norm      func(string) string // kIdent: how values and terms compare; nil means identNorm
	nzOnly    bool                // listed and answered in the network zone only
}

// simIndexes are the indexes the simulator answers from the records' data.
// Names and titles are Alma's (internal/almaindex); relations are Alma's
// plus any, and <> on the word indexes, which the simulator also accepts.
var simIndexes = []indexDef{
	{name: "alma.all_for_ui", kind: kText, relations: []string{"any", "<>"}},
	{name: "alma.title", kind: kText, relations: []string{"any", "<>"}},
	{name: "alma.creator", kind: kText, relations: []string{"any", "<>"}},
	{name: "alma.subjects", kind: kText, relations: []string{"any"}},
	{name: "alma.publisher", kind: kText, relations: []string{"any"}},
	{name: "alma.series", kind: kText, relations: []string{"any"}},
	{name: "alma.isbn", kind: kIdent, relations: []string{"==", "any"}},
	{name: "alma.issn", kind: kIdent, relations: []string{"==", "any"}},
	{name: "alma.standard_number", kind: kIdent, relations: []string{"==", "any"}},
	{name: "alma.lccn", kind: kIdent, relations: []string{"==", "any"}},
	{name: "alma.other_system_number", kind: kIdent, relations: []string{"any"}},
	{name: "alma.oclc_control_number_035_a", kind: kIdent, relations: []string{"any"}, norm: stdnum.OCLC},
	{name: "alma.mms_id", kind: kIdent, relations: []string{"any"}},
	{name: "rec.id", kind: kIdent, relations: []string{"any"}},
	{name: "alma.main_pub_date", kind: kNumber},
	// Not in the captured explain, but network zones that almasru is used
	// with (Melinda) list it, and almasru looks records up by it: the
	// active 035s, which are all the simulator's 035s.
	{name: "alma.other_system_number_active_035", title: "Other System Number (active 035)", kind: kIdent,
		relations: []string{"all", "=", "=="}, nzOnly: true},
}

// indexDefs is every index the simulator lists: simIndexes first (their
// positions index Record.toks), then the rest of Alma's list as kEmpty.
// indexByName resolves lower-case qualified names to positions.
// explainOrder lists them in Alma's order, the simulator's extras last.
var indexDefs, indexByName, explainOrder = buildIndexDefs()

func buildIndexDefs() ([]indexDef, map[string]int, []int) {
	alma := map[string]almaindex.Index{}
	for _, ix := range almaindex.Alma().Indexes {
		alma[ix.Set+"."+ix.Name] = ix
	}
	defs := make([]indexDef, 0, len(alma)+1)
	byName := map[string]int{}
	for _, d := range simIndexes {
		if a, ok := alma[d.name]; ok {
			d.title, d.sortable = a.Title, a.Sortable
			extra := d.relations
			d.relations = slices.Clone(a.Relations)
			for _, rel := range extra {
				if !slices.Contains(d.relations, rel) {
					d.relations = append(d.relations, rel)
				}
			}
		}
		byName[d.name] = len(defs)
		defs = append(defs, d)
	}
	for _, a := range almaindex.Alma().Indexes {
		name := a.Set + "." + a.Name
		if _, ok := byName[name]; ok {
			continue
		}
		byName[name] = len(defs)
		defs = append(defs, indexDef{name: name, title: a.Title, kind: kEmpty, relations: a.Relations, sortable: a.Sortable})
	}
	order := make([]int, 0, len(defs))
	for _, a := range almaindex.Alma().Indexes {
		order = append(order, byName[a.Set+"."+a.Name])
	}
	for _, d := range simIndexes {
		if _, ok := alma[d.name]; !ok {
			order = append(order, byName[d.name])
		}
	}
	return defs, byName, order
}

// lookupIndex resolves a CQL index name the way Alma does: its own names
// (any case), and the server's choice as its keyword index.
func lookupIndex(name string) (int, bool) {
	if name == string(cql.ServerChoice) || name == string(cql.Keywords) || name == string(cql.Anywhere) {
		return 0, true
	}
	i, ok := indexByName[strings.ToLower(name)]
	return i, ok
}

// zone is one searchable set of records: the NZ or one member's IZ.
type zone struct {
	code   string
	nz     bool
	lookup func(name string) (int, bool) // resolves a CQL index name; nil means lookupIndex (Alma's names)

	recs    []*Record
	byID    map[string]int32
	visible []int32 // every doc but hidden ones, ascending

	ix       []invIndex // parallel to indexDefs
	sortKeys [3][]string
	years    []int

	cacheMu sync.Mutex // guards cache
	cache   map[string]cacheEntry
}

type cacheEntry struct {
	docs []int32
	diag *Diagnostic
}

type invIndex struct {
	post      map[string][]int32 // token -> docs
	terms     []string           // sorted tokens, for right truncation
	exact     map[string][]int32 // whole normalized value -> docs
	exactKeys []string           // sorted
	vals      [][][]string       // text indexes: doc -> values -> tokens, for phrases
}

func (z *zone) add(r *Record) {
	if z.byID == nil {
		z.byID = map[string]int32{}
	}
	r.doc = int32(len(z.recs))
	z.recs = append(z.recs, r)
	z.byID[r.MMSID] = r.doc
}

// values returns a record's values for index i.
func (r *Record) values(i int) []string {
	switch indexDefs[i].name {
	case "alma.all_for_ui":
		v := []string{r.Title, r.Publisher, r.Place, r.Year}
		v = append(v, r.Authors...)
		v = append(v, r.Subjects...)
		v = append(v, r.ISBNs...)
		v = append(v, r.ISSNs...)
		return v
	case "alma.title":
		if r.NonFiling > 0 && r.NonFiling < len(r.Title) {
			return []string{r.Title, r.Title[r.NonFiling:]}
		}
		return []string{r.Title}
	case "alma.creator":
		return r.Authors
	case "alma.subjects":
		return r.Subjects
	case "alma.publisher":
		return []string{r.Publisher}
	case "alma.series":
		return r.Series
	case "alma.isbn":
		return r.ISBNs
	case "alma.issn":
		return r.ISSNs
	case "alma.standard_number":
		return append(slices.Clip(r.ISBNs), r.ISSNs...)
	case "alma.lccn":
		if r.LCCN == "" {
			return nil
		}
		return []string{r.LCCN}
	case "alma.other_system_number", "alma.other_system_number_active_035":
		return r.subfields("035", 'a')
	case "alma.oclc_control_number_035_a":
		var v []string
		for _, s := range r.subfields("035", 'a') {
			if n, ok := strings.CutPrefix(s, "(OCoLC)"); ok {
				v = append(v, n)
			}
		}
		return v
	case "alma.mms_id", "rec.id":
		return []string{r.MMSID}
	case "alma.main_pub_date":
		return []string{r.Year}
	}
	return nil
}

// subfields returns the values of subfield code in the record's tag fields.
func (r *Record) subfields(tag string, code byte) []string {
	var v []string
	for _, f := range r.fields {
		if f.tag == tag {
			for _, s := range f.subs {
				if s.code == code {
					v = append(v, s.value)
				}
			}
		}
	}
	return v
}

// textTokens returns the record's tokens for text index i, one list per
// value. IZ records share them with their NZ record (same bibliographic
// data), which tokenizes once, before any zone is built.
func (r *Record) textTokens(i int) [][]string {
	if r.nz != nil {
		return r.nz.textTokens(i)
	}
	return r.toks[i]
}

func (r *Record) tokenizeAll() {
	r.toks = make([][][]string, len(simIndexes))
	for i, def := range indexDefs[:len(simIndexes)] {
		if def.kind != kText {
			continue
		}
		for _, v := range r.values(i) {
			r.toks[i] = append(r.toks[i], tokenize(v, false))
		}
	}
}

// build makes the zone's inverted index.
func (z *zone) build() {
	z.cache = map[string]cacheEntry{}
	z.ix = make([]invIndex, len(indexDefs))
	n := len(z.recs)
	z.years = make([]int, n)
	for k := range z.sortKeys {
		z.sortKeys[k] = make([]string, n)
	}
	for _, r := range z.recs {
		if !r.hidden {
			z.visible = append(z.visible, r.doc)
		}
		z.years[r.doc], _ = strconv.Atoi(r.Year)
		z.sortKeys[0][r.doc] = strings.Join(tokenize(r.Title[min(r.NonFiling, len(r.Title)):], false), " ")
		if len(r.Authors) > 0 {
			z.sortKeys[1][r.doc] = strings.Join(tokenize(r.Authors[0], false), " ")
		}
		z.sortKeys[2][r.doc] = r.Year
	}
	for i, def := range indexDefs {
		if def.kind == kEmpty || def.nzOnly && !z.nz {
			continue
		}
		ix := &z.ix[i]
		ix.post = map[string][]int32{}
		ix.exact = map[string][]int32{}
		if def.kind == kText {
			ix.vals = make([][][]string, n)
		}
		for _, r := range z.recs {
			if r.hidden && def.name != "alma.mms_id" && def.name != "rec.id" {
				continue
			}
			if def.kind == kText {
				vals := r.textTokens(i)
				ix.vals[r.doc] = vals
				for _, toks := range vals {
					for _, t := range toks {
						ix.post[t] = appendDoc(ix.post[t], r.doc)
					}
					key := strings.Join(toks, " ")
					ix.exact[key] = appendDoc(ix.exact[key], r.doc)
				}
				continue
			}
			for _, v := range r.values(i) {
				key := def.normalize(v)
				ix.exact[key] = appendDoc(ix.exact[key], r.doc)
			}
		}
		for t := range ix.post {
			ix.terms = append(ix.terms, t)
		}
		sort.Strings(ix.terms)
		for t := range ix.exact {
			ix.exactKeys = append(ix.exactKeys, t)
		}
		sort.Strings(ix.exactKeys)
	}
}

func appendDoc(list []int32, doc int32) []int32 {
	if n := len(list); n > 0 && list[n-1] == doc {
		return list
	}
	return append(list, doc)
}

// fold lowers a rune and strips the common Latin diacritics, so that
// "garcia" finds "García".
func fold(r rune) string {
	r = unicode.ToLower(r)
	if r < 0x80 {
		return string(r)
	}
	if f, ok := foldTable[r]; ok {
		return f
	}
	return string(r)
}

var foldTable = func() map[rune]string {
	m := map[rune]string{'æ': "ae", 'ß': "ss", 'ø': "o", 'đ': "d", 'ł': "l", 'œ': "oe", 'ı': "i", 'þ': "th"}
	groups := map[string]string{
		"a": "àáâãäåāăąǎ", "c": "çćĉċč", "d": "ď", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥ",
		"i": "ìíîïĩīĭįǐ", "j": "ĵ", "k": "ķ", "l": "ĺļľŀ", "n": "ñńņňŉ", "o": "òóôõöōŏőǒ",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűųǔ", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
	}
	for base, chars := range groups {
		for _, c := range chars {
			m[c] = base
		}
	}
	return m
}()

// wordRune reports whether r belongs to a word; ideographs and syllabaries
// are words of their own (one token per character).
func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func standalone(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r)
}

// tokenize splits s into folded words; with keepStar a trailing '*' stays on
// its word (right truncation).
func tokenize(s string, keepStar bool) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		if r < 0x80 { // fast path: ASCII
			switch {
			case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
				cur.WriteByte(byte(r))
			case 'A' <= r && r <= 'Z':
				cur.WriteByte(byte(r) + 'a' - 'A')
			case keepStar && r == '*':
				cur.WriteByte('*')
				flush()
			default:
				flush()
			}
			continue
		}
		switch {
		case standalone(r):
			flush()
			out = append(out, string(r))
		case wordRune(r):
			cur.WriteString(fold(r))
		case keepStar && r == '*':
			cur.WriteByte('*')
			flush()
		default:
			flush()
		}
	}
	flush()
	return out
}

// identNorm normalizes an identifier: lower case, without spaces and hyphens.
func identNorm(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r == '-' || r == ' ' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// normalize puts an identifier value or term into the form d compares.
func (d indexDef) normalize(s string) string {
	if d.norm != nil {
		return d.norm(s)
	}
	return identNorm(s)
}

// index resolves a CQL index name the zone's way.
func (z *zone) index(name string) (int, bool) {
	if z.lookup != nil {
		return z.lookup(name)
	}
	i, ok := lookupIndex(name)
	if ok && indexDefs[i].nzOnly && !z.nz {
		return 0, false
	}
	return i, ok
}

// search evaluates a CQL query (with an optional sortBy) against the zone.
func (z *zone) search(query string) ([]int32, *Diagnostic) {
	z.cacheMu.Lock()
	e, ok := z.cache[query]
	z.cacheMu.Unlock()
	if ok {
		return e.docs, e.diag
	}
	docs, diag := z.evalQuery(query)
	z.cacheMu.Lock()
	if len(z.cache) >= 4096 {
		clear(z.cache)
	}
	z.cache[query] = cacheEntry{docs, diag}
	z.cacheMu.Unlock()
	return docs, diag
}

func (z *zone) evalQuery(query string) ([]int32, *Diagnostic) {
	var p cql.Parser
	q, err := p.Parse(query)
	if err != nil {
		return nil, newDiag(10, query, "Query syntax error")
	}
	docs, d := z.eval(q.Clause)
	if d != nil {
		return nil, d
	}
	if len(q.SortSpec) > 0 {
		docs = slices.Clone(docs)
		if d := z.sort(docs, q.SortSpec); d != nil {
			return nil, d
		}
	}
	return docs, nil
}

func (z *zone) sort(docs []int32, spec []cql.Sort) *Diagnostic {
	type key struct {
		k    int
		desc bool
	}
	var keys []key
	for _, s := range spec {
		i, ok := z.index(s.Index)
		if !ok || !indexDefs[i].sortable {
			return newDiag(16, s.Index, "Unsupported index")
		}
		k := key{}
		switch indexDefs[i].name {
		case "alma.title":
			k.k = 0
		case "alma.creator":
			k.k = 1
		default:
			k.k = 2
		}
		for _, m := range s.Modifiers {
			switch m.Name {
			case "sort.descending", "descending":
				k.desc = true
			case "sort.ascending", "ascending", "sort.ignoreCase", "ignoreCase":
			default:
				return newDiag(80, m.Name, "Sort not supported")
			}
		}
		keys = append(keys, k)
	}
	slices.SortStableFunc(docs, func(a, b int32) int {
		for _, k := range keys {
			c := strings.Compare(z.sortKeys[k.k][a], z.sortKeys[k.k][b])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return nil
}

func (z *zone) eval(c cql.Clause) ([]int32, *Diagnostic) {
	if c.BoolClause != nil {
		bc := c.BoolClause
		if len(bc.Modifiers) > 0 {
			return nil, newDiag(46, string(bc.Operator), "Unsupported boolean modifier")
		}
		l, d := z.eval(bc.Left)
		if d != nil {
			return nil, d
		}
		r, d := z.eval(bc.Right)
		if d != nil {
			return nil, d
		}
		switch bc.Operator {
		case cql.AND, "":
			return intersect(l, r), nil
		case cql.OR:
			return union(l, r), nil
		case cql.NOT:
			return difference(l, r), nil
		}
		return nil, newDiag(37, string(bc.Operator), "Unsupported boolean operator")
	}
	if c.SearchClause == nil {
		return z.visible, nil
	}
	return z.clause(c.SearchClause)
}

func (z *zone) clause(sc *cql.SearchClause) ([]int32, *Diagnostic) {
	rel := string(sc.Relation)
	if rel == "" || rel == string(cql.SCR) {
		rel = "="
	}
	if sc.Index == string(cql.AllRecords) {
		return z.visible, nil
	}
	i, ok := z.index(sc.Index)
	if !ok {
		return nil, newDiag(16, sc.Index, "Unsupported index")
	}
	def := indexDefs[i]
	if !slices.Contains(def.relations, rel) {
		return nil, newDiag(19, rel, "Unsupported relation")
	}
	if len(sc.Modifiers) > 0 {
		return nil, newDiag(20, sc.Modifiers[0].Name, "Unsupported relation modifier")
	}
	term := strings.ReplaceAll(sc.Term, `\"`, `"`)
	if strings.HasPrefix(strings.TrimSpace(term), "*") && strings.TrimSpace(term) != "*" {
		return nil, newDiag(28, term, "Masking character not supported")
	}
	ix := &z.ix[i]
	switch def.kind {
	case kText:
		return z.text(ix, rel, term), nil
	case kIdent:
		return z.ident(ix, def, rel, term), nil
	case kEmpty:
		if rel == "<>" {
			return z.visible, nil
		}
		return nil, nil
	default:
		return z.number(rel, term)
	}
}

// text evaluates a relation on a word index.
func (z *zone) text(ix *invIndex, rel, term string) []int32 {
	words := tokenize(term, true)
	if len(words) == 0 {
		if rel == "<>" {
			return z.visible
		}
		return nil
	}
	switch rel {
	case "any":
		var out []int32
		for _, w := range words {
			out = union(out, ix.word(w))
		}
		return out
	case "all":
		out := ix.word(words[0])
		for _, w := range words[1:] {
			out = intersect(out, ix.word(w))
		}
		return out
	case "==":
		key := strings.Join(words, " ")
		if p, ok := strings.CutSuffix(key, "*"); ok {
			return prefixUnion(ix.exactKeys, ix.exact, p)
		}
		return ix.exact[strings.ReplaceAll(key, "*", "")]
	case "<>":
		return difference(z.visible, z.text(ix, "=", term))
	}
	// "=": a phrase; one word is a word match.
	out := ix.word(words[0])
	if len(words) == 1 {
		return out
	}
	for _, w := range words[1:] {
		out = intersect(out, ix.word(w))
	}
	kept := out[:0:0]
	for _, d := range out {
		if phraseIn(ix.vals[d], words) {
			kept = append(kept, d)
		}
	}
	return kept
}

func (ix *invIndex) word(w string) []int32 {
	if p, ok := strings.CutSuffix(w, "*"); ok {
		return prefixUnion(ix.terms, ix.post, p)
	}
	return ix.post[w]
}

func phraseIn(vals [][]string, words []string) bool {
	for _, toks := range vals {
	start:
		for s := 0; s+len(words) <= len(toks); s++ {
			for j, w := range words {
				if !wordMatch(toks[s+j], w) {
					continue start
				}
			}
			return true
		}
	}
	return false
}

func wordMatch(tok, w string) bool {
	if p, ok := strings.CutSuffix(w, "*"); ok {
		return strings.HasPrefix(tok, p)
	}
	return tok == w
}

// ident evaluates a relation on an identifier index.
func (z *zone) ident(ix *invIndex, def indexDef, rel, term string) []int32 {
	terms := strings.Fields(term)
	one := func(t string) []int32 {
		t = def.normalize(t)
		if p, ok := strings.CutSuffix(t, "*"); ok {
			return prefixUnion(ix.exactKeys, ix.exact, p)
		}
		return ix.exact[t]
	}
	switch rel {
	case "any":
		var out []int32
		for _, t := range terms {
			out = union(out, one(t))
		}
		return out
	case "all":
		if len(terms) == 0 {
			return nil
		}
		out := one(terms[0])
		for _, t := range terms[1:] {
			out = intersect(out, one(t))
		}
		return out
	case "=", "==":
		return one(strings.Join(terms, ""))
	case "<>":
		return difference(z.visible, one(strings.Join(terms, "")))
	}
	// Range on MMS IDs: numeric comparison.
	t := identNorm(term)
	var out []int32
	for _, d := range z.visible {
		if cmpRel(compareNumeric(z.recs[d].MMSID, t), rel) {
			out = append(out, d)
		}
	}
	return out
}

// number evaluates a relation on the publication year.
func (z *zone) number(rel, term string) ([]int32, *Diagnostic) {
	term = strings.TrimSpace(term)
	if p, ok := strings.CutSuffix(term, "*"); ok && (rel == "=" || rel == "==" || rel == "all") {
		var out []int32
		for _, d := range z.visible {
			if strings.HasPrefix(z.recs[d].Year, p) {
				out = append(out, d)
			}
		}
		return out, nil
	}
	n, err := strconv.Atoi(term)
	if err != nil {
		return nil, newDiag(36, term, "Term in invalid format for index or relation")
	}
	if rel == "=" || rel == "all" {
		rel = "=="
	}
	var out []int32
	for _, d := range z.visible {
		if cmpRel(z.years[d]-n, rel) {
			out = append(out, d)
		}
	}
	return out, nil
}

func cmpRel(c int, rel string) bool {
	switch rel {
	case "==", "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// compareNumeric compares two digit strings as numbers.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func prefixUnion(keys []string, post map[string][]int32, p string) []int32 {
	i := sort.SearchStrings(keys, p)
	var lists [][]int32
	for ; i < len(keys) && strings.HasPrefix(keys[i], p); i++ {
		lists = append(lists, post[keys[i]])
	}
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	var all []int32
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func intersect(a, b []int32) []int32 {
	var out []int32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func union(a, b []int32) []int32 {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func difference(a, b []int32) []int32 {
	var out []int32
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}
