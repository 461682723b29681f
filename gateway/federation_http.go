package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// The front ends of federation (SPEC 9.2): /v1/search with targets=,
// sort= or facets=, and the SRU virtual databases /sru/{db} and
// /view/sru/{db} (the path shape of Alma's own SRU). Both page through one
// merged result (federation.search); each page is cached like any answer,
// except while a target is still working: then the next request pages the
// completed result instead.

// fedRequest is a federated search as the JSON feed asks it.
type fedRequest struct {
	search  *searchRequest
	targets []string
	order   federate.Sort
	facets  []string
	key     string
}

// mayBeFederated is a cheap test on the raw query string; only requests
// that pass it are parsed for targets, sort and facets.
func mayBeFederated(raw []byte) bool {
	return bytes.Contains(raw, []byte("targets=")) || bytes.Contains(raw, []byte("sort=")) || bytes.Contains(raw, []byte("facets="))
}

// federatedSearch serves GET /v1/search when it asks for targets, a sort or
// facets; any other request goes on to the single-target feed unchanged.
func (s *Server) federatedSearch() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !mayBeFederated(c.Request().URI().QueryString()) {
			return c.Next()
		}
		p := queryParams(c)
		if !p.Has("targets") && !p.Has("sort") && !p.Has("facets") {
			return c.Next()
		}
		t0 := requestStart(c)
		fr, err := s.parseFederated(p)
		if err != nil {
			return s.errs.json(c, "/v1/search", err, t0)
		}
		a, v, err := s.pipe.Load(context.Background(), fr.key, s.fedLife(), func(ctx context.Context) (Rendered, error) {
			r, _, err := s.fed.search(ctx, fr.targets, fr.search.query, fr.order)
			if err != nil {
				return Rendered{}, err
			}
			return renderFederated(fr, r), nil
		})
		if err != nil {
			return s.errs.json(c, "/v1/search", err, t0)
		}
		return writeAnswer(c, s.pipe.now(), a, v, t0)
	}
}

// fedLife is the lifetime of a federated page: a search answer's.
func (s *Server) fedLife() cache.Lifetime {
	return cache.Lifetime{Fresh: s.cfg.Cache.TTL.D(), Stale: s.cfg.Cache.Stale.D()}
}

// parseFederated reads targets, sort and facets, and the rest as the
// single-target feed does.
func (s *Server) parseFederated(p url.Values) (*fedRequest, error) {
	for _, k := range []string{"targets", "sort", "facets"} {
		if len(p[k]) > 1 {
			return nil, badRequest(6, k+" is given more than once")
		}
	}
	targets, err := s.cfg.ResolveTargets(p.Get("targets"))
	if err != nil {
		return nil, badRequest(6, err.Error()+" (targets: "+strings.Join(s.cfg.TargetNames(), ", ")+")")
	}
	def := federate.SortRelevance
	if len(targets) == 1 {
		def = federate.SortPosition
	}
	order, err := federate.ParseSort(p.Get("sort"), def)
	if err != nil {
		return nil, badRequest(6, err.Error())
	}
	facets, err := federate.ParseFacets(p.Get("facets"))
	if err != nil {
		return nil, badRequest(6, err.Error())
	}
	rest := url.Values{}
	for k, v := range p {
		if k != "targets" && k != "sort" && k != "facets" {
			rest[k] = v
		}
	}
	sr, err := s.rules.parseSearch(rest)
	if err != nil {
		return nil, err
	}
	return &fedRequest{search: sr, targets: targets, order: order, facets: facets,
		key: "fed|v1|" + sr.format + "|" + itoa(sr.start) + "|" + itoa(sr.limit) + "|" + strings.Join(facets, ",") + "|" + fedKey(targets, sr.query, order)}, nil
}

// fedRecordJSON is one merged record of the feed: the record as the
// single-target feed writes it (its holdings the union), and its sources.
type fedRecordJSON struct {
	transform.FeedRecord
	Sources []federate.Ref `json:"sources"`
}

// feedHoldings writes holdings as the feed does.
func feedHoldings(hs []transform.Holding) []transform.FeedHolding {
	out := make([]transform.FeedHolding, len(hs))
	for i, h := range hs {
		fh := transform.FeedHolding{Institution: h.Institution, Types: h.Types}
		if fh.Types == nil {
			fh.Types = []string{}
		}
		if h.IZMMSID != "" {
			iz := h.IZMMSID
			fh.IZMMSID = &iz
		}
		out[i] = fh
	}
	return out
}

// page returns the clusters of one page, 1-based.
func (r *fedResult) page(start, limit int) []*federate.Cluster {
	if start > len(r.clusters) || limit <= 0 {
		return nil
	}
	return r.clusters[start-1 : min(len(r.clusters), start-1+limit)]
}

// mergedInfo is what a page of a merged result says beyond its records.
type mergedInfo struct {
	result *fedResult
	// Complete says whether Total is every record the targets have: false
	// while a target has hits not fetched (or is still working), so that
	// paging on would find more than Total says.
	Complete bool
}

// complete says whether the merged result holds every record its targets
// have: no target still working, and every answering target's records all
// fetched.
func (r *fedResult) complete() bool {
	if r.pending > 0 {
		return false
	}
	for _, t := range r.targets {
		if (t.Status == tsOK || t.Status == tsStale) && t.Fetched < min(t.Hits, almaMaxPosition) {
			return false
		}
	}
	return true
}

// targetPage is records start..start+count-1 of the merged result as a
// TargetPage, so that the one renderer of each surface writes single and
// merged answers: each record is its cluster's preferred record with the
// union of holdings and its sources; Total is the merged records.
func (r *fedResult) targetPage(start, count int) *TargetPage {
	p := &TargetPage{Total: len(r.clusters), Merged: &mergedInfo{result: r, Complete: r.complete()}}
	if _, diags := r.answerStatus(); len(diags) > 0 {
		p.Diagnostics = diags
	}
	for i, c := range r.page(start, count) {
		p.Records = append(p.Records, TargetRecord{Position: start + i, ID: c.Preferred.Target + ":" + c.Preferred.ID,
			Record: c.Record, Holdings: c.Holdings, Sources: c.Sources})
	}
	return p
}

// answerStatus is a federated answer's HTTP status and top diagnostics:
// 200, unless no target gave records and every one said the query was at
// fault (skipped, or a query diagnostic): then 400 with those diagnostics.
func (r *fedResult) answerStatus() (int, []sru.Diagnostic) {
	if len(r.clusters) > 0 {
		return http.StatusOK, nil
	}
	var diags []sru.Diagnostic
	for _, t := range r.targets {
		if (t.Status != tsSkipped && t.Status != tsDiagnostic) || t.Diagnostic == nil {
			return http.StatusOK, nil
		}
		d := sru.Diagnostic{URI: t.Diagnostic.URI, Message: t.Diagnostic.Message, Details: t.Diagnostic.Details}
		if diagnosticStatus(d) != http.StatusBadRequest {
			return http.StatusOK, nil
		}
		diags = append(diags, d)
	}
	if len(diags) == 0 {
		return http.StatusOK, nil
	}
	return http.StatusBadRequest, diags[:1]
}

