package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/internal/hostname"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
)

// sruParams copies an SRU request's parameters out of Fiber: the query
// string, and for POST the form body (SRU 1.2 and 2.0 both define the
// application/x-www-form-urlencoded POST binding).
func sruParams(c *fiber.Ctx) url.Values {
	v := queryParams(c)
	if c.Method() == http.MethodPost {
		c.Request().PostArgs().VisitAll(func(k, val []byte) {
			v.Add(string(k), string(val))
		})
	}
	return v
}

// sruMemo is a parsed SRU searchRetrieve request as the pipeline runs it:
// a pass-through (sreq) or a merged search (fed, names).
type sruMemo struct {
	req   *sru.Request
	sreq  *SearchRequest
	fed   *sru.Query // the merged search's query; nil for a pass-through
	names []string
	order federate.Sort
	key   string // the merged page's cache key
}

// sruHandler is the one SRU front end (SPEC 3.1, 9.2, 14): GET and POST
// /sru (default_targets), /sru/{db} and /view/sru/{db} (a target, a group,
// or the network code for nz). One target is passed through the pipeline
// in full, several are merged; one explain and one renderer serve all.
// Every answer is SRU XML with HTTP 200, diagnostics included, as SRU
// clients expect.
type sruHandler struct {
	rules queryRules
	pipe  *Searcher
	reg   *Registry
	fed   *Federation
	life  cache.Lifetime // a merged page's lifetime
	errs  errorWriter
	memo  *ParseMemo[sruMemo] // parsed GET requests by database and raw query string
}

func newSRUHandler(rules queryRules, pipe *Searcher, reg *Registry, fed *Federation, life cache.Lifetime, errs errorWriter) fiber.Handler {
	h := &sruHandler{rules: rules, pipe: pipe, reg: reg, fed: fed, life: life, errs: errs, memo: search.NewParseMemo[sruMemo](4096)}
	return h.serve
}

func (h *sruHandler) serve(c *fiber.Ctx) error {
	t0 := requestStart(c)
	raw, idx := c.Request().URI().QueryString(), h.rules.indexes.Load()
	db := c.Params("db") // "" on /sru: default_targets
	memoKey := raw
	if db != "" {
		memoKey = append(append([]byte(db), '?'), raw...)
	}
	get := c.Method() == http.MethodGet
	var m sruMemo
	ok := false
	if get {
		m, ok = h.memo.Get(idx, memoKey)
	}
	if !ok {
		p := sruParams(c)
		if q := p.Get("query"); len(q) > h.rules.limits.MaxQueryBytes {
			return h.errs.sru(c, versionOf(p), "searchRetrieve", badRequest(6, "query is longer than "+itoa(h.rules.limits.MaxQueryBytes)+" bytes"))
		}
		db = strings.Clone(db)
		names, err := h.database(db)
		if err != nil {
			return h.errs.sru(c, versionOf(p), "searchRetrieve", err)
		}
		req, d := sru.ParseRequest(p, idx, h.rules.sruLimits())
		if d != nil {
			v, op := versionOf(p), "searchRetrieve"
			if req != nil {
				v, op = req.Version, req.Operation
			}
			return h.errs.sru(c, v, op, fromDiagnostic(d))
		}
		switch req.Operation {
		case "explain":
			return h.explain(c, req, idx, db, names, t0)
		case "scan":
			return h.errs.sru(c, req.Version, "scan", badRequest(4, "scan"))
		}
		if m, err = h.plan(req, names); err != nil {
			return h.errs.sru(c, req.Version, "searchRetrieve", err)
		}
		if get {
			h.memo.Put(idx, memoKey, m)
		}
	}
	var a Answer
	var v CacheView
	var err error
	if m.fed != nil {
		a, v, err = h.pipe.Load(context.Background(), m.key, h.life, func(ctx context.Context) (Rendered, error) {
			r, _, err := h.fed.SearchTo(ctx, m.names, m.fed, m.order, m.req.StartRecord+m.req.MaximumRecords-1)
			if err != nil {
				return Rendered{}, err
			}
			return renderSRU(m.req, r.TargetPage(m.req.StartRecord, m.req.MaximumRecords)), nil
		})
	} else {
		a, v, err = h.pipe.Search(context.Background(), m.sreq)
	}
	if err != nil {
		return h.errs.sru(c, m.req.Version, "searchRetrieve", err)
	}
	if v.Stale {
		a.Body = markStale(a.Body, v)
	}
	return writeAnswer(c, v.At, a, v, t0)
}

// database resolves a database name: "" is default_targets; an unknown one
// is diagnostic 235.
func (h *sruHandler) database(db string) ([]string, error) {
	if db == "" {
		return h.reg.Resolve("")
	}
	if strings.TrimSpace(db) == "" {
		return nil, badRequest(235, db)
	}
	names, err := h.reg.Resolve(db)
	if err != nil {
		return nil, badRequest(235, db)
	}
	return names, nil
}

// plan makes the pipeline's request for a searchRetrieve over names: one
// target passed through, several merged in relevance order.
func (h *sruHandler) plan(req *sru.Request, names []string) (sruMemo, error) {
	q := &sru.Query{CQL: req.CQL, Canonical: req.Canonical, SortKey: req.SortKey, AlmaQuery: req.AlmaQuery}
	plan, err := h.reg.Plan(names, "", false, q)
	if err != nil {
		return sruMemo{}, err
	}
	opts := []string{string(req.Version), req.SchemaName, req.RecordPacking, itoa(req.StartRecord), itoa(req.MaximumRecords), req.Stylesheet, req.Echo.Get("queryType"), req.MediaType}
	if t := plan.Single; t != nil {
		key := "sru|" + strings.Join(opts, "|") + "|" + req.AlmaQuery
		if !t.NZ {
			key = "sru@" + t.Name + key[len("sru"):]
		}
		tq := TargetQuery{CQL: req.AlmaQuery, Start: req.StartRecord, Count: req.MaximumRecords}
		if t.Kind != KindAlma {
			tq.Schema = t.Schema
		}
		return sruMemo{req: req, sreq: &SearchRequest{Key: key, Target: t.Target, Query: tq,
			Render: func(p *TargetPage) Rendered { return renderSRU(req, p) }}}, nil
	}
	return sruMemo{req: req, fed: q, names: names, order: plan.Order,
		key: "fed|sru|" + strings.Join(opts, "|") + "|" + search.FedKey(names, q, plan.Order)}, nil
}

// markStale is the one stale marker of SRU answers (SPEC 4): a stale hit
// says so in extraResponseData, in the block a merged answer already
// carries, else in one of its own. It is the one case where a hit's body
// is not the stored bytes.
func markStale(body []byte, v CacheView) []byte {
	const fresh = "<gw:stale>false</gw:stale>"
	if i := bytes.Index(body, []byte(fresh)); i >= 0 {
		marked := "<gw:stale>true</gw:stale><gw:asOf>" + v.StoredAt.UTC().Format(time.RFC3339) + "</gw:asOf>"
		out := make([]byte, 0, len(body)+len(marked))
		return append(append(append(out, body[:i]...), marked...), body[i+len(fresh):]...)
	}
	return sru.InsertExtra(body, &sru.Extra{Stale: true, AsOf: v.StoredAt, Cache: string(v.Status)})
}

// versionOf is the version to answer in when the request itself could not
// be read: the one asked for when the gateway speaks it, else 1.2.
func versionOf(p url.Values) sru.Version {
	switch v := p.Get("version"); v {
	case "1.1", "1.2", "2.0":
		return sru.Version(v)
	}
	return "1.2"
}

// renderSRU is the one searchRetrieve renderer, for a target's page and a
// page of a merged result alike: each record written in the asked schema
// (marcxml: the canonical MARCXML in the MARC namespace, a merged record
// with the union of its sources' holdings as 852s; dc: Dublin Core made
// from it). A merged page adds the targets' states and whether the result
// is complete to extraResponseData.
func renderSRU(req *sru.Request, p *TargetPage) Rendered {
	tags := []string{"q:" + req.Canonical}
	res := &sru.Result{Total: p.Total, Diagnostics: p.Diagnostics}
	if len(p.Diagnostics) == 0 && len(p.Records) == 0 && req.MaximumRecords > 0 {
		if d := req.CheckPosition(p.Total); d != nil {
			res.Diagnostics = append(res.Diagnostics, *d) // startRecord past the end (61)
		}
	}
	for _, tr := range p.Records {
		if tr.Record == nil {
			res.Records = append(res.Records, surrogate(req.Version, tr.Position, "record could not be read"))
			continue
		}
		tags = append(tags, "mms:"+tr.Record.MMSID)
		var data []byte
		switch {
		case req.SchemaName == "dc":
			data = tr.Record.AppendDC(nil)
		case tr.Sources != nil:
			data = tr.Record.AppendMARCXMLHoldings(nil, tr.Holdings)
		default:
			data = tr.Record.AppendMARCXML(nil)
		}
		res.Records = append(res.Records, sru.Record{Schema: req.RecordSchema, Packing: req.RecordPacking, Data: data, Identifier: tr.ID, Position: tr.Position, WellFormed: true})
	}
	res.NextPosition = p.Next(req.StartRecord, req.MaximumRecords)
	r := Rendered{Status: http.StatusOK, ContentType: ContentSRU, Tags: tags, Diagnostic: len(p.Diagnostics) > 0}
	if m := p.Merged; m != nil {
		complete := m.Complete
		res.Extra = &sru.Extra{Targets: []sru.ExtraTarget{}, Complete: &complete}
		for _, t := range m.Result.Targets {
			et := sru.ExtraTarget{Name: t.Name, Status: t.Status, Hits: t.Hits, Fetched: t.Fetched, TookMS: t.TookMS}
			if t.AsOf != nil {
				et.AsOf = *t.AsOf
			}
			if t.Diagnostic != nil {
				et.Diagnostic = &sru.Diagnostic{URI: t.Diagnostic.URI, Message: t.Diagnostic.Message, Details: t.Diagnostic.Details}
			}
			res.Extra.Targets = append(res.Extra.Targets, et)
		}
		// While a target is still working the page is not kept: the next
		// request pages the completed result (SPEC 9.3).
		// A page short of what was asked while more may come is not kept
		// either: the next request fetches deeper (SPEC 14).
		r.Uncached = m.Result.Pending > 0 || !m.Complete && len(p.Records) < req.MaximumRecords
		r.Diagnostic = false
	}
	// The echoed request shows the query as the gateway understood and sent
	// it (canonical CQL), so that spelling variants share one cached answer.
	echo := *req
	echo.Query = req.Canonical
	var buf bytes.Buffer
	sru.WriteSearchRetrieve(&buf, &echo, res)
	if req.MediaType != "" {
		r.ContentType = ContentSRUMedia
	}
	r.Body = buf.Bytes()
	return r
}

