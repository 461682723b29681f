//go:build integration

package almasim

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestZoomshFindsAndShowsRecords drives the simulator's SRU endpoint with
// YAZ's zoomsh (Debian package yaz), the way an SRU client would. It fails
// when zoomsh is not installed: run `apt-get install -y yaz` first.
func TestZoomshFindsAndShowsRecords(t *testing.T) {
	zoomsh, err := exec.LookPath("zoomsh")
	if err != nil {
		t.Fatal("zoomsh is not installed (Debian package yaz: apt-get install -y yaz)")
	}
	s, srv := startSim(t, Config{Records: 500})
	want, _ := s.Search("alma.title=history")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Options must be set before connect: zoomsh's default SRU transport is SOAP.
	out, err := exec.CommandContext(ctx, zoomsh,
		"set sru get", "set sru_version 1.2",
		"connect "+s.SRUURL(srv.URL()),
		"search cql:alma.title=history", "show 0 2", "quit").CombinedOutput()
	if err != nil {
		t.Fatalf("zoomsh: %v\n%s", err, out)
	}
	text := string(out)
	m := regexp.MustCompile(`: (\d+) hits`).FindStringSubmatch(text)
	if m == nil || m[1] != itoa(len(want)) {
		t.Fatalf("zoomsh hits %v, want %d:\n%s", m, len(want), text)
	}
	for _, id := range want[:2] {
		if !strings.Contains(text, `<controlfield tag="001">`+id+`</controlfield>`) &&
			!strings.Contains(text, `<marc:controlfield tag="001">`+id+`</marc:controlfield>`) {
			t.Errorf("zoomsh did not show record %s:\n%s", id, text)
		}
	}
	if n := strings.Count(text, "syntax=XML"); n != 2 {
		t.Errorf("zoomsh showed %d records, want 2:\n%s", n, text)
	}
	for _, e := range s.Requests() {
		if e.Query.Get("version") != "1.2" || e.Method != "GET" {
			t.Errorf("zoomsh sent %s %v", e.Method, e.Query)
		}
	}
}
