package gateway

import (
	"context"
	"encoding/json"
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

// parseSearch validates a /v1/search request (SPEC 3.2) with the same CQL
// rules as the SRU server.
func (s *Server) parseSearch(p url.Values) (*searchRequest, error) {
	for k, vs := range p {
		switch k {
		case "query", "q", "start", "limit", "format", "_":
		default:
			return nil, badRequest(8, k)
		}
		if len(vs) > 1 {
			return nil, badRequest(6, k+" is given more than once")
		}
	}
	r := &searchRequest{start: 1, limit: s.cfg.Limits.DefaultRecords, format: "json"}
	var err error
	if r.start, err = intParam(p, "start", 1, 1, almaMaxPosition); err != nil {
		if n, perr := strconv.Atoi(p.Get("start")); perr == nil && n > almaMaxPosition {
			return nil, badRequest(61, "start may be at most "+itoa(almaMaxPosition)+" (Alma pages no further)")
		}
		return nil, err
	}
	if r.limit, err = intParam(p, "limit", s.cfg.Limits.DefaultRecords, 0, s.cfg.Limits.MaxRecords); err != nil {
		return nil, err
	}
	switch f := p.Get("format"); f {
	case "", "json":
	case "marcxml":
		r.format = f
	default:
		return nil, badRequest(6, "format must be json or marcxml")
	}
	cql, err := s.cqlFrom(p.Get("query"), p.Get("q"), p.Has("query"), p.Has("q"))
	if err != nil {
		return nil, err
	}
	r.query, err = s.validateCQL(cql)
	return r, err
}

// cqlFrom turns query or q into CQL: q is plain keywords, sent to Alma as
// one quoted alma.all_for_ui term (SPEC 3.2).
func (s *Server) cqlFrom(query, q string, hasQuery, hasQ bool) (string, error) {
	switch {
	case hasQuery && hasQ:
		return "", badRequest(6, "give query (CQL) or q (keywords), not both")
	case hasQ:
		q = strings.Join(strings.Fields(q), " ")
		if q == "" {
			return "", badRequest(7, "q")
		}
		return `alma.all_for_ui="` + cqlEscape(q) + `"`, nil
	case !hasQuery || strings.TrimSpace(query) == "":
		return "", badRequest(7, "query")
	}
	return query, nil
}

// cqlEscape escapes a term for a double-quoted CQL string.
func cqlEscape(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return s // the common case; a Replacer costs a table build per call
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// validateCQL parses, validates and canonicalizes a CQL query through the
// SRU layer, so the JSON feed and the SRU server accept exactly the same
// queries and share cache keys.
func (s *Server) validateCQL(q string) (*sru.Query, error) {
	if len(q) > s.cfg.Limits.MaxQueryBytes {
		return nil, badRequest(6, "the query is longer than "+itoa(s.cfg.Limits.MaxQueryBytes)+" bytes")
	}
	query, d := sru.ParseQuery(q, s.indexes.Load())
	if d != nil {
		return nil, fromDiagnostic(d)
	}
	return query, nil
}

func (s *Server) sruLimits() sru.Limits {
	return sru.Limits{DefaultRecords: s.cfg.Limits.DefaultRecords, MaxRecords: s.cfg.Limits.MaxRecords, MaxPosition: almaMaxPosition}
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

func (s *Server) searchLife() cache.Lifetime {
	return cache.Lifetime{Fresh: s.cfg.Cache.TTL.D(), Stale: s.cfg.Cache.Stale.D()}
}

// requestContext is the time a client waits for an answer: the upstream
// deadline and a little more (see waitContext).
func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	w := newWaitContext(s.cfg.Upstream.Timeout.D() + 2*time.Second)
	return w, w.release
}

// searchMemo is a parsed /v1/search request and its cache key.
type searchMemo struct {
	req *searchRequest
	key string
}

// handleSearch serves GET /v1/search.
func (s *Server) handleSearch() fiber.Handler {
	return func(c *fiber.Ctx) error {
		t0 := time.Now()
		raw, idx := c.Request().URI().QueryString(), s.indexes.Load()
		m, ok := s.searchMemo.get(idx, raw)
		if !ok {
			req, err := s.parseSearch(queryParams(c))
			if err != nil {
				return s.jsonError(c, "/v1/search", err, t0)
			}
			m = searchMemo{req, "v1|" + req.format + "|" + itoa(req.start) + "|" + itoa(req.limit) + "|" + req.query.AlmaQuery}
			s.searchMemo.put(idx, raw, m)
		}
		req, key := m.req, m.key
		ctx, cancel := s.requestContext()
		defer cancel()
		life := s.searchLife()
		res, err := s.loader.Get(ctx, key, life, func(ctx context.Context) (cache.Loaded, error) {
			rs, err := s.fetch(ctx, s.nz, req.query.AlmaQuery, req.start, req.limit)
			if err != nil {
				return cache.Loaded{}, err
			}
			return s.renderSearch(req, rs), nil
		})
		if err != nil {
			return s.jsonError(c, "/v1/search", err, t0)
		}
		return s.writeAnswer(c, viewOf(res, life, s.now()), res.Value, req.format == "json", t0)
	}
}

// renderSearch makes the /v1/search body for a result set. The JSON is left
// open before "meta", which is added per request.
func (s *Server) renderSearch(req *searchRequest, rs *resultSet) cache.Loaded {
	var tags []string
	tags = append(tags, "q:"+req.query.Canonical)
	status := http.StatusOK
	diags := rs.diagnostics
	if len(diags) > 0 && len(rs.records) == 0 && isQueryDiagnostic(diags[0]) {
		status = http.StatusBadRequest
	}
	var body []byte
	if req.format == "marcxml" {
		body = transform.AppendCollectionStart(nil)
		for _, raw := range rs.records {
			rec, err := transform.Parse(raw.Data)
			if err != nil {
				continue
			}
			tags = append(tags, "mms:"+rec.MMSID)
			body = rec.AppendMARCXML(body)
		}
		body = transform.AppendCollectionEnd(body)
	} else {
		body = append(body, `{"query":`...)
		body = appendJSONString(body, req.query.AlmaQuery)
		body = append(body, `,"total":`...)
		body = strconv.AppendInt(body, int64(rs.total), 10)
		body = append(body, `,"start":`...)
		body = strconv.AppendInt(body, int64(req.start), 10)
		body = append(body, `,"limit":`...)
		body = strconv.AppendInt(body, int64(req.limit), 10)
		body = append(body, `,"next":`...)
		if next := nextPosition(req.start, len(rs.records), rs.total); next > 0 && req.limit > 0 {
			body = strconv.AppendInt(body, int64(next), 10)
		} else {
			body = append(body, "null"...)
		}
		body = append(body, `,"records":[`...)
		n := 0
		for _, raw := range rs.records {
			rec, err := transform.Parse(raw.Data)
			if err != nil {
				d := sru.NewDiagnostic(64, "record at position "+itoa(raw.Position)+" could not be read")
				diags = append(diags, *d)
				continue
			}
			tags = append(tags, "mms:"+rec.MMSID)
			if n > 0 {
				body = append(body, ',')
			}
			body = rec.AppendFeedJSON(body, raw.Position)
			n++
		}
		body = append(body, `],"diagnostics":`...)
		dj, _ := json.Marshal(toJSONDiagnostics(diags))
		body = append(body, dj...)
	}
	l := cache.Loaded{Value: packAnswer(status, body), Cache: true, Tags: capTags(tags)}
	if len(rs.diagnostics) > 0 {
		l.Life = &cache.Lifetime{Fresh: s.cfg.Cache.DiagnosticTTL.D()}
	}
	return l
}

// isQueryDiagnostic says whether an Alma diagnostic is about the query
// itself (the diagnostics list's 10-49), which the JSON feed answers 400.
func isQueryDiagnostic(d sru.Diagnostic) bool {
	n := d.Number()
	return n >= 10 && n < 50
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// writeAnswer serves a cached answer: headers, 304, and for JSON the meta
// block.
func (s *Server) writeAnswer(c *fiber.Ctx, v cacheView, value []byte, isJSON bool, t0 time.Time) error {
	a, ok := unpackAnswer(value)
	if !ok {
		return s.jsonError(c, c.Path(), errCorruptEntry, t0)
	}
	if s.setCacheHeaders(c, v, a.etag) && a.status == http.StatusOK {
		return c.SendStatus(http.StatusNotModified)
	}
	c.Status(a.status)
	if !isJSON {
		c.Set(fiber.HeaderContentType, "application/xml; charset=utf-8")
		return c.Send(a.body)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	// The body goes into the response's pooled buffer: a fresh slice per
	// hit (make + copy of the whole answer) was 40% of a cached hit's time.
	resp := c.Response()
	resp.ResetBody()
	resp.AppendBody(a.body)
	var meta [160]byte
	resp.AppendBody(jsonMeta(meta[:0], v, time.Since(t0)))
	return nil
}

// jsonError answers a /v1 error as JSON with diagnostics (SPEC 3.2).
func (s *Server) jsonError(c *fiber.Ctx, route string, err error, t0 time.Time) error {
	a := errorAnswer(s.log, route, err)
	if a.retryAfter > 0 {
		c.Set("Retry-After", strconv.Itoa(max(1, int(a.retryAfter.Round(time.Second).Seconds()))))
	}
	c.Set("Cache-Control", "no-store")
	c.Set("X-Cache", "MISS")
	body, _ := json.Marshal(toJSONDiagnostics([]sru.Diagnostic{a.diag}))
	out := append([]byte(`{"diagnostics":`), body...)
	v := cacheView{status: "MISS", storedAt: s.now()}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Status(a.status).Send(jsonMeta(out, v, time.Since(t0)))
}

// maxEntryTags is how many tags the cache keeps on one entry. A list longer
// than that is tagged with its query and its first records only: purging
// one of its later records by MMS ID leaves the list to expire with its
// lifetime (the record's own entries are purged).
const maxEntryTags = 64

func capTags(tags []string) []string {
	return tags[:min(len(tags), maxEntryTags)]
}
