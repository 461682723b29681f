package alma

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "l8xxSECRETKEY0123456789abcdef"

// readTestdata reads an Alma payload from the project's one copy of them
// (../testdata/alma, sources in its SOURCES.md).
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "alma", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeAlma serves one canned answer and checks every request the way Alma
// would see it: the key in the Authorization header and nowhere in the URL.
type fakeAlma struct {
	status      int
	contentType string
	body        []byte
	header      http.Header
	calls       atomic.Int32
	lastPath    atomic.Value // string
}

func (f *fakeAlma) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.lastPath.Store(r.URL.Path)
		if got, want := r.Header.Get("Authorization"), "apikey "+testKey; got != want {
			t.Errorf("Authorization: got %q, want %q", got, want)
		}
		if strings.Contains(r.URL.String(), testKey) || strings.Contains(r.URL.RawQuery, "apikey") {
			t.Errorf("key in URL: %s", r.URL)
		}
		if got, want := r.URL.Query().Get("expand"), "p_avail,e_avail,d_avail"; got != want {
			t.Errorf("expand: got %q, want %q", got, want)
		}
		if r.Method != http.MethodGet {
			t.Errorf("method: got %s, want GET", r.Method)
		}
		for k, v := range f.header {
			w.Header()[k] = v
		}
		if f.contentType != "" {
			w.Header().Set("Content-Type", f.contentType)
		}
		w.WriteHeader(f.status)
		w.Write(f.body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func checkWellFormed(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("record is not well-formed: %v\n%s", err, b)
		}
	}
}

func TestGetBib(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		file        string
		wantMMSID   string
	}{
		{"xml", "application/xml;charset=UTF-8", "bibs_api_bib.xml", "9922486553506421"},
		{"json", "application/json;charset=UTF-8", "princeton_bibs_api_json_anies_AVA_unavailable.json", "9922486553506421"},
		{"json sniffed", "", "princeton_bibs_api_json_anies_AVA_unavailable.json", "9922486553506421"},
		{"xml sniffed", "text/plain", "bibs_api_bib.xml", "9922486553506421"},
		{"xml labelled json", "application/json", "bibs_api_bib.xml", "9922486553506421"},
		{"json labelled xml", "application/xml", "princeton_bibs_api_json_anies_AVA_unavailable.json", "9922486553506421"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAlma{status: 200, contentType: tt.contentType, body: readTestdata(t, tt.file),
				header: http.Header{"X-Exl-Api-Remaining": {"98765"}}}
			srv := fake.start(t)
			c := &Client{BaseURL: srv.URL + "/", HTTP: srv.Client()}
			bib, err := c.GetBib(context.Background(), "9922486553506421", testKey)
			if err != nil {
				t.Fatalf("GetBib: %v", err)
			}
			if got, want := fake.lastPath.Load(), "/almaws/v1/bibs/9922486553506421"; got != want {
				t.Errorf("path: got %v, want %v", got, want)
			}
			if bib.MMSID != tt.wantMMSID {
				t.Errorf("MMSID: got %q, want %q", bib.MMSID, tt.wantMMSID)
			}
			if bib.Remaining != 98765 {
				t.Errorf("Remaining: got %d, want 98765", bib.Remaining)
			}
			checkWellFormed(t, bib.Record)
			rec := string(bib.Record)
			if !strings.HasPrefix(rec, "<record") || !strings.HasSuffix(rec, "</record>") {
				t.Errorf("record element expected, got %.80s...%s", rec, rec[max(0, len(rec)-20):])
			}
			for _, want := range []string{`tag="AVA"`, "García Márquez", `<controlfield tag="001">9922486553506421</controlfield>`} {
				if !strings.Contains(rec, want) {
					t.Errorf("record lacks %q", want)
				}
			}
			if strings.Contains(rec, "UTF-16") {
				t.Errorf("record still carries the UTF-16 declaration")
			}
		})
	}
}

func TestGetBibErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        []byte
		header      http.Header
		want        *Error
		notFound    bool
		rateLimited bool
	}{
		{
			name: "402203 xml", status: 400, contentType: "application/xml",
			body:     readTestdata(t, "princeton_bibs_api_error_402203_xml.xml"),
			want:     &Error{Status: 400, Code: "402203", Message: "Input parameters mmsId 1234 is not valid.", Remaining: -1},
			notFound: true,
		},
		{
			name: "402204 json", status: 400, contentType: "application/json",
			body:     readTestdata(t, "princeton_bibs_api_error_402204_json.json"),
			want:     &Error{Status: 400, Code: "402204", Message: "Input parameters mmsId banana is not numeric.", Remaining: -1},
			notFound: true,
		},
		{
			name: "429 per second", status: 429, contentType: "application/xml",
			body:        readTestdata(t, "error_429_per_second_threshold.xml"),
			header:      http.Header{"Retry-After": {"2"}, "X-Exl-Api-Remaining": {"10"}},
			want:        &Error{Status: 429, Code: "PER_SECOND_THRESHOLD", Message: "HTTP requests are more than allowed per second", RetryAfter: 2 * time.Second, Remaining: 10},
			rateLimited: true,
		},
		{
			name: "503 html", status: 503, contentType: "text/html",
			body: []byte("<html><body>Service Unavailable</body></html>"),
			want: &Error{Status: 503, Message: "Service Unavailable", Remaining: -1},
		},
		{
			name: "404 empty", status: 404,
			want:     &Error{Status: 404, Message: "Not Found", Remaining: -1},
			notFound: true,
		},
		{
			name: "200 with errorsExist", status: 200, contentType: "application/xml",
			body:     readTestdata(t, "princeton_bibs_api_error_402203_xml.xml"),
			want:     &Error{Status: 200, Code: "402203", Message: "Input parameters mmsId 1234 is not valid.", Remaining: -1},
			notFound: true,
		},
		{
			name: "key echoed", status: 401, contentType: "application/json",
			body: []byte(`{"errorsExist":true,"errorList":{"error":{"errorCode":"UNAUTHORIZED","errorMessage":"API-key ` + testKey + ` not defined"}}}`),
			want: &Error{Status: 401, Code: "UNAUTHORIZED", Message: "API-key [redacted] not defined", Remaining: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAlma{status: tt.status, contentType: tt.contentType, body: tt.body, header: tt.header}
			srv := fake.start(t)
			c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
			_, err := c.GetBib(context.Background(), "1234", testKey)
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("got %v (%T), want *Error", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if got.NotFound() != tt.notFound {
				t.Errorf("NotFound: got %v, want %v", got.NotFound(), tt.notFound)
			}
			if got.RateLimited() != tt.rateLimited {
				t.Errorf("RateLimited: got %v, want %v", got.RateLimited(), tt.rateLimited)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error text holds the key: %v", err)
			}
		})
	}
}

func TestGetBibMalformed(t *testing.T) {
	full := readTestdata(t, "bibs_api_bib.xml")
	tests := []struct {
		name        string
		contentType string
		body        []byte
		maxBody     int64
		want        error
	}{
		{"truncated xml", "application/xml", full[:len(full)/2], 0, ErrMalformed},
		{"truncated json", "application/json", []byte(`{"bib":[{"mms_id":"1","anies":["<record><leader>`), 0, ErrMalformed},
		{"anies not xml", "application/json", []byte(`{"mms_id":"1","anies":["<record><leader>x</record>"]}`), 0, ErrMalformed},
		{"no record", "application/xml", []byte(`<bib><mms_id>1</mms_id></bib>`), 0, ErrMalformed},
		{"no anies", "application/json", []byte(`{"mms_id":"1"}`), 0, ErrMalformed},
		{"empty", "application/xml", nil, 0, ErrMalformed},
		{"garbage", "", []byte("\x00\x01 hello"), 0, ErrMalformed},
		{"too large", "application/xml", full, 100, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAlma{status: 200, contentType: tt.contentType, body: tt.body}
			srv := fake.start(t)
			c := &Client{BaseURL: srv.URL, HTTP: srv.Client(), MaxBody: tt.maxBody}
			bib, err := c.GetBib(context.Background(), "11", testKey)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got bib=%v err=%v, want %v", bib != nil, err, tt.want)
			}
		})
	}
}

func TestGetBibRejectsBadMMSIDWithoutCalling(t *testing.T) {
	fake := &fakeAlma{status: 200}
	srv := fake.start(t)
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	for _, id := range []string{"", "abc", "123/../456", "99 1", "1?apikey=x", strings.Repeat("9", 33), "١٢٣", "7", strings.Repeat("9", 25)} {
		t.Run(id, func(t *testing.T) {
			_, err := c.GetBib(context.Background(), id, testKey)
			if !errors.Is(err, ErrInvalidMMSID) {
				t.Errorf("got %v, want ErrInvalidMMSID", err)
			}
		})
	}
	if n := fake.calls.Load(); n != 0 {
		t.Errorf("made %d calls, want 0", n)
	}
}

