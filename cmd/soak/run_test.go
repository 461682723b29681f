package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHitNamesOutcomes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "stale":
			w.Header().Set("X-Cache", "STALE")
		case "hit":
			w.Header().Set("X-Cache", "HIT")
		case "diag":
			w.Header().Set("X-Cache", "MISS")
			io.WriteString(w, "<diag:uri>info:srw/diagnostic/1/1</diag:uri>")
			return
		case "noavail":
			w.Header().Set("X-Cache", "HIT")
			io.WriteString(w, `{"diagnostics":[{"uri":"x"}]}`)
			return
		case "503":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(503)
		case "503bare":
			w.WriteHeader(503)
		case "500":
			w.WriteHeader(500)
		case "400":
			w.WriteHeader(400)
		}
		io.WriteString(w, `{"diagnostics":[]}`)
	}))
	defer srv.Close()
	tests := []struct {
		path, want string
	}{
		{"/v1/search?case=stale", "200 stale"},
		{"/v1/search?case=hit", "200 hit"},
		{"/sru?case=diag", "200 SRU diagnostic 1 (Alma unavailable)"},
		{"/v1/records/1?case=noavail", "200 record, availability missing"},
		{"/v1/search?case=503", "503 with Retry-After"},
		{"/v1/search?case=503bare", "503 WITHOUT Retry-After"},
		{"/v1/search?case=500", "500 (BUG)"},
		{"/v1/search?case=400", "400"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, _ := hit(context.Background(), srv.Client(), srv.URL+tt.path)
			if got != tt.want {
				t.Errorf("hit(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	srv.Close()
	if got, _ := hit(context.Background(), http.DefaultClient, srv.URL+"/healthz"); !strings.HasPrefix(got, "NO ANSWER") {
		t.Errorf("hit on a closed server = %q, want NO ANSWER", got)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}}
	for _, tt := range tests {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

// TestReportCountsBadAnswers: the soak's verdict counts 5xx other than
// 503, 503s without Retry-After and unanswered requests, and nothing else.
func TestReportCountsBadAnswers(t *testing.T) {
	ps := []phase{{name: "a"}, {name: "b"}}
	ts := []*tally{{kinds: map[string]int{}}, {kinds: map[string]int{}}}
	ts[0].add("200 hit", time.Millisecond)
	ts[0].add("503 with Retry-After", time.Millisecond)
	ts[1].add("500 (BUG)", time.Millisecond)
	ts[1].add("503 WITHOUT Retry-After", time.Millisecond)
	ts[1].add("NO ANSWER (connection error)", time.Millisecond)
	var out bytes.Buffer
	if got := report(&out, ps, ts, map[string]float64{}, map[string]float64{"go_goroutines": 7}); got != 3 {
		t.Errorf("report counted %d bad answers, want 3", got)
	}
	if !strings.Contains(out.String(), "| a | 2 |") || !strings.Contains(out.String(), "go_goroutines") {
		t.Errorf("report lacks the phase table or the process figures:\n%s", out.String())
	}
}

func TestScrapeReadsPrometheusText(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\n"+
			`gateway_breaker_transitions_total{to="open",upstream="sru:nz"} 3`+"\nbroken line\n")
	}))
	defer srv.Close()
	got, err := scrape(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got["go_goroutines"] != 42 || got[`gateway_breaker_transitions_total{to="open",upstream="sru:nz"}`] != 3 || len(got) != 2 {
		t.Errorf("scrape = %v", got)
	}
}
