package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaultsAndEnvironment(t *testing.T) {
	cfg, err := Load("", envOf(map[string]string{
		"ALMA_SRU_URL":             "https://alma.example.org/view/sru/41SLSP_NETWORK",
		"GATEWAY_CACHE_TTL":        "90s",
		"GATEWAY_UPSTREAM_TIMEOUT": "4s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"addr", cfg.Addr, ":8080"},
		{"ttl", cfg.Cache.TTL.D(), 90 * time.Second},
		{"stale", cfg.Cache.Stale.D(), 24 * time.Hour},
		{"timeout", cfg.Upstream.Timeout.D(), 4 * time.Second},
		{"cooldown", cfg.Breaker.Cooldown.D(), 30 * time.Second},
		{"max records", cfg.Limits.MaxRecords, 100},
		{"rate", cfg.Upstream.RatePerSecond, 20.0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfigFileAndEnvironmentWins(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.yaml")
	yaml := `members:
  - code: 01NET_INST
    name: Central University
    api_key_env: KEY_01
    sru_url: https://alma.example.org/view/sru/01NET_INST
cache:
  ttl: 2m
  max_bytes: 10485760
limits:
  max_records: 200
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, envOf(map[string]string{
		"ALMA_SRU_URL":      "https://alma.example.org/view/sru/NET",
		"GATEWAY_CACHE_TTL": "7m",
		"KEY_01":            "secret-key-01",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache.TTL.D() != 7*time.Minute {
		t.Errorf("ttl = %v, want the environment's 7m", cfg.Cache.TTL.D())
	}
	if cfg.Limits.MaxRecords != 200 || cfg.Cache.MaxBytes != 10<<20 {
		t.Errorf("file values lost: %+v %+v", cfg.Limits, cfg.Cache)
	}
	if m, ok := cfg.Member("01net_inst"); !ok || m.APIKey != "secret-key-01" || m.Name != "Central University" {
		t.Errorf("member = %+v", m)
	}
}

func TestBadConfigIsOneClearLine(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(s string) string {
		n++
		f := filepath.Join(dir, fmt.Sprintf("c%d.yaml", n))
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	sru := map[string]string{"ALMA_SRU_URL": "https://h/view/sru/N"}
	for _, c := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"missing SRU URL", "", map[string]string{}, "ALMA_SRU_URL"},
		{"SRU URL not http", "", map[string]string{"ALMA_SRU_URL": "ftp://x"}, "ALMA_SRU_URL"},
		{"bad TTL", "", map[string]string{"ALMA_SRU_URL": "https://h/x", "GATEWAY_CACHE_TTL": "soon"}, "GATEWAY_CACHE_TTL"},
		{"negative cooldown", "", map[string]string{"ALMA_SRU_URL": "https://h/x", "GATEWAY_BREAKER_COOLDOWN": "-1s"}, "GATEWAY_BREAKER_COOLDOWN"},
		{"bad redis", "", map[string]string{"ALMA_SRU_URL": "https://h/x", "REDIS_URL": "http://x"}, "REDIS_URL"},
		{"unknown key", write("cache:\n  tll: 5m\n"), sru, "tll"},
		{"bad duration in file", write("cache:\n  ttl: forever\n"), sru, "forever"},
		{"member without code", write("members:\n  - name: X\n"), sru, "members[0].code"},
		{"duplicate member", write("members:\n  - code: A\n  - code: A\n"), sru, "members[1].code"},
		{"max records", write("limits:\n  max_records: 5000\n"), sru, "limits.max_records"},
		{"missing file", filepath.Join(dir, "nope.yaml"), sru, "nope.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.file, envOf(c.env))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want one line naming %q", msg, c.want)
			}
		})
	}
}
