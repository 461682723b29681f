package sru

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/antchfx/xmlquery"

	"github.com/almanet/gateway/internal/almaindex"
)

// Index is one searchable index as Alma's explain describes it.
type Index struct {
	Set       string   // context set name, e.g. "alma"
	Name      string   // index name within the set, e.g. "title"
	Title     string   // human readable title from explain
	Relations []string // supported relations, lower case, in explain's order
	Sortable  bool     // explain marks it sort="true"
}

// Qualified returns "set.name".
func (ix Index) Qualified() string { return ix.Set + "." + ix.Name }

// Supports reports whether the index supports relation rel (lower case).
func (ix Index) Supports(rel string) bool { return slices.Contains(ix.Relations, rel) }

// IndexSet is the list of indexes a target supports, looked up by
// case-folded qualified name. It is immutable once built and safe for
// concurrent use.
type IndexSet struct {
	indexes []Index           // sorted by qualified name
	byName  map[string]int    // lower-case "set.name" → position in indexes
	sets    map[string]string // set name → identifier
	// defaultSet is the context set an unprefixed index name belongs to:
	// the first set Alma's explain declares ("alma").
	defaultSet string
}

// Len returns the number of indexes.
func (s *IndexSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.indexes)
}

// Indexes returns a copy of the indexes, sorted by qualified name.
func (s *IndexSet) Indexes() []Index {
	if s == nil {
		return nil
	}
	out := make([]Index, len(s.indexes))
	for i, ix := range s.indexes {
		ix.Relations = slices.Clone(ix.Relations)
		out[i] = ix
	}
	return out
}

// Lookup finds an index by name, case-insensitively. An unprefixed name is
// looked up in the default set (Alma's explain declares set "alma").
func (s *IndexSet) Lookup(name string) (Index, bool) {
	if s == nil {
		return Index{}, false
	}
	key := strings.ToLower(name)
	if !strings.Contains(key, ".") {
		key = s.defaultSet + "." + key
	}
	i, ok := s.byName[key]
	if !ok {
		return Index{}, false
	}
	return s.indexes[i], true
}

// SetIdentifier returns the identifier declared for a context set name, or
// a made-up stable one when explain named none.
func (s *IndexSet) SetIdentifier(set string) string {
	if id, ok := s.sets[set]; ok && id != "" {
		return id
	}
	if set == "rec" {
		return "info:srw/cql-context-set/2/rec-1.1"
	}
	return "info:srw/cql-context-set/alma/" + set
}

// contextSets returns the names of the sets the indexes use, sorted.
func (s *IndexSet) contextSets() []string {
	seen := map[string]bool{}
	var out []string
	for _, ix := range s.indexes {
		if !seen[ix.Set] {
			seen[ix.Set] = true
			out = append(out, ix.Set)
		}
	}
	sort.Strings(out)
	return out
}

// newIndexSet builds the lookup structures. Duplicate names keep the first.
func newIndexSet(list []Index, sets map[string]string, defaultSet string) (*IndexSet, error) {
	s := &IndexSet{byName: make(map[string]int, len(list)), sets: sets, defaultSet: defaultSet}
	for _, ix := range list {
		ix.Set = strings.ToLower(strings.TrimSpace(ix.Set))
		ix.Name = strings.ToLower(strings.TrimSpace(ix.Name))
		if ix.Set == "" || ix.Name == "" || strings.ContainsAny(ix.Set+ix.Name, " \t\r\n\"()=<>/.") {
			continue
		}
		key := ix.Set + "." + ix.Name
		if _, dup := s.byName[key]; dup {
			continue
		}
		s.byName[key] = -1
		s.indexes = append(s.indexes, ix)
	}
	if len(s.indexes) == 0 {
		return nil, errors.New("explain lists no usable index")
	}
	sort.Slice(s.indexes, func(i, j int) bool { return s.indexes[i].Qualified() < s.indexes[j].Qualified() })
	for i, ix := range s.indexes {
		s.byName[ix.Qualified()] = i
	}
	if s.defaultSet == "" {
		s.defaultSet = s.indexes[0].Set
	}
	return s, nil
}

// normalizeRelation gives each relation one spelling: lower case names,
// and the CQL 1.1 names replaced by their CQL 1.2 symbols ("scr" is "=",
// "exact" is "==": CQL 1.2 changes, loc.gov/standards/sru "version 1.2").
func normalizeRelation(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	switch r {
	case "scr":
		return "="
	case "exact":
		return "=="
	}
	return r
}

