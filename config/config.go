// Package config reads the gateway's configuration: the environment (SPEC
// section 2) over an optional YAML file, defaults applied in one function
// (ApplyDefaults) and every rule checked in one (Validate), each refusal one
// line naming the key. docs/CONFIGURATION.md is held against it by a test.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the gateway's whole configuration. It is read from the
// environment (SPEC section 2) and an optional YAML file; the environment
// wins. Every field documents what its zero value means: ApplyDefaults turns
// zero values into the defaults, in one place.
type Config struct {
	// Addr is the listen address (GATEWAY_ADDR, environment only). Empty
	// means ":8080".
	Addr string `yaml:"-"`
	// SRUURL is the network's Alma SRU base (…/view/sru/<network code>),
	// from ALMA_SRU_URL only. Required.
	SRUURL string `yaml:"-"`
	// APIURL is Alma's REST base, from ALMA_API_URL only; the gateway adds
	// /almaws/v1/…. Empty disables live availability (SPEC 3.3, 3.4 answer
	// 503 with a diagnostic).
	APIURL string `yaml:"-"`
	// APIKey is the network (NZ) API key, from ALMA_API_KEY only. Empty
	// disables live availability.
	APIKey string `yaml:"-"`
	// AdminToken guards /admin/*, /dashboard and /v1/status. Empty means
	// those are served to loopback clients only.
	AdminToken string `yaml:"-"`
	// RedisURL enables the shared second-level cache and call budget. Empty
	// means in-process only.
	RedisURL string `yaml:"-"`
	// PublicURL is the address clients use (GATEWAY_PUBLIC_URL), for
	// explain, OpenSearch and links. Empty means the request's Host.
	PublicURL string `yaml:"public_url"`

	// Members are the network's member institutions (YAML only).
	Members []Member `yaml:"members"`
	// Staff are the staff tokens of SPEC 11 (staff.go).
	Staff []StaffEntry `yaml:"staff"`
	// SessionKey signs staff session cookies (GATEWAY_SESSION_KEY). Empty
	// means a random key per process: sessions then survive neither a
	// restart nor a hop to another replica.
	SessionKey string          `yaml:"-"`
	Dashboard  DashboardConfig `yaml:"dashboard"`

	Cache    CacheConfig    `yaml:"cache"`
	Upstream UpstreamConfig `yaml:"upstream"`
	Breaker  BreakerConfig  `yaml:"breaker"`
	Limits   LimitsConfig   `yaml:"limits"`
	Z3950    Z3950Config    `yaml:"z3950"`
	Writes   WritesConfig   `yaml:"writes"` // SPEC 12 (writes.go)
	Log      LogConfig      `yaml:"log"`    // the access log (log.go)

	// Federation is SPEC 9's targets, groups, default_targets and
	// federation keys (federation.go).
	Federation FederationConfig `yaml:",inline"`
}

// Member is one member institution of the network.
type Member struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	// APIKeyEnv names the environment variable that holds the member's IZ
	// API key. Secrets never live in the file itself.
	APIKeyEnv string `yaml:"api_key_env"`
	// SRUURL is the member's own SRU endpoint (optional).
	SRUURL string `yaml:"sru_url"`
	// APIKey is read from the environment variable APIKeyEnv names; empty
	// means the member has no key and its live availability answers 400.
	APIKey string `yaml:"-"`
}

// CacheConfig tunes the response cache (SPEC section 4).
type CacheConfig struct {
	// MaxBytes bounds the in-process cache. Zero means 256 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// TTL is how long a search answer is fresh (GATEWAY_CACHE_TTL). Zero means 5m.
	TTL Duration `yaml:"ttl"`
	// Stale is how long after TTL it may be served stale (GATEWAY_CACHE_STALE). Zero means 24h.
	Stale Duration `yaml:"stale"`
	// RecordTTL is the fresh lifetime of a single record. Zero means 1h.
	RecordTTL Duration `yaml:"record_ttl"`
	// AvailabilityTTL is the fresh lifetime of live availability. Zero means 30s.
	AvailabilityTTL Duration `yaml:"availability_ttl"`
	// AvailabilityStale is the stale window of live availability. Zero means 10m.
	AvailabilityStale Duration `yaml:"availability_stale"`
	// DiagnosticTTL is how long Alma's query diagnostics are cached. Zero means 1m.
	DiagnosticTTL Duration `yaml:"diagnostic_ttl"`
	// ExplainRefresh is how often Alma's explain (the index list) is re-read.
	// Zero means 1h; a negative value keeps the built-in list.
	ExplainRefresh Duration `yaml:"explain_refresh"`
}

