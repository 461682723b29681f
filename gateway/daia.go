package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/errgroup"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/daia"
	"github.com/almanet/gateway/internal/stdnum"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// maxDAIAIDs bounds the request identifiers of one DAIA request, and
// maxDAIAPerISBN the records one ISBN may match; each identifier costs up
// to two Alma calls on a cold cache.
const (
	maxDAIAIDs     = 20
	maxDAIAPerISBN = 10
	daiaParallel   = 4
)

// handleDAIA serves GET /v1/daia?id=…&format=json (SPEC 13): DAIA 1.0 JSON
// for MMS IDs and ISBNs, from the network record's member 852s and its live
// AVA/AVE/AVD.
//
// Unknown identifiers have no document (DAIA never answers 404 for them).
// When Alma is down, cached parts are served stale; an identifier with no
// cached record makes the whole answer 503, since leaving its document out
// would tell the client the network does not hold it. A record whose live
// availability cannot be had gets one item per holding member without
// services: DAIA's "availability unknown".
func (s *Server) handleDAIA() fiber.Handler {
	return func(c *fiber.Ctx) error {
		t0 := requestStart(c)
		p := queryParams(c)
		for _, k := range []string{"id", "format", "institution"} {
			if len(p[k]) > 1 {
				return s.daiaError(c, badRequest(6, k+" is given more than once"), t0)
			}
		}
		// DAIA asks for format=json; a missing format is read as json too,
		// so the URL is easy to try by hand. Other DAIA parameters (patron,
		// callback for JSONP) are not supported and are ignored.
		if f := p.Get("format"); f != "" && f != "json" {
			return s.daiaError(c, badRequest(6, "format must be json (DAIA 1.0 JSON is the only format served)"), t0)
		}
		if !p.Has("id") {
			return s.daiaError(c, badRequest(7, "id"), t0)
		}
		ids, err := daia.ParseIDs(p.Get("id"), maxDAIAIDs)
		if err != nil {
			return s.daiaError(c, badRequest(6, "id: "+err.Error()+" (give up to "+itoa(maxDAIAIDs)+" MMS IDs or ISBNs separated by |)"), t0)
		}
		// One identifier that cannot be read does not fail the others: it
		// gets a document of its own that says why (daiaDocuments). A
		// request with nothing readable in it is the client's mistake.
		if i := slices.IndexFunc(ids, func(id daia.RequestID) bool { return id.Err == nil }); i < 0 {
			return s.daiaError(c, badRequest(6, "id: "+ids[0].Err.Error()+" (give up to "+itoa(maxDAIAIDs)+" MMS IDs or ISBNs separated by |)"), t0)
		}
		opt := daia.Options{Name: s.memberName}
		if code := p.Get("institution"); code != "" {
			m, ok := s.cfg.Member(code)
			if !ok {
				return s.daiaError(c, badRequest(6, "institution "+strconv.Quote(code)+" is not a configured member of this network"), t0)
			}
			opt.Asking = m.Code
		}
		base, fromHost := s.publicBase(c) // document and item IDs are URLs on it
		// A client waits for the upstream deadline and a little more, as
		// for every route; the loads go on and fill the cache after that.
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Upstream.Timeout.D()+2*time.Second)
		defer cancel()

		docs := make([][]daia.Document, len(ids))
		views := make([]CacheView, len(ids))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(daiaParallel)
		for i, id := range ids {
			g.Go(func() error {
				d, v, err := s.daiaDocuments(gctx, base, id, opt)
				docs[i], views[i] = d, v
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return s.daiaError(c, err, t0)
		}
		out := daia.Response{
			Institution: &daia.Entity{Content: "Alma network search gateway", Href: base + "/"},
			Timestamp:   s.now().UTC().Format(time.RFC3339),
			Document:    []daia.Document{},
		}
		view := CacheView{Status: cache.StatusHit, StoredAt: s.now(), Life: s.recs.availLife}
		seen := map[string]bool{}
		for i := range ids {
			view = view.worse(views[i])
			for _, d := range docs[i] {
				// DAIA's first integrity rule: document IDs are unique. A
				// record found twice under one document id (an ISBN's
				// records, a bare MMS ID and its URL) is listed once.
				if !seen[d.ID] {
					seen[d.ID] = true
					out.Document = append(out.Document, d)
				}
			}
		}
		body, err := json.Marshal(out)
		if err != nil {
			return s.daiaError(c, err, t0)
		}
		a, _ := unpackAnswer(packAnswer(Rendered{Status: http.StatusOK, ContentType: ContentJSON, Body: body}))
		setDAIAHeaders(c)
		if fromHost {
			c.Vary("Host")
		}
		if s.daiaCacheHeaders(c, view, a.ETag) {
			return c.SendStatus(http.StatusNotModified)
		}
		return c.Status(http.StatusOK).Send(body)
	}
}

// daiaCacheHeaders writes X-Cache, Age, Cache-Control and ETag as every
// /v1 answer has them (writeAnswer's, which would add the feed's meta
// block that DAIA's schema forbids), and reports whether If-None-Match
// names the answer.
func (s *Server) daiaCacheHeaders(c *fiber.Ctx, v CacheView, etag []byte) (notModified bool) {
	c.Set("X-Cache", string(v.Status))
	age := max(0, int(s.now().Sub(v.StoredAt)/time.Second))
	if v.Status == cache.StatusHit || v.Status == cache.StatusStale {
		c.Set("Age", strconv.Itoa(age))
	}
	if v.Stale {
		c.Set("Cache-Control", "public, max-age=0, must-revalidate")
	} else {
		c.Set("Cache-Control", "public, max-age="+strconv.Itoa(max(0, int(v.Life.Fresh/time.Second)-age))+", stale-while-revalidate="+strconv.Itoa(int(v.Life.Stale/time.Second)))
	}
	c.Set("ETag", string(etag))
	return etagMatches(c.Request().Header.Peek("If-None-Match"), etag)
}

func setDAIAHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set("X-DAIA-Version", daia.Version)
	c.Set("Content-Language", "en")
	c.Set("Access-Control-Allow-Origin", "*")
}