func TestGetBibTransportError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens any more
	c := &Client{BaseURL: url}
	_, err := c.GetBib(context.Background(), "11", testKey)
	if err == nil {
		t.Fatal("got nil error from a closed server")
	}
	var ae *Error
	if errors.As(err, &ae) || errors.Is(err, ErrMalformed) {
		t.Errorf("a transport failure should be neither *Error nor ErrMalformed: %v", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error text holds the key: %v", err)
	}
}

func TestGetBibContextCanceled(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	_, err := c.GetBib(ctx, "11", testKey)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "ftp://x", "://", "api.example.org"} {
		c := &Client{BaseURL: base}
		if _, err := c.GetBib(context.Background(), "11", testKey); err == nil {
			t.Errorf("BaseURL %q: got nil error", base)
		}
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   *Error
	}{
		{"json error list", 400, nil,
			`{"errorsExist":true,"errorList":{"error":[{"errorCode":"402204","errorMessage":"m"}]}}`,
			&Error{Status: 400, Code: "402204", Message: "m", Remaining: -1}},
		{"json single error object", 400, nil,
			`{"errorList":{"error":{"errorCode":"401","errorMessage":"m"}}}`,
			&Error{Status: 400, Code: "401", Message: "m", Remaining: -1}},
		{"json numeric code", 400, nil,
			`{"errorList":{"error":[{"errorCode":402203,"errorMessage":"m"}]}}`,
			&Error{Status: 400, Code: "402203", Message: "m", Remaining: -1}},
		{"xml without namespace", 429, http.Header{"Retry-After": {"x"}},
			`<web_service_result><errorList><error><errorCode>DAILY_THRESHOLD</errorCode><errorMessage>Daily API Request Threshold has been reached</errorMessage></error></errorList></web_service_result>`,
			&Error{Status: 429, Code: "DAILY_THRESHOLD", Message: "Daily API Request Threshold has been reached", Remaining: -1}},
		{"broken xml", 500, nil, `<web_service_result><errorList>`, &Error{Status: 500, Message: "Internal Server Error", Remaining: -1}},
		{"broken json", 502, http.Header{"X-Exl-Api-Remaining": {"-3"}}, `{"errorList":`, &Error{Status: 502, Message: "Bad Gateway", Remaining: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseError(tt.status, tt.header, []byte(tt.body))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	h := http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}
	got := ParseError(429, h, nil).RetryAfter
	if got <= 0 || got > 91*time.Second {
		t.Errorf("got RetryAfter %v, want about 90s", got)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Status: 400, Code: "402203", Message: "Input parameters mmsId 1 is not valid."}
	if got, want := e.Error(), "alma: http 400: 402203: Input parameters mmsId 1 is not valid."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzParseError(f *testing.F) {
	for _, name := range []string{"princeton_bibs_api_error_402203_xml.xml", "princeton_bibs_api_error_402204_json.json", "error_429_per_second_threshold.xml"} {
		f.Add(400, readTestdata(f, name))
	}
	f.Add(200, []byte(`{"errorList":{"error":7}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := ParseError(status, http.Header{}, body)
		if e == nil || e.Status != status {
			t.Fatalf("got %+v", e)
		}
		_ = e.Error()
	})
}

func FuzzParseBib(f *testing.F) {
	// Small seeds shaped like the samples keep the fuzzer quick; the
	// samples themselves are covered by TestGetBib.
	f.Add("application/xml", []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><bib><mms_id>99</mms_id><record><leader>01226cam a2200313 a 4500</leader><controlfield tag="001">99</controlfield><datafield ind1=" " ind2=" " tag="AVA"><subfield code="a">01PRI_INST</subfield><subfield code="e">available</subfield></datafield></record></bib>`))
	f.Add("application/json", []byte(`{"bib":[{"mms_id":"99","anies":["<?xml version=\"1.0\" encoding=\"UTF-16\"?><record>\n<leader>01226cam a2200313 a 4500</leader><controlfield tag=\"001\">99</controlfield><datafield ind1=\" \" ind2=\" \" tag=\"INST\"><subfield code=\"a\">X &amp; Y</subfield></datafield></record>"]}],"total_record_count":1}`))
	f.Add("", []byte(`{"anies":["<?xml version=\"1.0\" encoding=\"UTF-16\"?><record/>"]}`))
	f.Add("application/xml", readTestdata(f, "princeton_bibs_api_error_402203_xml.xml"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		bib, err := parseBib(contentType, body)
		if err != nil {
			return
		}
		checkWellFormed(t, bib.Record)
	})
}
