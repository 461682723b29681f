package gateway

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/almasim"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/staff"
)

// rawReq is a request with the Host and header lines given, and a body.
func rawReq(method, target, host, body string, extra ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" || method == http.MethodPost || method == http.MethodPut {
		b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// DNS rebinding in open mode (no token): a page under evil.example whose
// name resolves to 127.0.0.1 talks to the gateway from loopback with its
// own Host and Origin. Before, it purged the cache (200) and created a
// resource-sharing request in Alma; now every staff request under a Host
// other than localhost, 127.0.0.1, [::1] or GATEWAY_PUBLIC_URL's is 403,
// and Origin must match by scheme, host and port.
func TestOpenModeRefusesForeignHosts(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.PublicURL = "https://search.example.org" })
	port := env.base[strings.LastIndexByte(env.base, ':')+1:]
	m := env.sim.Members()[0]
	rs := `{"nz_mms_id":"991234567890101","lender":"` + env.sim.Members()[1].Code + `","user_id":"u1","format":"PHYSICAL","citation_type":"BOOK","pickup_location":"MAIN"}`
	for _, c := range []struct {
		name, method, path, host, body string
		hdr                            []string
		want                           int
	}{
		{"purge, rebinding", "POST", "/admin/cache/purge", "evil.example:" + port, "", []string{"Origin: http://evil.example:" + port}, 403},
		{"purge, rebinding without port", "POST", "/admin/cache/purge", "evil.example", "", []string{"Origin: http://evil.example"}, 403},
		{"status, rebinding", "GET", "/v1/status", "evil.example:" + port, "", nil, 403},
		{"dashboard, rebinding", "GET", "/dashboard", "evil.example:" + port, "", nil, 403},
		{"resource sharing, rebinding", "POST", "/v1/institutions/" + m.Code + "/resource-sharing-requests", "evil.example:" + port, rs,
			[]string{"Origin: http://evil.example:" + port, "Content-Type: application/json", "Idempotency-Key: rebind-1"}, 403},
		{"a host that is not a name", "GET", "/v1/status", "evil_example", "", nil, 403},
		{"purge, https Origin on an http gateway", "POST", "/admin/cache/purge", "127.0.0.1:" + port, "", []string{"Origin: https://127.0.0.1:" + port}, 403},
		{"purge, Origin on another port", "POST", "/admin/cache/purge", "127.0.0.1:" + port, "", []string{"Origin: http://127.0.0.1:1"}, 403},
		{"purge, Origin null", "POST", "/admin/cache/purge", "127.0.0.1:" + port, "", []string{"Origin: null"}, 403},
		{"purge, 127.0.0.1", "POST", "/admin/cache/purge", "127.0.0.1:" + port, "", []string{"Origin: http://127.0.0.1:" + port}, 200},
		{"purge, localhost", "POST", "/admin/cache/purge", "LocalHost:" + port, "", []string{"Origin: http://localhost:" + port}, 200},
		{"purge, [::1]", "POST", "/admin/cache/purge", "[::1]:" + port, "", []string{"Origin: http://[::1]:" + port}, 200},
		{"purge, no Origin (curl)", "POST", "/admin/cache/purge", "127.0.0.1:" + port, "", nil, 200},
		{"purge, the public URL's origin", "POST", "/admin/cache/purge", "search.example.org", "", []string{"Origin: https://search.example.org"}, 200},
		{"status, the public URL's host", "GET", "/v1/status", "search.example.org", "", nil, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := env.sim.Count(almasim.EndpointAll)
			got, err := env.raw(rawReq(c.method, c.path, c.host, c.body, c.hdr...))
			if err != nil {
				t.Fatal(err)
			}
			if got.status != c.want {
				t.Errorf("status %d, want %d: %.300s", got.status, c.want, got.body)
			}
			if c.want == 403 && env.sim.Count(almasim.EndpointAll) != before {
				t.Errorf("a refused request reached Alma")
			}
		})
	}
}

