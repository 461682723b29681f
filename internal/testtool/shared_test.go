package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

// TestModuleRootLooksUpwards: the nearest go.mod above the working
// directory names the root; with none, "." comes back.
func TestModuleRootLooksUpwards(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	if got := ModuleRoot(); got != root {
		t.Errorf("ModuleRoot() = %q, want %q", got, root)
	}
	t.Chdir(t.TempDir())
	if got := ModuleRoot(); got != "." {
		t.Errorf("ModuleRoot() with no go.mod = %q, want \".\"", got)
	}
}

// TestSchemaDirInRepository: the schemas the tests use are inside the
// repository (a fresh clone has nothing beside it), with their sources.
func TestSchemaDirInRepository(t *testing.T) {
	dir := SchemaDir()
	root := ModuleRoot()
	if rel, err := filepath.Rel(root, dir); err != nil || rel != filepath.Join("testdata", "schemas") {
		t.Fatalf("SchemaDir() = %q, not testdata/schemas under the module root %q", dir, root)
	}
	for _, f := range []string{"SOURCES.md", "MARC21slim.xsd", "sru-2.0/sruResponse.xsd", "sru-2.0/explain.xsd",
		"sru-2.0/diagnostic.xsd", "sru-2.0/xcql.xsd", "sru-2.0/scan.xsd", "sru-2.0/facetedResults.xsd",
		"sru-2.0/searchResultAnalysis.xsd", "sru-2.0/sruRequest.xsd"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("vendored schema missing: %v", err)
		}
	}
}
