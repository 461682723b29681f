package staff

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Staff sessions (SPEC 11) are self-contained signed cookies, so that every
// replica sharing GATEWAY_SESSION_KEY accepts them without a session store.
//
// A cookie's value is base64url(payload) "." base64url(HMAC-SHA256(key,
// payload)), and the payload is four fields separated by newlines:
//
//	principal name   "admin" or the staff entry's name
//	expiry           Unix seconds; the session lifetime is bounded
//	epoch            the principal's sign-out epoch when the cookie was made
//	fingerprint      HMAC(key, "token:" + the principal's token), truncated
//
// A cookie is accepted only while its MAC is right, it has not expired, the
// principal still exists, the fingerprint matches the principal's current
// token (so changing a token ends its sessions), and its epoch is the
// principal's current one. Signing out increments that principal's epoch,
// which ends every session of that principal on every device; the epoch
// lives in Redis when REDIS_URL is set (so the sign-out reaches every
// replica), and in process memory otherwise (a single replica). The
// fingerprint is one-way and keyed: the cookie tells nothing about the
// token.

// SessionCookie is the cookie's name.
const SessionCookie = "gateway_session"

var (
	errSessionMalformed = errors.New("session cookie is malformed")
	errSessionSignature = errors.New("session cookie signature is wrong")
	errSessionExpired   = errors.New("session has expired")
	errSessionRevoked   = errors.New("session was signed out or its token changed")
)

// Sessions signs and checks session cookies.
type Sessions struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
	epochs   *Epochs
}

// Session is a cookie's fields.
type Session struct {
	Name    string
	Expires time.Time
	Epoch   int64
	FP      string
}

func newSessionKey(configured string) []byte {
	if configured != "" {
		return []byte(configured)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// fingerprint is the keyed one-way digest of a token a cookie carries.
func (ss *Sessions) fingerprint(token string) string {
	m := hmac.New(sha256.New, ss.key)
	m.Write([]byte("token:"))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

func (ss *Sessions) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, ss.key)
	m.Write([]byte("session:"))
	m.Write(payload)
	return m.Sum(nil)
}

// Issue makes a cookie value for the principal name holding token.
func (ss *Sessions) Issue(ctx context.Context, name, token string) (string, time.Time) {
	exp := ss.now().Add(ss.lifetime).Truncate(time.Second)
	payload := name + "\n" + strconv.FormatInt(exp.Unix(), 10) + "\n" +
		strconv.FormatInt(ss.epochs.current(ctx, name), 10) + "\n" + ss.fingerprint(token)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(ss.mac([]byte(payload))), exp
}

// Parse checks a cookie value's signature and expiry and returns its
// fields. Epoch and fingerprint are checked by Verify.
func (ss *Sessions) Parse(v string) (Session, error) {
	if len(v) > 1024 {
		return Session{}, errSessionMalformed
	}
	p64, m64, ok := strings.Cut(v, ".")
	if !ok {
		return Session{}, errSessionMalformed
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return Session{}, errSessionMalformed
	}
	if !hmac.Equal(mac, ss.mac(payload)) {
		return Session{}, errSessionSignature
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 4 {
		return Session{}, errSessionMalformed
	}
	exp, err1 := strconv.ParseInt(f[1], 10, 64)
	epoch, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return Session{}, errSessionMalformed
	}
	s := Session{Name: f[0], Expires: time.Unix(exp, 0), Epoch: epoch, FP: f[3]}
	if !ss.now().Before(s.Expires) {
		return Session{}, errSessionExpired
	}
	return s, nil
}

// Lifetime is how long a session lasts.
func (ss *Sessions) Lifetime() time.Duration { return ss.lifetime }

// EndAll ends every session of the principal name, on every replica
// sharing Redis.
func (ss *Sessions) EndAll(ctx context.Context, name string) { ss.epochs.bump(ctx, name) }

// Verify checks a parsed session against the principal's current token
// and epoch.
func (ss *Sessions) Verify(ctx context.Context, s Session, token string) error {
	if token == "" || !hmac.Equal([]byte(s.FP), []byte(ss.fingerprint(token))) {
		return errSessionRevoked
	}
	if s.Epoch != ss.epochs.current(ctx, s.Name) {
		return errSessionRevoked
	}
	return nil
}

// Epochs are the principals' sign-out counters: in Redis when configured
// (shared by every replica), else in memory. A Redis failure falls back to
// memory, where sign-outs seen by this replica are still kept: a sign-out
// is never forgotten by the replica that saw it.
type Epochs struct {
	redis *redis.Client // nil: memory only
	mu    sync.Mutex    // guards local
	local map[string]int64
}

// NewEpochs keeps the epochs in r (nil: in memory only).
func NewEpochs(r *redis.Client) *Epochs { return &Epochs{redis: r, local: map[string]int64{}} }

func epochKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "gateway:staff:epoch:" + hex.EncodeToString(sum[:8])
}

// current returns name's epoch: the larger of Redis's and this process's.
func (e *Epochs) current(ctx context.Context, name string) int64 {
	e.mu.Lock()
	n := e.local[name]
	e.mu.Unlock()
	if e.redis == nil {
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	v, err := e.redis.Get(ctx, epochKey(name)).Int64()
	if err != nil {
		return n
	}
	return max(n, v)
}

// bump ends every session of name.
func (e *Epochs) bump(ctx context.Context, name string) {
	e.mu.Lock()
	e.local[name]++
	n := e.local[name]
	e.mu.Unlock()
	if e.redis == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	v, err := e.redis.Incr(ctx, epochKey(name)).Result()
	if err == nil && v < n {
		// Another replica has seen fewer sign-outs than this one did
		// while Redis was away: lift Redis to this replica's count.
		e.redis.Set(ctx, epochKey(name), n, 0)
	}
	if err == nil && v > n {
		e.mu.Lock()
		e.local[name] = max(e.local[name], v)
		e.mu.Unlock()
	}
}
