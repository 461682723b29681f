package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/z3950"
)

// TestZ3950TargetConfig reads a Z39.50 target from YAML: SPEC 15's
// defaults, the credentials from the variable auth_env names.
func TestZ3950TargetConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gw.yaml")
	yaml := `targets:
  - name: koha
    protocol: z3950
    address: koha.example.org:210
    database: biblios
    auth_env: KOHA_AUTH
  - name: dnb
    protocol: z3950
    address: z3950.example.org:210
    database: dnb
    syntax: xml
    elements: marcxml
    charset: marc-8
    timeout: 2s
    idle_timeout: 30s
    max_records: 40
    page_size: 10
    weight: 2
    index_map: {alma.title: "1=4 4=1", alma.isbn: "1=7"}
  - name: small
    protocol: z3950
    address: small.example.org:210
    database: Default
    max_records: 10
groups:
  z: [koha, dnb]
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, envOf(map[string]string{"ALMA_SRU_URL": "https://h/view/sru/N", "KOHA_AUTH": "gw/secret"}))
	if err != nil {
		t.Fatal(err)
	}
	koha, dnb := cfg.Federation.Targets[0], cfg.Federation.Targets[1]
	want := TargetConfig{Name: "koha", Timeout: Duration(5 * time.Second), MaxRecords: 100, PageSize: 25, Weight: 1,
		IndexMap: z3950.DefaultIndexMap(),
		ZTargetFields: ZTargetFields{Protocol: "z3950", Address: "koha.example.org:210", Database: "biblios", Syntax: "usmarc",
			Elements: "F", Charset: "utf-8", AuthEnv: "KOHA_AUTH", IdleTimeout: Duration(time.Minute), Auth: "gw/secret"}}
	if diff := cmp.Diff(want, koha); diff != "" {
		t.Errorf("koha with defaults (-want +got):\n%s", diff)
	}
	if dnb.Syntax != "xml" || dnb.Elements != "marcxml" || dnb.Charset != "marc-8" || dnb.Timeout.D() != 2*time.Second ||
		dnb.IdleTimeout.D() != 30*time.Second || dnb.MaxRecords != 40 || dnb.PageSize != 10 || dnb.Weight != 2 || len(dnb.IndexMap) != 2 {
		t.Errorf("dnb: %+v", dnb)
	}
	if small := cfg.Federation.Targets[2]; small.MaxRecords != 10 || small.PageSize != 10 {
		t.Errorf("max_records 10 alone: page_size %d, want 10", small.PageSize)
	}
	if got, _ := cfg.ResolveTargets("z"); !cmp.Equal(got, []string{"koha", "dnb"}) {
		t.Errorf("group z: %v", got)
	}
}

// TestBadZ3950TargetConfigIsOneClearLine: every mistake in a Z39.50
// target is refused at load in one line naming the key.
func TestBadZ3950TargetConfigIsOneClearLine(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct{ extra, want string }{
		{"    protocol: gopher\n    address: h:210\n    database: d\n", "targets[0].protocol"},
		{"    protocol: z3950\n    database: d\n", "targets[0].address"},
		{"    protocol: z3950\n    address: h\n    database: d\n", "targets[0].address"},
		{"    protocol: z3950\n    address: h:0\n    database: d\n", "targets[0].address"},
		{"    protocol: z3950\n    address: h:210\n", "targets[0].database"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    syntax: grs1\n", "targets[0].syntax"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    charset: latin-1\n", "targets[0].charset"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    elements: \"a b\"\n", "targets[0].elements"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    page_size: 200\n", "targets[0].page_size"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    max_records: 5000\n", "targets[0].max_records"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    weight: -2\n", "targets[0].weight"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    index_map: {alma.title: \"4\"}\n", "targets[0].index_map.alma.title"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    index_map: {dc.nonsense: \"1=4\"}\n", "targets[0].index_map"},
		{"    protocol: z3950\n    address: h:210\n    database: d\n    url: https://x/sru\n", "targets[0]"},
		{"    url: https://x/sru\n    address: h:210\n", "targets[0]"},
		{"    url: https://x/sru\n    idle_timeout: 5s\n", "targets[0]"},
	} {
		f := filepath.Join(dir, strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(f, []byte("targets:\n  - name: z\n"+c.extra), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(f, envOf(map[string]string{"ALMA_SRU_URL": "https://h/view/sru/N"}))
		if err == nil {
			t.Errorf("%q: accepted", c.extra)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
			t.Errorf("%q: error %q, want one line naming %s", c.extra, msg, c.want)
		}
	}
}
