package almasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSim runs a small private simulator on a loopback port.
func startSim(t *testing.T, cfg Config) (*Simulator, *Server) {
	t.Helper()
	if cfg.Records == 0 {
		cfg.Records = 60
	}
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	s := New(cfg)
	srv, err := s.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return s, srv
}

func sruURL(s *Simulator, srv *Server, query string) string {
	return s.SRUURL(srv.URL()) + "?" + sruParams(query)
}

func bibURL(s *Simulator, srv *Server, format string) string {
	q := url.Values{"expand": {"p_avail,e_avail,d_avail"}}
	if format != "" {
		q.Set("format", format)
	}
	return srv.URL() + bibsPrefix + s.Records()[0].MMSID + "?" + q.Encode()
}

func TestFaultSlow(t *testing.T) {
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointSRU, Fault{Kind: FaultSlow, Delay: 700 * time.Millisecond, Times: 1})
	t0 := time.Now()
	res, body, err := get(t, http.DefaultClient, sruURL(s, srv, "alma.title=history"))
	if err != nil || res.StatusCode != 200 || wellFormed(body) != nil {
		t.Fatalf("slow answer: %v %v", err, res)
	}
	if d := time.Since(t0); d < 700*time.Millisecond {
		t.Errorf("slow fault answered after %s, want at least 700ms", d)
	}
	if len(s.Faults()) != 0 {
		t.Errorf("a Times=1 fault is still set: %v", s.Faults())
	}

	// The wait ends when the client gives up.
	s.SetFault(EndpointSRU, Fault{Kind: FaultSlow, Delay: time.Hour})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if _, _, err := get(t, client, sruURL(s, srv, "x")); err == nil {
		t.Fatal("an hour-long slow answer arrived")
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a slow request")
	}
}

func TestFault500(t *testing.T) {
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointAll, Fault{Kind: Fault500})
	res, body, err := get(t, http.DefaultClient, sruURL(s, srv, "x"))
	if err != nil || res.StatusCode != 500 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!bytes.Contains(body, []byte("HTTP Status 500")) {
		t.Errorf("SRU 500: %v %v %s", err, res, body)
	}
	res, body, err = get(t, http.DefaultClient, bibURL(s, srv, ""), "Authorization", "apikey "+s.NZKey())
	if err != nil || res.StatusCode != 500 || firstTag(t, body, "errorsExist") != "true" {
		t.Errorf("API 500: %v %v %s", err, res, body)
	}
}

func TestFault429(t *testing.T) {
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointAll, Fault{Kind: Fault429, RetryAfter: 2})
	for _, target := range []string{sruURL(s, srv, "x"), bibURL(s, srv, ""), bibURL(s, srv, "json")} {
		res, body, err := get(t, http.DefaultClient, target, "Authorization", "apikey "+s.NZKey())
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
			t.Errorf("%s: status %d Retry-After %q", target, res.StatusCode, res.Header.Get("Retry-After"))
		}
		if !bytes.Contains(body, []byte("PER_SECOND_THRESHOLD")) || !bytes.Contains(body, []byte("HTTP requests are more than allowed per second")) {
			t.Errorf("%s: body %s", target, body)
		}
		if strings.Contains(target, "json") && !json.Valid(body) {
			t.Errorf("JSON 429 body is not JSON: %s", body)
		}
		if strings.Contains(target, "bibs") && res.Header.Get("X-Exl-Api-Remaining") == "" {
			t.Errorf("%s: no X-Exl-Api-Remaining", target)
		}
	}
	s.SetFault(EndpointSRU, Fault{Kind: Fault429})
	res, _, _ := get(t, http.DefaultClient, sruURL(s, srv, "x"))
	if res.Header.Get("Retry-After") != "1" {
		t.Errorf("default Retry-After %q, want 1", res.Header.Get("Retry-After"))
	}
}

func TestFaultMalformed(t *testing.T) {
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointAll, Fault{Kind: FaultMalformed})
	for _, target := range []string{sruURL(s, srv, "alma.title=history"), sruURL(s, srv, "nothingmatches"), bibURL(s, srv, ""), bibURL(s, srv, "json")} {
		res, body, err := get(t, http.DefaultClient, target, "Authorization", "apikey "+s.NZKey())
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %v %v", target, err, res)
		}
		if strings.Contains(target, "json") {
			if json.Valid(body) {
				t.Errorf("malformed JSON parses: %s", body)
			}
		} else if wellFormed(body) == nil {
			t.Errorf("malformed XML parses: %s", body)
		}
	}
}

func TestFaultTruncated(t *testing.T) {
	s, srv := startSim(t, Config{})
	target := sruURL(s, srv, "alma.title=history")
	_, whole, _ := get(t, http.DefaultClient, target)
	s.SetFault(EndpointSRU, Fault{Kind: FaultTruncated, Times: 1})
	res, body, err := get(t, http.DefaultClient, target)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", err, res)
	}
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s for %d bytes", cl, len(body))
	}
	if !bytes.HasPrefix(whole, body) || len(body) >= len(whole) {
		t.Errorf("truncated body (%d bytes) is not a prefix of the answer (%d bytes)", len(body), len(whole))
	}
	if !bytes.Contains(body, []byte("<recordData>")) || bytes.Contains(body, []byte("</recordData>")) {
		t.Errorf("not cut inside the first record: %s", body)
	}
	if wellFormed(body) == nil {
		t.Error("truncated body parses")
	}
}

