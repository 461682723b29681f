package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawAnswer is one HTTP response read off the wire by readRawAnswers.
type rawAnswer struct {
	status int
	header textproto.MIMEHeader
	body   []byte
}

// rawExchange writes req on a fresh connection as it is, byte for byte, and
// reads every answer until the gateway closes the connection. It reports
// whether the gateway closed it (false when the hang guard ran out while
// the connection was still open). It parses the answers itself: an HTTP
// client library would normalize exactly what these tests look at.
func rawExchange(t *testing.T, addr, req string) (answers []rawAnswer, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A hang guard only: a gateway that keeps the connection open is
	// reported as not closed, not timed.
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	raw, err := io.ReadAll(conn)
	var ne net.Error
	closed = err == nil || !(errors.As(err, &ne) && ne.Timeout())
	answers, perr := parseRawAnswers(raw)
	if perr != nil {
		t.Fatalf("reading the answers: %v in %q", perr, raw)
	}
	return answers, closed
}

// parseRawAnswers splits a byte stream into HTTP/1.1 responses framed by
// Content-Length (the gateway never answers chunked).
func parseRawAnswers(raw []byte) ([]rawAnswer, error) {
	var out []rawAnswer
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		line, err := r.ReadLine()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		proto, rest, ok := strings.Cut(line, " ")
		if !ok || proto != "HTTP/1.1" || len(rest) < 3 {
			return out, fmt.Errorf("status line %q", line)
		}
		status, err := strconv.Atoi(rest[:3])
		if err != nil {
			return out, fmt.Errorf("status line %q", line)
		}
		h, err := r.ReadMIMEHeader()
		if err != nil {
			return out, err
		}
		n, err := strconv.Atoi(h.Get("Content-Length"))
		if err != nil {
			return out, fmt.Errorf("answer %d has no Content-Length", status)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r.R, body); err != nil {
			return out, err
		}
		out = append(out, rawAnswer{status: status, header: h, body: body})
	}
}

// The secret a malformed request carries; it must come back nowhere.
const edgeSecret = "c2VjcmV0LXRva2VuLTQ3MTE"

// edgeRow is one request of the edge table: the statuses of its answers,
// in order, and whether the answer is the guard's (fasthttp v1.79 alone
// serves the request, waits on it, or answers another status) rather than
// fasthttp's own refusal.
type edgeRow struct {
	name  string
	req   string
	want  []int
	guard bool
}

