// Package hostname checks and takes apart the host names a request carries
// (Host, X-Forwarded-Host, an absolute request target, GATEWAY_PUBLIC_URL):
// the edge, the door and the configuration apply the same rules.
package hostname

import (
	"bytes"
	"net/netip"
	"strings"

	"strconv"
)

// Valid accepts uri-host [":" port] (RFC 9110 7.2): a registered name
// of unreserved characters and percent escapes, an IPv4 address, or an IP
// literal in brackets; then an optional port of digits. Empty is refused:
// an http URI has a host.
func Valid(b []byte) bool {
	host, port := b, []byte(nil)
	if len(b) > 0 && b[0] == '[' {
		j := bytes.IndexByte(b, ']')
		if j < 0 {
			return false
		}
		for _, c := range b[1:j] {
			if unhex(c) < 0 && c != ':' && c != '.' {
				return false
			}
		}
		if j == 1 {
			return false
		}
		host, port = nil, b[j+1:]
		if len(port) > 0 {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else {
		if i := bytes.LastIndexByte(b, ':'); i >= 0 {
			host, port = b[:i], b[i+1:]
		}
		if len(host) == 0 || len(host) > 253 {
			return false
		}
		for _, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '%') {
				return false
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Split takes a Host value apart: the host in lower case (IPv6 without
// brackets) and the port, defaultPort when there is none. A value that is
// not a valid host gives "".
func Split(h string, defaultPort int) (string, int) {
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
	if host == "" || strings.IndexByte(host, ':') >= 0 || !Sane(host) {
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

// Sane accepts a host name (no brackets) of letters, digits, '-', '.' and
// ':' (IPv6), at most 253 bytes.
func Sane(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
