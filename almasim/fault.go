package almasim

import (
	"bytes"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint names a part of the Alma surface for faults and counters.
type Endpoint int

const (
	EndpointAll  Endpoint = iota // both endpoints (SetFault, Count)
	EndpointSRU                  // /view/sru/...
	EndpointBibs                 // /almaws/v1/bibs/...
)

func (e Endpoint) String() string {
	switch e {
	case EndpointSRU:
		return "sru"
	case EndpointBibs:
		return "bibs"
	}
	return "all"
}

// ParseEndpoint reads "sru", "bibs" or "all".
func ParseEndpoint(s string) (Endpoint, bool) {
	switch s {
	case "sru":
		return EndpointSRU, true
	case "bibs", "api":
		return EndpointBibs, true
	case "all", "":
		return EndpointAll, true
	}
	return 0, false
}

// FaultKind is what a faulted request gets instead of (or before) its answer.
type FaultKind string

const (
	FaultNone      FaultKind = ""          // no fault
	FaultSlow      FaultKind = "slow"      // wait Delay (or until the client gives up), then answer normally
	Fault500       FaultKind = "500"       // HTTP 500: Tomcat-like HTML for SRU, web_service_result for the API
	Fault429       FaultKind = "429"       // HTTP 429 PER_SECOND_THRESHOLD with Retry-After
	FaultMalformed FaultKind = "malformed" // HTTP 200 whose body is ill-formed XML (or JSON)
	FaultTruncated FaultKind = "truncated" // HTTP 200, the body cut in the middle of a record, Content-Length honest
	FaultHang      FaultKind = "hang"      // no answer until the client gives up, Server.Close, or SetFault/ClearFaults (see below)
	FaultReset     FaultKind = "reset"     // the connection is reset (RST) without an answer
	FaultLost      FaultKind = "lost"      // a write (not GET) is done, then its answer is held as in FaultHang: the caller cannot know Alma did it
)

var faultKinds = []FaultKind{FaultNone, FaultSlow, Fault500, Fault429, FaultMalformed, FaultTruncated, FaultHang, FaultReset, FaultLost}

// Fault is injected into the next requests of an endpoint.
//
// A request that ends early (the client gives up during FaultSlow or
// FaultHang, or Server.Close) gets no answer at all: the connection is
// dropped. Under a server that is not the simulator's own (Handler mounted
// in httptest.NewServer), a hanging request holds that server's Close until
// its client's deadline or ClearFaults.
type Fault struct {
	Kind       FaultKind
	Delay      time.Duration // FaultSlow: how long to wait
	RetryAfter int           // Fault429: Retry-After seconds; 0 means 1
	Times      int           // how many requests get the fault; 0 = until cleared
}

// faultTable holds the active fault per endpoint and per SRU target.
type faultTable struct {
	mu       sync.Mutex // guards active and byTarget
	active   [3]*activeFault
	byTarget map[string]*activeFault // SRU target (zone code or ExternalTarget) -> fault; wins over active[EndpointSRU]
}

type activeFault struct {
	Fault
	left int // requests still to fault when Times > 0
}

func endpoints(e Endpoint) []Endpoint {
	if e == EndpointAll {
		return []Endpoint{EndpointSRU, EndpointBibs}
	}
	return []Endpoint{e}
}

// SetFault injects f into the endpoint's next requests (for EndpointAll,
// into each endpoint, Times counting per endpoint), replacing any fault
// there. FaultNone clears it. Requests hanging in FaultHang are released and
// answered normally.
func (s *Simulator) SetFault(e Endpoint, f Fault) {
	s.faults.mu.Lock()
	for _, ep := range endpoints(e) {
		if f.Kind == FaultNone {
			s.faults.active[ep] = nil
			continue
		}
		s.faults.active[ep] = &activeFault{Fault: f, left: f.Times}
	}
	s.faults.mu.Unlock()
	s.release.fire()
}

// SetTargetFault injects f into the next SRU requests of one target only:
// the network code, a member code (its IZ SRU) or ExternalTarget. A target's
// fault wins over an EndpointSRU fault; FaultNone clears it. It reports
// false, and sets nothing, for an unknown target.
func (s *Simulator) SetTargetFault(target string, f Fault) bool {
	if s.zoneOf(target) == nil {
		return false
	}
	s.faults.mu.Lock()
	if f.Kind == FaultNone {
		delete(s.faults.byTarget, target)
	} else {
		if s.faults.byTarget == nil {
			s.faults.byTarget = map[string]*activeFault{}
		}
		s.faults.byTarget[target] = &activeFault{Fault: f, left: f.Times}
	}
	s.faults.mu.Unlock()
	s.release.fire()
	return true
}

// TargetFaults returns the active per-target faults.
func (s *Simulator) TargetFaults() map[string]Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := map[string]Fault{}
	for t, f := range s.faults.byTarget {
		ff := f.Fault
		if f.Times > 0 {
			ff.Times = f.left
		}
		out[t] = ff
	}
	return out
}

// ClearFaults removes every fault, per-target ones included, and releases
// hanging requests.
func (s *Simulator) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.byTarget = nil
	s.faults.mu.Unlock()
	s.SetFault(EndpointAll, Fault{})
}

