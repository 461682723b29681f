// Package writes is the network write workflows of SPEC 12 (the Ex Libris
// article's use cases 1, 3 and 4): linking a member's record to a network
// record, replacing its local fields, unlinking it, ordering through a PO
// line and a resource-sharing request to another member. It knows nothing
// of HTTP servers: the gateway copies a request out of its framework into a
// Request and writes the Answer back; the Service gets what it consumes
// (Alma's REST client, the members' guards, the idempotency store, the
// cache, the gateway's error mapping) as small interfaces in Deps.
//
// Every write goes the same way, in this order, so that nothing reaches
// Alma that should not:
//
//  1. the gateway has authenticated a staff Principal; it must be allowed
//     to act for the institution in the path (else 403, no Alma call);
//  2. the institution must be a configured member with its own API key;
//  3. the payload is checked (content type, size, shape) before anything
//     else is looked up;
//  4. the Idempotency-Key is claimed (package idempotency);
//  5. the workflow calls Alma with that member's key only, through the
//     member's REST guard (breaker, deadline); the transport never retries
//     a POST or PUT;
//  6. the answer is stored with the key, the cached answers of every record
//     the write touched are purged (every replica, through Redis), and one
//     audit line is written.
//
// A write whose outcome nobody knows (its request died, or Alma did not
// answer in time) is never run again blindly nor stored as an answer
// (issue 21 item 3): the next request with the key reconciles, looking in
// Alma for the write's effect, and writes only when Alma shows none.
//
// Alma's refusals keep Alma's code and message in the answer's "alma"
// object; the status says who must act: 400 the payload, 403 the scope, 404
// no such record in that institution, 409 a conflict with Alma's state, 503
// Alma unavailable (the gateway's one error mapping for the rest).
package writes

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/idempotency"
	"github.com/almanet/gateway/internal/ident"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/staff"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
)

// Alma is the part of Alma's REST API the workflows call (*alma.Client).
type Alma interface {
	CreateLinkedBib(ctx context.Context, nzMMSID, apiKey string) (*alma.Bib, error)
	GetBibRecord(ctx context.Context, mmsID, apiKey string) (*alma.Bib, error)
	UpdateBib(ctx context.Context, mmsID string, record []byte, apiKey string) (*alma.Bib, error)
	UnlinkFromNZ(ctx context.Context, mmsID, apiKey string) (*alma.Bib, error)
	CreatePOLine(ctx context.Context, poLine []byte, profile, apiKey string) (*alma.Written, error)
	ListPOLines(ctx context.Context, q, apiKey string) ([]alma.POLine, int, error)
	CreateResourceSharingRequest(ctx context.Context, userID string, req []byte, apiKey string) (*alma.Written, error)
}

// Guard runs one call under a member's REST guard (*upstream.Guard).
type Guard interface {
	Do(ctx context.Context, call func(ctx context.Context) error) error
}

// Store is the Idempotency-Key store (*idempotency.Store).
type Store interface {
	Claim(ctx context.Context, id, fp string) (idempotency.State, *idempotency.Answer)
	Finish(ctx context.Context, id, owner string, a idempotency.Answer)
	Unknown(ctx context.Context, id, owner string, started time.Time, fp string)
	Release(ctx context.Context, id, owner string)
}

// Cache purges cached answers by tag, on every replica (*cache.Loader).
type Cache interface {
	PurgeTag(ctx context.Context, tag string)
}

// Records finds network records (the gateway's record source, cached).
type Records interface {
	NZRecord(ctx context.Context, mmsID string) (*transform.Record, error)
}

// MemberSearch searches a member's own SRU (the registry's target for the
// member) and answers the records of the first page; ok false: the member
// has no SRU target.
type MemberSearch func(ctx context.Context, code, cql string, count int) (recs []*transform.Record, ok bool, err error)

// Errors is the gateway's one error mapping and its one JSON error body;
// the workflows add Alma's part (AlmaError) and never invent another.
type Errors interface {
	// Answer maps an error the workflows do not classify themselves (a
	// Refuse, an upstream failure) to the status, Retry-After and
	// diagnostic.
	Answer(route string, err error) (status int, retry time.Duration, d sru.Diagnostic)
	// Body is the JSON error body with the diagnostics and, when not nil,
	// Alma's part.
	Body(diags []sru.Diagnostic, alma *AlmaError) []byte
	// Refuse is a refusal by the gateway itself (never Alma's), which
	// Answer maps.
	Refuse(status int, details string) error
}

