package alma

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds the package seams of DESIGN.md: alma knows
// nothing of Fiber, nor of the gateway's other packages.
func TestDependencies(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(gotool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "gofiber") || strings.HasPrefix(dep, "github.com/almanet/gateway/") && dep != "github.com/almanet/gateway/alma" {
			t.Errorf("alma depends on %s", dep)
		}
	}
}
