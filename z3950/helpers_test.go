package z3950

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
)

// fakeBackend answers every query from a fixed list of records (the ten
// SLSP records of testdata/alma), or with err; it records the searches made.
type fakeBackend struct {
	mu       sync.Mutex
	records  []*transform.Record
	total    int
	err      error
	block    chan struct{} // when set, Search waits for it or ctx
	searches []Search
}

func loadRecords(t testing.TB) []*transform.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "alma", "slsp_nz_sru_searchRetrieve_20records_852.xml")) // the SLSP captures, SOURCES.md there
	if err != nil {
		t.Fatal(err)
	}
	var out []*transform.Record
	s := transform.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		r, err := transform.Parse(s.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("no records in the SLSP capture")
	}
	return out
}

func newFake(t testing.TB) *fakeBackend {
	recs := loadRecords(t)
	return &fakeBackend{records: recs, total: len(recs)}
}

func (f *fakeBackend) Database(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "default", "01net":
		return "01NET", true
	case "member1":
		return "MEMBER1", true
	}
	return "", false
}

func (f *fakeBackend) Indexes() *sru.IndexSet { return nil }

func (f *fakeBackend) Search(ctx context.Context, q Search) (*Result, error) {
	f.mu.Lock()
	f.searches = append(f.searches, q)
	err, block := f.err, f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	res := &Result{Total: f.total}
	for i := q.Start - 1; i < q.Start-1+q.Count && i < len(f.records) && i < f.total; i++ {
		res.Records = append(res.Records, EncodeRecord(f.records[i], q.Syntax, q.ElementSet))
	}
	return res, nil
}

func (f *fakeBackend) last() Search {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.searches) == 0 {
		return Search{}
	}
	return f.searches[len(f.searches)-1]
}

// startServer serves b on a loopback port until the test ends.
func startServer(t testing.TB, b Backend, cfg Config, setup ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(b, cfg, nil)
	for _, f := range setup {
		f(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return s, ln.Addr().String()
}

// TestServeForManualUse serves the fake backend while Z3950_SERVE is set
// (go test -run TestServeForManualUse ./z3950/ with Z3950_SERVE=127.0.0.1:9999),
// for trying clients by hand; otherwise it is skipped, saying so.
func TestServeForManualUse(t *testing.T) {
	addr := os.Getenv("Z3950_SERVE")
	if addr == "" {
		t.Skip("a manual tool: set Z3950_SERVE=127.0.0.1:9999 to serve the fake backend there")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	NewServer(newFake(t), Config{}, nil).Serve(context.Background(), ln)
}
