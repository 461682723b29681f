package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

var errCorruptEntry = errors.New("a cached entry could not be read")

// validMMSID says whether s can be an Alma MMS ID: digits only, of a sane
// length. Anything else never reaches Alma (SPEC section 6).
func validMMSID(s string) bool {
	if len(s) < 2 || len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// recordLife and availLife are the separate lifetimes of a bibliographic
// record and of its live availability (SPEC 3.3).
func (s *Server) recordLife() cache.Lifetime {
	return cache.Lifetime{Fresh: s.cfg.Cache.RecordTTL.D(), Stale: s.cfg.Cache.Stale.D()}
}

func (s *Server) availLife() cache.Lifetime {
	return cache.Lifetime{Fresh: s.cfg.Cache.AvailabilityTTL.D(), Stale: s.cfg.Cache.AvailabilityStale.D()}
}

// nzRecord returns the NZ record with that MMS ID (its canonical MARCXML),
// found through the NZ SRU endpoint so that it carries the member 852s.
func (s *Server) nzRecord(ctx context.Context, mmsID string) (*transform.Record, cacheView, error) {
	life := s.recordLife()
	return s.cachedRecord(ctx, "rec|"+mmsID, life, func(ctx context.Context) (cache.Loaded, error) {
		rs, err := s.fetch(ctx, s.nz, "alma.mms_id="+mmsID, 1, 1)
		if err != nil {
			return cache.Loaded{}, err
		}
		for _, raw := range rs.records {
			rec, err := transform.Parse(raw.Data)
			if err == nil && rec.MMSID == mmsID {
				return cache.Loaded{Value: rec.AppendMARCXML(nil), Cache: true, Tags: []string{"mms:" + mmsID}}, nil
			}
		}
		return cache.Loaded{}, notFound("the network has no record with MMS ID " + mmsID)
	})
}

// liveAvailability returns the AVA/AVE/AVD entries of a record from the
// Bibs API, called with the given key (the NZ key for NZ records, a
// member's key for its IZ records), cached for the short availability
// lifetime. who names the key's owner ("nz" or a member code).
func (s *Server) liveAvailability(ctx context.Context, who, apiKey, mmsID string) (*transform.Record, cacheView, error) {
	g := s.apiGuard[who]
	if s.api == nil || g == nil || apiKey == "" {
		return nil, cacheView{}, errNoAPI
	}
	life := s.availLife()
	return s.cachedRecord(ctx, "avail|"+who+"|"+mmsID, life, func(ctx context.Context) (cache.Loaded, error) {
		var bib *alma.Bib
		err := g.do(ctx, func(ctx context.Context) error {
			var err error
			bib, err = s.api.GetBib(ctx, mmsID, apiKey)
			return err
		})
		if err != nil {
			return cache.Loaded{}, err
		}
		if bib.Remaining >= 0 {
			s.m.apiRemaining.WithLabelValues("api:" + who).Set(float64(bib.Remaining))
		}
		rec, err := transform.Parse(bib.Record)
		if err != nil {
			return cache.Loaded{}, &upstreamError{kind: errUnavailable, upstream: "api:" + who, detail: "Alma sent a record the gateway cannot read", cause: err}
		}
		return cache.Loaded{Value: rec.AppendMARCXML(nil), Cache: true, Tags: []string{"mms:" + mmsID}}, nil
	})
}

// cachedRecord reads one record through the cache; load returns its
// canonical MARCXML.
func (s *Server) cachedRecord(ctx context.Context, key string, life cache.Lifetime, load cache.LoadFunc) (*transform.Record, cacheView, error) {
	res, err := s.loader.Get(ctx, key, life, load)
	if err != nil {
		return nil, cacheView{}, err
	}
	rec, err := transform.Parse(res.Value)
	if err != nil {
		return nil, cacheView{}, errCorruptEntry
	}
	return rec, viewOf(res, life, s.now()), nil
}

var errNoAPI = errors.New("live availability is not configured (ALMA_API_URL and ALMA_API_KEY)")

// handleRecord serves GET /v1/records/{mms_id} (SPEC 3.3).
func (s *Server) handleRecord() fiber.Handler {
	return func(c *fiber.Ctx) error {
		t0 := time.Now()
		id := c.Params("mms_id")
		if !validMMSID(id) {
			return s.jsonError(c, "/v1/records", badRequest(6, "an MMS ID is 2 to 24 digits"), t0)
		}
		id = string([]byte(id))
		format := c.Query("format", "json")
		if format != "json" && format != "marcxml" {
			return s.jsonError(c, "/v1/records", badRequest(6, "format must be json or marcxml"), t0)
		}
		ctx, cancel := s.requestContext()
		defer cancel()
		rec, view, err := s.nzRecord(ctx, id)
		if err != nil {
			return s.jsonError(c, "/v1/records", err, t0)
		}
		if format == "marcxml" {
			body := transform.AppendCollectionEnd(rec.AppendMARCXML(transform.AppendCollectionStart(nil)))
			return s.writeAnswer(c, view, packAnswer(http.StatusOK, body), false, t0)
		}
		var diags []sru.Diagnostic
		avail := []transform.Availability{}
		live, aview, err := s.liveAvailability(ctx, "nz", s.cfg.APIKey, id)
		switch {
		case err == nil:
			avail = live.Availability
			view = view.worse(aview)
		default:
			a := errorAnswer(s.log, "/v1/records", err)
			if errors.Is(err, errNoAPI) {
				a.diag = *sru.NewDiagnostic(1, errNoAPI.Error())
			}
			a.diag.Message = "Live availability could not be fetched"
			diags = append(diags, a.diag)
		}
		body := rec.AppendFeedJSON(nil, 1)
		body = body[:len(body)-1] // reopen the object
		body = append(body, `,"availability":`...)
		aj, _ := json.Marshal(avail)
		body = append(body, aj...)
		body = append(body, `,"diagnostics":`...)
		dj, _ := json.Marshal(toJSONDiagnostics(diags))
		body = append(body, dj...)
		return s.writeAnswer(c, view, packAnswer(http.StatusOK, body), true, t0)
	}
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

// handleAvailability serves GET /v1/availability/{iz_mms_id}?institution=CODE
// (SPEC 3.4): the member's own availability with its IZ key, then the other
// members holding the NZ record, with their counts from the NZ key.
func (s *Server) handleAvailability() fiber.Handler {
	return func(c *fiber.Ctx) error {
		t0 := time.Now()
		id := c.Params("iz_mms_id")
		if !validMMSID(id) {
			return s.jsonError(c, "/v1/availability", badRequest(6, "an MMS ID is 2 to 24 digits"), t0)
		}
		id = string([]byte(id))
		code := string([]byte(c.Query("institution")))
		if code == "" {
			return s.jsonError(c, "/v1/availability", badRequest(7, "institution"), t0)
		}
		member, ok := s.cfg.Member(code)
		if !ok {
			return s.jsonError(c, "/v1/availability", badRequest(6, "institution "+strconv.Quote(code)+" is not a configured member of this network"), t0)
		}
		if member.APIKey == "" {
			return s.jsonError(c, "/v1/availability", badRequest(6, "institution "+member.Code+" has no API key configured (set the variable named by its api_key_env)"), t0)
		}
		ctx, cancel := s.requestContext()
		defer cancel()
		iz, view, err := s.liveAvailability(ctx, member.Code, member.APIKey, id)
		if err != nil {
			return s.jsonError(c, "/v1/availability", err, t0)
		}
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
			Diagnostics      []jsonDiagnostic         `json:"diagnostics"`
		}{IZMMSID: id, Institution: member.Code, Title: iz.Title, LocallyAvailable: locallyAvailable, Local: local, Network: []networkHolder{}}
		var diags []sru.Diagnostic
		if iz.NZMMSID != "" {
			nzID := iz.NZMMSID
			out.NZMMSID = &nzID
			holders, hview, hdiags := s.networkHolders(ctx, nzID, member.Code)
			out.Network = holders
			diags = append(diags, hdiags...)
			view = view.worse(hview)
		} else {
			diags = append(diags, *sru.NewDiagnostic(1, "the IZ record carries no 035 (EXLNZ-…) link to a network record"))
		}
		out.Diagnostics = toJSONDiagnostics(diags)
		body, _ := json.Marshal(out)
		return s.writeAnswer(c, view, packAnswer(http.StatusOK, body[:len(body)-1]), true, t0)
	}
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
func (s *Server) networkHolders(ctx context.Context, nzID, self string) ([]networkHolder, cacheView, []sru.Diagnostic) {
	var diags []sru.Diagnostic
	rec, view, err := s.nzRecord(ctx, nzID)
	if err != nil {
		a := errorAnswer(s.log, "/v1/availability", err)
		a.diag.Message = "The network record could not be fetched"
		return []networkHolder{}, cacheView{status: "MISS", storedAt: s.now()}, []sru.Diagnostic{a.diag}
	}
	var byInst map[string][]transform.Availability
	live, aview, err := s.liveAvailability(ctx, "nz", s.cfg.APIKey, nzID)
	if err == nil {
		view = view.worse(aview)
		byInst = map[string][]transform.Availability{}
		for _, a := range live.Availability {
			if a.Institution != nil {
				byInst[*a.Institution] = append(byInst[*a.Institution], a)
			}
		}
	} else {
		a := errorAnswer(s.log, "/v1/availability", err)
		if errors.Is(err, errNoAPI) {
			a.diag = *sru.NewDiagnostic(1, errNoAPI.Error())
		}
		a.diag.Message = "Network availability counts could not be fetched"
		diags = append(diags, a.diag)
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
	return out, view, diags
}
