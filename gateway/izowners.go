package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/transform"
)

// izOwners learns which member an IZ MMS ID belongs to. Alma MMS IDs end
// in the four digits of the institution that made them ("99…5526"), so
// every NZ record's member 852 ($a member, $6 its IZ MMS ID) teaches the
// suffix of one member. A member's own MMS ID can then be taken to that
// member first, and to nobody else once every member is known.
type IZOwners struct {
	mu       sync.RWMutex
	bySuffix map[string]string // "5526" → member code
	known    map[string]bool   // member codes whose suffix is known
}

// maxOwnerSuffixes bounds what a stream of odd 852s can make it hold.
const maxOwnerSuffixes = 4096

func idSuffix(mmsID string) string {
	if len(mmsID) < 6 {
		return ""
	}
	return mmsID[len(mmsID)-4:]
}

// learn records the suffixes a network record's 852s show.
func (o *IZOwners) Learn(rec *transform.Record) {
	for _, h := range rec.Holdings {
		suf := idSuffix(h.IZMMSID)
		if suf == "" || h.Institution == "" || !validMMSID(h.IZMMSID) {
			continue
		}
		o.mu.RLock()
		have := o.bySuffix[suf] == h.Institution
		o.mu.RUnlock()
		if have {
			continue
		}
		o.mu.Lock()
		if o.bySuffix == nil {
			o.bySuffix, o.known = map[string]string{}, map[string]bool{}
		}
		if len(o.bySuffix) < maxOwnerSuffixes {
			o.bySuffix[suf] = h.Institution
			o.known[h.Institution] = true
		}
		o.mu.Unlock()
	}
}

// candidates lists the members that may own izID, most likely first: the
// asking member, the member whose suffix it carries, then the members
// with a key whose suffix is not known yet. Members without an API key
// cannot be asked.
func (o *IZOwners) Candidates(izID, asking string, members []Member) []Member {
	o.mu.RLock()
	owner := o.bySuffix[idSuffix(izID)]
	known := make(map[string]bool, len(o.known))
	for k := range o.known {
		known[k] = true
	}
	o.mu.RUnlock()
	var first, rest []Member
	for _, m := range members {
		switch {
		case m.APIKey == "":
		case m.Code == asking || m.Code == owner:
			first = append(first, m)
		case owner == "" && !known[m.Code]:
			rest = append(rest, m)
		}
	}
	return append(first, rest...)
}

// memberRecord finds the network record a member's own MMS ID is linked
// to: the member's Bibs API record (with that member's key) names it in
// its 035 (EXLNZ-…). It returns nil when no member has the record or the
// record is local only (no network record).
func (s *Server) memberRecord(ctx context.Context, izID, asking string) (*transform.Record, CacheView, error) {
	for _, m := range s.recs.owners.Candidates(izID, asking, s.cfg.Members) {
		iz, _, err := s.recs.liveAvailability(ctx, m.Code, m.APIKey, izID)
		var ce *clientError
		var ae *alma.Error
		if errors.As(err, &ae) && ae.NotFound() || errors.As(err, &ce) && ce.status == http.StatusNotFound {
			continue // not this member's record
		}
		if err != nil {
			return nil, CacheView{}, err
		}
		if iz.NZMMSID == "" || !validMMSID(iz.NZMMSID) {
			return nil, CacheView{}, nil
		}
		rec, v, err := s.recs.nzRecord(ctx, iz.NZMMSID)
		if errors.As(err, &ce) && ce.status == http.StatusNotFound {
			return nil, CacheView{}, nil
		}
		if err != nil {
			return nil, CacheView{}, err
		}
		s.recs.owners.Learn(rec)
		return rec, v, nil
	}
	return nil, CacheView{}, nil
}
