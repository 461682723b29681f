package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
	env.gw.writes.bg.Wait() // the background refresh
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