// edgeTable is the raw-socket table of the HTTP edge (RFC 9112 sections
// 2.2, 3.2, 5, 6.1, 6.3, 7.1).
func edgeTable() []edgeRow {
	const h = "Host: 127.0.0.1\r\n"
	post := func(hdr, body string) string {
		return "POST /sru HTTP/1.1\r\n" + h + "Content-Type: application/x-www-form-urlencoded\r\n" + hdr + "\r\n" + body
	}
	sruBody := "version=1.2&operation=explain"
	chunkedBody := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(sruBody), sruBody)
	last := "GET /healthz HTTP/1.1\r\n" + h + "Connection: close\r\n\r\n"
	smuggled := "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	return []edgeRow{
		// Valid requests, alone and pipelined, are answered in order.
		{"one GET", last, []int{200}, false},
		{"pipelined GETs in order", "GET /healthz HTTP/1.1\r\n" + h + "\r\nGET /nope HTTP/1.1\r\n" + h + "\r\nGET /readyz HTTP/1.1\r\n" + h + "\r\n" + last, []int{200, 404, 200, 200}, false},
		{"pipelined POST with Content-Length", post("Content-Length: "+itoa(len(sruBody))+"\r\n", sruBody) + last, []int{200, 200}, false},
		{"pipelined POST chunked", post("Transfer-Encoding: chunked\r\n", chunkedBody) + last, []int{200, 200}, false},
		{"chunked with extension and trailer", post("Transfer-Encoding: Chunked\r\n", fmt.Sprintf("%x;name=v\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n", len(sruBody), sruBody)) + last, []int{200, 200}, false},
		{"empty lines before a request", "\r\n" + last, []int{200}, false},
		{"HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n", []int{200}, false},
		{"absolute-form target", "GET http://127.0.0.1/healthz HTTP/1.1\r\n" + h + "Connection: close\r\n\r\n", []int{200}, false},

		// Content-Length and Transfer-Encoding together (RFC 9112 6.1, 6.3).
		{"CL and TE xchunked (the issue's reproduction)", post("Content-Length: 40\r\nTransfer-Encoding: xchunked\r\n", smuggled), []int{400}, false},
		{"CL then TE chunked", post("Content-Length: 40\r\nTransfer-Encoding: chunked\r\n", smuggled), []int{400}, true},
		{"TE chunked then CL", post("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", smuggled), []int{400}, true},
		{"CL and TE with odd case", post("content-length: 40\r\ntransfer-encoding: CHUNKED\r\n", smuggled), []int{400}, true},
		{"TE with a space before the colon", post("Transfer-Encoding : chunked\r\nContent-Length: 40\r\n", smuggled), []int{400}, false},

		// Transfer-Encoding variants: only chunked, once, is understood.
		{"TE xchunked", post("Transfer-Encoding: xchunked\r\n", smuggled), []int{400}, false},
		{"TE chunked not final", post("Transfer-Encoding: chunked, identity\r\n", smuggled), []int{400}, false},
		{"TE chunked twice in one field", post("Transfer-Encoding: chunked, chunked\r\n", smuggled), []int{400}, false},
		{"TE chunked in two fields", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", smuggled), []int{400}, false},
		{"TE identity, chunked", post("Transfer-Encoding: identity, chunked\r\n", smuggled), []int{501}, true},
		{"TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", smuggled), []int{501}, true},
		{"TE identity", post("Transfer-Encoding: identity\r\n", smuggled), []int{400}, true},
		{"TE empty", post("Transfer-Encoding: \r\n", smuggled), []int{400}, false},
		{"TE in HTTP/1.0", "POST /sru HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n" + chunkedBody, []int{400}, false},

		// Content-Length: one valid value only.
		{"duplicate CL, same value", post("Content-Length: 5\r\nContent-Length: 5\r\n", "abcde"), []int{400}, false},
		{"duplicate CL, different values", post("Content-Length: 5\r\nContent-Length: 40\r\n", smuggled), []int{400}, false},
		{"CL list", post("Content-Length: 5, 5\r\n", "abcde"), []int{400}, false},
		{"CL with a sign", post("Content-Length: +5\r\n", "abcde"), []int{400}, false},
		{"CL negative", post("Content-Length: -1\r\n", ""), []int{400}, false},
		{"CL hexadecimal", post("Content-Length: 0x5\r\n", "abcde"), []int{400}, false},
		{"CL with inner space", post("Content-Length: 5 5\r\n", "abcde"), []int{400}, false},
		{"CL overflowing", post("Content-Length: 99999999999999999999999\r\n", "abcde"), []int{400}, false},

		// Bad chunk sizes.
		{"chunk size not hex", post("Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n"), []int{400}, false},
		{"chunk size negative", post("Transfer-Encoding: chunked\r\n", "-1\r\nabc\r\n0\r\n\r\n"), []int{400}, false},
		{"chunk size with 0x", post("Transfer-Encoding: chunked\r\n", "0x3\r\nabc\r\n0\r\n\r\n"), []int{400}, false},
		{"chunk size with a leading space", post("Transfer-Encoding: chunked\r\n", " 3\r\nabc\r\n0\r\n\r\n"), []int{400}, false},
		{"chunk size overflowing", post("Transfer-Encoding: chunked\r\n", "1ffffffffffffffff\r\nabc\r\n0\r\n\r\n"), []int{400}, false},
		{"chunk data longer than its size", post("Transfer-Encoding: chunked\r\n", "3\r\nabcdef\r\n0\r\n\r\n"), []int{400}, false},
		{"chunk size line ended by bare LF", post("Transfer-Encoding: chunked\r\n", "3\nabc\r\n0\r\n\r\n"), []int{400}, false},
		{"control character in a chunk extension", post("Transfer-Encoding: chunked\r\n", "3;\x01\r\nabc\r\n0\r\n\r\n") + last, []int{400}, true},
		{"obs-fold in the trailer", post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\nX-T: 1\r\n 2\r\n\r\n") + last, []int{400}, true},

		// Host (RFC 9112 3.2).
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", []int{400}, false},
		{"two Hosts", "GET /sru HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n", []int{400}, false},
		{"empty Host", "GET /healthz HTTP/1.1\r\nHost: \r\n\r\n", []int{400}, false},
		{"Host with a path", "GET /healthz HTTP/1.1\r\nHost: evil.example/x\r\n\r\n", []int{400}, false},

		// Request targets (RFC 9112 3.2).
		{"absolute-form, not http", "GET ftp://127.0.0.1/healthz HTTP/1.1\r\n" + h + "\r\n", []int{400}, true},
		{"absolute-form without a host", "GET http:///healthz HTTP/1.1\r\n" + h + "\r\n", []int{400}, false},
		{"authority-form", "GET 127.0.0.1:80 HTTP/1.1\r\n" + h + "\r\n", []int{400}, false},
		{"asterisk-form with GET", "GET * HTTP/1.1\r\n" + h + "\r\n", []int{400}, false},
		{"absolute-form with a bad host", "GET http://exa_m!ple/healthz HTTP/1.1\r\n" + h + "\r\n", []int{400}, true},
		{"absolute-form without Host", "GET http://127.0.0.1/healthz HTTP/1.1\r\nConnection: close\r\n\r\n", []int{400}, false},
		{"unknown version", "GET /healthz HTTP/1.7\r\n" + h + "\r\n", []int{400}, true},

		// Header syntax (RFC 9112 2.2, 5).
		{"obs-fold", "GET /healthz HTTP/1.1\r\n" + h + "X-A: 1\r\n 2\r\n\r\n", []int{400}, true},
		{"bare LF", "GET /healthz HTTP/1.1\n" + h + "\n", []int{400}, true},
		{"bare LF only", "GET /healthz HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n", []int{400}, true},
		{"bare CR", "GET /healthz HTTP/1.1\r\n" + h + "X-A: 1\r2\r\n\r\n", []int{400}, false},
		{"NUL in a value", "GET /healthz HTTP/1.1\r\n" + h + "X-A: 1\x002\r\n\r\n", []int{400}, false},
		{"malformed line after Authorization", "GET /v1/search?q=x HTTP/1.1\r\n" + h + "Authorization: Bearer " + edgeSecret + "\r\nCookie: s=" + edgeSecret + "\r\nNot a header\r\n\r\n", []int{400}, false},
		{"malformed name after Authorization", "GET /v1/search?q=x HTTP/1.1\r\n" + h + "Authorization: Bearer " + edgeSecret + "\r\nBad\x01Name: 1\r\n\r\n", []int{400}, false},
		{"a head over the read buffer with Authorization", "GET /healthz HTTP/1.1\r\n" + h + "Authorization: Bearer " + edgeSecret + "\r\nX-Pad: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", []int{431}, false},
	}
}

