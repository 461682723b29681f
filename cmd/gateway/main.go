// Command gateway runs the Alma network search gateway (SPEC section 2):
//
//	gateway [-config FILE] [-demo]        serve
//	gateway convert [-to json|marcxml|dc] [FILE]
//	gateway simulate [flags]              run the simulated Alma network alone
//	gateway healthcheck                   ask the running gateway for /healthz
//	gateway version                       print the version (also -version)
//	gateway help                          every subcommand and flag
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
	ctx = stopWithGoRun(ctx)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
