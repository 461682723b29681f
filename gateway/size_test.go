package gateway

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxStructFields is issue 19's bound on a gateway struct: a struct with
// more is several jobs in one and wants splitting by job.
const maxStructFields = 15

// structFieldsOver are the gateway's structs still over maxStructFields,
// with the count they may not grow past. The test fails when one of them
// comes down to the bound, so that the entry is removed.
var structFieldsOver = map[string]int{}

// TestGatewaySize holds issue 19's size of the HTTP door: no struct in
// gateway/ has more than 15 fields (a named one listed in structFieldsOver
// may not grow), and it reports the non-test lines (the goal is at most
// 6,000).
func TestGatewaySize(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	lines, seen := 0, map[string]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines += bytes.Count(src, []byte("\n"))
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		named := map[*ast.StructType]string{}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					named[st] = ts.Name.Name
				}
			}
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			fields := 0
			for _, fl := range st.Fields.List {
				fields += max(1, len(fl.Names)) // an embedded field is one
			}
			at := fset.Position(st.Pos())
			typeName, isNamed := named[st]
			if !isNamed {
				if fields > maxStructFields {
					t.Errorf("%s: an unnamed struct has %d fields (at most %d)", at, fields, maxStructFields)
				}
				return true
			}
			seen[typeName] = true
			switch allowed, listed := structFieldsOver[typeName]; {
			case listed && fields <= maxStructFields:
				t.Errorf("%s: %s has %d fields now: take it out of structFieldsOver", at, typeName, fields)
			case listed && fields > allowed:
				t.Errorf("%s: %s has %d fields, more than the %d it had (at most %d)", at, typeName, fields, allowed, maxStructFields)
			case !listed && fields > maxStructFields:
				t.Errorf("%s: %s has %d fields (at most %d): split it by job", at, typeName, fields, maxStructFields)
			}
			return true
		})
	}
	for name := range structFieldsOver {
		if !seen[name] {
			t.Errorf("structFieldsOver names %s, which gateway/ no longer declares: take it out", name)
		}
	}
	if lines == 0 {
		t.Fatal("no gateway source read")
	}
	t.Logf("gateway/: %d non-test lines (issue 19's goal: at most 6,000)", lines)
}