// UpstreamConfig tunes calls to Alma (SPEC section 5).
type UpstreamConfig struct {
	// Timeout is the deadline of one Alma call, retries included
	// (GATEWAY_UPSTREAM_TIMEOUT). Zero means 10s.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds the TCP and TLS connect. Zero means 3s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// HeaderTimeout bounds the wait for response headers. Zero means Timeout.
	HeaderTimeout Duration `yaml:"header_timeout"`
	// MaxBodyBytes caps an Alma response body. Zero means 32 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxInflightBytes bounds the upstream body bytes held at once across
	// all calls (SPEC 16, GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES); a call
	// that finds no room is answered 503 with Retry-After. Zero means
	// 64 MiB; a negative value means no bound.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// RatePerSecond is the outbound call budget per Alma key. Zero means 20
	// (Alma allows about 25).
	RatePerSecond float64 `yaml:"rate_per_second"`
	// RateBurst is the budget's burst. Zero means 5.
	RateBurst int `yaml:"rate_burst"`
	// BudgetWait is the longest an uncached call waits for a slot of the
	// call budget, alone or with Redis alike; a slot further away is
	// answered 503 with Retry-After at once. Zero means 250ms.
	BudgetWait Duration `yaml:"budget_wait"`
	// RetryBudget is the fraction of recent calls that may be retried. Zero
	// means 0.1; a negative value disables retries.
	RetryBudget float64 `yaml:"retry_budget"`
}

// BreakerConfig tunes the circuit breakers.
type BreakerConfig struct {
	// Cooldown is how long an open breaker waits before a trial call
	// (GATEWAY_BREAKER_COOLDOWN). Zero means 30s.
	Cooldown Duration `yaml:"cooldown"`
	// ConsecutiveFailures opens the breaker. Zero means 5.
	ConsecutiveFailures uint32 `yaml:"consecutive_failures"`
	// FailureRatio opens the breaker when at least MinRequests calls were
	// seen in Window. Zero means 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the floor for FailureRatio. Zero means 20.
	MinRequests uint32 `yaml:"min_requests"`
	// Window is the counting interval while closed. Zero means 60s.
	Window Duration `yaml:"window"`
}

// LimitsConfig bounds what clients may ask.
type LimitsConfig struct {
	// DefaultRecords is the page size when none is asked. Zero means 10.
	DefaultRecords int `yaml:"default_records"`
	// MaxRecords is the largest page a client may ask. Zero means 100.
	MaxRecords int `yaml:"max_records"`
	// MaxQueryBytes bounds a CQL query. Zero means 4096.
	MaxQueryBytes int `yaml:"max_query_bytes"`
	// MaxURLBytes bounds a request URL. Zero means 8192.
	MaxURLBytes int `yaml:"max_url_bytes"`
	// MaxBodyBytes bounds a request body (SRU POST, admin). Zero means 64 KiB.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// ClientRate is the per-client request rate (requests/second). Zero
	// means 50; a negative value disables per-client limiting.
	ClientRate float64 `yaml:"client_rate"`
	// ClientBurst is the per-client burst. Zero means 100.
	ClientBurst int `yaml:"client_burst"`
	// LimitLoopback applies the per-client limit to loopback clients too.
	// False (the default) exempts them.
	LimitLoopback bool `yaml:"limit_loopback"`
	// DrainTimeout bounds graceful shutdown. Zero means 20s.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// TrustedProxies are the CIDRs (or addresses) of the proxies whose
	// X-Forwarded-For, -Proto and -Host are believed: for the client's
	// address (rate limits, the sign-in bound, the audit), for links and
	// for Secure cookies (door.go). Empty (the default) believes no one.
	TrustedProxies []string `yaml:"trusted_proxies"`

	EdgeLimits `yaml:",inline"` // connections and buffers (edge.go)
}

// Duration is a time.Duration that YAML reads from a Go duration string.
type Duration time.Duration

