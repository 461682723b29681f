package gateway

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// queryRules are the request rules the JSON feed and the SRU server share:
// the index list the CQL is validated against and the configured limits.
type queryRules struct {
	indexes   *atomic.Pointer[sru.IndexSet]
	limits    LimitsConfig
	publicURL string // GATEWAY_PUBLIC_URL; empty: the request's Host (edge_http.go)
}

// validateCQL parses, validates and canonicalizes a CQL query through the
// SRU layer, so the JSON feed and the SRU server accept exactly the same
// queries and share cache tags.
func (r queryRules) validateCQL(q string) (*sru.Query, error) {
	if len(q) > r.limits.MaxQueryBytes {
		return nil, badRequest(6, "the query is longer than "+itoa(r.limits.MaxQueryBytes)+" bytes")
	}
	query, d := sru.ParseQuery(q, r.indexes.Load())
	if d != nil {
		return nil, fromDiagnostic(d)
	}
	return query, nil
}

func (r queryRules) sruLimits() sru.Limits {
	return sru.Limits{DefaultRecords: r.limits.DefaultRecords, MaxRecords: r.limits.MaxRecords, MaxPosition: sru.AlmaMaxPosition}
}

// searchRequest is a /v1/search request, owned (copied out of Fiber).
type searchRequest struct {
	query  *sru.Query // the validated CQL (Canonical, AlmaQuery)
	start  int
	limit  int
	format string // "json" or "marcxml"
}

// queryParams copies the request's query string out of Fiber.
func queryParams(c *fiber.Ctx) url.Values {
	v := url.Values{}
	c.Request().URI().QueryArgs().VisitAll(func(k, val []byte) {
		v.Add(string(k), string(val))
	})
	return v
}

