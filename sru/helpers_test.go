package sru

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/internal/testtool"
)

var update = flag.Bool("update", false, "rewrite golden files and generated data")

// schemaDir holds the vendored XML schemas (testdata/schemas at the module root).
var schemaDir = testtool.SchemaDir()

// almaSamples is the project's one copy of the Alma payloads (sources in its
// SOURCES.md); testdata/ here holds only this package's goldens.
const almaSamples = "../testdata/alma/"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(almaSamples + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with testdata/golden/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// wellFormed decodes b with encoding/xml to the end.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	roots := 0
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if roots != 1 {
				return errors.New("want exactly one root element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// validate runs xmllint against a schema under schemaDir, on all docs in
// one run. Without xmllint it fails in the integration build and skips in
// the unit build (see internal/testtool).
func validate(t *testing.T, schema string, docs ...[]byte) {
	t.Helper()
	lint := testtool.Require(t, "xmllint", "libxml2-utils")
	dir := t.TempDir()
	args := []string{"--noout", "--nonet"}
	if schema != "" { // "" checks well-formedness (with namespaces) only
		args = append(args, "--schema", filepath.Join(schemaDir, schema))
	}
	for i, doc := range docs {
		f := filepath.Join(dir, fmt.Sprintf("doc%03d.xml", i))
		if err := os.WriteFile(f, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	out, err := exec.Command(lint, args...).CombinedOutput()
	if err != nil {
		t.Errorf("xmllint --schema %s: %v\n%s", schema, err, out)
	}
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }
