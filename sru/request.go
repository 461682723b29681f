package sru

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/indexdata/cql-go/cql"
)

// Version is an SRU protocol version: "1.1", "1.2" or "2.0".
type Version string

// The versions the gateway speaks.
const (
	V11 Version = "1.1"
	V12 Version = "1.2"
	V20 Version = "2.0"
)

// DefaultVersion is what a request without a version gets, and the version
// of the answer to a request whose version is not supported.
const DefaultVersion = V12

// Record schemas the gateway serves (SPEC 3.1).
const (
	SchemaMARCXML = "info:srw/schema/1/marcxml-v1.1"
	SchemaDC      = "info:srw/schema/1/dc-v1.1"
)

// Request is a validated SRU request.
type Request struct {
	Version             Version
	Operation           string    // "explain", "searchRetrieve", "scan"
	Query               string    // as received
	CQL                 cql.Query // parsed and normalized
	Canonical           string    // canonical CQL for Alma and cache keys (without sortBy)
	AlmaQuery           string    // what to send as Alma's query= (canonical + Alma's sortBy form)
	SortKey             string    // canonical sort spec, part of the cache key; "" when unsorted
	StartRecord         int       // default 1
	MaximumRecords      int       // default Limits.DefaultRecords; 0 allowed (count only)
	MaximumRecordsGiven bool
	RecordSchema        string // full URI, echoed
	SchemaName          string // "marcxml" or "dc"
	RecordPacking       string // "xml" or "string" (2.0: the value of recordXMLEscaping)
	Stylesheet          string
	ResultSetTTL        int
	// MediaType is the response media type SRU 2.0's httpAccept asked for:
	// "application/sru+xml", or "" for the default (text/xml).
	MediaType string
	Echo      url.Values // the request parameters to echo, normalized
}

// Limits bounds what a client may ask for. Zero values mean the defaults.
type Limits struct {
	DefaultRecords int // page size when maximumRecords is absent; 0 → 10
	MaxRecords     int // largest page; 0 → 100 (larger asks are cut down)
	MaxPosition    int // last reachable record position; 0 → 10000 (Alma's limit)
}

func (l Limits) withDefaults() Limits {
	if l.DefaultRecords <= 0 {
		l.DefaultRecords = 10
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = 100
	}
	if l.DefaultRecords > l.MaxRecords {
		l.DefaultRecords = l.MaxRecords
	}
	if l.MaxPosition <= 0 {
		l.MaxPosition = AlmaMaxPosition
	}
	return l
}

