package gateway

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file reads and writes the MARC fields of one record for the local
// fields workflow (SPEC 12): the staff tool's payload and the record Alma
// returns for editing. Elements are matched by local name (MARC namespace,
// a prefix, or none), as Alma varies them.

// marcSub is one subfield.
type marcSub struct {
	Code  byte
	Value string
}

// marcField is a control field (Subs nil, Value set) or a data field.
type marcField struct {
	Tag        string
	Ind1, Ind2 byte
	Value      string
	Subs       []marcSub
	control    bool
}

// fieldRecord is a leader and fields in order.
type fieldRecord struct {
	Leader string
	Fields []marcField
}

// isLocal says whether a field is a local field: a data field with a $9
// whose value is "local" (Alma writes LOCAL or local).
func (f marcField) isLocal() bool {
	if f.control {
		return false
	}
	for _, s := range f.Subs {
		if s.Code == '9' && strings.EqualFold(strings.TrimSpace(s.Value), "local") {
			return true
		}
	}
	return false
}

var errNoRecord = errors.New("no MARC record element")

// parseMARCRecord reads the first <record> in data (alone, or inside a
// <bib> or <collection>). It refuses malformed XML, a second record, and
// fields without a valid tag, indicator or subfield code. alma allows the
// tags Alma adds to the records it serves (INT, INST, AVA: letters, up to
// eight), which a payload may not carry.
func parseMARCRecord(data []byte, alma bool) (*fieldRecord, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var rec *fieldRecord
	var cur *marcField
	var sub *marcSub
	var text strings.Builder
	inLeader, records, depth := false, 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 16 {
				return nil, errors.New("elements nested too deep")
			}
			switch t.Name.Local {
			case "record":
				if rec != nil || records > 0 {
					return nil, errors.New("more than one record")
				}
				records++
				rec = &fieldRecord{}
			case "leader":
				if rec == nil {
					continue
				}
				inLeader = true
				text.Reset()
			case "controlfield", "datafield":
				if rec == nil || cur != nil {
					return nil, fmt.Errorf("%s outside a record or inside a field", t.Name.Local)
				}
				f := marcField{control: t.Name.Local == "controlfield", Ind1: ' ', Ind2: ' '}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "tag":
						f.Tag = a.Value
					case "ind1", "ind2":
						if len(a.Value) > 1 {
							return nil, fmt.Errorf("field %s: indicator %q is not one character", f.Tag, a.Value)
						}
						v := byte(' ')
						if len(a.Value) == 1 {
							v = a.Value[0]
						}
						if a.Name.Local == "ind1" {
							f.Ind1 = v
						} else {
							f.Ind2 = v
						}
					}
				}
				if !validTag(f.Tag) && !(alma && almaTag(f.Tag)) {
					return nil, fmt.Errorf("a %s has tag %q, not three letters or digits", t.Name.Local, f.Tag)
				}
				if !f.control {
					f.Subs = []marcSub{}
				}
				cur = &f
				text.Reset()
			case "subfield":
				if cur == nil || cur.control || sub != nil {
					return nil, errors.New("subfield outside a data field")
				}
				var code string
				for _, a := range t.Attr {
					if a.Name.Local == "code" {
						code = a.Value
					}
				}
				if len(code) != 1 || code[0] <= ' ' || code[0] > '~' {
					return nil, fmt.Errorf("field %s: subfield code %q is not one character", cur.Tag, code)
				}
				sub = &marcSub{Code: code[0]}
				text.Reset()
			}
		case xml.CharData:
			if inLeader || sub != nil || (cur != nil && cur.control) {
				text.Write(t)
			}
		case xml.EndElement:
			depth--
			switch t.Name.Local {
			case "leader":
				if inLeader {
					rec.Leader = text.String()
					inLeader = false
				}
			case "subfield":
				if sub != nil {
					sub.Value = text.String()
					cur.Subs = append(cur.Subs, *sub)
					sub = nil
				}
			case "controlfield", "datafield":
				if cur != nil {
					if cur.control {
						cur.Value = text.String()
					}
					rec.Fields = append(rec.Fields, *cur)
					cur = nil
				}
			}
		}
	}
	if rec == nil {
		return nil, errNoRecord
	}
	return rec, nil
}

func validTag(t string) bool {
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

// almaTag is a tag of Alma's enrichment (INT, INST, AVA, AVE, AVD).
func almaTag(t string) bool {
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

// marcTag is a MARC 21 tag: three digits.
func marcTag(t string) bool {
	return len(t) == 3 && t[0] >= '0' && t[0] <= '9' && t[1] >= '0' && t[1] <= '9' && t[2] >= '0' && t[2] <= '9'
}

// fieldName names a field for an error message: its tag and position.
func fieldName(f marcField, i int) string {
	return f.Tag + " (field " + strconv.Itoa(i+1) + ")"
}

// appendXML writes the record as MARCXML without a namespace, as the Bibs
// API takes it.
func (r *fieldRecord) appendXML(b []byte) []byte {
	esc := func(b []byte, s string) []byte {
		var w bytes.Buffer
		_ = xml.EscapeText(&w, []byte(s))
		return append(b, w.Bytes()...)
	}
	b = append(b, "<record>"...)
	if r.Leader != "" {
		b = append(b, "<leader>"...)
		b = esc(b, r.Leader)
		b = append(b, "</leader>"...)
	}
	for _, f := range r.Fields {
		if f.control {
			b = append(b, `<controlfield tag="`...)
			b = esc(b, f.Tag)
			b = append(b, `">`...)
			b = esc(b, f.Value)
			b = append(b, "</controlfield>"...)
			continue
		}
		b = append(b, `<datafield tag="`...)
		b = esc(b, f.Tag)
		b = append(b, `" ind1="`...)
		b = esc(b, string(f.Ind1))
		b = append(b, `" ind2="`...)
		b = esc(b, string(f.Ind2))
		b = append(b, `">`...)
		for _, s := range f.Subs {
			b = append(b, `<subfield code="`...)
			b = esc(b, string(s.Code))
			b = append(b, `">`...)
			b = esc(b, s.Value)
			b = append(b, "</subfield>"...)
		}
		b = append(b, "</datafield>"...)
	}
	return append(b, "</record>"...)
}
