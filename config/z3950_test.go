package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestZ3950Config(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gw.yaml")
	yaml := "z3950:\n  addr: 127.0.0.1:2100\n  max_sessions: 7\n  idle_timeout: 90s\n  max_result_sets: 3\n  result_set_ttl: 2m\n  max_sessions_per_client: 2\n  init_timeout: 3s\n  max_buffered_bytes: 8388608\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ALMA_SRU_URL": "https://alma.example.org/view/sru/41SLSP_NETWORK"}
	cfg, err := Load(file, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	z := cfg.Z3950Server("v")
	got := []any{cfg.Z3950.Addr, z.MaxSessions, z.IdleTimeout, z.MaxResultSets, z.ResultSetTTL, z.MaxPresent, z.MaxPosition, z.MaxPerClient, z.InitTimeout, z.MaxBuffered}
	want := []any{"127.0.0.1:2100", 7, 90 * time.Second, 3, 2 * time.Minute, 100, 10000, 2, 3 * time.Second, 8 << 20}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("YAML (-got +want):\n%s", diff)
	}
	env["GATEWAY_Z3950_ADDR"] = ":9210"
	if cfg, err = Load(file, envOf(env)); err != nil || cfg.Z3950.Addr != ":9210" {
		t.Errorf("GATEWAY_Z3950_ADDR does not win over the file: %q, %v", cfg.Z3950.Addr, err)
	}
	for _, bad := range []string{"z3950:\n  addr: nonsense\n", "z3950:\n  max_sessions: -1\n", "z3950:\n  max_pdu_bytes: 10\n", "z3950:\n  max_buffered_bytes: 1000\n"} {
		os.WriteFile(file, []byte(bad), 0o600)
		delete(env, "GATEWAY_Z3950_ADDR")
		if _, err := Load(file, envOf(env)); err == nil || !strings.Contains(err.Error(), "z3950") {
			t.Errorf("%q: err %v, want a z3950 error", bad, err)
		}
	}
}
