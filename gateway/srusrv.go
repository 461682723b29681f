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
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// extraNamespace is the namespace of the gateway's own elements in SRU
// extraResponseData (the stale marker, SPEC section 4).
const extraNamespace = sru.NSGateway

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

// sruMemo is a parsed SRU searchRetrieve request and its cache key.
type sruMemo struct {
	req *sru.Request
	key string
}

// handleSRU serves GET and POST /sru (SPEC 3.1). Every answer is SRU XML
// with HTTP 200, diagnostics included, as SRU clients expect.
func (s *Server) handleSRU() fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw, idx := c.Request().URI().QueryString(), s.indexes.Load()
		get := c.Method() == http.MethodGet
		var m sruMemo
		ok := false
		if get {
			m, ok = s.sruMemo.get(idx, raw)
		}
		if !ok {
			p := sruParams(c)
			if q := p.Get("query"); len(q) > s.cfg.Limits.MaxQueryBytes {
				return s.sruDiagnostic(c, versionOf(p), "searchRetrieve", *sru.NewDiagnostic(6, "query is longer than "+itoa(s.cfg.Limits.MaxQueryBytes)+" bytes"))
			}
			req, d := sru.ParseRequest(p, idx, s.sruLimits())
			if d != nil {
				v, op := versionOf(p), "searchRetrieve"
				if req != nil {
					v, op = req.Version, req.Operation
				}
				return s.sruDiagnostic(c, v, op, *d)
			}
			switch req.Operation {
			case "explain":
				return s.sruExplain(c, req)
			case "scan":
				return s.sruDiagnostic(c, req.Version, "scan", *sru.NewDiagnostic(4, "scan"))
			}
			m = sruMemo{req, strings.Join([]string{"sru", string(req.Version), req.SchemaName, req.RecordPacking,
				itoa(req.StartRecord), itoa(req.MaximumRecords), req.Stylesheet, req.AlmaQuery}, "|")}
			if get {
				s.sruMemo.put(idx, raw, m)
			}
		}
		req, key := m.req, m.key
		ctx, cancel := s.requestContext()
		defer cancel()
		life := s.searchLife()
		res, err := s.loader.Get(ctx, key, life, func(ctx context.Context) (cache.Loaded, error) {
			rs, err := s.fetch(ctx, s.nz, req.AlmaQuery, req.StartRecord, req.MaximumRecords)
			if err != nil {
				return cache.Loaded{}, err
			}
			return s.renderSRU(req, rs), nil
		})
		if err != nil {
			a := errorAnswer(s.log, "/sru", err)
			return s.sruDiagnostic(c, req.Version, "searchRetrieve", a.diag)
		}
		v := viewOf(res, life, s.now())
		a, ok := unpackAnswer(res.Value)
		if !ok {
			return s.sruDiagnostic(c, req.Version, "searchRetrieve", errorAnswer(s.log, "/sru", errCorruptEntry).diag)
		}
		if s.setCacheHeaders(c, v, a.etag) {
			return c.SendStatus(http.StatusNotModified)
		}
		body := a.body
		if v.stale {
			body = insertExtra(body, v.storedAt)
		}
		c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
		return c.Status(http.StatusOK).Send(body)
	}
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

// renderSRU makes the searchRetrieve body for a result set: each record
// parsed once and written in the asked schema (marcxml: the canonical
// MARCXML in the MARC namespace; dc: Dublin Core made from it).
func (s *Server) renderSRU(req *sru.Request, rs *resultSet) cache.Loaded {
	tags := []string{"q:" + req.Canonical}
	res := &sru.Result{Total: rs.total, Diagnostics: rs.diagnostics}
	if len(rs.diagnostics) == 0 && len(rs.records) == 0 && req.MaximumRecords > 0 {
		if d := req.CheckPosition(rs.total); d != nil {
			res.Diagnostics = append(res.Diagnostics, *d) // startRecord past the end (61)
		}
	}
	for _, raw := range rs.records {
		rec, err := transform.Parse(raw.Data)
		if err != nil {
			res.Records = append(res.Records, surrogate(req.Version, raw.Position, "record could not be read"))
			continue
		}
		tags = append(tags, "mms:"+rec.MMSID)
		var data []byte
		if req.SchemaName == "dc" {
			data = rec.AppendDC(nil)
		} else {
			data = rec.AppendMARCXML(nil)
		}
		id := raw.Identifier
		if id == "" {
			id = rec.MMSID
		}
		res.Records = append(res.Records, sru.Record{Schema: req.RecordSchema, Packing: req.RecordPacking, Data: data, Identifier: id, Position: raw.Position, WellFormed: true})
	}
	if req.MaximumRecords > 0 {
		res.NextPosition = nextPosition(req.StartRecord, len(rs.records), rs.total)
	}
	// The echoed request shows the query as the gateway understood and sent
	// it (canonical CQL), so that spelling variants share one cached answer.
	echo := *req
	echo.Query = req.Canonical
	var buf bytes.Buffer
	sru.WriteSearchRetrieve(&buf, &echo, res)
	l := cache.Loaded{Value: packAnswer(http.StatusOK, buf.Bytes()), Cache: true, Tags: capTags(tags)}
	if len(rs.diagnostics) > 0 {
		l.Life = &cache.Lifetime{Fresh: s.cfg.Cache.DiagnosticTTL.D()}
	}
	return l
}

