package gateway

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageSeams holds DESIGN.md's layering in one place: the library
// packages know nothing of Fiber nor of each other, and the simulator knows
// nothing of the gateway's packages (so it stays a faithful stand-in for
// Alma rather than an echo of the gateway's own code).
func TestPackageSeams(t *testing.T) {
	const mod = "github.com/almanet/gateway/"
	for _, c := range []struct {
		pkg     string
		allowed []string // project packages it may import
	}{
		{"sru", nil},
		{"transform", nil},
		{"alma", nil},
		{"cache", nil},
		{"budget", nil},
		{"almasim", nil},
	} {
		t.Run(c.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "../"+c.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				switch {
				case strings.HasPrefix(dep, "github.com/gofiber/"), strings.HasPrefix(dep, "github.com/valyala/fasthttp"):
					t.Errorf("%s depends on %s (Fiber stays in gateway/)", c.pkg, dep)
				case strings.HasPrefix(dep, mod+"internal/"):
					// shared leaf helpers (xmlchar) are fine
				case strings.HasPrefix(dep, mod) && dep != mod+c.pkg && !strings.HasPrefix(dep, mod+c.pkg+"/"):
					t.Errorf("%s depends on %s", c.pkg, dep)
				}
			}
		})
	}
}
