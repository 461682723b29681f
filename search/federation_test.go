package search

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
)

// fedFake answers from fixed records, counts its calls, and fails or
// blocks as told.
type fedFake struct {
	name  string
	recs  []TargetRecord
	calls atomic.Int64
	mu    sync.Mutex // guards err, block, diag
	err   error
	block chan struct{} // non-nil: every call waits for it to close
	diag  *sru.Diagnostic
}

func (ft *fedFake) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	ft.calls.Add(1)
	ft.mu.Lock()
	err, block, diag := ft.err, ft.block, ft.diag
	ft.mu.Unlock()
	if block != nil {
		<-block
	}
	if err != nil {
		return nil, err
	}
	if diag != nil {
		return &TargetPage{Diagnostics: []sru.Diagnostic{*diag}}, nil
	}
	p := &TargetPage{Total: len(ft.recs)}
	for i := q.Start - 1; i < len(ft.recs) && i < q.Start-1+q.Count; i++ {
		p.Records = append(p.Records, ft.recs[i])
	}
	return p, nil
}

func (ft *fedFake) set(err error, block chan struct{}) {
	ft.mu.Lock()
	ft.err, ft.block = err, block
	ft.mu.Unlock()
}

// fakeRecords makes n records of a target; records share an OCLC number
// across targets by index, so that they merge.
func fakeRecords(t *testing.T, target string, n int) []TargetRecord {
	t.Helper()
	var out []TargetRecord
	for i := range n {
		id := fmt.Sprintf("%s-%d", target, i+1)
		x := fmt.Sprintf(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">%s</controlfield>`+
			`<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(OCoLC)%d</subfield></datafield>`+
			`<datafield tag="245" ind1="0" ind2="0"><subfield code="a">History %d</subfield></datafield></record>`, id, 1000+i, i)
		r, err := transform.Parse([]byte(x))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, TargetRecord{Position: i + 1, ID: id, Record: r})
	}
	return out
}

type fedFixture struct {
	f     *Federation
	fakes map[string]*fedFake
	clock *fedClock
}

type fedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fedClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFedFixture(t *testing.T, names ...string) *fedFixture {
	t.Helper()
	fx := &fedFixture{fakes: map[string]*fedFake{}, clock: &fedClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}}
	var ts []*RegTarget
	for i, n := range names {
		ft := &fedFake{name: n, recs: fakeRecords(t, n, 30)}
		fx.fakes[n] = ft
		ts = append(ts, &RegTarget{Name: n, Target: ft, NZ: i == 0, Weight: 1, MaxRecords: 25, PageSize: 10})
	}
	fx.f = NewFederation(ts, 100*time.Millisecond, time.Minute, time.Hour, 64<<20, fx.clock.now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() {
		for _, ft := range fx.fakes {
			ft.set(nil, nil)
		}
	})
	return fx
}

func mustQuery(t *testing.T, cql string) *sru.Query {
	t.Helper()
	q, d := sru.ParseQuery(cql, nil)
	if d != nil {
		t.Fatal(d)
	}
	return q
}

func statuses(r *Result) map[string]string {
	out := map[string]string{}
	for _, s := range r.Targets {
		out[s.Name] = s.Status
	}
	return out
}

func TestFederationOneTargetFailing(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		hang   bool
		status string
	}{
		{"hang", nil, true, StatusTimeout},
		{"500", &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "sru:b", Detail: "Alma answered HTTP 500"}, false, StatusError},
		{"429", &upstream.Error{Kind: upstream.ErrRateLimited, Upstream: "sru:b", Detail: "Alma answered 429"}, false, StatusRateLimited},
		{"malformed", &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "sru:b", Detail: "Alma sent a malformed or truncated answer", Cause: sru.ErrMalformed}, false, StatusError},
		{"breaker open", &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "sru:b", Detail: "circuit breaker open", Cause: gobreaker.ErrOpenState}, false, StatusBreakerOpen},
		{"own deadline", &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "sru:b", Detail: "did not answer", Cause: context.DeadlineExceeded}, false, StatusTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFedFixture(t, "nz", "b", "c")
			var block chan struct{}
			if tt.hang {
				block = make(chan struct{})
			}
			fx.fakes["b"].set(tt.err, block)
			r, cached, err := fx.f.Search(context.Background(), []string{"nz", "b", "c"}, mustQuery(t, "alma.title=history"), federate.SortRelevance)
			if err != nil || cached {
				t.Fatalf("search: %v (cached %v)", err, cached)
			}
			want := map[string]string{"nz": StatusOK, "b": tt.status, "c": StatusOK}
			if diff := cmp.Diff(want, statuses(r)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			// nz and c answered 25 records each, all of them pairs by OCLC number.
			if len(r.Clusters) != 25 || r.Hits != 60 {
				t.Errorf("%d clusters, %d hits; want 25 clusters of nz and c, hits 30+30", len(r.Clusters), r.Hits)
			}
			if st := r.Targets[1]; st.Diagnostic == nil && tt.status != StatusTimeout || st.Fetched != 0 || st.AsOf != nil {
				t.Errorf("failing target's state %+v", st)
			}
			if block != nil {
				close(block)
			}
		})
	}
}

