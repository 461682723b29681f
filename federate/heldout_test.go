package federate

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/almanet/gateway/transform"
)

// heldOutTargets are the held-out corpus's catalogues, in the order a
// federation would list them: the network first.
var heldOutTargets = []string{"nz", "dnb", "loc", "koha", "ext"}

// heldOut reads the held-out corpus (testdata/heldout: one MARCXML
// collection per target, and truth.tsv saying which records are one work).
// Its records differ the way real catalogues do; gen.py wrote it.
func heldOut(t testing.TB) ([]Source, map[Ref]string) {
	t.Helper()
	dir := filepath.Join("testdata", "heldout")
	var sources []Source
	for _, name := range heldOutTargets {
		f, err := os.Open(filepath.Join(dir, name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		src := Source{Target: name, NZ: name == "nz"}
		sc := transform.NewScanner(f)
		for sc.Scan() {
			r, err := transform.Parse(sc.Bytes())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			src.Records = append(src.Records, Record{ID: r.MMSID, Position: len(src.Records) + 1, Rec: r})
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Close()
		sources = append(sources, src)
	}
	f, err := os.Open(filepath.Join(dir, "truth.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truth := map[Ref]string{}
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			t.Fatalf("truth.tsv: %q is not target, id, work", line)
		}
		truth[Ref{parts[0], parts[1]}] = parts[2]
	}
	return sources, truth
}

// TestMergeHeldOut measures the merge against the held-out corpus's ground
// truth, pair by pair, and names every pair it gets wrong.
func TestMergeHeldOut(t *testing.T) {
	sources, truth := heldOut(t)
	cluster := map[Ref]int{}
	cs := Merge(sources, Options{})
	for ci, c := range cs {
		for _, r := range c.Sources {
			cluster[r] = ci
		}
	}
	var refs []Ref
	for _, s := range sources {
		for _, r := range s.Records {
			ref := Ref{s.Target, r.ID}
			if _, ok := truth[ref]; !ok {
				t.Fatalf("no ground truth for %v", ref)
			}
			refs = append(refs, ref)
		}
	}
	if len(refs) != len(truth) {
		t.Fatalf("%d records, %d in the ground truth", len(refs), len(truth))
	}
	var pc pairCounts
	for i := range refs {
		for j := i + 1; j < len(refs); j++ {
			a, b := refs[i], refs[j]
			same, merged := truth[a] == truth[b], cluster[a] == cluster[b]
			switch {
			case same && merged:
				pc.tp++
			case merged:
				pc.fp++
				t.Errorf("%v and %v merged, but they are works %s and %s", a, b, truth[a], truth[b])
			case same:
				pc.fn++
				t.Errorf("%v and %v are both work %s, but not merged", a, b, truth[a])
			}
		}
	}
	t.Logf("held-out corpus: %d records from %d targets → %d clusters; pairs: %d true merges, %d false merges, %d missed; precision %.2f recall %.2f",
		len(refs), len(sources), len(cs), pc.tp, pc.fp, pc.fn, pc.precision(), pc.recall())
}