// parameters each version and operation accepts besides x- extensions.
var (
	explainParams11 = set("operation", "version", "recordPacking", "stylesheet")
	explainParams20 = set("operation", "version", "recordXMLEscaping", "recordPacking", "stylesheet")
	searchParams11  = set("operation", "version", "query", "startRecord", "maximumRecords", "recordPacking",
		"recordSchema", "resultSetTTL", "sortKeys", "stylesheet")
	searchParams12 = set("operation", "version", "query", "startRecord", "maximumRecords", "recordPacking",
		"recordSchema", "resultSetTTL", "sortKeys", "stylesheet")
	searchParams20 = set("operation", "version", "query", "queryType", "startRecord", "maximumRecords",
		"recordXMLEscaping", "recordPacking", "recordSchema", "resultSetTTL", "sortKeys", "stylesheet", "httpAccept")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ParseRequest validates an SRU request. params are the merged GET query
// or POST form values; a nil idx means DefaultIndexSet(). The version
// defaults to 1.2; when the diagnostic is
// about the version itself, Request is nil and the caller answers in
// DefaultVersion. Otherwise a non-nil Request comes back with the
// diagnostic too (with Version and Operation set) so that the answer can be
// written in the right version and element.
func ParseRequest(params url.Values, idx *IndexSet, lim Limits) (*Request, *Diagnostic) {
	lim = lim.withDefaults()
	if idx == nil {
		idx = DefaultIndexSet()
	}
	req := &Request{Version: DefaultVersion, StartRecord: 1, MaximumRecords: lim.DefaultRecords,
		RecordSchema: SchemaMARCXML, SchemaName: "marcxml", RecordPacking: "xml", Echo: url.Values{}}

	for _, name := range sortedKeys(params) {
		if vals := params[name]; len(vals) > 1 && !strings.HasPrefix(name, "x-") {
			// A repeated parameter has no defined meaning in SRU.
			if v := one(params, "version"); v == "" || validVersion(v) {
				req.Version = versionOr(v)
				req.Operation = guessOperation(params)
				return req, NewDiagnostic(6, name+" (repeated)")
			}
		}
	}
	if v := one(params, "version"); v != "" {
		if !validVersion(v) {
			return nil, NewDiagnostic(5, string(DefaultVersion))
		}
		req.Version = Version(v)
	}
	op := one(params, "operation")
	switch {
	case op == "" && req.Version == V20 && params.Has("scanClause"):
		op = "scan" // SRU 2.0 names no operation; scanClause means scan
	case op == "" && params.Has("query"):
		op = "searchRetrieve"
	case op == "":
		op = "explain"
	}
	switch op {
	case "explain", "searchRetrieve":
		req.Operation = op
	case "scan":
		req.Operation = op
		return req, NewDiagnostic(4, "scan")
	default:
		req.Operation = "searchRetrieve"
		return req, NewDiagnostic(4, op)
	}
	if req.Version != V20 || params.Has("version") {
		req.Echo.Set("version", string(req.Version))
	}

	allowed := allowedParams(req.Version, req.Operation)
	for _, name := range sortedKeys(params) {
		if strings.HasPrefix(name, "x-") || allowed[name] {
			continue
		}
		if name == "recordXPath" {
			return req, NewDiagnostic(72, "recordXPath")
		}
		return req, NewDiagnostic(8, name)
	}
	if d := parsePacking(req, params); d != nil {
		return req, d
	}
	if s := one(params, "stylesheet"); params.Has("stylesheet") {
		if !validStylesheet(s) {
			return req, NewDiagnostic(111, s)
		}
		req.Stylesheet = s
		req.Echo.Set("stylesheet", s)
	}
	if req.Operation == "explain" {
		return req, nil
	}
	return req, parseSearch(req, params, idx, lim)
}

func parseSearch(req *Request, params url.Values, idx *IndexSet, lim Limits) *Diagnostic {
	req.Query = one(params, "query")
	if params.Has("query") {
		req.Echo.Set("query", req.Query)
	}
	searchTerms := false
	if qt := one(params, "queryType"); params.Has("queryType") {
		switch {
		case strings.EqualFold(qt, "cql"):
		case strings.EqualFold(qt, "searchTerms"):
			// SRU 2.0's query type for OpenSearch's {searchTerms}: plain
			// keywords, read by the rules of the JSON feed's q
			// (KeywordsCQL). The echo shows the CQL they became.
			searchTerms = true
		default:
			return NewDiagnostic(6, "queryType")
		}
		req.Echo.Set("queryType", "cql")
	}
	if params.Has("httpAccept") {
		switch mt := one(params, "httpAccept"); mt {
		case "application/sru+xml":
			req.MediaType = mt
			req.Echo.Set("httpAccept", mt)
		case "text/xml", "application/xml", "*/*":
		default:
			return NewDiagnostic(6, "httpAccept")
		}
	}
	if params.Has("startRecord") {
		raw := one(params, "startRecord")
		n, ok := number(raw)
		if !ok || n < 1 {
			return NewDiagnostic(6, "startRecord")
		}
		req.Echo.Set("startRecord", raw)
		if n > lim.MaxPosition {
			return NewDiagnostic(61, strconv.Itoa(lim.MaxPosition))
		}
		req.StartRecord = n
	}
	if params.Has("maximumRecords") {
		raw := one(params, "maximumRecords")
		n, ok := number(raw)
		if !ok || n < 0 {
			return NewDiagnostic(6, "maximumRecords")
		}
		req.Echo.Set("maximumRecords", raw)
		req.MaximumRecords = min(n, lim.MaxRecords)
		req.MaximumRecordsGiven = true
	}
	// Alma serves nothing past position MaxPosition: cut the page there.
	req.MaximumRecords = max(0, min(req.MaximumRecords, lim.MaxPosition-req.StartRecord+1))
	if params.Has("recordSchema") {
		raw := one(params, "recordSchema")
		uri, name, ok := lookupSchema(raw)
		if !ok {
			return NewDiagnostic(66, raw)
		}
		req.RecordSchema, req.SchemaName = uri, name
		req.Echo.Set("recordSchema", uri)
	}
	if params.Has("resultSetTTL") {
		raw := one(params, "resultSetTTL")
		n, ok := number(raw)
		if !ok || n < 0 {
			return NewDiagnostic(6, "resultSetTTL")
		}
		req.ResultSetTTL = n
		req.Echo.Set("resultSetTTL", raw)
	}
	if strings.TrimSpace(req.Query) == "" {
		return NewDiagnostic(7, "query")
	}
	query := req.Query
	if searchTerms {
		var d *Diagnostic
		if query, d = KeywordsCQL(query); d != nil {
			return d
		}
	}
	q, d := ParseQuery(query, idx)
	if d != nil {
		return d
	}
	if params.Has("sortKeys") {
		raw := one(params, "sortKeys")
		req.Echo.Set("sortKeys", raw)
		if q.SortKey != "" {
			// Both a CQL sortBy and the sortKeys parameter (SRU 2.0 §
			// sorting allows either, not both here).
			return NewDiagnostic(96, "")
		}
		sorts, d := parseSortKeys(raw, idx)
		if d != nil {
			return d
		}
		q.CQL.SortSpec = sorts
		q.SortKey = canonicalSort(sorts)
		if q.SortKey != "" {
			q.AlmaQuery = q.Canonical + " sortBy " + q.SortKey
		}
	}
	req.CQL, req.Canonical, req.AlmaQuery, req.SortKey = q.CQL, q.Canonical, q.AlmaQuery, q.SortKey
	return nil
}

// parsePacking reads recordPacking (1.1/1.2: xml or string) or, in 2.0,
// recordXMLEscaping (xml or string) and recordPacking, which SRU 2.0
// redefined as packed or unpacked (Part 3 "recordPacking"); only packed
// is offered. A 2.0 request with the 1.2 values xml or string in
// recordPacking and no recordXMLEscaping gets the 1.2 meaning: no 2.0
// client sends those, and 1.2 habits are common.
func parsePacking(req *Request, params url.Values) *Diagnostic {
	if req.Version != V20 {
		if params.Has("recordPacking") {
			p := one(params, "recordPacking")
			if p != "xml" && p != "string" {
				return NewDiagnostic(71, p)
			}
			req.RecordPacking = p
			req.Echo.Set("recordPacking", p)
		}
		return nil
	}
	if params.Has("recordXMLEscaping") {
		p := one(params, "recordXMLEscaping")
		if p != "xml" && p != "string" {
			return NewDiagnostic(71, p)
		}
		req.RecordPacking = p
		req.Echo.Set("recordXMLEscaping", p)
	}
	if params.Has("recordPacking") {
		switch p := one(params, "recordPacking"); {
		case p == "packed":
		case (p == "xml" || p == "string") && !params.Has("recordXMLEscaping"):
			req.RecordPacking = p
		default:
			return NewDiagnostic(71, p)
		}
		req.Echo.Set("recordPacking", one(params, "recordPacking"))
	}
	return nil
}

// parseSortKeys reads the SRU 1.1 sortKeys parameter: space separated
// keys, each "path,schema,ascending,caseSensitive,missingValue" with all
// but path optional. Alma sorts on one key.
func parseSortKeys(raw string, idx *IndexSet) ([]cql.Sort, *Diagnostic) {
	keys := strings.Fields(raw)
	if len(keys) == 0 {
		return nil, nil
	}
	if len(keys) > 1 {
		return nil, NewDiagnostic(84, "1")
	}
	f := strings.Split(keys[0], ",")
	for len(f) < 5 {
		f = append(f, "")
	}
	if len(f) > 5 {
		return nil, NewDiagnostic(6, "sortKeys")
	}
	path, schema, asc, cs, missing := f[0], f[1], f[2], f[3], f[4]
	ix, ok := idx.Lookup(path)
	if path == "" || !ok || !ix.Sortable {
		return nil, NewDiagnostic(88, path)
	}
	if schema != "" {
		if _, _, ok := lookupSchema(schema); !ok {
			return nil, NewDiagnostic(87, schema)
		}
	}
	dir := "sort.ascending"
	switch asc {
	case "", "1", "true":
	case "0", "false":
		dir = "sort.descending"
	default:
		return nil, NewDiagnostic(90, asc)
	}
	switch cs {
	case "", "0", "false":
	default:
		return nil, NewDiagnostic(91, cs)
	}
	switch missing {
	case "", "highValue":
	default:
		return nil, NewDiagnostic(92, missing)
	}
	return []cql.Sort{{Index: ix.Qualified(), Modifiers: []cql.Modifier{{Name: dir}}}}, nil
}

// lookupSchema accepts a schema by short name or URI (SPEC 3.1).
func lookupSchema(s string) (uri, name string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "marcxml", "marc21", "marc21slim", strings.ToLower(SchemaMARCXML), "http://www.loc.gov/marc21/slim",
		"http://www.loc.gov/standards/marcxml/schema/marc21slim.xsd":
		return SchemaMARCXML, "marcxml", true
	case "dc", strings.ToLower(SchemaDC):
		return SchemaDC, "dc", true
	}
	return "", "", false
}

