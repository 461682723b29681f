package config

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/z3950"
)

// ZTargetFields are the keys of a targets: entry with protocol: z3950
// (SPEC 15), read inline into TargetConfig. The shared keys (name,
// timeout, max_records, page_size, index_map, weight) keep their meaning;
// index_map's values are Bib-1 attribute lists ("1=4", "1=1003 4=1").
type ZTargetFields struct {
	// Protocol is sru (the default) or z3950.
	Protocol string `yaml:"protocol"`
	// Address is the target's host:port.
	Address string `yaml:"address"`
	// Database is the database searched there.
	Database string `yaml:"database"`
	// Syntax is the record syntax asked: usmarc (default) or xml.
	Syntax string `yaml:"syntax"`
	// Elements is the element set name; default F.
	Elements string `yaml:"elements"`
	// Charset is utf-8 (default: proposed at Init) or marc-8 (records
	// with a blank leader/09 are decoded from MARC-8 either way).
	Charset string `yaml:"charset"`
	// AuthEnv names the environment variable holding the
	// idAuthentication: "user/password", or an open string.
	AuthEnv string `yaml:"auth_env"`
	// IdleTimeout closes a pooled session idle this long; default 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// Auth is read from AuthEnv.
	Auth string `yaml:"-"`
}

// Target protocols (TargetConfig.Protocol).
const (
	ProtocolSRU   = "sru"
	ProtocolZ3950 = "z3950"
)

// IsZ3950 says whether a configured target is a Z39.50 one.
func (t *TargetConfig) IsZ3950() bool { return t.Protocol == ProtocolZ3950 }

// applyZTargetDefaults fills a Z39.50 target's zero values.
func (t *TargetConfig) applyZTargetDefaults() {
	if t.Syntax == "" {
		t.Syntax = "usmarc"
	}
	if t.Elements == "" {
		t.Elements = "F"
	}
	if t.Charset == "" {
		t.Charset = "utf-8"
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(5 * time.Second)
	}
	if t.MaxRecords == 0 {
		t.MaxRecords = 100
	}
	if t.PageSize == 0 {
		t.PageSize = min(25, t.MaxRecords) // max_records: 10 alone is valid
	}
	if t.Weight == 0 {
		t.Weight = 1
	}
	if t.IdleTimeout == 0 {
		t.IdleTimeout = Duration(60 * time.Second)
	}
	if t.IndexMap == nil {
		t.IndexMap = z3950.DefaultIndexMap()
	}
}

// validateZTarget refuses a bad Z39.50 target with one line naming the key.
func (t *TargetConfig) validateZTarget(key string) error {
	if t.URL != "" || t.Version != "" || t.RecordSchema != "" || t.APIKeyEnv != "" {
		return fmt.Errorf("config: %s is a z3950 target: url, version, record_schema and api_key_env are SRU keys (use address, database, syntax)", key)
	}
	host, port, err := net.SplitHostPort(t.Address)
	if n, perr := strconv.Atoi(port); t.Address == "" || err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("config: %s.address %q must be host:port", key, t.Address)
	}
	switch {
	case t.Database == "":
		return fmt.Errorf("config: %s.database is required (the target's database name, e.g. Default)", key)
	case len(t.Database) > 256:
		return fmt.Errorf("config: %s.database is too long", key)
	case t.Syntax != "usmarc" && t.Syntax != "xml":
		return fmt.Errorf("config: %s.syntax %q must be usmarc or xml", key, t.Syntax)
	case t.Charset != "utf-8" && t.Charset != "marc-8":
		return fmt.Errorf("config: %s.charset %q must be utf-8 or marc-8", key, t.Charset)
	case !validElementSet(t.Elements):
		return fmt.Errorf("config: %s.elements %q must be one word", key, t.Elements)
	case t.Timeout.D() <= 0:
		return fmt.Errorf("config: %s.timeout must be positive", key)
	case t.IdleTimeout.D() <= 0:
		return fmt.Errorf("config: %s.idle_timeout must be positive", key)
	case t.MaxRecords < 1 || t.MaxRecords > 1000:
		return fmt.Errorf("config: %s.max_records must be between 1 and 1000", key)
	case t.PageSize < 1 || t.PageSize > t.MaxRecords:
		return fmt.Errorf("config: %s.page_size must be between 1 and %s.max_records", key, key)
	case t.Weight <= 0 || t.Weight > 1000:
		return fmt.Errorf("config: %s.weight must be above 0 and at most 1000", key)
	}
	indexes := sru.DefaultIndexSet()
	froms := make([]string, 0, len(t.IndexMap))
	for from := range t.IndexMap {
		froms = append(froms, from)
	}
	sort.Strings(froms)
	for _, from := range froms {
		if _, ok := indexes.Lookup(from); !ok {
			return fmt.Errorf("config: %s.index_map: %q is not one of the gateway's indexes (alma.title, alma.creator, …)", key, from)
		}
		if _, err := z3950.ParseAttributes(t.IndexMap[from]); err != nil {
			return fmt.Errorf("config: %s.index_map.%s: %v", key, from, err)
		}
	}
	return nil
}

func validElementSet(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
