package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
)

var errCorruptEntry = errors.New("a cached entry could not be read")

// validMMSID is alma.ValidMMSID, the one rule for what can be an MMS ID:
// anything else never reaches Alma (SPEC section 6). The name stays for
// writes.go until it moves.
var validMMSID = alma.ValidMMSID

// records is where the record routes get their parts: the NZ record
// through the network's SRU Target, live availability through the Bibs
// API with a key, each cached under its own key and lifetime (SPEC 3.3)
// as canonical MARCXML. The routes cache their finished answers on top.
type records struct {
	loader     *cache.Loader
	nz         Target
	api        bibSource                  // nil without ALMA_API_URL
	apiGuard   map[string]*upstream.Guard // by "nz" or member code
	remaining  func(who string, n int)
	recordLife cache.Lifetime
	// unknownLife is how long a record Alma does not have is remembered
	// (cache.diagnostic_ttl).
	unknownLife cache.Lifetime
	availLife   cache.Lifetime
	now         func() time.Time
	names       func(code string) string // member display names for holdings
	owners      IZOwners                 // which member an IZ MMS ID belongs to (izowners.go)
}

// nzRecord returns the NZ record with that MMS ID, found through the NZ
// SRU endpoint so that it carries the member 852s.
func (rs *records) nzRecord(ctx context.Context, mmsID string) (*transform.Record, CacheView, error) {
	rec, v, err := rs.cachedRecord(ctx, "rec|"+mmsID, rs.recordLife, func(ctx context.Context) (cache.Loaded, error) {
		p, err := rs.nz.Search(ctx, TargetQuery{CQL: "alma.mms_id=" + mmsID, Start: 1, Count: 1})
		if err != nil {
			return cache.Loaded{}, err
		}
		for _, tr := range p.Records {
			if tr.Record != nil && tr.Record.MMSID == mmsID {
				return cache.Loaded{Value: tr.Record.AppendMARCXML(nil), Cache: true, Tags: []string{"mms:" + mmsID}}, nil
			}
		}
		// Unknown: remembered for the diagnostic lifetime (a webhook
		// naming the ID purges it), so asking again costs no Alma call.
		return cache.Loaded{Value: unknownRecord, Cache: true, Life: &rs.unknownLife, Tags: []string{"mms:" + mmsID}}, nil
	})
	if errors.Is(err, errUnknownRecord) {
		err = notFound("the network has no record with MMS ID " + mmsID)
	}
	return rec, v, err
}

// saneRecordID says whether s can be a target's own record identifier in
// /v1/records/{target}:{id}: printable ASCII without quotes, backslashes
// or spaces, of a sane length. Anything else never reaches a target.
func saneRecordID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b > '~' || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// targetRecord returns record id of target t (the {target}:{id} the feed
// gives a record without an NZ MMS ID), found by searching t for
// alma.mms_id="id" (through its index_map: a target whose map has no
// alma.mms_id cannot be asked, and says so).
func (rs *records) targetRecord(ctx context.Context, t *RegTarget, id string) (*transform.Record, CacheView, error) {
	return rs.cachedRecord(ctx, "rec|"+t.Name+":"+id, rs.recordLife, func(ctx context.Context) (cache.Loaded, error) {
		// id is saneRecordID's: no quote or backslash to escape.
		q := TargetQuery{CQL: `alma.mms_id="` + id + `"`, Start: 1, Count: 5}
		if t.Kind != KindAlma {
			q.Schema = t.Schema
		}
		if pq, d := sru.ParseQuery(q.CQL, nil); d == nil {
			if d := t.Refuses(pq); d != nil {
				return cache.Loaded{}, notFound("target " + t.Name + " cannot look a record up by its identifier (its index_map has no alma.mms_id): " + d.Message)
			}
		}
		p, err := t.Target.Search(ctx, q)
		if err != nil {
			return cache.Loaded{}, err
		}
		if len(p.Diagnostics) > 0 {
			return cache.Loaded{}, notFound("target " + t.Name + " answered the look-up with: " + p.Diagnostics[0].Message + " " + p.Diagnostics[0].Details)
		}
		for _, tr := range p.Records {
			if tr.Record != nil && (tr.ID == id || tr.Record.MMSID == id) {
				return cache.Loaded{Value: tr.Record.AppendMARCXML(nil), Cache: true, Tags: []string{"mms:" + id}}, nil
			}
		}
		return cache.Loaded{}, notFound("target " + t.Name + " has no record " + id)
	})
}

