package federate

import (
	"os"
	"regexp"
	"slices"
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
	want := []string{"&"}
	for w := range conjunctions {
		want = append(want, w)
	}
	slices.Sort(want)
	if got := list("the conjunctions"); !slices.Equal(got, want) {
		t.Errorf("README's conjunctions %q, the code's %q", got, want)
	}
	want = want[:0]
	for lang := range articles {
		want = append(want, lang)
	}
	slices.Sort(want)
	if got := list("for the languages"); !slices.Equal(got, want) {
		t.Errorf("README's languages with articles %q, the code's %q", got, want)
	}
}