// An Origin is compared by scheme, host and port with the request's own
// origin (or GATEWAY_PUBLIC_URL's).
func TestParseOriginAndSplitHost(t *testing.T) {
	for _, c := range []struct {
		in   string
		want origin
		ok   bool
	}{
		{"http://127.0.0.1:8080", origin{"http", "127.0.0.1", 8080}, true},
		{"https://Search.Example.org", origin{"https", "search.example.org", 443}, true},
		{"http://[::1]:81", origin{"http", "::1", 81}, true},
		{"http://[::1]", origin{"http", "::1", 80}, true},
		{"null", origin{}, false},
		{"ftp://x.example", origin{}, false},
		{"http://x.example:99999", origin{}, false},
		{"http://x.example/path", origin{}, false},
		{"http://us er@x.example", origin{}, false},
	} {
		got, ok := parseOrigin(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseOrigin(%q) = %+v %v, want %+v %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// clientIP believes X-Forwarded-For only from a trusted peer, and then the
// nearest entry that is not a trusted proxy itself (the rightmost
// untrusted), never the leftmost a client can write.
func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		xff     []string
		want    string
	}{
		{"no proxies configured", nil, []string{"203.0.113.9"}, "0.0.0.0"},
		{"peer not trusted", []string{"10.0.0.0/8"}, []string{"203.0.113.9"}, "0.0.0.0"},
		{"trusted peer", []string{"0.0.0.0/32"}, []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written entries to the left are ignored", []string{"0.0.0.0"}, []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", []string{"0.0.0.0/32", "10.0.0.0/8"}, []string{"1.2.3.4, 203.0.113.9, 10.1.1.1", "10.2.2.2"}, "203.0.113.9"},
		{"garbage ends the walk", []string{"0.0.0.0/32", "10.0.0.0/8"}, []string{"evil, 10.1.1.1"}, "10.1.1.1"},
		{"IPv6 with brackets and port", []string{"0.0.0.0/32"}, []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"no header", []string{"0.0.0.0/32"}, nil, "0.0.0.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, err := config.ParseTrustedProxies(c.trusted)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{doorState: doorState{proxies: tp}}
			app := fiber.New()
			var got net.IP
			app.Get("/", func(ctx *fiber.Ctx) error { got = s.clientIP(ctx); return nil })
			req, _ := http.NewRequest("GET", "http://gateway.example/", nil)
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if _, err := app.Test(req); err != nil {
				t.Fatal(err)
			}
			if got.String() != c.want {
				t.Errorf("clientIP = %s, want %s", got, c.want)
			}
		})
	}
	if _, err := config.ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

// Forwarded headers from a peer not in limits.trusted_proxies change
// nothing: not the links (before: X-Forwarded-Proto: https gave https://
// links in DAIA, which a shared cache then served to everyone), not the
// rate-limit bucket, not the cookie's Secure. From a trusted peer they do.
func TestForwardedHeadersFromTrustedProxiesOnly(t *testing.T) {
	var held string
	for _, trusted := range []bool{false, true} {
		env := newEnv(t, func(c *Config) {
			c.AdminToken = testAdminToken
			c.Limits.ClientRate, c.Limits.ClientBurst = 0.001, 1
			if trusted {
				c.Limits.TrustedProxies = []string{"127.0.0.0/8"}
			}
		})
		if held == "" {
			held = env.sim.Records()[0].MMSID
		}
		name := map[bool]string{false: "untrusted", true: "trusted"}[trusted]
		fwd := []string{"X-Forwarded-Proto: https", "X-Forwarded-Host: proxy.example"}

		got, err := env.raw(rawReq("GET", "/v1/daia?id="+held, "127.0.0.1", "", fwd...))
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(got.body), "https://proxy.example/"); has != trusted {
			t.Errorf("%s: DAIA links from the forwarded origin: %v, want %v: %.300s", name, has, trusted, got.body)
		}
		got, _ = env.raw(rawReq("GET", "/opensearch.xml", "127.0.0.1", "", fwd...))
		if has := strings.Contains(string(got.body), "https://proxy.example/"); has != trusted {
			t.Errorf("%s: OpenSearch links from the forwarded origin: %v, want %v", name, has, trusted)
		}

		// The sign-in cookie is Secure only when a trusted proxy says https.
		form := url.Values{"token": {testAdminToken}}.Encode()
		got, _ = env.raw(rawReq("POST", "/dashboard/sign-in", "127.0.0.1", form, append(fwd, "Content-Type: application/x-www-form-urlencoded")...))
		if got.status != http.StatusSeeOther {
			t.Fatalf("%s: sign-in %d: %s", name, got.status, got.body)
		}
		if secure := strings.Contains(strings.ToLower(got.header.Get("Set-Cookie")), "secure"); secure != trusted {
			t.Errorf("%s: Secure cookie %v, want %v: %s", name, secure, trusted, got.header.Get("Set-Cookie"))
		}

		// Loopback is not rate limited; a forwarded client is, per address.
		codes := []int{}
		for _, xff := range []string{"203.0.113.1", "203.0.113.1", "203.0.113.2"} {
			got, _ := env.raw(rawReq("GET", "/healthz", "127.0.0.1", "", "X-Forwarded-For: "+xff))
			codes = append(codes, got.status)
		}
		want := []int{200, 200, 200}
		if trusted {
			want = []int{200, 429, 200}
		}
		if itoa(codes[0])+itoa(codes[1])+itoa(codes[2]) != itoa(want[0])+itoa(want[1])+itoa(want[2]) {
			t.Errorf("%s: statuses by forwarded client %v, want %v", name, codes, want)
		}
	}
}

