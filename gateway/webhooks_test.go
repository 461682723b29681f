package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/almanet/gateway/almasim"
)

// The known vector, computed independently of the code under test:
//
//	printf '%s' "$body" | openssl dgst -sha256 -hmac test -binary | base64
const (
	vectorBody = `{"id":"42","action":"BIB","event":{"value":"BIB_UPDATED"},"bib":{"mms_id":"9912345678900101"}}`
	vectorSig  = "Gvw9Mt1H8adwV3jWn1tSVttPoZaQXTE6d3MZxB+xSk8="
)

func TestWebhookSignatureKnownVector(t *testing.T) {
	for _, tc := range []struct {
		name, body, sig, secret string
		want                    bool
	}{
		{"the vector", vectorBody, vectorSig, "test", true},
		{"surrounding spaces in the header", vectorBody, " " + vectorSig + " ", "test", true},
		{"tampered body", strings.Replace(vectorBody, "42", "43", 1), vectorSig, "test", false},
		{"another secret", vectorBody, vectorSig, "tesT", false},
		{"no secret", vectorBody, vectorSig, "", false},
		{"not Base64", vectorBody, "%%%", "test", false},
		{"truncated signature", vectorBody, vectorSig[:20], "test", false},
		{"hex instead of Base64", vectorBody, "1afc3d32dd47f1a7", "test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := validSignature([]byte(tc.body), tc.sig, tc.secret); got != tc.want {
				t.Errorf("validSignature = %v, want %v", got, tc.want)
			}
		})
	}
	if got := almasim.Sign([]byte(vectorBody), "test"); got != vectorSig {
		t.Errorf("the simulator signs %q, want %q", got, vectorSig)
	}
}

func TestWebhookChallengeAndRefusals(t *testing.T) {
	env := newEnv(t, nil) // no ALMA_WEBHOOK_SECRET
	code, _, body := env.get("/webhooks/alma?challenge=abc%20123")
	if code != http.StatusOK || string(body) != `{"challenge":"abc 123"}` {
		t.Errorf("challenge = %d %s", code, body)
	}
	if code, _, _ := env.get("/webhooks/alma"); code != http.StatusBadRequest {
		t.Errorf("no challenge = %d, want 400", code)
	}
	code, _, body = env.send(http.MethodPost, "/webhooks/alma", "application/json", vectorBody, "X-Exl-Signature", vectorSig)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "ALMA_WEBHOOK_SECRET") {
		t.Errorf("without a secret = %d %s, want 503 naming ALMA_WEBHOOK_SECRET", code, body)
	}
}

