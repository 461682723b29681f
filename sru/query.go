package sru

import (
	"strings"
	"unicode/utf8"

	"github.com/indexdata/cql-go/cql"
	"golang.org/x/text/unicode/norm"
)

// maxQueryLen bounds the query the gateway will parse; a longer one is a
// client error, not something to hand to Alma.
const maxQueryLen = 8 << 10

// serverChoiceIndex is where a term without an index goes. CQL says
// cql.serverChoice is the server's pick; Alma's own keyword index is
// alma.all_for_ui (SPEC 3.2 sends plain keywords there too).
const serverChoiceIndex = "alma.all_for_ui"

// Query is a CQL query validated against an index set and put into its
// canonical form.
type Query struct {
	CQL       cql.Query // normalized tree: indexes resolved and lower case, relations in one spelling
	Canonical string    // canonical CQL without sortBy
	SortKey   string    // canonical sort spec ("alma.title/sort.ascending"), "" when unsorted
	AlmaQuery string    // Canonical plus " sortBy " + SortKey when sorted
}

// ParseQuery parses a CQL query, validates it against idx and
// canonicalizes it; a nil idx means DefaultIndexSet(). The query is put
// into Unicode NFC first, so that "Zürich" typed decomposed (as macOS
// sends it) is the same search, and the same cache key, as composed; and
// standard numbers are rewritten into the forms records catalogue them in
// (numbers.go).
// Diagnostics: 7 empty query, 10 syntax, 14 unterminated quote, 48 prefix
// assignments, 16 unknown index, 19 unsupported relation, 80-series for
// sortBy.
func ParseQuery(query string, idx *IndexSet) (*Query, *Diagnostic) {
	if idx == nil {
		idx = DefaultIndexSet()
	}
	if strings.TrimSpace(query) == "" {
		return nil, NewDiagnostic(7, "query")
	}
	if len(query) > maxQueryLen {
		return nil, NewDiagnostic(10, "query longer than 8192 bytes")
	}
	// cql-go's lexer stops at a NUL and treats invalid UTF-8 as a token
	// error; other control characters could never be echoed as XML.
	if !utf8.ValidString(query) || !cleanXML([]byte(query)) || strings.ContainsRune(query, utf8.RuneError) {
		return nil, NewDiagnostic(10, "query contains characters that are not allowed")
	}
	if !norm.NFC.IsNormalString(query) {
		query = norm.NFC.String(query)
	}
	if pos := unterminatedQuote(query); pos >= 0 {
		return nil, NewDiagnostic(14, "unterminated quoted string")
	}
	var p cql.Parser
	q, err := p.Parse(query)
	if err != nil {
		// Alma reads a bare term up to the next space, parentheses and all
		// (almasru sends alma.other_system_number_active_035==(NET)1-netdb);
		// CQL does not. Accept what Alma accepts: quote such terms and try
		// once more, and report the original error if that fails too.
		quoted, ok := quoteBareTerms(query)
		if !ok {
			return nil, NewDiagnostic(10, syntaxDetails(query, err))
		}
		var p2 cql.Parser
		if q, err = p2.Parse(quoted); err != nil {
			return nil, NewDiagnostic(10, syntaxDetails(query, err))
		}
	}
	if d := normalizeClause(&q.Clause, idx); d != nil {
		return nil, d
	}
	expandNumbers(&q.Clause, idx)
	out := &Query{}
	sorts, d := normalizeSort(q.SortSpec, idx)
	if d != nil {
		return nil, d
	}
	q.SortSpec = sorts
	out.CQL = q
	out.Canonical = canonicalClause(&q.Clause)
	out.SortKey = canonicalSort(sorts)
	out.AlmaQuery = out.Canonical
	if out.SortKey != "" {
		out.AlmaQuery += " sortBy " + out.SortKey
	}
	return out, nil
}

// unterminatedQuote mirrors cql-go's lexer to find a quoted string that
// never closes, which cql-go silently accepts (CQL, OASIS Part 5 §3.1: a
// quoted term ends with a double quote). It returns the opening position
// or -1.
func unterminatedQuote(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '"':
			start := i
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' {
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				i++
			}
			if !closed {
				return start
			}
		case strings.IndexByte("()=<>/", c) >= 0:
			i++
		default:
			for i < len(s) && strings.IndexByte(" \n()=<>/", s[i]) < 0 {
				if s[i] == '\\' {
					i++
				}
				i++
			}
		}
	}
	return -1
}