// unknownRecord is the cached value of a record Alma does not have (no
// MARCXML is one byte long); errUnknownRecord is cachedRecord finding it.
var (
	unknownRecord    = []byte("-")
	errUnknownRecord = errors.New("unknown record")
)

// liveAvailability returns the AVA/AVE/AVD entries of a record from the
// Bibs API, called with the given key (the NZ key for NZ records, a
// member's key for its IZ records), cached for the short availability
// lifetime. who names the key's owner ("nz" or a member code).
func (rs *records) liveAvailability(ctx context.Context, who, apiKey, mmsID string) (*transform.Record, CacheView, error) {
	g := rs.apiGuard[who]
	if rs.api == nil || g == nil || apiKey == "" {
		return nil, CacheView{}, errNoAPI
	}
	return rs.cachedRecord(ctx, "avail|"+who+"|"+mmsID, rs.availLife, func(ctx context.Context) (cache.Loaded, error) {
		var bib *alma.Bib
		err := g.Do(ctx, func(ctx context.Context) error {
			var err error
			bib, err = rs.api.GetBib(ctx, mmsID, apiKey)
			return err
		})
		if err != nil {
			return cache.Loaded{}, err
		}
		if bib.Remaining >= 0 {
			rs.remaining(who, bib.Remaining)
		}
		rec, err := transform.Parse(bib.Record)
		if err != nil {
			return cache.Loaded{}, &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "api:" + who, Detail: "Alma sent a record the gateway cannot read", Cause: err}
		}
		return cache.Loaded{Value: rec.AppendMARCXML(nil), Cache: true, Tags: []string{"mms:" + mmsID}}, nil
	})
}

// cachedRecord reads one record through the cache; load returns its
// canonical MARCXML. It runs only when a finished answer is made.
func (rs *records) cachedRecord(ctx context.Context, key string, life cache.Lifetime, load cache.LoadFunc) (*transform.Record, CacheView, error) {
	res, err := rs.loader.Get(ctx, key, life, load)
	if err != nil {
		return nil, CacheView{}, err
	}
	if bytes.Equal(res.Value, unknownRecord) {
		return nil, CacheView{}, errUnknownRecord
	}
	rec, err := transform.Parse(res.Value)
	if err != nil {
		return nil, CacheView{}, errCorruptEntry
	}
	if rs.names != nil {
		rec.NameHoldings(rs.names)
	}
	return rec, viewOf(res, life, rs.now()), nil
}

// bibSource is the Bibs API as the record routes use it; *alma.Client is
// one, a test's bibFunc another.
type bibSource interface {
	GetBib(ctx context.Context, mmsID, apiKey string) (*alma.Bib, error)
}

// bibFunc adapts a function to bibSource, for inline fakes in tests.
type bibFunc func(ctx context.Context, mmsID, apiKey string) (*alma.Bib, error)

// GetBib calls f.
func (f bibFunc) GetBib(ctx context.Context, mmsID, apiKey string) (*alma.Bib, error) {
	return f(ctx, mmsID, apiKey)
}

// errNoAPI is upstream.ErrNoAPI; the name stays for writes.go until it moves.
var errNoAPI = upstream.ErrNoAPI

// recordMemo is a parsed record request.
type recordMemo struct {
	key    string
	id     string     // the MMS ID, or the target's own identifier
	target *RegTarget // nil: an NZ record
	format string
	life   cache.Lifetime
	// load makes the finished answer on a miss; built once per memo
	// entry, so that a hit makes no closure.
	load func(ctx context.Context) (Rendered, error)
}

// recordHandler serves GET /v1/records/{mms_id} (SPEC 3.3): the record as
// in the feed plus its live availability with the NZ key, cached finished
// for the availability lifetime (the shorter of the two).
type recordHandler struct {
	pipe    *Searcher
	recs    *records
	reg     *Registry
	members func(code string) (Member, bool)
	nzKey   string
	log     *slog.Logger
	errs    errorWriter
	memo    *ParseMemo[recordMemo] // by request URI
}

func newRecordHandler(pipe *Searcher, recs *records, reg *Registry, members func(string) (Member, bool), nzKey string, errs errorWriter) fiber.Handler {
	h := &recordHandler{pipe: pipe, recs: recs, reg: reg, members: members, nzKey: nzKey, log: errs.log, errs: errs, memo: search.NewParseMemo[recordMemo](4096)}
	return h.serve
}

