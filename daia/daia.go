// Package daia speaks DAIA 1.0 (Document Availability Information,
// https://gbv.github.io/daia/), the availability format that discovery
// layers such as VuFind query with a driver of their own (SPEC section 13).
//
// The mechanism is a pure mapping with no I/O. ParseIDs splits a request's
// `id` parameter at vertical bars into request identifiers, each an Alma
// MMS ID or an ISBN, and refuses what is empty, malformed or too many.
// Items turns one network record into DAIA items: one item per AVA
// (physical), AVE (electronic) and AVD (digital) field of the record's live
// availability, and one item without services for each member whose 852
// says it holds the title but for which Alma listed no inventory. The
// services an item offers depend on who asks: the asking member's own
// copies offer presentation and loan, another member's copies offer
// interloan, electronic portfolios offer remote access to the holding
// member's users, digital representations offer open access. A DAIA client
// reads an item without services as "availability unknown", which is what
// the gateway knows when Alma's answer carries no status (check_holdings)
// or could not be fetched.
package daia

import (
	"errors"
	"fmt"
	"strings"

	"github.com/almanet/gateway/internal/stdnum"
)

// Version is the DAIA specification the answers were checked against; the
// server sends it as X-DAIA-Version.
const Version = "1.0.0"

// Service types of DAIA 1.0 (section "Services"), by their abbreviated
// names.
const (
	Presentation = "presentation"
	Loan         = "loan"
	Remote       = "remote"
	Interloan    = "interloan"
	OpenAccess   = "openaccess"
)

// Response is a DAIA Response. The schema allows no other top-level fields:
// the gateway's meta block travels in headers (X-Cache, Age) instead.
type Response struct {
	Schema      string     `json:"$schema,omitempty"`
	Institution *Entity    `json:"institution,omitempty"`
	Timestamp   string     `json:"timestamp,omitempty"`
	Document    []Document `json:"document"`
}

// Document is one title matching a request identifier.
type Document struct {
	ID        string `json:"id"`
	Requested string `json:"requested,omitempty"`
	Href      string `json:"href,omitempty"`
	About     string `json:"about,omitempty"`
	Item      []Item `json:"item"`
}

// Item is one copy, holding or portfolio of a document.
type Item struct {
	ID          string        `json:"id,omitempty"`
	Href        string        `json:"href,omitempty"`
	Label       string        `json:"label,omitempty"`
	About       string        `json:"about,omitempty"`
	Department  *Entity       `json:"department,omitempty"`
	Storage     *Entity       `json:"storage,omitempty"`
	Available   []Available   `json:"available,omitempty"`
	Unavailable []Unavailable `json:"unavailable,omitempty"`
}

// Entity is an institution, department, storage or limitation.
type Entity struct {
	ID      string `json:"id,omitempty"`
	Href    string `json:"href,omitempty"`
	Content string `json:"content,omitempty"`
}

// Available is a service the item offers now.
type Available struct {
	Service    string   `json:"service"`
	Href       string   `json:"href,omitempty"`
	Delay      string   `json:"delay,omitempty"`
	Limitation []Entity `json:"limitation,omitempty"`
}

// Unavailable is a service the item does not offer now. Alma's AVA carries
// no due date, so `expected` is never set: DAIA reads its absence as "not
// known when".
type Unavailable struct {
	Service    string   `json:"service"`
	Href       string   `json:"href,omitempty"`
	Expected   string   `json:"expected,omitempty"`
	Limitation []Entity `json:"limitation,omitempty"`
}

// Kind says what a request identifier names.
type Kind int

const (
	MMSID Kind = iota + 1
	ISBN
)

// RequestID is one request identifier: what the client sent (Requested),
// and its normalized value (an MMS ID, or an ISBN-10 or ISBN-13 without
// hyphens and with an upper-case X). An identifier that cannot be read has
// Err set (wrapping ErrInvalid or ErrCheckDigit) and no Kind: it gets a
// document of its own that says so, and the others are answered.
type RequestID struct {
	Requested string
	Kind      Kind
	Value     string
	Err       error
}

// URI is the identifier as the client sent it when that is a URI (a scheme
// and something after it: "ppn:99123", "urn:isbn:…", a document URL), which
// is what the answer's document id must be for a client to find its
// document again: VuFind's DAIA driver matches documents by
// daiaIdPrefix + its own record id. ok is false for a bare number.
func (r RequestID) URI() (string, bool) {
	s := strings.TrimSpace(r.Requested)
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || !isScheme(s[:i]) || strings.ContainsAny(s, " \t\r\n\"<>\\^`{|}") {
		return "", false
	}
	return s, true
}

// ErrEmpty, ErrTooMany, ErrInvalid and ErrCheckDigit are ParseIDs' refusals; the error
// returned wraps one of them and names the offending identifier.
var (
	ErrEmpty      = errors.New("empty request identifier")
	ErrTooMany    = errors.New("too many request identifiers")
	ErrInvalid    = errors.New("not an MMS ID or ISBN")
	ErrCheckDigit = errors.New("an ISBN with a wrong check digit")
)

