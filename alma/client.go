// Package alma is a client for the part of Ex Libris Alma's REST API the
// gateway uses: retrieving one bibliographic record with its live
// availability (GET /almaws/v1/bibs/{mms_id}?expand=p_avail,e_avail,d_avail).
//
// The API key travels only in the Authorization header, never in the URL,
// so it cannot leak into logs of URLs or into error texts. Alma answers XML
// (a <bib> holding the MARC <record>) or JSON (the record as an XML string
// in "anies", declared UTF-16 although it is an ordinary UTF-8 string); the
// client reads either, by Content-Type or by sniffing, and hands back the
// MARC record element as UTF-8 bytes for package transform to parse.
// Failures come back as *Error (Alma's answer), ErrMalformed or ErrTooLarge
// (wrapped), or the transport's error, so that callers can tell a missing
// record from a rate limit from a broken upstream.
package alma

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/antchfx/xmlquery"
)

// Doer sends an HTTP request; *http.Client is one.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client calls the Alma REST API.
type Client struct {
	// BaseURL is the API host, e.g. https://api-eu.hosted.exlibrisgroup.com;
	// the client adds /almaws/v1/...
	BaseURL string
	// HTTP sends the requests; nil means http.DefaultClient. Timeouts are
	// the Doer's and the context's business.
	HTTP Doer
	// MaxBody caps the bytes read from one answer; 0 means 8 MiB.
	MaxBody int64
}

// DefaultMaxBody is the body cap used when Client.MaxBody is 0.
const DefaultMaxBody = 8 << 20

// Bib is one bibliographic record as the Bibs API returned it.
type Bib struct {
	MMSID     string
	Record    []byte // the MARC <record> element, UTF-8
	Remaining int    // X-Exl-Api-Remaining (daily calls left); -1 unknown
}

// ErrInvalidMMSID is returned, without any call, for an MMS ID that
// ValidMMSID refuses.
var ErrInvalidMMSID = errors.New("alma: mms id must be 2 to 24 digits")

// GetBib fetches one record with its physical, electronic and digital
// availability (AVA, AVE and AVD fields) using apiKey.
func (c *Client) GetBib(ctx context.Context, mmsID, apiKey string) (*Bib, error) {
	if !ValidMMSID(mmsID) {
		return nil, ErrInvalidMMSID
	}
	base, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("alma: invalid base url %q", c.BaseURL)
	}
	u := base.JoinPath("almaws", "v1", "bibs", mmsID)
	u.RawQuery = "expand=p_avail,e_avail,d_avail"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("alma: %w", err)
	}
	req.Header.Set("Authorization", "apikey "+apiKey)
	req.Header.Set("Accept", "application/xml")

	doer := c.HTTP
	if doer == nil {
		doer = http.DefaultClient
	}
	resp, err := doer.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alma: get bib: %w", err)
	}
	defer resp.Body.Close()

	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	tooLarge := int64(len(body)) > limit
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if tooLarge || readErr != nil {
			body = nil
		}
		return nil, redact(ParseError(resp.StatusCode, resp.Header, body), apiKey)
	}
	if tooLarge {
		return nil, fmt.Errorf("alma: get bib %s: %w (limit %d bytes)", mmsID, ErrTooLarge, limit)
	}
	if readErr != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("alma: get bib %s: %w", mmsID, ctx.Err())
		}
		return nil, fmt.Errorf("alma: get bib %s: %w: %w", mmsID, ErrMalformed, readErr)
	}

	bib, err := parseBib(resp.Header.Get("Content-Type"), body)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			ae.Status = resp.StatusCode
			ae.Remaining = remaining(resp.Header)
			return nil, redact(ae, apiKey)
		}
		return nil, fmt.Errorf("alma: get bib %s: %w", mmsID, err)
	}
	if bib.MMSID == "" {
		bib.MMSID = mmsID
	}
	bib.Remaining = remaining(resp.Header)
	return bib, nil
}

