// Package gateway is the HTTP service in front of Alma: the SRU server, the
// JSON feed, live availability and the operations endpoints (SPEC section 3).
//
// A request is copied out of Fiber at the door into an owned struct, turned
// into a canonical cache key, and answered through a read-through cache
// (cache → singleflight → re-check → breaker → Alma, see package cache). What
// is cached is the finished response body for that key; the per-request parts
// (the JSON meta block, SRU's stale marker, the cache headers) are added when
// it is served, so a hit costs a map lookup and a write. Every Alma call goes
// through a guard (package upstream) that owns the upstream's circuit breaker,
// deadline and error classification, over a transport that spends the call
// budget and retries at most once. One function, errorAnswer in answer.go,
// turns errors into HTTP statuses, SRU diagnostics and JSON bodies.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/budget"
	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/search"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/staff"
	"github.com/almanet/gateway/upstream"
	"github.com/almanet/gateway/z3950"
)

// Options are the parts of a Server that are not configuration.
type Options struct {
	// Logger receives the gateway's structured log. Nil means discard.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Version is reported by /healthz and /v1/status. Empty means "dev".
	Version string
	// AccessLog receives the access log's lines while the configuration
	// has it on (log.access). Nil means discard.
	AccessLog io.Writer
	// AccessLogBatch, when positive, writes the access log's lines in
	// batches, at most this late (and at once when 32 KiB wait): one write
	// per batch rather than per request. Zero writes each line at once.
	AccessLogBatch time.Duration
}

// Server is one gateway instance. Its parts are grouped by job; the
// groups are embedded, so that a handler reads s.cfg or s.loader as before.
type Server struct {
	serverInfo
	stores
	upstreams
	searching
	doorState
	lifecycle

	app     *fiber.App
	m       *metrics
	staff   *staff.Auth    // staff tokens and sessions (package staff)
	history *staff.History // the dashboard's charts (package staff)
	z3950   *z3950.Server  // the Z39.50 server (SPEC 10); listens only in ServeZ3950
	writes  *writes        // the network write workflows and webhooks (SPEC 12, writes.go)
}

// serverInfo is what the gateway is and runs with.
type serverInfo struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	version string
	started time.Time
}

// stores are the caches and the call budget.
type stores struct {
	loader *cache.Loader
	memory *cache.Memory
	redis  *cache.Redis
	budget *budget.Budget
}

// upstreams are what the gateway calls, each behind its guard.
type upstreams struct {
	health *upstream.Health
	// upstreamBytes bounds the upstream body bytes held at once (package upstream).
	upstreamBytes *upstream.ByteGate
	reg           *Registry                  // every search target and group, with its guard (registry.go)
	api           *alma.Client               // Alma REST, shared by every key
	apiGuard      map[string]*upstream.Guard // REST guards by "nz" or member code
	zOrigins      []*z3950.Origin            // the Z39.50 targets' session pools, closed by Close
}

// searching is the search step and what the front ends share.
type searching struct {
	indexes atomic.Pointer[sru.IndexSet]
	pipe    *Searcher   // the one search step every front end calls
	recs    *records    // records and live availability for the record routes
	rules   queryRules  // the request rules JSON and SRU share
	errs    errorWriter // the one error mapping's writer
	fed     *Federation // federated searches (SPEC 9)
}

// doorState is what the door keeps per process: request ids, routes,
// trusted proxies, the per-client limit and the edge's and routes' counts.
type doorState struct {
	limiter  *clientLimiter
	idPrefix string                     // random per process: request ids are idPrefix + idSeq
	idSeq    atomic.Uint64              // the last request id's sequence number
	routes   *routeIndex                // the route table's paths (routes.go)
	proxies  config.TrustedProxies      // limits.trusted_proxies (door.go)
	routeMu  sync.RWMutex               // guards routeObs
	routeObs map[string]*routeObservers // by route pattern (resolved metric children)
	edge     edgeStats                  // the HTTP edge's counts (edge.go)
	access   *accessLog                 // one line per request; nil when off (accesslog.go)
}

// lifecycle is starting and stopping.
type lifecycle struct {
	draining atomic.Bool
	stop     context.CancelFunc
	bg       chan struct{} // closed when background work has ended
}

