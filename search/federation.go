package search

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/almanet/gateway/federate"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/upstream"
)

// This file is SPEC 9.3: one query fanned out to several targets at once,
// answered when all have answered or at the federation deadline, whichever
// comes first; a target still working then is "timeout" in the answer, and
// its records, when they come, complete the cached merged result for the
// next request. Every target answer is kept per (target, query) for the
// cache lifetimes, so that a failing target is answered from its stale copy
// ("stale", with its as_of) and a target is never asked twice for one
// query while its call is in flight or its answer fresh.
//
// The merged results and the target answers live in this process (bounded
// by entries and by an estimate of their bytes), not in Redis: they hold
// parsed records, and a merged result is only as good as the targets this
// replica could reach.

// Target statuses (SPEC 9.2).
const (
	StatusOK          = "ok"
	StatusStale       = "stale"
	StatusTimeout     = "timeout"
	StatusError       = "error"
	StatusBreakerOpen = "breaker_open"
	StatusRateLimited = "rate_limited"
	StatusSkipped     = "skipped"
	StatusDiagnostic  = "diagnostic"
)

// targetAnswer is what one target answered for one query.
type targetAnswer struct {
	total   int
	records []TargetRecord
	diags   []sru.Diagnostic
	dropped int       // records sent that could not be read
	err     error     // the failure of the last page asked, nil when all answered
	at      time.Time // when it answered
	took    time.Duration
}

// targetCall is one target's search in flight; done closes when ans is set.
type targetCall struct {
	done chan struct{}
	ans  *targetAnswer
}

// targetState is one entry of an answer's targets block.
type TargetState struct {
	Name       string          `json:"name"`
	Status     string          `json:"status"`
	Hits       int             `json:"hits"`
	Fetched    int             `json:"fetched"`
	TookMS     int64           `json:"took_ms"`
	Diagnostic *JSONDiagnostic `json:"diagnostic"`
	AsOf       *time.Time      `json:"as_of"`
	// Dropped counts records the target sent that could not be read.
	Dropped int `json:"dropped,omitempty"`
	// more says the target has hits the gateway has not fetched yet and
	// will fetch when a client pages past the merged records (SPEC 14).
	more bool
}

// fedResult is one merged federated result: every page of it is served from
// here.
type Result struct {
	Clusters []*federate.Cluster
	Targets  []TargetState
	Hits     int       // the sum of the targets' own counts
	at       time.Time // when it was merged
	Pending  int       // targets still working
	answered bool      // at least one target answered (or was answered from its stale copy)
	rounds   int       // how many rounds of records (maxRecords each) every target was asked for
}

// fetched is how many records the targets gave.
func (r *Result) fetched() int {
	n := 0
	for _, t := range r.Targets {
		n += t.Fetched
	}
	return n
}

// deeper says whether paging past the merged records can fetch more: no
// target is still working and one has hits not fetched yet.
func (r *Result) deeper() bool {
	if r.Pending > 0 {
		return false
	}
	for _, t := range r.Targets {
		if t.more {
			return true
		}
	}
	return false
}

// federation runs federated searches.
type Federation struct {
	targets  map[string]*RegTarget
	order    []string // target names in configuration order
	deadline time.Duration
	ttl      time.Duration // fresh lifetime of answers and merged results
	stale    time.Duration // how long after ttl a target answer may stand in for a failing target
	maxBytes int64         // the budget of held target answers (an estimate, see recordCost)
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex // guards results, resOrder, answers, ansOrder, ansBytes, calls, merging
	results map[string]*Result
	resOrd  []string
	answers map[string]*targetAnswer
	ansOrd  []string
	ansSize int64
	calls   map[string]*targetCall
	merging map[string]chan struct{} // federated key -> closed when its first answer is ready
}

// Held is the merged results held now, in no order.
func (f *Federation) Held() []*Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Result, 0, len(f.results))
	for _, r := range f.results {
		out = append(out, r)
	}
	return out
}

// recordCost estimates the memory of one held parsed record.
const recordCost = 6 << 10

// maxResults bounds the merged results held.
const maxResults = 2048

