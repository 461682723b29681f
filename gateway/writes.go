package gateway

import (
	"bytes"
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
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/idempotency"
	"github.com/almanet/gateway/internal/ident"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/upstream"
)

// This file is the network write workflows of SPEC 12 (the Ex Libris
// article's use cases 1, 3 and 4). Every write goes the same way, in this
// order, so that nothing reaches Alma that should not:
//
//  1. the staff middleware has authenticated a Principal; it must be allowed
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
// Alma's refusals keep Alma's code and message in the answer's "alma"
// object; the status says who must act: 400 the payload, 403 the scope, 404
// no such record in that institution, 409 a conflict with Alma's state, 503
// Alma unavailable (errorAnswer's mapping, answer.go).

// writes holds the write workflows' state.
type writes struct {
	s       *Server
	log     *slog.Logger
	idem    *idempotency.Store
	m       *writeMetrics
	network string // the network code, from ALMA_SRU_URL's last path segment

	bgCtx  context.Context
	stopBg context.CancelFunc
	bg     sync.WaitGroup // background refreshes after webhooks
}

func newWrites(s *Server) *writes {
	w := &writes{s: s, log: s.log, m: newWriteMetrics(s.m.reg)}
	if u, err := url.Parse(s.cfg.SRUURL); err == nil {
		w.network = u.Path[strings.LastIndexByte(u.Path, '/')+1:]
	}
	onRedis := func(err error) {
		w.log.Warn("idempotency store: redis failed; this replica answers from its own memory", "error", err.Error())
	}
	if s.redis != nil {
		w.idem = idempotency.NewStore(s.cfg.Writes.IdempotencyTTL.D(), w.pending(s), s.cfg.Writes.IdempotencyMaxKeys, s.redis.Client(), onRedis)
	} else {
		w.idem = idempotency.NewStore(s.cfg.Writes.IdempotencyTTL.D(), w.pending(s), s.cfg.Writes.IdempotencyMaxKeys, nil, onRedis)
	}
	w.idem.SetClock(s.now)
	w.bgCtx, w.stopBg = context.WithCancel(context.Background())
	return w
}

// pending is how long a write's request may run (its context's 3 upstream
// timeouts) plus a margin: after it, a claim's owner has surely ended, and
// the next request with the key reconciles.
func (w *writes) pending(s *Server) time.Duration {
	return 3*s.cfg.Upstream.Timeout.D() + 10*time.Second
}

// close ends background refreshes and waits for them.
func (w *writes) close() {
	w.stopBg()
	w.bg.Wait()
}

