package gateway

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/almanet/gateway/almasim"
)

// replicas are two gateways on one simulator and one Redis, sharing a
// clock: the second takes the retries of a request the first abandoned.
func replicas(t *testing.T) (a, b *testEnv, mr *miniredis.Miniredis) {
	t.Helper()
	mr = miniredis.RunT(t)
	redis := func(c *Config) { c.RedisURL = "redis://" + mr.Addr() }
	a = newEnv(t, redis)
	b = newEnvOn(t, a.sim, a.simS, a.now, redis)
	return a, b, mr
}

// abandon sends a write to env whose answer Alma loses after doing it, and
// returns once Alma has done it (the request stays in flight, as in a
// process killed mid-write); done receives its status when it ends.
func abandon(t *testing.T, env *testEnv, path, ctype, body, key string) (done chan int) {
	t.Helper()
	before := env.sim.WritesDone()
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.FaultLost, Times: 1})
	done = make(chan int, 1)
	go func() {
		code, _, _ := env.send(http.MethodPost, path, ctype, body, "Idempotency-Key", key)
		done <- code
	}()
	for env.sim.WritesDone() == before {
		select {
		case code := <-done:
			t.Fatalf("the write ended (%d) before Alma did it", code)
		default:
			runtime.Gosched()
		}
	}
	return done
}

type unknownReply struct {
	Alma *struct {
		Outcome string `json:"outcome"`
		Check   string `json:"check"`
	} `json:"alma"`
	Reconciled bool `json:"reconciled"`
}

func decodeUnknown(t *testing.T, body []byte) unknownReply {
	t.Helper()
	var u unknownReply
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	return u
}

// Issue 21 item 3: a write whose request died after Alma did it is never
// run again blindly. The retry, on another replica once the first one's
// deadline has passed (before: 409 for 30 s, then a second write), looks
// in Alma and answers what happened; Alma sees exactly one write. The dead
// request's late end does not overwrite that answer.
func TestWriteAbandonedMidWriteIsReconciledNotRepeated(t *testing.T) {
	a, b, _ := replicas(t)
	m := a.sim.Members()[0]
	_, iz := heldBy(t, a.sim, m.Code, 0)
	line := `"po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"}}`
	var lender string
	var rsNZ almasim.Record
	for _, r := range a.sim.Records() {
		for _, h := range r.Holdings {
			if h.Institution != m.Code && lender == "" && len(r.Holdings) <= 3 {
				rsNZ, lender = r, h.Institution
			}
		}
	}
	cases := []struct {
		name, path, ctype, body string
		want                    int
		check                   func(t *testing.T, body []byte)
	}{
		{"link", "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + notHeldBy(t, a.sim, m.Code, 7).MMSID, "", "", http.StatusSeeOther,
			func(t *testing.T, body []byte) {
				if w := decodeWrite(t, body); w.IZMMSID == "" || w.Linked != "existing" || !decodeUnknown(t, body).Reconciled {
					t.Errorf("answer = %s, want the linked record, reconciled", body)
				}
			}},
		{"po line", "/v1/institutions/" + m.Code + "/po-lines", "application/json", `{"match":"iz","mms_id":"` + iz + `",` + line + `}`, http.StatusCreated,
			func(t *testing.T, body []byte) {
				if w := decodeWrite(t, body); !strings.HasPrefix(w.POLine.Number, "POL-") || !decodeUnknown(t, body).Reconciled {
					t.Errorf("answer = %s, want the PO line Alma made, reconciled", body)
				}
			}},
		{"resource sharing", "/v1/institutions/" + m.Code + "/resource-sharing-requests", "application/json",
			`{"nz_mms_id":"` + rsNZ.MMSID + `","lender":"` + lender + `","user_id":"p1"}`, http.StatusConflict,
			func(t *testing.T, body []byte) {
				if u := decodeUnknown(t, body); u.Alma == nil || u.Alma.Outcome != "unknown" || !strings.Contains(u.Alma.Check, "p1") {
					t.Errorf("answer = %s, want outcome unknown saying what to check", body)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "dead-" + keyOf(tc.name)
			before := a.sim.WritesDone()
			late := abandon(t, a, tc.path, tc.ctype, tc.body, key)
			if code, _, body := b.send(http.MethodPost, tc.path, tc.ctype, tc.body, "Idempotency-Key", key); code != http.StatusConflict {
				t.Errorf("retry while the first may still run = %d, want 409\n%s", code, body)
			}
			a.now.Advance(time.Minute) // past the first request's deadline: it is dead
			for range 2 {
				code, _, body := b.send(http.MethodPost, tc.path, tc.ctype, tc.body, "Idempotency-Key", key)
				if code != tc.want {
					t.Fatalf("retry after the first died = %d, want %d\n%s", code, tc.want, body)
				}
				tc.check(t, body)
			}
			a.sim.ClearFaults() // the dead request's answer arrives late
			<-late
			code, _, body := b.send(http.MethodPost, tc.path, tc.ctype, tc.body, "Idempotency-Key", key)
			if code != tc.want {
				t.Errorf("retry after the late end = %d, want %d\n%s", code, tc.want, body)
			}
			if n := a.sim.WritesDone() - before; n != 1 {
				t.Errorf("Alma did %d writes for one Idempotency-Key, want 1", n)
			}
		})
	}
}

// A write whose Alma call timed out after Alma did it is an unknown
// outcome, not a stored 503 (before: 503 to every retry for 24 h): the
// next request with the key reconciles at once and answers what happened.
func TestWriteTimedOutIsReconciledByTheNextRequest(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 8)
	path := "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + nz.MMSID
	before := env.sim.WritesDone()
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.FaultLost, Times: 1})
	code, _, body := env.send(http.MethodPost, path, "", "", "Idempotency-Key", "timed-out")
	if code < 500 || !strings.Contains(string(body), "same Idempotency-Key") {
		t.Errorf("timed-out write = %d, want 5xx saying to retry with the key\n%s", code, body)
	}
	code, _, body = env.send(http.MethodPost, path, "", "", "Idempotency-Key", "timed-out")
	if code != http.StatusSeeOther || decodeWrite(t, body).IZMMSID == "" {
		t.Errorf("retry = %d, want 303 to the record Alma linked\n%s", code, body)
	}
	if n := env.sim.WritesDone() - before; n != 1 {
		t.Errorf("Alma did %d writes, want 1", n)
	}
}

