// Command almasim runs the simulated Alma network on its own, for benchmarks
// and for real SRU and REST clients: see almasim.Run for the flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/almanet/gateway/almasim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := almasim.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "almasim:", err)
		os.Exit(1)
	}
}