// writeReq is a write request copied out of Fiber.
type writeReq struct {
	op        string
	who       Principal
	code      string
	member    Member
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

// writeOp is one workflow. check runs before the idempotency key is claimed
// and must not call Alma; run does the work.
type writeOp struct {
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

func staffName(p Principal) string {
	if p.Name != "" {
		return p.Name
	}
	if p.Admin {
		return "admin"
	}
	return "staff"
}

// handleWrite is every write endpoint: op's checks, the key, Alma, the
// answer.
func (s *Server) handleWrite(op writeOp) fiber.Handler {
	w := s.writes
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		c.Set("X-Cache", "MISS")
		r := &writeReq{op: op.name, path: map[string]string{}}
		r.requestID = strings.Clone(string(c.Response().Header.Peek("X-Request-Id")))
		p, ok := principalOf(c)
		if !ok {
			return w.fail(c, r, badStatus(http.StatusForbidden, "staff sign-in is required for writes"))
		}
		r.who = p
		r.code = strings.Clone(c.Params("code"))
		if !config.ValidCode(r.code) || len(r.code) > 64 {
			return w.fail(c, r, badStatus(http.StatusBadRequest, "the institution code must be letters, digits and underscores"))
		}
		if !p.MayActFor(r.code) {
			return w.fail(c, r, badStatus(http.StatusForbidden, staffName(p)+" may act for "+p.Institution+" only, not for "+r.code))
		}
		m, ok := s.cfg.Member(r.code)
		if !ok {
			return w.fail(c, r, badStatus(http.StatusNotFound, "institution "+r.code+" is not a member of this network"))
		}
		if m.APIKey == "" || s.api == nil || s.apiGuard[r.code] == nil {
			return w.fail(c, r, badStatus(http.StatusBadRequest, "institution "+r.code+" has no API key configured (members[].api_key_env) or ALMA_API_URL is unset"))
		}
		r.member = m
		for _, name := range op.params {
			r.path[name] = strings.Clone(c.Params(name))
		}
		r.params = queryParams(c)
		if op.ctypes != nil {
			mt, _, err := mime.ParseMediaType(string(c.Request().Header.ContentType()))
			if err != nil || !slices.Contains(op.ctypes, mt) {
				return w.fail(c, r, badStatus(http.StatusUnsupportedMediaType, "the body must be "+strings.Join(op.ctypes, " or ")))
			}
			if len(c.Body()) > s.cfg.Writes.MaxBodyBytes {
				return w.fail(c, r, badStatus(http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.Itoa(s.cfg.Writes.MaxBodyBytes)+" bytes"))
			}
			r.body = bytes.Clone(c.Body())
		}
		if op.check != nil {
			if err := op.check(r); err != nil {
				return w.fail(c, r, err)
			}
		}
		key := string(c.Request().Header.Peek("Idempotency-Key"))
		if key == "" && op.keyNeeded {
			return w.fail(c, r, badStatus(http.StatusBadRequest, "an Idempotency-Key header is required: a unique token per intended write, reused on retries"))
		}
		if key != "" && !ident.Sane(key, 255) {
			return w.fail(c, r, badStatus(http.StatusBadRequest, "the Idempotency-Key must be 1 to 255 letters, digits, '-', '_' or '.'"))
		}
		r.idemKey = strings.Clone(key)

		var id, fp, owner string
		var started time.Time
		var state idempotency.State
		if r.idemKey != "" {
			id = idempotency.ID(r.code+"\x00"+staffName(p)+"\x00"+op.name, r.idemKey)
			fp = idempotency.Fingerprint([]byte(op.method), []byte(c.Path()), []byte(r.params.Encode()), r.body)
			var stored *idempotency.Answer
			state, stored = w.idem.Claim(context.Background(), id, fp)
			switch state {
			case idempotency.Claimed, idempotency.Reconcile, idempotency.Unsure:
				owner, started = stored.Owner, stored.StartedAt()
				r.reconciling = state != idempotency.Claimed
				r.reconcileSure = state == idempotency.Reconcile
			case idempotency.Replayed:
				w.m.replays.Inc()
				w.m.writes.WithLabelValues(op.name, "replayed").Inc()
				w.audit(auditEntry{Who: staffName(p), Institution: r.code, Operation: op.name, Status: stored.Status, Outcome: "replayed", IdempotencyKey: r.idemKey, RequestID: r.requestID})
				c.Set("Idempotent-Replayed", "true")
				if stored.Location != "" {
					c.Set("Location", stored.Location)
				}
				c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
				return c.Status(stored.Status).Send(stored.Body)
			case idempotency.Busy:
				setRetryAfter(&c.Response().Header, time.Second)
				return w.fail(c, r, badStatus(http.StatusConflict, "a request with this Idempotency-Key is still being processed; retry shortly with the same key"))
			case idempotency.Mismatch:
				return w.fail(c, r, badStatus(http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request; use a new key for a new write"))
			case idempotency.Full:
				setRetryAfter(&c.Response().Header, time.Minute)
				return w.fail(c, r, badStatus(http.StatusServiceUnavailable, "too many idempotency keys are held; retry later"))
			}
		}

		ctx, cancel := context.WithTimeout(context.Background(), 3*s.cfg.Upstream.Timeout.D())
		defer cancel()
		var res *writeResult
		var err error
		looked := false // err is the reconcile's: Alma could not be asked
		if r.reconciling && op.reconcile != nil {
			since := started
			if state == idempotency.Unsure || since.IsZero() {
				since = s.now().Add(-w.pending(s))
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
					w.idem.Release(ctx, id, owner)
				case keepUnknown:
					w.idem.Unknown(ctx, id, owner, started, fp)
				default:
					w.idem.Finish(ctx, id, owner, idempotency.Answer{Fingerprint: fp, Status: status, Body: body})
				}
			}
			setRetryAfter(&c.Response().Header, retry)
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
			return c.Status(status).Send(body)
		}
		body, _ := json.Marshal(res.body)
		w.evict(ctx, res.records)
		if id != "" {
			w.idem.Finish(ctx, id, owner, idempotency.Answer{Fingerprint: fp, Status: res.status, Location: res.location, Body: body})
		}
		w.m.writes.WithLabelValues(op.name, res.outcome).Inc()
		w.audit(auditEntry{Who: staffName(p), Institution: r.code, Operation: op.name, Records: append(slices.Clone(res.records), res.noted...), Status: res.status, Outcome: res.outcome, IdempotencyKey: r.idemKey, RequestID: r.requestID})
		if res.location != "" {
			c.Set("Location", res.location)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Status(res.status).Send(body)
	}
}

// badStatus is a refusal by the gateway itself (never Alma's).
func badStatus(status int, details string) error { return refused(status, details) }

// writeErrorBody is what failure puts into the one JSON error shape
// (errorBody): the diagnostics, and Alma's own code and message when Alma
// refused.
type writeErrorBody struct {
	Diagnostics []sru.Diagnostic
	Alma        *almaErrorJSON
}

type almaErrorJSON struct {
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
func (w *writes) failure(r *writeReq, err error) (status int, body []byte, retry time.Duration, k keep) {
	var out writeErrorBody
	outcome, almaCode := "refused", ""
	var ar *almaRefusal
	var ae *alma.Error
	var ue *upstream.Error
	var ou *outcomeUnknown
	var held *writeHeld
	switch {
	case errors.As(err, &ou):
		status, outcome, k = http.StatusConflict, "unknown", keepUnknown
		out.Diagnostics = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "outcome unknown", Details: ou.check}}
		out.Alma = &almaErrorJSON{Outcome: "unknown", Check: ou.check}
	case errors.As(err, &held):
		status, retry, outcome, k = http.StatusServiceUnavailable, held.retry, "held", keepNone
		out.Diagnostics = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "the write is held", Details: held.details}}
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
		out.Diagnostics = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "Alma refused the request", Details: details}}
		out.Alma = &almaErrorJSON{Status: ar.ae.Status, Code: ar.ae.Code, Message: ar.ae.Message}
		if status == http.StatusConflict {
			outcome = "conflict"
		}
	case errors.Is(err, errNoAPI):
		status = http.StatusServiceUnavailable
		out.Diagnostics = []sru.Diagnostic{{URI: "info:srw/diagnostic/1/1", Message: "Alma is unavailable", Details: err.Error()}}
		k = keepNone
	default:
		a := errorAnswer(w.log, "write:"+r.op, err)
		status, retry = a.status, a.retryAfter
		out.Diagnostics = []sru.Diagnostic{a.diag}
		if errors.As(err, &ue) {
			outcome = "unavailable"
			k = keepNone
			if errors.Is(err, context.DeadlineExceeded) {
				// A timeout may have reached Alma: the outcome is unknown,
				// never stored as the answer (issue 21 item 3). The next
				// request with the key looks in Alma for the effect.
				outcome, k = "unknown", keepUnknown
				out.Diagnostics[0].Details += "; Alma may have done the write: retry with the same Idempotency-Key, and the gateway looks in Alma for its effect before it writes again"
			}
		}
	}
	body = errorBody(nil, out.Diagnostics, out.Alma, w.s.now(), 0)
	w.m.writes.WithLabelValues(r.op, outcome).Inc()
	w.audit(auditEntry{Who: staffName(r.who), Institution: r.code, Operation: r.op, Status: status, AlmaCode: almaCode, Outcome: outcome, IdempotencyKey: r.idemKey, RequestID: r.requestID})
	return status, body, retry, k
}

