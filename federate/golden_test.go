package federate

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/merge.golden")

// TestMergeGolden holds Merge's whole output (every cluster's order,
// preferred record, sources, holdings with their types, score, position
// and weight, for every sort) on the simulator's four targets and the
// held-out corpus to what testdata/merge.golden recorded, so that a change
// made for speed is seen to change nothing. Regenerate with -update only
// for a change meant to alter the merge.
func TestMergeGolden(t *testing.T) {
	s := network()
	var b strings.Builder
	dump := func(name string, sources []Source, terms []string) {
		fmt.Fprintf(&b, "## %s terms=%q\n", name, terms)
		var first []*Cluster
		for _, sort := range []Sort{SortRelevance, SortDate, SortTitle, SortPosition} {
			cs := Merge(sources, Options{Terms: terms, Sort: sort})
			if sort == SortRelevance {
				first = cs
				for i, c := range cs {
					fmt.Fprintf(&b, "%d %s score=%g pos=%d weight=%g nz=%s year=%q title=%q\n  sources:", i, c.Preferred, c.Score, c.Position, c.Weight, c.NZMMSID, c.Record.Year, c.Record.Title)
					for _, r := range c.Sources {
						fmt.Fprintf(&b, " %s:%s", r.Target, r.ID)
					}
					b.WriteString("\n  holdings:")
					for _, h := range c.Holdings {
						fmt.Fprintf(&b, " %s/%s/%q/%s", h.Institution, h.IZMMSID, h.Name, strings.Join(h.Types, ","))
						if h.Types == nil {
							b.WriteString("(nil)")
						}
					}
					if c.Holdings == nil {
						b.WriteString(" (nil)")
					}
					b.WriteString("\n")
				}
				continue
			}
			index := make(map[Ref]int, len(first))
			for i, c := range first {
				index[c.Sources[0]] = i
			}
			fmt.Fprintf(&b, "%s:", sort)
			for _, c := range cs {
				fmt.Fprintf(&b, " %d", index[c.Sources[0]])
			}
			b.WriteString("\n")
		}
	}
	for _, word := range []string{"history", "music"} {
		var sources []Source
		for i, tg := range simTargets(s, 2) {
			src := fetch(t, s, tg, word, 100)
			src.Weight = []float64{0, 1.5, 1, 0.5}[i]
			if src.Member != "" {
				src.MemberName = "Library of " + src.Member
			}
			sources = append(sources, src)
		}
		dump("simulator "+word, sources, Terms("alma.title="+word))
	}
	held, _ := heldOut(t)
	dump("held-out", held, nil)
	dump("held-out", held, Terms(`dc.title="the history of music" or dc.creator=smith`))

	path := filepath.Join("testdata", "merge.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("Merge's output differs from %s (-want +got):\n%s", path, diff)
	}
}
