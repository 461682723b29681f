package staff

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

const (
	testAdminToken = "s3cret-admin-token"
	testStaffA     = "staff-token-for-member-a-0001"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSessionCookie(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	ss := &Sessions{key: []byte("0123456789abcdef0123456789abcdef"), lifetime: time.Hour, now: clock.Now, epochs: NewEpochs(nil)}
	ctx := context.Background()
	v, exp := ss.Issue(ctx, "Circulation desk", testStaffA)
	if got, want := exp, clock.Now().Add(time.Hour); !got.Equal(want) {
		t.Errorf("expiry %v, want %v", got, want)
	}
	other := &Sessions{key: []byte("another-key-another-key-another!!"), lifetime: time.Hour, now: clock.Now, epochs: NewEpochs(nil)}
	forged, _ := other.Issue(ctx, "admin", testAdminToken)
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
			s, err := ss.Parse(tt.value)
			if err == nil {
				err = ss.Verify(ctx, s, tt.token)
			}
			if err != tt.wantErr {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}

	t.Run("sign-out ends every session of that principal only", func(t *testing.T) {
		clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		ss := &Sessions{key: []byte("0123456789abcdef0123456789abcdef"), lifetime: time.Hour, now: clock.Now, epochs: NewEpochs(nil)}
		phone, _ := ss.Issue(ctx, "Circulation desk", testStaffA)
		desk, _ := ss.Issue(ctx, "Circulation desk", testStaffA)
		admin, _ := ss.Issue(ctx, "admin", testAdminToken)
		ss.epochs.bump(ctx, "Circulation desk")
		check := func(v, tok string) error {
			s, err := ss.Parse(v)
			if err != nil {
				return err
			}
			return ss.Verify(ctx, s, tok)
		}
		got := []error{check(phone, testStaffA), check(desk, testStaffA), check(admin, testAdminToken)}
		want := []error{errSessionRevoked, errSessionRevoked, nil}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("session %d after sign-out: got %v, want %v", i, got[i], want[i])
			}
		}
		again, _ := ss.Issue(ctx, "Circulation desk", testStaffA)
		if err := check(again, testStaffA); err != nil {
			t.Errorf("a new sign-in after sign-out: %v", err)
		}
	})
}

func TestFailedAttemptsBound(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	a := NewAttempts(clock.Now)
	ip, other := net.ParseIP("192.0.2.7"), net.ParseIP("192.0.2.8")
	for range FreeAttempts - 1 {
		a.Failed(ip)
	}
	if w := a.Blocked(ip); w != 0 {
		t.Fatalf("blocked %v after %d failures, want free attempts", w, FreeAttempts-1)
	}
	var waits []time.Duration
	for range 4 {
		a.Failed(ip)
		waits = append(waits, a.Blocked(ip))
	}
	if diff := cmp.Diff(waits, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}); diff != "" {
		t.Errorf("back-off after each failure beyond the free ones (-got +want):\n%s", diff)
	}
	if w := a.Blocked(other); w != 0 {
		t.Errorf("another client is blocked %v", w)
	}
	for range 40 {
		a.Failed(ip)
	}
	if w := a.Blocked(ip); w != maxBackoff {
		t.Errorf("back-off after many failures %v, want the cap %v", w, maxBackoff)
	}
	clock.Advance(failureMemory + time.Second)
	if w := a.Blocked(ip); w != 0 {
		t.Errorf("still blocked %v after an hour of quiet", w)
	}
	a.Failed(ip)
	a.Succeeded(ip)
	if len(a.by) != 0 {
		t.Errorf("a success left %d entries", len(a.by))
	}

}

func FuzzSessionCookie(f *testing.F) {
	ss := &Sessions{key: []byte("0123456789abcdef0123456789abcdef"), lifetime: time.Hour, now: time.Now, epochs: NewEpochs(nil)}
	v, _ := ss.Issue(context.Background(), "desk", testStaffA)
	f.Add(v)
	f.Add("")
	f.Add(".")
	f.Add("YWRtaW4K.")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ss.Parse(v)
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
	replica := func() *Sessions {
		rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rc.Close() })
		return &Sessions{key: []byte("shared-session-key-shared-session-key"), lifetime: time.Hour, now: clock.Now, epochs: NewEpochs(rc)}
	}
	a, b := replica(), replica()
	ctx := context.Background()
	check := func(ss *Sessions, v string) error {
		s, err := ss.Parse(v)
		if err != nil {
			return err
		}
		return ss.Verify(ctx, s, testStaffA)
	}
	v, _ := a.Issue(ctx, "desk", testStaffA)
	if err := check(b, v); err != nil {
		t.Fatalf("replica B refuses replica A's cookie: %v", err)
	}
	a.epochs.bump(ctx, "desk")
	if err := check(b, v); err != errSessionRevoked {
		t.Errorf("replica B after a sign-out on A: %v, want %v", err, errSessionRevoked)
	}
	w, _ := b.Issue(ctx, "desk", testStaffA)
	if err := check(a, w); err != nil {
		t.Errorf("a new sign-in on B, checked on A: %v", err)
	}
	mr.Close()
	a.epochs.bump(ctx, "desk")
	if err := check(a, w); err != errSessionRevoked {
		t.Errorf("replica A after its own sign-out with Redis down: %v, want %v", err, errSessionRevoked)
	}
}

func TestTokenEqual(t *testing.T) {
	tests := []struct {
		got, want string
		ok        bool
	}{
		{"s3cret", "s3cret", true},
		{"s3cre", "s3cret", false},
		{"s3cret!", "s3cret", false},
		{"", "s3cret", false},
		{"", "", false},
		{"S3CRET", "s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.got+"/"+tt.want, func(t *testing.T) {
			if got := tokenEqual(tt.got, tt.want); got != tt.ok {
				t.Errorf("tokenEqual(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.ok)
			}
		})
	}
}
