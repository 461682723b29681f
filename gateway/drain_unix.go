//go:build unix

package gateway

import (
	"net"
	"syscall"
)

// socketPending reports that bytes wait in c's socket, without reading
// them (a non-blocking peek; it takes no read lock, so it is safe beside
// a blocked Read).
func socketPending(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n > 0
}
