//go:build integration

package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWritesAcrossReplicas runs two gateway binaries on one redis-server in
// front of the simulator: a link posted to both at once with one
// Idempotency-Key is one Alma call with the member's key, the other
// replica replays the answer, and the other replica's cached record shows
// the link at once. Then a signed webhook is taken by the real binary.
func TestWritesAcrossReplicas(t *testing.T) {
	_, redisURL, rc := startRedis(t)
	s := startSim(t)
	code, _, body := get(t, s.base+"/_sim/network")
	var network struct {
		Members []struct {
			Code   string `json:"code"`
			APIKey string `json:"api_key"`
		} `json:"members"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &network) != nil || len(network.Members) == 0 {
		t.Fatalf("/_sim/network = %d %s", code, body)
	}
	var yaml strings.Builder
	yaml.WriteString("members:\n")
	env := []string{"REDIS_URL=" + redisURL, "ALMA_WEBHOOK_SECRET=integration-secret"}
	for i, m := range network.Members {
		v := "MEMBER_KEY_" + string(rune('A'+i))
		yaml.WriteString("  - {code: " + m.Code + ", api_key_env: " + v + ", sru_url: " + s.base + "/view/sru/" + m.Code + "}\n")
		env = append(env, v+"="+m.APIKey)
	}
	cfg := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "GATEWAY_CONFIG="+cfg)
	// startGateway clears GATEWAY_CONFIG first; later entries win.
	a := startGateway(t, s, env...)
	b := startGateway(t, s, env...)
	member := network.Members[0].Code

	// An NZ record the member does not hold, read (and cached) on B.
	_, _, body = get(t, b.base+"/v1/search?q=history&limit=50")
	var page struct {
		Records []struct {
			MMSID    string `json:"mms_id"`
			Holdings []struct {
				Institution string `json:"institution"`
			} `json:"holdings"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	nz := ""
	for _, r := range page.Records {
		held := len(r.Holdings) == 0
		for _, h := range r.Holdings {
			held = held || h.Institution == member
		}
		if !held {
			nz = r.MMSID
			break
		}
	}
	if nz == "" {
		t.Fatal("no record without the member among 50")
	}
	holders := func(g *gw) string {
		_, _, body := get(t, g.base+"/v1/records/"+nz)
		return string(body)
	}
	if strings.Contains(holders(b), `"institution":"`+member+`"`) {
		t.Fatalf("%s already holds %s", member, nz)
	}
	// B copies its answers to Redis after answering; a purge that ran
	// before that copy landed would miss it (a race of the shared cache
	// itself, not of the writes), so the write waits for it.
	waitKey(t, rc, nz)

	from := len(s.requests(t))
	path := "/v1/institutions/" + member + "/bibs?from_nz_mms_id=" + nz
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(base string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodPost, base+path, nil)
		req.Header.Set("Idempotency-Key", "replicas-1")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Error(err)
			return 0, "", ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), string(b)
	}
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := a
			if i%2 == 1 {
				g = b
			}
			codes[i], _, _ = post(g.base)
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != http.StatusCreated && c != http.StatusConflict {
			t.Errorf("concurrent link: status %d, want 201 or 409", c)
		}
	}
	type logged struct {
		Method   string `json:"method"`
		Path     string `json:"path"`
		KeyOwner string `json:"key_owner"`
		KeyInURL bool   `json:"key_in_url"`
	}
	_, _, raw := get(t, s.base+"/_sim/requests")
	var all []logged
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	posts := 0
	for _, r := range all[from:] {
		if strings.HasPrefix(r.Path, "/almaws/") {
			if r.KeyOwner != member || r.KeyInURL {
				t.Errorf("%s %s: key of %q (in URL %v), want %s's in the header", r.Method, r.Path, r.KeyOwner, r.KeyInURL, member)
			}
			if r.Method == http.MethodPost {
				posts++
			}
		}
	}
	if posts != 1 {
		t.Errorf("%d POSTs reached Alma across both replicas, want 1", posts)
	}
	for _, g := range []*gw{a, b} {
		if code, replayed, body := post(g.base); code != http.StatusCreated || replayed != "true" {
			t.Errorf("replay on %s = %d replayed %q %s", g.base, code, replayed, body)
		}
	}
	if hb := holders(b); !strings.Contains(hb, `"institution":"`+member+`"`) {
		_, _, direct := get(t, s.sru+"?"+url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {"alma.mms_id=" + nz}}.Encode())
		t.Errorf("B still serves %s without %s's new holding:\nB: %s\nA: %s\nAlma: %s", nz, member, hb, holders(a), direct)
	}

	// A signed webhook, and a tampered one.
	ev := `{"action":"BIB","event":{"value":"BIB_UPDATED"},"bib":{"mms_id":"` + nz + `"}}`
	m := hmac.New(sha256.New, []byte("integration-secret"))
	m.Write([]byte(ev))
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, c := range []struct {
		body string
		want int
	}{{ev, http.StatusOK}, {strings.Replace(ev, "BIB_UPDATED", "BIB_DELETED", 1), http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodPost, a.base+"/webhooks/alma", strings.NewReader(c.body))
		req.Header.Set("X-Exl-Signature", sig)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("webhook %.40s… = %d, want %d", c.body, resp.StatusCode, c.want)
		}
	}
	if code, _, body := get(t, a.base+"/webhooks/alma?"+url.Values{"challenge": {"x y"}}.Encode()); code != http.StatusOK || string(body) != `{"challenge":"x y"}` {
		t.Errorf("challenge = %d %s", code, body)
	}
	for _, g := range []*gw{a, b} {
		for _, secret := range append([]string{"integration-secret"}, keysOf(network.Members)...) {
			if strings.Contains(g.stderr.String(), secret) {
				t.Errorf("a secret or key is in %s's log", g.base)
			}
		}
	}
}

