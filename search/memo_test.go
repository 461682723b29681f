package search

import (
	"fmt"
	"testing"

	"github.com/almanet/gateway/sru"
)

func TestParseMemo(t *testing.T) {
	a, b := sru.DefaultIndexSet(), &sru.IndexSet{}
	m := NewParseMemo[int](3)
	if _, ok := m.Get(a, []byte("q=x")); ok {
		t.Fatal("empty memo found q=x")
	}
	m.Put(a, []byte("q=x"), 1)
	for _, tc := range []struct {
		name   string
		idx    *sru.IndexSet
		raw    string
		want   int
		wantOK bool
	}{
		{"same index set", a, "q=x", 1, true},
		{"other query", a, "q=y", 0, false},
		{"other index set", b, "q=x", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := m.Get(tc.idx, []byte(tc.raw))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("get(%q) = %d, %v, want %d, %v", tc.raw, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	for i := range 5 { // past the bound: starts over, never grows beyond it
		m.Put(a, []byte(fmt.Sprint("q=", i)), i)
	}
	if n := len(m.m); n > 3 {
		t.Errorf("memo holds %d entries, bound 3", n)
	}
	m.Put(b, []byte("q=z"), 9)
	if _, ok := m.Get(a, []byte("q=4")); ok {
		t.Error("entries validated against the old index set survived a change of index set")
	}
}
