package config

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/almanet/gateway/sru"
)

// FederationConfig is what SPEC 9 adds to the configuration: the YAML keys
// targets, groups, default_targets and federation, read inline into Config.
type FederationConfig struct {
	// Targets are SRU servers beside the network and its members (YAML
	// targets:).
	Targets []TargetConfig `yaml:"targets"`
	// Groups name sets of targets (nz, member codes, target names, or other
	// groups); YAML groups: {all: [nz, 41XX_UNI, loc]}.
	Groups map[string][]string `yaml:"groups"`
	// DefaultTargets is what a search without targets= asks. Empty means
	// [nz]: a gateway without federation config behaves as before.
	DefaultTargets []string `yaml:"default_targets"`
	// FanOut tunes the fan-out (YAML federation:).
	FanOut FanOutConfig `yaml:"federation"`
}

// FanOutConfig tunes a federated search (SPEC 9.3).
type FanOutConfig struct {
	// Timeout is how long a federated search waits for its targets
	// (GATEWAY_FEDERATION_TIMEOUT). Zero means 3s.
	Timeout Duration `yaml:"timeout"`
}

// TargetConfig is one configured target: an SRU server (SPEC 9.1), or a
// Z39.50 one with protocol: z3950 (SPEC 15, ztarget.go).
type TargetConfig struct {
	// Name is how requests, groups and answers name it: letters, digits,
	// '_' and '-'. Required.
	Name string `yaml:"name"`
	// URL is its SRU base. Required.
	URL string `yaml:"url"`
	// Version is the SRU version it speaks: 1.1, 1.2 or 2.0. Empty means 1.2.
	Version string `yaml:"version"`
	// RecordSchema is the recordSchema asked of it, its name for MARCXML.
	// Empty means marcxml.
	RecordSchema string `yaml:"record_schema"`
	// Timeout is the deadline of one call to it. Zero means 5s.
	Timeout Duration `yaml:"timeout"`
	// MaxRecords is how many records one search fetches from it. Zero means 100.
	MaxRecords int `yaml:"max_records"`
	// PageSize is the largest page it serves. Zero means 50.
	PageSize int `yaml:"page_size"`
	// IndexMap maps the gateway's index names to its own (alma.title:
	// dc.title). Empty sends the gateway's names unchanged; with a map, a
	// query using an index it lacks is not sent there (status skipped,
	// diagnostic 16).
	IndexMap map[string]string `yaml:"index_map"`
	// APIKeyEnv names the environment variable holding its key, sent as
	// "Authorization: apikey …". Empty means no key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Weight scales its records' relevance. Zero means 1.
	Weight float64 `yaml:"weight"`
	// APIKey is read from APIKeyEnv.
	APIKey string `yaml:"-"`
	// ZTargetFields are the keys of a Z39.50 target (protocol: z3950).
	ZTargetFields `yaml:",inline"`
}

// applyFederationEnv reads GATEWAY_FEDERATION_TIMEOUT and the targets'
// keys.
func (c *Config) applyFederationEnv(getenv func(string) string) error {
	if v := getenv("GATEWAY_FEDERATION_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("config: GATEWAY_FEDERATION_TIMEOUT=%q is not a positive Go duration such as 3s", v)
		}
		c.Federation.FanOut.Timeout = Duration(d)
	}
	for i := range c.Federation.Targets {
		if env := c.Federation.Targets[i].APIKeyEnv; env != "" {
			c.Federation.Targets[i].APIKey = getenv(env)
		}
		if env := c.Federation.Targets[i].AuthEnv; env != "" {
			c.Federation.Targets[i].Auth = getenv(env)
		}
	}
	return nil
}