// fail answers a refusal before Alma was asked.
func (w *writes) fail(c *fiber.Ctx, r *writeReq, err error) error {
	status, body, retry, _ := w.failure(r, err)
	setRetryAfter(&c.Response().Header, retry)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Status(status).Send(body)
}

// evict purges every cached answer holding one of the records, on every
// replica (cache.Loader.PurgeTag publishes through Redis).
func (w *writes) evict(ctx context.Context, ids []string) {
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		w.s.loader.PurgeTag(ctx, "mms:"+id)
		w.m.evicted.Inc()
	}
}

// call runs one Alma call for the member through its REST guard.
func (w *writes) call(ctx context.Context, code string, f func(ctx context.Context) error) error {
	g := w.s.apiGuard[code]
	if g == nil || w.s.api == nil {
		return errNoAPI
	}
	return g.Do(ctx, f)
}

// findLinked looks for the member's record linked to nzID: in the NZ
// record's member 852s, then through the member's SRU (035
// (EXLNZ-<network>)<nz mms id>). It answers "" when neither names one.
func (w *writes) findLinked(ctx context.Context, code, nzID string) (string, error) {
	// The NZ record's member-availability 852s name the member's record
	// ($a the member, $6 its IZ MMS ID): the seed's member availability,
	// usually cached, and known for members without an sru_url too
	// (issue 22).
	if rec, _, err := w.s.recs.nzRecord(ctx, nzID); err == nil {
		for _, h := range rec.Holdings {
			if h.Institution == code && h.IZMMSID != "" {
				return h.IZMMSID, nil
			}
		}
	}
	reg := w.s.reg.Member(code)
	if reg == nil || w.network == "" {
		return "", nil
	}
	query := `alma.other_system_number="(EXLNZ-` + w.network + `)` + nzID + `"`
	page, err := reg.Target.Search(ctx, TargetQuery{CQL: query, Start: 1, Count: 10})
	if err != nil {
		return "", err
	}
	for _, tr := range page.Records {
		if tr.Record != nil && tr.Record.NZMMSID == nzID && tr.Record.MMSID != "" {
			return tr.Record.MMSID, nil
		}
	}
	return "", nil
}

