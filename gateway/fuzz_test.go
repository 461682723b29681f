package gateway

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/almanet/gateway/internal/hostname"
	"github.com/almanet/gateway/sru"
)

// Fuzz targets for every parser in the gateway that reads outside input:
// the /v1/search parameters, the Host header, the SRU and JSON handlers end
// to end (through app.Test, over a simulated Alma), the record path, the
// If-None-Match header and Alma's Retry-After. The properties: no panic,
// always a well-formed answer, never a 5xx.

// fuzzServer is a gateway over a fake Alma on loopback that answers every
// SRU search with a real Alma page (../testdata/alma/SOURCES.md) and every REST
// call with Alma's "not valid" error, so that what is fuzzed is the
// gateway alone. Per-client limiting is off: app.Test's client address is
// not loopback.
func fuzzServer(tb testing.TB) *Server {
	tb.Helper()
	page, err := os.ReadFile("../testdata/alma/slsp_nz_sru_searchRetrieve_20records_852.xml")
	if err != nil {
		tb.Fatal(err)
	}
	alma := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/almaws/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans"><errorsExist>true</errorsExist><errorList><error><errorCode>402203</errorCode><errorMessage>Input parameters mmsId is not valid.</errorMessage></error></errorList></web_service_result>`)
			return
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.Write(page)
	}))
	cfg := Config{SRUURL: alma.URL + "/view/sru/41SLSP_NETWORK", APIURL: alma.URL, APIKey: "l8xxfuzzkey"}
	cfg.Members = []Member{{Code: "41SLSP_UBS", APIKey: "l8xxmemberkey"}}
	cfg.Cache.ExplainRefresh = -1
	cfg.Upstream.Timeout = Duration(5 * time.Second)
	cfg.Limits.ClientRate = -1
	cfg.Upstream.RatePerSecond = 10000 // the fake Alma has no quota; pacing would only slow the fuzzer
	s, err := New(cfg, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		alma.Close()
	})
	return s
}

// escapeRawQuery makes arbitrary bytes usable as a request target's query
// while keeping everything a client could really send (%-escapes, &, =,
// invalid UTF-8 as escapes) intact: only bytes that cannot appear in a
// request line are escaped.
func escapeRawQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// testRequest sends one request through the Fiber app without a network.
func testRequest(tb testing.TB, s *Server, method, target string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, "http://gateway.test"+target, nil)
	if err != nil {
		return nil, nil // not a request a client could send
	}
	resp, err := s.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

var querySeeds = []string{
	"q=history",
	"query=alma.title%3Dscience&start=3&limit=7",
	"query=alma.title%3D%22x&limit=1",
	"q=x&format=marcxml",
	"q=%00%FF%FE&start=-1",
	"query=((((alma.title=x",
	"q=a&q=b",
	"start=99999999999999999999&q=x",
	"query=alma.title%3Dx%20sortBy%20alma.title%2Fsort.descending",
	"query=alma.all_for_ui%20any%20%22a%20b%22%20and%2Fcql.distance%3C3%20alma.title%3Dc",
	"&&&==&",
	"q=%",
	"q=x&sort=date", "q=x&sort=title&query=y", "query=alma.title%3Dx%20sortBy%20alma.title&sort=date",
	"q=x&targets=nz&facets=year", "q=x&targets=mars", "q=x&targets=,,&sort=nope", "q=x&start=9999&limit=100&targets=nz",
	"limit=0&q=x",
}

func FuzzParseSearch(f *testing.F) {
	s := fuzzServer(f)
	for _, q := range querySeeds {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := s.rules.parseSearch(p)
		if err != nil {
			a := errorAnswer(s.log, "/v1/search", err)
			if a.status != http.StatusBadRequest || a.diag.URI == "" {
				t.Fatalf("parseSearch(%q) error %v answers %d %q, want 400 with a diagnostic", raw, err, a.status, a.diag.URI)
			}
			return
		}
		if req.start < 1 || req.start > sru.AlmaMaxPosition || req.limit < 0 || req.limit > s.cfg.Limits.MaxRecords {
			t.Fatalf("parseSearch(%q) accepted start %d limit %d", raw, req.start, req.limit)
		}
		if req.format != "json" && req.format != "marcxml" {
			t.Fatalf("parseSearch(%q) accepted format %q", raw, req.format)
		}
		// The canonical query is a fixed point: what goes to Alma parses
		// to itself.
		again, err := s.rules.validateCQL(req.query.Canonical)
		if err != nil {
			t.Fatalf("canonical query %q of %q does not parse: %v", req.query.Canonical, raw, err)
		}
		if again.Canonical != req.query.Canonical {
			t.Fatalf("canonical form is not stable: %q → %q", req.query.Canonical, again.Canonical)
		}
	})
}