// quoteBareTerms quotes each unquoted term after a symbolic relation (=,
// ==, <, >, <=, >=, <>) that holds a parenthesis or a relation character,
// which CQL would read as structure: the term runs to the next white space
// or to a closing parenthesis that it did not open. It reports whether it
// changed anything. It lexes like unterminatedQuote, which has run first.
func quoteBareTerms(s string) (string, bool) {
	var b strings.Builder
	changed := false
	afterRel := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			b.WriteByte(c)
			i++
			continue
		case c == '"':
			start := i
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i = min(i+1, len(s))
			b.WriteString(s[start:i])
			afterRel = false
			continue
		case strings.IndexByte("=<>", c) >= 0 && !afterRel:
			start := i
			for i < len(s) && strings.IndexByte("=<>", s[i]) >= 0 {
				i++
			}
			b.WriteString(s[start:i])
			afterRel = i < len(s) && s[i] != '/' // a relation modifier follows otherwise
			continue
		}
		if !afterRel {
			b.WriteByte(c)
			i++
			continue
		}
		afterRel = false
		start, depth, odd := i, 0, false
	term:
		for ; i < len(s); i++ {
			switch s[i] {
			case ' ', '\t', '\r', '\n':
				break term
			case '(':
				depth++
				odd = true
			case ')':
				if depth == 0 {
					break term
				}
				depth--
			case '=', '<', '>', '"':
				odd = true
			case '\\':
				i++
			}
		}
		i = min(i, len(s))
		if !odd || i == start || strings.Trim(s[start:i], "()=<>\"") == "" {
			// Nothing to quote, or nothing but structure ("title=(" is a
			// syntax error, as CQL says, not a search for a parenthesis).
			b.WriteString(s[start:i])
			continue
		}
		b.WriteByte('"')
		for j := start; j < i; j++ {
			switch s[j] {
			case '\\':
				b.WriteByte('\\')
				if j+1 < i {
					j++
					b.WriteByte(s[j])
				} else {
					b.WriteByte('\\')
				}
				continue
			case '"':
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
		changed = true
	}
	return b.String(), changed
}

// normalizeClause resolves every index against idx and puts relations and
// modifier names into one spelling, in place.
func normalizeClause(c *cql.Clause, idx *IndexSet) *Diagnostic {
	if len(c.PrefixMap) > 0 {
		// Alma knows no prefix assignment; rewriting the query's own
		// context sets is out of scope (CQL Part 5 §3.3).
		return NewDiagnostic(48, "prefix assignment")
	}
	switch {
	case c.SearchClause != nil:
		return normalizeSearch(c.SearchClause, idx)
	case c.BoolClause != nil:
		b := c.BoolClause
		b.Operator = cql.Operator(strings.ToLower(string(b.Operator)))
		switch b.Operator {
		case cql.AND, cql.OR, cql.NOT, cql.PROX:
		default:
			return NewDiagnostic(37, string(b.Operator))
		}
		normalizeModifiers(b.Modifiers)
		if d := normalizeClause(&b.Left, idx); d != nil {
			return d
		}
		return normalizeClause(&b.Right, idx)
	}
	return NewDiagnostic(10, "empty clause")
}

func normalizeSearch(sc *cql.SearchClause, idx *IndexSet) *Diagnostic {
	name := strings.ToLower(sc.Index)
	switch name {
	case "", "cql.serverchoice", "cql.anywhere", "cql.keywords":
		// A bare term: CQL Part 5 §3.2 makes it cql.serverChoice, and the
		// server chooses Alma's keyword index.
		name = serverChoiceIndex
	}
	if alma, ok := synonym(name, idx); ok { // SPEC 9.1: dc.* and bath.* on input
		name = alma
	}
	ix, ok := idx.Lookup(name)
	if !ok {
		return NewDiagnostic(16, sc.Index)
	}
	sc.Index = ix.Qualified()
	rel := normalizeRelation(string(sc.Relation))
	if rel == "" {
		rel = "="
	}
	if !ix.Supports(rel) {
		return NewDiagnostic(19, rel)
	}
	sc.Relation = cql.Relation(rel)
	if len(sc.Modifiers) > 0 {
		// Alma's explain advertises relations only, no relation modifiers
		// (its configInfo has no relationModifier support): answer here
		// rather than spend an Alma call on its diagnostic.
		return NewDiagnostic(20, sc.Modifiers[0].Name)
	}
	return nil
}

// normalizeModifiers folds modifier names and named comparisons to lower
// case (CQL names are case-insensitive); values keep their case.
func normalizeModifiers(mods []cql.Modifier) {
	for i := range mods {
		mods[i].Name = strings.ToLower(mods[i].Name)
		mods[i].Relation = cql.Relation(strings.ToLower(string(mods[i].Relation)))
		if mods[i].Value != "" && mods[i].Relation == "" {
			mods[i].Relation = cql.EQ
		}
	}
}

