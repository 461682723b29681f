package gateway

import (
	"bytes"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/internal/hostname"
)

// This file is what the door believes about a request: who the client is
// (its address) and which origin it asked for (scheme, host and port).
// X-Forwarded-For, -Proto and -Host count only when the peer is one of
// limits.trusted_proxies (SPEC 16); from anyone else they are ignored, so
// that a client chooses neither its rate-limit bucket, nor the links of an
// answer a shared cache keeps for everyone, nor whether a cookie is Secure.
// Every part of the gateway that needs the client's address or the
// request's own origin asks here (clientIP, requestOrigin); Fiber's own
// Protocol and IP are set to believe the same peers (newApp).

// clientIP is the request's client address: the peer's, or, when the peer
// is a trusted proxy, the nearest address in X-Forwarded-For that is not a
// trusted proxy itself (read from the right: every proxy appends the
// address it got the request from, and only the trusted ones' entries are
// true). An entry that is not an address ends the walk at the last
// trusted hop.
func (s *Server) clientIP(c *fiber.Ctx) net.IP {
	peer := c.Context().RemoteIP()
	if !s.proxies.Trusts(peer) {
		return peer
	}
	fields := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	client := peer
	for i := len(fields) - 1; i >= 0; i-- {
		list := fields[i]
		for len(list) > 0 {
			var v []byte
			if j := bytes.LastIndexByte(list, ','); j >= 0 {
				v, list = list[j+1:], list[:j]
			} else {
				v, list = list, nil
			}
			a, ok := forwardedAddr(bytes.TrimSpace(v))
			if !ok {
				return client
			}
			client = net.IP(a.AsSlice())
			if !s.proxies.Contains(a) {
				return client
			}
		}
	}
	return client
}

// forwardedAddr reads one X-Forwarded-For entry: an address, an IPv6 one
// possibly in brackets, either possibly with a port.
func forwardedAddr(v []byte) (netip.Addr, bool) {
	s := string(v)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap(), err == nil
}

// origin is a scheme, host and port. host is lower case, an IPv6 literal
// without brackets; "" when the request named no valid host.
type origin struct {
	scheme string
	host   string
	port   int
}

// requestOrigin is the origin the client asked for: https when the
// connection is TLS or a trusted proxy's X-Forwarded-Proto says so (Fiber's
// Protocol, with its trusted-proxy check set from limits.trusted_proxies),
// and the host and port of Host, which the door has already set from an
// absolute-form target or a trusted proxy's X-Forwarded-Host
// (forwardedHost). It is the one reader of the request's host.
func requestOrigin(c *fiber.Ctx) origin {
	o := origin{scheme: "http", port: 80}
	if c.Protocol() == "https" {
		o.scheme, o.port = "https", 443
	}
	o.host, o.port = hostname.Split(string(c.Request().Host()), o.port)
	return o
}

// forwardedHost makes a trusted proxy's X-Forwarded-Host the request's
// Host, so that every reader of the host sees what the client asked the
// proxy for. From any other peer the header changes nothing.
func (s *Server) forwardedHost(c *fiber.Ctx) {
	if !s.proxies.Trusts(c.Context().RemoteIP()) {
		return
	}
	if h := firstListValue(c.Request().Header.Peek(fiber.HeaderXForwardedHost)); len(h) > 0 && hostname.Valid(h) {
		c.Request().Header.SetHostBytes(h)
		c.Request().URI().SetHostBytes(h)
	}
}

// firstListValue is the first element of a comma-separated field: the
// one the proxy nearest the client wrote.
func firstListValue(v []byte) []byte {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return bytes.TrimSpace(v)
}

// base is the origin as a URL base without a trailing slash: the default
// port left out; a request that named no valid host is localhost.
func (o origin) base() string {
	host := o.host
	if host == "" {
		host = "localhost"
	}
	b := o.scheme + "://" + bracketIPv6(host)
	if o.scheme == "http" && o.port != 80 || o.scheme == "https" && o.port != 443 {
		b += ":" + strconv.Itoa(o.port)
	}
	return b
}

// parseOrigin reads an Origin header (RFC 6454 7: scheme "://" host
// [":" port]); "null" and anything else give ok false.
func parseOrigin(v string) (origin, bool) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Path != "" && u.Path != "/" || u.User != nil || u.RawQuery != "" {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(u.Scheme)}
	switch o.scheme {
	case "http":
		o.port = 80
	case "https":
		o.port = 443
	default:
		return origin{}, false
	}
	o.host, o.port = hostname.Split(u.Host, o.port)
	if o.host == "" {
		return origin{}, false
	}
	return o, true
}

// publicOrigin is GATEWAY_PUBLIC_URL's origin, ok false when unset.
func (s *Server) publicOrigin() (origin, bool) {
	if s.cfg.PublicURL == "" {
		return origin{}, false
	}
	a, err := config.ParsePublicURL(s.cfg.PublicURL)
	if err != nil {
		return origin{}, false
	}
	return origin{scheme: a.Scheme, host: strings.ToLower(strings.Trim(a.Host, "[]")), port: a.Port}, true
}

// sameOrigin is the CSRF check of the form posts and of every changing
// request a browser's cookie (or, in open mode, loopback) authorizes, on
// top of SameSite=Strict: the Origin a browser sends with every POST must
// be this gateway's, by scheme, host and port (the request's own origin or
// GATEWAY_PUBLIC_URL's); without Origin, Sec-Fetch-Site must not say
// cross-site.
func (s *Server) sameOrigin(c *fiber.Ctx) bool {
	if v := c.Get(fiber.HeaderOrigin); v != "" {
		o, ok := parseOrigin(v)
		if !ok {
			return false
		}
		if o == requestOrigin(c) {
			return true
		}
		p, ok := s.publicOrigin()
		return ok && o == p
	}
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// ownHost reports whether the request names a host the gateway answers
// staff requests under in open mode (no token configured): localhost,
// 127.0.0.1 or [::1], on any port, or GATEWAY_PUBLIC_URL's host. Any other
// Host is a page that got its name resolved to this machine (DNS
// rebinding), whose script must not use loopback's admin rights.
func (s *Server) ownHost(c *fiber.Ctx) bool {
	o := requestOrigin(c)
	switch o.host {
	case "localhost", "127.0.0.1", "::1":
		return true
	case "":
		return false
	}
	p, ok := s.publicOrigin()
	return ok && o.host == p.host
}