func FuzzHostPort(f *testing.F) {
	for _, h := range []string{"localhost:8080", "[::1]:443", "example.org", ":", "a:b:c", "evil\"><x>:99999", "[", "host:-1", "xn--bcher-kva.example:0"} {
		f.Add(h, false)
	}
	f.Fuzz(func(t *testing.T, h string, tls bool) {
		host, port := hostPort(h, tls)
		if host == "" || !hostname.Sane(host) {
			t.Fatalf("hostPort(%q) host %q is not sane", h, host)
		}
		if port < 1 || port > 65535 {
			t.Fatalf("hostPort(%q) port %d", h, port)
		}
	})
}

func FuzzSRUHandler(f *testing.F) {
	s := fuzzServer(f)
	for _, q := range []string{
		"", "version=1.2", "version=2.0&operation=explain",
		"version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=2",
		"version=2.0&query=alma.title%3Dhistory&recordSchema=dc&maximumRecords=1&recordXMLEscaping=string",
		"version=1.1&operation=searchRetrieve&query=x&sortKeys=title,,0",
		"operation=scan&scanClause=x", "version=1.2&operation=searchRetrieve&query=%FF",
		"query=alma.title%3D%22%00%22", "x-foo=1&query=x&startRecord=10001", "version=3&query=x",
		"query=x&stylesheet=%22%3E%3Cscript%3E",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		resp, body := testRequest(t, s, http.MethodGet, "/sru?"+escapeRawQuery(raw))
		if resp == nil {
			return
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusRequestURITooLong {
			t.Fatalf("/sru?%s: status %d: %.300s", raw, resp.StatusCode, body)
		}
		if resp.StatusCode == http.StatusOK {
			if err := xml.Unmarshal(body, new(any)); err != nil {
				t.Fatalf("/sru?%s: not well-formed XML: %v\n%.500s", raw, err, body)
			}
			if !utf8.Valid(body) {
				t.Fatalf("/sru?%s: answer is not UTF-8", raw)
			}
		}
	})
}

func FuzzSearchHandler(f *testing.F) {
	s := fuzzServer(f)
	for _, q := range querySeeds {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		resp, body := testRequest(t, s, http.MethodGet, "/v1/search?"+escapeRawQuery(raw))
		if resp == nil {
			return
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("/v1/search?%s: status %d: %.300s", raw, resp.StatusCode, body)
		}
		if strings.Contains(resp.Header.Get("Content-Type"), "json") && !json.Valid(body) {
			t.Fatalf("/v1/search?%s: invalid JSON: %.300s", raw, body)
		}
		if strings.Contains(resp.Header.Get("Content-Type"), "xml") && xml.Unmarshal(body, new(any)) != nil {
			t.Fatalf("/v1/search?%s: invalid XML: %.300s", raw, body)
		}
	})
}

func FuzzRecordPath(f *testing.F) {
	s := fuzzServer(f)
	for _, p := range []string{"9912345678900101", "12ab", "..%2F..", "%00", "1", "99999999999999999999999999", "123?format=marcxml", "123/extra",
		"nz:9912345678900101", "nz:abc", "mars:1", "01NET_INST:991", ":", "x:", "nz%3A991", "a:%22%5C"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for _, route := range []string{"/v1/records/", "/v1/availability/"} {
			resp, body := testRequest(t, s, http.MethodGet, route+escapeRawQuery(id))
			if resp == nil {
				continue
			}
			if resp.StatusCode >= 500 {
				t.Fatalf("%s%s: status %d: %.300s", route, id, resp.StatusCode, body)
			}
			if !json.Valid(body) && resp.StatusCode != http.StatusNotModified {
				t.Fatalf("%s%s: invalid JSON: %.300s", route, id, body)
			}
		}
	})
}

func FuzzETagMatches(f *testing.F) {
	for _, h := range []string{`"abc"`, `W/"abc", "def"`, "*", ",,,", `W/`, ""} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		const etag = `"0123456789abcdef"`
		got := etagMatches([]byte(h), []byte(etag))
		if strings.TrimSpace(h) == "*" && !got {
			t.Fatalf("etagMatches(%q) = false for *", h)
		}
		if !strings.Contains(h, etag) && strings.TrimSpace(h) != "*" && got {
			t.Fatalf("etagMatches(%q) = true without the tag", h)
		}
	})
}

// TestFuzzSeedsAnswerSRU keeps the fuzz rig honest: a valid search is
// answered with records from the fake Alma, an invalid one with a
// diagnostic.
func TestFuzzSeedsAnswerSRU(t *testing.T) {
	s := fuzzServer(t)
	resp, body := testRequest(t, s, http.MethodGet, "/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=2")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "numberOfRecords") || strings.Contains(string(body), "diagnostic/1/1<") {
		t.Fatalf("valid seed: status %d body %.500s", resp.StatusCode, body)
	}
	_, body = testRequest(t, s, http.MethodGet, "/sru?"+escapeRawQuery("version=1.2&operation=searchRetrieve&query=alma.title=\"\x00"))
	if !strings.Contains(string(body), sru.NewDiagnostic(10, "").URI) && !strings.Contains(string(body), "diagnostic/1/") {
		t.Fatalf("invalid seed answered without a diagnostic: %.500s", body)
	}
}