// Faults returns the active faults by endpoint.
func (s *Simulator) Faults() map[Endpoint]Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := map[Endpoint]Fault{}
	for ep, f := range s.faults.active {
		if f != nil {
			ff := f.Fault
			if f.Times > 0 {
				ff.Times = f.left
			}
			out[Endpoint(ep)] = ff
		}
	}
	return out
}

// take returns the fault for this request (its target's, else its
// endpoint's) and uses it up. FaultLost is for writes only: a read
// (write false) passes it by without using it.
func (t *faultTable) take(e Endpoint, target string, write bool) (Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.byTarget[target]; f != nil && target != "" && (write || f.Kind != FaultLost) {
		if f.Times > 0 {
			f.left--
			if f.left <= 0 {
				delete(t.byTarget, target)
			}
		}
		return f.Fault, true
	}
	f := t.active[e]
	if f == nil || !write && f.Kind == FaultLost {
		return Fault{}, false
	}
	if f.Times > 0 {
		f.left--
		if f.left <= 0 {
			t.active[e] = nil
		}
	}
	return f.Fault, true
}

// counters count requests per endpoint and per SRU target, faulted ones
// included.
type counters struct {
	n      [3]atomic.Int64
	target map[string]*atomic.Int64 // made at New, one per target, never changed after
}

func (c *counters) init(targets []string) {
	c.target = make(map[string]*atomic.Int64, len(targets))
	for _, t := range targets {
		c.target[t] = new(atomic.Int64)
	}
}

// CountTarget is the number of SRU requests one target received (the
// network code, a member code or ExternalTarget).
func (s *Simulator) CountTarget(target string) int64 {
	if n := s.counts.target[target]; n != nil {
		return n.Load()
	}
	return 0
}

// Count is the number of requests the endpoint received (EndpointAll: both).
func (s *Simulator) Count(e Endpoint) int64 {
	var n int64
	for _, ep := range endpoints(e) {
		n += s.counts.n[ep].Load()
	}
	return n
}

// ResetCounters zeroes the counters, empties the request log and restores
// every key's daily budget.
func (s *Simulator) ResetCounters() {
	for i := range s.counts.n {
		s.counts.n[i].Store(0)
	}
	for _, n := range s.counts.target {
		n.Store(0)
	}
	s.log.reset()
	s.quota.reset()
}

// RequestLog is one request as the simulator received it.
type RequestLog struct {
	Time           time.Time
	Endpoint       Endpoint
	Method         string
	Path           string
	Query          url.Values // the apikey parameter's value is replaced by "REDACTED"
	KeyInURL       bool       // the request carried its API key in the URL
	KeyInHeader    bool       // the request carried Authorization: apikey
	KeyOwner       string     // the institution whose API key the request carried; "" for none or an unknown key
	MaximumRecords int        // SRU maximumRecords as asked (-1 when absent or not a number)
}

// requestLog is a bounded ring of the latest requests.
type requestLog struct {
	mu   sync.Mutex // guards ring, next, full
	ring []RequestLog
	next int
	full bool
}

func (l *requestLog) init(n int) { l.ring = make([]RequestLog, n) }

func (l *requestLog) add(e RequestLog) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = e
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.ring)
	l.next, l.full = 0, false
}

// Requests returns the latest requests (at most 1024), oldest first.
func (s *Simulator) Requests() []RequestLog {
	l := &s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []RequestLog
	if l.full {
		out = append(out, l.ring[l.next:]...)
	}
	return append(out, l.ring[:l.next]...)
}

func redactedQuery(q url.Values) (url.Values, bool) {
	out := url.Values{}
	inURL := false
	for k, v := range q {
		if k == "apikey" {
			inURL = true
			out[k] = []string{"REDACTED"}
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out, inURL
}

func maximumRecords(q url.Values) int {
	n, err := strconv.Atoi(q.Get("maximumRecords"))
	if err != nil {
		return -1
	}
	return n
}

// malformed makes an answer ill-formed: XML gets "<<&" in the middle (never
// well-formed anywhere in a document), JSON loses its closing brace.
func malformed(resp response) []byte {
	b := resp.body
	if resp.ctype == jsonType {
		b = bytes.TrimRight(b, "\n }")
		return append(append([]byte(nil), b...), ", <<&"...)
	}
	mid := len(b) / 2
	out := make([]byte, 0, len(b)+3)
	out = append(out, b[:mid]...)
	out = append(out, "<<&"...)
	return append(out, b[mid:]...)
}

// truncated cuts an answer in the middle of its first record (or in the
// middle of the body when it has none).
func truncated(b []byte) []byte {
	start := 0
	for _, marker := range []string{"<recordData>", "<record>", `"anies"`} {
		if i := bytes.Index(b, []byte(marker)); i >= 0 {
			start = i + len(marker)
			break
		}
	}
	end := len(b)
	if i := bytes.Index(b[start:], []byte("</recordData>")); i >= 0 {
		end = start + i
	}
	return b[:start+(end-start)/2]
}
