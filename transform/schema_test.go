package transform

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/almanet/gateway/internal/testtool"
)

// TestMARCXMLSchema validates the marcxml output of every sample against
// the Library of Congress schema with xmllint (libxml2-utils), which the
// test needs; without it the test is skipped, except in the integration
// run (-tags integration), where it fails.
func TestMARCXMLSchema(t *testing.T) {
	xmllint := testtool.Require(t, "xmllint", "libxml2-utils")
	schema := filepath.Join(testtool.SchemaDir(), "MARC21slim.xsd")
	if _, err := os.Stat(schema); err != nil {
		t.Fatalf("schema not found (vendored in testdata/schemas at the module root): %v", err)
	}
	dir := t.TempDir()
	inputs := append([]struct{ name, file string }{}, goldenInputs...)
	inputs = append(inputs, struct{ name, file string }{"awkward", ""})
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			data := []byte(nil)
			if in.name == "awkward" {
				data = awkwardRecord
			} else {
				data = goldenInput(t, in.file)
			}
			var out bytes.Buffer
			if _, err := Convert(context.Background(), &out, bytes.NewReader(data), "marcxml", nil); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, in.name+".xml")
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(xmllint, "--noout", "--schema", schema, path)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("xmllint: %v\n%s", err, msg)
			}
		})
	}
}

// awkwardRecord breaks the schema in every way a real record might: no
// leader, fields out of order, a four-letter tag, an upper-case and an
// empty indicator, a bad subfield code, a field without subfields, a
// controlfield with a datafield tag, and forbidden characters.
var awkwardRecord = []byte(`<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:record>
<marc:datafield tag="245" ind1="A" ind2=""><marc:subfield code="a">T&#1;itle&#xFFFE; /</marc:subfield><marc:subfield code="ab">dropped</marc:subfield></marc:datafield>
<marc:controlfield tag="001">123</marc:controlfield>
<marc:controlfield tag="245">not a control field</marc:controlfield>
<marc:datafield tag="INST" ind1=" " ind2=" "><marc:subfield code="a">X</marc:subfield></marc:datafield>
<marc:datafield tag="500" ind1=" " ind2=" "></marc:datafield>
<marc:datafield tag="500" ind1=" " ind2=" "><marc:subfield code=" ">space code</marc:subfield></marc:datafield>
</marc:record></marc:collection>`)