// surrogate is a surrogate diagnostic standing in for a record that could
// not be read (SRU 1.2 section "Surrogate Diagnostics"; diagnostic 64).
func surrogate(v sru.Version, pos int, details string) sru.Record {
	ns := "http://www.loc.gov/zing/srw/diagnostic/"
	schema := "info:srw/schema/1/diagnostics-v1.1"
	if v == "2.0" {
		ns = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
	}
	d := sru.NewDiagnostic(64, details)
	var b bytes.Buffer
	b.WriteString(`<diagnostic xmlns="` + ns + `"><uri>` + d.URI + `</uri><details>`)
	xmlEscape(&b, d.Details)
	b.WriteString(`</details><message>`)
	xmlEscape(&b, d.Message)
	b.WriteString(`</message></diagnostic>`)
	return sru.Record{Schema: schema, Packing: "xml", Data: b.Bytes(), Position: pos}
}

func xmlEscape(b *bytes.Buffer, s string) {
	b.Write(sru.SanitizeXML([]byte(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s))))
}

// explain is the one explain of every SRU path: the database as the
// client addressed it (/sru, /sru/{db}, /view/sru/{db}) on the host and
// port GATEWAY_PUBLIC_URL names, else the request's Host (then private
// and Vary: Host, so no shared cache serves one client's Host to another).
// It is made per request, so its X-Cache is MISS.
func (h *sruHandler) explain(c *fiber.Ctx, req *sru.Request, idx *sru.IndexSet, db string, names []string, t0 time.Time) error {
	host, port := explainAddr(c, h.rules.publicURL) // GATEWAY_PUBLIC_URL, else Host (edge_http.go)
	info := sru.ExplainInfo{
		Host: host, Port: port, Database: "sru",
		Title:          "Alma network search gateway",
		Description:    "SRU access to the network's shared catalogue, with each member's availability in MARC 852 fields.",
		Indexes:        idx,
		DefaultRecords: h.rules.limits.DefaultRecords,
		MaxRecords:     h.rules.limits.MaxRecords,
	}
	if db != "" {
		info.Database = strings.TrimPrefix(strings.TrimSuffix(string(c.Request().URI().Path()), "/"), "/")
		info.Title += ": " + db
		switch t := h.reg.Only(names); {
		case t == nil:
			info.Description = "Federated SRU database " + db + ": one search over " + strings.Join(names, ", ") + ", merged and de-duplicated, with each member's availability in MARC 852 fields; the targets' states are in extraResponseData."
		case t.NZ:
		default:
			info.Description = "SRU access to " + t.Label + ", its records as it sends them."
		}
	} else if len(names) > 1 {
		info.Description = "SRU access to " + strings.Join(names, ", ") + ", merged and de-duplicated, with each member's availability in MARC 852 fields; the targets' states are in extraResponseData."
	}
	var buf bytes.Buffer
	sru.WriteExplain(&buf, req.Version, info, req)
	a, _ := unpackAnswer(packAnswer(Rendered{Status: http.StatusOK, ContentType: ContentSRU, Body: buf.Bytes()}))
	now := h.pipe.now()
	// Made for this request, so a MISS; who may cache it is set after.
	err := writeAnswer(c, now, a, CacheView{Status: cache.StatusMiss, StoredAt: now, Life: cache.Lifetime{Fresh: 300 * time.Second}}, t0)
	explainCacheHeaders(c, h.rules.publicURL) // public only with GATEWAY_PUBLIC_URL (edge_http.go)
	return err
}

// hostPort reads the Host header, keeping only a plausible host name.
func hostPort(h string, tls bool) (string, int) {
	port := 80
	if tls {
		port = 443
	}
	host := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		host = h[:i]
		if n, err := strconv.Atoi(h[i+1:]); err == nil && n > 0 && n < 65536 {
			port = n
		}
	}
	host = strings.Trim(host, "[]")
	if host == "" || !hostname.Sane(host) {
		host = "localhost"
	}
	return host, port
}