// Deps is what a Service consumes.
type Deps struct {
	Alma    Alma                                    // nil: ALMA_API_URL is unset
	Guard   func(code string) Guard                 // the member's REST guard; nil: none
	Members func(code string) (config.Member, bool) // the configured members
	Records Records
	Search  MemberSearch // nil: no member SRU is searched
	Cache   Cache
	Store   Store
	Errors  Errors
	Log     *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
	// Network is the network code (ALMA_SRU_URL's last path segment): the
	// 035 (EXLNZ-<network>) a member's linked record carries.
	Network string
	// Timeout is one upstream call's deadline (upstream.timeout): a write
	// runs for at most 3 of them.
	Timeout time.Duration
	// MaxBody bounds a write's body (writes.max_body_bytes).
	MaxBody int
}

// Service runs the write workflows.
type Service struct {
	Deps
	pending time.Duration
}

// New is a Service on d.
func New(d Deps) *Service {
	return &Service{Deps: d, pending: Pending(d.Timeout)}
}

// Pending is how long a write's request may run (3 upstream timeouts)
// plus a margin: after it, a claim's owner has surely ended, and the next
// request with the key reconciles (the idempotency store's pending time).
func Pending(timeout time.Duration) time.Duration { return 3*timeout + 10*time.Second }

// Request is a write request, copied out of the HTTP framework: it owns
// every byte.
type Request struct {
	Signed    bool            // a staff Principal was authenticated
	Who       staff.Principal // who acts
	Code      string          // the institution in the path
	Path      map[string]string
	Params    url.Values // the query
	Method    string
	URLPath   string // the request's path, for the key's fingerprint
	CType     string // Content-Type
	Body      []byte
	IdemKey   string // Idempotency-Key
	RequestID string
}

// Answer is what the gateway writes back: JSON always.
type Answer struct {
	Status     int
	Location   string
	Body       []byte
	RetryAfter time.Duration // the gateway's one Retry-After rule writes it
	Replayed   bool          // from the key store (Idempotent-Replayed: true)
}

// writeReq is a request being run.
type writeReq struct {
	op        string
	who       staff.Principal
	code      string
	member    config.Member
	params    url.Values
	path      map[string]string
	body      []byte
	idemKey   string
	requestID string
	// reconciling: an earlier request with the key may have done the
	// write; look past the caches before writing.
	reconciling   bool
	reconcileSure bool // and it surely ran (idempotency.Reconcile)
}

// writeResult is a workflow's success.
type writeResult struct {
	status   int
	location string
	body     any
	records  []string // MMS IDs the write touched: their cached answers are purged
	noted    []string // MMS IDs the write concerns without changing them (audit only)
	outcome  string
}

// Op is one workflow. check runs before the idempotency key is claimed
// and must not call Alma; run does the work.
type Op struct {
	name   string
	method string
	params []string // path parameters to copy
	ctypes []string // accepted request content types; nil: no body
	check  func(r *writeReq) error
	run    func(ctx context.Context, r *writeReq) (*writeResult, error)
	// reconcile looks in Alma for the effect of an earlier request with
	// the key whose outcome is unknown (issue 21 item 3). since is when it
	// began; sure says it surely ran (idempotency.Reconcile), not perhaps
	// (idempotency.Unsure). It answers the effect found, nil when Alma
	// shows none (run then writes), an *outcomeUnknown where Alma cannot
	// show it, or a *writeHeld when the write cannot be taken safely now.
	// nil: run is safe to repeat as it is.
	reconcile func(ctx context.Context, r *writeReq, since time.Time, sure bool) (*writeResult, error)
	keyNeeded bool // Idempotency-Key required (every POST)
}

// Params are the path parameters the gateway copies into Request.Path.
func (op Op) Params() []string { return op.params }

// almaRefusal is Alma's refusal of a write, with the status the gateway
// answers.
type almaRefusal struct {
	status int
	ae     *alma.Error
	note   string // the gateway's words, before Alma's
}

func (e *almaRefusal) Error() string { return e.ae.Error() }

// outcomeUnknown is a write whose earlier attempt may have reached Alma
// where Alma offers no read that shows it: 409, with what to check, and
// the key is kept unknown so that no request with it writes again.
type outcomeUnknown struct{ check string }

func (e *outcomeUnknown) Error() string { return "outcome unknown: " + e.check }

// writeHeld is a write not taken now because the key store cannot vouch
// for it and Alma cannot show an earlier attempt (Redis down or emptied):
// 503 with Retry-After, nothing written, the key released.
type writeHeld struct {
	details string
	retry   time.Duration
}

