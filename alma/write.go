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
)

// This file holds the write calls of a network's workflows (the Ex Libris
// article "Working with APIs in a Network Topology", use cases 1, 3 and 4):
// linking a new IZ record to an NZ record, replacing a record's local
// fields, unlinking, ordering (PO lines) and resource-sharing requests. Each
// is one HTTP call, never retried here (the caller's transport must not
// either: a POST that reached Alma and timed out may have been done), with
// the key in the Authorization header only. Alma's error answers come back
// as *Error with its code and message.

// Written is Alma's 2xx answer to a write: the status and the body, which
// the caller reads with the helpers below.
type Written struct {
	Status    int
	Body      []byte
	Remaining int // X-Exl-Api-Remaining; -1 unknown
}

// CreateLinkedBib links a new record of the key's institution to the NZ
// record nzMMSID: POST /almaws/v1/bibs?from_nz_mms_id= with an empty <bib/>.
// Alma answers the new IZ record (XML only: the Bibs create API refuses
// JSON with 60105).
func (c *Client) CreateLinkedBib(ctx context.Context, nzMMSID, apiKey string) (*Bib, error) {
	if !ValidMMSID(nzMMSID) {
		return nil, ErrInvalidMMSID
	}
	q := url.Values{"from_nz_mms_id": {nzMMSID}}
	w, err := c.send(ctx, http.MethodPost, []string{"bibs"}, q, "application/xml", []byte("<bib/>"), apiKey)
	if err != nil {
		return nil, err
	}
	return bibOfWrite(w)
}

// GetBibRecord fetches a record without availability: GET
// /almaws/v1/bibs/{mms_id}, for editing.
func (c *Client) GetBibRecord(ctx context.Context, mmsID, apiKey string) (*Bib, error) {
	if !ValidMMSID(mmsID) {
		return nil, ErrInvalidMMSID
	}
	w, err := c.send(ctx, http.MethodGet, []string{"bibs", mmsID}, nil, "", nil, apiKey)
	if err != nil {
		return nil, err
	}
	return bibOfWrite(w)
}

// UpdateBib replaces a record: PUT /almaws/v1/bibs/{mms_id} with a <bib>
// holding record (the MARC <record> element). On a record linked to the
// NZ, Alma keeps the shared fields and replaces all local fields ($9 local)
// by those in the payload ("swap all"); a field without $9 local is ignored
// silently. validate=false and override_warning=true are Alma's defaults,
// sent explicitly so that a changed default cannot change the outcome.
func (c *Client) UpdateBib(ctx context.Context, mmsID string, record []byte, apiKey string) (*Bib, error) {
	if !ValidMMSID(mmsID) {
		return nil, ErrInvalidMMSID
	}
	body := make([]byte, 0, len(record)+16)
	body = append(body, "<bib>"...)
	body = append(body, record...)
	body = append(body, "</bib>"...)
	q := url.Values{"validate": {"false"}, "override_warning": {"true"}, "stale_version_check": {"false"}}
	w, err := c.send(ctx, http.MethodPut, []string{"bibs", mmsID}, q, "application/xml", body, apiKey)
	if err != nil {
		return nil, err
	}
	return bibOfWrite(w)
}

// UnlinkFromNZ detaches an IZ record from its NZ record: POST
// /almaws/v1/bibs/{mms_id}?op=unlink_from_nz (XML only).
func (c *Client) UnlinkFromNZ(ctx context.Context, mmsID, apiKey string) (*Bib, error) {
	if !ValidMMSID(mmsID) {
		return nil, ErrInvalidMMSID
	}
	q := url.Values{"op": {"unlink_from_nz"}}
	w, err := c.send(ctx, http.MethodPost, []string{"bibs", mmsID}, q, "application/xml", []byte("<bib/>"), apiKey)
	if err != nil {
		return nil, err
	}
	return bibOfWrite(w)
}

// CreatePOLine sends a PO line object (Alma's JSON po_line) to POST
// /almaws/v1/acq/po-lines, with the New Order API profile when profile is
// not empty. It returns Alma's po_line JSON.
func (c *Client) CreatePOLine(ctx context.Context, poLine []byte, profile, apiKey string) (*Written, error) {
	var q url.Values
	if profile != "" {
		q = url.Values{"profile_code": {profile}}
	}
	return c.send(ctx, http.MethodPost, []string{"acq", "po-lines"}, q, "application/json", poLine, apiKey)
}

// CreateResourceSharingRequest sends a borrowing request (Alma's JSON
// user_resource_sharing_request) for userID to POST
// /almaws/v1/users/{user_id}/resource-sharing-requests, with the borrowing
// institution's key. It returns Alma's request JSON.
func (c *Client) CreateResourceSharingRequest(ctx context.Context, userID string, req []byte, apiKey string) (*Written, error) {
	if userID == "" || len(userID) > 255 {
		return nil, errors.New("alma: user id must be 1 to 255 characters")
	}
	return c.send(ctx, http.MethodPost, []string{"users", userID, "resource-sharing-requests"}, nil, "application/json", req, apiKey)
}

