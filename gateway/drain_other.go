//go:build !unix

package gateway

import "net"

// socketPending cannot peek here: a connection between requests is taken
// to hold none, so the drain ends it.
func socketPending(net.Conn) bool { return false }