func NewFederation(targets []*RegTarget, deadline, ttl, stale time.Duration, maxBytes int64, now func() time.Time, log *slog.Logger) *Federation {
	f := &Federation{targets: map[string]*RegTarget{}, deadline: deadline, ttl: ttl, stale: stale, maxBytes: maxBytes, now: now, log: log,
		results: map[string]*Result{}, answers: map[string]*targetAnswer{}, calls: map[string]*targetCall{}, merging: map[string]chan struct{}{}}
	for _, t := range targets {
		f.targets[t.Name] = t
		f.order = append(f.order, t.Name)
	}
	return f
}

// fedKey is the canonical federated key: sorted target names, canonical
// CQL with its sort, and the merged order (SPEC 9.2).
func FedKey(names []string, q *sru.Query, order federate.Sort) string {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	return "fed\x00" + strings.Join(sorted, ",") + "\x00" + q.AlmaQuery + "\x00" + string(order)
}

// errNoTarget is returned when no target could answer and nothing was
// cached (SPEC 9.3: the only 503 of a federated search).
var ErrNoTarget = &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "federation", Detail: "no target answered and nothing was cached"}

// search answers a federated search for targets names (resolved, in
// configuration order): the merged result, and whether it came from the
// cache. It waits at most the federation deadline (or until ctx ends).
func (f *Federation) Search(ctx context.Context, names []string, q *sru.Query, order federate.Sort) (*Result, bool, error) {
	return f.SearchTo(ctx, names, q, order, 0)
}

// MaxRoundsPerSearch bounds the rounds one request fetches, so that a
// jump far ahead (start=9990 over several targets) costs each target at
// most this many rounds of calls; the answer says it is not complete, and
// asking again goes on from there.
const MaxRoundsPerSearch = 10