// ParseExplain reads an SRU explain response (or a bare ZeeRex record) and
// returns its indexes. Elements are matched by local name, because Alma
// mixes the ZeeRex 2.0 and 2.1 namespaces.
func ParseExplain(body []byte) (set *IndexSet, err error) {
	defer func() {
		// xmlquery is a third-party DOM; a panic inside it must not take
		// the gateway down on a bad upstream body.
		if r := recover(); r != nil {
			set, err = nil, fmt.Errorf("parse explain: %v", r)
		}
	}()
	doc, err := xmlquery.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse explain: %w", err)
	}
	sets := map[string]string{}
	defaultSet := ""
	for _, n := range xmlquery.Find(doc, "//*[local-name()='indexInfo']/*[local-name()='set']") {
		name := strings.ToLower(strings.TrimSpace(n.SelectAttr("name")))
		if name == "" {
			continue
		}
		if defaultSet == "" {
			defaultSet = name
		}
		sets[name] = strings.TrimSpace(n.SelectAttr("identifier"))
	}
	var list []Index
	for _, n := range xmlquery.Find(doc, "//*[local-name()='indexInfo']/*[local-name()='index']") {
		var ix Index
		if t := xmlquery.FindOne(n, "./*[local-name()='title']"); t != nil {
			ix.Title = strings.TrimSpace(t.InnerText())
		}
		ix.Sortable = strings.EqualFold(strings.TrimSpace(n.SelectAttr("sort")), "true")
		for _, r := range xmlquery.Find(n, "./*[local-name()='configInfo']/*[local-name()='supports'][@type='relation']") {
			rel := normalizeRelation(r.InnerText())
			if rel != "" && !slices.Contains(ix.Relations, rel) {
				ix.Relations = append(ix.Relations, rel)
			}
		}
		for _, m := range xmlquery.Find(n, "./*[local-name()='map']/*[local-name()='name']") {
			one := ix
			one.Relations = slices.Clone(ix.Relations)
			one.Set = m.SelectAttr("set")
			if one.Set == "" {
				one.Set = defaultSet
			}
			one.Name = m.InnerText()
			list = append(list, one)
		}
	}
	return newIndexSet(list, sets, defaultSet)
}

var (
	defaultOnce sync.Once
	defaultSet  *IndexSet
)

// DefaultIndexSet returns the built-in index list, made from a real Alma
// explain (391 alma.* indexes and rec.id; internal/almaindex holds it, the
// simulator publishes the same list). The gateway uses it until it has read
// its own Alma's explain.
func DefaultIndexSet() *IndexSet {
	defaultOnce.Do(func() {
		s, err := parseIndexList(almaindex.Text())
		if err != nil {
			panic("sru: embedded " + almaindex.File + " is broken: " + err.Error())
		}
		defaultSet = s
	})
	return defaultSet
}

// formatIndexList writes s in the internal/almaindex format.
func formatIndexList(s *IndexSet) []byte {
	var b bytes.Buffer
	b.WriteString("# generated by TestDefaultIndexList from testdata/alma/alma_explain_response_TR_INTEGRATION_INST.xml; do not edit\n")
	fmt.Fprintf(&b, "#set\t%s\t%s\n", s.defaultSet, s.SetIdentifier(s.defaultSet))
	names := make([]string, 0, len(s.sets))
	for name := range s.sets {
		if name != s.defaultSet {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "#set\t%s\t%s\n", name, s.sets[name])
	}
	for _, ix := range s.indexes {
		flag := "0"
		if ix.Sortable {
			flag = "1"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", ix.Qualified(), flag, strings.Join(ix.Relations, " "), ix.Title)
	}
	return b.Bytes()
}

// parseIndexList reads the internal/almaindex format.
func parseIndexList(data []byte) (*IndexSet, error) {
	l, err := almaindex.Parse(data)
	if err != nil {
		return nil, err
	}
	sets := make(map[string]string, len(l.Sets))
	defaultSet := ""
	for _, st := range l.Sets {
		if defaultSet == "" {
			defaultSet = st.Name
		}
		sets[st.Name] = st.Identifier
	}
	list := make([]Index, len(l.Indexes))
	for i, ix := range l.Indexes {
		list[i] = Index{Set: ix.Set, Name: ix.Name, Sortable: ix.Sortable, Relations: ix.Relations, Title: ix.Title}
	}
	return newIndexSet(list, sets, defaultSet)
}
