package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/almanet/gateway/internal/hostname"
)

// EdgeLimits bound the HTTP edge: connections and their buffers. They are
// YAML keys of the limits section.
type EdgeLimits struct {
	// MaxConnections caps open client connections (GATEWAY_MAX_CONNECTIONS);
	// one over the cap is answered 503 with Retry-After and closed. Zero
	// means 4096; a negative value means no cap.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a keep-alive connection idle this long
	// (GATEWAY_IDLE_TIMEOUT). Zero means 30s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ReadBufferBytes is each connection's read buffer, which also bounds
	// a request head (request line and headers; larger is 431). Zero means
	// 16 KiB; it must hold limits.max_url_bytes plus 1 KiB of headers.
	ReadBufferBytes int `yaml:"read_buffer_bytes"`
	// WriteBufferBytes is each connection's write buffer: an answer whose
	// head and body fit in it goes out in one write system call, a larger
	// one in several (a cached page of 10 records, JSON or MARCXML, fits
	// the default). A connection keeps it while it is open. Zero means 32
	// KiB; at least 4 KiB, at most 1 MiB.
	WriteBufferBytes int `yaml:"write_buffer_bytes"`
	// MaxConnectionsPerClient caps the open connections of one client
	// address (an IPv6 client by its /64); one over is answered 503 with
	// Retry-After and closed. Peers in limits.trusted_proxies are not
	// capped (they carry many clients), nor is loopback unless
	// limits.limit_loopback. Zero means 64; a negative value means no cap.
	MaxConnectionsPerClient int `yaml:"max_connections_per_client"`
	// HeaderTimeout bounds the arrival of a request head: from the
	// connection's start for its first request, from the head's first
	// byte for the next ones (the wait between them is IdleTimeout). A
	// head that has not arrived whole by then is answered 408 and the
	// connection closed. Zero means 10s.
	HeaderTimeout Duration `yaml:"header_timeout"`
}

func (l *EdgeLimits) applyDefaults() {
	if l.MaxConnections == 0 {
		l.MaxConnections = 4096
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = Duration(30 * time.Second)
	}
	if l.ReadBufferBytes == 0 {
		l.ReadBufferBytes = 16 << 10
	}
	if l.WriteBufferBytes == 0 {
		l.WriteBufferBytes = 32 << 10
	}
	if l.MaxConnectionsPerClient == 0 {
		l.MaxConnectionsPerClient = 64
	}
	if l.HeaderTimeout == 0 {
		l.HeaderTimeout = Duration(10 * time.Second)
	}
}

// applyEdgeEnv overlays GATEWAY_PUBLIC_URL, GATEWAY_MAX_CONNECTIONS and
// GATEWAY_IDLE_TIMEOUT.
func (c *Config) applyEdgeEnv(getenv func(string) string) error {
	if v := getenv("GATEWAY_PUBLIC_URL"); v != "" {
		c.PublicURL = v
	}
	if v := getenv("GATEWAY_MAX_CONNECTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: GATEWAY_MAX_CONNECTIONS=%q is not a whole number (negative: no cap)", v)
		}
		c.Limits.MaxConnections = n
	}
	if v := getenv("GATEWAY_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("config: GATEWAY_IDLE_TIMEOUT=%q is not a positive Go duration such as 30s", v)
		}
		c.Limits.IdleTimeout = Duration(d)
	}
	return nil
}

// validateEdge refuses a public URL or edge limit that cannot work.
func (c *Config) validateEdge() error {
	if c.PublicURL != "" {
		if _, err := ParsePublicURL(c.PublicURL); err != nil {
			return err
		}
	}
	switch {
	case c.Limits.ReadBufferBytes < c.Limits.MaxURLBytes+1<<10:
		return errors.New("config: limits.read_buffer_bytes must be at least limits.max_url_bytes plus 1024 (it holds the request head)")
	case c.Limits.ReadBufferBytes > 1<<20:
		return errors.New("config: limits.read_buffer_bytes must be at most 1 MiB")
	case c.Limits.WriteBufferBytes < 4<<10 || c.Limits.WriteBufferBytes > 1<<20:
		return errors.New("config: limits.write_buffer_bytes must be from 4096 to 1 MiB")
	}
	return nil
}

// PublicAddr is GATEWAY_PUBLIC_URL taken apart.
type PublicAddr struct {
	Scheme, Host string
	Port         int
	Path         string // without a trailing slash
}

// ParsePublicURL reads GATEWAY_PUBLIC_URL: an http(s) URL with a host, an
// optional port and path, nothing else.
func ParsePublicURL(raw string) (PublicAddr, error) {
	bad := func(why string) (PublicAddr, error) {
		return PublicAddr{}, fmt.Errorf("config: GATEWAY_PUBLIC_URL=%q %s", raw, why)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return bad("is not an http(s) URL with a host, such as https://search.example.org")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return bad("must not carry credentials, a query or a fragment")
	}
	if !hostname.Valid([]byte(u.Host)) {
		return bad("has an invalid host")
	}
	a := PublicAddr{Scheme: u.Scheme, Host: u.Hostname(), Path: strings.TrimSuffix(u.EscapedPath(), "/")}
	a.Port = 80
	if u.Scheme == "https" {
		a.Port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("has an invalid port")
		}
		a.Port = n
	}
	return a, nil
}

// TrustedProxies are the parsed limits.trusted_proxies.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads CIDRs; a bare address is its own /32 or /128.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var out TrustedProxies
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

// Contains reports whether a is one of the proxies.
func (tp TrustedProxies) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Trusts reports whether ip is one of the proxies.
func (tp TrustedProxies) Trusts(ip net.IP) bool {
	if len(tp) == 0 {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	return ok && tp.Contains(a)
}
