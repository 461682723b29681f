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
	"github.com/almanet/gateway/internal/hostname"
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

// sruMemo is a parsed SRU searchRetrieve request as the pipeline runs it.
type sruMemo struct {
	req  *sru.Request
	sreq *SearchRequest
}

// sruHandler serves GET and POST /sru (SPEC 3.1). Every answer is SRU XML
// with HTTP 200, diagnostics included, as SRU clients expect.
type sruHandler struct {
	rules  queryRules
	pipe   *Searcher
	target Target // the network's SRU
	errs   errorWriter
	memo   *parseMemo[sruMemo] // parsed GET requests by raw query string
}

func newSRUHandler(rules queryRules, pipe *Searcher, target Target, errs errorWriter) fiber.Handler {
	h := &sruHandler{rules: rules, pipe: pipe, target: target, errs: errs, memo: newParseMemo[sruMemo](4096)}
	return h.serve
}

func (h *sruHandler) serve(c *fiber.Ctx) error {
	t0 := requestStart(c)
	raw, idx := c.Request().URI().QueryString(), h.rules.indexes.Load()
	get := c.Method() == http.MethodGet
	var m sruMemo
	ok := false
	if get {
		m, ok = h.memo.get(idx, raw)
	}
	if !ok {
		p := sruParams(c)
		if q := p.Get("query"); len(q) > h.rules.limits.MaxQueryBytes {
			return h.errs.sru(c, versionOf(p), "searchRetrieve", badRequest(6, "query is longer than "+itoa(h.rules.limits.MaxQueryBytes)+" bytes"))
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
			return h.explain(c, req, idx, t0)
		case "scan":
			return h.errs.sru(c, req.Version, "scan", badRequest(4, "scan"))
		}
		m = sruMemo{req: req, sreq: &SearchRequest{
			Key: strings.Join([]string{"sru", string(req.Version), req.SchemaName, req.RecordPacking,
				itoa(req.StartRecord), itoa(req.MaximumRecords), req.Stylesheet, req.Echo.Get("queryType"), req.MediaType, req.AlmaQuery}, "|"),
			Target: h.target,
			Query:  TargetQuery{CQL: req.AlmaQuery, Start: req.StartRecord, Count: req.MaximumRecords},
			Render: func(p *TargetPage) Rendered { return renderSRU(req, p) },
		}}
		if get {
			h.memo.put(idx, raw, m)
		}
	}
	a, v, err := h.pipe.Search(context.Background(), m.sreq)
	if err != nil {
		return h.errs.sru(c, m.req.Version, "searchRetrieve", err)
	}
	if v.Stale {
		// A stale answer says so in extraResponseData (SPEC section 4): the
		// one case where a hit's body is not the stored bytes.
		a.Body = sru.InsertExtra(a.Body, &sru.Extra{Stale: true, AsOf: v.StoredAt, Cache: string(v.Status)})
	}
	return writeAnswer(c, h.pipe.now(), a, v, t0)
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

// renderSRU makes the searchRetrieve answer for a target's page: each
// record written in the asked schema (marcxml: the canonical MARCXML in
// the MARC namespace; dc: Dublin Core made from it).
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
		if req.SchemaName == "dc" {
			data = tr.Record.AppendDC(nil)
		} else {
			data = tr.Record.AppendMARCXML(nil)
		}
		res.Records = append(res.Records, sru.Record{Schema: req.RecordSchema, Packing: req.RecordPacking, Data: data, Identifier: tr.ID, Position: tr.Position, WellFormed: true})
	}
	if req.MaximumRecords > 0 {
		res.NextPosition = req.NextPosition(p.Total, len(p.Records), almaMaxPosition)
	}
	// The echoed request shows the query as the gateway understood and sent
	// it (canonical CQL), so that spelling variants share one cached answer.
	echo := *req
	echo.Query = req.Canonical
	var buf bytes.Buffer
	sru.WriteSearchRetrieve(&buf, &echo, res)
	ctype := ContentSRU
	if req.MediaType != "" {
		ctype = ContentSRUMedia
	}
	return Rendered{Status: http.StatusOK, ContentType: ctype, Body: buf.Bytes(), Tags: tags, Diagnostic: len(p.Diagnostics) > 0}
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

// explain answers explain with the gateway's own description: its host
// and port as the client addressed it, the path /sru. It is made per
// request (the host varies), so its X-Cache is MISS.
func (h *sruHandler) explain(c *fiber.Ctx, req *sru.Request, idx *sru.IndexSet, t0 time.Time) error {
	host, port := explainAddr(c, h.rules.publicURL) // GATEWAY_PUBLIC_URL, else Host (edge_http.go)
	info := sru.ExplainInfo{
		Host: host, Port: port, Database: "sru",
		Title:          "Alma network search gateway",
		Description:    "SRU access to the network's shared catalogue, with each member's availability in MARC 852 fields.",
		Indexes:        idx,
		DefaultRecords: h.rules.limits.DefaultRecords,
		MaxRecords:     h.rules.limits.MaxRecords,
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