// searchTo is search for a client that needs the merged records up to
// position want (SPEC 14, merged results paged to the end): while the held
// result has fewer and a target has hits left, the next round of every
// such target is fetched (at once, each round within the federation
// deadline) and merged in behind the records already there, which keep
// their positions. It stops at want, when the targets' hits or Alma's
// 10,000 cap run out, when a round brings nothing new, or when a target
// is still working at the deadline (its records complete the held result
// for the next request).
func (f *Federation) SearchTo(ctx context.Context, names []string, q *sru.Query, order federate.Sort, want int) (*Result, bool, error) {
	key := FedKey(names, q, order)
	want = min(want, sru.AlmaMaxPosition)
	cached := true
	for rounds := 0; ; rounds++ {
		f.mu.Lock()
		prev, ok := f.results[key]
		if ok && f.now().Sub(prev.at) >= f.ttl {
			prev, ok = nil, false
		}
		if ok && (len(prev.Clusters) >= want || !prev.deeper()) {
			f.mu.Unlock()
			return prev, cached, nil
		}
		if wait, ok := f.merging[key]; ok { // another request is fanning out this search
			f.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		ready := make(chan struct{})
		f.merging[key] = ready
		f.mu.Unlock()
		rounds := 1
		if prev != nil {
			rounds = prev.rounds + 1
		}
		r := f.fanOut(key, names, q, order, rounds, prev, ready)
		if !r.answered {
			return r, false, ErrNoTarget
		}
		cached = false
		if len(r.Clusters) >= want || !r.deeper() || prev != nil && r.fetched() <= prev.fetched() || ctx.Err() != nil || rounds+1 >= MaxRoundsPerSearch {
			return r, false, nil
		}
	}
}

// fanOut asks every target at once for rounds rounds of records (a round
// is maxRecords records; rounds already held are answered from the held
// answers) and returns the merged result at the deadline or when all have
// answered; targets still working complete the stored result in the
// background. prev is the result being paged deeper (nil for a new
// search): its records keep their positions. ready is closed when the
// first result is stored.
func (f *Federation) fanOut(key string, names []string, q *sru.Query, order federate.Sort, rounds int, prev *Result, ready chan struct{}) *Result {
	start := time.Now()
	timer := time.NewTimer(f.deadline)
	defer timer.Stop()
	slots := make([]*fedSlot, len(names))
	for i, n := range names {
		t := f.targets[n]
		s := &fedSlot{t: t, done: make(chan struct{})}
		slots[i] = s
		if d := t.Refuses(q); d != nil {
			s.skip = d
			close(s.done)
			continue
		}
		go f.chain(s, q, rounds)
	}
	build := func() *Result {
		r := &Result{at: f.now(), rounds: rounds}
		var sources []federate.Source
		for _, s := range slots {
			st := TargetState{Name: s.t.Name}
			if s.skip != nil {
				st.Status = StatusSkipped
				st.Diagnostic = toJSONDiag(*s.skip)
				r.Targets = append(r.Targets, st)
				continue
			}
			ans, finished, more := s.answer()
			var failure error
			late := false // still working at the deadline
			switch {
			case ans == nil || !finished:
				late = true
				st.Status, st.TookMS = StatusTimeout, time.Since(start).Milliseconds()
				r.Pending++
			case len(ans.diags) > 0:
				st.Status, st.Diagnostic = StatusDiagnostic, toJSONDiag(ans.diags[0])
			case ans.err != nil:
				st.Status, st.TookMS, failure = errorStatus(ans.err), ans.took.Milliseconds(), ans.err
			default:
				st.Status = StatusOK
			}
			if ans == nil || ans.err != nil && len(ans.records) == 0 {
				if old := f.staleAnswer(s.t, q); old != nil {
					ans, st.Status = old, StatusStale // SPEC 9.3: its stale answer, marked, with its as_of
				} else {
					ans = nil
				}
			}
			if failure != nil && st.Status != StatusStale {
				st.Diagnostic = failureDiag(failure, ans != nil)
			}
			if late && st.Status == StatusTimeout {
				st.Diagnostic = f.deadlineDiag()
			}
			if ans != nil {
				r.answered = true
				at := ans.at
				st.Hits, st.Fetched, st.TookMS, st.AsOf, st.Dropped = ans.total, len(ans.records), ans.took.Milliseconds(), &at, ans.dropped
				st.more = more && st.Status != StatusStale
				r.Hits += ans.total
				src := federate.Source{Target: s.t.Name, Weight: s.t.Weight, NZ: s.t.NZ, Member: s.t.Member, MemberName: s.t.MemberName}
				for _, rec := range ans.records {
					src.Records = append(src.Records, federate.Record{ID: rec.ID, Position: rec.Position, Rec: rec.Record})
				}
				sources = append(sources, src)
			}
			r.Targets = append(r.Targets, st)
		}
		if len(slots) > 0 && allSkipped(r.Targets) {
			r.answered = true // every target said why: an answer, not an outage
		}
		r.Clusters = federate.Merge(sources, federate.Options{Terms: federate.Terms(q.AlmaQuery), Sort: order})
		return r
	}
	store := func(r *Result) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !r.answered {
			delete(f.results, key) // an outage is never cached as an answer
			return
		}
		if _, ok := f.results[key]; !ok {
			f.resOrd = append(f.resOrd, key)
			for len(f.resOrd) > maxResults {
				delete(f.results, f.resOrd[0])
				f.resOrd = f.resOrd[1:]
			}
		}
		f.results[key] = r
	}
	release := func() {
		f.mu.Lock()
		if f.merging[key] == ready {
			delete(f.merging, key)
			close(ready)
		}
		f.mu.Unlock()
	}
	waitAll := func(stop <-chan time.Time) bool {
		for _, s := range slots {
			select {
			case <-s.done:
			case <-stop:
				return false
			}
		}
		return true
	}
	all := waitAll(timer.C)
	r := build()
	if prev != nil {
		r.Clusters = keepPositions(prev.Clusters, r.Clusters)
	}
	store(r)
	release()
	if !all {
		// The late targets complete the stored result: one merge when all
		// have answered (each call has its own deadline, so this ends),
		// the records already served keeping their positions.
		go func() {
			waitAll(nil)
			late := build()
			late.Clusters = keepPositions(r.Clusters, late.Clusters)
			store(late)
		}()
	}
	return r
}

// fedSlot is one target's part of a fan-out: its rounds' answers as they
// come.
type fedSlot struct {
	t    *RegTarget
	skip *sru.Diagnostic // the query cannot be sent to it
	done chan struct{}   // closed when its last round has answered

	mu      sync.Mutex // guards answers, more
	answers []*targetAnswer
	more    bool // it has hits past the records fetched
}

