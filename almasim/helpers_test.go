package almasim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	simsMu sync.Mutex // guards sims
	sims   = map[int]*Simulator{}
)

// shared returns a read-only simulator with n records, generated once per
// test binary. Tests that set faults or count requests make their own.
func shared(t testing.TB, n int) *Simulator {
	t.Helper()
	simsMu.Lock()
	defer simsMu.Unlock()
	if s, ok := sims[n]; ok {
		return s
	}
	s := New(Config{Records: n, Now: fixedNow})
	sims[n] = s
	return s
}

func fixedNow() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("", 3600)) }

// sruParams builds a searchRetrieve query string.
func sruParams(query string, extra ...string) string {
	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {query}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q.Encode()
}

// do runs one request through the handler without a network.
func do(t testing.TB, h http.Handler, method, target string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

// get fetches a URL from a real server.
func get(t testing.TB, client *http.Client, target string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "alma", name)) // sources in its SOURCES.md
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wellFormed reports the first XML error of b, nil when it is well-formed.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// shape lists the elements of an XML document as "depth space local", one
// per start tag, in document order. Below an element named skipBelow only
// its first child (the record root) is listed, so that envelopes compare
// without their records' content.
func shape(t testing.TB, b []byte, skipBelow string) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []string
	depth, skipDepth := 0, -1
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			if skipDepth < 0 || depth == skipDepth+1 {
				out = append(out, strings.Repeat(" ", depth)+e.Name.Space+" "+e.Name.Local)
			}
			if skipDepth < 0 && e.Name.Local == skipBelow {
				skipDepth = depth
			}
		case xml.EndElement:
			if depth == skipDepth {
				skipDepth = -1
			}
			depth--
		}
	}
}

// firstTag returns the text of the first element with this local name.
func firstTag(t testing.TB, b []byte, local string) string {
	t.Helper()
	all := allTags(t, b, local)
	if len(all) == 0 {
		return ""
	}
	return all[0]
}

// allTags returns the text of every element with this local name.
func allTags(t testing.TB, b []byte, local string) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%.2000s", err, b)
		}
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == local {
			var s string
			if err := d.DecodeElement(&s, &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
}

// marcField is a datafield read back from MARCXML.
type marcField struct {
	Tag  string `xml:"tag,attr"`
	Ind1 string `xml:"ind1,attr"`
	Ind2 string `xml:"ind2,attr"`
	Subs []struct {
		Code  string `xml:"code,attr"`
		Value string `xml:",chardata"`
	} `xml:"subfield"`
}

func (f marcField) sub(code string) []string {
	var out []string
	for _, s := range f.Subs {
		if s.Code == code {
			out = append(out, s.Value)
		}
	}
	return out
}

// datafields reads every datafield (any namespace) of b.
func datafields(t testing.TB, b []byte) []marcField {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []marcField
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "datafield" {
			var f marcField
			if err := d.DecodeElement(&f, &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, f)
		}
	}
}
