package gateway

import (
	"context"
	_ "embed"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/cache"
)

//go:embed openapi.json
var openAPIDoc []byte

// handleHealthz answers while the process lives.
func (s *Server) handleHealthz() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		return c.JSON(fiber.Map{"status": "ok", "version": s.version})
	}
}

// handleReadyz answers 200 while the gateway can serve, which it can while
// Alma is down (from cache); it turns 503 only while draining for shutdown,
// so a load balancer stops sending new requests.
func (s *Server) handleReadyz() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		if s.draining.Load() {
			return s.refuse(c, errDraining)
		}
		st := s.reg.NZ().Guard.State()
		return c.JSON(fiber.Map{"status": "ready", "alma": stateWords(st), "alma_breaker": st.String()})
	}
}

func (s *Server) handleMetrics() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
}

func (s *Server) handleOpenAPI() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		c.Set("Cache-Control", "public, max-age=3600")
		return c.Send(openAPIDoc)
	}
}

// handleStatus serves /v1/status, the JSON behind the dashboard (SPEC 3.5).
func (s *Server) handleStatus() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		ups := s.upstreamRows()
		cs := s.loader.Stats()
		lookups := cs.Hits + cs.Misses + cs.StaleServes
		ratio := 0.0
		if lookups > 0 {
			ratio = float64(cs.Hits+cs.StaleServes+cs.Coalesced) / float64(lookups)
		}
		return c.JSON(fiber.Map{
			"verdict":        s.verdictOf(ups),
			"version":        s.version,
			"uptime_seconds": int(time.Since(s.started).Seconds()),
			"upstreams":      ups,
			"cache": fiber.Map{
				"stats": fiber.Map{
					"hits": cs.Hits, "misses": cs.Misses, "stale_serves": cs.StaleServes, "coalesced": cs.Coalesced,
					"refreshes": cs.Refreshes, "load_errors": cs.LoadErrors, "evictions": cs.Evictions,
					"dropped_sets": cs.DroppedSets + cs.RejectedSets, "bytes_in_use": cs.BytesInUse,
					"redis_hits": cs.RedisHits, "redis_errors": cs.RedisErrors, "redis_down": cs.RedisDown,
					"remote_purges": cs.RemotePurges,
				},
				"hit_ratio": ratio,
				"max_bytes": s.cfg.Cache.MaxBytes,
				"redis":     s.redis != nil,
			},
			"budget":            s.budgetStatus(s.budget.Stats()),
			"connections":       fiber.Map{"open": s.edge.open.Load(), "max": s.cfg.Limits.MaxConnections}, // edge.go
			"recent_errors":     s.health.Errors(),
			"indexes":           s.indexes.Load().Len(),
			"breaker_open":      s.reg.NZ().Guard.State() == gobreaker.StateOpen,
			"draining":          s.draining.Load(),
			"live_availability": s.api != nil && s.cfg.APIKey != "",
			"z3950":             s.z3950Status(),
		})
	}
}

// handlePurge serves POST /admin/cache/purge: everything, or ?mms_id=, or
// ?query= (canonicalized like any query, so any spelling purges the entry).
func (s *Server) handlePurge() fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p := queryParams(c)
		switch {
		case p.Has("mms_id"):
			id := p.Get("mms_id")
			if !validMMSID(id) {
				return s.refuse(c, badRequest(6, "mms_id must be 2 to 24 digits"))
			}
			s.loader.PurgeTag(ctx, "mms:"+id)
			return c.JSON(fiber.Map{"purged": "mms_id", "mms_id": id})
		case p.Has("query"):
			req, err := s.rules.validateCQL(p.Get("query"))
			if err != nil {
				return s.refuse(c, err)
			}
			s.loader.PurgeTag(ctx, "q:"+req.Canonical)
			return c.JSON(fiber.Map{"purged": "query", "query": req.Canonical})
		case len(p) == 0:
			s.loader.PurgeAll(ctx)
			return c.JSON(fiber.Map{"purged": "all"})
		}
		return s.refuse(c, badRequest(8, "purge takes no parameter (all), mms_id or query"))
	}
}

// registerCacheMetrics exports the cache's counters, read at scrape time.
func (s *Server) registerCacheMetrics() {
	for _, c := range []struct {
		name, help string
		counter    bool
		get        func(cache.Stats) float64
	}{
		{"gateway_cache_hits_total", "Fresh cache hits.", true, func(x cache.Stats) float64 { return float64(x.Hits) }},
		{"gateway_cache_misses_total", "Cache misses.", true, func(x cache.Stats) float64 { return float64(x.Misses) }},
		{"gateway_cache_stale_total", "Stale answers served.", true, func(x cache.Stats) float64 { return float64(x.StaleServes) }},
		{"gateway_cache_coalesced_total", "Requests answered by another request's Alma call.", true, func(x cache.Stats) float64 { return float64(x.Coalesced) }},
		{"gateway_cache_refreshes_total", "Background refreshes of stale entries.", true, func(x cache.Stats) float64 { return float64(x.Refreshes) }},
		{"gateway_cache_load_errors_total", "Failed loads (never cached).", true, func(x cache.Stats) float64 { return float64(x.LoadErrors) }},
		{"gateway_cache_evictions_total", "In-process cache evictions and expiries.", true, func(x cache.Stats) float64 { return float64(x.Evictions) }},
		{"gateway_cache_dropped_sets_total", "In-process cache writes dropped or rejected.", true, func(x cache.Stats) float64 { return float64(x.DroppedSets + x.RejectedSets) }},
		{"gateway_cache_redis_errors_total", "Failed Redis calls (the request still succeeds).", true, func(x cache.Stats) float64 { return float64(x.RedisErrors) }},
		{"gateway_cache_bytes", "In-process cache bytes in use.", false, func(x cache.Stats) float64 { return float64(x.BytesInUse) }},
		{"gateway_cache_max_bytes", "In-process cache bound.", false, func(x cache.Stats) float64 { return float64(x.MaxBytes) }},
	} {
		get := c.get
		fn := func() float64 { return get(s.loader.Stats()) }
		if c.counter {
			s.m.counterFunc(c.name, c.help, fn)
		} else {
			s.m.gaugeFunc(c.name, c.help, fn)
		}
	}
}