func (h *recordHandler) serve(c *fiber.Ctx) error {
	t0 := requestStart(c)
	uri := c.Request().RequestURI()
	m, ok := h.memo.Get(nil, uri)
	if !ok {
		id, target, err := h.recordID(c.Params("mms_id"))
		if err != nil {
			return h.errs.json(c, "/v1/records", err, t0)
		}
		p := queryParams(c)
		if err := checkParams(p, "format"); err != nil {
			return h.errs.json(c, "/v1/records", err, t0)
		}
		format, err := formatParam(p)
		if err != nil {
			return h.errs.json(c, "/v1/records", err, t0)
		}
		id = strings.Clone(id)
		m = recordMemo{key: "v1rec|" + format + "|" + id, id: id, target: target, format: format, life: h.recs.availLife}
		if target != nil {
			m.key = "v1rec|" + format + "|" + target.Name + ":" + id
		}
		if format == "marcxml" {
			m.life = h.recs.recordLife
		}
		mm := m
		m.load = func(ctx context.Context) (Rendered, error) { return h.render(ctx, mm) }
		h.memo.Put(nil, uri, m)
	}
	a, v, err := h.pipe.Load(context.Background(), m.key, m.life, m.load)
	if err != nil {
		return h.errs.json(c, "/v1/records", err, t0)
	}
	return writeAnswer(c, v.At, a, v, t0)
}

// recordID reads the route's {mms_id}: an NZ MMS ID, or {target}:{id}
// (SPEC 14: the feed's mms_id of a record without one); nz:{id} is the
// MMS ID.
func (h *recordHandler) recordID(raw string) (string, *RegTarget, error) {
	if strings.Contains(raw, "%") {
		if u, err := url.PathUnescape(raw); err == nil {
			raw = u
		}
	}
	name, id, ok := strings.Cut(raw, ":")
	if !ok {
		if !validMMSID(raw) {
			return "", nil, badRequest(6, "an MMS ID is 2 to 24 digits, or {target}:{id} as the feed gives it")
		}
		return strings.Clone(raw), nil, nil
	}
	t, found := h.reg.Get(name)
	if !found {
		return "", nil, notFound("no target is named " + strconv.Quote(name) + " (targets: " + strings.Join(h.reg.Names(), ", ") + ")")
	}
	if t.NZ {
		if !validMMSID(id) {
			return "", nil, badRequest(6, "an MMS ID is 2 to 24 digits")
		}
		return strings.Clone(id), nil, nil
	}
	if !saneRecordID(id) {
		return "", nil, badRequest(6, "a record identifier is 1 to 128 printable characters without spaces, quotes or backslashes")
	}
	return strings.Clone(id), t, nil
}

func (h *recordHandler) render(ctx context.Context, m recordMemo) (Rendered, error) {
	if m.target != nil {
		return h.renderTarget(ctx, m)
	}
	rec, _, err := h.recs.nzRecord(ctx, m.id)
	if err != nil {
		return Rendered{}, err
	}
	tags := []string{"mms:" + m.id}
	if m.format == "marcxml" {
		body := transform.AppendCollectionEnd(rec.AppendMARCXML(transform.AppendCollectionStart(nil)))
		return Rendered{ContentType: ContentXML, Body: body, Tags: tags}, nil
	}
	r := Rendered{ContentType: ContentJSON, Tags: tags}
	var diags []sru.Diagnostic
	avail := []transform.Availability{}
	live, _, err := h.recs.liveAvailability(ctx, "nz", h.nzKey, m.id)
	switch {
	case err == nil:
		avail = live.Availability
	case errors.Is(err, errNoAPI):
		diags = append(diags, partDiagnostic(h.log, "/v1/records", "Live availability could not be fetched", err))
	default:
		diags = append(diags, partDiagnostic(h.log, "/v1/records", "Live availability could not be fetched", err))
		r.Uncached = true // try again on the next request
	}
	body := rec.AppendFeedJSON(nil, 1)
	body = body[:len(body)-1] // reopen the object
	body = append(body, `,"availability":`...)
	aj, _ := json.Marshal(avail)
	body = append(body, aj...)
	body = append(body, `,"diagnostics":`...)
	r.Body = appendJSONDiagnostics(body, diags)
	return r, nil
}