func keysOf(ms []struct {
	Code   string `json:"code"`
	APIKey string `json:"api_key"`
}) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.APIKey)
	}
	return out
}

// TestWriteKilledMidWriteIsReconciled is issue 21 item 3 on real processes:
// a PO line posted to replica A, which Alma makes but whose answer it
// loses, and A killed (SIGKILL) mid-write. Retries with the same key on B
// answer 409 while A's deadline may still run (3 upstream timeouts + 10 s),
// then look in Alma, find the PO line and answer it (201, reconciled);
// Alma made one. Before: 409 for 30 s, then a second PO line.
func TestWriteKilledMidWriteIsReconciled(t *testing.T) {
	_, redisURL, _ := startRedis(t)
	s := startSim(t)
	code, _, body := get(t, s.base+"/_sim/network")
	var network struct {
		Members []struct {
			Code   string `json:"code"`
			APIKey string `json:"api_key"`
		} `json:"members"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &network) != nil || len(network.Members) == 0 {
		t.Fatalf("/_sim/network = %d %s", code, body)
	}
	var yaml strings.Builder
	yaml.WriteString("members:\n")
	env := []string{"REDIS_URL=" + redisURL, "GATEWAY_UPSTREAM_TIMEOUT=2s"}
	for i, m := range network.Members {
		v := "MEMBER_KEY_" + string(rune('A'+i))
		yaml.WriteString("  - {code: " + m.Code + ", api_key_env: " + v + "}\n")
		env = append(env, v+"="+m.APIKey)
	}
	cfg := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "GATEWAY_CONFIG="+cfg)
	a := startGateway(t, s, env...)
	b := startGateway(t, s, env...)
	member := network.Members[0].Code

	// A record of the member's own, from a network record's holdings.
	_, _, body = get(t, b.base+"/v1/search?q=history&limit=50")
	var page struct {
		Records []struct {
			Holdings []struct {
				Institution string  `json:"institution"`
				IZMMSID     *string `json:"iz_mms_id"`
			} `json:"holdings"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	iz := ""
	for _, r := range page.Records {
		for _, h := range r.Holdings {
			if h.Institution == member && h.IZMMSID != nil && iz == "" {
				iz = *h.IZMMSID
			}
		}
	}
	if iz == "" {
		t.Fatalf("no record of %s among 50", member)
	}
	order := `{"match":"iz","mms_id":"` + iz + `","po_line":{"owner":{"value":"MAIN"},"type":{"value":"PRINTED_BOOK_OT"}}}`
	post := func(base string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/institutions/"+member+"/po-lines", strings.NewReader(order))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "killed-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}

	before := s.counters(t).Writes
	s.setFault(t, "bibs", "lost", 1)
	go post(a.base) // never answered: A dies
	for s.counters(t).Writes == before {
		select {
		case <-a.done:
			t.Fatalf("A ended before Alma did the write:\n%s", tail(a.stderr.String(), 2048))
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
	a.kill()

	busy := 0
	for {
		code, out, err := post(b.base)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusConflict && strings.Contains(out, "still being processed") {
			busy++
			time.Sleep(250 * time.Millisecond)
			continue
		}
		var got struct {
			Reconciled bool `json:"reconciled"`
			POLine     struct {
				Number string `json:"number"`
			} `json:"po_line"`
		}
		if code != http.StatusCreated || json.Unmarshal([]byte(out), &got) != nil || !got.Reconciled || got.POLine.Number == "" {
			t.Errorf("retry on B after A died = %d %s, want 201 with the PO line Alma made, reconciled", code, out)
		}
		break
	}
	if code, out, err := post(b.base); err != nil || code != http.StatusCreated || !strings.Contains(out, `"reconciled":true`) {
		t.Errorf("the retry after that = %d %s %v, want the same answer", code, out, err)
	}
	if n := s.counters(t).Writes - before; n != 1 {
		t.Errorf("Alma made %d PO lines for one Idempotency-Key, want 1", n)
	}
	t.Logf("%d retries answered 409 while A's deadline ran", busy)
}
