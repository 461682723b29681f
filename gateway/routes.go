package gateway

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/valyala/fasthttp"
)

// route is one row of the route table: a method and a path pattern (Fiber
// syntax, ":name" is one path segment), the handlers, and what the rest of
// the door derives from the row.
type route struct {
	method   string
	path     string
	staff    bool // a staff route (SPEC 11): no CORS headers, not users' traffic in the charts
	probe    bool // health probes and scrapes: not users' traffic either
	doc      bool // described in openapi.json (the OpenAPI test holds the two together)
	handlers []fiber.Handler
}

// routeTable is every route of SPEC section 3 in one list. Routing, the
// 405 answers with Allow, the staff paths that get no CORS headers and
// the OpenAPI check are all derived from it (routeIndex below).
func (s *Server) routeTable() []route {
	get, post, put := fiber.MethodGet, fiber.MethodPost, fiber.MethodPut
	h := func(hs ...fiber.Handler) []fiber.Handler { return hs }
	staff := s.staffOnly
	return []route{
		{method: get, path: "/healthz", probe: true, doc: true, handlers: h(s.handleHealthz())},
		{method: get, path: "/readyz", probe: true, doc: true, handlers: h(s.handleReadyz())},
		{method: get, path: "/metrics", probe: true, handlers: h(s.handleMetrics())},
		{method: get, path: "/openapi.json", handlers: h(s.handleOpenAPI())},

		{method: get, path: "/sru", handlers: h(s.handleSRU())},
		{method: post, path: "/sru", handlers: h(s.handleSRU())},

		// The search model (SPEC 14): /v1/search passes one target through
		// and merges several (federation, SPEC 9); so do the SRU virtual
		// databases.
		{method: get, path: "/v1/search", doc: true, handlers: h(s.handleSearch())},
		{method: get, path: "/sru/:db", handlers: h(s.handleSRU())},
		{method: post, path: "/sru/:db", handlers: h(s.handleSRU())},
		{method: get, path: "/view/sru/:db", handlers: h(s.handleSRU())},
		{method: post, path: "/view/sru/:db", handlers: h(s.handleSRU())},

		{method: get, path: "/v1/records/:mms_id", doc: true, handlers: h(s.handleRecord())},
		{method: get, path: "/v1/availability/:iz_mms_id", doc: true, handlers: h(s.handleAvailability())},

		// For OPAC ecosystems (SPEC 13): the search page, DAIA, OpenSearch.
		{method: get, path: "/", handlers: h(s.handleOPAC())},
		{method: get, path: "/v1/daia", doc: true, handlers: h(s.handleDAIA())},
		{method: get, path: "/opensearch.xml", handlers: h(s.handleOpenSearch())},

		// Staff routes (staff.go): a bearer token or the session cookie, or
		// loopback while no token is set.
		{method: get, path: "/v1/status", staff: true, doc: true, handlers: h(staff, s.handleStatus())},
		{method: get, path: "/dashboard", staff: true, handlers: h(s.handleDashboard())},
		{method: post, path: "/dashboard/sign-in", staff: true, handlers: h(s.handleSignIn())},
		{method: post, path: "/dashboard/sign-out", staff: true, handlers: h(staff, s.handleSignOut())},
		{method: get, path: "/dashboard/history", staff: true, handlers: h(staff, s.handleHistory())},
		{method: post, path: "/admin/cache/purge", staff: true, doc: true, handlers: h(staff, s.handlePurge())},

		// Network write workflows (SPEC 12, writes.go): staff only, each for
		// the institutions the Principal may act for.
		{method: post, path: "/v1/institutions/:code/bibs", staff: true, doc: true, handlers: h(staff, newWriteHandler(s.writing.svc, s.writing.svc.Link()))},
		{method: put, path: "/v1/institutions/:code/bibs/:iz_mms_id/local-fields", staff: true, doc: true, handlers: h(staff, newWriteHandler(s.writing.svc, s.writing.svc.LocalFields()))},
		{method: post, path: "/v1/institutions/:code/bibs/:iz_mms_id/unlink", staff: true, doc: true, handlers: h(staff, newWriteHandler(s.writing.svc, s.writing.svc.Unlink()))},
		{method: post, path: "/v1/institutions/:code/po-lines", staff: true, doc: true, handlers: h(staff, newWriteHandler(s.writing.svc, s.writing.svc.POLine()))},
		{method: post, path: "/v1/institutions/:code/resource-sharing-requests", staff: true, doc: true, handlers: h(staff, newWriteHandler(s.writing.svc, s.writing.svc.ResourceSharing()))},

		// Alma's webhooks (webhooks.go): Alma calls them, not a browser.
		{method: get, path: "/webhooks/alma", handlers: h(s.handleWebhookChallenge())},
		{method: post, path: "/webhooks/alma", handlers: h(s.handleWebhook())},
	}
}

