package gateway

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/config"
)

// corsExpose are the response headers a browser script may read.
const corsExpose = "X-Cache,Age,ETag,X-Request-Id,Retry-After"

// corsHeaders gives every answer the same CORS headers, whether or not the
// request had an Origin: a shared cache in front keys on the URL, so an
// answer first cached for a client without Origin must still work for a
// browser (the cors middleware alone sets them only when Origin is there,
// without Vary: Origin). Origins are not restricted (AllowOrigins "*",
// no credentials), so the headers are the same for every request and no
// Vary is needed. They are set after the handler, so a handler that
// resets its response keeps them. Staff routes send none (staff.go).
func (s *Server) corsHeaders(c *fiber.Ctx) {
	if s.routes.staffAnswer(c) {
		return
	}
	h := &c.Response().Header
	h.SetCanonical(hdrAllowOrigin, valAnyOrigin)
	if c.Method() != fiber.MethodOptions {
		h.SetCanonical(hdrExposeHeaders, valCORSExpose)
	}
}

// edgeHost applies RFC 9112 3.2.2: for an absolute-form target
// (GET http://host/path) the target's authority is the request's host and
// a Host header is ignored; the edge guard has checked the form already.
// Behind a trusted proxy, the proxy's X-Forwarded-Host is the host.
func (s *Server) edgeHost(c *fiber.Ctx) {
	// The header's raw target: Request.RequestURI would rewrite it to the
	// path and re-parse the URI with the Host header, losing the target's
	// authority.
	if uri := c.Request().Header.RequestURI(); len(uri) > 0 && uri[0] != '/' && uri[0] != '*' {
		c.Request().Header.SetHostBytes(c.Request().URI().Host())
	}
	s.forwardedHost(c) // a trusted proxy's X-Forwarded-Host (door.go)
}

// explainAddr is the host and port explain describes: GATEWAY_PUBLIC_URL's
// when set (validated at start), else the request's (requestOrigin).
func explainAddr(c *fiber.Ctx, publicURL string) (string, int) {
	if publicURL != "" {
		if a, err := config.ParsePublicURL(publicURL); err == nil {
			return a.Host, a.Port
		}
	}
	o := requestOrigin(c)
	if o.host == "" {
		o.host = "localhost"
	}
	return o.host, o.port
}

// publicBase is the gateway's own base URL for links (OpenSearch, next
// pages): GATEWAY_PUBLIC_URL when set, else built from the request's
// scheme and Host. fromHost reports the latter, in which case the answer
// depends on Host and must say so (see explainCacheHeaders).
func (s *Server) publicBase(c *fiber.Ctx) (base string, fromHost bool) {
	if s.cfg.PublicURL != "" {
		if a, err := config.ParsePublicURL(s.cfg.PublicURL); err == nil {
			b := a.Scheme + "://" + bracketIPv6(a.Host)
			if a.Scheme == "http" && a.Port != 80 || a.Scheme == "https" && a.Port != 443 {
				b += ":" + strconv.Itoa(a.Port)
			}
			return b + a.Path, false
		}
	}
	return requestOrigin(c).base(), true
}

// bracketIPv6 puts an IPv6 literal in brackets for a URL (hostPort and
// url.Hostname take them off).
func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// explainCacheHeaders marks explain truthfully: it is built for each
// request, so X-Cache is MISS. Built from GATEWAY_PUBLIC_URL it is the
// same for everyone and public; built from the client's Host it is only
// the client's (private, Vary: Host), so a shared cache in front cannot be
// made to serve one client's Host to all.
func explainCacheHeaders(c *fiber.Ctx, publicURL string) {
	c.Set("X-Cache", "MISS")
	if publicURL != "" {
		c.Set("Cache-Control", "public, max-age=300")
		return
	}
	c.Set("Cache-Control", "private, max-age=300")
	c.Vary("Host")
}
