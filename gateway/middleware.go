package gateway

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/time/rate"

	"github.com/almanet/gateway/internal/clientaddr"
	"github.com/almanet/gateway/internal/ident"
	"github.com/almanet/gateway/staff"
)

// requestID gives every answer an X-Request-Id: the client's own when it is
// a sane token, else a new one: this process's random prefix and a
// counter, unique without a call to crypto/rand per request. Either is
// copied into the response header from bytes: no string per request.
func (s *Server) requestID(c *fiber.Ctx) error {
	s.setRequestID(c)
	return c.Next()
}

func (s *Server) setRequestID(c *fiber.Ctx) {
	h := &c.Response().Header
	if id := c.Request().Header.PeekBytes(hdrRequestID); ident.Sane(id, 64) {
		h.SetCanonical(hdrRequestID, id)
	} else {
		var b [16 + 16]byte
		n := copy(b[:], s.idPrefix)
		h.SetCanonical(hdrRequestID, strconv.AppendUint(b[:n], s.idSeq.Add(1), 16))
	}
}

// The names of the headers the hit path sets on every answer, in
// fasthttp's canonical form, with their constant values: SetCanonical
// with them skips the copy and normalization of the name that Set and
// SetBytesV do on every call (a fifth of a cached hit's header cost,
// issue 23). fasthttp still checks each value for CR and LF.
var (
	hdrRequestID     = []byte("X-Request-Id")
	hdrXCache        = []byte("X-Cache")
	hdrAge           = []byte("Age")
	hdrCacheControl  = []byte("Cache-Control")
	hdrETag          = []byte("Etag")
	hdrAllowOrigin   = []byte("Access-Control-Allow-Origin")
	hdrExposeHeaders = []byte("Access-Control-Expose-Headers")
	valAnyOrigin     = []byte("*")
	valCORSExpose    = []byte(corsExpose)
)

// door is the middleware every request passes, in this order: its
// X-Request-Id (setRequestID); the edge's host rules (edgeHost); then,
// except for a CORS preflight (answered by the cors middleware after
// this, unbounded and uncounted as before), the bounds and the metrics
// (observed); the CORS headers on the answer (corsHeaders); and its
// access log line. One function rather than a middleware each, so that a
// request pays one clock read and one step through Fiber's stack for all
// of them: they are most of a cached hit's cost (issue 23).
func (s *Server) door(c *fiber.Ctx) error {
	start := requestStart(c)
	s.setRequestID(c)
	s.edgeHost(c)
	var err error
	preflight := c.Method() == fiber.MethodOptions && len(c.Request().Header.Peek(fiber.HeaderAccessControlRequestMethod)) > 0
	if preflight {
		err = c.Next()
	} else {
		err = s.bounds(c)
		if err != nil {
			// Let the error handler write the answer now so the status is
			// known to the metrics and the log.
			err = s.fiberError(c, err)
		}
	}
	s.corsHeaders(c)
	end := time.Now()
	if !preflight {
		s.observe(c, end.Sub(start))
	}
	if s.access != nil {
		if fe, ok := err.(*fiber.Error); ok {
			// Answered by Fiber's error handler after this: log the
			// status it will get.
			c.Response().SetStatusCode(fe.Code)
		}
		s.access.write(c, s.clientIP(c), start, end)
	}
	return err
}

// requestStart is when the request was read: fasthttp reads the clock for
// each request it serves, so the handlers' timings need no clock read of
// their own.
func requestStart(c *fiber.Ctx) time.Time {
	if t := c.Context().Time(); !t.IsZero() {
		return t
	}
	return time.Now()
}

// observe counts and times every request by route pattern (never by raw
// path, which a client controls).
func (s *Server) observe(c *fiber.Ctx, took time.Duration) {
	route := "other"
	if r := c.Route(); r != nil && r.Path != "/" && r.Path != "" {
		route = r.Path
	}
	o := s.observer(route, c.Response().StatusCode())
	o.requests.Inc()
	o.duration.Observe(took.Seconds())
}

// routeObserver holds a route's resolved metric children, so a request
// does not look its label values up again.
type routeObserver struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// routeObservers are one route's observers by status code, filled as
// statuses are seen.
type routeObservers struct {
	duration prometheus.Histogram
	byStatus [600]atomic.Pointer[routeObserver]
}

// observer returns the children for a route pattern and status. Routes are
// the fixed patterns of routes.go (or "other"), so the set stays small; a
// known pair costs a read-locked map lookup by string and an atomic load:
// no label hashing, no allocation.
func (s *Server) observer(route string, status int) *routeObserver {
	s.routeMu.RLock()
	ro := s.routeObs[route]
	s.routeMu.RUnlock()
	if ro == nil {
		s.routeMu.Lock()
		if ro = s.routeObs[route]; ro == nil {
			ro = &routeObservers{duration: s.m.requestDuration.WithLabelValues(route).(prometheus.Histogram)}
			if s.routeObs == nil {
				s.routeObs = map[string]*routeObservers{}
			}
			s.routeObs[route] = ro
		}
		s.routeMu.Unlock()
	}
	if status < 0 || status >= len(ro.byStatus) {
		return &routeObserver{requests: s.m.requests.WithLabelValues(route, strconv.Itoa(status)), duration: ro.duration}
	}
	if o := ro.byStatus[status].Load(); o != nil {
		return o
	}
	o := &routeObserver{requests: s.m.requests.WithLabelValues(route, strconv.Itoa(status)), duration: ro.duration}
	ro.byStatus[status].CompareAndSwap(nil, o)
	return ro.byStatus[status].Load()
}