// newApp builds the Fiber app: the middleware every request passes, then
// the route table.
func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "alma-network-gateway",
		DisableStartupMessage: true,
		BodyLimit:             s.cfg.Limits.MaxBodyBytes,
		ReadBufferSize:        s.cfg.Limits.ReadBufferBytes, // the largest request head (URL + headers) accepted
		// An answer that fits goes out in one write: fasthttp's writev of
		// head and body works only on a bare *net.TCPConn, which the edge's
		// edgeConn is not, so with its 4 KiB default a cached page of 10
		// records cost two write system calls (issue 23).
		WriteBufferSize: s.cfg.Limits.WriteBufferBytes,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    60 * time.Second,
		IdleTimeout:     s.cfg.Limits.IdleTimeout.D(),
		ErrorHandler:    s.fiberError,
		// Fiber's Protocol and IP believe the same peers as the door
		// (door.go): X-Forwarded-* from anyone else are ignored.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          s.cfg.Limits.TrustedProxies,
	})
	table := s.routeTable()
	s.routes = newRouteIndex(table)
	// Requests fasthttp cannot read are answered by the edge, without
	// fasthttp's error text; SecureErrorLogMessage keeps the request head
	// out of that text in the first place.
	app.Server().ErrorHandler = s.edgeRefusal
	app.Server().SecureErrorLogMessage = true
	app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	// One middleware for what every request needs (middleware.go's door):
	// one clock read and one step through Fiber's stack for the request id,
	// the edge's host rules, the bounds, the metrics, the CORS headers and
	// the access log.
	app.Use(s.door)
	app.Use(cors.New(cors.Config{
		// Preflights only; staff routes get none (staff.go).
		Next:          func(c *fiber.Ctx) bool { return c.Method() != fiber.MethodOptions || s.routes.staff(c.Path()) },
		AllowOrigins:  "*",
		AllowMethods:  "GET,POST,HEAD,OPTIONS",
		AllowHeaders:  "Content-Type,If-None-Match,X-Request-Id",
		ExposeHeaders: corsExpose,
		MaxAge:        86400,
	}))
	for _, r := range table {
		app.Add(r.method, r.path, r.handlers...)
		if r.method == fiber.MethodGet {
			app.Add(fiber.MethodHead, r.path, r.handlers...)
		}
	}
	app.Use(s.handleNotFound())

	// A method Fiber does not know never reaches its router (which would
	// answer a plain-text 400): it gets the JSON error, 501 (RFC 9110
	// 15.6.2: the method is not recognized).
	fiberHandler := app.Server().Handler
	app.Server().Handler = func(ctx *fasthttp.RequestCtx) {
		countHandled(ctx)
		if !knownMethod(ctx.Method()) {
			s.errs.raw(ctx, refused(http.StatusNotImplemented, "the gateway does not implement this request method"))
		} else {
			fiberHandler(ctx)
		}
		if s.draining.Load() {
			drainAnswer(ctx) // the connection's last answer carries Connection: close (drain.go)
		}
	}
	return app
}

