package gateway

import (
	"github.com/google/go-cmp/cmp"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/staff"
)

const (
	testAdminToken = "s3cret-admin-token"
	testStaffA     = "staff-token-for-member-a-0001"
	testStaffAll   = "staff-token-for-everyone-0002"
)

// staffEnv is a gateway with the admin token and two staff tokens: one
// bound to the first member, one to every member.
func staffEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	var code string
	env := newEnv(t, func(c *Config) {
		c.AdminToken = testAdminToken
		code = c.Members[0].Code
		c.Staff = []StaffEntry{
			{Name: "Circulation desk", Institution: code, TokenEnv: "T_A", Token: testStaffA},
			{Name: "Network office", Institution: "*", TokenEnv: "T_ALL", Token: testStaffAll},
		}
	})
	return env, code
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn posts the sign-in form and returns the answer's status and the
// session cookie it set, if any.
func signIn(t *testing.T, e *testEnv, token string, hdr ...string) (int, *http.Cookie) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+"/dashboard/sign-in", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.base)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == staff.SessionCookie && c.Value != "" {
			return resp.StatusCode, c
		}
	}
	return resp.StatusCode, nil
}

func withCookie(c *http.Cookie) []string {
	return []string{"Cookie", staff.SessionCookie + "=" + c.Value}
}

func TestSignInSignOut(t *testing.T) {
	env, _ := staffEnv(t)

	code, hdr, body := env.get("/dashboard", "Accept", "text/html")
	if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `action="/dashboard/sign-in"`) {
		t.Fatalf("/dashboard signed out: %d %s, want 401 with the sign-in form:\n%s", code, hdr.Get("Content-Type"), body)
	}
	if code, hdr, body := env.get("/v1/status", "Accept", "text/html,application/xhtml+xml"); code != http.StatusUnauthorized || !strings.Contains(string(body), "sign-in") {
		t.Errorf("/v1/status from a browser signed out: %d %s, want the sign-in page", code, hdr.Get("Content-Type"))
	}
	if code, _ := signIn(t, env, "wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("sign-in with a wrong token: %d, want 401", code)
	}
	if code, c := signIn(t, env, testStaffA, "Origin", "https://evil.example"); code != http.StatusForbidden || c != nil {
		t.Errorf("sign-in posted from another origin: %d (cookie %v), want 403 and no cookie", code, c)
	}
	code, cookie := signIn(t, env, testStaffA)
	if code != http.StatusSeeOther || cookie == nil {
		t.Fatalf("sign-in with a staff token: %d, cookie %v; want 303 and a cookie", code, cookie)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.MaxAge != int((8*time.Hour).Seconds()) {
		t.Errorf("cookie over plain HTTP: HttpOnly %v SameSite %v Secure %v MaxAge %d; want HttpOnly, Strict, not Secure, 8h", cookie.HttpOnly, cookie.SameSite, cookie.Secure, cookie.MaxAge)
	}
	// X-Forwarded-Proto counts only from limits.trusted_proxies (none
	// here); TestForwardedHeadersFromTrustedProxiesOnly has a trusted one.
	if _, c := signIn(t, env, testStaffA, "X-Forwarded-Proto", "https"); c == nil || c.Secure {
		t.Errorf("an untrusted peer's X-Forwarded-Proto made the cookie Secure: %v", c)
	}
	if strings.Contains(cookie.Value, testStaffA) {
		t.Errorf("the cookie carries the token")
	}
	for _, p := range []string{"/dashboard", "/v1/status", "/dashboard/history"} {
		if code, _, _ := env.get(p, withCookie(cookie)...); code != http.StatusOK {
			t.Errorf("%s with the session cookie: %d, want 200", p, code)
		}
	}
	if code, _, _ := env.get("/v1/status?token=" + testAdminToken); code != http.StatusUnauthorized {
		t.Errorf("/v1/status?token=: %d, want 401 (no token in a URL)", code)
	}
	purge := func(hdr ...string) int {
		req, _ := http.NewRequest(http.MethodPost, env.base+"/admin/cache/purge", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		code, _, _ := env.do(req)
		return code
	}
	if code := purge(append(withCookie(cookie), "Origin", "https://evil.example")...); code != http.StatusForbidden {
		t.Errorf("purge with the cookie from another origin: %d, want 403", code)
	}
	if code := purge(append(withCookie(cookie), "Origin", env.base)...); code != http.StatusOK {
		t.Errorf("purge with the cookie from the dashboard: %d, want 200", code)
	}

	req, _ := http.NewRequest(http.MethodPost, env.base+"/dashboard/sign-out", nil)
	req.Header.Set("Origin", env.base)
	req.Header.Set("Cookie", staff.SessionCookie+"="+cookie.Value)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d, want 303", resp.StatusCode)
	}
	if code, _, _ := env.get("/v1/status", withCookie(cookie)...); code != http.StatusUnauthorized {
		t.Errorf("/v1/status with the cookie after sign-out: %d, want 401", code)
	}
	code, _, body = env.get("/dashboard", append(withCookie(cookie), "Accept", "text/html")...)
	if code != http.StatusUnauthorized || !strings.Contains(string(body), "session has ended") {
		t.Errorf("/dashboard after sign-out: %d, want the sign-in page saying the session ended", code)
	}

	t.Run("expiry", func(t *testing.T) {
		_, c := signIn(t, env, testAdminToken)
		env.now.Advance(8*time.Hour + time.Second)
		if code, _, _ := env.get("/v1/status", withCookie(c)...); code != http.StatusUnauthorized {
			t.Errorf("/v1/status with a cookie past its lifetime: %d, want 401", code)
		}
	})
}

