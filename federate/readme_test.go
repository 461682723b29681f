package federate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEMergeRules holds the README's merge rules to the code's lists:
// the conjunctions a work key leaves out and the languages whose articles
// it knows, each named there as the code has them.
func TestREADMEMergeRules(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## How federated records are merged")
	if i < 0 {
		t.Fatal("README.md has no section \"How federated records are merged\"")
	}
	doc = doc[i:]
	if j := strings.Index(doc[3:], "\n## "); j >= 0 {
		doc = doc[:j+3]
	}
	list := func(after string) []string {
		t.Helper()
		k := strings.Index(doc, after+" (")
		if k < 0 {
			t.Fatalf("the README's merge rules do not list %s", after)
		}
		rest := doc[k+len(after)+2:]
		var out []string
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(rest[:strings.Index(rest, ")")], -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	want := append([]string{"&"}, switchCases(t, "isConjunction", "")...)
	slices.Sort(want)
	if got := list("the conjunctions"); !slices.Equal(got, want) {
		t.Errorf("README's conjunctions %q, the code's %q", got, want)
	}
	want = switchCases(t, "isArticle", "lang")
	slices.Sort(want)
	if got := list("for the languages"); !slices.Equal(got, want) {
		t.Errorf("README's languages with articles %q, the code's %q", got, want)
	}
}

// switchCases reads the code's word lists where they are kept: the string
// cases of the first switch in normalize.go's function fn (on the
// identifier tag, if one is named), so that the README is held to the
// switches themselves and not to a copy of them.
func switchCases(t *testing.T, fn, tag string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "normalize.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		d, ok := n.(*ast.FuncDecl)
		if !ok || d.Name.Name != fn {
			return true
		}
		ast.Inspect(d.Body, func(n ast.Node) bool {
			sw, ok := n.(*ast.SwitchStmt)
			if !ok || found {
				return !found
			}
			if id, ok := sw.Tag.(*ast.Ident); tag != "" && (!ok || id.Name != tag) {
				return true
			}
			found = true
			for _, st := range sw.Body.List {
				for _, e := range st.(*ast.CaseClause).List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						w, _ := strconv.Unquote(lit.Value)
						out = append(out, w)
					}
				}
			}
			return false
		})
		return false
	})
	if !found {
		t.Fatalf("normalize.go has no switch in %s", fn)
	}
	return out
}