// renderTarget answers a target's record ({target}:{id}): the record as
// the feed gives it, under that identifier; its availability is a
// member's live one with the member's key where there is one, else what
// the record itself carries (an IZ record's AVA/AVE/AVD).
func (h *recordHandler) renderTarget(ctx context.Context, m recordMemo) (Rendered, error) {
	t := m.target
	rec, _, err := h.recs.targetRecord(ctx, t, m.id)
	if err != nil {
		return Rendered{}, err
	}
	tags := []string{"mms:" + m.id}
	if m.format == "marcxml" {
		body := transform.AppendCollectionEnd(rec.AppendMARCXML(transform.AppendCollectionStart(nil)))
		return Rendered{ContentType: ContentXML, Body: body, Tags: tags}, nil
	}
	r := Rendered{ContentType: ContentJSON, Tags: tags}
	var diags []sru.Diagnostic
	avail := rec.Availability
	if mem, ok := h.members(t.Member); ok && t.Member != "" && mem.APIKey != "" && validMMSID(m.id) {
		live, _, err := h.recs.liveAvailability(ctx, mem.Code, mem.APIKey, m.id)
		switch {
		case err == nil:
			avail = live.Availability
		case errors.Is(err, errNoAPI):
		default:
			diags = append(diags, partDiagnostic(h.log, "/v1/records", "Live availability could not be fetched", err))
			r.Uncached = true
		}
	}
	if avail == nil {
		avail = []transform.Availability{}
	}
	body := rec.AppendFeedJSONAs(nil, 1, t.Name+":"+m.id, rec.Holdings)
	body = body[:len(body)-1]
	body = append(body, `,"availability":`...)
	aj, _ := json.Marshal(avail)
	body = append(body, aj...)
	body = append(body, `,"diagnostics":`...)
	r.Body = appendJSONDiagnostics(body, diags)
	return r, nil
}

// networkHolder is one other member that holds the title (SPEC 3.4).
type networkHolder struct {
	Institution string                   `json:"institution"`
	IZMMSID     *string                  `json:"iz_mms_id"`
	Types       []string                 `json:"types"`
	Total       *int                     `json:"total"`
	Available   *int                     `json:"available"`
	Items       []transform.Availability `json:"availability"`
}

// availabilityHandler serves GET /v1/availability/{iz_mms_id}?institution=CODE
// (SPEC 3.4): the member's own availability with its IZ key, then the other
// members holding the NZ record, with their counts from the NZ key, cached
// finished for the availability lifetime.
type availabilityHandler struct {
	pipe    *Searcher
	recs    *records
	nzKey   string
	members func(code string) (Member, bool)
	log     *slog.Logger
	errs    errorWriter
}

func newAvailabilityHandler(pipe *Searcher, recs *records, nzKey string, members func(string) (Member, bool), errs errorWriter) fiber.Handler {
	h := &availabilityHandler{pipe: pipe, recs: recs, nzKey: nzKey, members: members, log: errs.log, errs: errs}
	return h.serve
}

func (h *availabilityHandler) serve(c *fiber.Ctx) error {
	t0 := requestStart(c)
	id := c.Params("iz_mms_id")
	if !validMMSID(id) {
		return h.errs.json(c, "/v1/availability", badRequest(6, "an MMS ID is 2 to 24 digits"), t0)
	}
	if err := checkParams(queryParams(c), "institution"); err != nil {
		return h.errs.json(c, "/v1/availability", err, t0)
	}
	id = strings.Clone(id)
	code := string([]byte(c.Query("institution")))
	if code == "" {
		return h.errs.json(c, "/v1/availability", badRequest(7, "institution"), t0)
	}
	member, ok := h.members(code)
	if !ok {
		return h.errs.json(c, "/v1/availability", badRequest(6, "institution "+strconv.Quote(code)+" is not a configured member of this network"), t0)
	}
	if member.APIKey == "" {
		return h.errs.json(c, "/v1/availability", badRequest(6, "institution "+member.Code+" has no API key configured (set the variable named by its api_key_env)"), t0)
	}
	a, v, err := h.pipe.Load(context.Background(), "v1avail|"+member.Code+"|"+id, h.recs.availLife, func(ctx context.Context) (Rendered, error) {
		return h.render(ctx, member, id)
	})
	if err != nil {
		return h.errs.json(c, "/v1/availability", err, t0)
	}
	return writeAnswer(c, v.At, a, v, t0)
}