func (e *writeHeld) Error() string { return e.details }

// almaWriteStatus is the status for Alma's write error codes: who must act.
func almaWriteStatus(ae *alma.Error) int {
	switch ae.Code {
	case "402203", "33007", "401871", "401861":
		return http.StatusNotFound // no such record (or user) in that institution
	case "401652", "40166452", "40166453", "401870", "401876":
		return http.StatusConflict // the record's state, or the zone, forbids it
	case "UNAUTHORIZED":
		return http.StatusBadGateway // the gateway's key for the member is wrong: an operator must act
	}
	if ae.Status >= 400 && ae.Status < 500 {
		return http.StatusBadRequest // the payload (402204, 402209, 402278, 401664, 401872, 60105, …)
	}
	return http.StatusBadGateway
}

// alreadyLinked reports whether Alma refused a link because the member has
// a record linked to the NZ record already. Alma's code for it varies
// (issue 22): the simulator sends 401652, Alma's documented lists name
// 402210 too, and the message says so whatever the code.
func alreadyLinked(ae *alma.Error) bool {
	switch ae.Code {
	case "401652", "402210":
		return true
	}
	m := strings.ToLower(ae.Message)
	return strings.Contains(m, "already exists") || strings.Contains(m, "already linked")
}

// StaffName is who a Principal is in the audit and the key's scope.
func StaffName(p staff.Principal) string {
	if p.Name != "" {
		return p.Name
	}
	if p.Admin {
		return "admin"
	}
	return "staff"
}

// refuse is a refusal by the gateway itself (never Alma's).
func (w *Service) refuse(status int, details string) error { return w.Errors.Refuse(status, details) }