func allowedParams(v Version, op string) map[string]bool {
	switch {
	case op == "explain" && v == V20:
		return explainParams20
	case op == "explain":
		return explainParams11
	case v == V11:
		return searchParams11
	case v == V12:
		return searchParams12
	}
	return searchParams20
}

func validVersion(v string) bool { return v == "1.1" || v == "1.2" || v == "2.0" }

func versionOr(v string) Version {
	if validVersion(v) {
		return Version(v)
	}
	return DefaultVersion
}

func guessOperation(params url.Values) string {
	switch op := params.Get("operation"); {
	case op == "explain" || op == "scan" || op == "searchRetrieve":
		return op
	case params.Has("query"):
		return "searchRetrieve"
	}
	return "explain"
}

// one returns the single value of a parameter.
func one(params url.Values, name string) string { return params.Get(name) }

// number parses a non-negative decimal of reasonable size.
func number(s string) (int, bool) {
	if s == "" || len(s) > 9 || !isDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// validStylesheet accepts a URL that can sit inside the xml-stylesheet
// processing instruction's double-quoted href.
func validStylesheet(s string) bool {
	if s == "" || len(s) > 2048 || !cleanXML([]byte(s)) {
		return false
	}
	if strings.ContainsAny(s, "\"<>&\r\n\t") || strings.Contains(s, "?>") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "" || u.Scheme == "http" || u.Scheme == "https")
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}