// ValidMMSID says whether s can be an Alma MMS ID: 2 to 24 ASCII digits
// (Alma's are 15 to 19 long). It is the one rule: the gateway refuses
// anything else at the door (SPEC section 6) and this client never sends
// it to Alma.
func ValidMMSID(s string) bool {
	if len(s) < 2 || len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// redact removes the key from Alma's message, should Alma ever echo it.
func redact(e *Error, apiKey string) *Error {
	if len(apiKey) >= 4 && strings.Contains(e.Message, apiKey) {
		e.Message = strings.ReplaceAll(e.Message, apiKey, "[redacted]")
	}
	return e
}

// parseBib reads a 2xx Bibs API body, XML or JSON.
func parseBib(contentType string, body []byte) (*Bib, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	// The first byte decides when it can; Content-Type only otherwise (an
	// HTML error page labelled JSON is still not JSON).
	var isJSON bool
	switch trimmed[0] {
	case '{', '[':
		isJSON = true
	case '<':
		isJSON = false
	default:
		isJSON = strings.Contains(contentType, "json")
	}
	if isJSON {
		return parseBibJSON(trimmed)
	}
	return parseBibXML(trimmed)
}

func parseBibXML(body []byte) (*Bib, error) {
	doc, err := xmlquery.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if root := xmlquery.FindOne(doc, "/*[local-name()='web_service_result']"); root != nil {
		code, msg := xmlError(body)
		return nil, &Error{Code: code, Message: msg}
	}
	bib := xmlquery.FindOne(doc, "//*[local-name()='bib']")
	if bib == nil {
		return nil, fmt.Errorf("%w: no bib element", ErrMalformed)
	}
	rec := xmlquery.FindOne(bib, "*[local-name()='record']")
	if rec == nil {
		return nil, fmt.Errorf("%w: bib without a record", ErrMalformed)
	}
	b := &Bib{Record: []byte(rec.OutputXML(true))}
	if id := xmlquery.FindOne(bib, "*[local-name()='mms_id']"); id != nil {
		b.MMSID = strings.TrimSpace(id.InnerText())
	}
	return b, nil
}

func parseBibJSON(body []byte) (*Bib, error) {
	type bibJSON struct {
		MMSID string   `json:"mms_id"`
		Anies []string `json:"anies"`
	}
	var v struct {
		bibJSON
		Bib         []bibJSON `json:"bib"`
		ErrorsExist bool      `json:"errorsExist"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v.ErrorsExist {
		code, msg := jsonError(body)
		return nil, &Error{Code: code, Message: msg}
	}
	one := v.bibJSON
	if len(v.Bib) > 0 { // the list form: GET /bibs?mms_id=...
		one = v.Bib[0]
	}
	if len(one.Anies) == 0 {
		return nil, fmt.Errorf("%w: bib without anies", ErrMalformed)
	}
	rec, err := recordFromString(one.Anies[0])
	if err != nil {
		return nil, err
	}
	return &Bib{MMSID: strings.TrimSpace(one.MMSID), Record: rec}, nil
}

// recordFromString reads the MARC record out of an "anies" string. The
// string says encoding="UTF-16" but JSON made it UTF-8 text: the
// declaration is dropped before parsing, or the XML reader would decode
// the UTF-8 bytes as UTF-16.
func recordFromString(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF"))
	if strings.HasPrefix(s, "<?xml") {
		end := strings.Index(s, "?>")
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated xml declaration in anies", ErrMalformed)
		}
		s = s[end+2:]
	}
	doc, err := xmlquery.Parse(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("%w: anies: %v", ErrMalformed, err)
	}
	rec := xmlquery.FindOne(doc, "//*[local-name()='record']")
	if rec == nil {
		return nil, fmt.Errorf("%w: anies without a record", ErrMalformed)
	}
	return []byte(rec.OutputXML(true)), nil
}