// TestEdgeRefusesAmbiguousFraming runs the edge table against the gateway:
// every request whose framing, Host or target is ambiguous or malformed is
// refused with one JSON answer and the connection closed, by the guard or
// by fasthttp; valid requests, pipelined ones included, are answered in
// order.
func TestEdgeRefusesAmbiguousFraming(t *testing.T) {
	env := newEnv(t, nil)
	addr := strings.TrimPrefix(env.base, "http://")
	for _, tc := range edgeTable() {
		t.Run(tc.name, func(t *testing.T) {
			answers, closed := rawExchange(t, addr, tc.req)
			var got []int
			for _, a := range answers {
				got = append(got, a.status)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("statuses (-got +want):\n%s", diff)
			}
			if !closed {
				t.Errorf("the connection was left open")
			}
			refused := len(tc.want) == 1 && tc.want[0] >= 400
			for _, a := range answers {
				if a.status < 400 {
					continue
				}
				if refused && a.header.Get("Connection") != "close" {
					t.Errorf("%d without Connection: close", a.status)
				}
				var doc struct {
					Diagnostics []JSONDiagnostic `json:"diagnostics"`
				}
				if err := json.Unmarshal(a.body, &doc); err != nil || len(doc.Diagnostics) != 1 || doc.Diagnostics[0].Details == "" {
					t.Errorf("%d body is not the gateway's JSON error: %q", a.status, a.body)
				}
				if bytes.Contains(a.body, []byte(edgeSecret)) || strings.Contains(fmt.Sprint(a.header), edgeSecret) {
					t.Errorf("the answer reflects the request's Authorization: %q", a.body)
				}
			}
		})
	}
	if strings.Contains(env.logs.String(), edgeSecret) {
		t.Errorf("the log carries the request's Authorization")
	}
}

// TestEdgeTableWithoutTheGuard serves the gateway's own fasthttp server on
// a plain listener, without the guard, and runs the edge table against it:
// every row fasthttp answers as the table wants on its own is one the guard
// leaves to it, and every row marked guard comes out otherwise, so the
// guard's rule for it is still needed. When a fasthttp release refuses one
// of those itself, this test names the row, and the rule can go.
func TestEdgeTableWithoutTheGuard(t *testing.T) {
	env := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = env.gw.App().Server().Serve(ln) }()
	t.Cleanup(func() { ln.Close() })
	for _, tc := range edgeTable() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			answers, _ := rawExchange(t, ln.Addr().String(), tc.req)
			var got []int
			for _, a := range answers {
				got = append(got, a.status)
			}
			same := cmp.Equal(got, tc.want)
			switch {
			case tc.guard && same:
				t.Errorf("fasthttp alone answers %v, as the table wants: the guard's rule for this row can go", got)
			case !tc.guard && !same:
				t.Errorf("fasthttp alone answers %v, want %v: the guard must refuse this row", got, tc.want)
			}
		})
	}
}
