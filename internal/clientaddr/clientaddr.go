// Package clientaddr names the client a request's address stands for: an
// IPv4 address, or an IPv6 /64 (one subscriber's network, which a client
// can hop around in at will). The per-client rate limit and the bound on
// failed staff sign-ins count by it.
package clientaddr

import "net"

// Key names the bucket of an address.
func Key(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return string(v4)
	}
	if len(ip) == net.IPv6len {
		return string(ip[:8])
	}
	return string(ip)
}