func TestStaffScope(t *testing.T) {
	env, code := staffEnv(t)
	a := env.gw.staff
	tests := []struct {
		token string
		want  Principal
		ok    bool
	}{
		{testAdminToken, Principal{Name: "admin", Admin: true}, true},
		{testStaffA, Principal{Name: "Circulation desk", Institution: code}, true},
		{testStaffAll, Principal{Name: "Network office"}, true},
		{testStaffA[:len(testStaffA)-1], Principal{}, false},
		{"", Principal{}, false},
	}
	for _, tt := range tests {
		p, _, ok := a.ByToken(tt.token)
		if diff := cmp.Diff(p, tt.want); diff != "" || ok != tt.ok {
			t.Errorf("byToken(%q) = %v (ok %v), want %v (ok %v): %s", tt.token, p, ok, tt.want, tt.ok, diff)
		}
	}
	other := env.gw.cfg.Members[1].Code
	for _, tt := range []struct {
		p    Principal
		code string
		want bool
	}{
		{Principal{Name: "Circulation desk", Institution: code}, code, true},
		{Principal{Name: "Circulation desk", Institution: code}, other, false},
		{Principal{Name: "Network office"}, other, true},
		{Principal{Name: "admin", Admin: true}, other, true},
	} {
		if got := tt.p.MayActFor(tt.code); got != tt.want {
			t.Errorf("%v.MayActFor(%s) = %v, want %v", tt.p, tt.code, got, tt.want)
		}
	}
	// The dashboard tells its script whom it acts for, and the middleware
	// stores the principal for the handlers.
	_, c := signIn(t, env, testStaffA)
	_, _, body := env.get("/dashboard", withCookie(c)...)
	if !strings.Contains(string(body), `data-institution="`+code+`"`) || !strings.Contains(string(body), `data-admin="false"`) {
		t.Errorf("the dashboard of a member's staff does not carry its scope")
	}
	if code, _, _ := env.get("/v1/status", "Authorization", "Bearer "+testStaffAll); code != http.StatusOK {
		t.Errorf("/v1/status with a staff bearer token: %d, want 200", code)
	}
}

// TestFailedAttemptsBoundOverHTTP: past staff.FreeAttempts wrong tokens, a
// client is refused even the right one, by form and by bearer token.
func TestFailedAttemptsBoundOverHTTP(t *testing.T) {
	env, _ := staffEnv(t)
	for range staff.FreeAttempts {
		if code, _ := signIn(t, env, "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d, want 401", code)
		}
	}
	if code, _ := signIn(t, env, testAdminToken); code != http.StatusTooManyRequests {
		t.Errorf("the right token while backing off: %d, want 429", code)
	}
	if code, _, _ := env.get("/v1/status", "Authorization", "Bearer "+testAdminToken); code != http.StatusTooManyRequests {
		t.Errorf("a bearer token while backing off: %d, want 429", code)
	}
}

func TestStaffRoutesSendNoCORS(t *testing.T) {
	env, _ := staffEnv(t)
	_, c := signIn(t, env, testAdminToken)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/status"}, {"GET", "/dashboard"}, {"GET", "/dashboard/history"},
		{"POST", "/dashboard/sign-out"}, {"POST", "/dashboard/sign-in"}, {"POST", "/admin/cache/purge"},
		{"OPTIONS", "/v1/status"}, {"OPTIONS", "/admin/cache/purge"}, {"OPTIONS", "/dashboard/sign-in"},
	} {
		for _, auth := range [][]string{nil, withCookie(c), {"Authorization", "Bearer " + testAdminToken}} {
			req, _ := http.NewRequest(tt.method, env.base+tt.path, nil)
			req.Header.Set("Origin", "https://opac.example")
			req.Header.Set("Access-Control-Request-Method", "GET")
			for i := 0; i+1 < len(auth); i += 2 {
				req.Header.Set(auth[i], auth[i+1])
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s %s sent %s: %q", tt.method, tt.path, k, resp.Header.Get(k))
				}
			}
		}
	}
	// The public feed keeps its CORS headers.
	if _, h, _ := env.get("/v1/search?q=history", "Origin", "https://opac.example"); h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("/v1/search lost its CORS header: %q", h.Get("Access-Control-Allow-Origin"))
	}
}

// TestLoopbackWithoutTokens: with no token configured, loopback acts as
// admin, but a page from another origin open in a browser on that machine
// cannot use that to change anything.
func TestLoopbackWithoutTokens(t *testing.T) {
	env := newEnv(t, nil)
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"a script (no Origin)", nil, http.StatusOK},
		{"the dashboard", []string{"Origin", env.base}, http.StatusOK},
		{"another origin's page", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"a cross-site fetch without Origin", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a bearer token means nothing here", []string{"Authorization", "Bearer whatever"}, http.StatusOK},
	}
	for _, tt := range tests {
		if code, _ := env.post("/admin/cache/purge", tt.hdr...); code != tt.want {
			t.Errorf("%s: purge answered %d, want %d", tt.name, code, tt.want)
		}
	}
	if code, _, body := env.get("/dashboard"); code != http.StatusOK || !strings.Contains(string(body), `id="ups"`) {
		t.Errorf("/dashboard from loopback without tokens: %d, want the dashboard", code)
	}
}
