//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var demoEnv = []string{"GATEWAY_ADDR=127.0.0.1:0", "ALMA_SRU_URL=", "ALMA_API_URL=", "ALMA_API_KEY=", "REDIS_URL=", "GATEWAY_CONFIG=", "GATEWAY_ADMIN_TOKEN="}

// startDemo runs `gateway -demo` and returns its address and the lines it
// printed after "listening" (up to the dashboard's, the last).
func startDemo(t *testing.T) (string, []string) {
	t.Helper()
	p := start(t, "gateway -demo", demoEnv, gatewayBin, "-demo")
	base := p.waitLine(t, listenLine, 90*time.Second)[1]
	return base, demoLines(t, p.lines)
}

func demoLines(t *testing.T, lines <-chan string) []string {
	t.Helper()
	var out []string
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-lines:
			out = append(out, l)
			if strings.Contains(l, "/dashboard") {
				return out
			}
		case <-deadline:
			t.Fatalf("the demo printed no dashboard line; it printed:\n%s", strings.Join(out, "\n"))
		}
	}
}

var printedURL = regexp.MustCompile(`https?://[^\s']+`)

// opacRun is what integration/node/opac.mjs reports.
type opacRun struct {
	Requests      []string   `json:"requests"`
	External      []string   `json:"external"`
	PageErrors    []string   `json:"pageErrors"`
	SearchLink    []string   `json:"searchLink"`
	TabToSearch   int        `json:"tabToSearch"`
	Page1         opacPage   `json:"page1"`
	Page2         opacPage   `json:"page2"`
	RecordHref    string     `json:"recordHref"`
	Record        opacRecord `json:"record"`
	PhoneOverflow bool       `json:"phoneOverflow"`
	Where         *struct {
		Hash   string   `json:"hash"`
		Here   string   `json:"here"`
		Others []string `json:"others"`
		None   bool     `json:"none"`
	} `json:"where"`
	Facets      string   `json:"facets"`
	ErrorShown  string   `json:"errorShown"`
	Pager       []string `json:"pager"`
	LiveFacets  string   `json:"liveFacets"`
	ResultMeta  []string `json:"resultMeta"`
	RecordFacts []string `json:"recordFacts"`
	Back        *string  `json:"back"`
	BackHash    string   `json:"backHash"`
	Sorted      struct {
		Hash     string   `json:"hash"`
		Requests []string `json:"requests"`
		Years    []string `json:"years"`
	} `json:"sorted"`
	Mylib *struct {
		Chosen string `json:"chosen"`
		Held   string `json:"held"`
	} `json:"mylib"`
	StaleText   string `json:"staleText"`
	TimeoutNote string `json:"timeoutNote"`
	Race        *struct {
		Error   string   `json:"error"`
		Heading []string `json:"heading"`
	} `json:"race"`
}

type opacPage struct {
	Heading string `json:"heading"`
	Results []struct {
		Title string `json:"title"`
		Href  string `json:"href"`
		Held  string `json:"held"`
	} `json:"results"`
	Hash string `json:"hash"`
}

type opacRecord struct {
	Title string     `json:"title"`
	Held  string     `json:"held"`
	Rows  [][]string `json:"rows"`
	Where []string   `json:"where"`
}