func TestFaultHang(t *testing.T) {
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointSRU, Fault{Kind: FaultHang})
	client := &http.Client{Timeout: 300 * time.Millisecond}
	if _, _, err := get(t, client, sruURL(s, srv, "x")); err == nil {
		t.Fatal("a hanging request was answered")
	}

	// Clearing the faults releases hanging requests, which are then answered.
	done := make(chan int, 1)
	go func() {
		res, _, err := get(t, http.DefaultClient, sruURL(s, srv, "x"))
		if err != nil {
			done <- -1
			return
		}
		done <- res.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case code := <-done:
		t.Fatalf("answered (%d) before the fault was cleared", code)
	default:
	}
	s.ClearFaults()
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("released request: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ClearFaults did not release the request")
	}
}

func TestFaultHangEndsWithClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointAll, Fault{Kind: FaultHang})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, _, err := get(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, sruURL(s, srv, "x"))
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Close took %s with hanging requests", d)
	}
	for range 4 {
		select {
		case err := <-errs:
			if err == nil {
				t.Error("a hanging request got an answer from a closed server")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a client still hangs after Close")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestFaultReset(t *testing.T) {
	s, srv := startSim(t, Config{})
	s.SetFault(EndpointBibs, Fault{Kind: FaultReset, Times: 1})
	_, _, err := get(t, http.DefaultClient, bibURL(s, srv, ""), "Authorization", "apikey "+s.NZKey())
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err = %v, want ECONNRESET", err)
	}
	if _, _, err := get(t, http.DefaultClient, bibURL(s, srv, ""), "Authorization", "apikey "+s.NZKey()); err != nil {
		t.Errorf("after the reset: %v", err)
	}
	if got := s.Count(EndpointBibs); got != 2 {
		t.Errorf("Count = %d, want 2 (the reset request counts)", got)
	}
}

func TestFaultTimesAndEndpoints(t *testing.T) {
	s := New(Config{Records: 30})
	h := s.Handler()
	s.SetFault(EndpointAll, Fault{Kind: Fault500, Times: 2}) // two per endpoint
	sru := "/view/sru/" + s.NetworkCode() + "?" + sruParams("x")
	bib := bibPath(s.Records()[0].MMSID, nil)
	auth := []string{"Authorization", "apikey " + s.NZKey()}
	for i, want := range []int{500, 500, 200} {
		if res, _ := do(t, h, "GET", sru); res.StatusCode != want {
			t.Errorf("SRU request %d: %d, want %d", i+1, res.StatusCode, want)
		}
		if res, _ := do(t, h, "GET", bib, auth...); res.StatusCode != want {
			t.Errorf("API request %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
	s.SetFault(EndpointBibs, Fault{Kind: Fault429})
	if res, _ := do(t, h, "GET", sru); res.StatusCode != 200 {
		t.Errorf("an API fault reached SRU: %d", res.StatusCode)
	}
	if res, _ := do(t, h, "GET", bib, auth...); res.StatusCode != 429 {
		t.Errorf("API fault: %d", res.StatusCode)
	}
	s.SetFault(EndpointBibs, Fault{Kind: FaultNone})
	if res, _ := do(t, h, "GET", bib, auth...); res.StatusCode != 200 {
		t.Errorf("FaultNone did not clear: %d", res.StatusCode)
	}
}

func TestCountersAndRequestLog(t *testing.T) {
	s := New(Config{Records: 30})
	h := s.Handler()
	s.SetFault(EndpointSRU, Fault{Kind: Fault500, Times: 1})
	do(t, h, "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("x", "maximumRecords", "25"))
	do(t, h, "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("x"))
	q := url.Values{}
	q.Set("apikey", s.NZKey())
	do(t, h, "GET", bibPath(s.Records()[0].MMSID, q))
	do(t, h, "GET", bibPath(s.Records()[0].MMSID, nil), "Authorization", "apikey "+s.NZKey())
	do(t, h, "GET", "/elsewhere")
	if s.Count(EndpointSRU) != 2 || s.Count(EndpointBibs) != 2 || s.Count(EndpointAll) != 4 {
		t.Errorf("counts sru %d bibs %d all %d, want 2 2 4", s.Count(EndpointSRU), s.Count(EndpointBibs), s.Count(EndpointAll))
	}
	log := s.Requests()
	if len(log) != 4 {
		t.Fatalf("%d log entries, want 4", len(log))
	}
	if log[0].MaximumRecords != 25 || log[1].MaximumRecords != -1 || log[0].Endpoint != EndpointSRU {
		t.Errorf("SRU entries: %+v %+v", log[0], log[1])
	}
	if !log[2].KeyInURL || log[2].Query.Get("apikey") != "REDACTED" || log[2].KeyInHeader {
		t.Errorf("key in URL not flagged or not redacted: %+v", log[2])
	}
	if log[3].KeyInURL || !log[3].KeyInHeader {
		t.Errorf("header key entry: %+v", log[3])
	}
	for _, e := range log {
		if strings.Contains(e.Query.Encode(), s.NZKey()) {
			t.Error("the log holds an API key")
		}
	}
	for range 1100 {
		do(t, h, "GET", "/view/sru/"+s.NetworkCode()+"?version=1.2")
	}
	if n := len(s.Requests()); n != 1024 {
		t.Errorf("log holds %d entries, want the 1024 latest", n)
	}
	s.ResetCounters()
	if s.Count(EndpointAll) != 0 || len(s.Requests()) != 0 {
		t.Error("ResetCounters left counts or log entries")
	}
}

func TestLatencyIsAddedToEveryAnswer(t *testing.T) {
	s := New(Config{Records: 30, Latency: 150 * time.Millisecond})
	t0 := time.Now()
	res, _ := do(t, s.Handler(), "GET", "/view/sru/"+s.NetworkCode()+"?"+sruParams("x"))
	if d := time.Since(t0); res.StatusCode != 200 || d < 150*time.Millisecond {
		t.Errorf("answered %d after %s, want 200 after at least 150ms", res.StatusCode, d)
	}
}