// New wires a gateway from its configuration. It does not listen; call
// Serve. Background work (index refresh) starts here and ends with Close.
func New(cfg Config, opt Options) (*Server, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{serverInfo: serverInfo{cfg: cfg, log: opt.Logger, now: opt.Now, version: opt.Version}, lifecycle: lifecycle{bg: make(chan struct{})}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.version == "" {
		s.version = "dev"
	}
	s.started = s.now()
	s.proxies, _ = config.ParseTrustedProxies(cfg.Limits.TrustedProxies) // validated above
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.idPrefix = hex.EncodeToString(rnd[:]) + "-"
	s.m = newMetrics()
	s.registerEdgeMetrics()
	if cfg.Log.AccessLog() && opt.AccessLog != nil {
		s.access = newAccessLog(opt.AccessLog, opt.AccessLogBatch)
	}
	s.health = upstream.NewHealth(s.m.up, s.log)

	mem, err := cache.NewMemory(cfg.Cache.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("cache: %v", err)
	}
	s.memory = mem
	var rc = budget.Options{PerSecond: cfg.Upstream.RatePerSecond, Burst: cfg.Upstream.RateBurst, MaxWait: cfg.Upstream.BudgetWait.D(), Logger: s.log}
	if cfg.RedisURL != "" {
		r, err := cache.NewRedis(cache.RedisOptions{URL: cfg.RedisURL, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("config: REDIS_URL: %v", err)
		}
		s.redis = r
		rc.Redis = r.Client()
	}
	s.budget = budget.New(rc)
	s.loader = cache.NewLoader(cache.LoaderOptions{
		Memory: mem, Redis: s.redis, LoadTimeout: cfg.Upstream.Timeout.D() + 5*time.Second,
		Now: s.now, Logger: s.log,
	})
	s.limiter = newClientLimiter(cfg.Limits)

	tr := upstream.NewTransport(cfg.Upstream, s.budget, s.m.up)
	s.upstreamBytes = tr.Bytes()
	s.m.gaugeFunc("gateway_upstream_inflight_bytes", "Upstream answer bytes held now (bounded by upstream.max_inflight_bytes).", func() float64 { return float64(s.upstreamBytes.InUse()) })
	s.m.counterFunc("gateway_upstream_inflight_refused_total", "Upstream answers refused room under upstream.max_inflight_bytes.", func() float64 { return float64(s.upstreamBytes.Refused()) })
	timeout := cfg.Upstream.Timeout.D()
	reg, err := search.BuildRegistry(&s.cfg, tr, s.health)
	if err != nil {
		return nil, err
	}
	s.reg, s.zOrigins = reg, reg.Origins()
	s.m.reg.MustRegister(reg.Collector())
	s.apiGuard = map[string]*upstream.Guard{}
	if cfg.APIURL != "" {
		s.api = &alma.Client{BaseURL: cfg.APIURL, HTTP: tr.Doer("api"), MaxBody: cfg.Upstream.MaxBodyBytes}
		s.apiGuard["nz"] = upstream.NewGuard("api:nz", cfg.Breaker, timeout, s.health)
		s.apiGuard["nz"].Probe = s.apiProbe(cfg.APIKey)
		for _, mb := range cfg.Members {
			g := upstream.NewGuard("api:"+mb.Code, cfg.Breaker, timeout, s.health)
			g.Probe = s.apiProbe(mb.APIKey)
			s.apiGuard[mb.Code] = g
		}
	}

	s.buildFederation()
	s.indexes.Store(sru.DefaultIndexSet())
	s.rules = queryRules{indexes: &s.indexes, limits: cfg.Limits, publicURL: cfg.PublicURL}
	s.errs = errorWriter{log: s.log, now: s.now}
	s.pipe = NewSearcher(SearcherOptions{
		Loader:        s.loader,
		Life:          cache.Lifetime{Fresh: cfg.Cache.TTL.D(), Stale: cfg.Cache.Stale.D()},
		DiagnosticTTL: cfg.Cache.DiagnosticTTL.D(),
		// A client waits for the upstream deadline and a little more; the
		// load goes on and fills the cache after that.
		Wait:   timeout + 2*time.Second,
		Now:    s.now,
		Logger: s.log,
	})
	s.recs = &records{
		loader: s.loader, nz: s.reg.NZ().Target, apiGuard: s.apiGuard,
		remaining:   func(who string, n int) { s.m.up.APIRemaining.WithLabelValues("api:" + who).Set(float64(n)) },
		recordLife:  cache.Lifetime{Fresh: cfg.Cache.RecordTTL.D(), Stale: cfg.Cache.Stale.D()},
		unknownLife: cache.Lifetime{Fresh: cfg.Cache.DiagnosticTTL.D()},
		availLife:   cache.Lifetime{Fresh: cfg.Cache.AvailabilityTTL.D(), Stale: cfg.Cache.AvailabilityStale.D()},
		now:         s.now,
		names:       s.memberName,
	}
	if s.api != nil {
		s.recs.api = s.api // a nil *alma.Client must not become a non-nil bibSource
	}
	s.registerCacheMetrics()
	s.initZ3950()
	s.initStaff()
	s.writes = newWrites(s)
	s.app = s.newApp()

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.refreshIndexes(ctx)
	go s.history.Run(ctx)
	return s, nil
}

// apiProbe is the cheap half-open trial for the REST API with one key: a
// lookup of MMS ID 00, which Alma answers at once with "not valid" (an
// answer, so a healthy API) without building any record. It is the
// shortest ID alma.ValidMMSID lets the client send: "0" never leaves the
// client, and a probe that never reaches Alma never closes the breaker.
// Nil without a key: the first client's call is then the trial.
func (s *Server) apiProbe(key string) func(ctx context.Context) error {
	if key == "" {
		return nil
	}
	return func(ctx context.Context) error {
		_, err := s.api.GetBib(ctx, "00", key)
		return err
	}
}

// App returns the Fiber app, for tests (app.Test) and for Serve.
func (s *Server) App() *fiber.App { return s.app }

// Searcher is the search step, for front ends outside the Fiber app
// (Z39.50, federation).
func (s *Server) Searcher() *Searcher { return s.pipe }

// Target returns a registered Target by name: "nz" for the network's SRU,
// a member's code for a member with its own sru_url. Each is already
// behind its upstream's breaker, budget and deadline.
func (s *Server) Target(name string) (Target, bool) {
	t, ok := s.reg.Get(name)
	if !ok {
		return nil, false
	}
	return t.Target, true
}

// The handlers of routes.go, each built from what it uses.
func (s *Server) handleSearch() fiber.Handler {
	return newSearchHandler(s.rules, s.pipe, s.reg, s.fed, s.fedLife(), s.errs)
}

func (s *Server) handleSRU() fiber.Handler {
	return newSRUHandler(s.rules, s.pipe, s.reg, s.fed, s.fedLife(), s.errs)
}

func (s *Server) handleRecord() fiber.Handler {
	return newRecordHandler(s.pipe, s.recs, s.reg, s.cfg.Member, s.cfg.APIKey, s.errs)
}

func (s *Server) handleAvailability() fiber.Handler {
	return newAvailabilityHandler(s.pipe, s.recs, s.cfg.APIKey, s.cfg.Member, s.errs)
}

// Serve answers on ln until ctx ends, then drains (drain.go): it stops
// accepting, answers every request that arrived before, each connection's
// last answer with Connection: close, bounded by the drain timeout, and
// returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	el := s.edgeListener(ln) // framing, Host, connection caps, head deadline and drain (edge.go)
	go func() { errc <- s.app.Listener(el) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	timeout := s.cfg.Limits.DrainTimeout.D()
	s.log.Info("shutting down: draining in-flight requests", "timeout", timeout.String())
	if left := el.drain(timeout); left > 0 {
		s.log.Warn("drain timeout: returning with connections still open", "connections", left, "timeout", timeout.String())
	}
	return <-errc
}

// Close stops background work and releases the caches.
func (s *Server) Close() error {
	s.stop()
	for _, o := range s.zOrigins {
		o.Close()
	}
	<-s.bg
	<-s.history.Done()
	s.writes.close()
	s.loader.Close()
	s.memory.Close()
	s.access.close()
	if s.redis != nil {
		return s.redis.Close()
	}
	return nil
}

// refreshIndexes reads Alma's explain now and then every ExplainRefresh, so
// that the SRU layer validates indexes against what Alma really offers
// (SPEC 3.1). Until the first success, the built-in list is used.
func (s *Server) refreshIndexes(ctx context.Context) {
	defer close(s.bg)
	if s.cfg.Cache.ExplainRefresh < 0 {
		return // turned off: the built-in list stays
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := s.cfg.Cache.ExplainRefresh.D()
		if err := s.loadIndexes(ctx); err != nil {
			s.log.Warn("could not read Alma's explain; keeping the current index list", "error", err)
			next = min(next, time.Minute)
		}
		t.Reset(next)
	}
}

func (s *Server) loadIndexes(ctx context.Context) error {
	var body []byte
	nz := s.reg.NZ()
	err := nz.Guard.Do(ctx, func(ctx context.Context) error {
		var err error
		body, err = nz.Client.Explain(ctx)
		return err
	})
	if err != nil {
		return err
	}
	set, err := sru.ParseExplain(body)
	if err != nil {
		return err
	}
	if set.Len() == 0 {
		return errors.New("alma's explain lists no indexes")
	}
	s.indexes.Store(set)
	s.log.Info("index list read from Alma's explain", "indexes", set.Len())
	return nil
}
