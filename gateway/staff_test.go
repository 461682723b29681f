package gateway

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
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
		if c.Name == sessionCookie && c.Value != "" {
			return resp.StatusCode, c
		}
	}
	return resp.StatusCode, nil
}

func withCookie(c *http.Cookie) []string { return []string{"Cookie", sessionCookie + "=" + c.Value} }

func TestSessionCookie(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	ss := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), lifetime: time.Hour, now: clock.Now, epochs: newEpochs(nil)}
	ctx := context.Background()
	v, exp := ss.issue(ctx, "Circulation desk", testStaffA)
	if got, want := exp, clock.Now().Add(time.Hour); !got.Equal(want) {
		t.Errorf("expiry %v, want %v", got, want)
	}
	other := &sessions{key: []byte("another-key-another-key-another!!"), lifetime: time.Hour, now: clock.Now, epochs: newEpochs(nil)}
	forged, _ := other.issue(ctx, "admin", testAdminToken)
	p64, m64, _ := strings.Cut(v, ".")
	tests := []struct {
		name    string
		mutate  func()
		value   string
		token   string
		wantErr error
	}{
		{name: "fresh", value: v, token: testStaffA},
		{name: "just before expiry", mutate: func() { clock.Advance(59 * time.Minute) }, value: v, token: testStaffA},
		{name: "token changed", value: v, token: testStaffA + "-rotated", wantErr: errSessionRevoked},
		{name: "expired", mutate: func() { clock.Advance(time.Minute) }, value: v, token: testStaffA, wantErr: errSessionExpired},
		{name: "payload swapped", value: "YWRtaW4." + m64, token: testStaffA, wantErr: errSessionSignature},
		{name: "signature flipped", value: p64 + "." + strings.Repeat("A", len(m64)), token: testStaffA, wantErr: errSessionSignature},
		{name: "signed with another key", value: forged, token: testAdminToken, wantErr: errSessionSignature},
		{name: "no separator", value: p64, token: testStaffA, wantErr: errSessionMalformed},
		{name: "not base64", value: "**.**", token: testStaffA, wantErr: errSessionMalformed},
		{name: "huge", value: strings.Repeat("a", 5000) + "." + m64, token: testStaffA, wantErr: errSessionMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mutate != nil {
				tt.mutate()
			}
			s, err := ss.parse(tt.value)
			if err == nil {
				err = ss.verify(ctx, s, tt.token)
			}
			if err != tt.wantErr {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}

	t.Run("sign-out ends every session of that principal only", func(t *testing.T) {
		clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		ss := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), lifetime: time.Hour, now: clock.Now, epochs: newEpochs(nil)}
		phone, _ := ss.issue(ctx, "Circulation desk", testStaffA)
		desk, _ := ss.issue(ctx, "Circulation desk", testStaffA)
		admin, _ := ss.issue(ctx, "admin", testAdminToken)
		ss.epochs.bump(ctx, "Circulation desk")
		check := func(v, tok string) error {
			s, err := ss.parse(v)
			if err != nil {
				return err
			}
			return ss.verify(ctx, s, tok)
		}
		got := []error{check(phone, testStaffA), check(desk, testStaffA), check(admin, testAdminToken)}
		want := []error{errSessionRevoked, errSessionRevoked, nil}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("session %d after sign-out: got %v, want %v", i, got[i], want[i])
			}
		}
		again, _ := ss.issue(ctx, "Circulation desk", testStaffA)
		if err := check(again, testStaffA); err != nil {
			t.Errorf("a new sign-in after sign-out: %v", err)
		}
	})
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
	req.Header.Set("Cookie", sessionCookie+"="+cookie.Value)
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
		p, _, ok := a.byToken(tt.token)
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

