package config

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/almanet/gateway/internal/testtool"
)

// configDoc is the configuration reference that the test below holds
// against the code.
const configDoc = "docs/CONFIGURATION.md"

// envName is how the gateway's own environment variables are spelt.
var envName = regexp.MustCompile(`^(GATEWAY|ALMA|REDIS)_[A-Z0-9_]+$`)

// yamlKeys walks a configuration type as yaml.v3 reads it and returns
// every key as a dotted path (list elements as name[]), each with the Go
// field it lands in (index path from the root type).
func yamlKeys(t reflect.Type, prefix string, index []int, out map[string][]int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		idx := append(slices.Clone(index), i)
		if strings.Contains(opts, "inline") {
			yamlKeys(f.Type, prefix, idx, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's rule for an untagged field
		}
		key := prefix + name
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)):
			yamlKeys(ft, key+".", idx, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out[key+"[]"] = nil
			yamlKeys(ft.Elem(), key+"[].", nil, out)
		default:
			if strings.Contains(prefix, "[]") {
				idx = nil // inside a list: no single value to compare
			}
			out[key] = idx
		}
	}
}

// readsEnv returns every environment variable Load asks for.
func readsEnv(t *testing.T) map[string]bool {
	t.Helper()
	asked := map[string]bool{}
	getenv := func(k string) string {
		asked[k] = true
		if k == "ALMA_SRU_URL" {
			return "https://alma.example.org/view/sru/01NET_NETWORK"
		}
		return ""
	}
	if _, err := Load("", getenv); err != nil {
		t.Fatal(err)
	}
	return asked
}

// namedInCode returns every string constant in the module's non-test Go
// files that is spelt like one of the gateway's environment variables: the
// ones the command itself reads (outside Load) are found this way.
func namedInCode(t *testing.T, root string) map[string]string {
	t.Helper()
	found := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if strings.HasPrefix(rel, "almasim") || strings.HasPrefix(rel, "bench") || strings.HasPrefix(rel, "cmd/soak") || strings.HasPrefix(rel, "cmd/almasim") {
			return nil // the simulator, benchmarks and soak are not the gateway
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(s) {
					found[s] = rel
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// docTable is one table of the reference: its rows by their first cell's
// backquoted name, each row's cells.
func docTable(t *testing.T, path, heading string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimPrefix(line, "## ") == heading
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		name := strings.Trim(cells[0], "`")
		if _, dup := rows[name]; dup {
			t.Errorf("%s, %q: %s is listed twice", path, heading, name)
		}
		rows[name] = cells
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no table under \"## %s\"", path, heading)
	}
	return rows
}

// TestConfigurationReferenceMatchesCode holds docs/CONFIGURATION.md against
// the configuration loader: every environment variable the gateway reads
// and every YAML key Load accepts is documented, nothing documented
// is unknown to the code, every row says what it means, and a default
// written as a value (`5m`) is the one ApplyDefaults gives.
func TestConfigurationReferenceMatchesCode(t *testing.T) {
	root := testtool.ModuleRoot()
	doc := filepath.Join(root, configDoc)

	envDoc := docTable(t, doc, "Environment variables")
	env := readsEnv(t)
	for name, file := range namedInCode(t, root) {
		if !env[name] {
			env[name] = true
			t.Logf("%s is read outside Load (%s)", name, file)
		}
	}
	for name := range env {
		if envName.MatchString(name) && envDoc[name] == nil {
			t.Errorf("%s: environment variable %s is read by the gateway but not documented", configDoc, name)
		}
	}
	for name, cells := range envDoc {
		if !env[name] && name != "GOMEMLIMIT" {
			t.Errorf("%s: %s is documented, but the gateway never reads it", configDoc, name)
		}
		if len(cells) < 3 || cells[1] == "" || cells[2] == "" {
			t.Errorf("%s: %s needs a meaning and a default", configDoc, name)
		}
	}

	keyDoc := docTable(t, doc, "YAML keys")
	keys := map[string][]int{}
	yamlKeys(reflect.TypeOf(Config{}), "", nil, keys)
	var defaults Config
	defaults.ApplyDefaults()
	for key, idx := range keys {
		cells := keyDoc[key]
		if cells == nil {
			t.Errorf("%s: YAML key %s is read by Load but not documented", configDoc, key)
			continue
		}
		if len(cells) < 3 || cells[1] == "" || cells[2] == "" {
			t.Errorf("%s: %s needs a default and a meaning", configDoc, key)
			continue
		}
		if idx == nil || !strings.HasPrefix(cells[1], "`") {
			continue // a list, a key inside one, or a default in words
		}
		literal, _, _ := strings.Cut(strings.TrimPrefix(cells[1], "`"), "`")
		field := reflect.ValueOf(defaults).FieldByIndex(idx)
		want := reflect.New(field.Type())
		if err := yaml.Unmarshal([]byte(literal), want.Interface()); err != nil {
			t.Errorf("%s: %s's default `%s` is not a value of the key: %v", configDoc, key, literal, err)
			continue
		}
		if !reflect.DeepEqual(want.Elem().Interface(), field.Interface()) {
			t.Errorf("%s: %s's documented default is `%s`, the code's is %v", configDoc, key, literal, field.Interface())
		}
	}
	for key := range keyDoc {
		if _, ok := keys[key]; !ok {
			t.Errorf("%s: YAML key %s is documented, but Load does not know it", configDoc, key)
		}
	}
}

// TestExampleConfigLoads: gateway.example.yaml, which the docs point
// operators to, is a configuration the gateway accepts, and it shows every
// section.
func TestExampleConfigLoads(t *testing.T) {
	path := filepath.Join(testtool.ModuleRoot(), "gateway.example.yaml")
	env := map[string]string{
		"ALMA_SRU_URL":        "https://alma.example.org/view/sru/41SLSP_NETWORK",
		"GATEWAY_ADMIN_TOKEN": "admin-token-at-least-16",
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The environment variables the file names (api_key_env, token_env) hold
	// distinct secrets, as in production.
	for i, m := range regexp.MustCompile(`(?m)(?:api_key_env|token_env):\s*(\S+)`).FindAllStringSubmatch(string(raw), -1) {
		env[m[1]] = "secret-of-example-" + strconv.Itoa(i) + "-0123456789"
	}
	cfg, err := Load(path, envOf(env))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cfg.Members) == 0 || len(cfg.Staff) == 0 || len(cfg.Federation.Targets) == 0 || len(cfg.Federation.Groups) == 0 {
		t.Errorf("%s lacks members, staff, targets or groups: %+v", path, cfg)
	}
	var top map[string]any
	if err := yaml.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	keys := map[string][]int{}
	yamlKeys(reflect.TypeOf(Config{}), "", nil, keys)
	for key := range keys {
		section, _, _ := strings.Cut(key, ".")
		section = strings.TrimSuffix(section, "[]")
		if _, ok := top[section]; !ok {
			t.Errorf("%s does not show %s", path, section)
		}
	}
}
