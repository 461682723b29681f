package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

func (e *testEnv) post(path string, hdr ...string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	code, _, body := e.do(req)
	return code, body
}

func TestStaffEndpointsNeedTheToken(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.AdminToken = "s3cret-admin-token" })
	for _, p := range []string{"/v1/status", "/dashboard"} {
		if code, _, _ := env.get(p); code != http.StatusUnauthorized {
			t.Errorf("%s without token: status %d, want 401", p, code)
		}
		if code, _, _ := env.get(p, "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: status %d, want 401", p, code)
		}
		if code, _, _ := env.get(p, "Authorization", "Bearer s3cret-admin-token"); code != http.StatusOK {
			t.Errorf("%s with the token: status %d, want 200", p, code)
		}
	}
	if code, _ := env.post("/admin/cache/purge"); code != http.StatusUnauthorized {
		t.Errorf("purge without token: status %d, want 401", code)
	}
	if code, _, _ := env.get("/admin/cache/purge", "Authorization", "Bearer s3cret-admin-token"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET purge: status %d, want 405", code)
	}
}

func TestPurgeByQueryRecordAndAll(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.AdminToken = "tok-tok-tok-tok-tok" })
	auth := []string{"Authorization", "Bearer tok-tok-tok-tok-tok"}
	// Fill: a list, and a record.
	_, _, list := env.search(url.Values{"q": {"science"}})
	if len(list.Records) == 0 {
		t.Fatal("no records for science")
	}
	id := list.Records[0].MMSID
	env.get("/v1/records/" + id)
	env.get("/v1/records/" + id + "?format=marcxml") // each format is its own finished answer
	cached := func(path string) bool {
		_, h, _ := env.get(path)
		return h.Get("X-Cache") == "HIT"
	}
	if !cached("/v1/search?q=science") || !cached("/v1/records/"+id+"?format=marcxml") {
		t.Fatal("entries were not cached")
	}
	// Purge by query, spelled differently from how it was asked.
	code, body := env.post("/admin/cache/purge?query="+url.QueryEscape(`alma.all_for_ui = science`), auth...)
	if code != http.StatusOK {
		t.Fatalf("purge by query: %d %s", code, body)
	}
	if cached("/v1/search?q=science") {
		t.Errorf("the list is still cached after purging its query")
	}
	// Purge by MMS ID: the record's entries go.
	if code, body := env.post("/admin/cache/purge?mms_id="+id, auth...); code != http.StatusOK {
		t.Fatalf("purge by mms_id: %d %s", code, body)
	}
	if cached("/v1/records/" + id + "?format=marcxml") {
		t.Errorf("the record is still cached after purging its MMS ID")
	}
	// Purge all.
	env.search(url.Values{"q": {"history"}})
	if code, _ := env.post("/admin/cache/purge", auth...); code != http.StatusOK {
		t.Fatal("purge all failed")
	}
	if cached("/v1/search?q=history") {
		t.Errorf("an entry survived purging all")
	}
	if code, _ := env.post("/admin/cache/purge?mms_id=../../etc", auth...); code != http.StatusBadRequest {
		t.Errorf("purge of a bad MMS ID: status %d, want 400", code)
	}
}

func TestHundredRecordPageIsCached(t *testing.T) {
	env := newEnv(t, nil)
	path := "/sru?version=1.2&operation=searchRetrieve&query=alma.all_for_ui%3Dhistory&maximumRecords=100"
	env.get(path)
	before := env.sim.Count(almasim.EndpointSRU)
	_, h, _ := env.get(path)
	if h.Get("X-Cache") != "HIT" || env.sim.Count(almasim.EndpointSRU) != before {
		t.Errorf("a 100-record page was not served from cache: X-Cache %q", h.Get("X-Cache"))
	}
}

func TestIndexListReadFromAlmasExplain(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Cache.ExplainRefresh = Duration(time.Hour) })
	// The simulator's explain lists fewer indexes than the built-in list from
	// a real Alma; once it is read, the status shows its count.
	for i := 0; ; i++ {
		code, _, body := env.get("/v1/status")
		if code != http.StatusOK {
			t.Fatalf("/v1/status: %d", code)
		}
		var st struct {
			Indexes int `json:"indexes"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if st.Indexes > 0 && env.sim.Count(almasim.EndpointSRU) > 0 && !strings.Contains(env.logs.String(), "could not read") {
			if strings.Contains(env.logs.String(), "index list read from Alma's explain") {
				break
			}
		}
		if i > 300 {
			t.Fatalf("the gateway never read Alma's explain; log:\n%s", env.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The gateway's own explain names itself and lists an index.
	_, _, body := env.get("/sru?version=1.2&operation=explain")
	if !strings.Contains(string(body), "all_for_ui") || !strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("explain does not describe the gateway:\n%.600s", body)
	}
}

func TestRequestIDs(t *testing.T) {
	env := newEnv(t, nil)
	_, h1, _ := env.get("/healthz")
	_, h2, _ := env.get("/healthz")
	a, b := h1.Get("X-Request-Id"), h2.Get("X-Request-Id")
	if a == "" || a == b {
		t.Errorf("request ids %q and %q: want two different ones", a, b)
	}
	_, h, _ := env.get("/healthz", "X-Request-Id", "opac-42.a_b")
	if got := h.Get("X-Request-Id"); got != "opac-42.a_b" {
		t.Errorf("a sane client id came back as %q", got)
	}
	_, h, _ = env.get("/healthz", "X-Request-Id", "<script>")
	if got := h.Get("X-Request-Id"); got == "<script>" || got == "" {
		t.Errorf("an unsafe client id came back as %q", got)
	}
}
