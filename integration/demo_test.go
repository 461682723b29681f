//go:build integration

package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	tryLine    = regexp.MustCompile(`^\s+curl '([^']+)'$`)
	zoomshLine = regexp.MustCompile(`^\s*zoomsh ((?:"[^"]*" )+)quit$`)
	zoomshArg  = regexp.MustCompile(`"([^"]*)"`)
	anyHits    = regexp.MustCompile(`: (\d+) hits`)
)

// TestDemoPrintsWorkingURLs runs `gateway -demo` as a new user would (SPEC
// 2) and follows every URL it prints: each answers 200 with results, and
// zoomsh finds records through the printed gateway address. Every zoomsh
// line it prints, and every one in the README and docs/ (their
// localhost:8080 swapped for the demo's address), runs as written with the
// real zoomsh and finds records (issue 22: `open` before `set sru get`
// made zoomsh speak Z39.50 to an HTTP port: "Decoding failed").
func TestDemoPrintsWorkingURLs(t *testing.T) {
	p := start(t, "gateway -demo", []string{"GATEWAY_ADDR=127.0.0.1:0", "ALMA_SRU_URL=", "ALMA_API_URL=", "ALMA_API_KEY=", "REDIS_URL=", "GATEWAY_CONFIG="}, gatewayBin, "-demo")
	base := p.waitLine(t, listenLine, 90*time.Second)[1]
	var tries, zooms []string
	deadline := time.After(10 * time.Second)
collect:
	for {
		select {
		case l := <-p.lines:
			if m := tryLine.FindStringSubmatch(l); m != nil {
				tries = append(tries, m[1])
			}
			if strings.Contains(l, "zoomsh ") {
				zooms = append(zooms, l)
			}
			if strings.HasPrefix(l, "z39.50 listening") {
				break collect
			}
		case <-deadline:
			break collect
		}
	}
	if len(tries) < 3 {
		t.Fatalf("gateway -demo printed %d curl lines, want the URLs to try", len(tries))
	}
	for _, u := range tries {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("printed URL %s is not on the gateway's address %s", u, base)
			continue
		}
		code, _, body := get(t, u)
		if code != http.StatusOK {
			t.Errorf("%s answered %d: %s", u, code, head(string(body), 300))
			continue
		}
		switch {
		case strings.Contains(u, "/sru?") && !strings.Contains(u, "operation=explain"):
			page, err := parseSRU(body)
			if err != nil || page.total == 0 || len(page.records) == 0 || len(page.diagnostics) > 0 {
				t.Errorf("%s: total %v, %d records, diagnostics %v, error %v", u, page.total, len(page.records), page.diagnostics, err)
			}
		case strings.Contains(u, "/v1/search?"):
			var feed struct {
				Total   int   `json:"total"`
				Records []any `json:"records"`
			}
			if err := json.Unmarshal(body, &feed); err != nil || feed.Total == 0 || len(feed.Records) == 0 {
				t.Errorf("%s: total %d, %d records (%v)", u, feed.Total, len(feed.Records), err)
			}
		case strings.Contains(u, "/v1/status"):
			if !json.Valid(body) {
				t.Errorf("%s is not JSON", u)
			}
		}
	}
	out, _ := zoomsh(t, "set sru get", "connect "+base+"/sru", "search cql:alma.all_for_ui=history", "show 0 1")
	if n := hitsOf(t, zoomHits, out); n == 0 || len(ids001(out)) != 1 {
		t.Errorf("zoomsh through the demo: %d hits, records %v", n, ids001(out))
	}
	if len(zooms) == 0 {
		t.Errorf("gateway -demo printed no zoomsh line")
	}
	docs, _ := filepath.Glob("../docs/*.md")
	for _, f := range append([]string{"../README.md"}, docs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "zoomsh ") {
				zooms = append(zooms, strings.ReplaceAll(l, "http://localhost:8080", base))
			}
		}
	}
	for _, l := range zooms {
		m := zoomshLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("zoomsh line not in the form zoomsh \"cmd\" … quit: %s", l)
			continue
		}
		var cmds []string
		for _, a := range zoomshArg.FindAllStringSubmatch(m[1], -1) {
			cmds = append(cmds, a[1])
		}
		out, _ := zoomsh(t, cmds...)
		hits := anyHits.FindStringSubmatch(out)
		if hits == nil || hits[1] == "0" || strings.Contains(out, " error: ") || len(marcRecordsIn(t, out)) == 0 {
			t.Errorf("%s\nfound no records:\n%s", l, tail(out, 2048))
		}
	}
}
