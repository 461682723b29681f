package sru

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMalformed is wrapped by the errors of ParsePage and of the Client for
// an upstream body that is not a well-formed, complete SRU response. The
// gateway's breaker counts these as upstream failures.
var ErrMalformed = errors.New("malformed sru response")

// Page is one searchRetrieve answer from Alma.
type Page struct {
	Total       int // numberOfRecords
	Records     []RawRecord
	Next        int // nextRecordPosition, 0 when there is none
	Diagnostics []Diagnostic
	Exact       bool // extraResponseData xb:exact: Total is exact
}

// RawRecord is one record of a Page.
type RawRecord struct {
	// Data is the element inside recordData (Alma's MARCXML <record>, in
	// the MARC namespace or in none), its exact bytes, owned by the Page.
	// A record Alma sent escaped (recordPacking string) is unescaped.
	Data       []byte
	Identifier string // recordIdentifier
	Position   int    // recordPosition, 0 when absent
	Packing    string // recordPacking as Alma sent it
	// Read says the record was handed to ParsePageWith's RecordReader,
	// which took it; Data is then nil.
	Read bool
}

// RecordReader parses the record element at the start of b (white space
// before it allowed) in the same pass as the page, and returns how many
// bytes of b it took, through the element's end tag. An error leaves the
// record to ParsePage's own reading (RawRecord.Data).
type RecordReader func(b []byte) (n int, err error)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ParsePage reads an SRU 1.1/1.2 searchRetrieve response (also SRU 2.0,
// since elements are matched by local name) in one pass without building a
// tree. Diagnostics have their URIs normalized (a bare Alma number becomes
// info:srw/diagnostic/1/1 with the number in details). Errors wrap
// ErrMalformed.
func ParsePage(body []byte) (*Page, error) {
	return ParsePageWith(body, nil)
}

// ParsePageWith is ParsePage with each record's element handed to read
// where it starts, so that the record is tokenized once, by its reader,
// and the scan resumes after it: the envelope and the records in one pass,
// with no copy of the record's bytes. Records read reach the caller
// through read (in page order) and have RawRecord.Read set; a record read
// rejects (or one sent escaped, recordPacking string) is read by ParsePage
// as usual. A nil read is ParsePage.
func ParsePageWith(body []byte, read RecordReader) (*Page, error) {
	s := newScanner(body)
	s.read = read
	p := &Page{}
	sawRoot, sawCount := false, false
	for {
		k, err := s.next()
		if err != nil {
			return nil, malformed("at byte %d", s.pos)
		}
		switch k {
		case tokEOF:
			if !sawRoot {
				return nil, malformed("no response element")
			}
			if !sawCount && len(p.Diagnostics) == 0 {
				return nil, malformed("neither numberOfRecords nor diagnostics")
			}
			return p, nil
		case tokText:
			if s.cdata || len(bytes.TrimSpace(body[s.start:s.end])) > 0 {
				return nil, malformed("text outside the response element")
			}
		case tokStart, tokEmpty:
			if sawRoot {
				return nil, malformed("second root element")
			}
			sawRoot = true
			if string(localName(s.name())) != "searchRetrieveResponse" {
				return nil, malformed("root element %q", s.name())
			}
			if k == tokEmpty {
				continue
			}
			if sawCount, err = parseResponse(s, p); err != nil {
				return nil, err
			}
		}
	}
}

// parseResponse reads the children of searchRetrieveResponse.
func parseResponse(s *xmlScanner, p *Page) (sawCount bool, err error) {
	for {
		k, err := s.next()
		if err != nil {
			return false, malformed("at byte %d", s.pos)
		}
		switch k {
		case tokEOF:
			return false, malformed("truncated")
		case tokEnd:
			return sawCount, nil // the root closed
		case tokStart, tokEmpty:
			switch string(localName(s.name())) {
			case "numberOfRecords":
				t, err := s.readText()
				if err != nil {
					return false, malformed("numberOfRecords")
				}
				if p.Total, err = strconv.Atoi(t); err != nil || p.Total < 0 {
					return false, malformed("numberOfRecords %q", t)
				}
				sawCount = true
			case "nextRecordPosition":
				t, err := s.readText()
				if err != nil {
					return false, malformed("nextRecordPosition")
				}
				if p.Next, err = strconv.Atoi(t); err != nil || p.Next < 0 {
					return false, malformed("nextRecordPosition %q", t)
				}
			case "records":
				if err := parseRecords(s, p); err != nil {
					return false, err
				}
			case "diagnostics":
				if err := parseDiagnostics(s, p); err != nil {
					return false, err
				}
			case "extraResponseData":
				if err := parseExtra(s, p); err != nil {
					return false, err
				}
			default:
				if err := s.skip(); err != nil {
					return false, malformed("at byte %d", s.pos)
				}
			}
		}
	}
}

func parseRecords(s *xmlScanner, p *Page) error {
	return eachChild(s, "records", "record", func() error {
		rec, err := parseRecord(s)
		if err != nil {
			return err
		}
		p.Records = append(p.Records, rec)
		return nil
	})
}

// eachChild calls fn at the start of every child element of the current
// element (named parent) whose local name is want, skipping the others,
// until the parent ends. fn must consume the child through its end tag.
func eachChild(s *xmlScanner, parent, want string, fn func() error) error {
	if s.kind == tokEmpty {
		return nil // <records/>: zero hits; <diagnostics/>: none
	}
	for {
		k, err := s.next()
		if err != nil {
			return malformed("at byte %d", s.pos)
		}
		switch k {
		case tokEOF:
			return malformed("truncated in %s", parent)
		case tokEnd:
			return nil
		case tokStart, tokEmpty:
			if string(localName(s.name())) != want || k == tokEmpty {
				if err := s.skip(); err != nil {
					return malformed("at byte %d", s.pos)
				}
				continue
			}
			if err := fn(); err != nil {
				return err
			}
		}
	}
}

func parseRecord(s *xmlScanner) (RawRecord, error) {
	var rec RawRecord
	sawData := false
	for {
		k, err := s.next()
		if err != nil {
			return rec, malformed("at byte %d", s.pos)
		}
		switch k {
		case tokEOF:
			return rec, malformed("truncated in record")
		case tokEnd:
			if !sawData {
				return rec, malformed("record without recordData")
			}
			return rec, nil
		case tokStart, tokEmpty:
			var err error
			switch string(localName(s.name())) {
			case "recordPacking", "recordXMLEscaping": // 1.x; 2.0 (its recordPacking means packed/unpacked)
				var t string
				if t, err = s.readText(); err == nil && t != "packed" && t != "unpacked" {
					rec.Packing = t
				}
			case "recordIdentifier":
				rec.Identifier, err = s.readText()
			case "recordPosition":
				var t string
				if t, err = s.readText(); err == nil {
					if rec.Position, err = strconv.Atoi(t); err == nil && rec.Position < 0 {
						err = errSyntax
					}
				}
			case "recordData":
				sawData = true
				if rec.Read, err = readRecordData(s); err == nil && !rec.Read {
					rec.Data, err = recordData(s)
				}
			default:
				err = s.skip()
			}
			if err != nil {
				return rec, malformed("in record at byte %d", s.pos)
			}
		}
	}
}

// readRecordData hands the element inside recordData to the scanner's
// RecordReader and, when it takes it, reads on to recordData's end. It
// reports false (scanner untouched) when there is no reader, the content
// is not an element, or the reader refuses it.
func readRecordData(s *xmlScanner) (bool, error) {
	if s.read == nil || s.kind == tokEmpty {
		return false, nil
	}
	q := skipSpace(s.b, s.pos)
	if q+1 >= len(s.b) || s.b[q] != '<' || s.b[q+1] == '/' || s.b[q+1] == '!' || s.b[q+1] == '?' {
		return false, nil
	}
	n, err := s.read(s.b[q:])
	if err != nil || n <= 0 || q+n > len(s.b) {
		return false, nil
	}
	s.pos = q + n
	d := s.depth()
	for {
		k, err := s.next()
		if err != nil {
			return false, err
		}
		switch k {
		case tokEnd:
			if s.depth() < d {
				return true, nil
			}
			return false, errSyntax
		case tokText:
			if s.cdata || len(bytes.TrimSpace(s.b[s.start:s.end])) > 0 {
				return false, errSyntax // text after the record element
			}
		case tokOther:
		default:
			return false, errSyntax // a second element in recordData
		}
	}
}

// recordData returns a copy of the element inside recordData, or the
// unescaped text when the record came as a string.
func recordData(s *xmlScanner) ([]byte, error) {
	if s.kind == tokEmpty {
		return nil, errSyntax
	}
	d := s.depth()
	elemStart, elemEnd := -1, -1
	var text []byte
	for {
		k, err := s.next()
		if err != nil {
			return nil, err
		}
		switch k {
		case tokEOF:
			return nil, errSyntax
		case tokStart, tokEmpty:
			if elemStart < 0 && s.depth() == d+boolInt(k == tokStart) {
				elemStart = s.start
			}
			if k == tokEmpty && s.depth() == d {
				elemEnd = s.end
			}
		case tokEnd:
			if s.depth() == d {
				elemEnd = s.end
			}
			if s.depth() < d {
				if elemStart >= 0 && elemEnd > elemStart {
					return bytes.Clone(s.b[elemStart:elemEnd]), nil
				}
				if text == nil {
					text = []byte{}
				}
				return bytes.TrimSpace(text), nil
			}
		case tokText:
			if s.depth() == d {
				if text, err = s.textOf(text); err != nil {
					return nil, err
				}
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseDiagnostics(s *xmlScanner, p *Page) error {
	return eachChild(s, "diagnostics", "diagnostic", func() error {
		var d Diagnostic
		if err := parseDiagnostic(s, &d); err != nil {
			return err
		}
		p.Diagnostics = append(p.Diagnostics, normalizeDiagnostic(d))
		return nil
	})
}

func parseDiagnostic(s *xmlScanner, d *Diagnostic) error {
	for {
		k, err := s.next()
		if err != nil {
			return malformed("at byte %d", s.pos)
		}
		switch k {
		case tokEOF:
			return malformed("truncated in diagnostic")
		case tokEnd:
			return nil
		case tokStart, tokEmpty:
			var err error
			switch string(localName(s.name())) {
			case "uri":
				d.URI, err = s.readText()
			case "details":
				d.Details, err = s.readText()
			case "message":
				d.Message, err = s.readText()
			default:
				err = s.skip()
			}
			if err != nil {
				return malformed("in diagnostic at byte %d", s.pos)
			}
		}
	}
}

func parseExtra(s *xmlScanner, p *Page) error {
	if s.kind == tokEmpty {
		return nil
	}
	d := s.depth()
	for {
		k, err := s.next()
		if err != nil {
			return malformed("at byte %d", s.pos)
		}
		switch k {
		case tokEOF:
			return malformed("truncated in extraResponseData")
		case tokEnd:
			if s.depth() < d {
				return nil
			}
		case tokStart:
			if string(localName(s.name())) == "exact" {
				t, err := s.readText()
				if err != nil {
					return malformed("in exact")
				}
				p.Exact = strings.EqualFold(t, "true")
			}
		}
	}
}