// chain asks the slot's target for rounds 1..rounds in turn (held rounds
// answer at once), stopping when its hits, Alma's cap or its answers run
// out.
func (f *Federation) chain(s *fedSlot, q *sru.Query, rounds int) {
	defer close(s.done)
	fetched := 0
	for round := 1; round <= rounds; round++ {
		c := f.call(s.t, q, round)
		<-c.done
		a := c.ans
		fetched += len(a.records)
		total := a.total
		s.mu.Lock()
		if len(s.answers) > 0 {
			total = s.answers[0].total
		}
		s.answers = append(s.answers, a)
		// A failed round is asked again when a client pages on.
		s.more = len(a.diags) == 0 && (a.err != nil || len(a.records) > 0) && fetched < min(total, sru.AlmaMaxPosition)
		more := s.more && a.err == nil
		s.mu.Unlock()
		if !more {
			return
		}
	}
}

// answer is the slot's rounds so far as one answer (nil before the first
// has answered), whether every round asked has answered, and whether the
// target has more.
func (s *fedSlot) answer() (a *targetAnswer, finished, more bool) {
	select {
	case <-s.done:
		finished = true
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.answers) == 0 {
		return nil, finished, false
	}
	if len(s.answers) == 1 {
		return s.answers[0], finished, s.more
	}
	first, last := s.answers[0], s.answers[len(s.answers)-1]
	a = &targetAnswer{total: first.total, diags: first.diags, err: last.err, at: first.at}
	for _, r := range s.answers {
		a.records = append(a.records, r.records...)
		a.took += r.took
		a.dropped += r.dropped
	}
	return a, finished, s.more
}

// keepPositions orders next, a deeper merge of the records prev was
// merged from, so that every cluster of prev keeps its position (with
// what joined it since); the clusters made only of records new to this
// round follow, in their merged order. A prev cluster that the new
// records joined to one before it keeps its old self, so that no served
// position moves.
func keepPositions(prev, next []*federate.Cluster) []*federate.Cluster {
	at := make(map[federate.Ref]int, len(next))
	for i, c := range next {
		for _, ref := range c.Sources {
			at[ref] = i
		}
	}
	used := make([]bool, len(next))
	out := make([]*federate.Cluster, 0, len(next))
	for _, c := range prev {
		i, ok := at[c.Preferred]
		if !ok || used[i] {
			out = append(out, c)
			continue
		}
		used[i] = true
		out = append(out, next[i])
	}
	for i, c := range next {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

func toJSONDiag(d sru.Diagnostic) *JSONDiagnostic {
	return &JSONDiagnostic{URI: d.URI, Message: d.Message, Details: d.Details}
}

// deadlineDiag says in words why a target still working at the deadline
// has no records in the answer.
func (f *Federation) deadlineDiag() *JSONDiagnostic {
	return &JSONDiagnostic{URI: "info:srw/diagnostic/1/1", Message: "Target timeout",
		Details: "no answer within the federation deadline of " + f.deadline.String() + "; its records complete the cached result when they come"}
}

// failureDiag says what failed, in words a client may see (never a key or
// a URL): partial when some pages had answered.
func failureDiag(err error, partial bool) *JSONDiagnostic {
	msg := "the target could not be searched"
	var ue *upstream.Error
	if errors.As(err, &ue) {
		msg = ue.Detail
	}
	if partial {
		msg = "only part of the records were fetched: " + msg
	}
	return &JSONDiagnostic{URI: "info:srw/diagnostic/1/1", Message: "Target unavailable", Details: msg}
}

func allSkipped(ts []TargetState) bool {
	for _, t := range ts {
		if t.Status != StatusSkipped {
			return false
		}
	}
	return true
}

// errorStatus names a target failure for its status.
func errorStatus(err error) string {
	switch {
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		return StatusBreakerOpen
	case errors.Is(err, upstream.ErrRateLimited):
		return StatusRateLimited
	case errors.Is(err, context.DeadlineExceeded):
		return StatusTimeout
	}
	var he *sru.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
		return StatusRateLimited
	}
	return StatusError
}

// answerKey names one target's answer to one query's round of records
// (round 1 is records 1..maxRecords).
func answerKey(t *RegTarget, q *sru.Query, round int) string {
	return t.Name + "\x00" + q.AlmaQuery + "\x00" + strconv.Itoa(round)
}

// call returns the target's call for q: a fresh held answer as a finished
// call, the call in flight, or a new call.
func (f *Federation) call(t *RegTarget, q *sru.Query, round int) *targetCall {
	k := answerKey(t, q, round)
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.answers[k]; ok && a.err == nil && f.now().Sub(a.at) < f.ttl {
		c := &targetCall{done: make(chan struct{}), ans: a}
		close(c.done)
		return c
	}
	if c, ok := f.calls[k]; ok {
		return c
	}
	c := &targetCall{done: make(chan struct{})}
	f.calls[k] = c
	go func() {
		a := f.fetch(t, q, round)
		f.mu.Lock()
		delete(f.calls, k)
		if a.err == nil || len(a.records) > 0 {
			f.keep(k, a)
		}
		f.mu.Unlock()
		c.ans = a
		close(c.done)
	}()
	return c
}

// staleAnswer returns a held answer of the target within the stale window,
// or nil.
func (f *Federation) staleAnswer(t *RegTarget, q *sru.Query) *targetAnswer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.answers[answerKey(t, q, 1)]; ok && f.now().Sub(a.at) < f.ttl+f.stale {
		return a
	}
	return nil
}

