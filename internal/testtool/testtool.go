// Package testtool finds the external programs some tests run (xmllint,
// zoomsh, redis-server…). In the integration build (-tags integration) a
// missing program fails the test: CI installs them, so a missing one is a
// broken install step, never a silent skip. In the plain unit-test build,
// which must pass on a machine with only Go, the test is skipped with a
// message naming the package to install.
package testtool

import (
	"os/exec"
	"testing"
)

// Require returns the path of program, or stops the test when it is not
// installed: Fatal in the integration build, Skip otherwise. pkg names the
// Debian package that provides it.
func Require(t testing.TB, program, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if Strict {
		t.Fatalf("%s is not installed (Debian package %s; scripts/install-tools.sh installs it): %v", program, pkg, err)
	}
	t.Skipf("%s is not installed (Debian package %s); the integration build requires it", program, pkg)
	return ""
}
