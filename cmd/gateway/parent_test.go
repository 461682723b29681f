package main

import "testing"

func TestStartedByGoRun(t *testing.T) {
	for _, c := range []struct {
		exe  string
		want bool
	}{
		{"/tmp/go-build589930603/b001/exe/gateway", true},
		{"/home/me/.cache/go-build/tmp/go-build123/b001/exe/gateway", true},
		{"/usr/local/bin/gateway", false},
		{"/work/gateway/exe/gateway", false},
		{"/tmp/go-build589930603/b001/gateway.test", false},
	} {
		if got := startedByGoRun(c.exe); got != c.want {
			t.Errorf("startedByGoRun(%q) = %v, want %v", c.exe, got, c.want)
		}
	}
}
