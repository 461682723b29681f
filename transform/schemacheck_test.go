package transform

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"testing"
)

// The patterns of MARC21slim.xsd (version 1.2), for checking MARCXML
// output in Go where xmllint cannot run (the fuzz targets).
var (
	xsdLeader     = regexp.MustCompile(`^[\d ]{5}[\dA-Za-z ]{1}[\dA-Za-z]{1}[\dA-Za-z ]{3}(2| )(2| )[\d ]{5}[\dA-Za-z ]{3}(4500|    )$`)
	xsdControlTag = regexp.MustCompile(`^00[1-9A-Za-z]{1}$`)
	xsdTag        = regexp.MustCompile(`^((0([1-9A-Z][0-9A-Z])|0([1-9a-z][0-9a-z]))|(([1-9A-Z][0-9A-Z]{2})|([1-9a-z][0-9a-z]{2})))$`)
	xsdIndicator  = regexp.MustCompile(`^[\da-z ]{1}$`)
	xsdCode       = regexp.MustCompile("^[\\dA-Za-z!\"#$%&'()*+,\\-./:;<=>?{}_^`~\\[\\]\\\\]{1}$")
)

// checkMARCSchema fails unless b is one MARCXML record that MARC21slim.xsd
// accepts: namespace, element order (leader, controlfields, datafields),
// required attributes and their patterns, at least one subfield per
// datafield, no mixed content.
func checkMARCSchema(t testing.TB, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	stage := 0 // 0 before leader, 1 leader seen, 2 controlfields, 3 datafields
	subs := 0
	var text []byte
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("MARCXML not schema-valid: "+format+"\n%s", append(args, b)...)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("%v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space != MARCNamespace {
				fail("element %s in namespace %q", tok.Name.Local, tok.Name.Space)
			}
			at := func(name string) (string, bool) {
				for _, a := range tok.Attr {
					if a.Name.Space == "" && a.Name.Local == name {
						return a.Value, true
					}
				}
				return "", false
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch tok.Name.Local {
			case "record":
				if parent != "" {
					fail("nested record")
				}
			case "leader":
				if parent != "record" || stage != 0 {
					fail("leader out of place")
				}
				stage = 1
			case "controlfield":
				if parent != "record" || stage < 1 || stage > 2 {
					fail("controlfield out of place")
				}
				stage = 2
				if v, _ := at("tag"); !xsdControlTag.MatchString(v) {
					fail("controlfield tag %q", v)
				}
			case "datafield":
				if parent != "record" || stage < 1 {
					fail("datafield out of place")
				}
				stage, subs = 3, 0
				if v, _ := at("tag"); !xsdTag.MatchString(v) {
					fail("datafield tag %q", v)
				}
				for _, ind := range []string{"ind1", "ind2"} {
					if v, ok := at(ind); !ok || !xsdIndicator.MatchString(v) {
						fail("%s %q", ind, v)
					}
				}
			case "subfield":
				if parent != "datafield" {
					fail("subfield out of place")
				}
				subs++
				if v, _ := at("code"); !xsdCode.MatchString(v) {
					fail("subfield code %q", v)
				}
			default:
				fail("unknown element %s", tok.Name.Local)
			}
			stack = append(stack, tok.Name.Local)
			text = text[:0]
		case xml.EndElement:
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch name {
			case "leader":
				if !xsdLeader.Match(text) {
					fail("leader %q", text)
				}
			case "datafield":
				if subs == 0 {
					fail("datafield without subfields")
				}
			}
			text = text[:0]
		case xml.CharData:
			if len(stack) > 0 {
				switch stack[len(stack)-1] {
				case "record", "datafield":
					if len(bytes.TrimSpace(tok)) > 0 {
						fail("text %q in %s", tok, stack[len(stack)-1])
					}
				}
			}
			text = append(text, tok...)
		}
	}
}

func TestCheckMARCSchemaCatchesErrors(t *testing.T) {
	// The checker must itself fail on what the schema rejects.
	bad := []string{
		`<record xmlns="http://www.loc.gov/MARC21/slim"><datafield tag="245" ind1=" " ind2=" "><subfield code="a">x</subfield></datafield></record>`,
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>bad</leader></record>`,
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000   4500</leader><datafield tag="INST" ind1=" " ind2=" "><subfield code="a">x</subfield></datafield></record>`,
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000   4500</leader><datafield tag="245" ind1="A" ind2=" "><subfield code="a">x</subfield></datafield></record>`,
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000   4500</leader><datafield tag="245" ind1=" " ind2=" "></datafield></record>`,
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000   4500</leader><datafield tag="245" ind1=" " ind2=" "><subfield code="ab">x</subfield></datafield></record>`,
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000   4500</leader><datafield tag="245" ind1=" " ind2=" "><subfield code="a">x</subfield></datafield><controlfield tag="001">1</controlfield></record>`,
		`<record><leader>00000nam a2200000   4500</leader></record>`,
	}
	for _, b := range bad {
		ft := &fakeT{}
		func() {
			defer func() { recover() }()
			checkMARCSchema(ft, []byte(b))
		}()
		if !ft.failed {
			t.Errorf("checker accepted %s", b)
		}
	}
}

// fakeT records a Fatalf and stops the checker by panicking.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
