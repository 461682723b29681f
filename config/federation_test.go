package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const federationYAML = `members:
  - code: 01NET_INST
    sru_url: https://alma.example.org/view/sru/01NET_INST
  - code: 02NET_INST
targets:
  - name: loc
    url: http://lx2.loc.gov:210/LCDB
    version: "1.1"
    index_map: {alma.title: dc.title, alma.creator: dc.creator}
    api_key_env: LOC_KEY
    weight: 0.5
  - name: union
    url: https://union.example.org/sru
    version: "2.0"
    record_schema: info:srw/schema/1/marcxml-v1.1
    timeout: 2s
    max_records: 60
    page_size: 25
groups:
  all: [nz, 01NET_INST, loc, union]
  outside: [loc, union]
  wide: [outside, nz]
default_targets: [nz, 01NET_INST]
federation:
  timeout: 4s
`

func TestFederationConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(file, []byte(federationYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, envOf(map[string]string{
		"ALMA_SRU_URL": "https://alma.example.org/view/sru/NET", "LOC_KEY": "k-loc", "GATEWAY_FEDERATION_TIMEOUT": "1500ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Federation
	if f.FanOut.Timeout.D() != 1500*time.Millisecond {
		t.Errorf("federation timeout %v, want the environment's 1.5s", f.FanOut.Timeout.D())
	}
	loc, union := f.Targets[0], f.Targets[1]
	want := TargetConfig{Name: "loc", URL: "http://lx2.loc.gov:210/LCDB", Version: "1.1", RecordSchema: "marcxml",
		Timeout: Duration(5 * time.Second), MaxRecords: 100, PageSize: 50, Weight: 0.5,
		IndexMap: map[string]string{"alma.title": "dc.title", "alma.creator": "dc.creator"}, APIKeyEnv: "LOC_KEY", APIKey: "k-loc"}
	if diff := cmp.Diff(want, loc); diff != "" {
		t.Errorf("loc with defaults (-want +got):\n%s", diff)
	}
	if union.Timeout.D() != 2*time.Second || union.PageSize != 25 || union.MaxRecords != 60 || union.Weight != 1 || union.Version != "2.0" {
		t.Errorf("union: %+v", union)
	}
	if diff := cmp.Diff([]string{"nz", "01NET_INST", "loc", "union"}, cfg.TargetNames()); diff != "" {
		t.Errorf("target names (a member without sru_url is none) (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		list string
		want []string
		err  string
	}{
		{"", []string{"nz", "01NET_INST"}, ""},
		{"union,nz", []string{"nz", "union"}, ""},
		{"wide", []string{"nz", "loc", "union"}, ""},
		{"ALL, loc", []string{"nz", "01NET_INST", "loc", "union"}, ""},
		{"01net_inst", []string{"01NET_INST"}, ""},
		{" , ", []string{"nz", "01NET_INST"}, ""},
		{"nz,mars", nil, `unknown target "mars"`},
		{"02NET_INST", nil, `unknown target "02NET_INST"`},
	} {
		got, err := cfg.ResolveTargets(tc.list)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ResolveTargets(%q) = %v, %v; want error %s", tc.list, got, err, tc.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("ResolveTargets(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
		}
	}

	// Without federation config, a gateway searches nz alone, as before.
	plain, err := Load("", envOf(map[string]string{"ALMA_SRU_URL": "https://h/view/sru/N"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := plain.ResolveTargets(""); !cmp.Equal(got, []string{"nz"}) || plain.Federation.FanOut.Timeout.D() != 3*time.Second {
		t.Errorf("defaults: targets %v, timeout %v", got, plain.Federation.FanOut.Timeout.D())
	}
}

func TestBadFederationConfigIsOneClearLine(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(s string) string {
		n++
		f := filepath.Join(dir, fmt.Sprintf("f%d.yaml", n))
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	sruURL := map[string]string{"ALMA_SRU_URL": "https://h/view/sru/N"}
	target := func(extra string) string {
		return write("targets:\n  - name: loc\n    url: https://loc.example/sru\n" + extra)
	}
	for _, c := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"bad env timeout", "", map[string]string{"ALMA_SRU_URL": "https://h/x", "GATEWAY_FEDERATION_TIMEOUT": "0s"}, "GATEWAY_FEDERATION_TIMEOUT"},
		{"bad yaml timeout", write("federation:\n  timeout: soon\n"), sruURL, "soon"},
		{"unknown federation key", write("federation:\n  deadline: 3s\n"), sruURL, "deadline"},
		{"unknown target key", target("    urls: x\n"), sruURL, "urls"},
		{"target without name", write("targets:\n  - url: https://x/sru\n"), sruURL, "targets[0].name"},
		{"target without url", write("targets:\n  - name: x\n"), sruURL, "targets[0].url"},
		{"target url not http", write("targets:\n  - name: x\n    url: z3950://x\n"), sruURL, "targets[0].url"},
		{"target named nz", write("targets:\n  - name: NZ\n    url: https://x/sru\n"), sruURL, "targets[0].name"},
		{"target named like a member", write("members:\n  - code: A\n    sru_url: https://a/sru\ntargets:\n  - name: a\n    url: https://x/sru\n"), sruURL, "targets[0].name"},
		{"two targets one name", write("targets:\n  - name: x\n    url: https://x/sru\n  - name: x\n    url: https://y/sru\n"), sruURL, "targets[1].name"},
		{"bad name", write("targets:\n  - name: a b\n    url: https://x/sru\n"), sruURL, "targets[0].name"},
		{"version", target("    version: \"3.0\"\n"), sruURL, "targets[0].version"},
		{"page size over max", target("    max_records: 20\n    page_size: 50\n"), sruURL, "targets[0].page_size"},
		{"max records", target("    max_records: 5000\n"), sruURL, "targets[0].max_records"},
		{"weight", target("    weight: -1\n"), sruURL, "targets[0].weight"},
		{"record schema", target("    record_schema: \"a b\"\n"), sruURL, "targets[0].record_schema"},
		{"index map from", target("    index_map: {dc.nonsense: x.y}\n"), sruURL, "targets[0].index_map"},
		{"index map to", target("    index_map: {alma.title: \"dc.\"}\n"), sruURL, "targets[0].index_map.alma.title"},
		{"group with unknown member", write("groups:\n  g: [nz, mars]\n"), sruURL, "groups.g"},
		{"empty group", write("groups:\n  g: []\n"), sruURL, "groups.g"},
		{"group named like a target", write("groups:\n  nz: [nz]\n"), sruURL, "groups.nz"},
		{"cyclic groups", write("groups:\n  a: [b]\n  b: [a]\n"), sruURL, "groups.a"},
		{"unknown default", write("default_targets: [nz, mars]\n"), sruURL, "default_targets"},
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