func (h *availabilityHandler) render(ctx context.Context, member Member, id string) (Rendered, error) {
	iz, _, err := h.recs.liveAvailability(ctx, member.Code, member.APIKey, id)
	if err != nil {
		return Rendered{}, err
	}
	r := Rendered{ContentType: ContentJSON, Tags: []string{"mms:" + id}}
	local := []transform.Availability{}
	locallyAvailable := false
	for _, a := range iz.Availability {
		if a.Institution != nil && *a.Institution != member.Code {
			continue
		}
		local = append(local, a)
		if availableNow(a) {
			locallyAvailable = true
		}
	}
	out := struct {
		IZMMSID          string                   `json:"iz_mms_id"`
		Institution      string                   `json:"institution"`
		Title            string                   `json:"title"`
		NZMMSID          *string                  `json:"nz_mms_id"`
		LocallyAvailable bool                     `json:"locally_available"`
		Local            []transform.Availability `json:"local"`
		Network          []networkHolder          `json:"network"`
		Diagnostics      []JSONDiagnostic         `json:"diagnostics"`
	}{IZMMSID: id, Institution: member.Code, Title: iz.Title, LocallyAvailable: locallyAvailable, Local: local, Network: []networkHolder{}}
	var diags []sru.Diagnostic
	if iz.NZMMSID != "" {
		nzID := iz.NZMMSID
		out.NZMMSID = &nzID
		holders, hdiags, passing := h.networkHolders(ctx, nzID, member.Code)
		out.Network = holders
		diags = append(diags, hdiags...)
		r.Uncached = passing
		r.Tags = append(r.Tags, "mms:"+nzID)
	} else {
		diags = append(diags, *sru.NewDiagnostic(1, "the IZ record carries no 035 (EXLNZ-…) link to a network record"))
	}
	out.Diagnostics = JSONDiagnostics(diags)
	body, _ := json.Marshal(out)
	r.Body = body[:len(body)-1]
	return r, nil
}

// availableNow says whether an availability entry offers the title now.
func availableNow(a transform.Availability) bool {
	switch a.Kind {
	case "physical":
		if a.Available != nil {
			return *a.Available > 0
		}
		return a.Status != nil && *a.Status == "available"
	default:
		return a.Status == nil || *a.Status == "" || *a.Status == "available" || *a.Status == "Available"
	}
}

// networkHolders lists the members other than self that hold the NZ record,
// from its 852s, with AVA counts from the NZ key where it can be had.
// passing says a part failed for a reason that may pass (the answer is
// then not cached).
func (h *availabilityHandler) networkHolders(ctx context.Context, nzID, self string) (_ []networkHolder, _ []sru.Diagnostic, passing bool) {
	var diags []sru.Diagnostic
	rec, _, err := h.recs.nzRecord(ctx, nzID)
	if err != nil {
		d := partDiagnostic(h.log, "/v1/availability", "The network record could not be fetched", err)
		return []networkHolder{}, []sru.Diagnostic{d}, search.DiagnosticStatus(d) == http.StatusOK
	}
	var byInst map[string][]transform.Availability
	live, _, err := h.recs.liveAvailability(ctx, "nz", h.nzKey, nzID)
	if err == nil {
		byInst = map[string][]transform.Availability{}
		for _, a := range live.Availability {
			if a.Institution != nil {
				byInst[*a.Institution] = append(byInst[*a.Institution], a)
			}
		}
	} else {
		diags = append(diags, partDiagnostic(h.log, "/v1/availability", "Network availability counts could not be fetched", err))
		passing = !errors.Is(err, errNoAPI)
	}
	out := []networkHolder{}
	for _, h := range rec.Holdings {
		if h.Institution == self {
			continue
		}
		nh := networkHolder{Institution: h.Institution, Types: h.Types, Items: []transform.Availability{}}
		if nh.Types == nil {
			nh.Types = []string{}
		}
		if h.IZMMSID != "" {
			v := h.IZMMSID
			nh.IZMMSID = &v
		}
		if byInst != nil {
			// Counts are summed over the member's AVA fields that carry
			// them; a member whose fields carry none (Alma's
			// check_holdings) has null counts, not zero.
			var total, avail *int
			add := func(dst **int, v *int) {
				if v == nil {
					return
				}
				if *dst == nil {
					*dst = new(int)
				}
				**dst += *v
			}
			for _, a := range byInst[h.Institution] {
				nh.Items = append(nh.Items, a)
				if a.Kind == "physical" {
					add(&total, a.Total)
					add(&avail, a.Available)
				}
			}
			nh.Total, nh.Available = total, avail
		}
		out = append(out, nh)
	}
	return out, diags, passing
}