// Redis restarted empty mid-write: the claim is gone, so the retry (on
// another replica) is unsure. A link is looked for in Alma and not made
// twice; a resource-sharing request, which Alma cannot show, is held (503)
// rather than sent twice.
func TestWriteWithRedisEmptiedMidWriteIsNotRepeated(t *testing.T) {
	a, b, mr := replicas(t)
	m := a.sim.Members()[0]
	// Both replicas have seen Redis's epoch.
	for _, env := range []*testEnv{a, b} {
		nz := notHeldBy(t, a.sim, m.Code, 9)
		if env == b {
			nz = notHeldBy(t, a.sim, m.Code, 10)
		}
		if code, _, body := env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "warm-"+nz.MMSID); code != http.StatusCreated {
			t.Fatalf("warm-up link = %d\n%s", code, body)
		}
	}
	path := "/v1/institutions/" + m.Code + "/bibs?from_nz_mms_id=" + notHeldBy(t, a.sim, m.Code, 11).MMSID
	before := a.sim.WritesDone()
	late := abandon(t, a, path, "", "", "emptied")
	mr.FlushAll()
	code, _, body := b.send(http.MethodPost, path, "", "", "Idempotency-Key", "emptied")
	if code != http.StatusSeeOther || decodeWrite(t, body).IZMMSID == "" {
		t.Errorf("retry after Redis lost the claim = %d, want 303 to the record Alma linked\n%s", code, body)
	}
	if n := a.sim.WritesDone() - before; n != 1 {
		t.Errorf("Alma did %d writes, want 1", n)
	}
	a.sim.ClearFaults()
	<-late

	// A resource-sharing request in the same pending period: Alma cannot
	// show an earlier one, so it is held, not sent.
	var lender string
	var rec almasim.Record
	for _, r := range a.sim.Records() {
		for _, h := range r.Holdings {
			if h.Institution != m.Code && lender == "" {
				rec, lender = r, h.Institution
			}
		}
	}
	before = a.sim.WritesDone()
	rs := `{"nz_mms_id":"` + rec.MMSID + `","lender":"` + lender + `","user_id":"p2"}`
	code, hdr, body := b.send(http.MethodPost, "/v1/institutions/"+m.Code+"/resource-sharing-requests", "application/json", rs, "Idempotency-Key", "emptied-rs")
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "same Idempotency-Key") {
		t.Errorf("resource-sharing request while claims are unsure = %d (Retry-After %q), want 503 held with Retry-After\n%s", code, hdr.Get("Retry-After"), body)
	}
	if n := a.sim.WritesDone() - before; n != 0 {
		t.Errorf("Alma did %d writes for a held request, want 0", n)
	}
}

// A retry that cannot look in Alma (Alma fails the PO-line listing) keeps
// the key unknown: the next retry looks again and finds the PO line.
// Before, the failed look freed the key and the next retry ordered again.
func TestWriteReconcileThatFailsKeepsTheKeyUnknown(t *testing.T) {
	env := newEnv(t, nil)
	m := env.sim.Members()[0]
	_, iz := heldBy(t, env.sim, m.Code, 1)
	path := "/v1/institutions/" + m.Code + "/po-lines"
	order := `{"match":"iz","mms_id":"` + iz + `","po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"}}}`
	before := env.sim.WritesDone()
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.FaultLost, Times: 1})
	if code, _, body := env.send(http.MethodPost, path, "application/json", order, "Idempotency-Key", "look-fails"); code < 500 {
		t.Fatalf("timed-out order = %d, want 5xx\n%s", code, body)
	}
	env.sim.SetFault(almasim.EndpointBibs, almasim.Fault{Kind: almasim.Fault500})
	if code, _, body := env.send(http.MethodPost, path, "application/json", order, "Idempotency-Key", "look-fails"); code < 500 {
		t.Errorf("retry while Alma fails = %d, want 5xx\n%s", code, body)
	}
	env.sim.ClearFaults()
	env.now.Advance(time.Minute) // past any breaker's open period
	code, _, body := env.send(http.MethodPost, path, "application/json", order, "Idempotency-Key", "look-fails")
	if code != http.StatusCreated || !decodeUnknown(t, body).Reconciled {
		t.Errorf("retry once Alma answers = %d, want 201 with the PO line found, reconciled\n%s", code, body)
	}
	if n := env.sim.WritesDone() - before; n != 1 {
		t.Errorf("Alma made %d PO lines, want 1", n)
	}
}