// Do runs op for in: op's checks, the key, Alma, the answer.
func (w *Service) Do(op Op, in *Request) Answer {
	r := &writeReq{op: op.name, path: map[string]string{}, requestID: in.RequestID}
	if !in.Signed {
		return w.fail(r, w.refuse(http.StatusForbidden, "staff sign-in is required for writes"))
	}
	p := in.Who
	r.who = p
	r.code = in.Code
	if !config.ValidCode(r.code) || len(r.code) > 64 {
		return w.fail(r, w.refuse(http.StatusBadRequest, "the institution code must be letters, digits and underscores"))
	}
	if !p.MayActFor(r.code) {
		return w.fail(r, w.refuse(http.StatusForbidden, StaffName(p)+" may act for "+p.Institution+" only, not for "+r.code))
	}
	m, ok := w.Members(r.code)
	if !ok {
		return w.fail(r, w.refuse(http.StatusNotFound, "institution "+r.code+" is not a member of this network"))
	}
	if m.APIKey == "" || w.Alma == nil || w.Guard(r.code) == nil {
		return w.fail(r, w.refuse(http.StatusBadRequest, "institution "+r.code+" has no API key configured (members[].api_key_env) or ALMA_API_URL is unset"))
	}
	r.member = m
	for _, name := range op.params {
		r.path[name] = in.Path[name]
	}
	r.params = in.Params
	if op.ctypes != nil {
		mt, _, err := mime.ParseMediaType(in.CType)
		if err != nil || !slices.Contains(op.ctypes, mt) {
			return w.fail(r, w.refuse(http.StatusUnsupportedMediaType, "the body must be "+strings.Join(op.ctypes, " or ")))
		}
		if len(in.Body) > w.MaxBody {
			return w.fail(r, w.refuse(http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.Itoa(w.MaxBody)+" bytes"))
		}
		r.body = in.Body
	}
	if op.check != nil {
		if err := op.check(r); err != nil {
			return w.fail(r, err)
		}
	}
	key := in.IdemKey
	if key == "" && op.keyNeeded {
		return w.fail(r, w.refuse(http.StatusBadRequest, "an Idempotency-Key header is required: a unique token per intended write, reused on retries"))
	}
	if key != "" && !ident.Sane(key, 255) {
		return w.fail(r, w.refuse(http.StatusBadRequest, "the Idempotency-Key must be 1 to 255 letters, digits, '-', '_' or '.'"))
	}
	r.idemKey = key

	var id, fp, owner string
	var started time.Time
	var state idempotency.State
	if r.idemKey != "" {
		id = idempotency.ID(r.code+"\x00"+StaffName(p)+"\x00"+op.name, r.idemKey)
		fp = idempotency.Fingerprint([]byte(op.method), []byte(in.URLPath), []byte(r.params.Encode()), r.body)
		var stored *idempotency.Answer
		state, stored = w.Store.Claim(context.Background(), id, fp)
		switch state {
		case idempotency.Claimed, idempotency.Reconcile, idempotency.Unsure:
			owner, started = stored.Owner, stored.StartedAt()
			r.reconciling = state != idempotency.Claimed
			r.reconcileSure = state == idempotency.Reconcile
		case idempotency.Replayed:
			w.Metrics.replays.Inc()
			w.Metrics.writes.WithLabelValues(op.name, "replayed").Inc()
			w.Audit(Entry{Who: StaffName(p), Institution: r.code, Operation: op.name, Status: stored.Status, Outcome: "replayed", IdempotencyKey: r.idemKey, RequestID: r.requestID})
			return Answer{Status: stored.Status, Location: stored.Location, Body: stored.Body, Replayed: true}
		case idempotency.Busy:
			a := w.fail(r, w.refuse(http.StatusConflict, "a request with this Idempotency-Key is still being processed; retry shortly with the same key"))
			a.RetryAfter = time.Second
			return a
		case idempotency.Mismatch:
			return w.fail(r, w.refuse(http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request; use a new key for a new write"))
		case idempotency.Full:
			a := w.fail(r, w.refuse(http.StatusServiceUnavailable, "too many idempotency keys are held; retry later"))
			a.RetryAfter = time.Minute
			return a
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*w.Timeout)
	defer cancel()
	var res *writeResult
	var err error
	looked := false // err is the reconcile's: Alma could not be asked
	if r.reconciling && op.reconcile != nil {
		since := started
		if state == idempotency.Unsure || since.IsZero() {
			since = w.Now().Add(-w.pending)
		}
		res, err = op.reconcile(ctx, r, since, state == idempotency.Reconcile)
		looked = err != nil
		if res != nil {
			res.outcome = "reconciled"
			if m, ok := res.body.(map[string]any); ok {
				m["reconciled"] = true
			}
		}
	}
	if res == nil && err == nil {
		res, err = op.run(ctx, r)
	}
	if err != nil {
		status, body, retry, keep := w.failure(r, err)
		if looked && keep != keepUnknown {
			// The look in Alma failed (or held the write): this request
			// did nothing, and the earlier one's outcome is still
			// unknown, so its answer is never stored. A takeover keeps
			// the key unknown; an unsure claim is freed, to be unsure
			// (or sure) again on the next request.
			keep = keepNone
			if r.reconcileSure {
				keep = keepUnknown
			}
		}
		if id != "" {
			switch keep {
			case keepNone:
				w.Store.Release(ctx, id, owner)
			case keepUnknown:
				w.Store.Unknown(ctx, id, owner, started, fp)
			default:
				w.Store.Finish(ctx, id, owner, idempotency.Answer{Fingerprint: fp, Status: status, Body: body})
			}
		}
		return Answer{Status: status, Body: body, RetryAfter: retry}
	}
	body, _ := json.Marshal(res.body)
	w.Evict(ctx, res.records)
	if id != "" {
		w.Store.Finish(ctx, id, owner, idempotency.Answer{Fingerprint: fp, Status: res.status, Location: res.location, Body: body})
	}
	w.Metrics.writes.WithLabelValues(op.name, res.outcome).Inc()
	w.Audit(Entry{Who: StaffName(p), Institution: r.code, Operation: op.name, Records: append(slices.Clone(res.records), res.noted...), Status: res.status, Outcome: res.outcome, IdempotencyKey: r.idemKey, RequestID: r.requestID})
	return Answer{Status: res.status, Location: res.location, Body: body}
}

// AlmaError is the "alma" object the workflows add to the one JSON error
// body: Alma's own status, code and message when Alma refused; outcome
// "unknown" with what to check when the write may have been done.
type AlmaError struct {
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Outcome "unknown": the write may have been done; Check says where to
	// look in Alma.
	Outcome string `json:"outcome,omitempty"`
	Check   string `json:"check,omitempty"`
}

// keep is what becomes of a failed write's idempotency key.
type keep int

const (
	keepAnswer  keep = iota // the answer is final: stored
	keepNone                // Alma surely did nothing: the key is free for a retry
	keepUnknown             // nobody knows whether Alma did it: the next request reconciles
)

// failure turns a workflow's error into the answer, and says what becomes
// of the key.
func (w *Service) failure(r *writeReq, err error) (status int, body []byte, retry time.Duration, k keep) {
	var diags []sru.Diagnostic
	var almaPart *AlmaError
	outcome, almaCode := "refused", ""
	var ar *almaRefusal
	var ae *alma.Error
	var ue *upstream.Error
	var ou *outcomeUnknown
	var held *writeHeld
	switch {
	case errors.As(err, &ou):
		status, outcome, k = http.StatusConflict, "unknown", keepUnknown
		diags = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "outcome unknown", Details: ou.check}}
		almaPart = &AlmaError{Outcome: "unknown", Check: ou.check}
	case errors.As(err, &held):
		status, retry, outcome, k = http.StatusServiceUnavailable, held.retry, "held", keepNone
		diags = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "the write is held", Details: held.details}}
	case errors.As(err, &ar) || errors.As(err, &ae) && !errors.As(err, &ue):
		if ar == nil {
			ar = &almaRefusal{status: almaWriteStatus(ae), ae: ae}
		}
		status = ar.status
		almaCode = ar.ae.Code
		details := "Alma answered HTTP " + strconv.Itoa(ar.ae.Status) + ": " + ar.ae.Code + " " + ar.ae.Message
		if ar.note != "" {
			details = ar.note + "; " + details
		}
		diags = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "Alma refused the request", Details: details}}
		almaPart = &AlmaError{Status: ar.ae.Status, Code: ar.ae.Code, Message: ar.ae.Message}
		if status == http.StatusConflict {
			outcome = "conflict"
		}
	case errors.Is(err, upstream.ErrNoAPI):
		status = http.StatusServiceUnavailable
		diags = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "Alma is unavailable", Details: err.Error()}}
		k = keepNone
	default:
		var d sru.Diagnostic
		status, retry, d = w.Errors.Answer("write:"+r.op, err)
		diags = []sru.Diagnostic{d}
		if errors.As(err, &ue) {
			outcome = "unavailable"
			k = keepNone
			if errors.Is(err, context.DeadlineExceeded) {
				// A timeout may have reached Alma: the outcome is unknown,
				// never stored as the answer (issue 21 item 3). The next
				// request with the key looks in Alma for the effect.
				outcome, k = "unknown", keepUnknown
				diags[0].Details += "; Alma may have done the write: retry with the same Idempotency-Key, and the gateway looks in Alma for its effect before it writes again"
			}
		}
	}
	body = w.Errors.Body(diags, almaPart)
	w.Metrics.writes.WithLabelValues(r.op, outcome).Inc()
	w.Audit(Entry{Who: StaffName(r.who), Institution: r.code, Operation: r.op, Status: status, AlmaCode: almaCode, Outcome: outcome, IdempotencyKey: r.idemKey, RequestID: r.requestID})
	return status, body, retry, k
}