// checkParams is the one unknown-parameter rule of the /v1 routes: a
// parameter the route does not define is refused with diagnostic 8, a
// repeated one with 6. "_" (a cache-buster some clients add) is allowed.
func checkParams(p url.Values, known ...string) error {
	for k, vs := range p {
		if k != "_" && !contains(known, k) {
			return badRequest(8, k)
		}
		if len(vs) > 1 {
			return badRequest(6, k+" is given more than once")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseSearch validates a /v1/search request (SPEC 3.2) with the same CQL
// rules as the SRU server.
func (r queryRules) parseSearch(p url.Values) (*searchRequest, error) {
	if err := checkParams(p, "query", "q", "start", "limit", "format"); err != nil {
		return nil, err
	}
	req := &searchRequest{start: 1, limit: r.limits.DefaultRecords, format: "json"}
	var err error
	if req.start, err = intParam(p, "start", 1, 1, sru.AlmaMaxPosition); err != nil {
		if n, perr := strconv.Atoi(p.Get("start")); perr == nil && n > sru.AlmaMaxPosition {
			return nil, badRequest(61, "start may be at most "+itoa(sru.AlmaMaxPosition)+" (Alma pages no further)")
		}
		return nil, err
	}
	if req.limit, err = intParam(p, "limit", r.limits.DefaultRecords, 0, r.limits.MaxRecords); err != nil {
		return nil, err
	}
	if req.format, err = formatParam(p); err != nil {
		return nil, err
	}
	cql, err := cqlFrom(p.Get("query"), p.Get("q"), p.Has("query"), p.Has("q"))
	if err != nil {
		return nil, err
	}
	req.query, err = r.validateCQL(cql)
	return req, err
}

// formatParam reads the /v1 format parameter: json (the default) or
// marcxml.
func formatParam(p url.Values) (string, error) {
	switch f := p.Get("format"); f {
	case "", "json":
		return "json", nil
	case "marcxml":
		return f, nil
	}
	return "", badRequest(6, "format must be json or marcxml")
}

// cqlFrom turns query or q into CQL. q is plain keywords (keywordsCQL):
// its words must all match, in any order, so that `history science` finds
// what `science history` finds.
func cqlFrom(query, q string, hasQuery, hasQ bool) (string, error) {
	switch {
	case hasQuery && hasQ:
		return "", badRequest(6, "give query (CQL) or q (keywords), not both")
	case hasQ:
		return keywordsCQL(q)
	case !hasQuery || strings.TrimSpace(query) == "":
		return "", badRequest(7, "query")
	}
	return query, nil
}

// keywordsCQL is the CQL for a q parameter: sru.KeywordsCQL's rules (all
// words in any order, quoted phrases, standard numbers, AND/OR/NOT).
func keywordsCQL(q string) (string, error) {
	cql, d := sru.KeywordsCQL(q)
	if d != nil {
		return "", fromDiagnostic(d)
	}
	return cql, nil
}

// intParam reads an optional integer parameter within [lo, hi]; diagnostic
// 6 (unsupported parameter value) otherwise.
func intParam(p url.Values, name string, def, lo, hi int) (int, error) {
	v := p.Get(name)
	if !p.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(6, name+" must be a whole number from "+itoa(lo)+" to "+itoa(hi))
	}
	return n, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// searchMemo is a parsed /v1/search request as the pipeline runs it: a
// pass-through (sreq) or a merged search (fed).
type searchMemo struct {
	req  *searchRequest
	sreq *SearchRequest
	fed  *fedRequest
}

// searchHandler serves GET /v1/search (SPEC 3.2, 9.2, 14): the search
// model's targets (targets=, else default_targets, else nz), one target
// passed through the pipeline, several merged.
type searchHandler struct {
	rules queryRules
	pipe  *Searcher
	reg   *Registry
	fed   *Federation
	life  cache.Lifetime // a merged page's lifetime
	errs  errorWriter
	memo  *ParseMemo[searchMemo] // parsed requests by raw query string
}

func newSearchHandler(rules queryRules, pipe *Searcher, reg *Registry, fed *Federation, life cache.Lifetime, errs errorWriter) fiber.Handler {
	h := &searchHandler{rules: rules, pipe: pipe, reg: reg, fed: fed, life: life, errs: errs, memo: search.NewParseMemo[searchMemo](4096)}
	return h.serve
}

func (h *searchHandler) serve(c *fiber.Ctx) error {
	t0 := requestStart(c)
	raw, idx := c.Request().URI().QueryString(), h.rules.indexes.Load()
	m, ok := h.memo.Get(idx, raw)
	if !ok {
		var err error
		if m, err = h.parse(queryParams(c)); err != nil {
			return h.errs.json(c, "/v1/search", err, t0)
		}
		h.memo.Put(idx, raw, m)
	}
	var a Answer
	var v CacheView
	var err error
	if m.fed != nil {
		fr := m.fed
		a, v, err = h.pipe.Load(context.Background(), fr.key, h.life, func(ctx context.Context) (Rendered, error) {
			r, _, err := h.fed.SearchTo(ctx, fr.targets, fr.search.query, fr.order, fr.search.start+fr.search.limit-1)
			if err != nil {
				return Rendered{}, err
			}
			return renderSearch(fr.search, r.TargetPage(fr.search.start, fr.search.limit), nil, fr.facets), nil
		})
	} else {
		a, v, err = h.pipe.Search(context.Background(), m.sreq)
	}
	if err != nil {
		return h.errs.json(c, "/v1/search", err, t0)
	}
	return writeAnswer(c, v.At, a, v, t0)
}

// parse reads a /v1/search request: targets, sort and facets (each at most
// once), the rest as SPEC 3.2 says, and plans it (searchmodel.go).
func (h *searchHandler) parse(p url.Values) (searchMemo, error) {
	for _, k := range []string{"targets", "sort", "facets"} {
		if len(p[k]) > 1 {
			return searchMemo{}, badRequest(6, k+" is given more than once")
		}
	}
	rest := p
	if p.Has("targets") || p.Has("sort") || p.Has("facets") {
		rest = url.Values{}
		for k, v := range p {
			if k != "targets" && k != "sort" && k != "facets" {
				rest[k] = v
			}
		}
	}
	req, err := h.rules.parseSearch(rest)
	if err != nil {
		return searchMemo{}, err
	}
	names, err := h.reg.Resolve(p.Get("targets"))
	if err != nil {
		return searchMemo{}, err
	}
	facets, err := federate.ParseFacets(p.Get("facets"))
	if err != nil {
		return searchMemo{}, badRequest(6, err.Error())
	}
	plan, err := h.reg.Plan(names, p.Get("sort"), len(facets) > 0, req.query)
	if err != nil {
		return searchMemo{}, err
	}
	if t := plan.Single; t != nil {
		req.query = plan.Query
		key := "v1|" + req.format + "|" + itoa(req.start) + "|" + itoa(req.limit) + "|" + req.query.AlmaQuery
		if !t.NZ {
			key = "v1@" + t.Name + "|" + key[len("v1|"):]
		}
		tq := TargetQuery{CQL: req.query.AlmaQuery, Start: req.start, Count: req.limit}
		if t.Kind != KindAlma {
			tq.Schema = t.Schema
		}
		return searchMemo{req: req, sreq: &SearchRequest{Key: key, Target: t.Target, Query: tq,
			Render: func(p *TargetPage) Rendered { return renderSearch(req, p, t, nil) }}}, nil
	}
	fr := &fedRequest{search: req, targets: names, order: plan.Order, facets: facets,
		key: "fed|v1|" + req.format + "|" + itoa(req.start) + "|" + itoa(req.limit) + "|" + strings.Join(facets, ",") + "|" + search.FedKey(names, req.query, plan.Order)}
	return searchMemo{req: req, fed: fr}, nil
}

// openID is the identifier a record is served under in the feed's
// mms_id, one that /v1/records/{mms_id} opens (SPEC 14): the NZ MMS ID of
// an nz record; for a member's IZ record its network record's (035
// (EXLNZ-…)) when it has one; else {target}:{id}, which /v1/records looks
// up on that target. A merged record's ID is already chosen so
// (fedResult.targetPage).
func openID(t *RegTarget, tr TargetRecord) string {
	switch {
	case tr.Sources != nil || t == nil:
		return tr.ID
	case t.NZ:
		return tr.Record.MMSID
	case t.Member != "" && tr.Record.NZMMSID != "":
		return tr.Record.NZMMSID
	}
	return t.Name + ":" + tr.ID
}

// renderSearch is the one /v1/search renderer, for a target's page and a
// page of a merged result alike (SPEC 3.2, 9.2): t is the pass-through's
// target, nil for a merged page, which adds hits, targets, facets (the
// names asked) and each record's sources. The JSON is left open before
// "meta", which is added per request.
func renderSearch(req *searchRequest, p *TargetPage, t *RegTarget, facets []string) Rendered {
	tags := []string{"q:" + req.query.Canonical}
	diags := p.Diagnostics
	if len(p.Records) == 0 && req.limit > 0 && req.start > 1 && len(diags) == 0 && req.start > p.Total {
		diags = append(diags, *sru.NewDiagnostic(61, "start "+itoa(req.start)+" is past the last of "+itoa(p.Total)+" records"))
	}
	m := p.Merged
	r := Rendered{Status: 200, ContentType: ContentJSON, Diagnostic: len(p.Diagnostics) > 0 && m == nil}
	if m != nil {
		// While a target is still working the page is not kept: the next
		// request pages the completed result (SPEC 9.3). Nor is a page
		// short of what was asked while more may come: the next request
		// fetches deeper (SPEC 14).
		r.Uncached = m.Result.Pending > 0 || !m.Complete && len(p.Records) < req.limit
	}
	if len(diags) > 0 && len(p.Records) == 0 {
		// A query the target refuses (10-49 in the diagnostics list) is the
		// client's mistake; so is a start past the end (61).
		r.Status = search.DiagnosticStatus(diags[0])
	}
	var body []byte
	if req.format == "marcxml" {
		r.ContentType = ContentXML
		body = transform.AppendCollectionStart(nil)
		for _, tr := range p.Records {
			if tr.Record == nil {
				continue
			}
			tags = append(tags, "mms:"+tr.Record.MMSID)
			if tr.Sources != nil {
				body = tr.Record.AppendMARCXMLHoldings(body, tr.Holdings)
			} else {
				body = tr.Record.AppendMARCXML(body)
			}
		}
		r.Body, r.Tags = transform.AppendCollectionEnd(body), tags
		return r
	}
	body = append(body, `{"query":`...)
	body = transform.AppendJSONString(body, req.query.AlmaQuery)
	body = append(body, `,"total":`...)
	body = strconv.AppendInt(body, int64(p.Total), 10)
	if m != nil {
		body = append(body, `,"hits":`...)
		body = strconv.AppendInt(body, int64(m.Result.Hits), 10)
	}
	body = append(body, `,"start":`...)
	body = strconv.AppendInt(body, int64(req.start), 10)
	body = append(body, `,"limit":`...)
	body = strconv.AppendInt(body, int64(req.limit), 10)
	body = append(body, `,"next":`...)
	if next := p.Next(req.start, req.limit); next > 0 {
		body = strconv.AppendInt(body, int64(next), 10)
	} else {
		body = append(body, "null"...)
	}
	// A pass-through's total is the target's own: nothing more will come.
	body = append(body, `,"complete":`...)
	body = strconv.AppendBool(body, m == nil || m.Complete)
	body = append(body, `,"records":[`...)
	n := 0
	for _, tr := range p.Records {
		if tr.Record == nil {
			diags = append(diags, *sru.NewDiagnostic(64, "record at position "+itoa(tr.Position)+" could not be read"))
			continue
		}
		tags = append(tags, "mms:"+tr.Record.MMSID)
		if n > 0 {
			body = append(body, ',')
		}
		switch {
		case tr.Sources != nil:
			body = tr.Record.AppendFeedJSONAs(body, tr.Position, openID(t, tr), tr.Holdings)
			body = append(body[:len(body)-1], `,"sources":`...)
			src, _ := json.Marshal(tr.Sources)
			body = append(append(body, src...), '}')
		case t == nil || t.NZ:
			body = tr.Record.AppendFeedJSON(body, tr.Position)
		default:
			body = tr.Record.AppendFeedJSONAs(body, tr.Position, openID(t, tr), tr.Record.Holdings)
		}
		n++
	}
	body = append(body, ']')
	if m != nil {
		targets, _ := json.Marshal(m.Result.Targets)
		body = append(append(body, `,"targets":`...), targets...)
		fj, _ := json.Marshal(federate.Facets(m.Result.Clusters, facets))
		body = append(append(body, `,"facets":`...), fj...)
	}
	body = append(body, `,"diagnostics":`...)
	body = appendJSONDiagnostics(body, diags)
	r.Body, r.Tags = body, tags
	return r
}
