package almasim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that Run may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-addr", "127.0.0.1:0", "-records", "100", "-seed", "3", "-network", "02TEST_NETWORK"}, &out, io.Discard)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "try:") {
		if time.Now().After(deadline) {
			t.Fatalf("Run printed no URLs:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := regexp.MustCompile(`NZ SRU:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil || !strings.HasSuffix(m[1], "/view/sru/02TEST_NETWORK") {
		t.Fatalf("no NZ SRU URL in:\n%s", out.String())
	}
	s := New(Config{Records: 100, Seed: 3, NetworkCode: "02TEST_NETWORK"})
	for _, want := range []string{s.NZKey(), s.Members()[0].APIKey, "01TEST_INST", "Authorization: apikey"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s", want)
		}
	}
	res, body, err := get(t, http.DefaultClient, m[1]+"?"+sruParams("alma.title=history"))
	if err != nil || res.StatusCode != 200 || firstTag(t, body, "numberOfRecords") == "0" {
		t.Fatalf("search through Run's server: %v %v %.300s", err, res, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the context ended")
	}
	if _, _, err := get(t, http.DefaultClient, m[1]); err == nil {
		t.Error("the server still answers after Run returned")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-records", "many"}, {"-nosuch"}, {"extra"}} {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("Run(%q) accepted", args)
		}
	}
}
