package gateway

import (
	"encoding/xml"
	"net/http"
	"regexp"
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
			"application/sru+xml " + c.base + "/sru?version=1.2&operation=searchRetrieve&query={searchTerms}&startRecord={startIndex}&maximumRecords={count}",
			"application/opensearchdescription+xml " + c.base + "/opensearch.xml",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Host %q: templates (-want +got):\n%s", c.host, diff)
		}
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