// maxIDLen bounds one request identifier (room for a prefix such as
// "urn:isbn:", a hyphenated ISBN-13, or a document URL the gateway gave).
const maxIDLen = 200

// ParseIDs splits a DAIA query id at "|" (the server also accepts the bar
// escaped, which URL decoding has already undone) into at most max request
// identifiers. Empty parts are skipped and repeated identifiers answered
// once; the whole request is refused only when it names nothing or too
// much. Each identifier is an MMS ID (2 to 24 digits) or an ISBN (10 or 13
// characters with a valid check digit, hyphens and spaces allowed), after
// the prefixes clients put before them: "isbn:" and "urn:isbn:" (then only
// an ISBN), a discovery layer's own prefix such as VuFind's default "ppn:"
// (any URI scheme, up to three of them, as "gvk:ppn:"), or a document URL
// of the gateway's own (…/v1/records/{mms_id}). A digit string that is a
// valid ISBN-13 (978/979) or ISBN-10 is read as an ISBN: Alma MMS IDs are
// longer than 13 digits. An identifier that is none of these comes back
// with Err set; one longer than 200 characters refuses the request.
func ParseIDs(q string, max int) ([]RequestID, error) {
	parts := strings.Split(q, "|")
	n := 0
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			n++
		}
	}
	if n == 0 {
		return nil, ErrEmpty
	}
	if n > max {
		return nil, fmt.Errorf("%w: at most %d in one request, got %d", ErrTooMany, max, n)
	}
	out := make([]RequestID, 0, n)
	seen := make(map[string]bool, n)
	for i, p := range parts {
		if len(strings.TrimSpace(p)) > maxIDLen {
			// Not an identifier anyone sends: refused, not echoed back.
			return nil, fmt.Errorf("identifier %d %q: %w (longer than %d characters)", i+1, clip(strings.TrimSpace(p)), ErrInvalid, maxIDLen)
		}
		if strings.TrimSpace(p) == "" || seen[p] {
			continue
		}
		seen[p] = true
		id, err := parseID(p)
		if err != nil {
			id = RequestID{Requested: p, Err: fmt.Errorf("identifier %q: %w", clip(strings.TrimSpace(p)), err)}
		}
		out = append(out, id)
	}
	return out, nil
}

func parseID(p string) (RequestID, error) {
	s := strings.TrimSpace(p)
	if len(s) > maxIDLen {
		return RequestID{}, ErrInvalid
	}
	// A document or page URL the gateway gave, sent back.
	if lower := strings.ToLower(s); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		for _, mark := range []string{"/v1/records/", "/#record/"} {
			if i := strings.LastIndex(s, mark); i >= 0 {
				if id := s[i+len(mark):]; allDigits(id) && len(id) >= 2 && len(id) <= 24 {
					return RequestID{Requested: p, Kind: MMSID, Value: id}, nil
				}
			}
		}
		return RequestID{}, ErrInvalid
	}
	lower := strings.ToLower(s)
	isbnOnly := false
	for _, pre := range []string{"urn:isbn:", "isbn:"} {
		if strings.HasPrefix(lower, pre) {
			s, isbnOnly = s[len(pre):], true
			break
		}
	}
	// A client's own prefix: VuFind's daiaIdPrefix ("ppn:" unless set),
	// or a union catalogue's "gvk:ppn:".
	for range 3 {
		i := strings.IndexByte(s, ':')
		if isbnOnly || i <= 0 || !isScheme(s[:i]) {
			break
		}
		s = s[i+1:]
	}
	if v := isbnID(s); v != "" {
		if !stdnum.ISBNCheck(v) {
			return RequestID{}, ErrCheckDigit
		}
		return RequestID{Requested: p, Kind: ISBN, Value: v}, nil
	}
	if !isbnOnly && allDigits(s) && len(s) >= 2 && len(s) <= 24 {
		return RequestID{Requested: p, Kind: MMSID, Value: s}, nil
	}
	return RequestID{}, ErrInvalid
}

// isbnID returns s as an ISBN (stdnum.ISBN) when s is the ISBN and nothing
// else: its digits, an X, hyphens and spaces.
func isbnID(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9' || c == 'X' || c == 'x':
			n++
		case c == '-' || c == ' ':
		default:
			return ""
		}
	}
	if v := stdnum.ISBN(s); len(v) == n {
		return v
	}
	return ""
}

// isScheme reports whether s is a URI scheme (RFC 3986 3.1) of at most 32
// characters.
func isScheme(s string) bool {
	if s == "" || len(s) > 32 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func clip(s string) string {
	if len(s) > maxIDLen {
		return s[:maxIDLen] + "…"
	}
	return s
}
