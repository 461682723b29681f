package transform

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file reads and writes a record field by field for the local fields
// workflow (SPEC 12): the staff tool's payload, and the record Alma returns
// for editing and takes back. The record is read by Parse, the one MARCXML
// reader; ReadFields adds the checks a payload must pass before it is sent
// to Alma (well-formed, one record, fields where MARC puts them, valid tags,
// indicators and subfield codes), and AppendFields writes what was edited.

// ReadFields reads the one <record> in data (alone, or inside a <bib> or
// <collection>; elements matched by local name) as its leader and fields
// in order, for editing. It refuses malformed XML, a second record, fields
// outside a record, subfields outside a data field, and fields without a
// valid tag (three letters or digits), indicator (at most one character)
// or subfield code (one printable character). enrichment allows the tags
// Alma adds to the records it serves (INT, INST, AVA: capital letters, up
// to eight), which a payload may not carry. Missing indicators read as
// " "; a control field's Subfields are nil, a data field's never are.
func ReadFields(data []byte, enrichment bool) (leader string, fields []Field, err error) {
	if err := checkStructure(data); err != nil {
		return "", nil, err
	}
	r, err := Parse(data)
	if err != nil {
		return "", nil, err
	}
	fields = r.Fields()
	for i := range fields {
		f := &fields[i]
		if !editTag(f.Tag) && !(enrichment && enrichmentTag(f.Tag)) {
			kind := "datafield"
			if f.Subfields == nil {
				kind = "controlfield"
			}
			return "", nil, fmt.Errorf("a %s has tag %q, not three letters or digits", kind, f.Tag)
		}
		if f.Subfields == nil {
			continue
		}
		for _, ind := range []*string{&f.Ind1, &f.Ind2} {
			switch len(*ind) {
			case 0:
				*ind = " "
			case 1:
			default:
				return "", nil, fmt.Errorf("field %s: indicator %q is not one character", f.Tag, *ind)
			}
		}
		for _, s := range f.Subfields {
			if len(s.Code) != 1 || s.Code[0] <= ' ' || s.Code[0] > '~' {
				return "", nil, fmt.Errorf("field %s: subfield code %q is not one character", f.Tag, s.Code)
			}
		}
	}
	return r.str(r.leader), fields, nil
}

// checkStructure holds data to what ReadFields promises before Parse, which
// is lenient, reads it: well-formed XML (encoding/xml, strict) holding one
// record, no attribute twice, control and data fields only in it, subfields only in a data
// field, at most 16 elements deep.
func checkStructure(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var open []string // local names of the open elements
	records := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(open) == 16 {
				return errors.New("elements nested too deep")
			}
			parent := ""
			if len(open) > 0 {
				parent = open[len(open)-1]
			}
			switch n := t.Name.Local; n {
			case "record":
				if records++; records > 1 {
					return errors.New("more than one record")
				}
			case "controlfield", "datafield":
				if parent != "record" {
					return fmt.Errorf("%s outside a record or inside a field", n)
				}
			case "subfield":
				if parent != "datafield" {
					return errors.New("subfield outside a data field")
				}
			}
			for i, a := range t.Attr {
				for _, b := range t.Attr[:i] {
					if a.Name == b.Name {
						return fmt.Errorf("not well-formed XML: %s has two %s attributes", t.Name.Local, a.Name.Local)
					}
				}
			}
			open = append(open, t.Name.Local)
		case xml.EndElement:
			open = open[:len(open)-1]
		}
	}
	if records == 0 {
		return errors.New("no MARC record element")
	}
	return nil
}

// editTag is a tag a payload may carry: three letters or digits.
func editTag(t string) bool {
	if len(t) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// enrichmentTag is a tag of Alma's enrichment (INT, INST, AVA, AVE, AVD).
func enrichmentTag(t string) bool {
	if len(t) == 0 || len(t) > 8 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 'A' || t[i] > 'Z' {
			return false
		}
	}
	return true
}

// Local says whether f is a local field: a data field with a $9 whose
// value is "local" (Alma writes LOCAL or local).
func (f Field) Local() bool {
	for _, s := range f.Subfields {
		if s.Code == "9" && strings.EqualFold(strings.TrimSpace(s.Value), "local") {
			return true
		}
	}
	return false
}

// MARC21 says whether f's tag is a MARC 21 tag (three digits), not one of
// Alma's enrichment.
func (f Field) MARC21() bool {
	t := f.Tag
	return len(t) == 3 && t[0] >= '0' && t[0] <= '9' && t[1] >= '0' && t[1] <= '9' && t[2] >= '0' && t[2] <= '9'
}

// Name names f for a message: its tag and its position i (from 0).
func (f Field) Name(i int) string {
	return f.Tag + " (field " + strconv.Itoa(i+1) + ")"
}

// AppendFields writes a record of leader (none when empty) and fields as
// MARCXML without a namespace, as the Bibs API takes it: every field as
// given (a control field is one with nil Subfields), escaped.
func AppendFields(dst []byte, leader string, fields []Field) []byte {
	dst = append(dst, "<record>"...)
	if leader != "" {
		dst = append(dst, "<leader>"...)
		dst = appendEscaped(dst, leader, false)
		dst = append(dst, "</leader>"...)
	}
	for _, f := range fields {
		if f.Subfields == nil {
			dst = append(dst, `<controlfield tag="`...)
			dst = appendEscaped(dst, f.Tag, true)
			dst = append(dst, `">`...)
			dst = appendEscaped(dst, f.Value, false)
			dst = append(dst, "</controlfield>"...)
			continue
		}
		dst = append(dst, `<datafield tag="`...)
		dst = appendEscaped(dst, f.Tag, true)
		dst = append(dst, `" ind1="`...)
		dst = appendEscaped(dst, f.Ind1, true)
		dst = append(dst, `" ind2="`...)
		dst = appendEscaped(dst, f.Ind2, true)
		dst = append(dst, `">`...)
		for _, s := range f.Subfields {
			dst = append(dst, `<subfield code="`...)
			dst = appendEscaped(dst, s.Code, true)
			dst = append(dst, `">`...)
			dst = appendEscaped(dst, s.Value, false)
			dst = append(dst, "</subfield>"...)
		}
		dst = append(dst, "</datafield>"...)
	}
	return append(dst, "</record>"...)
}
