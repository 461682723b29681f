package sru

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds DESIGN.md's seam: sru knows nothing of Fiber nor
// of the gateway's other packages.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/gofiber/", "github.com/valyala/fasthttp",
			"github.com/almanet/gateway/transform", "github.com/almanet/gateway/cache",
			"github.com/almanet/gateway/gateway", "github.com/almanet/gateway/alma"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("sru depends on %s", dep)
			}
		}
	}
}