func availabilityLocation(code, izID string) string {
	return "/v1/availability/" + izID + "?institution=" + url.QueryEscape(code)
}

// linkedAlready is a link's answer when the member has a record linked to
// nz already: 303 to its availability.
func linkedAlready(code, nz, iz string) *writeResult {
	return &writeResult{status: http.StatusSeeOther, location: availabilityLocation(code, iz), outcome: "existing",
		body: map[string]any{"institution": code, "nz_mms_id": nz, "iz_mms_id": iz, "linked": "existing"}}
}

// linkOp is use case 1: a new IZ record linked to the NZ record.
func (w *writes) linkOp() writeOp {
	return writeOp{
		name: "link", method: http.MethodPost, keyNeeded: true,
		// The member's linked record shows a link: the NZ record is purged
		// from the cache and looked at afresh (its 852s, the member's SRU).
		// A link found is the earlier request's; none: run links.
		reconcile: func(ctx context.Context, r *writeReq, _ time.Time, _ bool) (*writeResult, error) {
			nz := r.params.Get("from_nz_mms_id")
			w.evict(ctx, []string{nz})
			iz, err := w.findLinked(ctx, r.code, nz)
			if err != nil || iz == "" {
				return nil, err
			}
			return linkedAlready(r.code, nz, iz), nil
		},
		check: func(r *writeReq) error {
			for k := range r.params {
				if k != "from_nz_mms_id" {
					return badStatus(http.StatusBadRequest, "unknown parameter "+k+"; only from_nz_mms_id is taken")
				}
			}
			if !validMMSID(r.params.Get("from_nz_mms_id")) {
				return badStatus(http.StatusBadRequest, "from_nz_mms_id must be an MMS ID (2 to 24 digits)")
			}
			return nil
		},
		run: func(ctx context.Context, r *writeReq) (*writeResult, error) {
			nz := r.params.Get("from_nz_mms_id")
			existing := func(iz string) *writeResult { return linkedAlready(r.code, nz, iz) }
			if iz, err := w.findLinked(ctx, r.code, nz); err == nil && iz != "" {
				return existing(iz), nil
			}
			var bib *alma.Bib
			err := w.call(ctx, r.code, func(ctx context.Context) error {
				var err error
				bib, err = w.s.api.CreateLinkedBib(ctx, nz, r.member.APIKey)
				return err
			})
			var ae *alma.Error
			if errors.As(err, &ae) && (almaWriteStatus(ae) == http.StatusConflict || alreadyLinked(ae)) {
				// Alma refuses a second link without naming the record it
				// has: look again, past the cache (the cached NZ record or
				// the member's SRU may have lagged).
				w.evict(ctx, []string{nz})
				if iz, ferr := w.findLinked(ctx, r.code, nz); ferr == nil && iz != "" {
					return existing(iz), nil
				}
				return nil, &almaRefusal{status: http.StatusConflict, ae: ae, note: "the institution's record linked to " + nz + " could not be found in the network record's 852s nor through its SRU"}
			}
			if err != nil {
				return nil, err
			}
			iz := bib.MMSID
			return &writeResult{status: http.StatusCreated, location: availabilityLocation(r.code, iz), outcome: "ok",
				records: []string{nz, iz},
				body:    map[string]any{"institution": r.code, "nz_mms_id": nz, "iz_mms_id": iz, "linked": "created"}}, nil
		},
	}
}