// userRequests are the users' requests answered so far and their latency
// histogram (the dashboard's history), read from the routes' own
// histogram children: every answered request is observed in its route's,
// so their counts are the requests. Staff, probe and scrape routes are not
// users' traffic (routes.go).
func (s *Server) userRequests() staff.RequestTotals {
	var out staff.RequestTotals
	var m dto.Metric
	s.routeMu.RLock()
	defer s.routeMu.RUnlock()
	for route, ro := range s.routeObs {
		if !s.routes.userTraffic(route) {
			continue
		}
		m.Reset()
		if err := ro.duration.Write(&m); err != nil {
			continue
		}
		h := m.GetHistogram()
		out.Count += h.GetSampleCount()
		bs := h.GetBucket()
		if out.Buckets == nil {
			out.Buckets, out.Bounds = make([]uint64, len(bs)), make([]float64, len(bs))
			for i, b := range bs {
				out.Bounds[i] = b.GetUpperBound()
			}
		}
		for i, b := range bs[:min(len(bs), len(out.Buckets))] {
			out.Buckets[i] += b.GetCumulativeCount()
		}
	}
	return out
}

// bounds refuses oversized URLs and clients over their rate before any
// handler runs (SPEC section 6).
func (s *Server) bounds(c *fiber.Ctx) error {
	if len(c.Request().RequestURI()) > s.cfg.Limits.MaxURLBytes {
		return s.refuse(c, refused(http.StatusRequestURITooLong, "the request URL is longer than "+strconv.Itoa(s.cfg.Limits.MaxURLBytes)+" bytes"))
	}
	if s.limiter != nil && !s.limiter.allow(s.clientIP(c)) {
		s.m.clientLimited.Inc()
		e := refused(http.StatusTooManyRequests, "too many requests from this client; slow down")
		e.retryAfter = time.Second
		return s.refuse(c, e)
	}
	return c.Next()
}

// refuse answers a refusal of the middleware or an operations route through
// the one error mapping (answer.go).
func (s *Server) refuse(c *fiber.Ctx, err error) error {
	return s.errs.json(c, c.Path(), err, time.Now())
}

// fiberError answers errors Fiber itself raises (unknown method, body too
// large, malformed request) and any error a handler returns, through the
// one error mapping.
func (s *Server) fiberError(c *fiber.Ctx, err error) error {
	return s.refuse(c, err)
}

func (s *Server) logPanic(c *fiber.Ctx, e any) {
	s.log.Error("panic while answering a request", "path", c.Path(), "panic", e)
}

// handleNotFound answers every request no route took. A path of the route
// table with another method gets 405 with Allow (an OPTIONS on a staff
// path, which gets no CORS preflight, gets 204 with Allow); any other path
// 404.
func (s *Server) handleNotFound() fiber.Handler {
	return func(c *fiber.Ctx) error {
		allow := s.routes.allow(c.Path())
		if allow == "" {
			return s.refuse(c, refused(http.StatusNotFound, "no such endpoint; see /openapi.json and /sru"))
		}
		c.Set("Allow", allow)
		if c.Method() == fiber.MethodOptions {
			c.Set("Cache-Control", "no-store")
			return c.SendStatus(http.StatusNoContent)
		}
		return s.refuse(c, refused(http.StatusMethodNotAllowed, "method "+c.Method()+" is not allowed here"))
	}
}

// clientLimiter is the per-client request rate limit: a token bucket per
// client (an IPv4 address, or an IPv6 /64, the block one subscriber
// usually holds, so that an attacker cannot mint a fresh bucket per
// address), forgotten after a few idle minutes. The table is bounded: when
// it is full, clients not in it share one overflow bucket, so a flood of
// new addresses neither grows memory nor makes every request sweep the
// table.
type clientLimiter struct {
	limit         rate.Limit
	burst         int
	limitLoopback bool
	maxClients    int
	now           func() time.Time

	mu       sync.Mutex // guards clients, swept and overflow
	clients  map[string]*clientBucket
	swept    time.Time
	overflow *rate.Limiter
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// clientIdle is how long an idle client's bucket is kept.
const clientIdle = 5 * time.Minute

func newClientLimiter(l LimitsConfig) *clientLimiter {
	if l.ClientRate < 0 {
		return nil
	}
	return &clientLimiter{
		limit: rate.Limit(l.ClientRate), burst: l.ClientBurst, limitLoopback: l.LimitLoopback,
		maxClients: 100_000, now: time.Now, clients: map[string]*clientBucket{},
		overflow: rate.NewLimiter(rate.Limit(l.ClientRate), l.ClientBurst),
	}
}

func (l *clientLimiter) allow(ip net.IP) bool {
	if ip.IsLoopback() && !l.limitLoopback {
		return true
	}
	key := clientaddr.Key(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok {
		// Sweep at most every ten seconds, however full the table is.
		if len(l.clients) >= l.maxClients && now.Sub(l.swept) > 10*time.Second || now.Sub(l.swept) > time.Minute {
			for k, b := range l.clients {
				if now.Sub(b.seen) > clientIdle {
					delete(l.clients, k)
				}
			}
			l.swept = now
		}
		if len(l.clients) >= l.maxClients {
			return l.overflow.AllowN(now, 1)
		}
		b = &clientBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
