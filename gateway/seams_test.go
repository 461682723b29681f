package gateway

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackageSeams holds DESIGN.md's layering in one place: the library
// packages know nothing of Fiber nor of each other except the few they
// build on (z3950 answers through sru's CQL and transform's records;
// federate and daia read transform's records), and the simulator knows
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
		{"z3950", []string{"sru", "transform"}},
		{"federate", []string{"transform"}},
		{"daia", []string{"transform"}},
		{"config", []string{"sru", "transform", "z3950"}},
		{"upstream", []string{"alma", "budget", "config", "sru", "transform", "z3950"}},
		{"idempotency", nil},
		{"staff", []string{"alma", "budget", "cache", "config", "sru", "transform", "upstream", "z3950"}},
		{"search", []string{"alma", "budget", "config", "federate", "sru", "transform", "upstream", "z3950"}},
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
				case strings.HasPrefix(dep, mod) && dep != mod+c.pkg && !strings.HasPrefix(dep, mod+c.pkg+"/") &&
					!slices.Contains(c.allowed, strings.TrimPrefix(dep, mod)):
					t.Errorf("%s depends on %s (allowed: %v)", c.pkg, dep, c.allowed)
				}
			}
		})
	}
}