// surrogate is a surrogate diagnostic standing in for a record that could
// not be read (SRU 1.2 section "Surrogate Diagnostics"; diagnostic 64).
func surrogate(v sru.Version, pos int, details string) sru.Record {
	ns := "http://www.loc.gov/zing/srw/diagnostic/"
	schema := "info:srw/schema/1/diagnostics-v1.1"
	if v == "2.0" {
		ns = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
		schema = "info:srw/schema/1/diagnostics-v1.1"
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

// insertExtra marks a stale answer (SPEC section 4): it adds
// extraResponseData, the last element of a searchRetrieveResponse in SRU
// 1.1, 1.2 and (as the gateway writes it) 2.0, just before the closing tag.
func insertExtra(body []byte, asOf time.Time) []byte {
	end := bytes.LastIndex(body, []byte("</"))
	if end < 0 {
		return body
	}
	name := string(bytes.TrimRight(body[end+2:], "> \r\n\t"))
	prefix := ""
	if i := strings.IndexByte(name, ':'); i >= 0 {
		prefix = name[:i+1]
	}
	var b bytes.Buffer
	b.Grow(len(body) + 256)
	b.Write(body[:end])
	b.WriteString("<" + prefix + `extraResponseData><gw:stale xmlns:gw="` + extraNamespace + `">true</gw:stale><gw:asOf xmlns:gw="` + extraNamespace + `">`)
	b.WriteString(asOf.UTC().Format(time.RFC3339))
	b.WriteString("</gw:asOf></" + prefix + "extraResponseData>")
	b.Write(body[end:])
	return b.Bytes()
}

// sruDiagnostic answers with a diagnostics-only response in version v.
func (s *Server) sruDiagnostic(c *fiber.Ctx, v sru.Version, op string, d sru.Diagnostic) error {
	var buf bytes.Buffer
	sru.WriteDiagnostics(&buf, v, op, []sru.Diagnostic{d})
	c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
	c.Set("Cache-Control", "no-store")
	c.Set("X-Cache", "MISS")
	return c.Status(http.StatusOK).Send(buf.Bytes())
}

// sruExplain answers explain with the gateway's own description: its host
// and port as the client addressed it, the path /sru.
func (s *Server) sruExplain(c *fiber.Ctx, req *sru.Request) error {
	host, port := s.explainAddr(c) // GATEWAY_PUBLIC_URL, else Host (edge_http.go)
	info := sru.ExplainInfo{
		Host: host, Port: port, Database: "sru",
		Title:          "Alma network search gateway",
		Description:    "SRU access to the network's shared catalogue, with each member's availability in MARC 852 fields.",
		Indexes:        s.indexes.Load(),
		DefaultRecords: s.cfg.Limits.DefaultRecords,
		MaxRecords:     s.cfg.Limits.MaxRecords,
	}
	var buf bytes.Buffer
	sru.WriteExplain(&buf, req.Version, info, req)
	c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
	s.explainCacheHeaders(c) // X-Cache MISS; Vary: Host unless public (edge_http.go)
	return c.Status(http.StatusOK).Send(buf.Bytes())
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
	if host == "" || !saneHost(host) {
		host = "localhost"
	}
	return host, port
}

func saneHost(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}
