package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
)

// newApp builds the Fiber app: the middleware every request passes, then
// every route of SPEC section 3 in one list.
func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "alma-network-gateway",
		DisableStartupMessage: true,
		BodyLimit:             s.cfg.Limits.MaxBodyBytes,
		ReadBufferSize:        16 << 10, // the largest request head (URL + headers) accepted
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		ErrorHandler:          s.fiberError,
	})
	app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	app.Use(s.requestID)
	app.Use(cors.New(cors.Config{
		AllowOrigins:  "*",
		AllowMethods:  "GET,POST,HEAD,OPTIONS",
		AllowHeaders:  "Content-Type,If-None-Match,X-Request-Id",
		ExposeHeaders: "X-Cache,Age,ETag,X-Request-Id,Retry-After",
		MaxAge:        86400,
	}))
	app.Use(s.observe)
	app.Use(s.bounds)

	app.Get("/healthz", s.handleHealthz())
	app.Get("/readyz", s.handleReadyz())
	app.Get("/metrics", s.handleMetrics())
	app.Get("/openapi.json", s.handleOpenAPI())

	app.Get("/sru", s.handleSRU())
	app.Post("/sru", s.handleSRU())

	// Federation (SPEC 9): /v1/search with targets, sort or facets, and the
	// SRU virtual databases; a plain /v1/search goes on to handleSearch.
	app.Get("/v1/search", s.federatedSearch())
	app.Get("/sru/:db", s.handleVirtualSRU())
	app.Post("/sru/:db", s.handleVirtualSRU())
	app.Get("/view/sru/:db", s.handleVirtualSRU())
	app.Post("/view/sru/:db", s.handleVirtualSRU())

	app.Get("/v1/search", s.handleSearch())
	app.Get("/v1/records/:mms_id", s.handleRecord())
	app.Get("/v1/availability/:iz_mms_id", s.handleAvailability())

	// Staff routes: the admin token, or loopback when none is set.
	app.Get("/v1/status", s.staffOnly, s.handleStatus())
	app.Get("/dashboard", s.staffOnly, s.handleDashboard())
	app.Post("/admin/cache/purge", s.staffOnly, s.handlePurge())

	app.Use(s.handleNotFound())
	return app
}
