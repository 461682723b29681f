package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServesTheBytesFetchedOnce starts the peer against a fake gateway and
// checks that every path answers the fake's body and Content-Type, and that
// the fake was asked exactly once.
func TestServesTheBytesFetchedOnce(t *testing.T) {
	body := []byte(`{"query":"x","records":[],"meta":{"cache":"hit"}}`)
	var calls atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
	defer fake.Close()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-from", fake.URL + "/v1/search?q=x", "-addr", addr}, &out, io.Discard)
	}()
	for _, path := range []string{"/v1/search?q=x", "/anything"} {
		t.Run(path, func(t *testing.T) {
			resp := getRetrying(t, "http://"+addr+path)
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if !bytes.Equal(got, body) {
				t.Errorf("body = %q, want %q", got, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want the fake's", ct)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the source was asked %d times, want once", n)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("serving %d bytes", len(body))) {
		t.Errorf("stdout = %q, want the byte count", out.String())
	}
}

func TestRefusesBadSources(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no -from", nil, "-from is required"},
		{"non-200 source", []string{"-from", failing.URL, "-addr", "127.0.0.1:0"}, "answered 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// getRetrying GETs url, retrying while the server is still starting.
func getRetrying(t *testing.T, url string) *http.Response {
	t.Helper()
	var err error
	for range 100 {
		var resp *http.Response
		if resp, err = http.Get(url); err == nil {
			return resp
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, err)
	return nil
}