// localFieldsOp is use case 3: replace the record's local fields.
func (w *writes) localFieldsOp() writeOp {
	return writeOp{
		name: "local_fields", method: http.MethodPut, params: []string{"iz_mms_id"},
		ctypes: []string{"application/marcxml+xml", "application/xml", "text/xml"},
		check: func(r *writeReq) error {
			if !validMMSID(r.path["iz_mms_id"]) {
				return badStatus(http.StatusBadRequest, "the IZ MMS ID must be 2 to 24 digits")
			}
			if len(r.params) > 0 {
				return badStatus(http.StatusBadRequest, "this endpoint takes no query parameters")
			}
			leader, fields, err := transform.ReadFields(r.body, false)
			if err != nil {
				return badStatus(http.StatusBadRequest, "the body is not one MARCXML record: "+err.Error())
			}
			var bad []string
			if leader != "" {
				bad = append(bad, "leader")
			}
			for i, f := range fields {
				if !f.Local() {
					bad = append(bad, f.Name(i))
				}
			}
			if len(bad) > 0 {
				return badStatus(http.StatusBadRequest, "only local fields (a data field with $9 local) can be replaced; Alma would ignore these silently: "+strings.Join(bad, ", "))
			}
			return nil
		},
		run: func(ctx context.Context, r *writeReq) (*writeResult, error) {
			iz := r.path["iz_mms_id"]
			_, payload, _ := transform.ReadFields(r.body, false) // checked
			var bib *alma.Bib
			if err := w.call(ctx, r.code, func(ctx context.Context) error {
				var err error
				bib, err = w.s.api.GetBibRecord(ctx, iz, r.member.APIKey)
				return err
			}); err != nil {
				return nil, err
			}
			leader, cur, err := transform.ReadFields(bib.Record, true)
			if err != nil {
				return nil, &upstream.Error{Kind: upstream.ErrUnavailable, Upstream: "api:" + r.code, Detail: "Alma sent a record the gateway cannot read", Cause: err}
			}
			var next []transform.Field
			for _, f := range cur {
				// Alma's enrichment (INT, INST, AVA…) is not part of the
				// record: it is not sent back.
				if !f.Local() && f.MARC21() {
					next = append(next, f)
				}
			}
			next = append(next, payload...)
			slices.SortStableFunc(next, func(a, b transform.Field) int { return strings.Compare(a.Tag, b.Tag) })
			var out *alma.Bib
			if err := w.call(ctx, r.code, func(ctx context.Context) error {
				var err error
				out, err = w.s.api.UpdateBib(ctx, iz, transform.AppendFields(nil, leader, next), r.member.APIKey)
				return err
			}); err != nil {
				return nil, err
			}
			nz := ""
			if rec, err := transform.Parse(out.Record); err == nil {
				nz = rec.NZMMSID
			}
			return &writeResult{status: http.StatusOK, outcome: "ok", records: []string{iz, nz},
				body: map[string]any{"institution": r.code, "iz_mms_id": iz, "nz_mms_id": nullable(nz), "local_fields": len(payload)}}, nil
		},
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// unlinkOp detaches an IZ record from the NZ (op=unlink_from_nz).
func (w *writes) unlinkOp() writeOp {
	return writeOp{
		name: "unlink", method: http.MethodPost, params: []string{"iz_mms_id"}, keyNeeded: true,
		check: func(r *writeReq) error {
			if !validMMSID(r.path["iz_mms_id"]) {
				return badStatus(http.StatusBadRequest, "the IZ MMS ID must be 2 to 24 digits")
			}
			if len(r.params) > 0 {
				return badStatus(http.StatusBadRequest, "this endpoint takes no query parameters")
			}
			return nil
		},
		run: func(ctx context.Context, r *writeReq) (*writeResult, error) {
			iz := r.path["iz_mms_id"]
			// The NZ record is named only before: after the unlink Alma's
			// answer no longer says which it was, and its answers must go.
			var before *alma.Bib
			if err := w.call(ctx, r.code, func(ctx context.Context) error {
				var err error
				before, err = w.s.api.GetBibRecord(ctx, iz, r.member.APIKey)
				return err
			}); err != nil {
				return nil, err
			}
			nz := ""
			if rec, err := transform.Parse(before.Record); err == nil {
				nz = rec.NZMMSID
			}
			if nz == "" {
				if r.reconciling && r.reconcileSure {
					// The request with this key that ran first found it
					// linked (else it would have answered): its unlink
					// took effect.
					return &writeResult{status: http.StatusOK, outcome: "reconciled", records: []string{iz},
						body: map[string]any{"institution": r.code, "iz_mms_id": iz, "nz_mms_id": nil, "unlinked": true, "reconciled": true}}, nil
				}
				return nil, badStatus(http.StatusConflict, "record "+iz+" is not linked to a network record")
			}
			if err := w.call(ctx, r.code, func(ctx context.Context) error {
				_, err := w.s.api.UnlinkFromNZ(ctx, iz, r.member.APIKey)
				return err
			}); err != nil {
				return nil, err
			}
			return &writeResult{status: http.StatusOK, outcome: "ok", records: []string{iz, nz},
				body: map[string]any{"institution": r.code, "iz_mms_id": iz, "nz_mms_id": nz, "unlinked": true}}, nil
		},
	}
}

// poLineIn is the PO line request.
type poLineIn struct {
	Match       string                     `json:"match"`
	MMSID       string                     `json:"mms_id"`
	ProfileCode string                     `json:"profile_code"`
	POLine      map[string]json.RawMessage `json:"po_line"`
}

// poLineOp is use case 4: order through a PO line. match "iz": mms_id is
// the member's own record; "iz_and_nz": mms_id may be an NZ record, and
// the order goes on the member's record linked to it (found by its SRU, or
// linked now), as Alma's match on IZ then NZ does.
func (w *writes) poLineOp() writeOp {
	parse := func(r *writeReq) (*poLineIn, error) {
		return decodeStrict[poLineIn](r.body, "a PO line request {match, mms_id, po_line, profile_code}")
	}
	return writeOp{
		name: "po_line", method: http.MethodPost, keyNeeded: true, ctypes: []string{"application/json"},
		reconcile: func(ctx context.Context, r *writeReq, since time.Time, sure bool) (*writeResult, error) {
			in, _ := parse(r) // checked
			return w.findPOLine(ctx, r, in, since, sure)
		},
		check: func(r *writeReq) error {
			if len(r.params) > 0 {
				return badStatus(http.StatusBadRequest, "this endpoint takes no query parameters")
			}
			in, err := parse(r)
			if err != nil {
				return err
			}
			if in.Match != "iz" && in.Match != "iz_and_nz" {
				return badStatus(http.StatusBadRequest, `match must be "iz" or "iz_and_nz"`)
			}
			if !validMMSID(in.MMSID) {
				return badStatus(http.StatusBadRequest, "mms_id must be an MMS ID (2 to 24 digits)")
			}
			if in.POLine == nil {
				return badStatus(http.StatusBadRequest, "po_line (Alma's PO line object) is required")
			}
			if _, ok := in.POLine["resource_metadata"]; ok {
				return badStatus(http.StatusBadRequest, "po_line.resource_metadata is set by the gateway from mms_id")
			}
			if in.ProfileCode != "" && !ident.Sane(in.ProfileCode, 64) {
				return badStatus(http.StatusBadRequest, "profile_code must be letters, digits, '-', '_' or '.'")
			}
			return nil
		},
		run: func(ctx context.Context, r *writeReq) (*writeResult, error) {
			in, _ := parse(r) // checked
			iz, nz := in.MMSID, ""
			var touched []string
			if in.Match == "iz_and_nz" {
				found, err := w.findLinked(ctx, r.code, in.MMSID)
				if err != nil {
					return nil, err
				}
				if found != "" {
					iz, nz = found, in.MMSID
				} else {
					// Not linked yet: when it is an NZ record, link one now.
					// Alma answers 33007 for an ID that is no NZ record: it
					// is then taken as the member's own record (the IZ half
					// of the match).
					var bib *alma.Bib
					err := w.call(ctx, r.code, func(ctx context.Context) error {
						var err error
						bib, err = w.s.api.CreateLinkedBib(ctx, in.MMSID, r.member.APIKey)
						return err
					})
					var ae *alma.Error
					switch {
					case err == nil:
						iz, nz = bib.MMSID, in.MMSID
						touched = append(touched, nz, iz)
					case errors.As(err, &ae) && ae.Code == "33007":
						// Not an NZ record: the member's own.
					default:
						return nil, err
					}
				}
			}
			pl := make(map[string]json.RawMessage, len(in.POLine)+1)
			for k, v := range in.POLine {
				pl[k] = v
			}
			pl["resource_metadata"], _ = json.Marshal(map[string]any{"mms_id": map[string]string{"value": iz}})
			body, _ := json.Marshal(pl)
			var out *alma.Written
			err := w.call(ctx, r.code, func(ctx context.Context) error {
				var err error
				out, err = w.s.api.CreatePOLine(ctx, body, in.ProfileCode, r.member.APIKey)
				return err
			})
			if err != nil {
				if touched != nil {
					w.evict(ctx, touched)
				}
				return nil, err
			}
			var alm json.RawMessage = out.Body
			if !json.Valid(alm) {
				alm = json.RawMessage("null")
			}
			return &writeResult{status: http.StatusCreated, outcome: "ok", records: append(touched, iz),
				body: map[string]any{"institution": r.code, "match": in.Match, "iz_mms_id": iz, "nz_mms_id": nullable(nz), "po_line": alm}}, nil
		},
	}
}

// findPOLine looks in Alma (Retrieve PO-Lines, q=mms_id~) for the PO line
// an earlier request with the key may have made: on the record it orders
// for (for iz_and_nz, the member's record linked to the NZ record, looked
// for past the cache), of the same owner and type (or the number, when the
// request names one), created since the earlier request began. One found
// when that request surely ran is its PO line; none: nothing was ordered
// and the write goes on; several, or one when it perhaps ran: 409 outcome
// unknown naming them.
func (w *writes) findPOLine(ctx context.Context, r *writeReq, in *poLineIn, since time.Time, sure bool) (*writeResult, error) {
	iz, nz := in.MMSID, ""
	if in.Match == "iz_and_nz" {
		w.evict(ctx, []string{in.MMSID})
		found, err := w.findLinked(ctx, r.code, in.MMSID)
		if err != nil {
			return nil, err
		}
		if found != "" {
			iz, nz = found, in.MMSID
		}
	}
	value := func(k string) string {
		var v struct {
			Value string `json:"value"`
		}
		json.Unmarshal(in.POLine[k], &v)
		return v.Value
	}
	var number string
	json.Unmarshal(in.POLine["number"], &number)
	var lines []alma.POLine
	if err := w.call(ctx, r.code, func(ctx context.Context) error {
		var err error
		lines, _, err = w.s.api.ListPOLines(ctx, "mms_id~"+iz, r.member.APIKey)
		return err
	}); err != nil {
		return nil, err
	}
	day := since.UTC().Format("2006-01-02")
	var match []alma.POLine
	for _, l := range lines {
		switch {
		case number != "":
			if l.Number == number {
				match = append(match, l)
			}
		case l.MMSID == iz && l.Owner == value("owner") && l.Type == value("type") && len(l.CreatedDate) >= 10 && l.CreatedDate[:10] >= day:
			match = append(match, l)
		}
	}
	switch {
	case len(match) == 0:
		return nil, nil
	case len(match) == 1 && sure:
		return &writeResult{status: http.StatusCreated, records: []string{iz, nz},
			body: map[string]any{"institution": r.code, "match": in.Match, "iz_mms_id": iz, "nz_mms_id": nullable(nz), "po_line": match[0].JSON}}, nil
	}
	nums := make([]string, len(match))
	for i, l := range match {
		nums[i] = l.Number
	}
	return nil, &outcomeUnknown{check: "Alma holds PO line(s) " + strings.Join(nums, ", ") + " of owner " + value("owner") + " for record " + iz +
		" created since " + day + ", and the gateway cannot tell whether one is this request's (the key store lost track of it); check them in Alma, and order again with a new Idempotency-Key only if none is"}
}

// rsIn is the resource-sharing request.
type rsIn struct {
	NZMMSID        string `json:"nz_mms_id"`
	Lender         string `json:"lender"`
	UserID         string `json:"user_id"`
	PickupLocation string `json:"pickup_location"`
	Format         string `json:"format"`
	CitationType   string `json:"citation_type"`
	Note           string `json:"note"`
}

func validUserID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == '/' || r == '\\' || r == '?' || r == '#' || r == '%' || r == 0x7f {
			return false
		}
	}
	return true
}