// renderFederated makes the body of one page of a merged result. The JSON
// is left open before "meta", which writeAnswer adds per request.
func renderFederated(fr *fedRequest, r *fedResult) Rendered {
	req := fr.search
	tags := []string{"q:" + req.query.Canonical}
	page := r.page(req.start, req.limit)
	status, diags := r.answerStatus()
	var body []byte
	ctype := ContentJSON
	if req.format == "marcxml" {
		ctype = ContentXML
		body = transform.AppendCollectionStart(nil)
		for _, c := range page {
			tags = append(tags, "mms:"+c.Record.MMSID)
			body = c.Record.AppendMARCXMLHoldings(body, c.Holdings)
		}
		body = transform.AppendCollectionEnd(body)
	} else {
		recs := make([]fedRecordJSON, len(page))
		for i, c := range page {
			tags = append(tags, "mms:"+c.Record.MMSID)
			feed := c.Record.Feed(req.start + i)
			feed.Holdings = feedHoldings(c.Holdings)
			recs[i] = fedRecordJSON{FeedRecord: feed, Sources: c.Sources}
		}
		var next *int
		if n := req.start + len(page); len(page) > 0 && n <= len(r.clusters) {
			next = &n
		}
		facets := federate.Facets(r.clusters, fr.facets)
		head := struct {
			Query       string                           `json:"query"`
			Total       int                              `json:"total"`
			Hits        int                              `json:"hits"`
			Start       int                              `json:"start"`
			Limit       int                              `json:"limit"`
			Next        *int                             `json:"next"`
			Records     []fedRecordJSON                  `json:"records"`
			Targets     []targetState                    `json:"targets"`
			Facets      map[string][]federate.FacetValue `json:"facets"`
			Diagnostics []jsonDiagnostic                 `json:"diagnostics"`
		}{req.query.AlmaQuery, len(r.clusters), r.hits, req.start, req.limit, next, recs, r.targets, facets, toJSONDiagnostics(diags)}
		b, err := json.Marshal(head)
		if err != nil {
			b = []byte(`{"diagnostics":[]}`)
		}
		body = b[:len(b)-1] // open before "meta"
	}
	// While a target is still working the page is not kept: the next
	// request pages the completed result (SPEC 9.3).
	return Rendered{Status: status, ContentType: ctype, Body: body, Tags: tags, Uncached: r.pending > 0, Diagnostic: len(diags) > 0}
}

// handleVirtualSRU serves /sru/{db} and /view/sru/{db}: SRU over a target
// or group (a virtual database), merged.
func (s *Server) handleVirtualSRU() fiber.Handler {
	return func(c *fiber.Ctx) error {
		t0 := requestStart(c)
		db := strings.Clone(c.Params("db"))
		p := sruParams(c)
		names, err := s.cfg.ResolveTargets(db)
		if err != nil || strings.TrimSpace(db) == "" {
			return s.errs.sru(c, versionOf(p), "searchRetrieve", badRequest(235, db))
		}
		if q := p.Get("query"); len(q) > s.cfg.Limits.MaxQueryBytes {
			return s.errs.sru(c, versionOf(p), "searchRetrieve", badRequest(6, "query is longer than "+itoa(s.cfg.Limits.MaxQueryBytes)+" bytes"))
		}
		req, d := sru.ParseRequest(p, s.indexes.Load(), s.rules.sruLimits())
		if d != nil {
			v, op := versionOf(p), "searchRetrieve"
			if req != nil {
				v, op = req.Version, req.Operation
			}
			return s.errs.sru(c, v, op, fromDiagnostic(d))
		}
		switch req.Operation {
		case "explain":
			return s.virtualExplain(c, req, db, names, t0)
		case "scan":
			return s.errs.sru(c, req.Version, "scan", badRequest(4, "scan"))
		}
		order := federate.SortRelevance
		if len(names) == 1 {
			order = federate.SortPosition
		}
		q := &sru.Query{CQL: req.CQL, Canonical: req.Canonical, SortKey: req.SortKey, AlmaQuery: req.AlmaQuery}
		key := strings.Join([]string{"fed|sru", string(req.Version), req.SchemaName, req.RecordPacking,
			itoa(req.StartRecord), itoa(req.MaximumRecords), req.Stylesheet, fedKey(names, q, order)}, "|")
		a, v, err := s.pipe.Load(context.Background(), key, s.fedLife(), func(ctx context.Context) (Rendered, error) {
			r, _, err := s.fed.search(ctx, names, q, order)
			if err != nil {
				return Rendered{}, err
			}
			return renderVirtualSRU(req, r), nil
		})
		if err != nil {
			return s.errs.sru(c, req.Version, "searchRetrieve", err)
		}
		if v.Stale {
			// The stored answer says stale false; a stale hit says so (SPEC 4).
			a.Body = bytes.Replace(a.Body, []byte("<gw:stale>false</gw:stale>"),
				[]byte("<gw:stale>true</gw:stale><gw:asOf>"+v.StoredAt.UTC().Format(time.RFC3339)+"</gw:asOf>"), 1)
		}
		return writeAnswer(c, s.pipe.now(), a, v, t0)
	}
}

