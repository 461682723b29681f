package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSchemaDirLooksUpwards: a shared/schemas two levels above the working
// directory is found, and with none the fallback comes back.
func TestSchemaDirLooksUpwards(t *testing.T) {
	root := t.TempDir()
	want := filepath.Join(root, "shared", "schemas")
	deep := filepath.Join(root, "wt", "infra", "sru")
	for _, d := range []string{want, deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(deep)
	if got := SchemaDir(); got != want {
		t.Errorf("SchemaDir() = %q, want %q", got, want)
	}
	bare := t.TempDir()
	t.Chdir(bare)
	if got := SchemaDir(); got != "../../shared/schemas" && filepath.Dir(filepath.Dir(got)) == bare {
		t.Errorf("SchemaDir() in %s = %q, want the fallback or one above it", bare, got)
	}
}