// UnmarshalYAML reads "5m", "30s" and the like.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("not a duration: %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ApplyDefaults turns every zero value into its documented default.
func (c *Config) ApplyDefaults() {
	def := func(p *Duration, v time.Duration) {
		if *p == 0 {
			*p = Duration(v)
		}
	}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.Cache.MaxBytes == 0 {
		c.Cache.MaxBytes = 256 << 20
	}
	def(&c.Cache.TTL, 5*time.Minute)
	def(&c.Cache.Stale, 24*time.Hour)
	def(&c.Cache.RecordTTL, time.Hour)
	def(&c.Cache.AvailabilityTTL, 30*time.Second)
	def(&c.Cache.AvailabilityStale, 10*time.Minute)
	def(&c.Cache.DiagnosticTTL, time.Minute)
	def(&c.Cache.ExplainRefresh, time.Hour)
	def(&c.Upstream.Timeout, 10*time.Second)
	def(&c.Upstream.ConnectTimeout, 3*time.Second)
	def(&c.Upstream.HeaderTimeout, c.Upstream.Timeout.D())
	if c.Upstream.MaxBodyBytes == 0 {
		c.Upstream.MaxBodyBytes = 32 << 20
	}
	if c.Upstream.MaxInflightBytes == 0 {
		c.Upstream.MaxInflightBytes = 64 << 20
	}
	if c.Upstream.RatePerSecond == 0 {
		c.Upstream.RatePerSecond = 20
	}
	if c.Upstream.RateBurst == 0 {
		c.Upstream.RateBurst = 5
	}
	if c.Upstream.RetryBudget == 0 {
		c.Upstream.RetryBudget = 0.1
	}
	def(&c.Breaker.Cooldown, 30*time.Second)
	if c.Breaker.ConsecutiveFailures == 0 {
		c.Breaker.ConsecutiveFailures = 5
	}
	if c.Breaker.FailureRatio == 0 {
		c.Breaker.FailureRatio = 0.5
	}
	if c.Breaker.MinRequests == 0 {
		c.Breaker.MinRequests = 20
	}
	def(&c.Breaker.Window, 60*time.Second)
	if c.Limits.DefaultRecords == 0 {
		c.Limits.DefaultRecords = 10
	}
	if c.Limits.MaxRecords == 0 {
		c.Limits.MaxRecords = 100
	}
	if c.Limits.MaxQueryBytes == 0 {
		c.Limits.MaxQueryBytes = 4096
	}
	if c.Limits.MaxURLBytes == 0 {
		c.Limits.MaxURLBytes = 8192
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = 64 << 10
	}
	if c.Limits.ClientRate == 0 {
		c.Limits.ClientRate = 50
	}
	if c.Limits.ClientBurst == 0 {
		c.Limits.ClientBurst = 100
	}
	def(&c.Limits.DrainTimeout, 20*time.Second)
	c.Dashboard.applyDefaults()
	c.Limits.EdgeLimits.applyDefaults()
	c.Writes.applyDefaults()
	c.Log.applyDefaults()
	c.applyFederationDefaults()
}

// Load reads the YAML file named by path (empty: none) and then the
// environment through getenv, which wins over the file. Defaults are
// applied; the result is validated. Errors are one line naming the key.
func Load(path string, getenv func(string) string) (Config, error) {
	var c Config
	if path == "" {
		path = getenv("GATEWAY_CONFIG")
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %v", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %s", path, oneLine(err.Error()))
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	c.ApplyDefaults()
	return c, c.Validate()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// applyEnv overlays the SPEC section 2 variables.
func (c *Config) applyEnv(getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("GATEWAY_ADDR", &c.Addr)
	str("ALMA_SRU_URL", &c.SRUURL)
	str("ALMA_API_URL", &c.APIURL)
	str("ALMA_API_KEY", &c.APIKey)
	str("GATEWAY_ADMIN_TOKEN", &c.AdminToken)
	str("REDIS_URL", &c.RedisURL)
	c.applyZ3950Env(getenv)
	str("ALMA_WEBHOOK_SECRET", &c.Writes.WebhookSecret)
	for _, d := range []struct {
		name string
		dst  *Duration
	}{
		{"GATEWAY_CACHE_TTL", &c.Cache.TTL},
		{"GATEWAY_CACHE_STALE", &c.Cache.Stale},
		{"GATEWAY_UPSTREAM_TIMEOUT", &c.Upstream.Timeout},
		{"GATEWAY_BREAKER_COOLDOWN", &c.Breaker.Cooldown},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return fmt.Errorf("config: %s=%q is not a positive Go duration such as 5m or 30s", d.name, v)
		}
		*d.dst = Duration(dur)
	}
	if v := getenv("GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("config: GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES=%q is not a whole number of bytes (negative: no bound)", v)
		}
		c.Upstream.MaxInflightBytes = n
	}
	if err := c.applyEdgeEnv(getenv); err != nil {
		return err
	}
	if err := c.applyLogEnv(getenv); err != nil {
		return err
	}
	for i := range c.Members {
		if env := c.Members[i].APIKeyEnv; env != "" {
			c.Members[i].APIKey = getenv(env)
		}
	}
	c.applyStaffEnv(getenv)
	return c.applyFederationEnv(getenv)
}