// POLine is one PO line as Retrieve PO-Lines lists it: what identifies it
// and Alma's whole object.
type POLine struct {
	Number      string          // Alma's PO line number
	MMSID       string          // resource_metadata.mms_id
	Owner       string          // owner.value
	Type        string          // type.value
	CreatedDate string          // created_date as Alma sends it (2026-12-07Z)
	JSON        json.RawMessage // the whole po_line object
}

// ListPOLines asks Retrieve PO-Lines (GET /almaws/v1/acq/po-lines) for
// the key's institution's PO lines matching q (Alma's brief search, such as
// mms_id~991234), of every status, at most 100. total is Alma's
// total_record_count.
func (c *Client) ListPOLines(ctx context.Context, q, apiKey string) (lines []POLine, total int, err error) {
	v := url.Values{"q": {q}, "status": {"ALL_WITH_CLOSED"}, "limit": {"100"}, "order_by": {"created_date"}}
	w, err := c.call(ctx, http.MethodGet, []string{"acq", "po-lines"}, v, "", "application/json", nil, apiKey)
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		POLine []json.RawMessage `json:"po_line"`
		Total  int               `json:"total_record_count"`
	}
	if err := json.Unmarshal(w.Body, &out); err != nil {
		return nil, 0, fmt.Errorf("alma: po-lines: %w: %w", ErrMalformed, err)
	}
	for _, raw := range out.POLine {
		var pl struct {
			Number   string `json:"number"`
			Created  string `json:"created_date"`
			Resource struct {
				MMSID struct {
					Value string `json:"value"`
				} `json:"mms_id"`
			} `json:"resource_metadata"`
			Owner, Type struct {
				Value string `json:"value"`
			}
		}
		if err := json.Unmarshal(raw, &pl); err != nil {
			return nil, 0, fmt.Errorf("alma: po-lines: %w: %w", ErrMalformed, err)
		}
		lines = append(lines, POLine{Number: pl.Number, MMSID: pl.Resource.MMSID.Value, Owner: pl.Owner.Value, Type: pl.Type.Value, CreatedDate: pl.Created, JSON: raw})
	}
	return lines, out.Total, nil
}

// send makes one call. Path segments are escaped by JoinPath; the key goes
// in the header only.
func (c *Client) send(ctx context.Context, method string, path []string, q url.Values, ctype string, body []byte, apiKey string) (*Written, error) {
	accept := "application/xml"
	if ctype == "application/json" {
		accept = "application/json"
	}
	return c.call(ctx, method, path, q, ctype, accept, body, apiKey)
}

// call is send with the Accept header named.
func (c *Client) call(ctx context.Context, method string, path []string, q url.Values, ctype, accept string, body []byte, apiKey string) (*Written, error) {
	base, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("alma: invalid base url %q", c.BaseURL)
	}
	u := base.JoinPath(append([]string{"almaws", "v1"}, path...)...)
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("alma: %w", err)
	}
	req.Header.Set("Authorization", "apikey "+apiKey)
	req.Header.Set("Accept", accept)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	doer := c.HTTP
	if doer == nil {
		doer = http.DefaultClient
	}
	resp, err := doer.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alma: %s %s: %w", strings.ToLower(method), path[0], err)
	}
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	tooLarge := int64(len(data)) > limit
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if tooLarge || readErr != nil {
			data = nil
		}
		return nil, redact(ParseError(resp.StatusCode, resp.Header, data), apiKey)
	}
	if tooLarge {
		return nil, fmt.Errorf("alma: %s: %w (limit %d bytes)", path[0], ErrTooLarge, limit)
	}
	if readErr != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("alma: %s: %w", path[0], ctx.Err())
		}
		return nil, fmt.Errorf("alma: %s: %w: %w", path[0], ErrMalformed, readErr)
	}
	w := &Written{Status: resp.StatusCode, Body: data, Remaining: remaining(resp.Header)}
	if js := bytes.TrimSpace(data); len(js) > 0 && js[0] == '{' {
		// errorsExist inside a 2xx is still an error answer.
		var probe struct {
			ErrorsExist bool `json:"errorsExist"`
		}
		if json.Unmarshal(js, &probe) == nil && probe.ErrorsExist {
			code, msg := jsonError(js)
			return nil, redact(&Error{Status: resp.StatusCode, Code: code, Message: msg, Remaining: w.Remaining}, apiKey)
		}
	}
	return w, nil
}

func bibOfWrite(w *Written) (*Bib, error) {
	b, err := parseBib("application/xml", w.Body)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			ae.Status = w.Status
			return nil, ae
		}
		return nil, err
	}
	b.Remaining = w.Remaining
	return b, nil
}
