package main

import (
	"os"
	"testing"
)

// TestIsGoRunCmdline: the parent's /proc command line, as go run and
// others leave it, decides whether the gateway watches its parent.
func TestIsGoRunCmdline(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want bool
	}{
		{[]string{"go", "run", "./cmd/gateway", "-demo"}, true},
		{[]string{"/usr/local/go/bin/go", "run", "."}, true},
		{[]string{"go1.26.0", "run", "./cmd/gateway"}, true},
		{[]string{"go", "run"}, true},
		{[]string{"go", "test", "./..."}, false},
		{[]string{"go", "build", "run"}, false},
		{[]string{"bash", "-c", "go run ./cmd/gateway"}, false},
		{[]string{"-bash"}, false},
		{[]string{"/usr/bin/gorun", "run"}, false},
		{[]string{"systemd"}, false},
		{nil, false},
	} {
		if got := isGoRunCmdline(c.argv); got != c.want {
			t.Errorf("isGoRunCmdline(%q) = %v, want %v", c.argv, got, c.want)
		}
	}
}

// TestBuiltByGoRun: the path fallback (no /proc) knows both places go run
// leaves its binary: a temporary go-build directory, and, from Go 1.24 on,
// the build cache (where Go 1.26 runs a repeated go run from).
func TestBuiltByGoRun(t *testing.T) {
	const hash = "daed47922d6669e128ee8a1b858a184781cc54bb058a986b22774a296b1e4768"
	for _, c := range []struct {
		exe  string
		want bool
	}{
		{"/tmp/go-build589930603/b001/exe/gateway", true},
		{"/home/me/.cache/go-build/tmp/go-build123/b001/exe/gateway", true},
		{"/root/.cache/go-build/da/" + hash + "-d/gateway", true},
		{"/Users/me/Library/Caches/go-build/da/" + hash + "-d/gateway", true},
		{"/root/.cache/go-build/db/" + hash + "-d/gateway", false}, // shard is the hash's first two digits
		{"/root/.cache/go-build/da/" + hash[:60] + "-d/gateway", false},
		{"/usr/local/bin/gateway", false},
		{"/work/gateway/exe/gateway", false},
		{"/tmp/go-build589930603/b001/gateway.test", false},
	} {
		if got := builtByGoRun(c.exe); got != c.want {
			t.Errorf("builtByGoRun(%q) = %v, want %v", c.exe, got, c.want)
		}
	}
}

// TestParentIsGoRunUnderGoTest: this test binary's parent is `go test`,
// not go run.
func TestParentIsGoRunUnderGoTest(t *testing.T) {
	if parentIsGoRun(os.Getppid()) {
		b, _ := os.ReadFile("/proc/self/cmdline")
		t.Errorf("parentIsGoRun says go run for the parent of %q", b)
	}
}