// normalizeSort checks a sortBy clause for Alma, which sorts on one
// sortable index, ascending or descending (SRU 1.2 / CQL sortBy; errors
// from the 80-series of the diagnostics list).
func normalizeSort(sorts []cql.Sort, idx *IndexSet) ([]cql.Sort, *Diagnostic) {
	if len(sorts) == 0 {
		return nil, nil
	}
	if len(sorts) > 1 {
		return nil, NewDiagnostic(84, "1")
	}
	s := sorts[0]
	ix, ok := idx.Lookup(s.Index)
	if !ok || !ix.Sortable {
		return nil, NewDiagnostic(88, s.Index)
	}
	dir := "sort.ascending"
	for _, m := range s.Modifiers {
		name := strings.ToLower(m.Name)
		name = strings.TrimPrefix(name, "sort.")
		if m.Value != "" {
			return nil, NewDiagnostic(80, "sort modifier "+m.Name+" with a value")
		}
		switch name {
		case "ascending":
			dir = "sort.ascending"
		case "descending":
			dir = "sort.descending"
		case "ignorecase", "ignoreaccents", "missinghigh":
			// What Alma does anyway.
		case "respectcase":
			return nil, NewDiagnostic(91, m.Name)
		case "missingomit", "missingfail", "missinglow", "missingvalue":
			return nil, NewDiagnostic(92, m.Name)
		default:
			return nil, NewDiagnostic(80, "sort modifier "+m.Name)
		}
	}
	return []cql.Sort{{Index: ix.Qualified(), Modifiers: []cql.Modifier{{Name: dir}}}}, nil
}

// Canonical serializes q in the gateway's canonical CQL: index and
// relation names in lower case, every term in double quotes, single spaces
// around named relations and boolean operators and none around symbolic
// relations, parentheses only where the left-to-right reading needs them,
// and boolean and relation modifiers kept (cql-go's String drops boolean
// modifiers). Run it on a tree from ParseQuery for the full normalization.
func Canonical(q cql.Query) string {
	s := canonicalClause(&q.Clause)
	if k := canonicalSort(q.SortSpec); k != "" {
		s += " sortBy " + k
	}
	return s
}

func canonicalClause(c *cql.Clause) string {
	var b strings.Builder
	writeClause(&b, c, false)
	return b.String()
}

func canonicalSort(sorts []cql.Sort) string {
	var b strings.Builder
	for i, s := range sorts {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeWord(&b, s.Index)
		writeModifiers(&b, s.Modifiers)
	}
	return b.String()
}

func writeClause(b *strings.Builder, c *cql.Clause, nested bool) {
	for _, p := range c.PrefixMap {
		b.WriteString("> ")
		if p.Prefix != "" {
			writeWord(b, p.Prefix)
			b.WriteString("=")
		}
		writeTerm(b, p.Uri)
		b.WriteByte(' ')
	}
	switch {
	case c.SearchClause != nil:
		writeSearch(b, c.SearchClause)
	case c.BoolClause != nil:
		bc := c.BoolClause
		if nested {
			b.WriteByte('(')
		}
		// CQL booleans bind left to right with equal precedence, so only a
		// boolean on the right needs parentheses.
		writeClause(b, &bc.Left, false)
		b.WriteByte(' ')
		op := string(bc.Operator)
		if op == "" {
			op = string(cql.AND)
		}
		b.WriteString(op)
		writeModifiers(b, bc.Modifiers)
		b.WriteByte(' ')
		writeClause(b, &bc.Right, true)
		if nested {
			b.WriteByte(')')
		}
	default:
		b.WriteString(`cql.allRecords="1"`)
	}
}

func writeSearch(b *strings.Builder, sc *cql.SearchClause) {
	index := sc.Index
	if index == "" {
		index = string(cql.ServerChoice)
	}
	rel := string(sc.Relation)
	if rel == "" {
		rel = "="
	}
	writeWord(b, index)
	named := rel[0] >= 'a' && rel[0] <= 'z' || rel[0] >= 'A' && rel[0] <= 'Z'
	if named {
		b.WriteByte(' ')
	}
	b.WriteString(rel)
	writeModifiers(b, sc.Modifiers)
	if named || len(sc.Modifiers) > 0 {
		b.WriteByte(' ')
	}
	writeTerm(b, sc.Term)
}

func writeModifiers(b *strings.Builder, mods []cql.Modifier) {
	for _, m := range mods {
		b.WriteByte('/')
		writeWord(b, m.Name)
		if m.Value != "" {
			rel := string(m.Relation)
			if rel == "" {
				rel = "="
			}
			if rel[0] >= 'a' && rel[0] <= 'z' {
				b.WriteByte(' ')
				b.WriteString(rel)
				b.WriteByte(' ')
			} else {
				b.WriteString(rel)
			}
			writeWord(b, m.Value)
		}
	}
}

// writeWord writes an index, modifier name or value: bare when the lexer
// would read it back as one plain word, quoted otherwise.
func writeWord(b *strings.Builder, s string) {
	if s == "" || strings.ContainsAny(s, " \t\r\n()=<>/\"\\") || isReservedWord(s) {
		writeTerm(b, s)
		return
	}
	b.WriteString(s)
}

func isReservedWord(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "prox", "sortby", "all", "any", "adj", "scr", "exact", "within", "encloses":
		return true
	}
	return false
}

// writeTerm writes s in double quotes. cql-go keeps backslash escapes in
// term values, so an escape pair is copied as is; a bare double quote (an
// unquoted word may hold one) and a trailing lone backslash get escaped so
// that the result reads back to the same value.
func writeTerm(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) {
				b.WriteByte('\\')
				b.WriteByte(s[i+1])
				i++
			} else {
				b.WriteString(`\\`)
			}
		case '"':
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