// daiaDocuments finds the records a request identifier names and maps each
// to a DAIA document.
//
// A document's id is the identifier as the client sent it when that is a
// URI ("ppn:99…", "urn:isbn:…", a document URL sent back): a client such
// as VuFind's DAIA driver finds its document by the id it asked for
// (daiaIdPrefix + record id), so a URL of the gateway's would match
// nothing. A bare number is no URI; its document is named by the record's
// URL on the gateway. An ISBN cataloguing several records gives the first
// the requested id and the others their URLs. An identifier that cannot be
// read gets a document without items whose `about` says why, and the rest
// of the request is answered. A member's own MMS ID is answered with the
// network record it is linked to.
func (s *Server) daiaDocuments(ctx context.Context, base string, id daia.RequestID, opt daia.Options) ([]daia.Document, CacheView, error) {
	asked, isURI := id.URI()
	if id.Err != nil {
		docID := asked
		if !isURI {
			docID = base + "/v1/daia?id=" + url.QueryEscape(strings.TrimSpace(id.Requested))
		}
		return []daia.Document{{ID: docID, Requested: id.Requested, About: "not answered: " + id.Err.Error() + " (an identifier is an MMS ID or an ISBN)", Item: []daia.Item{}}},
			CacheView{Status: cache.StatusHit, StoredAt: s.now(), Life: s.recs.availLife}, nil
	}
	var recs []*transform.Record
	var view CacheView
	switch id.Kind {
	case daia.MMSID:
		rec, v, err := s.recs.nzRecord(ctx, id.Value)
		var ce *clientError
		if errors.As(err, &ce) && ce.status == http.StatusNotFound {
			// Not a network record: perhaps a member's own MMS ID.
			rec, v, err = s.memberRecord(ctx, id.Value, opt.Asking)
			if err != nil {
				return nil, CacheView{}, err
			}
			if rec == nil {
				return nil, CacheView{Status: cache.StatusMiss, StoredAt: s.now(), Life: s.recs.availLife}, nil
			}
		} else if err != nil {
			return nil, CacheView{}, err
		}
		recs, view = []*transform.Record{rec}, v
	case daia.ISBN:
		var err error
		recs, view, err = s.isbnRecords(ctx, id.Value)
		if err != nil {
			return nil, CacheView{}, err
		}
	}
	docs := make([]daia.Document, 0, len(recs))
	for i, rec := range recs {
		s.recs.owners.Learn(rec)
		recURL := base + "/v1/records/" + rec.MMSID
		docID := recURL
		if i == 0 && isURI {
			docID = asked
		}
		var avail []transform.Availability
		if live, aview, err := s.recs.liveAvailability(ctx, "nz", s.cfg.APIKey, rec.MMSID); err == nil {
			avail = live.Availability
			if avail == nil {
				avail = []transform.Availability{}
			}
			view = view.worse(aview)
		} else {
			s.log.Debug("daia: live availability unavailable", "mms_id", rec.MMSID, "error", err)
			// Not cached: a client should ask again soon.
			view = view.worse(CacheView{Status: cache.StatusMiss, StoredAt: s.now(), Life: cache.Lifetime{Fresh: s.cfg.Cache.DiagnosticTTL.D()}})
		}
		docs = append(docs, daia.Document{
			ID:        docID,
			Requested: id.Requested,
			Href:      base + "/#record/" + rec.MMSID,
			About:     rec.Title,
			Item:      daia.Items(recURL, rec, avail, opt),
		})
	}
	return docs, view, nil
}