// applyFederationDefaults turns the federation's zero values into defaults.
func (c *Config) applyFederationDefaults() {
	f := &c.Federation
	if f.FanOut.Timeout == 0 {
		f.FanOut.Timeout = Duration(3 * time.Second)
	}
	if len(f.DefaultTargets) == 0 {
		f.DefaultTargets = []string{NZTarget}
	}
	for i := range f.Targets {
		t := &f.Targets[i]
		if t.IsZ3950() {
			t.applyZTargetDefaults()
			continue
		}
		if t.Version == "" {
			t.Version = "1.2"
		}
		if t.RecordSchema == "" {
			t.RecordSchema = "marcxml"
		}
		if t.Timeout == 0 {
			t.Timeout = Duration(5 * time.Second)
		}
		if t.MaxRecords == 0 {
			t.MaxRecords = 100
		}
		if t.PageSize == 0 {
			t.PageSize = 50
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
	}
}

// NZTarget is the name of the network's own SRU target.
const NZTarget = "nz"

// TargetNames lists every searchable target: nz, the members with an
// sru_url (by code), then the configured targets, in that order.
func (c *Config) TargetNames() []string {
	names := []string{NZTarget}
	for _, m := range c.Members {
		if m.SRUURL != "" {
			names = append(names, m.Code)
		}
	}
	for _, t := range c.Federation.Targets {
		names = append(names, t.Name)
	}
	return names
}

// ResolveTargets expands a targets= list (names or group names,
// comma-separated) into target names: known names in TargetNames order,
// each once. An empty list means the default targets. An unknown name is
// an error naming it.
func (c *Config) ResolveTargets(list string) ([]string, error) {
	var asked []string
	if strings.TrimSpace(list) == "" {
		asked = c.Federation.DefaultTargets
	} else {
		for _, n := range strings.Split(list, ",") {
			if n = strings.TrimSpace(n); n != "" {
				asked = append(asked, n)
			}
		}
		if len(asked) == 0 {
			asked = c.Federation.DefaultTargets
		}
	}
	all := c.TargetNames()
	want := map[string]bool{}
	var expand func(n string, depth int) error
	expand = func(n string, depth int) error {
		if t, ok := lookupName(all, n); ok {
			want[t] = true
			return nil
		}
		if g, ok := lookupGroup(c.Federation.Groups, n); ok && depth < 8 {
			for _, m := range c.Federation.Groups[g] {
				if err := expand(m, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("unknown target %q", n)
	}
	for _, n := range asked {
		if err := expand(n, 0); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(want))
	for _, n := range all {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// lookupName finds a target name case-insensitively (member codes are
// upper case, requests may not be).
func lookupName(all []string, n string) (string, bool) {
	for _, t := range all {
		if strings.EqualFold(t, n) {
			return t, true
		}
	}
	return "", false
}

func lookupGroup(groups map[string][]string, n string) (string, bool) {
	for g := range groups {
		if strings.EqualFold(g, n) {
			return g, true
		}
	}
	return "", false
}

// validateFederation refuses a bad federation config with one line naming
// the key.
func (c *Config) validateFederation() error {
	f := &c.Federation
	if f.FanOut.Timeout.D() <= 0 {
		return fmt.Errorf("config: federation.timeout must be positive")
	}
	taken := map[string]string{strings.ToLower(NZTarget): "the network's own target"}
	for _, m := range c.Members {
		if m.SRUURL != "" {
			taken[strings.ToLower(m.Code)] = "a member's code"
		}
	}
	indexes := sru.DefaultIndexSet()
	for i, t := range f.Targets {
		key := "targets[" + strconv.Itoa(i) + "]"
		if t.Name == "" {
			return fmt.Errorf("config: %s.name is required", key)
		}
		if !ValidCode(t.Name) {
			return fmt.Errorf("config: %s.name %q must be letters, digits, '_' and '-'", key, t.Name)
		}
		if what, dup := taken[strings.ToLower(t.Name)]; dup {
			return fmt.Errorf("config: %s.name %q is already %s", key, t.Name, what)
		}
		taken[strings.ToLower(t.Name)] = "another target's name"
		switch t.Protocol {
		case "", ProtocolSRU:
		case ProtocolZ3950:
			if err := t.validateZTarget(key); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("config: %s.protocol %q must be sru or z3950", key, t.Protocol)
		}
		if t.Address != "" || t.Database != "" || t.Syntax != "" || t.Elements != "" || t.Charset != "" || t.AuthEnv != "" || t.IdleTimeout != 0 {
			return fmt.Errorf("config: %s is an SRU target: address, database, syntax, elements, charset, auth_env and idle_timeout are z3950 keys (set protocol: z3950)", key)
		}
		if t.URL == "" {
			return fmt.Errorf("config: %s.url is required", key)
		}
		if err := checkURL(key+".url", t.URL); err != nil {
			return err
		}
		switch {
		case !slices.Contains([]string{"1.1", "1.2", "2.0"}, t.Version):
			return fmt.Errorf("config: %s.version %q must be 1.1, 1.2 or 2.0", key, t.Version)
		case strings.TrimSpace(t.RecordSchema) != t.RecordSchema || strings.ContainsAny(t.RecordSchema, " \t\n"):
			return fmt.Errorf("config: %s.record_schema %q must be one word", key, t.RecordSchema)
		case t.Timeout.D() <= 0:
			return fmt.Errorf("config: %s.timeout must be positive", key)
		case t.MaxRecords < 1 || t.MaxRecords > 1000:
			return fmt.Errorf("config: %s.max_records must be between 1 and 1000", key)
		case t.PageSize < 1 || t.PageSize > t.MaxRecords:
			return fmt.Errorf("config: %s.page_size must be between 1 and %s.max_records", key, key)
		case t.Weight <= 0 || t.Weight > 1000:
			return fmt.Errorf("config: %s.weight must be above 0 and at most 1000", key)
		}
		froms := make([]string, 0, len(t.IndexMap))
		for from := range t.IndexMap {
			froms = append(froms, from)
		}
		sort.Strings(froms)
		for _, from := range froms {
			to := t.IndexMap[from]
			if _, ok := indexes.Lookup(from); !ok {
				return fmt.Errorf("config: %s.index_map: %q is not one of the gateway's indexes (alma.title, alma.creator, …)", key, from)
			}
			if !validIndexName(to) {
				return fmt.Errorf("config: %s.index_map.%s: %q is not a CQL index name", key, from, to)
			}
		}
	}
	groupNames := make([]string, 0, len(f.Groups))
	for g := range f.Groups {
		groupNames = append(groupNames, g)
	}
	sort.Strings(groupNames)
	for _, g := range groupNames {
		if !ValidCode(g) {
			return fmt.Errorf("config: groups.%s: a group name must be letters, digits, '_' and '-'", g)
		}
		if what, dup := taken[strings.ToLower(g)]; dup {
			return fmt.Errorf("config: groups.%s is already %s", g, what)
		}
		if len(f.Groups[g]) == 0 {
			return fmt.Errorf("config: groups.%s is empty", g)
		}
	}
	for _, g := range groupNames {
		if cyclic(f.Groups, g, nil) {
			return fmt.Errorf("config: groups.%s contains itself", g)
		}
		for _, m := range f.Groups[g] {
			if _, err := c.ResolveTargets(m); err != nil {
				return fmt.Errorf("config: groups.%s: %v (targets: %s)", g, err, strings.Join(c.TargetNames(), ", "))
			}
		}
	}
	for _, n := range f.DefaultTargets {
		if _, err := c.ResolveTargets(n); err != nil {
			return fmt.Errorf("config: default_targets: %v (targets: %s)", err, strings.Join(c.TargetNames(), ", "))
		}
	}
	return nil
}

// cyclic reports whether group g reaches itself through its members.
func cyclic(groups map[string][]string, g string, path []string) bool {
	name, ok := lookupGroup(groups, g)
	if !ok {
		return false
	}
	if slices.Contains(path, name) {
		return true
	}
	for _, m := range groups[name] {
		if cyclic(groups, m, append(path, name)) {
			return true
		}
	}
	return false
}

// validIndexName accepts a CQL index name: "set.name" or "name", letters,
// digits, '_', '-' and one dot between non-empty parts.
func validIndexName(s string) bool {
	set, name, dotted := strings.Cut(s, ".")
	if dotted && (set == "" || name == "" || strings.Contains(name, ".")) {
		return false
	}
	return ValidCode(set) && (!dotted || ValidCode(name))
}
