package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// StaffEntry is one staff token of SPEC 11 (YAML `staff:`): who it is, the
// member it acts for, and the environment variable that holds the token.
type StaffEntry struct {
	// Name names the staff member or team on the dashboard and in logs.
	Name string `yaml:"name"`
	// Institution is the member code the token acts for; "*" or empty
	// means every member of the network.
	Institution string `yaml:"institution"`
	// TokenEnv names the environment variable that holds the token.
	// Secrets never live in the file itself.
	TokenEnv string `yaml:"token_env"`
	// Token is read from TokenEnv.
	Token string `yaml:"-"`
}

// DashboardConfig tunes the staff dashboard and its sessions (YAML
// `dashboard:`).
type DashboardConfig struct {
	// SessionLifetime bounds a sign-in session. Zero means 8h.
	SessionLifetime Duration `yaml:"session_lifetime"`
	// HistoryInterval is how often the dashboard's charts are sampled; the
	// history keeps one hour of samples. Zero means 10s.
	HistoryInterval Duration `yaml:"history_interval"`
}

// MinStaffToken is the shortest staff token accepted: a guessable token
// would defeat the failed-attempt bound.
const MinStaffToken = 16

// applyStaffEnv reads the staff tokens and the session key.
func (c *Config) applyStaffEnv(getenv func(string) string) {
	c.SessionKey = getenv("GATEWAY_SESSION_KEY")
	for i := range c.Staff {
		if env := c.Staff[i].TokenEnv; env != "" {
			c.Staff[i].Token = getenv(env)
		}
	}
}

func (d *DashboardConfig) applyDefaults() {
	if d.SessionLifetime == 0 {
		d.SessionLifetime = Duration(8 * time.Hour)
	}
	if d.HistoryInterval == 0 {
		d.HistoryInterval = Duration(10 * time.Second)
	}
}

// validateStaff refuses a staff list that cannot work, naming the key.
func (c *Config) validateStaff() error {
	if c.Dashboard.HistoryInterval.D() < 100*time.Millisecond {
		return errors.New("config: dashboard.history_interval must be at least 100ms")
	}
	if c.Dashboard.SessionLifetime.D() < time.Minute || c.Dashboard.SessionLifetime.D() > 7*24*time.Hour {
		return errors.New("config: dashboard.session_lifetime must be between 1m and 168h")
	}
	if c.SessionKey != "" && len(c.SessionKey) < 32 {
		return errors.New("config: GATEWAY_SESSION_KEY must be at least 32 characters (every replica must share it)")
	}
	if c.AdminToken != "" && len(c.AdminToken) < MinStaffToken {
		return fmt.Errorf("config: GATEWAY_ADMIN_TOKEN must hold at least %d characters, like the staff tokens", MinStaffToken)
	}
	names := map[string]bool{"admin": true}
	tokens := map[string]string{}
	if c.AdminToken != "" {
		tokens[c.AdminToken] = "GATEWAY_ADMIN_TOKEN"
	}
	for i, st := range c.Staff {
		key := "staff[" + strconv.Itoa(i) + "]"
		switch {
		case st.Name == "":
			return fmt.Errorf("config: %s.name is required", key)
		case len(st.Name) > 64 || !printableName(st.Name):
			return fmt.Errorf("config: %s.name %q must be 1 to 64 printable characters", key, st.Name)
		case names[st.Name]:
			return fmt.Errorf("config: %s.name %q is used twice (or is the reserved name admin)", key, st.Name)
		case st.TokenEnv == "":
			return fmt.Errorf("config: %s.token_env is required (the variable that holds the token)", key)
		case st.Token == "":
			return fmt.Errorf("config: %s.token_env: %s is unset or empty", key, st.TokenEnv)
		case len(st.Token) < MinStaffToken:
			return fmt.Errorf("config: %s.token_env: %s must hold at least %d characters", key, st.TokenEnv, MinStaffToken)
		}
		if other, dup := tokens[st.Token]; dup {
			return fmt.Errorf("config: %s.token_env: %s holds the same token as %s", key, st.TokenEnv, other)
		}
		if st.Institution != "" && st.Institution != "*" {
			if _, ok := c.Member(st.Institution); !ok {
				return fmt.Errorf("config: %s.institution %q is not a member code (or * for all)", key, st.Institution)
			}
		}
		names[st.Name] = true
		tokens[st.Token] = st.TokenEnv
	}
	return nil
}

func printableName(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return s != ""
}
