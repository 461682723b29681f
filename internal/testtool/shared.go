package testtool

import (
	"os"
	"path/filepath"
)

// ModuleRoot returns the directory holding the repository's go.mod, found
// by looking in the working directory (a package's directory under go
// test) and every directory above it. Not found, it returns "." and the
// caller's file lookups then fail with a path that says where they looked.
func ModuleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

// SchemaDir returns the directory of the XML schemas the tests validate
// against (SRU 2.0, ZeeRex explain, MARC21 slim): testdata/schemas at the
// module root, vendored with their sources (SOURCES.md there) so that the
// tests pass in a fresh clone with nothing beside the repository.
func SchemaDir() string {
	return filepath.Join(ModuleRoot(), "testdata", "schemas")
}
