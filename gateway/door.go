package gateway

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
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

// trustedProxies are the parsed limits.trusted_proxies.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads CIDRs; a bare address is its own /32 or /128.
func parseTrustedProxies(list []string) (trustedProxies, error) {
	var out trustedProxies
	for i, v := range list {
		v = strings.TrimSpace(v)
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("config: limits.trusted_proxies[%d] %q is not a CIDR (such as 10.0.0.0/8) or an address", i, v)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (tp trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (tp trustedProxies) trusts(ip net.IP) bool {
	if len(tp) == 0 {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	return ok && tp.contains(a)
}

// clientIP is the request's client address: the peer's, or, when the peer
// is a trusted proxy, the nearest address in X-Forwarded-For that is not a
// trusted proxy itself (read from the right: every proxy appends the
// address it got the request from, and only the trusted ones' entries are
// true). An entry that is not an address ends the walk at the last
// trusted hop.
func (s *Server) clientIP(c *fiber.Ctx) net.IP {
	peer := c.Context().RemoteIP()
	if !s.proxies.trusts(peer) {
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
			if !s.proxies.contains(a) {
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
	o.host, o.port = splitHost(string(c.Request().Host()), o.port)
	return o
}

// forwardedHost makes a trusted proxy's X-Forwarded-Host the request's
// Host, so that every reader of the host sees what the client asked the
// proxy for. From any other peer the header changes nothing.
func (s *Server) forwardedHost(c *fiber.Ctx) {
	if !s.proxies.trusts(c.Context().RemoteIP()) {
		return
	}
	if h := firstListValue(c.Request().Header.Peek(fiber.HeaderXForwardedHost)); len(h) > 0 && validHost(h) {
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

// splitHost takes a Host value apart: the host in lower case (IPv6 without
// brackets) and the port, defaultPort when there is none. A value that is
// not a valid host gives "".
func splitHost(h string, defaultPort int) (string, int) {
	host, port := h, defaultPort
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", defaultPort
		}
		host = h[1:end]
		rest := h[end+1:]
		if rest != "" {
			p, ok := portNumber(strings.TrimPrefix(rest, ":"))
			if !ok || rest[0] != ':' {
				return "", defaultPort
			}
			port = p
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", defaultPort
		}
		return strings.ToLower(host), port
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		p, ok := portNumber(h[i+1:])
		if !ok {
			return "", defaultPort
		}
		host, port = h[:i], p
	}
	if host == "" || strings.IndexByte(host, ':') >= 0 || !saneHost(host) {
		return "", defaultPort
	}
	return strings.ToLower(host), port
}

func portNumber(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, _ := strconv.Atoi(s)
	return n, n > 0 && n < 65536
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
	o.host, o.port = splitHost(u.Host, o.port)
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
	a, err := parsePublicURL(s.cfg.PublicURL)
	if err != nil {
		return origin{}, false
	}
	return origin{scheme: a.scheme, host: strings.ToLower(strings.Trim(a.host, "[]")), port: a.port}, true
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