// rsRequestOp is use case 1's last step: a borrowing request to a member
// that holds the title (SPEC 3.4), sent with the borrowing member's key.
func (w *writes) rsRequestOp() writeOp {
	parse := func(r *writeReq) (*rsIn, error) {
		return decodeStrict[rsIn](r.body, "a request {nz_mms_id, lender, user_id, pickup_location, format, citation_type, note}")
	}
	return writeOp{
		name: "rs_request", method: http.MethodPost, keyNeeded: true, ctypes: []string{"application/json"},
		// Alma reads a user's borrowing request by its request_id only:
		// nothing the gateway sent finds it. An earlier request that surely
		// ran is an unknown outcome for good; one that perhaps ran (the key
		// store down or emptied) holds the write until the store is sure.
		reconcile: func(ctx context.Context, r *writeReq, since time.Time, sure bool) (*writeResult, error) {
			in, _ := parse(r) // checked
			if !sure {
				return nil, &writeHeld{retry: w.pending(w.s), details: "the idempotency store cannot vouch for this key now (Redis is down or lost its keys), and Alma offers no read that shows an earlier resource-sharing request; retry later with the same Idempotency-Key"}
			}
			return nil, &outcomeUnknown{check: "an earlier request with this Idempotency-Key may have created a borrowing request in Alma for user " + in.UserID + " to lender " + in.Lender + " for network record " + in.NZMMSID +
				" since " + since.UTC().Format(time.RFC3339) + "; Alma shows a user's resource-sharing requests in the user's record (Fulfillment > Resource Sharing > Borrowing Requests), not by anything the gateway sent; if there is none, send the request again with a new Idempotency-Key"}
		},
		check: func(r *writeReq) error {
			if len(r.params) > 0 {
				return badStatus(http.StatusBadRequest, "this endpoint takes no query parameters")
			}
			in, err := parse(r)
			if err != nil {
				return err
			}
			switch {
			case !validMMSID(in.NZMMSID):
				return badStatus(http.StatusBadRequest, "nz_mms_id must be an MMS ID (2 to 24 digits)")
			case !validUserID(in.UserID):
				return badStatus(http.StatusBadRequest, "user_id must be 1 to 255 characters without '/', '?', '#', '%' or control characters")
			case in.Lender == r.code:
				return badStatus(http.StatusBadRequest, "the lender must be another member than the borrowing institution")
			case len(in.PickupLocation) > 255 || len(in.Note) > 2000 || len(in.Format) > 64 || len(in.CitationType) > 64:
				return badStatus(http.StatusBadRequest, "pickup_location, note, format or citation_type is too long")
			}
			if _, ok := w.s.cfg.Member(in.Lender); !ok {
				return badStatus(http.StatusBadRequest, "lender "+in.Lender+" is not a member of this network")
			}
			return nil
		},
		run: func(ctx context.Context, r *writeReq) (*writeResult, error) {
			in, _ := parse(r) // checked
			rec, _, err := w.s.recs.nzRecord(ctx, in.NZMMSID)
			if err != nil {
				return nil, err
			}
			holds := false
			for _, h := range rec.Holdings {
				if h.Institution == in.Lender {
					holds = true
				}
			}
			if !holds {
				return nil, badStatus(http.StatusConflict, "lender "+in.Lender+" holds no copy of network record "+in.NZMMSID)
			}
			format := in.Format
			if format == "" {
				format = "PHYSICAL"
			}
			citation := in.CitationType
			if citation == "" {
				citation = "BK"
				if len(rec.ISSNs) > 0 {
					citation = "CR"
				}
			}
			req := map[string]any{
				"title": rec.Title, "format": map[string]string{"value": format}, "citation_type": map[string]string{"value": citation},
				"partner": map[string]string{"value": in.Lender}, "agree_to_copyright_terms": true,
				"year": rec.Year, "publisher": rec.Publisher,
			}
			if len(rec.Authors) > 0 {
				req["author"] = rec.Authors[0]
			}
			if len(rec.ISBNs) > 0 {
				req["isbn"] = rec.ISBNs[0]
			}
			if len(rec.ISSNs) > 0 {
				req["issn"] = rec.ISSNs[0]
			}
			if in.PickupLocation != "" {
				req["pickup_location"] = map[string]string{"value": in.PickupLocation}
				req["pickup_location_type"] = "LIBRARY"
			}
			if in.Note != "" {
				req["note"] = in.Note
			}
			body, _ := json.Marshal(req)
			var out *alma.Written
			if err := w.call(ctx, r.code, func(ctx context.Context) error {
				var err error
				out, err = w.s.api.CreateResourceSharingRequest(ctx, in.UserID, body, r.member.APIKey)
				return err
			}); err != nil {
				return nil, err
			}
			var alm json.RawMessage = out.Body
			if !json.Valid(alm) {
				alm = json.RawMessage("null")
			}
			return &writeResult{status: http.StatusCreated, outcome: "ok", noted: []string{in.NZMMSID},
				body: map[string]any{"institution": r.code, "lender": in.Lender, "nz_mms_id": in.NZMMSID, "user_id": in.UserID, "request": alm}}, nil
		},
	}
}

// decodeStrict reads a write's JSON body as one T: unknown fields and
// trailing values are refused with a 400 that says what was expected.
func decodeStrict[T any](body []byte, what string) (*T, error) {
	var in T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, badStatus(http.StatusBadRequest, "the body is not "+what+": "+err.Error())
	}
	if dec.More() {
		return nil, badStatus(http.StatusBadRequest, "the body holds more than one JSON value")
	}
	return &in, nil
}