func TestWebhookEvictsExactlyItsRecord(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Writes.WebhookSecret = "test" })
	recs := env.sim.Records()
	a, b := recs[10], recs[11]
	for _, r := range []almasim.Record{a, b} {
		if code, _, body := env.get("/v1/records/" + r.MMSID); code != http.StatusOK {
			t.Fatalf("GET %s = %d\n%s", r.MMSID, code, body)
		}
	}
	post := func(body, sig string) (int, []byte) {
		code, _, out := env.send(http.MethodPost, "/webhooks/alma", "application/json", body, "X-Exl-Signature", sig)
		return code, out
	}
	event := func(action, id string) string {
		switch action {
		case "ITEM":
			return `{"id":"1","action":"ITEM","institution":{"value":"01NET_INST"},"event":{"value":"ITEM_UPDATED"},"item":{"bib_data":{"mms_id":"` + id + `"},"item_data":{"pid":"23"}}}`
		}
		return `{"id":"1","action":"BIB","event":{"value":"BIB_UPDATED"},"bib":{"mms_id":"` + id + `","title":"x"}}`
	}

	// A bad signature changes nothing.
	from := env.logLen()
	body := event("BIB", a.MMSID)
	tampered := strings.Replace(body, `"x"`, `"y"`, 1)
	if code, out := post(tampered, almasim.Sign([]byte(body), "test")); code != http.StatusUnauthorized {
		t.Errorf("tampered = %d %s, want 401", code, out)
	}
	if code, _ := post(body, ""); code != http.StatusUnauthorized {
		t.Errorf("unsigned = %d, want 401", code)
	}
	if code, _ := post(body, almasim.Sign([]byte(body), "wrong")); code != http.StatusUnauthorized {
		t.Errorf("wrong secret = %d, want 401", code)
	}
	for _, r := range []almasim.Record{a, b} {
		env.get("/v1/records/" + r.MMSID)
	}
	if n := env.logLen() - from; n != 0 {
		t.Errorf("after refused events the cached records made %d Alma calls", n)
	}

	// An ITEM event for a: a's entries go (a's record is refreshed in the
	// background, its availability is read again), b's stay.
	ev := event("ITEM", a.MMSID)
	code, out := post(ev, almasim.Sign([]byte(ev), "test"))
	if code != http.StatusOK {
		t.Fatalf("event = %d %s", code, out)
	}
	var ans struct {
		Evicted    []string `json:"evicted"`
		Refreshing bool     `json:"refreshing"`
	}
	if err := json.Unmarshal(out, &ans); err != nil || len(ans.Evicted) != 1 || ans.Evicted[0] != a.MMSID || !ans.Refreshing {
		t.Errorf("answer %s", out)
	}
	env.gw.writing.bg.Wait() // the background refresh
	from = env.logLen()
	env.get("/v1/records/" + b.MMSID)
	if n := env.logLen() - from; n != 0 {
		t.Errorf("b made %d Alma calls after a's event, want 0", n)
	}
	from = env.logLen()
	env.get("/v1/records/" + a.MMSID)
	var sru, api int
	for _, r := range env.sim.Requests()[from:] {
		if r.Endpoint == almasim.EndpointSRU {
			sru++
		} else {
			api++
		}
	}
	if sru != 0 || api != 1 {
		t.Errorf("a after its event: %d SRU calls (want 0: refreshed in the background), %d API calls (want 1: availability purged)", sru, api)
	}

	// Events the gateway does not cache anything for are taken and ignored.
	other := `{"id":"2","action":"JOB_END","job_instance":{"id":"1"}}`
	if code, out := post(other, almasim.Sign([]byte(other), "test")); code != http.StatusOK || !strings.Contains(string(out), "ignored") {
		t.Errorf("JOB_END = %d %s", code, out)
	}
	for _, bad := range []string{`{"action":"BIB","bib":{"mms_id":"12ab"}}`, `{"action":"BIB"}`, `not json`} {
		if code, _ := post(bad, almasim.Sign([]byte(bad), "test")); code != http.StatusBadRequest {
			t.Errorf("%s = %d, want 400", bad, code)
		}
	}
	_, _, metrics := env.get("/metrics")
	for _, want := range []string{`gateway_webhooks_total{action="ITEM",outcome="evicted"} 1`, `gateway_webhooks_total{action="unknown",outcome="bad_signature"} 3`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestSimulatorSendsSignedWebhooksOnAWrite(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Writes.WebhookSecret = "hook-secret" })
	env.sim.SetWebhook(env.base+"/webhooks/alma", "hook-secret")
	m := env.sim.Members()[0]
	nz := notHeldBy(t, env.sim, m.Code, 0)
	if code, _, body := env.send(http.MethodPost, "/v1/institutions/"+m.Code+"/bibs?from_nz_mms_id="+nz.MMSID, "", "", "Idempotency-Key", "hook"); code != http.StatusCreated {
		t.Fatalf("link = %d\n%s", code, body)
	}
	env.sim.WaitWebhooks()
	ok, failed := env.sim.WebhooksSent()
	if ok != 2 || failed != 0 {
		t.Errorf("webhooks delivered %d, failed %d; want 2 (the new IZ record, the NZ record), 0", ok, failed)
	}
	logs := env.logs.String()
	for _, want := range []string{`"operation":"webhook:BIB_CREATED"`, `"operation":"webhook:BIB_UPDATED"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the audit log lacks %s", want)
		}
	}
	if strings.Contains(logs, "hook-secret") {
		t.Error("the webhook secret is in the log")
	}
}

// auditCount counts the audit lines of operation op in the log.
func (e *testEnv) auditCount(op string) int {
	n := 0
	for _, l := range strings.Split(e.logs.String(), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(l), &v) == nil && v["msg"] == "audit" && v["operation"] == op {
			n++
		}
	}
	return n
}

// One signed event sent many times is taken once: each replay answers 200
// and is counted, with no second purge and no second audit line (before:
// 300 sends in 0.2 s were 300 purges). With Redis, a replay to another
// replica is known too. An event older than the memory is not taken.
func TestWebhookReplayTakenOnce(t *testing.T) {
	redisURL := "redis://" + miniredis.RunT(t).Addr()
	mk := func() *testEnv {
		return newEnv(t, func(c *Config) { c.Writes.WebhookSecret = "test"; c.RedisURL = redisURL })
	}
	a, b := mk(), mk()
	rec := a.sim.Records()[12]
	ev := `{"id":"evt-42","action":"BIB","time":"2026-11-26T09:59:00Z","event":{"value":"BIB_UPDATED"},"bib":{"mms_id":"` + rec.MMSID + `"}}`
	sig := almasim.Sign([]byte(ev), "test")
	const sends = 60
	var wg sync.WaitGroup
	codes := make([]int, sends)
	bodies := make([]string, sends)
	for i := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := a
			if i%3 == 2 {
				env = b // another replica, sharing Redis
			}
			code, _, out := env.send(http.MethodPost, "/webhooks/alma", "application/json", ev, "X-Exl-Signature", sig)
			codes[i], bodies[i] = code, string(out)
		}()
	}
	wg.Wait()
	taken, replayed := 0, 0
	for i := range sends {
		switch {
		case codes[i] != http.StatusOK:
			t.Errorf("send %d: %d %s", i, codes[i], bodies[i])
		case strings.Contains(bodies[i], `"evicted"`):
			taken++
		case strings.Contains(bodies[i], `"replayed"`):
			replayed++
		}
	}
	if taken != 1 || replayed != sends-1 {
		t.Errorf("taken %d, replayed %d; want 1 and %d", taken, replayed, sends-1)
	}
	if n := a.auditCount("webhook:BIB_UPDATED") + b.auditCount("webhook:BIB_UPDATED"); n != 1 {
		t.Errorf("%d audit lines for the event, want 1", n)
	}
	_, _, ma := a.get("/metrics")
	_, _, mb := b.get("/metrics")
	metric := func(body []byte, series string) int {
		for _, l := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(l, series+" "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return 0
	}
	if n := metric(ma, `gateway_webhooks_total{action="BIB",outcome="replayed"}`) + metric(mb, `gateway_webhooks_total{action="BIB",outcome="replayed"}`); n != sends-1 {
		t.Errorf("replays counted %d, want %d", n, sends-1)
	}

	// Without Redis, one replica still takes an event once; a body without
	// an id is known by its bytes.
	c := newEnv(t, func(c *Config) { c.Writes.WebhookSecret = "test" })
	noID := `{"action":"BIB","event":{"value":"BIB_UPDATED"},"bib":{"mms_id":"` + rec.MMSID + `"}}`
	for i, want := range []string{`"evicted"`, `"replayed"`, `"replayed"`} {
		code, _, out := c.send(http.MethodPost, "/webhooks/alma", "application/json", noID, "X-Exl-Signature", almasim.Sign([]byte(noID), "test"))
		if code != http.StatusOK || !strings.Contains(string(out), want) {
			t.Errorf("no-id send %d: %d %s, want 200 %s", i, code, out, want)
		}
	}
	// An event Alma sent longer ago than the memory: not taken.
	old := `{"id":"evt-old","action":"BIB","time":"2026-11-24T09:00:00.123Z","event":{"value":"BIB_UPDATED"},"bib":{"mms_id":"` + rec.MMSID + `"}}`
	code, _, out := c.send(http.MethodPost, "/webhooks/alma", "application/json", old, "X-Exl-Signature", almasim.Sign([]byte(old), "test"))
	if code != http.StatusOK || !strings.Contains(string(out), `"stale"`) {
		t.Errorf("old event: %d %s, want 200 stale", code, out)
	}
	if n := c.auditCount("webhook:BIB_UPDATED"); n != 1 {
		t.Errorf("%d audit lines without Redis, want 1", n)
	}
}