// renderVirtualSRU writes one page of a merged result as a searchRetrieve
// response: MARCXML with the union of member 852s (or Dublin Core), and the
// targets' states in extraResponseData.
func renderVirtualSRU(req *sru.Request, r *fedResult) Rendered {
	tags := []string{"q:" + req.Canonical}
	res := &sru.Result{Total: len(r.clusters), Extra: &sru.Extra{Targets: []sru.ExtraTarget{}}}
	if _, diags := r.answerStatus(); len(diags) > 0 {
		res.Diagnostics = diags
	}
	page := r.page(req.StartRecord, req.MaximumRecords)
	if len(res.Diagnostics) == 0 && len(page) == 0 && req.MaximumRecords > 0 {
		if d := req.CheckPosition(len(r.clusters)); d != nil {
			res.Diagnostics = append(res.Diagnostics, *d)
		}
	}
	for i, c := range page {
		tags = append(tags, "mms:"+c.Record.MMSID)
		var data []byte
		if req.SchemaName == "dc" {
			data = c.Record.AppendDC(nil)
		} else {
			data = c.Record.AppendMARCXMLHoldings(nil, c.Holdings)
		}
		res.Records = append(res.Records, sru.Record{Schema: req.RecordSchema, Packing: req.RecordPacking, Data: data,
			Identifier: c.Preferred.Target + ":" + c.Preferred.ID, Position: req.StartRecord + i, WellFormed: true})
	}
	if req.MaximumRecords > 0 {
		res.NextPosition = nextPosition(req.StartRecord, len(page), len(r.clusters))
	}
	for _, t := range r.targets {
		et := sru.ExtraTarget{Name: t.Name, Status: t.Status, Hits: t.Hits, Fetched: t.Fetched, TookMS: t.TookMS}
		if t.AsOf != nil {
			et.AsOf = *t.AsOf
		}
		if t.Diagnostic != nil {
			et.Diagnostic = &sru.Diagnostic{URI: t.Diagnostic.URI, Message: t.Diagnostic.Message, Details: t.Diagnostic.Details}
		}
		res.Extra.Targets = append(res.Extra.Targets, et)
	}
	echo := *req
	echo.Query = req.Canonical
	var buf bytes.Buffer
	sru.WriteSearchRetrieve(&buf, &echo, res)
	return Rendered{Status: http.StatusOK, ContentType: ContentSRU, Body: buf.Bytes(), Tags: tags, Uncached: r.pending > 0}
}

// virtualExplain describes a virtual database: its own path, and the
// targets it searches.
func (s *Server) virtualExplain(c *fiber.Ctx, req *sru.Request, db string, names []string, t0 time.Time) error {
	host, port := hostPort(c.Get("Host"), c.Protocol() == "https")
	path := strings.TrimPrefix(strings.TrimSuffix(c.Path(), "/"), "/")
	info := sru.ExplainInfo{
		Host: host, Port: port, Database: path,
		Title:          "Alma network search gateway: " + db,
		Description:    "Federated SRU database " + db + ": one search over " + strings.Join(names, ", ") + ", merged and de-duplicated, with each member's availability in MARC 852 fields; the targets' states are in extraResponseData.",
		Indexes:        s.indexes.Load(),
		DefaultRecords: s.cfg.Limits.DefaultRecords,
		MaxRecords:     s.cfg.Limits.MaxRecords,
	}
	var buf bytes.Buffer
	sru.WriteExplain(&buf, req.Version, info, req)
	a, _ := unpackAnswer(packAnswer(Rendered{Status: http.StatusOK, ContentType: ContentSRU, Body: buf.Bytes()}))
	now := s.pipe.now()
	return writeAnswer(c, now, a, CacheView{Status: cache.StatusHit, StoredAt: now, Life: cache.Lifetime{Fresh: 300 * time.Second}}, t0)
}