// TestOPACPageInChromium drives the search page of `gateway -demo` in
// headless Chromium (puppeteer-core): search by keyboard, page with next,
// open a record with its live availability, follow "where else can I get
// it". What the page shows is compared with the JSON feed's answers; every
// request the page makes must go to the gateway. Screenshots are kept in
// testdata/out/.
func TestOPACPageInChromium(t *testing.T) {
	node := tool(t, "node")
	chromiumBin := tool(t, "chromium")
	if _, err := os.Stat("node/node_modules/puppeteer-core/package.json"); err != nil {
		t.Fatal("puppeteer-core is not installed: cd integration/node && npm ci (or run: sudo bash scripts/install-tools.sh)")
	}
	base, _ := startDemo(t)
	out, err := filepath.Abs(filepath.Join("testdata", "out"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "opac.mjs", base, out)
	cmd.Dir = "node"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumBin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node opac.mjs: %v\n%s\n%s", err, stdout, tail(stderr.String(), 4096))
	}
	var run opacRun
	if err := json.Unmarshal(stdout, &run); err != nil {
		t.Fatalf("node opac.mjs printed no JSON: %v\n%s", err, stdout)
	}

	if len(run.External) > 0 {
		t.Errorf("the page loaded URLs outside the gateway: %v", run.External)
	}
	if len(run.Requests) < 5 {
		t.Errorf("only %d requests seen: %v", len(run.Requests), run.Requests)
	}
	for _, u := range run.Requests {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("request to %s, not the gateway %s", u, base)
		}
	}
	if len(run.PageErrors) > 0 {
		t.Errorf("script errors on the page: %v", run.PageErrors)
	}
	if d := cmp.Diff([]string{"application/opensearchdescription+xml", "/opensearch.xml"}, run.SearchLink); d != "" {
		t.Errorf("<link rel=search> (-want +got):\n%s", d)
	}
	if run.TabToSearch == 0 {
		t.Error("the search box cannot be reached with Tab")
	}

	// The two result pages show the feed's titles, in order.
	for i, pg := range []opacPage{run.Page1, run.Page2} {
		start := 1 + 10*i
		var feed struct {
			Total   int `json:"total"`
			Records []struct {
				MMSID    string `json:"mms_id"`
				Title    string `json:"title"`
				Holdings []any  `json:"holdings"`
			} `json:"records"`
		}
		getJSON(t, base+"/v1/search?q=history&limit=10&start="+strconv.Itoa(start), &feed)
		var want, got []string
		for _, r := range feed.Records {
			want = append(want, r.Title+" #record/"+r.MMSID)
		}
		for _, r := range pg.Results {
			got = append(got, r.Title+" "+r.Href)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("page %d results (-feed +page):\n%s", i+1, d)
		}
		if wantH := "Results " + strconv.Itoa(start) + "–" + strconv.Itoa(start+len(feed.Records)-1) + " of " + strconv.Itoa(feed.Total); pg.Heading != wantH {
			t.Errorf("page %d heading %q, want %q", i+1, pg.Heading, wantH)
		}
		for j, r := range pg.Results {
			if len(feed.Records[j].Holdings) > 0 && !strings.HasPrefix(r.Held, "Held by: ") {
				t.Errorf("%s: holdings shown as %q", r.Title, r.Held)
			}
		}
	}
	if run.Page2.Hash != "#q=history&start=11" {
		t.Errorf("after Next the fragment is %q", run.Page2.Hash)
	}

	// The record view shows one row per live availability entry.
	id := strings.TrimPrefix(run.RecordHref, "#record/")
	var rec struct {
		Title        string `json:"title"`
		Availability []any  `json:"availability"`
		Holdings     []struct {
			Institution string  `json:"institution"`
			IZMMSID     *string `json:"iz_mms_id"`
		} `json:"holdings"`
	}
	getJSON(t, base+"/v1/records/"+id, &rec)
	if run.Record.Title != rec.Title || len(run.Record.Rows) != len(rec.Availability) || len(rec.Availability) == 0 {
		t.Errorf("record %s: page shows %q with %d availability rows, the feed %q with %d", id, run.Record.Title, len(run.Record.Rows), rec.Title, len(rec.Availability))
	}
	if run.PhoneOverflow {
		t.Error("the record view is wider than a phone's screen")
	}

	// "Where else" lists the other members the availability endpoint names.
	if run.Where == nil || len(run.Record.Where) == 0 {
		t.Fatalf("no record with a \"where else\" link was found: %+v", run.Record)
	}
	m := regexp.MustCompile(`^#where/(\d+)/(.+)$`).FindStringSubmatch(run.Where.Hash)
	if m == nil {
		t.Fatalf("where-else fragment %q", run.Where.Hash)
	}
	code, _ := url.PathUnescape(m[2])
	var av struct {
		LocallyAvailable bool `json:"locally_available"`
		Network          []struct {
			Institution string `json:"institution"`
		} `json:"network"`
	}
	getJSON(t, base+"/v1/availability/"+m[1]+"?institution="+url.QueryEscape(code), &av)
	if len(run.Where.Others) != len(av.Network) || (len(av.Network) == 0) != run.Where.None {
		t.Errorf("where else: page lists %v, the endpoint %d members", run.Where.Others, len(av.Network))
	}
	for i, n := range av.Network {
		if i < len(run.Where.Others) && !strings.Contains(run.Where.Others[i], n.Institution) {
			t.Errorf("where else %d: page %q, endpoint %s", i, run.Where.Others[i], n.Institution)
		}
	}
	if want := "available here"; av.LocallyAvailable != strings.HasSuffix(run.Where.Here, ": "+want) {
		t.Errorf("local availability shown as %q, endpoint says %v", run.Where.Here, av.LocallyAvailable)
	}
	// Issue 22, the search page as a patron.
	if !strings.Contains(run.Facets, "German (3)") || !strings.Contains(run.Facets, "English (2)") {
		t.Errorf("language facet shown as %q, want names, not codes", run.Facets)
	}
	if !strings.Contains(run.LiveFacets, "institution") || !strings.Contains(run.LiveFacets, "year") {
		t.Errorf("the gateway's own facets are not shown beside the results: %q", run.LiveFacets)
	}
	if len(run.Pager) < 3 || run.Pager[0] != "[1]" || !slices.Contains(run.Pager, "2") || run.Pager[len(run.Pager)-1] != "Next →" {
		t.Errorf("pager on page 1 is %q, want [1] 2 … Next →", run.Pager)
	}
	for _, m := range run.ResultMeta {
		if regexp.MustCompile(`· (ger|eng|fre)$`).MatchString(m) {
			t.Errorf("a result's language shows as a code: %q", m)
		}
	}
	if i := slices.Index(run.RecordFacts, "Language"); i < 0 || i+1 >= len(run.RecordFacts) || len(run.RecordFacts[i+1]) <= 3 {
		t.Errorf("record facts %q: the language is not named", run.RecordFacts)
	}
	if !strings.Contains(run.Sorted.Hash, "sort=date") || len(run.Sorted.Requests) == 0 || !strings.Contains(strings.Join(run.Sorted.Requests, " "), "sort=date") {
		t.Errorf("the sort control: fragment %q, feed requests %q", run.Sorted.Hash, run.Sorted.Requests)
	}
	if ys := slices.DeleteFunc(slices.Clone(run.Sorted.Years), func(s string) bool { return s == "" }); !slices.IsSortedFunc(ys, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("newest first shows years %q", run.Sorted.Years)
	}
	if run.Back == nil || run.BackHash != *run.Back || !strings.HasPrefix(run.BackHash, "#q=history") {
		t.Errorf("back to results: link %v, landed on %q", run.Back, run.BackHash)
	}
	if run.Mylib == nil {
		t.Error("no record with several holders to choose the patron's own library on")
	} else if !strings.HasPrefix(run.Mylib.Held, "Held by: ") || !strings.Contains(strings.SplitN(run.Mylib.Held, ";", 2)[0], run.Mylib.Chosen) {
		t.Errorf("with %s chosen as my library the holders read %q", run.Mylib.Chosen, run.Mylib.Held)
	}
	if strings.Contains(run.StaleText, "unavailable") || !strings.Contains(run.StaleText, "Dec 6, 2026, 8:10") {
		t.Errorf("a saved copy (as_of 01:10:28Z, reader in New York) reads %q", run.StaleText)
	}
	if !strings.Contains(run.TimeoutNote, "loc did not answer in time") {
		t.Errorf("a timed-out target is noted as %q", run.TimeoutNote)
	}
	if run.Race == nil || run.Race.Error != "" || !slices.Contains(run.Race.Heading, "Live availability") {
		t.Errorf("after a slow earlier request failed: %+v", run.Race)
	}
	if run.ErrorShown == "" {
		t.Error("a failing request showed no error")
	}
	for _, name := range []string{"opac-results.png", "opac-record.png", "opac-record-phone.png", "opac-where.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Errorf("no screenshot %s: %v", name, err)
			continue
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s is not a PNG: %v", name, err)
		}
		f.Close()
	}
	t.Logf("screenshots in %s", out)
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	code, _, body := get(t, u)
	if code != http.StatusOK {
		t.Fatalf("%s answered %d: %s", u, code, head(string(body), 300))
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

// TestOpenSearchDescriptionFollowed checks /opensearch.xml with xmllint
// (well-formed) and follows each of its URL templates.
func TestOpenSearchDescriptionFollowed(t *testing.T) {
	base, _ := startDemo(t)
	code, _, body := get(t, base+"/opensearch.xml")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	f := filepath.Join(t.TempDir(), "opensearch.xml")
	if err := os.WriteFile(f, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runXMLLint(tool(t, "xmllint"), []string{"--noout", "--nonet", f}); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
	var d struct {
		URLs []struct {
			Type     string `xml:"type,attr"`
			Template string `xml:"template,attr"`
		} `xml:"Url"`
	}
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{searchTerms}", "history", "{startIndex}", "1", "{count}", "5")
	seen := map[string]bool{}
	for _, u := range d.URLs {
		target := fill.Replace(u.Template)
		if strings.Contains(target, "{") {
			t.Errorf("template %s has a parameter the test does not know", u.Template)
			continue
		}
		code, h, body := get(t, target)
		if code != http.StatusOK {
			t.Errorf("%s (%s) answered %d", target, u.Type, code)
			continue
		}
		seen[u.Type] = true
		switch u.Type {
		case "application/json":
			var feed struct {
				Total   int   `json:"total"`
				Records []any `json:"records"`
			}
			if err := json.Unmarshal(body, &feed); err != nil || feed.Total == 0 || len(feed.Records) != 5 {
				t.Errorf("%s: total %d, %d records (%v)", target, feed.Total, len(feed.Records), err)
			}
		case "application/sru+xml":
			page, err := parseSRU(body)
			if err != nil || page.total == 0 || len(page.records) != 5 {
				t.Errorf("%s: total %d, %d records (%v)", target, page.total, len(page.records), err)
			}
		case "text/html":
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte(`rel="search"`)) {
				t.Errorf("%s is not the search page", target)
			}
		case "application/opensearchdescription+xml":
			if !bytes.Contains(body, []byte("<OpenSearchDescription")) {
				t.Errorf("%s is not the description", target)
			}
		}
	}
	for _, typ := range []string{"text/html", "application/json", "application/sru+xml"} {
		if !seen[typ] {
			t.Errorf("no working %s template", typ)
		}
	}
}

// TestREADMEDemoOnAFreshClone does what a new user does: clone the
// repository, run the README's build-and-run command as written, and open
// every URL the demo prints (curl, each 200; the DAIA answer valid against
// the vendored DAIA schema). Then `go run` as the README shows it, stopped
// with SIGTERM to the go command: the gateway must not stay on the port.
func TestREADMEDemoOnAFreshClone(t *testing.T) {
	git, curl := tool(t, "git"), tool(t, "curl")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const buildRun = "go build -o bin/gateway ./cmd/gateway && ./bin/gateway -demo"
	const goRun = "go run ./cmd/gateway -demo"
	for _, c := range []string{buildRun, goRun} {
		if !bytes.Contains(readme, []byte("\n"+c+"\n")) {
			t.Fatalf("the README no longer shows %q on a line of its own", c)
		}
	}
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command(git, "clone", "--quiet", "..", dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}

	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	// GOFLAGS as a user has it by default (this machine's go env turns VCS
	// stamping off), so that the build records the clone's revision.
	sh := startShell(t, dir, buildRun, "GATEWAY_ADDR=127.0.0.1:"+strconv.Itoa(port), "GOFLAGS=-buildvcs=auto")
	sh.waitLine(t, listenLine, 15*time.Minute) // the build comes first: minutes on a loaded 2-core machine (a hang guard)
	lines := demoLines(t, sh.lines)
	var urls []string
	for _, l := range lines {
		urls = append(urls, printedURL.FindAllString(l, -1)...)
	}
	paths := map[string]bool{}
	for _, u := range urls {
		if !strings.HasPrefix(u, base+"/") {
			continue // the simulator's own address
		}
		p, _ := url.Parse(u)
		paths[p.Path] = true
		out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", u).CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Errorf("curl %s: %s %v", u, out, err)
		}
		if p.Path == "/v1/daia" {
			_, _, body := get(t, u)
			validateDAIA(t, body)
		}
	}
	for _, p := range []string{"/", "/v1/search", "/v1/records/", "/v1/availability/", "/v1/daia", "/opensearch.xml", "/sru", "/v1/status", "/dashboard", "/metrics"} {
		found := false
		for q := range paths {
			if q == p || strings.HasSuffix(p, "/") && strings.HasPrefix(q, p) {
				found = true
			}
		}
		if !found {
			t.Errorf("the demo printed no URL for %s; it printed:\n%s", p, strings.Join(lines, "\n"))
		}
	}
	sh.stopGroup(t)

	// `gateway version` names the clone's revision, from the build info
	// (issue 22: it printed "dev").
	head, err := exec.Command(git, "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(dir, "bin", "gateway"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "revision "+strings.TrimSpace(string(head))+",") || !strings.HasPrefix(string(out), "gateway v0.0.0-") {
		t.Errorf("gateway version in a clone at %s: %q %v, want the module's pseudo-version and that revision", head, out, err)
	}

	// go run, stopped as a supervisor or `kill` stops it: SIGTERM to the
	// go command alone. The gateway it built must leave the port. Twice:
	// the first go run builds into a temporary go-build directory, the
	// second runs the binary Go (1.24 on) cached in GOCACHE (issue 22).
	for run := 1; run <= 2; run++ {
		port = freePort(t)
		gr := startShell(t, dir, "exec "+goRun, "GATEWAY_ADDR=127.0.0.1:"+strconv.Itoa(port))
		gr.waitLine(t, listenLine, 15*time.Minute)
		exe := childExe(t, gr.cmd.Process.Pid)
		if run == 2 && strings.Contains(exe, "/go-build") && filepath.Base(filepath.Dir(exe)) == "exe" {
			t.Errorf("the second go run did not run from the build cache (%s): the cached case went untested", exe)
		}
		if err := gr.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-gr.done
		for i := 0; ; i++ {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				break
			}
			c.Close()
			if i == 600 { // a hang guard, not a timing requirement
				t.Fatalf("go run %d (gateway %s): a minute after go run ended, the gateway still listens on %d", run, exe, port)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(gr.stderr.String(), "gateway stopped") {
			t.Errorf("go run %d (gateway %s): the gateway did not shut down cleanly:\n%s", run, exe, tail(gr.stderr.String(), 2048))
		}
	}
}

// childExe returns the executable of the one child of process pid (the
// gateway go run started), read from /proc (the go command forks from any
// of its threads, so every thread's children are read).
func childExe(t *testing.T, pid int) string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of go run (%d): %v", pid, err)
	}
	var kids []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("children of go run (%d): %v", pid, err)
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	if len(kids) != 1 {
		t.Fatalf("go run (%d) has children %q, want the gateway alone", pid, kids)
	}
	exe, err := os.Readlink("/proc/" + kids[0] + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// startShell runs a command line with bash in dir, in its own process
// group so the test can end everything it started.
func startShell(t *testing.T, dir, line string, env ...string) *shellProc {
	t.Helper()
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), demoEnv...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &shellProc{proc: &proc{name: line, cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan struct{})}}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", line, err)
	}
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := out.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				select {
				case p.lines <- string(buf[:i]):
				default:
				}
				buf = buf[i+1:]
			}
			if err != nil {
				break
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stopGroup(t) })
	return p
}

type shellProc struct{ *proc }

// stopGroup ends the shell and everything it started (SIGTERM, then KILL).
func (p *shellProc) stopGroup(t *testing.T) {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // a child left behind
}

// validateDAIA checks a body against the vendored DAIA schema.
func validateDAIA(t *testing.T, body []byte) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("../gateway/testdata/daia/daia.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("DAIA answer is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("DAIA answer is not valid DAIA: %v\n%s", err, head(string(body), 2000))
	}
}
