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
		ReadBufferSize:        s.cfg.Limits.ReadBufferBytes, // the largest request head (URL + headers) accepted
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           s.cfg.Limits.IdleTimeout.D(),
		ErrorHandler:          s.fiberError,
	})
	// Requests fasthttp cannot read are answered by the edge, without
	// fasthttp's error text (it quotes the request head).
	app.Server().ErrorHandler = s.edgeRefusal
	app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	app.Use(s.requestID)
	if s.access != nil {
		app.Use(s.access.middleware) // outside CORS: preflights are logged too (accesslog.go)
	}
	app.Use(s.edgeHeaders) // CORS headers on every answer, absolute-form Host (edge_http.go)
	app.Use(cors.New(cors.Config{
		// Preflights only; staff routes get none (staff.go).
		Next:          func(c *fiber.Ctx) bool { return c.Method() != fiber.MethodOptions || isStaffPath(c.Path()) },
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

	// For OPAC ecosystems (SPEC 13, issue 15): the search page, DAIA, OpenSearch.
	app.Get("/", s.handleOPAC())
	app.Get("/v1/daia", s.handleDAIA())
	app.Get("/opensearch.xml", s.handleOpenSearch())

	// Staff routes (staff.go): a bearer token or the session cookie, or
	// loopback while no token is set.
	app.Get("/v1/status", s.staffOnly, s.handleStatus())
	app.Get("/dashboard", s.handleDashboard())
	app.Post("/dashboard/sign-in", s.handleSignIn())
	app.Post("/dashboard/sign-out", s.staffOnly, s.handleSignOut())
	app.Get("/dashboard/history", s.staffOnly, s.handleHistory())
	app.Post("/admin/cache/purge", s.staffOnly, s.handlePurge())

	// Network write workflows (SPEC 12, writes.go): staff only, each for the
	// institutions the Principal may act for; Alma's webhooks (webhooks.go).
	app.Post("/v1/institutions/:code/bibs", s.staffOnly, s.handleWrite(s.writes.linkOp()))
	app.Put("/v1/institutions/:code/bibs/:iz_mms_id/local-fields", s.staffOnly, s.handleWrite(s.writes.localFieldsOp()))
	app.Post("/v1/institutions/:code/bibs/:iz_mms_id/unlink", s.staffOnly, s.handleWrite(s.writes.unlinkOp()))
	app.Post("/v1/institutions/:code/po-lines", s.staffOnly, s.handleWrite(s.writes.poLineOp()))
	app.Post("/v1/institutions/:code/resource-sharing-requests", s.staffOnly, s.handleWrite(s.writes.rsRequestOp()))
	app.Get("/webhooks/alma", s.handleWebhookChallenge())
	app.Post("/webhooks/alma", s.handleWebhook())

	app.Use(s.handleNotFound())
	return app
}
