package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/almanet/gateway/gateway"
)

// demoZ3950Addr is where -demo serves Z39.50 (SPEC 10).
const demoZ3950Addr = "127.0.0.1:9210"

// demoZ3950Env turns Z39.50 on at demoZ3950Addr unless the environment
// says otherwise.
func demoZ3950Env(getenv func(string) string) func(string) string {
	return func(k string) string {
		if v := getenv(k); v != "" || k != "GATEWAY_Z3950_ADDR" {
			return v
		}
		return demoZ3950Addr
	}
}

// startZ3950 listens on the configured Z39.50 address and serves it until
// ctx ends; wait returns once its sessions are drained. With the address
// empty it does nothing. In the demo a busy 9210 falls back to a free
// port (said on stdout), so two demos can run side by side.
func startZ3950(ctx context.Context, srv *gateway.Server, cfg gateway.Config, stdout io.Writer, log *slog.Logger, demo bool) (wait func(), err error) {
	addr := cfg.Z3950.Addr
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && demo && addr == demoZ3950Addr {
		fmt.Fprintf(stdout, "demo: %s is busy; Z39.50 on a free port instead\n", addr)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("z39.50: listen on %s: %v", addr, err)
	}
	shown := displayAddr(ln.Addr())
	fmt.Fprintf(stdout, "z39.50 listening on tcp:%s (databases %v)\n", shown, srv.Z3950Databases())
	if demo {
		fmt.Fprintf(stdout, "try Z39.50:\n  yaz-client tcp:%s/Default\n  (then: find @attr 1=4 history, show 1, format xml, elements marcxml, show 2)\n", shown)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeZ3950(ctx, ln); err != nil {
			log.Error("z39.50 server stopped", "error", err)
		}
	}()
	return func() { <-done }, nil
}
