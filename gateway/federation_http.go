package gateway

import (
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/search"
)

// The merged answers of the search model (searchmodel.go, SPEC 9.2, 14):
// the JSON feed (search.go) and the SRU front end (srusrv.go) page through
// one merged result (federation.search); each page is cached like any
// answer, except while a target is still working: then the next request
// pages the completed result instead.

// fedRequest is a federated search as the JSON feed asks it.
type fedRequest struct {
	search  *searchRequest
	targets []string
	order   federate.Sort
	facets  []string
	key     string
}

// fedLife is the lifetime of a federated page: a search answer's.
func (s *Server) fedLife() cache.Lifetime {
	return cache.Lifetime{Fresh: s.cfg.Cache.TTL.D(), Stale: s.cfg.Cache.Stale.D()}
}

// buildFederation makes the federation over the registry's targets: nz
// and the members share their breakers with the single-target path, each
// configured target has its own.
func (s *Server) buildFederation() {
	cfg := s.cfg
	s.fed = search.NewFederation(s.reg.Targets(), cfg.Federation.FanOut.Timeout.D(), cfg.Cache.TTL.D(), cfg.Cache.Stale.D(), cfg.Cache.MaxBytes/4, s.now, s.log)
}
