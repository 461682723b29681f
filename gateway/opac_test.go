package gateway

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSearchPage(t *testing.T) {
	env := newEnv(t, nil)
	code, h, body := env.get("/")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, Content-Type %q", code, h.Get("Content-Type"))
	}
	page := string(body)
	if !strings.Contains(page, `<link rel="search" type="application/opensearchdescription+xml" href="/opensearch.xml"`) {
		t.Error("the page does not link the OpenSearch description")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// The members' names are filled in, as JSON inside the page.
	m := env.gw.cfg.Members[0]
	if !strings.Contains(page, `"`+m.Code+`":"`+m.Name+`"`) {
		t.Errorf("the page does not carry the name of %s", m.Code)
	}
	// No asset from anywhere else: every src or href is local, a fragment or data:.
	for _, u := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(u[1], "/") && !strings.HasPrefix(u[1], "#") && !strings.HasPrefix(u[1], "data:") {
			t.Errorf("the page refers to %q", u[1])
		}
	}
	// Small enough to read in one sitting: with sorting, facets, page
	// numbers and the patron's library (issue 22) it is about 370 lines.
	if n := strings.Count(page, "\n"); n >= 420 {
		t.Errorf("the page has %d lines; the reference client stays under 420", n)
	}
}

func TestOpenSearchDescription(t *testing.T) {
	env := newEnv(t, nil)
	for _, c := range []struct{ host, base string }{
		{"", env.base},
		{"catalogue.example.org", "http://catalogue.example.org"},
		{"catalogue.example.org:8443", "http://catalogue.example.org:8443"},
		{"[::1]:9000", "http://[::1]:9000"},
		{"bad_host.example", "http://localhost"}, // not a plausible host name: explain's fallback
	} {
		req, err := http.NewRequest(http.MethodGet, env.base+"/opensearch.xml", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.host != "" {
			req.Host = c.host
		}
		code, h, body := env.do(req)
		if code != http.StatusOK || h.Get("Content-Type") != "application/opensearchdescription+xml; charset=utf-8" {
			t.Fatalf("status %d, Content-Type %q", code, h.Get("Content-Type"))
		}
		var d struct {
			XMLName   xml.Name `xml:"http://a9.com/-/spec/opensearch/1.1/ OpenSearchDescription"`
			ShortName string   `xml:"ShortName"`
			URLs      []struct {
				Type     string `xml:"type,attr"`
				Template string `xml:"template,attr"`
			} `xml:"Url"`
		}
		if err := xml.Unmarshal(body, &d); err != nil {
			t.Fatalf("Host %q: %v\n%s", c.host, err, body)
		}
		if len(d.ShortName) == 0 || len(d.ShortName) > 16 {
			t.Errorf("ShortName %q (OpenSearch: 16 characters at most)", d.ShortName)
		}
		var got []string
		for _, u := range d.URLs {
			got = append(got, u.Type+" "+u.Template)
		}
		want := []string{
			"text/html " + c.base + "/?q={searchTerms}",
			"application/json " + c.base + "/v1/search?q={searchTerms}&start={startIndex}&limit={count}",
			"application/sru+xml " + c.base + "/sru?version=2.0&operation=searchRetrieve&queryType=searchTerms&query={searchTerms}&httpAccept=application/sru%2Bxml&startRecord={startIndex}&maximumRecords={count}",
			"application/opensearchdescription+xml " + c.base + "/opensearch.xml",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Host %q: templates (-want +got):\n%s", c.host, diff)
		}
	}
}

// TestOpenSearchTemplatesAreTrue (issue 22): each results template, filled
// as an OpenSearch client fills it, answers in the media type it names, and
// the feed's and SRU's read {searchTerms} by the keyword rules of q=
// ("history science" found nothing as raw CQL, with no diagnostic).
func TestOpenSearchTemplatesAreTrue(t *testing.T) {
	env := newEnv(t, nil)
	_, _, body := env.get("/opensearch.xml")
	var d struct {
		URLs []struct {
			Type     string `xml:"type,attr"`
			Rel      string `xml:"rel,attr"`
			Template string `xml:"template,attr"`
		} `xml:"Url"`
	}
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	want, _ := env.feedTotal(url.Values{"q": {"history science"}})
	if want == 0 {
		t.Fatal("q=history science finds nothing; the test proves nothing")
	}
	total := regexp.MustCompile(`<(?:\w+:)?numberOfRecords>(\d+)<`)
	checked := 0
	for _, u := range d.URLs {
		if u.Rel != "results" {
			continue
		}
		filled := strings.NewReplacer("{searchTerms}", url.QueryEscape("history science"), "{startIndex}", "1", "{count}", "5").Replace(u.Template)
		code, h, body := env.get(strings.TrimPrefix(filled, env.base))
		if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), u.Type+";") && h.Get("Content-Type") != u.Type {
			t.Errorf("%s: status %d, Content-Type %q, want %s", filled, code, h.Get("Content-Type"), u.Type)
			continue
		}
		switch u.Type {
		case "application/json":
			var feed struct{ Total int }
			if json.Unmarshal(body, &feed) != nil || feed.Total != want {
				t.Errorf("%s: total %d, want %d as q= finds", filled, feed.Total, want)
			}
			checked++
		case "application/sru+xml":
			m := total.FindSubmatch(body)
			if m == nil || string(m[1]) != strconv.Itoa(want) || strings.Contains(string(body), "diagnostics>") {
				t.Errorf("%s: numberOfRecords %q, want %d as q= finds:\n%.3000s", filled, m, want, body)
			}
			checked++
		}
	}
	if checked != 2 {
		t.Errorf("checked %d of the feed and SRU templates, want both", checked)
	}
}

// With GATEWAY_PUBLIC_URL the templates use it, whatever Host says, and the
// description may be cached by anyone.
func TestOpenSearchUsesThePublicURL(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.PublicURL = "https://search.example.org/catalogue" })
	req, err := http.NewRequest(http.MethodGet, env.base+"/opensearch.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "attacker.example"
	code, h, body := env.do(req)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Cache-Control"), "public") {
		t.Fatalf("status %d, Cache-Control %q", code, h.Get("Cache-Control"))
	}
	if strings.Contains(string(body), "attacker") || !strings.Contains(string(body), `template="https://search.example.org/catalogue/v1/search?q={searchTerms}`) {
		t.Errorf("templates do not use GATEWAY_PUBLIC_URL:\n%s", body)
	}
}