func TestFailedAttemptsBound(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	a := newAttempts(clock.Now)
	ip, other := net.ParseIP("192.0.2.7"), net.ParseIP("192.0.2.8")
	for range freeAttempts - 1 {
		a.failed(ip)
	}
	if w := a.blocked(ip); w != 0 {
		t.Fatalf("blocked %v after %d failures, want free attempts", w, freeAttempts-1)
	}
	var waits []time.Duration
	for range 4 {
		a.failed(ip)
		waits = append(waits, a.blocked(ip))
	}
	if diff := cmp.Diff(waits, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}); diff != "" {
		t.Errorf("back-off after each failure beyond the free ones (-got +want):\n%s", diff)
	}
	if w := a.blocked(other); w != 0 {
		t.Errorf("another client is blocked %v", w)
	}
	for range 40 {
		a.failed(ip)
	}
	if w := a.blocked(ip); w != maxBackoff {
		t.Errorf("back-off after many failures %v, want the cap %v", w, maxBackoff)
	}
	clock.Advance(failureMemory + time.Second)
	if w := a.blocked(ip); w != 0 {
		t.Errorf("still blocked %v after an hour of quiet", w)
	}
	a.failed(ip)
	a.succeeded(ip)
	if len(a.by) != 0 {
		t.Errorf("a success left %d entries", len(a.by))
	}

	t.Run("over HTTP", func(t *testing.T) {
		env, _ := staffEnv(t)
		for range freeAttempts {
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
	})
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

func TestQuantile(t *testing.T) {
	bounds := []float64{.001, .01, .1, 1}
	tests := []struct {
		name string
		cum  []float64
		q    float64
		want *float64
	}{
		{"empty", []float64{0, 0, 0, 0}, .5, nil},
		{"all in the first bucket", []float64{10, 10, 10, 10}, .5, ptr(0.5)},
		{"middle of the second", []float64{0, 10, 10, 10}, .5, ptr(5.5)},
		{"p99 in the last", []float64{50, 90, 98, 100}, .99, ptr(550.0)},
	}
	for _, tt := range tests {
		got := quantile(bounds, tt.cum, tt.q)
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("%s: (-got +want)\n%s", tt.name, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzSessionCookie(f *testing.F) {
	ss := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), lifetime: time.Hour, now: time.Now, epochs: newEpochs(nil)}
	v, _ := ss.issue(context.Background(), "desk", testStaffA)
	f.Add(v)
	f.Add("")
	f.Add(".")
	f.Add("YWRtaW4K.")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ss.parse(v)
		if err != nil {
			return
		}
		// Only a cookie this key signed parses: its fields are then ours.
		if s.Name != "desk" || s.FP != ss.fingerprint(testStaffA) {
			t.Errorf("a cookie parsed with fields the gateway never signed: %+v", s)
		}
	})
}

// TestSessionsAcrossReplicas: two replicas with one GATEWAY_SESSION_KEY and
// one Redis accept each other's cookies, and a sign-out on one ends the
// session on the other; with Redis gone, the replica that saw the
// sign-out still refuses the cookie.
func TestSessionsAcrossReplicas(t *testing.T) {
	mr := miniredis.RunT(t)
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	replica := func() *sessions {
		rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rc.Close() })
		return &sessions{key: []byte("shared-session-key-shared-session-key"), lifetime: time.Hour, now: clock.Now, epochs: newEpochs(rc)}
	}
	a, b := replica(), replica()
	ctx := context.Background()
	check := func(ss *sessions, v string) error {
		s, err := ss.parse(v)
		if err != nil {
			return err
		}
		return ss.verify(ctx, s, testStaffA)
	}
	v, _ := a.issue(ctx, "desk", testStaffA)
	if err := check(b, v); err != nil {
		t.Fatalf("replica B refuses replica A's cookie: %v", err)
	}
	a.epochs.bump(ctx, "desk")
	if err := check(b, v); err != errSessionRevoked {
		t.Errorf("replica B after a sign-out on A: %v, want %v", err, errSessionRevoked)
	}
	w, _ := b.issue(ctx, "desk", testStaffA)
	if err := check(a, w); err != nil {
		t.Errorf("a new sign-in on B, checked on A: %v", err)
	}
	mr.Close()
	a.epochs.bump(ctx, "desk")
	if err := check(a, w); err != errSessionRevoked {
		t.Errorf("replica A after its own sign-out with Redis down: %v, want %v", err, errSessionRevoked)
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
