package transform

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// InputKind is what Sniff found a document to be.
type InputKind int

// The kinds of input Sniff tells apart. Only InputRecords is what Convert
// converts; the others are documents people feed it by mistake (an Alma
// answer in the wrong schema, a failed search, the explain record, a REST
// answer), each of which would otherwise convert to an empty list.
const (
	InputRecords     InputKind = iota // MARCXML records: an SRU searchRetrieve response in MARCXML, a collection, a record (or zero hits)
	InputEmpty                        // nothing but white space
	InputJSON                         // a JSON document (the Bibs API, a REST error)
	InputNotXML                       // neither XML nor JSON
	InputExplain                      // an SRU explain response
	InputDiagnostic                   // an SRU searchRetrieve response carrying diagnostics and no records
	InputOtherSchema                  // an SRU searchRetrieve response whose records are not MARCXML (Dublin Core, MODS)
	InputRESTError                    // an Alma REST error (web_service_result)
	InputOtherXML                     // XML with another root; it may still hold MARC records deeper down
)

// InputError is Convert's error for an input that holds no MARCXML records
// to convert: What says, in one line for a person, what the input is.
type InputError struct {
	Kind InputKind
	What string
}

func (e *InputError) Error() string { return "transform: the input is " + e.What }

// sniffSize is how much of the input Convert looks at before converting.
const sniffSize = 64 << 10

// Sniff looks at the start of a document (head; complete when head is the
// whole of it) and says what it is, with a one-line description in What
// for every kind but InputRecords. It reads only what it needs: the root
// element, and for an SRU searchRetrieve response the first recordSchema,
// the diagnostics and whether any record follows.
func Sniff(head []byte, complete bool) InputError {
	b := bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(b) == 0:
		if complete {
			return InputError{InputEmpty, "empty"}
		}
		return InputError{Kind: InputRecords}
	case isUTF16(b):
		return InputError{Kind: InputRecords} // the Scanner's ErrUTF16 says what to do
	case b[0] == '{' || b[0] == '[':
		what := "JSON, not XML"
		switch {
		case bytes.Contains(b, []byte(`"errorList"`)):
			what += " (an Alma REST error, errorList)"
		case bytes.Contains(b, []byte(`"anies"`)):
			what += " (an Alma Bibs API record; ask for it as XML, or search SRU with recordSchema=marcxml)"
		}
		return InputError{InputJSON, what + ": convert reads an SRU searchRetrieve response or a MARCXML collection"}
	case b[0] != '<':
		return InputError{InputNotXML, fmt.Sprintf("not XML (it starts with %s): convert reads an SRU searchRetrieve response or a MARCXML collection", quoteStart(b))}
	}

	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		root       string
		path       []string
		diags      []string
		cur        struct{ uri, message, details string }
		inDiag     bool
		hasRecords bool
		text       strings.Builder
	)
	for {
		tok, err := d.Token()
		if err != nil {
			if root == "" && !errors.Is(err, io.EOF) && (complete || !isTruncation(err)) {
				return InputError{InputNotXML, "not well-formed XML (" + oneLine(err.Error()) + ")"}
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			path = append(path, name)
			text.Reset()
			if root == "" {
				root = name
				switch name {
				case "collection", "record":
					return InputError{Kind: InputRecords}
				case "explainResponse":
					return InputError{InputExplain, "an SRU explain response (what the server offers), not a searchRetrieve response: it holds no records to convert"}
				case "searchRetrieveResponse", "web_service_result":
				default:
					return InputError{Kind: InputOtherXML, What: "an XML document <" + name + "> without MARC records: convert reads an SRU searchRetrieve response or a MARCXML collection"}
				}
				continue
			}
			if root == "searchRetrieveResponse" {
				switch name {
				case "diagnostic":
					inDiag = true
					cur.uri, cur.message, cur.details = "", "", ""
				case "record":
					if len(path) >= 2 && path[len(path)-2] == "records" {
						hasRecords = true
					}
				}
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			if len(path) == 0 {
				break
			}
			name := path[len(path)-1]
			path = path[:len(path)-1]
			val := strings.TrimSpace(text.String())
			text.Reset()
			switch root {
			case "web_service_result":
				if name == "errorMessage" && val != "" {
					return InputError{InputRESTError, "an Alma REST error (web_service_result): " + oneLine(val)}
				}
			case "searchRetrieveResponse":
				switch {
				case name == "recordSchema" && len(path) >= 1 && path[len(path)-1] == "record" && !isMARCSchema(val):
					what := fmt.Sprintf("an SRU searchRetrieve response in recordSchema %q", val)
					if isDCSchema(val) {
						what += " (Dublin Core)"
					}
					return InputError{InputOtherSchema, what + ": convert reads MARCXML records; ask for recordSchema=marcxml"}
				case name == "recordSchema" && len(path) >= 1 && path[len(path)-1] == "record":
					return InputError{Kind: InputRecords}
				case inDiag && name == "uri":
					cur.uri = val
				case inDiag && name == "message":
					cur.message = val
				case inDiag && name == "details":
					cur.details = val
				case name == "diagnostic":
					inDiag = false
					s := cur.uri
					if cur.message != "" {
						s += " " + cur.message
					}
					if cur.details != "" {
						s += " (" + cur.details + ")"
					}
					diags = append(diags, oneLine(strings.TrimSpace(s)))
				}
			}
		}
	}
	switch {
	case root == "web_service_result":
		return InputError{InputRESTError, "an Alma REST error (web_service_result)"}
	case root == "searchRetrieveResponse" && len(diags) > 0 && !hasRecords && complete:
		return InputError{InputDiagnostic, "an SRU diagnostic response, the answer to a failed search: " + strings.Join(diags, "; ")}
	}
	return InputError{Kind: InputRecords}
}

// isMARCSchema tells the SRU record schema names of MARCXML: Alma's
// "marcxml", the SRU list's info:srw/schema/1/marcxml-v1.1, the MARC21
// slim namespace.
func isMARCSchema(s string) bool { return strings.Contains(strings.ToLower(s), "marc") }

func isDCSchema(s string) bool {
	s = strings.ToLower(s)
	return s == "dc" || strings.Contains(s, "/dc-") || strings.Contains(s, "purl.org/dc")
}

// isTruncation tells an XML error caused by the head ending mid-document.
func isTruncation(err error) bool {
	var se *xml.SyntaxError
	return errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF")
}

// quoteStart quotes the first few characters of b for a message.
func quoteStart(b []byte) string {
	n := 0
	for i := range string(b) {
		if n == 16 {
			return fmt.Sprintf("%q…", b[:i])
		}
		n++
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("%q", b[:min(len(b), 16)])
	}
	return fmt.Sprintf("%q", b)
}

// oneLine folds white space so a value from the input prints on one line,
// shortened to 300 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
