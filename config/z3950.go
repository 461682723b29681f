package config

import (
	"fmt"
	"net"
	"time"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/z3950"
)

// Z3950Config configures the Z39.50 server (SPEC 10), YAML key z3950.
// Zero values mean the defaults in parentheses.
type Z3950Config struct {
	// Addr is the listen address (GATEWAY_Z3950_ADDR). Empty means off.
	Addr string `yaml:"addr"`
	// MaxSessions bounds concurrent sessions (100).
	MaxSessions int `yaml:"max_sessions"`
	// IdleTimeout closes a session idle this long (5m).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxPDUBytes bounds one incoming PDU (1 MiB).
	MaxPDUBytes int `yaml:"max_pdu_bytes"`
	// MaxMessageBytes is the largest message size granted in Init (4 MiB).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxResultSets bounds the named result sets of one session (20).
	MaxResultSets int `yaml:"max_result_sets"`
	// ResultSetTTL is how long a result set lives (30m).
	ResultSetTTL Duration `yaml:"result_set_ttl"`
	// MaxPresent bounds the records of one Present (limits.max_records).
	MaxPresent int `yaml:"max_present"`
	// MaxSessionsPerClient bounds the sessions of one client address, an
	// IPv6 one by its /64 (8); one more is refused with a Close.
	MaxSessionsPerClient int `yaml:"max_sessions_per_client"`
	// InitTimeout is the time from connect to a whole initRequest (10s);
	// a session that has not sent one by then is closed.
	InitTimeout Duration `yaml:"init_timeout"`
	// MaxBufferedBytes bounds the bytes of incoming PDUs held across all
	// sessions (32 MiB); a session whose partial PDU would pass it is
	// closed. Before its Init a session holds at most 64 KiB.
	MaxBufferedBytes int `yaml:"max_buffered_bytes"`
}

// applyZ3950Env reads GATEWAY_Z3950_ADDR.
func (c *Config) applyZ3950Env(getenv func(string) string) {
	if v := getenv("GATEWAY_Z3950_ADDR"); v != "" {
		c.Z3950.Addr = v
	}
}

// validateZ3950 refuses an unusable z3950 section.
func (c *Config) validateZ3950() error {
	z := c.Z3950
	if z.Addr != "" {
		if _, _, err := net.SplitHostPort(z.Addr); err != nil {
			return fmt.Errorf("config: GATEWAY_Z3950_ADDR / z3950.addr %q: %v", z.Addr, err)
		}
	}
	switch {
	case z.MaxSessions < 0, z.MaxPDUBytes < 0, z.MaxMessageBytes < 0, z.MaxResultSets < 0, z.MaxPresent < 0,
		z.IdleTimeout < 0, z.ResultSetTTL < 0, z.MaxSessionsPerClient < 0, z.InitTimeout < 0, z.MaxBufferedBytes < 0:
		return fmt.Errorf("config: z3950 limits must not be negative")
	case z.MaxPDUBytes > 0 && z.MaxPDUBytes < 1024:
		return fmt.Errorf("config: z3950.max_pdu_bytes must be at least 1024")
	case z.MaxBufferedBytes > 0 && z.MaxBufferedBytes < max(z.MaxPDUBytes, 1<<20):
		return fmt.Errorf("config: z3950.max_buffered_bytes must be at least z3950.max_pdu_bytes (and 1 MiB)")
	}
	return nil
}

// Z3950Server is the Z39.50 server's configuration from the gateway's.
func (c *Config) Z3950Server(version string) z3950.Config {
	z := c.Z3950
	present := z.MaxPresent
	if present == 0 {
		present = c.Limits.MaxRecords
	}
	return z3950.Config{
		MaxSessions:     z.MaxSessions,
		MaxPerClient:    z.MaxSessionsPerClient,
		InitTimeout:     z.InitTimeout.D(),
		MaxBuffered:     z.MaxBufferedBytes,
		IdleTimeout:     z.IdleTimeout.D(),
		MaxPDUBytes:     z.MaxPDUBytes,
		MaxMessageBytes: z.MaxMessageBytes,
		MaxResultSets:   z.MaxResultSets,
		ResultSetTTL:    z.ResultSetTTL.D(),
		MaxPosition:     sru.AlmaMaxPosition,
		MaxPresent:      present,
		SearchTimeout:   c.Upstream.Timeout.D() + 2*time.Second,
		DrainTimeout:    c.Limits.DrainTimeout.D(),
		Version:         version,
	}
}