// isbnRecords finds the NZ records cataloguing an ISBN (in its 13- or
// 10-digit form), cached like a search.
func (s *Server) isbnRecords(ctx context.Context, isbn string) ([]*transform.Record, CacheView, error) {
	forms := stdnum.ISBNForms(isbn)
	terms := make([]string, len(forms))
	for i, f := range forms {
		terms[i] = "alma.isbn=" + f
	}
	query := strings.Join(terms, " or ")
	life := cache.Lifetime{Fresh: s.cfg.Cache.TTL.D(), Stale: s.cfg.Cache.Stale.D()}
	res, err := s.loader.Get(ctx, "daia-isbn|"+forms[0], life, func(ctx context.Context) (cache.Loaded, error) {
		page, err := s.reg.NZ().Target.Search(ctx, TargetQuery{CQL: query, Start: 1, Count: maxDAIAPerISBN})
		if err != nil {
			return cache.Loaded{}, err
		}
		var recs [][]byte
		tags := []string{"q:" + query}
		for _, tr := range page.Records {
			if tr.Record == nil {
				continue
			}
			recs = append(recs, tr.Record.AppendMARCXML(nil))
			tags = append(tags, "mms:"+tr.Record.MMSID)
		}
		v, _ := json.Marshal(recs)
		l := cache.Loaded{Value: v, Cache: true, Tags: capTags(tags)}
		if len(page.Diagnostics) > 0 {
			l.Life = &cache.Lifetime{Fresh: s.cfg.Cache.DiagnosticTTL.D()}
		}
		return l, nil
	})
	if err != nil {
		return nil, CacheView{}, err
	}
	var raws [][]byte
	if err := json.Unmarshal(res.Value, &raws); err != nil {
		return nil, CacheView{}, errCorruptEntry
	}
	out := make([]*transform.Record, 0, len(raws))
	for _, r := range raws {
		rec, err := transform.Parse(r)
		if err != nil {
			return nil, CacheView{}, errCorruptEntry
		}
		out = append(out, rec)
	}
	return out, viewOf(res, life, s.now()), nil
}

// memberName is a configured member's display name ("" when unknown).
func (s *Server) memberName(code string) string {
	if m, ok := s.cfg.Member(code); ok {
		return m.Name
	}
	return ""
}

// daiaErrorCodes are DAIA's error names by HTTP status ("Error responses").
var daiaErrorCodes = map[int]string{
	http.StatusBadRequest:          "invalid_request",
	http.StatusUnprocessableEntity: "invalid_request",
	http.StatusInternalServerError: "internal_error",
	http.StatusBadGateway:          "bad_gateway",
	http.StatusServiceUnavailable:  "service_unavailable",
	http.StatusGatewayTimeout:      "gateway_timeout",
}

// daiaError answers like every /v1 error (status, diagnostics, meta,
// Retry-After) and adds DAIA's error fields: error, code,
// error_description.
func (s *Server) daiaError(c *fiber.Ctx, err error, t0 time.Time) error {
	a := errorAnswer(s.log, "/v1/daia", err)
	code := daiaErrorCodes[a.status]
	if code == "" {
		code = "internal_error"
	}
	desc := a.diag.Message
	if a.diag.Details != "" {
		desc += ": " + a.diag.Details
	}
	fields := append([]byte(`"error":`), transform.AppendJSONString(nil, code)...)
	fields = append(append(fields, `,"code":`...), strconv.Itoa(a.status)...)
	fields = append(append(fields, `,"error_description":`...), transform.AppendJSONString(nil, desc)...)
	body := errorBody(append(fields, ','), []sru.Diagnostic{a.diag}, nil, s.now(), time.Since(t0))
	s.errs.headers(c, a, body) // Retry-After, no-store, X-Cache MISS, ETag
	setDAIAHeaders(c)
	return c.Status(a.status).Send(body)
}
