package config

import (
	"fmt"
	"strings"
)

// LogConfig tunes the gateway's log (YAML key log).
type LogConfig struct {
	// Access turns the access log on or off: one JSON line per answered
	// request on standard error (GATEWAY_ACCESS_LOG=on|off). Unset means on.
	Access *bool `yaml:"access"`
}

// AccessLog reports whether the access log is on.
func (l LogConfig) AccessLog() bool { return l.Access == nil || *l.Access }

func (l *LogConfig) applyDefaults() {
	if l.Access == nil {
		on := true
		l.Access = &on
	}
}

// applyLogEnv reads GATEWAY_ACCESS_LOG: on, off, true, false, 1 or 0.
func (c *Config) applyLogEnv(getenv func(string) string) error {
	v := getenv("GATEWAY_ACCESS_LOG")
	if v == "" {
		return nil
	}
	var on bool
	switch strings.ToLower(v) {
	case "on", "true", "1", "yes":
		on = true
	case "off", "false", "0", "no":
		on = false
	default:
		return fmt.Errorf("config: GATEWAY_ACCESS_LOG=%q must be on or off", v)
	}
	c.Log.Access = &on
	return nil
}
