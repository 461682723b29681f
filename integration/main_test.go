//go:build integration

// Package integration drives the built gateway binary, as separate
// processes on loopback, with the real clients its users have: YAZ's zoomsh
// and yaz-client, the npm @natlibfi/sru-client, xmllint with the SRU 2.0 and
// MARC 21 schemas, a real redis-server shared by two gateways, and headless
// Chromium for the staff dashboard and CORS. Every answer is checked against
// the simulated Alma network's own answer to the same question, read from the
// simulator over HTTP.
//
// A missing tool fails the test with the command that installs it
// (scripts/install-tools.sh installs them all); it is never a skip.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/almanet/gateway/internal/testtool"
)

// gatewayBin is the gateway binary that TestMain builds once per run.
var gatewayBin string

// schemaDir holds the XML schemas (SPEC 3.1), vendored with their sources
// in the repository's testdata/schemas.
var schemaDir = testtool.SchemaDir()

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gateway-integration-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBin = filepath.Join(dir, "gateway")
	args := []string{"build", "-o", gatewayBin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/gateway")...)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: building the gateway: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// installHint says how to get each external tool (Debian packages; see
// scripts/install-tools.sh, which installs all of them).
var installHint = map[string]string{
	"zoomsh":       "apt-get install -y yaz",
	"yaz-client":   "apt-get install -y yaz",
	"xmllint":      "apt-get install -y libxml2-utils",
	"redis-server": "apt-get install -y redis-server",
	"chromium":     "apt-get install -y chromium",
	"node":         "apt-get install -y nodejs npm",
}

// tool returns the path of an external program, failing the test (never
// skipping it) when the program is not installed.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: %s (or run: sudo bash scripts/install-tools.sh)", name, installHint[name])
	}
	return p
}

// proc is a child process whose standard output is scanned for lines and
// whose standard error is kept for failure messages.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's answer, valid after done
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and
// the test reading it.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a program and kills it when the test ends. The child also
// dies with the test binary (Pdeathsig), so a panicking or timed-out test
// leaks nothing.
func start(t *testing.T, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads any more; drop
			}
		}
		io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop kills the process (if it still runs) and waits for it.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	if i := strings.Index(p.stderr.String(), "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("%s reported a data race:\n%s", p.name, head(p.stderr.String()[i:], 8192))
	}
	if t.Failed() {
		if s := p.stderr.String(); s != "" {
			t.Logf("%s stderr (last 4 KiB):\n%s", p.name, tail(s, 4096))
		}
	}
}

// kill ends the process at once (SIGKILL), as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// waitLine waits for a stdout line matching re and returns its submatches.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l := <-p.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-p.done:
			t.Fatalf("%s exited before printing %q: %v\nstderr:\n%s", p.name, re, p.err, tail(p.stderr.String(), 4096))
		case <-deadline:
			t.Fatalf("%s printed no line matching %q in %s\nstderr:\n%s", p.name, re, within, tail(p.stderr.String(), 4096))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// sim is a running `gateway simulate` process.
type sim struct {
	*proc
	base  string // http://127.0.0.1:PORT
	sru   string // the NZ SRU base
	nzKey string
}

var (
	simSRULine = regexp.MustCompile(`^\s*NZ SRU:\s+(http://\S+)`)
	simKeyLine = regexp.MustCompile(`^\s*NZ API key:\s+(\S+)`)
	listenLine = regexp.MustCompile(`^gateway listening on (http://\S+)$`)
)

// simRecords is the size of the simulated network: big enough for several
// Alma pages per query and every showcase record, small enough to start in
// about a second.
const simRecords = "2000"

// startSim runs `gateway simulate` on a free loopback port and reads its
// URLs and NZ key from what it prints.
func startSim(t *testing.T) *sim {
	t.Helper()
	p := start(t, "simulator", nil, gatewayBin, "simulate", "-addr", "127.0.0.1:0", "-records", simRecords)
	sru := p.waitLine(t, simSRULine, 60*time.Second)[1]
	key := p.waitLine(t, simKeyLine, 10*time.Second)[1]
	u, err := url.Parse(sru)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{proc: p, base: "http://" + u.Host, sru: sru, nzKey: key}
}

// gw is a running gateway process.
type gw struct {
	*proc
	base string
}

