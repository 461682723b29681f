//go:build integration

package integration

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var tryLine = regexp.MustCompile(`^\s+curl '([^']+)'$`)

// TestDemoPrintsWorkingURLs runs `gateway -demo` as a new user would (SPEC
// 2) and follows every URL it prints: each answers 200 with results, and
// zoomsh finds records through the printed gateway address.
func TestDemoPrintsWorkingURLs(t *testing.T) {
	p := start(t, "gateway -demo", []string{"GATEWAY_ADDR=127.0.0.1:0", "ALMA_SRU_URL=", "ALMA_API_URL=", "ALMA_API_KEY=", "REDIS_URL=", "GATEWAY_CONFIG="}, gatewayBin, "-demo")
	base := p.waitLine(t, listenLine, 90*time.Second)[1]
	var tries []string
	deadline := time.After(10 * time.Second)
collect:
	for {
		select {
		case l := <-p.lines:
			if m := tryLine.FindStringSubmatch(l); m != nil {
				tries = append(tries, m[1])
			}
			if strings.Contains(l, "/dashboard") {
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
}
