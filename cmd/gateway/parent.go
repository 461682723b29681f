package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// stopWithGoRun ends ctx when the gateway was started by `go run` and that
// parent goes away.
//
// `go run` ignores SIGINT and SIGQUIT so that the program gets them (a
// terminal's Ctrl-C reaches both, and the gateway stops cleanly), but it
// does not forward SIGTERM or SIGHUP: `kill <go run's pid>`, a supervisor's
// stop or a closed terminal ends go run and leaves the compiled gateway
// running on the port (issue 15). The gateway cannot catch a signal sent to
// another process; it can notice that its parent is gone, since it is then
// reparented. It watches only when its executable lies in go's build cache
// directory (go-build…/…/exe/), so a gateway started as `./gateway &`
// from a shell that then exits keeps running as it should.
func stopWithGoRun(ctx context.Context) context.Context {
	exe, err := os.Executable()
	if err != nil || !startedByGoRun(exe) {
		return ctx
	}
	parent := os.Getppid()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != parent {
					os.Stderr.WriteString("gateway: `go run` exited; stopping\n")
					return
				}
			}
		}
	}()
	return ctx
}

// startedByGoRun says whether exe is a binary `go run` built: it lives in
// a temporary go-build directory, in a directory named exe.
func startedByGoRun(exe string) bool {
	dir := filepath.Dir(exe)
	return filepath.Base(dir) == "exe" && strings.Contains(filepath.ToSlash(exe), "/go-build")
}