// startGateway runs the gateway against s with the given extra environment
// (KEY=VALUE) and waits until it listens.
func startGateway(t *testing.T, s *sim, env ...string) *gw {
	t.Helper()
	e := append([]string{
		"GATEWAY_ADDR=127.0.0.1:0",
		"ALMA_SRU_URL=" + s.sru,
		"ALMA_API_URL=" + s.base,
		"ALMA_API_KEY=" + s.nzKey,
		"GATEWAY_CONFIG=",
		"GATEWAY_ADMIN_TOKEN=",
		"REDIS_URL=",
	}, env...)
	p := start(t, "gateway", e, gatewayBin)
	base := p.waitLine(t, listenLine, 30*time.Second)[1]
	g := &gw{proc: p, base: base}
	waitHTTP(t, g.base+"/readyz")
	return g
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, u string) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if i == 200 {
			t.Fatalf("%s never answered 200 (last error %v)", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get fetches u and returns status, headers and body; a transport error
// fails the test.
func get(t *testing.T, u string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	code, h, body, err := fetch(u, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, body
}

// fetch is get for goroutines other than the test's: it returns the error.
func fetch(u string, hdr ...string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("GET %s: reading body: %v", u, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// counters are the simulator's request counters (GET /_sim/counters).
type counters struct {
	SRU  int64 `json:"sru"`
	Bibs int64 `json:"bibs"`
	All  int64 `json:"all"`
	// Writes is how many writes took effect in Alma.
	Writes int64 `json:"writes"`
}

func (s *sim) counters(t *testing.T) counters {
	t.Helper()
	code, _, body := get(t, s.base+"/_sim/counters")
	var c counters
	if code != http.StatusOK || json.Unmarshal(body, &c) != nil {
		t.Fatalf("/_sim/counters answered %d: %s", code, body)
	}
	return c
}

// simRequest is one entry of the simulator's request log (GET /_sim/requests).
type simRequest struct {
	Time           time.Time           `json:"time"`
	Endpoint       string              `json:"endpoint"`
	Method         string              `json:"method"`
	Path           string              `json:"path"`
	Query          map[string][]string `json:"query"`
	KeyInURL       bool                `json:"key_in_url"`
	MaximumRecords int                 `json:"maximum_records"`
}

func (s *sim) requests(t *testing.T) []simRequest {
	t.Helper()
	code, _, body := get(t, s.base+"/_sim/requests")
	var log []simRequest
	if code != http.StatusOK || json.Unmarshal(body, &log) != nil {
		t.Fatalf("/_sim/requests answered %d: %s", code, body)
	}
	return log
}

// setFault injects a fault over the simulator's control path.
func (s *sim) setFault(t *testing.T, endpoint, kind string, times int) {
	t.Helper()
	body := fmt.Sprintf(`{"endpoint":%q,"kind":%q,"times":%d}`, endpoint, kind, times)
	resp, err := http.Post(s.base+"/_sim/faults", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_sim/faults %s: %d %s", body, resp.StatusCode, b)
	}
}

// truth is the simulated Alma's own answer to a query: its hit count and
// the MMS IDs of the first records, in Alma's order.
type truth struct {
	total int
	ids   []string
}

// ask asks the simulator's SRU endpoint directly (as Alma's SRU client
// would, 50 records a page) for the hit count and up to max MMS IDs.
func (s *sim) ask(t *testing.T, query string, max int) truth {
	t.Helper()
	var tr truth
	for start := 1; ; start += 50 {
		q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {query},
			"startRecord": {strconv.Itoa(start)}, "maximumRecords": {strconv.Itoa(min(50, max-len(tr.ids)))}}
		code, _, body := get(t, s.sru+"?"+q.Encode())
		if code != http.StatusOK {
			t.Fatalf("simulator SRU %s answered %d", query, code)
		}
		page, err := parseSRU(body)
		if err != nil {
			t.Fatalf("simulator SRU %s: %v", query, err)
		}
		if len(page.diagnostics) > 0 {
			t.Fatalf("simulator SRU %s: diagnostic %v", query, page.diagnostics)
		}
		tr.total = page.total
		for _, r := range page.records {
			tr.ids = append(tr.ids, r.mmsID)
		}
		if len(page.records) == 0 || len(tr.ids) >= max || len(tr.ids) >= tr.total {
			return tr
		}
	}
}

// sruPage is what a test needs from an SRU searchRetrieve response.
type sruPage struct {
	version     string
	total       int
	next        int
	records     []sruRecord
	diagnostics []string // "uri|details"
	stale       bool
}

type sruRecord struct {
	position int
	schema   string
	mmsID    string // 001 of a MARCXML record
	title    string // 245 $a of a MARCXML record, dc:title of a DC one
	data     []byte // the recordData's element, as sent
}

// parseSRU reads an SRU 1.2 or 2.0 searchRetrieve response by local names.
func parseSRU(body []byte) (*sruPage, error) {
	p := &sruPage{}
	dec := xml.NewDecoder(bytes.NewReader(body))
	var (
		stack    []string
		rec      *sruRecord
		dataFrom int64 = -1
		diagURI  string
		sub      string // current datafield tag+subfield code
		inTag001 bool
	)
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			name := e.Name.Local
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			if parent == "recordData" && rec != nil && dataFrom < 0 {
				dataFrom = offsetOfStart(body, dec.InputOffset())
			}
			stack = append(stack, name)
			switch {
			case name == "record" && parent == "records":
				rec = &sruRecord{}
			case name == "searchRetrieveResponse":
				for _, a := range e.Attr {
					if a.Value == "http://www.loc.gov/zing/srw/" {
						p.version = "1.2"
					} else if a.Value == "http://docs.oasis-open.org/ns/search-ws/sruResponse" {
						p.version = "2.0"
					}
				}
			case name == "controlfield":
				inTag001 = attr(e, "tag") == "001"
			case name == "datafield":
				sub = attr(e, "tag")
			case name == "subfield":
				if strings.HasPrefix(sub, "245") {
					sub = "245" + attr(e, "code")
				}
			}
		case xml.EndElement:
			name := e.Name.Local
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch {
			case parent == "recordData" && rec != nil && dataFrom >= 0 && rec.data == nil:
				rec.data = body[dataFrom:dec.InputOffset()]
			case name == "record" && parent == "records" && rec != nil:
				p.records = append(p.records, *rec)
				rec, dataFrom = nil, -1
			case name == "controlfield":
				inTag001 = false
			case name == "datafield":
				sub = ""
			}
		case xml.CharData:
			text := strings.TrimSpace(string(e))
			if len(stack) == 0 {
				continue
			}
			cur := stack[len(stack)-1]
			parent := ""
			if len(stack) > 1 {
				parent = stack[len(stack)-2]
			}
			switch {
			case cur == "numberOfRecords" && parent == "searchRetrieveResponse":
				p.total, _ = strconv.Atoi(text)
			case cur == "nextRecordPosition" && parent == "searchRetrieveResponse":
				p.next, _ = strconv.Atoi(text)
			case cur == "recordPosition" && rec != nil:
				rec.position, _ = strconv.Atoi(text)
			case cur == "recordSchema" && rec != nil && parent == "record":
				rec.schema = text
			case cur == "controlfield" && inTag001 && rec != nil:
				rec.mmsID = text
			case cur == "subfield" && sub == "245a" && rec != nil && rec.title == "":
				rec.title = strings.TrimRight(text, " /:;,.")
			case cur == "title" && rec != nil && rec.title == "":
				rec.title = text
			case cur == "uri" && parent == "diagnostic":
				diagURI = text
			case cur == "details" && parent == "diagnostic":
				p.diagnostics = append(p.diagnostics, diagURI+"|"+text)
				diagURI = ""
			case cur == "stale":
				p.stale = text == "true"
			}
		}
	}
	if diagURI != "" {
		p.diagnostics = append(p.diagnostics, diagURI+"|")
	}
	return p, nil
}

// offsetOfStart finds where the start tag that ends at end begins.
func offsetOfStart(body []byte, end int64) int64 {
	return int64(bytes.LastIndexByte(body[:end], '<'))
}

func attr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// sruGet asks the gateway's /sru and parses the answer.
func (g *gw) sruGet(t *testing.T, params url.Values) (*sruPage, http.Header, []byte) {
	t.Helper()
	code, h, body := get(t, g.base+"/sru?"+params.Encode())
	if code != http.StatusOK {
		t.Fatalf("/sru?%s answered %d: %s", params.Encode(), code, tail(string(body), 2048))
	}
	p, err := parseSRU(body)
	if err != nil {
		t.Fatalf("/sru?%s: %v\n%s", params.Encode(), err, tail(string(body), 2048))
	}
	return p, h, body
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// metric reads one unlabelled sample from a Prometheus text exposition.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	code, _, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d", code)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, l)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// nonLatin are titles of the simulated network's showcase records in
// non-Latin scripts (almasim's specials): a client must show them intact.
var nonLatin = []struct{ query, title string }{
	{`alma.title="История науки"`, "История науки"},
	{`alma.title="日本の歴史"`, "日本の歴史"},
	{`alma.title="한국의 역사와 문화"`, "한국의 역사와 문화"},
}
