package cache

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds DESIGN.md's seam: cache knows nothing of Fiber nor
// of the gateway's other packages.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/gofiber/") || strings.HasPrefix(dep, "github.com/valyala/fasthttp") ||
			(strings.HasPrefix(dep, "github.com/almanet/gateway/") && dep != "github.com/almanet/gateway/cache") {
			t.Errorf("cache depends on %s", dep)
		}
	}
}
