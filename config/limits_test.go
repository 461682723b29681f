package config

import (
	"strings"
	"testing"
)

// TestHostileLimitsConfig holds SPEC 16's keys: their defaults, their
// environment variables, and one clear line for a bad value.
func TestHostileLimitsConfig(t *testing.T) {
	const sruURL = "https://alma.example.org/view/sru/41SLSP_NETWORK"
	cfg, err := Load("", envOf(map[string]string{"ALMA_SRU_URL": sruURL}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Upstream.MaxInflightBytes; got != 64<<20 {
		t.Errorf("upstream.max_inflight_bytes default = %d, want 64 MiB", got)
	}
	cfg, err = Load("", envOf(map[string]string{"ALMA_SRU_URL": sruURL, "GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES": "8388608"}))
	if err != nil || cfg.Upstream.MaxInflightBytes != 8<<20 {
		t.Errorf("GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES=8388608 → %d, %v; want 8 MiB", cfg.Upstream.MaxInflightBytes, err)
	}
	for _, c := range []struct{ name, value, want string }{
		{"GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES", "lots", "GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES"},
		{"GATEWAY_UPSTREAM_MAX_INFLIGHT_BYTES", "1000", "upstream.max_inflight_bytes"},
	} {
		_, err := Load("", envOf(map[string]string{"ALMA_SRU_URL": sruURL, c.name: c.value}))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%s → %v, want one line naming %s", c.name, c.value, err, c.want)
		}
	}
}
