package gateway

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/staff"
)

// This file is staff access (SPEC 11): who may use the staff routes
// (/dashboard, /v1/status, /admin/*) and how they prove it. A request is a
// staff member's when it carries
//   - a bearer token: the admin token or a staff token (compared in
//     constant time against every configured token), or
//   - the session cookie the sign-in form set (package staff), or
//   - nothing at all, from a loopback client, while no token is configured
//     (the single-machine setup: loopback acts as admin).
// Tokens never travel in a URL. Failed token checks are bounded per client
// address (attempts below). Staff routes send no CORS headers, so no other
// origin's page can read them from a staff member's browser.

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
	if a.Open() {
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
		if wait := a.Attempts.Blocked(ip); wait > 0 {
			return Principal{}, authLocked, false, wait
		}
		if p, _, ok := a.ByToken(tok); ok {
			a.Attempts.Succeeded(ip)
			return p, authOK, false, 0
		}
		a.Attempts.Failed(ip)
		return Principal{}, authBad, false, 0
	}
	if v := c.Cookies(staff.SessionCookie); v != "" {
		sess, err := a.Sessions.Parse(v)
		if err == nil {
			if p, tok, ok := a.ByName(sess.Name); ok && a.Sessions.Verify(c.UserContext(), sess, tok) == nil {
				return p, authOK, true, 0
			}
		}
		return Principal{}, authBad, false, 0
	}
	return Principal{}, authNone, false, 0
}

// staffOnly guards the staff routes and stores the request's Principal
// under principalKey for the handlers.
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
		if wait := s.staff.Attempts.Blocked(ip); wait > 0 {
			setRetryAfter(&c.Response().Header, wait)
			return s.signInPage(c, http.StatusTooManyRequests, "Too many failed attempts from this address. Try again in "+strconv.Itoa(retryAfterSeconds(wait))+" s.")
		}
		if s.staff.Open() {
			return s.signInPage(c, http.StatusBadRequest, "No token is configured on this gateway: open the dashboard from the gateway's own machine (loopback).")
		}
		tok := strings.TrimSpace(signInToken(c))
		p, want, ok := s.staff.ByToken(tok)
		if !ok {
			s.staff.Attempts.Failed(ip)
			s.log.Warn("staff sign-in failed", "client", ip.String())
			return s.signInPage(c, http.StatusUnauthorized, "That token is not valid.")
		}
		s.staff.Attempts.Succeeded(ip)
		v, exp := s.staff.Sessions.Issue(c.UserContext(), p.Name, want)
		c.Cookie(&fiber.Cookie{
			Name: staff.SessionCookie, Value: v, Path: "/", Expires: exp, MaxAge: int(s.staff.Sessions.Lifetime().Seconds()),
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
		if !s.staff.Open() {
			s.staff.Sessions.EndAll(c.UserContext(), p.Name)
		}
		c.Cookie(&fiber.Cookie{
			Name: staff.SessionCookie, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
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

// Principal is who a staff request acts as (package staff).
type Principal = staff.Principal

// principalKey is the fiber.Ctx Locals key under which the staff
// middleware stores the request's Principal.
const principalKey = "gateway.principal"

// principalOf returns the Principal the staff middleware authenticated for
// this request, and false on a route the middleware did not guard.
func principalOf(c *fiber.Ctx) (Principal, bool) {
	p, ok := c.Locals(principalKey).(Principal)
	return p, ok
}

// initStaff sets up staff access and the dashboard's history.
func (s *Server) initStaff() {
	var e *staff.Epochs
	if s.redis != nil {
		e = staff.NewEpochs(s.redis.Client())
	} else {
		e = staff.NewEpochs(nil)
	}
	s.staff = staff.NewAuth(s.cfg, s.now, e)
	s.history = staff.NewHistory(staff.HistorySources{
		Requests: s.userRequests, Cache: s.loader.Stats, Guards: s.guards, Now: s.now,
	}, s.cfg.Dashboard.HistoryInterval.D())
}
