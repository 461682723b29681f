package testtool

import (
	"os"
	"path/filepath"
)

// SchemaDir returns the directory of the shared XML schemas (SRU, MARC21
// slim, Dublin Core), which live in shared/schemas beside the repository
// rather than in it. It looks in every directory above the working
// directory (a package's directory under go test), so that it is found
// from a checkout at /work/main and from a worktree at /work/wt/NAME alike.
// Not found, it returns ../../shared/schemas, whose absence the caller
// then reports.
func SchemaDir() string {
	const fallback = "../../shared/schemas"
	dir, err := os.Getwd()
	if err != nil {
		return fallback
	}
	for {
		p := filepath.Join(dir, "shared", "schemas")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fallback
		}
		dir = parent
	}
}