// fail answers a refusal before Alma was asked.
func (w *Service) fail(r *writeReq, err error) Answer {
	status, body, retry, _ := w.failure(r, err)
	return Answer{Status: status, Body: body, RetryAfter: retry}
}

// Evict purges every cached answer holding one of the records, on every
// replica (the Cache publishes through Redis).
func (w *Service) Evict(ctx context.Context, ids []string) {
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		w.Cache.PurgeTag(ctx, "mms:"+id)
		w.Metrics.evicted.Inc()
	}
}

// call runs one Alma call for the member through its REST guard.
func (w *Service) call(ctx context.Context, code string, f func(ctx context.Context) error) error {
	g := w.Guard(code)
	if g == nil || w.Alma == nil {
		return upstream.ErrNoAPI
	}
	return g.Do(ctx, f)
}

// findLinked looks for the member's record linked to nzID: in the NZ
// record's member 852s, then through the member's SRU (035
// (EXLNZ-<network>)<nz mms id>). It answers "" when neither names one.
func (w *Service) findLinked(ctx context.Context, code, nzID string) (string, error) {
	// The NZ record's member-availability 852s name the member's record
	// ($a the member, $6 its IZ MMS ID): the seed's member availability,
	// usually cached, and known for members without an sru_url too
	// (issue 22).
	if rec, err := w.Records.NZRecord(ctx, nzID); err == nil {
		for _, h := range rec.Holdings {
			if h.Institution == code && h.IZMMSID != "" {
				return h.IZMMSID, nil
			}
		}
	}
	if w.Search == nil || w.Network == "" {
		return "", nil
	}
	query := `alma.other_system_number="(EXLNZ-` + w.Network + `)` + nzID + `"`
	recs, ok, err := w.Search(ctx, code, query, 10)
	if err != nil || !ok {
		return "", err
	}
	for _, rec := range recs {
		if rec != nil && rec.NZMMSID == nzID && rec.MMSID != "" {
			return rec.MMSID, nil
		}
	}
	return "", nil
}
