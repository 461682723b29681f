package gateway

import (
	"bytes"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// This file is staff access (SPEC 11): who may use the staff routes
// (/dashboard, /v1/status, /admin/*) and how they prove it. A request is a
// staff member's when it carries
//   - a bearer token: the admin token or a staff token (compared in
//     constant time against every configured token), or
//   - the session cookie the sign-in form set (session.go), or
//   - nothing at all, from a loopback client, while no token is configured
//     (the single-machine setup: loopback acts as admin).
// Tokens never travel in a URL. Failed token checks are bounded per client
// address (attempts below). Staff routes send no CORS headers, so no other
// origin's page can read them from a staff member's browser.

// staffAuth holds the configured principals and their sessions.
type staffAuth struct {
	admin    string // the admin token; empty: none
	staff    []StaffEntry
	sessions *sessions
	attempts *attempts
}

func newStaffAuth(cfg Config, now func() time.Time, e *epochs) *staffAuth {
	return &staffAuth{
		admin: cfg.AdminToken,
		staff: cfg.Staff,
		sessions: &sessions{
			key: newSessionKey(cfg.SessionKey), lifetime: cfg.Dashboard.SessionLifetime.D(), now: now, epochs: e,
		},
		attempts: newAttempts(now),
	}
}

// open reports whether no token is configured at all.
func (a *staffAuth) open() bool { return a.admin == "" && len(a.staff) == 0 }

// byToken returns the principal a token belongs to. Every configured token
// is compared, in constant time each, so the time taken tells nothing about
// which (if any) matched.
func (a *staffAuth) byToken(tok string) (Principal, string, bool) {
	var p Principal
	var want string
	found := false
	check := func(candidate string) bool { return tokenEqual(tok, candidate) }
	if check(a.admin) {
		p, want, found = Principal{Name: "admin", Admin: true}, a.admin, true
	}
	for _, st := range a.staff {
		if check(st.Token) && !found {
			p, want, found = staffPrincipal(st), st.Token, true
		}
	}
	return p, want, found
}

// byName returns the principal called name and its current token.
func (a *staffAuth) byName(name string) (Principal, string, bool) {
	if name == "admin" {
		return Principal{Name: "admin", Admin: true}, a.admin, a.admin != ""
	}
	for _, st := range a.staff {
		if st.Name == name {
			return staffPrincipal(st), st.Token, true
		}
	}
	return Principal{}, "", false
}

func staffPrincipal(st StaffEntry) Principal {
	inst := st.Institution
	if inst == "*" {
		inst = ""
	}
	return Principal{Name: st.Name, Institution: inst}
}

// authResult is what authenticate found.
type authResult int

const (
	authNone        authResult = iota // no credentials presented
	authOK                            // a principal
	authBad                           // a wrong token, or a cookie no longer valid
	authLocked                        // too many failed attempts from this client
	authRemote                        // no token configured and the client is not loopback
	authForeignHost                   // no token configured and the Host is not the gateway's own
)

// bearerToken reads an Authorization field of the Bearer scheme, whose
// name is case-insensitive (RFC 9110 11.1; RFC 6750 2.1).
func bearerToken(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authenticate finds the request's principal. viaCookie reports that
// something a browser sends by itself proved it (the session cookie, or
// being on loopback with no token configured), not a bearer token: such a
// request must pass the Origin check before it may change anything.
func (s *Server) authenticate(c *fiber.Ctx) (p Principal, res authResult, viaCookie bool, retry time.Duration) {
	a := s.staff
	ip := s.clientIP(c)
	if a.open() {
		// No token configured: credentials mean nothing; loopback is admin,
		// under the gateway's own host names only (DNS rebinding, door.go).
		switch {
		case !ip.IsLoopback():
			return Principal{}, authRemote, false, 0
		case !s.ownHost(c):
			return Principal{}, authForeignHost, false, 0
		}
		return Principal{Name: "admin", Admin: true}, authOK, true, 0
	}
	if tok, ok := bearerToken(c.Get(fiber.HeaderAuthorization)); ok {
		if wait := a.attempts.blocked(ip); wait > 0 {
			return Principal{}, authLocked, false, wait
		}
		if p, _, ok := a.byToken(tok); ok {
			a.attempts.succeeded(ip)
			return p, authOK, false, 0
		}
		a.attempts.failed(ip)
		return Principal{}, authBad, false, 0
	}
	if v := c.Cookies(sessionCookie); v != "" {
		sess, err := a.sessions.parse(v)
		if err == nil {
			if p, tok, ok := a.byName(sess.Name); ok && a.sessions.verify(c.UserContext(), sess, tok) == nil {
				return p, authOK, true, 0
			}
		}
		return Principal{}, authBad, false, 0
	}
	return Principal{}, authNone, false, 0
}

// staffOnly guards the staff routes and stores the request's Principal
// under principalKey for the handlers (principal.go).
func (s *Server) staffOnly(c *fiber.Ctx) error {
	p, res, viaCookie, retry := s.authenticate(c)
	switch res {
	case authOK:
		if viaCookie && c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead && !s.sameOrigin(c) {
			return s.refuse(c, refused(http.StatusForbidden, "a signed-in request that changes something must come from this gateway's own pages (Origin check)"))
		}
		c.Locals(principalKey, p)
		return c.Next()
	case authRemote:
		return s.refuse(c, refused(http.StatusForbidden, "staff endpoints are served to loopback clients only while neither GATEWAY_ADMIN_TOKEN nor staff tokens are set"))
	case authForeignHost:
		return s.refuse(c, refused(http.StatusForbidden, foreignHostMessage))
	case authLocked:
		e := refused(http.StatusTooManyRequests, "too many failed sign-in attempts from this address; try again later")
		e.retryAfter = retry
		return s.refuse(c, e)
	}
	if wantsHTML(c) {
		return s.signInPage(c, http.StatusUnauthorized, "Please sign in.")
	}
	c.Set("WWW-Authenticate", `Bearer realm="gateway"`)
	return s.refuse(c, refused(http.StatusUnauthorized, "a valid bearer token or staff session is required"))
}

// wantsHTML reports a browser navigating (Accept prefers text/html).
func wantsHTML(c *fiber.Ctx) bool {
	return strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

// foreignHostMessage is the refusal of a staff request under another host
// name in open mode.
const foreignHostMessage = "with no token configured, staff endpoints answer only under the host localhost, 127.0.0.1 or [::1], or GATEWAY_PUBLIC_URL's host (a page under another name that resolves to this machine must not act as admin)"

// secureRequest reports whether the request came over TLS, directly or by
// a trusted proxy that says so (door.go). The cookie is then marked Secure.
func secureRequest(c *fiber.Ctx) bool {
	return requestOrigin(c).scheme == "https"
}

// handleSignIn serves POST /dashboard/sign-in: the form's token, checked in
// constant time, bounded per client, sets the session cookie.
func (s *Server) handleSignIn() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		if !s.sameOrigin(c) {
			return s.signInPage(c, http.StatusForbidden, "This sign-in did not come from this gateway's own page.")
		}
		ip := s.clientIP(c)
		if wait := s.staff.attempts.blocked(ip); wait > 0 {
			setRetryAfter(&c.Response().Header, wait)
			return s.signInPage(c, http.StatusTooManyRequests, "Too many failed attempts from this address. Try again in "+strconv.Itoa(retryAfterSeconds(wait))+" s.")
		}
		if s.staff.open() {
			return s.signInPage(c, http.StatusBadRequest, "No token is configured on this gateway: open the dashboard from the gateway's own machine (loopback).")
		}
		tok := strings.TrimSpace(signInToken(c))
		p, want, ok := s.staff.byToken(tok)
		if !ok {
			s.staff.attempts.failed(ip)
			s.log.Warn("staff sign-in failed", "client", ip.String())
			return s.signInPage(c, http.StatusUnauthorized, "That token is not valid.")
		}
		s.staff.attempts.succeeded(ip)
		v, exp := s.staff.sessions.issue(c.UserContext(), p.Name, want)
		c.Cookie(&fiber.Cookie{
			Name: sessionCookie, Value: v, Path: "/", Expires: exp, MaxAge: int(s.staff.sessions.lifetime.Seconds()),
			HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: secureRequest(c),
		})
		s.log.Info("staff signed in", "staff", p.Name, "institution", p.Institution)
		return c.Redirect("/dashboard", http.StatusSeeOther)
	}
}

// signInToken is the sign-in form's token, from the request body only (a
// urlencoded or multipart form): a token in the URL (?token=) would be
// kept in logs, history and Referer, so it is never read.
func signInToken(c *fiber.Ctx) string {
	if v := c.Request().PostArgs().Peek("token"); len(v) > 0 {
		return string(v)
	}
	if f, err := c.Request().MultipartForm(); err == nil {
		if vs := f.Value["token"]; len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// handleSignOut serves POST /dashboard/sign-out: it ends every session of
// the principal, here and on every replica sharing Redis, and clears the
// cookie.
func (s *Server) handleSignOut() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		p, _ := principalOf(c)
		if !s.staff.open() {
			s.staff.sessions.epochs.bump(c.UserContext(), p.Name)
		}
		c.Cookie(&fiber.Cookie{
			Name: sessionCookie, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
			HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: secureRequest(c),
		})
		s.log.Info("staff signed out", "staff", p.Name)
		return c.Redirect("/dashboard", http.StatusSeeOther)
	}
}

// handleDashboard serves GET /dashboard: the page for a signed-in staff
// member (or loopback with no token configured), else the sign-in form.
func (s *Server) handleDashboard() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		p, res, _, _ := s.authenticate(c)
		switch res {
		case authOK:
			return s.dashboardPage(c, p)
		case authRemote:
			return s.signInPage(c, http.StatusForbidden, "No token is configured on this gateway: the dashboard is served to its own machine (loopback) only.")
		case authForeignHost:
			return s.signInPage(c, http.StatusForbidden, "No token is configured on this gateway: open the dashboard as http://localhost (or 127.0.0.1, [::1]) or under GATEWAY_PUBLIC_URL.")
		case authBad:
			return s.signInPage(c, http.StatusUnauthorized, "Your session has ended. Please sign in again.")
		}
		return s.signInPage(c, http.StatusUnauthorized, "")
	}
}

func setPageHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Cache-Control", "no-store")
	c.Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; img-src 'self' data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin") // no-referrer would make Chromium send "Origin: null" with the form posts
}

// signInPage answers with the sign-in form and a message.
func (s *Server) signInPage(c *fiber.Ctx, status int, msg string) error {
	setPageHeaders(c)
	var b bytes.Buffer
	if err := signInTemplate.Execute(&b, struct{ Message string }{msg}); err != nil {
		return err
	}
	return c.Status(status).Send(b.Bytes())
}

var signInTemplate = template.Must(template.New("signin").Parse(signInHTML))

// attempts bounds failed token checks per client address (an IPv4 address
// or an IPv6 /64, as the rate limiter keys them): after freeAttempts
// failures, each further one doubles the wait before the next is heard, up
// to maxBackoff. A success or failureMemory of quiet forgets the client.
// The table is bounded; when it is full, unknown clients share one entry,
// so a flood of addresses cannot grow memory or escape the bound.
type attempts struct {
	now func() time.Time
	mu  sync.Mutex // guards by
	by  map[string]*attempt
}

type attempt struct {
	fails int
	last  time.Time
	until time.Time
}

const (
	freeAttempts  = 10
	maxBackoff    = 15 * time.Minute
	failureMemory = time.Hour
	maxAttempters = 10_000
)

func newAttempts(now func() time.Time) *attempts {
	return &attempts{now: now, by: map[string]*attempt{}}
}

func (a *attempts) entry(ip net.IP, create bool) *attempt {
	k := clientKey(ip)
	e, ok := a.by[k]
	if ok && a.now().Sub(e.last) > failureMemory {
		delete(a.by, k)
		e, ok = nil, false
	}
	if ok || !create {
		return e
	}
	if len(a.by) >= maxAttempters {
		now := a.now()
		for k, e := range a.by {
			if now.Sub(e.last) > failureMemory {
				delete(a.by, k)
			}
		}
		if len(a.by) >= maxAttempters {
			k = "overflow"
			if e, ok := a.by[k]; ok {
				return e
			}
		}
	}
	e = &attempt{}
	a.by[k] = e
	return e
}

// blocked returns how long the client must wait before its next attempt.
func (a *attempts) blocked(ip net.IP) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(ip, false)
	if e == nil {
		return 0
	}
	return max(0, e.until.Sub(a.now()))
}

func (a *attempts) failed(ip net.IP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(ip, true)
	now := a.now()
	e.fails++
	e.last = now
	if n := e.fails - freeAttempts; n >= 0 {
		wait := maxBackoff
		if n < 20 {
			wait = min(maxBackoff, time.Second<<n)
		}
		e.until = now.Add(wait)
	}
}

func (a *attempts) succeeded(ip net.IP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.by, clientKey(ip))
}

// initStaff sets up staff access and the dashboard's history.
func (s *Server) initStaff() {
	var e *epochs
	if s.redis != nil {
		e = newEpochs(s.redis.Client())
	} else {
		e = newEpochs(nil)
	}
	s.staff = newStaffAuth(s.cfg, s.now, e)
	s.history = newHistory(s, s.cfg.Dashboard.HistoryInterval.D())
}
