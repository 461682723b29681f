package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
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
// reparented. It watches only when its parent is `go run`, so a gateway
// started as `./gateway &` from a shell that then exits keeps running as it
// should.
func stopWithGoRun(ctx context.Context) context.Context {
	parent := os.Getppid()
	if !parentIsGoRun(parent) {
		return ctx
	}
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

// parentIsGoRun says whether process pid (the gateway's parent) is `go
// run`. Where /proc exists (Linux) the parent's command line says so;
// elsewhere the gateway's own path is the clue.
func parentIsGoRun(pid int) bool {
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		return isGoRunCmdline(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
	}
	exe, err := os.Executable()
	return err == nil && builtByGoRun(exe)
}

// isGoRunCmdline says whether argv is the go command's `run`: argv[0] is
// go (any path, or a versioned go1.N wrapper) and the subcommand, which
// the go command takes only as its first argument, is run.
func isGoRunCmdline(argv []string) bool {
	if len(argv) < 2 || argv[1] != "run" {
		return false
	}
	name := filepath.Base(argv[0])
	return name == "go" || strings.HasPrefix(name, "go1.")
}

// builtByGoRun says whether exe is a binary `go run` built: a temporary
// go-build…/b001/exe/NAME, or, since Go 1.24 caches those binaries, an
// entry of the build cache, GOCACHE/xx/<64 hex digits>-d/NAME.
func builtByGoRun(exe string) bool {
	dir := filepath.Dir(exe)
	if filepath.Base(dir) == "exe" && strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return true
	}
	entry, shard := filepath.Base(dir), filepath.Base(filepath.Dir(dir))
	hash, ok := strings.CutSuffix(entry, "-d")
	return ok && len(hash) == 64 && isHex(hash) && len(shard) == 2 && hash[:2] == shard
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