// keep holds an answer within the byte budget, oldest out first; f.mu held.
func (f *Federation) keep(k string, a *targetAnswer) {
	if old, ok := f.answers[k]; ok {
		f.ansSize -= int64(len(old.records)) * recordCost
	} else {
		f.ansOrd = append(f.ansOrd, k)
	}
	f.answers[k] = a
	f.ansSize += int64(len(a.records)) * recordCost
	for f.ansSize > f.maxBytes && len(f.ansOrd) > 1 {
		old := f.ansOrd[0]
		f.ansOrd = f.ansOrd[1:]
		if o, ok := f.answers[old]; ok {
			f.ansSize -= int64(len(o.records)) * recordCost
			delete(f.answers, old)
		}
	}
}

// fetch asks one target for round round of q's records (up to its
// maxRecords, from position (round-1)*maxRecords+1, never past Alma's
// 10,000), every page at once (one round trip, not one per page; pages
// past the end of a short list answer empty or with diagnostic 61, which
// is ignored). It runs on its own context: a late answer is still wanted
// after the request that started it has been answered; the Target's own
// deadline bounds it.
func (f *Federation) fetch(t *RegTarget, q *sru.Query, round int) *targetAnswer {
	start := time.Now() // took is real time; at is the gateway's clock
	ctx := context.Background()
	first := (round-1)*t.MaxRecords + 1
	end := min(first+t.MaxRecords-1, sru.AlmaMaxPosition) // the last position asked
	var starts []int
	for s := first; s <= end; s += t.PageSize {
		starts = append(starts, s)
	}
	if len(starts) == 0 {
		return &targetAnswer{at: f.now()}
	}
	pages := make([]*TargetPage, len(starts))
	errs := make([]error, len(starts))
	var wg sync.WaitGroup
	for i, s := range starts {
		wg.Go(func() {
			pages[i], errs[i] = t.Target.Search(ctx, TargetQuery{CQL: q.AlmaQuery, Start: s, Count: min(t.PageSize, end-s+1), Schema: t.Schema})
		})
	}
	wg.Wait()
	if errs[0] != nil {
		return &targetAnswer{err: errs[0], at: f.now(), took: time.Since(start)}
	}
	a := &targetAnswer{total: pages[0].Total, records: pages[0].Records, diags: pages[0].Diagnostics, dropped: pages[0].Dropped}
	if round > 1 && isPastEnd(a.diags) {
		a.diags = nil // the list got shorter since round 1: nothing more
	}
	for i := 1; i < len(pages) && len(a.diags) == 0; i++ {
		if starts[i] > a.total {
			break // past the end: whatever that page said does not count
		}
		if errs[i] != nil {
			a.err = errs[i] // what was fetched is kept, the status says what failed
			break
		}
		a.records = append(a.records, pages[i].Records...)
		a.dropped += pages[i].Dropped
	}
	a.at, a.took = f.now(), time.Since(start)
	return a
}
