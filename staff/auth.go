package staff

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"sync"
	"time"

	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/internal/clientaddr"
)

// Auth holds the configured principals and their sessions.
type Auth struct {
	admin    string // the admin token; empty: none
	staff    []config.StaffEntry
	Sessions *Sessions
	Attempts *Attempts
}

// NewAuth is staff access as cfg configures it.
func NewAuth(cfg config.Config, now func() time.Time, e *Epochs) *Auth {
	return &Auth{
		admin: cfg.AdminToken,
		staff: cfg.Staff,
		Sessions: &Sessions{
			key: newSessionKey(cfg.SessionKey), lifetime: cfg.Dashboard.SessionLifetime.D(), now: now, epochs: e,
		},
		Attempts: NewAttempts(now),
	}
}

// Open reports whether no token is configured at all.
func (a *Auth) Open() bool { return a.admin == "" && len(a.staff) == 0 }

// ByToken returns the principal a token belongs to. Every configured token
// is compared, in constant time each, so the time taken tells nothing about
// which (if any) matched.
func (a *Auth) ByToken(tok string) (Principal, string, bool) {
	var p Principal
	var want string
	found := false
	check := func(candidate string) bool { return tokenEqual(tok, candidate) }
	if check(a.admin) {
		p, want, found = Principal{Name: "admin", Admin: true}, a.admin, true
	}
	for _, st := range a.staff {
		if check(st.Token) && !found {
			p, want, found = staffPrincipal(st), st.Token, true
		}
	}
	return p, want, found
}

// ByName returns the principal called name and its current token.
func (a *Auth) ByName(name string) (Principal, string, bool) {
	if name == "admin" {
		return Principal{Name: "admin", Admin: true}, a.admin, a.admin != ""
	}
	for _, st := range a.staff {
		if st.Name == name {
			return staffPrincipal(st), st.Token, true
		}
	}
	return Principal{}, "", false
}

func staffPrincipal(st config.StaffEntry) Principal {
	inst := st.Institution
	if inst == "*" {
		inst = ""
	}
	return Principal{Name: st.Name, Institution: inst}
}

// tokenEqual compares a presented token with the configured one in
// constant time. Both are hashed first: subtle.ConstantTimeCompare returns
// at once on a length mismatch, which would tell a prober the token's
// length.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1 && want != ""
}

// Attempts bounds failed token checks per client address (an IPv4 address
// or an IPv6 /64, as the rate limiter keys them): after FreeAttempts
// failures, each further one doubles the wait before the next is heard, up
// to maxBackoff. A success or failureMemory of quiet forgets the client.
// The table is bounded; when it is full, unknown clients share one entry,
// so a flood of addresses cannot grow memory or escape the bound.
type Attempts struct {
	now func() time.Time
	mu  sync.Mutex // guards by
	by  map[string]*attempt
}

type attempt struct {
	fails int
	last  time.Time
	until time.Time
}

const (
	// FreeAttempts is how many failures a client has before it must wait.
	FreeAttempts  = 10
	maxBackoff    = 15 * time.Minute
	failureMemory = time.Hour
	maxAttempters = 10_000
)

// NewAttempts is an empty table.
func NewAttempts(now func() time.Time) *Attempts {
	return &Attempts{now: now, by: map[string]*attempt{}}
}

func (a *Attempts) entry(ip net.IP, create bool) *attempt {
	k := clientaddr.Key(ip)
	e, ok := a.by[k]
	if ok && a.now().Sub(e.last) > failureMemory {
		delete(a.by, k)
		e, ok = nil, false
	}
	if ok || !create {
		return e
	}
	if len(a.by) >= maxAttempters {
		now := a.now()
		for k, e := range a.by {
			if now.Sub(e.last) > failureMemory {
				delete(a.by, k)
			}
		}
		if len(a.by) >= maxAttempters {
			k = "overflow"
			if e, ok := a.by[k]; ok {
				return e
			}
		}
	}
	e = &attempt{}
	a.by[k] = e
	return e
}

// Blocked returns how long the client must wait before its next attempt.
func (a *Attempts) Blocked(ip net.IP) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(ip, false)
	if e == nil {
		return 0
	}
	return max(0, e.until.Sub(a.now()))
}

// Failed counts a failed attempt of the client.
func (a *Attempts) Failed(ip net.IP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(ip, true)
	now := a.now()
	e.fails++
	e.last = now
	if n := e.fails - FreeAttempts; n >= 0 {
		wait := maxBackoff
		if n < 20 {
			wait = min(maxBackoff, time.Second<<n)
		}
		e.until = now.Add(wait)
	}
}

// Succeeded forgets the client.
func (a *Attempts) Succeeded(ip net.IP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.by, clientaddr.Key(ip))
}
