package almasim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func call(t *testing.T, method, target, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestControlOverHTTP(t *testing.T) {
	s, srv := startSim(t, Config{})
	ctl := srv.URL() + "/_sim/"
	code, body := call(t, "POST", ctl+"faults", `{"endpoint":"sru","kind":"429","delay_ms":0,"retry_after":2,"times":3}`)
	if code != 200 {
		t.Fatalf("POST faults: %d %s", code, body)
	}
	var faults map[string]faultJSON
	if err := json.Unmarshal(body, &faults); err != nil {
		t.Fatal(err)
	}
	want := map[string]faultJSON{"sru": {Endpoint: "sru", Kind: Fault429, RetryAfter: 2, Times: 3}}
	if diff := cmp.Diff(want, faults); diff != "" {
		t.Errorf("active faults (-want +got):\n%s", diff)
	}
	for i, want := range []int{429, 429, 429, 200} {
		res, _, err := get(t, http.DefaultClient, sruURL(s, srv, "x"))
		if err != nil || res.StatusCode != want {
			t.Fatalf("request %d: %v %v, want %d", i+1, err, res, want)
		}
		if want == 429 && res.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
		}
	}

	call(t, "POST", ctl+"faults", `{"endpoint":"all","kind":"slow","delay_ms":250}`)
	if f := s.Faults()[EndpointBibs]; f.Kind != FaultSlow || f.Delay != 250*time.Millisecond {
		t.Errorf("slow fault over HTTP: %+v", f)
	}
	code, body = call(t, "GET", ctl+"faults", "")
	if code != 200 || !strings.Contains(string(body), `"delay_ms":250`) {
		t.Errorf("GET faults: %d %s", code, body)
	}
	if code, _ := call(t, "DELETE", ctl+"faults", ""); code != 200 || len(s.Faults()) != 0 {
		t.Errorf("DELETE faults: %d, left %v", code, s.Faults())
	}

	code, body = call(t, "GET", ctl+"counters", "")
	var counts map[string]int64
	json.Unmarshal(body, &counts)
	if code != 200 || counts["sru"] != 4 || counts["bibs"] != 0 || counts["all"] != 4 {
		t.Errorf("counters: %d %s", code, body)
	}
	code, body = call(t, "GET", ctl+"requests", "")
	if code != 200 || strings.Count(string(body), `"endpoint":"sru"`) != 4 {
		t.Errorf("requests: %d %s", code, body)
	}
	code, body = call(t, "GET", ctl+"network", "")
	if code != 200 || !strings.Contains(string(body), s.NZKey()) || !strings.Contains(string(body), s.Members()[0].APIKey) {
		t.Errorf("network: %d %s", code, body)
	}
	call(t, "POST", ctl+"faults", `{"endpoint":"bibs","kind":"500"}`)
	if code, _ := call(t, "POST", ctl+"reset", ""); code != 204 || s.Count(EndpointAll) != 0 || len(s.Faults()) != 0 {
		t.Errorf("reset: %d, counts %d, faults %v", code, s.Count(EndpointAll), s.Faults())
	}
}

func TestControlRefusesBadFaults(t *testing.T) {
	s := New(Config{Records: 20})
	h := s.ControlHandler()
	for _, body := range []string{
		`{"endpoint":"sru","kind":"teapot"}`,
		`{"endpoint":"opac","kind":"500"}`,
		`{"endpoint":"sru","kind":"500","times":-1}`,
		`{"endpoint":"sru","kind":"500","extra":1}`,
		`not json`,
	} {
		req := httptest.NewRequest("POST", "/_sim/faults", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:4000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 400 {
			t.Errorf("%s: %d, want 400", body, rec.Code)
		}
	}
	if len(s.Faults()) != 0 {
		t.Errorf("a refused fault was set: %v", s.Faults())
	}
}

func TestControlAnswersLoopbackOnly(t *testing.T) {
	s := New(Config{Records: 20})
	h := s.ControlHandler()
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:5555", 200},
		{"[::1]:5555", 200},
		{"203.0.113.9:5555", 403},
		{"10.1.2.3:5555", 403},
		{"[2001:db8::1]:5555", 403},
	} {
		req := httptest.NewRequest("GET", "/_sim/counters", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.remote, rec.Code, tc.want)
		}
	}
	req := httptest.NewRequest("POST", "/_sim/faults", strings.NewReader(`{"endpoint":"sru","kind":"500"}`))
	req.RemoteAddr = "203.0.113.9:5555"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if len(s.Faults()) != 0 {
		t.Error("a remote client set a fault")
	}
	// The Alma surface itself does not expose the control path.
	res, _ := do(t, s.Handler(), "GET", "/_sim/counters")
	if res.StatusCode != 404 {
		t.Errorf("Handler serves /_sim/: %d", res.StatusCode)
	}
}