// Staff token details of issue 21: the bearer scheme is case-insensitive
// (RFC 9110 11.1), sign-in never reads ?token=, and the admin token needs
// 16 characters like the staff tokens.
func TestStaffTokenDetails(t *testing.T) {
	env, _ := staffEnv(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "  Bearer  "} {
		if code, _, body := env.get("/v1/status", "Authorization", scheme+" "+testAdminToken); code != http.StatusOK {
			t.Errorf("scheme %q: %d: %.200s", scheme, code, body)
		}
	}
	if code, _, _ := env.get("/v1/status", "Authorization", "Basic "+testAdminToken); code != http.StatusUnauthorized {
		t.Errorf("Basic scheme: %d, want 401", code)
	}
	// The token in the URL, even on a real form post: not read.
	got, err := env.raw(rawReq("POST", "/dashboard/sign-in?token="+testAdminToken, "127.0.0.1", "", "Content-Type: application/x-www-form-urlencoded"))
	if err != nil {
		t.Fatal(err)
	}
	if got.status == http.StatusSeeOther || strings.Contains(got.header.Get("Set-Cookie"), staff.SessionCookie+"=") {
		t.Errorf("sign-in with ?token= signed in: %d %s", got.status, got.header.Get("Set-Cookie"))
	}
	if code, _ := signIn(t, env, testAdminToken); code != http.StatusSeeOther {
		t.Errorf("sign-in with the form's token: %d, want 303", code)
	}

	c := Config{SRUURL: "http://127.0.0.1:1/view/sru/X", AdminToken: "12345", Members: []Member{{Code: "A"}}}
	c.ApplyDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GATEWAY_ADMIN_TOKEN") {
		t.Errorf("a 5-character admin token: %v, want refused naming GATEWAY_ADMIN_TOKEN", err)
	}
	c.AdminToken = strings.Repeat("x", config.MinStaffToken)
	if err := c.Validate(); err != nil {
		t.Errorf("a %d-character admin token: %v", config.MinStaffToken, err)
	}
}
