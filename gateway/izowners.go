package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/transform"
)

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