// knownMethod reports a method Fiber routes (RFC 9110 9.1's and PATCH).
func knownMethod(m []byte) bool {
	for _, k := range fiber.DefaultMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

// routeIndex answers, for a request path, which route patterns it falls
// under, matched the way Fiber routes it: case-insensitively and with one
// trailing slash ignored (Fiber's default CaseSensitive and StrictRouting,
// which newApp keeps).
type routeIndex struct {
	paths          []routePath
	staffByPattern map[string]bool // each table pattern: whether it is a staff route
}

// routePath is one path pattern of the table with all of its methods.
type routePath struct {
	segs    []string // the pattern split at '/', lower case; ":x" matches any one segment
	pattern string
	methods []string
	staff   bool
	probe   bool
}

func newRouteIndex(table []route) *routeIndex {
	ix := &routeIndex{staffByPattern: map[string]bool{}}
	for _, r := range table {
		ix.staffByPattern[r.path] = ix.staffByPattern[r.path] || r.staff
		i := slices.IndexFunc(ix.paths, func(p routePath) bool { return p.pattern == r.path })
		if i < 0 {
			ix.paths = append(ix.paths, routePath{segs: strings.Split(strings.ToLower(r.path), "/"), pattern: r.path})
			i = len(ix.paths) - 1
		}
		p := &ix.paths[i]
		p.methods = append(p.methods, r.method)
		p.staff = p.staff || r.staff
		p.probe = p.probe || r.probe
	}
	return ix
}

// find returns the pattern path falls under, or nil. A literal segment
// wins over a parameter (as Fiber's router tries routes in order, and the
// table lists no pattern a literal path of another one would shadow).
func (ix *routeIndex) find(path string) *routePath {
	if len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	var found *routePath
	for i := range ix.paths {
		p := &ix.paths[i]
		if matchSegments(p.segs, path) {
			if found == nil || strings.Count(found.pattern, ":") > strings.Count(p.pattern, ":") {
				found = p
			}
		}
	}
	return found
}

// matchSegments matches path against a pattern's segments, ignoring case.
func matchSegments(segs []string, path string) bool {
	for i, seg := range segs {
		var part string
		if i == len(segs)-1 {
			part, path = path, ""
			if strings.IndexByte(part, '/') >= 0 {
				return false
			}
		} else {
			var ok bool
			part, path, ok = strings.Cut(path, "/")
			if !ok {
				return false
			}
		}
		if strings.HasPrefix(seg, ":") {
			if part == "" {
				return false
			}
			continue
		}
		if !strings.EqualFold(seg, part) {
			return false
		}
	}
	return true
}

// staff reports whether path is a staff route's (or a pattern of one).
// staffAnswer reports whether c was answered by a staff route: by the
// pattern Fiber matched (a map lookup), else, for an answer of no table
// route (404, 405), by the path as find matches it.
func (ix *routeIndex) staffAnswer(c *fiber.Ctx) bool {
	if r := c.Route(); r != nil && r.Path != "/" { // "/" is also every middleware's, the 404's included
		if staff, ok := ix.staffByPattern[r.Path]; ok {
			return staff
		}
	}
	return ix.staff(c.Path())
}

func (ix *routeIndex) staff(path string) bool {
	p := ix.find(path)
	return p != nil && p.staff
}

// userTraffic reports whether a route pattern's requests count as users'
// traffic in the dashboard's charts.
func (ix *routeIndex) userTraffic(pattern string) bool {
	p := ix.find(pattern)
	return p == nil || !p.staff && !p.probe
}

// allow is the Allow header for path, "" for a path of no route: the
// table's methods, HEAD with GET, and OPTIONS (a CORS preflight on the
// public routes, the Allow list alone on the staff routes).
func (ix *routeIndex) allow(path string) string {
	p := ix.find(path)
	if p == nil {
		return ""
	}
	var ms []string
	for _, m := range []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete, fiber.MethodPatch, fiber.MethodOptions} {
		has := slices.Contains(p.methods, m) ||
			m == fiber.MethodHead && slices.Contains(p.methods, fiber.MethodGet) ||
			m == fiber.MethodOptions
		if has {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}
