package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const wrkOK = `Running 5s test @ http://127.0.0.1:8080/v1/search?q=history
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  30.00ms   90.00%
    Req/Sec    20.50k     1.10k   22.00k    70.00%
  102345 requests in 5.00s, 500.00MB read
Requests/sec:  20469.00
Transfer/sec:    100.00MB
`

// TestWrkRPS: the requests/s of a clean run; any error wrk reports, and a
// run that completed nothing, fail instead of becoming a number.
func TestWrkRPS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    float64
		wantErr string
	}{
		{"clean", wrkOK, 20469, ""},
		{"non-2xx", strings.Replace(wrkOK, "Requests/sec", "  Non-2xx or 3xx responses: 17\nRequests/sec", 1), 0, "Non-2xx or 3xx responses: 17"},
		{"socket errors", strings.Replace(wrkOK, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1), 0, "Socket errors"},
		{"nothing completed", strings.NewReplacer("102345 requests", "0 requests", "20469.00", "0.00").Replace(wrkOK), 0, "no request completed"},
		{"not wrk", "unable to connect to 127.0.0.1:1 Connection refused\n", 0, "no Requests/sec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wrkRPS(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("wrkRPS = %v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("wrkRPS = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestSummarize: each round's ratio is against that round's fastest peer,
// and the result is their median and spread.
func TestSummarize(t *testing.T) {
	obs, err := parseRounds(`1 gateway 100
1 nginx 80
1 varnish 50
2 varnish 200
2 nginx 100
2 gateway 100
3 gateway 90
3 nginx 100
3 varnish 60
`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := summarize(obs, "gateway", []string{"nginx", "varnish"})
	if err != nil {
		t.Fatal(err)
	}
	// ratios: 100/80 = 1.25, 100/200 = 0.5, 90/100 = 0.9
	got := s.String()
	want := "ratio 0.90 min 0.50 max 1.25 rounds 3 gateway 100 nginx 100 varnish 60 faster-nginx 2 faster-varnish 1"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// TestSummarizeRefusesIncompleteRounds: a round missing a side (a side
// that failed) or having one twice is an error, not a skewed median.
func TestSummarizeRefusesIncompleteRounds(t *testing.T) {
	for _, tc := range []struct{ name, in, wantErr string }{
		{"missing peer", "1 gateway 10\n1 nginx 10\n2 gateway 10\n", "round 2 has no nginx"},
		{"missing side", "1 nginx 10\n", "round 1 has no gateway"},
		{"twice", "1 gateway 10\n1 gateway 11\n1 nginx 5\n", "round 1 has gateway twice"},
		{"empty", "\n", "no rounds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := parseRounds(tc.in)
			if err == nil {
				_, err = summarize(obs, "gateway", []string{"nginx"})
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseRoundsRefusesBadLines(t *testing.T) {
	for _, in := range []string{"1 gateway", "x gateway 10", "1 gateway ten", "1 gateway 0", "1 gateway -3"} {
		if _, err := parseRounds(in); err == nil {
			t.Errorf("parseRounds(%q) = nil error, want one", in)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tc.in...)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if diff := cmp.Diff(tc.in, in); diff != "" {
			t.Errorf("median changed its input (-want +got):\n%s", diff)
		}
	}
}

// TestRunCommands drives the three commands as bench/run.sh does.
func TestRunCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrk := write("wrk.out", wrkOK)
	rounds := write("r", "1 gateway 90\n1 bare-fiber 100\n2 bare-fiber 100\n2 gateway 110\n")
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"wrk", wrk}, "", "20469\n"},
		{[]string{"ratio", "-a", "gateway", "-b", "bare-fiber", rounds}, "", "ratio 1.00 min 0.90 max 1.10 rounds 2 gateway 100 bare-fiber 100\n"},
		{[]string{"median", "-"}, "0.5 2.25\n1\n", "1 0.5 2.25\n"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(tc.args, strings.NewReader(tc.stdin), &out, &errOut); err != nil {
				t.Fatalf("run %v: %v (%s)", tc.args, err, errOut.String())
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("run %v (-want +got):\n%s", tc.args, diff)
			}
		})
	}
	for _, args := range [][]string{nil, {"frob"}, {"ratio", rounds}, {"wrk"}, {"median", write("bad", "x")}} {
		if err := run(args, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("run %v = nil, want an error", args)
		}
	}
}