func TestFederationLateTargetCompletesTheCachedResult(t *testing.T) {
	fx := newFedFixture(t, "nz", "slow")
	block := make(chan struct{})
	fx.fakes["slow"].set(nil, block)
	q := mustQuery(t, "alma.title=history")
	r, _, err := fx.f.Search(context.Background(), []string{"nz", "slow"}, q, federate.SortRelevance)
	if err != nil || statuses(r)["slow"] != StatusTimeout || r.Pending != 1 {
		t.Fatalf("first answer: %v %v pending %d", err, statuses(r), r.Pending)
	}
	close(block) // the slow target answers after the deadline
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, cached, err := fx.f.Search(context.Background(), []string{"slow", "nz"}, q, federate.SortRelevance)
		if err != nil {
			t.Fatal(err)
		}
		if r.Pending == 0 {
			if !cached || statuses(r)["slow"] != StatusOK || r.Targets[1].Fetched != 25 {
				t.Errorf("completed answer: cached %v, %v, %+v", cached, statuses(r), r.Targets[1])
			}
			break
		}
		if time.Now().After(deadline) { // a hang guard, not a timing assertion
			t.Fatal("the late target's records never completed the cached result")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 25 records in pages of 10: three calls, made once.
	if n := fx.fakes["slow"].calls.Load(); n != 3 {
		t.Errorf("the slow target was called %d times, want 3 (one search, three pages)", n)
	}
	if n := fx.fakes["nz"].calls.Load(); n != 3 {
		t.Errorf("nz was called %d times, want 3", n)
	}
}

func TestFederationStaleAndOutage(t *testing.T) {
	fx := newFedFixture(t, "nz", "b")
	q := mustQuery(t, "alma.title=history")
	names := []string{"nz", "b"}
	if _, _, err := fx.f.Search(context.Background(), names, q, federate.SortRelevance); err != nil {
		t.Fatal(err)
	}
	fx.clock.add(2 * time.Minute) // past the fresh lifetime, within the stale window
	down := &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "x", Detail: "Alma could not be reached"}
	fx.fakes["b"].set(down, nil)
	r, cached, err := fx.f.Search(context.Background(), names, q, federate.SortRelevance)
	if err != nil || cached {
		t.Fatalf("%v cached %v", err, cached)
	}
	if diff := cmp.Diff(map[string]string{"nz": StatusOK, "b": StatusStale}, statuses(r)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if st := r.Targets[1]; st.AsOf == nil || !st.AsOf.Equal(fx.clock.now().Add(-2*time.Minute)) || st.Fetched != 25 {
		t.Errorf("stale target state %+v", st)
	}

	// Every target down and nothing held: the only outage.
	fx.clock.add(2 * time.Hour)
	fx.fakes["nz"].set(down, nil)
	if _, _, err := fx.f.Search(context.Background(), names, q, federate.SortRelevance); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("all down, nothing cached: %v, want upstream.ErrUnavailable", err)
	}
	if _, _, err := fx.f.Search(context.Background(), names, mustQuery(t, "alma.title=other"), federate.SortRelevance); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("all down, another query: %v", err)
	}
}

func TestFederationSkippedAndDiagnostic(t *testing.T) {
	fx := newFedFixture(t, "nz", "dc", "diag")
	fx.f.targets["dc"].IndexMap = map[string]string{"alma.title": "dc.title"}
	fx.fakes["diag"].diag = sru.NewDiagnostic(10, "syntax")
	r, _, err := fx.f.Search(context.Background(), []string{"nz", "dc", "diag"}, mustQuery(t, "alma.creator=smith"), federate.SortPosition)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"nz": StatusOK, "dc": StatusSkipped, "diag": StatusDiagnostic}, statuses(r)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if d := r.Targets[1].Diagnostic; d == nil || d.URI != "info:srw/diagnostic/1/16" || d.Details != "alma.creator" {
		t.Errorf("skipped target's diagnostic %+v", d)
	}
	if fx.fakes["dc"].calls.Load() != 0 {
		t.Error("a target that cannot map the query was asked")
	}
	if d := r.Targets[2].Diagnostic; d == nil || d.URI != "info:srw/diagnostic/1/10" {
		t.Errorf("target diagnostic %+v", d)
	}
}

func TestFederationCoalesces(t *testing.T) {
	fx := newFedFixture(t, "nz", "b")
	block := make(chan struct{})
	fx.fakes["b"].set(nil, block)
	q := mustQuery(t, "alma.title=history")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := fx.f.Search(context.Background(), []string{"nz", "b"}, q, federate.SortRelevance); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(block)
	if n := fx.fakes["b"].calls.Load(); n != 3 {
		t.Errorf("20 concurrent searches called the hanging target %d times before it answered, want 3 (one search: its three pages at once)", n)
	}
}
