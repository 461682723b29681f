package z3950

import (
	"context"
	"testing"
)

// cachedBackend answers like the gateway on a cache hit: records already
// encoded, kept per syntax.
type cachedBackend struct {
	*fakeBackend
	enc map[string][]Record
}

func (c *cachedBackend) Search(ctx context.Context, q Search) (*Result, error) {
	recs := c.enc[q.Syntax+"|"+q.ElementSet]
	if recs == nil {
		for _, r := range c.records {
			recs = append(recs, EncodeRecord(r, q.Syntax, q.ElementSet))
		}
		c.enc[q.Syntax+"|"+q.ElementSet] = recs
	}
	end := min(q.Start-1+q.Count, len(recs))
	return &Result{Total: len(recs), Records: recs[q.Start-1 : end]}, nil
}

// BenchmarkSearchPresent is the exchange of bench/z3950.sh over loopback
// against a backend that answers from memory: search, present 1+10 MARC21.
func BenchmarkSearchPresent(b *testing.B) {
	be := &cachedBackend{fakeBackend: newFake(b), enc: map[string][]Record{}}
	_, addr := startServer(b, be, Config{})
	c, err := Dial(context.Background(), addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SearchTerm("Default", "default", 4, "science"); err != nil {
			b.Fatal(err)
		}
		if recs, err := c.Present("default", 1, 10, OIDUSMARC); err != nil || len(recs) != 10 {
			b.Fatal(len(recs), err)
		}
	}
}
