// Command soak is a bounded load-and-fault soak of the gateway (issue 7).
//
// It starts a simulated Alma network in its own process, starts the gateway
// binary (-gateway, built by scripts/soak.sh) as a child process pointed at
// it, and for a fixed duration drives many clients through a spread of
// requests (JSON and SRU searches, popular and rare so that some hit the
// cache and some miss, and single records with live availability) while it
// injects Alma's failures one phase after another: slow past the deadline,
// HTTP 500, 429 with Retry-After, malformed XML, truncated bodies, hangs,
// connection resets, then recovery. It reports answers by kind and latency
// percentiles per phase, what Alma received, and the gateway's goroutines
// and memory (from its /metrics) after warm-up and at the end, then stops
// the gateway with SIGTERM. Everything runs on loopback and stops by itself.
//
//	soak -gateway ./bin/gateway -duration 90s -clients 64
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}
