package sru

import (
	"strconv"
	"strings"
)

// diagPrefix is the URI prefix of the standard SRU diagnostics set
// (loc.gov/standards/sru/diagnostics/diagnosticsList.html).
const diagPrefix = "info:srw/diagnostic/1/"

// Diagnostic is one SRU diagnostic: a URI from the diagnostics set, details
// (what exactly was wrong, e.g. the offending index) and a readable message.
type Diagnostic struct {
	URI     string
	Details string
	Message string
}

// diagMessages holds the standard message of each number in the SRU
// diagnostics list that the gateway can produce or pass on.
var diagMessages = map[int]string{
	1:   "General system error",
	2:   "System temporarily unavailable",
	3:   "Authentication error",
	4:   "Unsupported operation",
	5:   "Unsupported version",
	6:   "Unsupported parameter value",
	7:   "Mandatory parameter not supplied",
	8:   "Unsupported parameter",
	10:  "Query syntax error",
	12:  "Too many characters in query",
	13:  "Invalid or unsupported use of parentheses",
	14:  "Invalid or unsupported use of quotes",
	15:  "Unsupported context set",
	16:  "Unsupported index",
	18:  "Unsupported combination of indexes",
	19:  "Unsupported relation",
	20:  "Unsupported relation modifier",
	21:  "Unsupported combination of relation modifers",
	22:  "Unsupported combination of relation and index",
	23:  "Too many characters in term",
	24:  "Unsupported combination of relation and term",
	26:  "Non special character escaped in term",
	27:  "Empty term unsupported",
	28:  "Masking character not supported",
	29:  "Masked words too short",
	30:  "Too many masking characters in term",
	31:  "Anchoring character not supported",
	32:  "Anchoring character in unsupported position",
	35:  "Term contains only stopwords",
	36:  "Term in invalid format for index or relation",
	37:  "Unsupported boolean operator",
	38:  "Too many boolean operators in query",
	39:  "Proximity not supported",
	40:  "Unsupported proximity relation",
	41:  "Unsupported proximity distance",
	42:  "Unsupported proximity unit",
	43:  "Unsupported proximity ordering",
	44:  "Unsupported combination of proximity modifiers",
	46:  "Unsupported boolean modifier",
	47:  "Cannot process query; reason unknown",
	48:  "Query feature unsupported",
	49:  "Masking character in unsupported position",
	50:  "Result sets not supported",
	51:  "Result set does not exist",
	52:  "Result set temporarily unavailable",
	60:  "Result set not created: too many matching records",
	61:  "First record position out of range",
	64:  "Record temporarily unavailable",
	65:  "Record does not exist",
	66:  "Unknown schema for retrieval",
	67:  "Record not available in this schema",
	68:  "Not authorised to send record",
	69:  "Not authorised to send record in this schema",
	70:  "Record too large to send",
	71:  "Unsupported record packing",
	72:  "XPath retrieval unsupported",
	80:  "Sort not supported",
	82:  "Unsupported sort sequence",
	83:  "Too many records to sort",
	84:  "Too many sort keys to sort",
	86:  "Cannot sort: incompatible record formats",
	87:  "Unsupported schema for sort",
	88:  "Unsupported path for sort",
	89:  "Path unsupported for schema",
	90:  "Unsupported direction",
	91:  "Unsupported case",
	92:  "Unsupported missing value action",
	93:  "Sort ended due to missing value",
	96:  "Sort spec included both in query and protocol: error",
	110: "Stylesheets not supported",
	111: "Unsupported stylesheet",
	235: "Database does not exist",
}

// NewDiagnostic returns diagnostic n of the standard set with the list's
// message for it and the given details.
func NewDiagnostic(n int, details string) *Diagnostic {
	msg, ok := diagMessages[n]
	if !ok {
		msg = "Diagnostic " + strconv.Itoa(n)
	}
	return &Diagnostic{URI: diagPrefix + strconv.Itoa(n), Details: details, Message: msg}
}

// Number returns the diagnostic's number in the standard set, or 0 when its
// URI belongs to another set.
func (d *Diagnostic) Number() int {
	rest, ok := strings.CutPrefix(d.URI, diagPrefix)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Error makes a Diagnostic usable as an error value.
func (d *Diagnostic) Error() string {
	s := "sru diagnostic " + d.URI
	if d.Message != "" {
		s += " (" + d.Message + ")"
	}
	if d.Details != "" {
		s += ": " + d.Details
	}
	return s
}

// normalizeDiagnostic makes an upstream diagnostic fit to pass on (SPEC
// 3.1): Alma sometimes sends a bare number of its own (e.g. 200832) as the
// URI, which is not a URI at all; that becomes general system error 1 with
// Alma's number leading the details. Other URIs are kept.
func normalizeDiagnostic(d Diagnostic) Diagnostic {
	d.URI = strings.TrimSpace(d.URI)
	d.Details = strings.TrimSpace(d.Details)
	d.Message = strings.TrimSpace(d.Message)
	switch {
	case d.URI == "":
		d.URI = diagPrefix + "1"
	case isDigits(d.URI):
		num := d.URI
		d.URI = diagPrefix + "1"
		if d.Details == "" {
			d.Details = num
		} else {
			d.Details = num + ": " + d.Details
		}
	case !strings.Contains(d.URI, ":"):
		// Something that is neither a number nor a URI: keep it in details.
		d.Details = strings.TrimSpace(d.URI + " " + d.Details)
		d.URI = diagPrefix + "1"
	}
	if d.Message == "" {
		if n := d.Number(); n > 0 {
			d.Message = diagMessages[n]
		}
	}
	return d
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
