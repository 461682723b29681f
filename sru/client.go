package sru

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/almanet/gateway/internal/retryafter"
)

// Doer sends an HTTP request; *http.Client is one.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client calls one SRU endpoint: Alma's (the zero values) or, for
// federation (SPEC 9.1), any SRU 1.1, 1.2 or 2.0 server.
type Client struct {
	BaseURL string // e.g. https://host/view/sru/41SLSP_NETWORK
	HTTP    Doer   // nil → http.DefaultClient
	MaxBody int64  // largest body read; 0 → 32 MiB
	// Version is the SRU version asked: "1.1", "1.2" or "2.0"; "" → "1.2"
	// (Alma). 2.0 sends no operation and asks recordXMLEscaping=xml.
	Version string
	// PageMax is the largest page the endpoint serves; larger maximumRecords
	// are cut to it. 0 → AlmaMaxRecords.
	PageMax int
	// APIKey, when set, is sent as "Authorization: apikey <key>" (the way
	// Alma expects a key), never in the URL.
	APIKey string
}

// SearchParams is one searchRetrieve call.
type SearchParams struct {
	Query  string // the AlmaQuery of a Request
	Start  int    // startRecord; < 1 → 1
	Max    int    // maximumRecords; Alma serves at most 50, larger values are cut to 50
	Schema string // recordSchema; "" → "marcxml"
}

// AlmaMaxRecords is the largest page Alma's SRU serves.
const AlmaMaxRecords = 50

// AlmaMaxPosition is the last record position Alma's SRU pages to.
const AlmaMaxPosition = 10000

// ErrBodyTooLarge is wrapped by Client errors for a body over MaxBody.
var ErrBodyTooLarge = errors.New("sru response body too large")

// HTTPError is a non-200 answer from Alma.
type HTTPError struct {
	Status     int
	RetryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *HTTPError) Error() string {
	s := "alma sru: http status " + strconv.Itoa(e.Status)
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	return s
}

// Search runs one searchRetrieve on Alma. Alma's SRU answers problems with
// HTTP 200 and diagnostics, which come back in Page.Diagnostics; a non-200
// status is an *HTTPError, a body over MaxBody wraps ErrBodyTooLarge, an
// unreadable body wraps ErrMalformed.
func (c *Client) Search(ctx context.Context, p SearchParams) (*Page, error) {
	return c.SearchWith(ctx, p, nil)
}

// SearchWith is Search with the page read by ParsePageWith: each record
// element is handed to read as the page is scanned.
func (c *Client) SearchWith(ctx context.Context, p SearchParams, read RecordReader) (*Page, error) {
	if p.Start < 1 {
		p.Start = 1
	}
	pageMax := c.PageMax
	if pageMax <= 0 {
		pageMax = AlmaMaxRecords
	}
	p.Max = max(0, min(p.Max, pageMax))
	if p.Schema == "" {
		p.Schema = "marcxml"
	}
	v := url.Values{}
	switch ver := c.version(); ver {
	case "2.0":
		v.Set("version", ver)
		v.Set("recordXMLEscaping", "xml")
	default:
		v.Set("version", ver)
		v.Set("operation", "searchRetrieve")
	}
	v.Set("recordSchema", p.Schema)
	v.Set("query", p.Query)
	v.Set("startRecord", strconv.Itoa(p.Start))
	v.Set("maximumRecords", strconv.Itoa(p.Max))
	body, done, err := c.get(ctx, v)
	if err != nil {
		return nil, err
	}
	defer done() // the body's bytes count as held until the page is parsed
	return ParsePageWith(body, read)
}

func (c *Client) version() string {
	if c.Version == "" {
		return "1.2"
	}
	return c.Version
}

// Explain fetches the endpoint's explain response (for ParseExplain).
func (c *Client) Explain(ctx context.Context) ([]byte, error) {
	v := url.Values{}
	v.Set("version", c.version())
	v.Set("operation", "explain")
	body, done, err := c.get(ctx, v)
	if err != nil {
		return nil, err
	}
	done()
	return body, nil
}

// get builds the URL from BaseURL and the re-encoded parameters (no
// client input reaches the URL any other way: SPEC 6), and reads the body.
// done closes the response body: a Doer may count the body's bytes as held
// until then (the gateway bounds them across all calls, SPEC 16), so the
// caller calls it once it has finished with the bytes.
func (c *Client) get(ctx context.Context, v url.Values) (body []byte, done func(), err error) {
	body, resp, err := c.fetch(ctx, v)
	if resp == nil {
		return nil, nil, err
	}
	done = func() { resp.Body.Close() }
	if err != nil {
		done()
		return nil, nil, err
	}
	return body, done, nil
}

// fetch sends the request and reads the body in pieces (never reserving
// what Content-Length announces: a server may announce 32 MiB and send a
// trickle, issue 21). A non-nil resp has a body the caller closes.
func (c *Client) fetch(ctx context.Context, v url.Values) ([]byte, *http.Response, error) {
	base, err := url.Parse(c.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, nil, fmt.Errorf("alma sru: bad base url %q", c.BaseURL)
	}
	q := base.Query()
	for k, vals := range v {
		q[k] = vals
	}
	base.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("alma sru: %w", err)
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	req.Header.Set("User-Agent", "almanet-gateway")
	if c.APIKey != "" {
		req.Header.Set("Authorization", "apikey "+c.APIKey)
	}
	doer := c.HTTP
	if doer == nil {
		doer = http.DefaultClient
	}
	resp, err := doer.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("alma sru: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		return nil, resp, &HTTPError{Status: resp.StatusCode, RetryAfter: retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())}
	}
	limit := c.MaxBody
	if limit <= 0 {
		limit = 32 << 20
	}
	if resp.ContentLength > limit {
		return nil, resp, fmt.Errorf("alma sru: %w (%d bytes announced)", ErrBodyTooLarge, resp.ContentLength)
	}
	// The buffer grows with what has arrived (bytes.Buffer doubles), so a
	// body costs at most twice what it has really sent.
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, resp, fmt.Errorf("alma sru: read body: %w", err)
	}
	if n > limit {
		return nil, resp, fmt.Errorf("alma sru: %w (over %d bytes)", ErrBodyTooLarge, limit)
	}
	return buf.Bytes(), resp, nil
}