// Validate refuses a configuration that cannot work, naming the key.
func (c *Config) Validate() error {
	if err := c.validateZ3950(); err != nil {
		return err
	}
	if _, err := ParseTrustedProxies(c.Limits.TrustedProxies); err != nil {
		return err
	}
	if c.SRUURL == "" {
		return errors.New("config: ALMA_SRU_URL is required (the network's SRU base, e.g. https://host/view/sru/41SLSP_NETWORK)")
	}
	if err := checkURL("ALMA_SRU_URL", c.SRUURL); err != nil {
		return err
	}
	if c.APIURL != "" {
		if err := checkURL("ALMA_API_URL", c.APIURL); err != nil {
			return err
		}
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return errors.New("config: REDIS_URL must be a redis://, rediss:// or unix:// URL")
		}
	}
	seen := map[string]bool{}
	for i, m := range c.Members {
		key := "members[" + strconv.Itoa(i) + "]"
		if m.Code == "" {
			return fmt.Errorf("config: %s.code is required", key)
		}
		if !ValidCode(m.Code) {
			return fmt.Errorf("config: %s.code %q must be letters, digits and underscores", key, m.Code)
		}
		if seen[m.Code] {
			return fmt.Errorf("config: %s.code %q is listed twice", key, m.Code)
		}
		seen[m.Code] = true
		if m.SRUURL != "" {
			if err := checkURL(key+".sru_url", m.SRUURL); err != nil {
				return err
			}
		}
	}
	switch {
	case c.Cache.MaxBytes < 1<<20:
		return errors.New("config: cache.max_bytes must be at least 1 MiB")
	case c.Limits.MaxRecords < 1 || c.Limits.MaxRecords > 1000:
		return errors.New("config: limits.max_records must be between 1 and 1000")
	case c.Limits.DefaultRecords < 1 || c.Limits.DefaultRecords > c.Limits.MaxRecords:
		return errors.New("config: limits.default_records must be between 1 and limits.max_records")
	case c.Upstream.RatePerSecond < 0:
		return errors.New("config: upstream.rate_per_second must not be negative")
	case c.Breaker.FailureRatio < 0 || c.Breaker.FailureRatio > 1:
		return errors.New("config: breaker.failure_ratio must be between 0 and 1")
	case c.Upstream.RetryBudget > 1:
		return errors.New("config: upstream.retry_budget must be at most 1")
	case c.Upstream.MaxInflightBytes > 0 && c.Upstream.MaxInflightBytes < 1<<20:
		return errors.New("config: upstream.max_inflight_bytes must be at least 1 MiB (negative: no bound)")
	}
	if err := c.validateEdge(); err != nil {
		return err
	}
	if err := c.validateStaff(); err != nil {
		return err
	}
	if err := c.Writes.validate(); err != nil {
		return err
	}
	return c.validateFederation()
}

func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: %s=%q is not an http(s) URL", name, raw)
	}
	if u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("config: %s must not carry credentials or a query string", name)
	}
	return nil
}

// ValidCode reports whether s can be a member, target or group code:
// letters, digits, '_' and '-'.
func ValidCode(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// Member returns the configured member with that code.
func (c *Config) Member(code string) (Member, bool) {
	for _, m := range c.Members {
		if strings.EqualFold(m.Code, code) {
			return m, true
		}
	}
	return Member{}, false
}
