package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/almanet/gateway/almasim"
)

// startDemo runs the whole program with -demo on a loopback port and
// returns its base URL; the program stops when the test ends.
func startDemo(t *testing.T, env map[string]string) string {
	t.Helper()
	return startDemoArgs(t, env)
}

// startDemoArgs is startDemo with more command-line flags.
func startDemoArgs(t *testing.T, env map[string]string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		err := run(ctx, append([]string{"-demo"}, flags...), getenv, strings.NewReader(""), pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "gateway listening on "); ok {
			go io.Copy(io.Discard, pr)
			return u
		}
	}
	t.Fatalf("the gateway never said where it listens: %v", sc.Err())
	return ""
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestDemoEndToEnd(t *testing.T) {
	base := startDemo(t, map[string]string{"GATEWAY_ADDR": "127.0.0.1:0"})

	code, _, body := get(t, base+"/v1/search?q=history")
	if code != http.StatusOK {
		t.Fatalf("/v1/search: status %d: %s", code, body)
	}
	var feed struct {
		Total   int `json:"total"`
		Records []struct {
			MMSID    string            `json:"mms_id"`
			Title    string            `json:"title"`
			Holdings []json.RawMessage `json:"holdings"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &feed); err != nil {
		t.Fatalf("/v1/search: %v", err)
	}
	if feed.Total == 0 || len(feed.Records) == 0 {
		t.Fatalf("/v1/search found nothing: %s", body)
	}
	held := 0
	for _, r := range feed.Records {
		if r.MMSID == "" || r.Title == "" {
			t.Errorf("record without id or title: %+v", r)
		}
		if len(r.Holdings) > 0 {
			held++
		}
	}
	if held == 0 {
		t.Errorf("no record on the first page has member holdings")
	}

	code, h, body := get(t, base+"/sru?version=1.2&operation=searchRetrieve&query=alma.all_for_ui=history")
	if code != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "xml") {
		t.Fatalf("/sru: status %d type %q", code, h.Get("Content-Type"))
	}
	var sru struct {
		XMLName xml.Name
		Number  int `xml:"numberOfRecords"`
		Records []struct {
			Data struct {
				Inner []byte `xml:",innerxml"`
			} `xml:"recordData"`
		} `xml:"records>record"`
	}
	if err := xml.Unmarshal(body, &sru); err != nil {
		t.Fatalf("/sru: not well-formed: %v", err)
	}
	if sru.XMLName.Space != "http://www.loc.gov/zing/srw/" || sru.XMLName.Local != "searchRetrieveResponse" {
		t.Errorf("/sru root = %v", sru.XMLName)
	}
	if sru.Number != feed.Total || len(sru.Records) == 0 {
		t.Errorf("/sru numberOfRecords = %d with %d records; the feed said %d", sru.Number, len(sru.Records), feed.Total)
	}
	if !bytes.Contains(sru.Records[0].Data.Inner, []byte(`tag="852"`)) && held > 0 {
		t.Logf("first SRU record carries no 852 (it may be held by nobody)")
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/status", "/dashboard"} {
		if code, _, b := get(t, base+p); code != http.StatusOK {
			t.Errorf("%s: status %d: %.200s", p, code, b)
		}
	}
}

func TestConvertCommand(t *testing.T) {
	sample := filepath.Join("..", "..", "testdata", "alma", "slsp_nz_sru_searchRetrieve_20records_852.xml")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"convert", "-to", "json", sample}, os.Getenv, nil, &out, &errOut); err != nil {
		t.Fatalf("convert: %v (%s)", err, errOut.String())
	}
	var doc struct {
		Records []struct {
			MMSID    string            `json:"mms_id"`
			Holdings []json.RawMessage `json:"holdings"`
		} `json:"records"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("convert output is not JSON: %v", err)
	}
	holdings := 0
	for _, r := range doc.Records {
		holdings += len(r.Holdings)
	}
	if len(doc.Records) != 10 || holdings != 46 {
		t.Errorf("convert gave %d records with %d holdings; the SLSP page has 10 and 46", len(doc.Records), holdings)
	}
	if err := run(context.Background(), []string{"convert", "-to", "pdf"}, os.Getenv, strings.NewReader(""), &out, &errOut); err == nil {
		t.Errorf("convert -to pdf was accepted")
	}
}

func TestBadConfigRefusedAtStart(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ALMA_SRU_URL") {
		t.Errorf("run without ALMA_SRU_URL: %v", err)
	}
}

// TestConvertSaysWhatTheInputIs: inputs that hold no MARCXML records are
// not converted to an empty list with success (issue 10): convert fails
// with one line naming what it was given, and writes nothing. The SRU
// answers come from the simulator, as a user would fetch them from Alma.
func TestConvertSaysWhatTheInputIs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := almasim.New(almasim.Config{Records: 50})
	srv, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sru := func(q string) []byte {
		t.Helper()
		_, _, b := get(t, sim.SRUURL(srv.URL())+"?"+q)
		return b
	}
	gw := startDemo(t, nil)
	gwSRU := func(q string) []byte {
		t.Helper()
		_, _, b := get(t, gw+"/sru?"+q)
		return b
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"dublin core", gwSRU("version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&recordSchema=dc"), `is an SRU searchRetrieve response in recordSchema "info:srw/schema/1/dc-v1.1" (Dublin Core): convert reads MARCXML records; ask for recordSchema=marcxml`},
		{"dublin core 2.0", gwSRU("version=2.0&query=alma.title%3Dhistory&recordSchema=dc"), `(Dublin Core): convert reads MARCXML records`},
		{"diagnostic", gwSRU("version=1.2&operation=searchRetrieve&query=alma.title%3D"), "is an SRU diagnostic response, the answer to a failed search: info:srw/diagnostic/1/10 Query syntax error (search term expected"},
		{"alma diagnostic", sru("version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&recordSchema=dc"), "is an SRU diagnostic response, the answer to a failed search: info:srw/diagnostic/1/66 "},
		{"explain", gwSRU("version=1.2&operation=explain"), "is an SRU explain response"},
		{"alma explain", sru("version=1.2&operation=explain"), "is an SRU explain response"},
		{"json", readSample(t, "princeton_bibs_api_json_anies_AVA_unavailable.json"), "is JSON, not XML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(file, tc.in, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"convert", file}, {"convert", "-to", "dc", "-"}} {
				var out, errOut bytes.Buffer
				err := run(context.Background(), args, os.Getenv, bytes.NewReader(tc.in), &out, &errOut)
				if err == nil {
					t.Fatalf("%v: no error, want one; output %.200q", args, out.String())
				}
				msg := err.Error()
				if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
					t.Errorf("%v: error %q, want one line containing %q", args, msg, tc.want)
				}
				name := file
				if args[len(args)-1] == "-" {
					name = "the input (stdin)"
				}
				if !strings.HasPrefix(msg, "convert: "+name+" is ") {
					t.Errorf("%v: error %q, want it to name %s", args, msg, name)
				}
				if out.Len() != 0 {
					t.Errorf("%v: wrote %.200q, want nothing", args, out.String())
				}
			}
		})
	}
	// Zero hits are a result, not a mistake: an empty list and success.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"convert"}, os.Getenv, bytes.NewReader(readSample(t, "princeton_iz_sru_zero_hits.xml")), &out, io.Discard); err != nil {
		t.Fatalf("zero hits: %v", err)
	}
	if got, want := out.String(), "{\"records\":[\n\n]}\n"; got != want {
		t.Errorf("zero hits: %q, want %q", got, want)
	}
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "alma", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHelpAndVersion: asking for help is no failure (no "flag: help
// requested", status 0), the help names every subcommand, and -version and
// version print the version.
func TestHelpAndVersion(t *testing.T) {
	v := versionLine(version, debug.ReadBuildInfo)
	for _, tc := range []struct {
		args       []string
		wantStdout []string // each must appear on stdout
		wantStderr []string // each must appear on stderr
	}{
		{[]string{"help"}, []string{"gateway convert", "gateway simulate", "gateway healthcheck", "gateway version", "gateway help", "-config", "-demo", "-version"}, nil},
		{[]string{"-h"}, nil, []string{"gateway convert", "gateway simulate", "gateway healthcheck", "gateway version", "-config"}},
		{[]string{"--help"}, nil, []string{"gateway healthcheck"}},
		{[]string{"simulate", "-h"}, nil, []string{"-addr", "-latency", "gateway simulate"}},
		{[]string{"convert", "-h"}, nil, []string{"-to"}},
		{[]string{"-version"}, []string{v + "\n"}, nil},
		{[]string{"version"}, []string{v + "\n"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), tc.args, os.Getenv, strings.NewReader(""), &out, &errOut); err != nil {
				t.Fatalf("run %v = %v, want nil (exit 0)", tc.args, err)
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q, want %q in it", out.String(), w)
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q, want %q in it", errOut.String(), w)
				}
			}
			if s := out.String() + errOut.String(); strings.Contains(s, "help requested") {
				t.Errorf("output says %q", s)
			}
		})
	}
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, os.Getenv, strings.NewReader(""), io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), "healthcheck") {
		t.Errorf("unknown subcommand: %v, want an error listing the subcommands", err)
	}
}

// TestVersionLine: `gateway version` names the module version and the VCS
// revision Go recorded (issue 22: it printed a bare "dev"), and says so
// when none was recorded.
func TestVersionLine(t *testing.T) {
	info := func(main string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/almanet/gateway", Version: main}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	const rev = "9da4a55b6a5703a80f521d7c75d1f23a6346b837"
	for _, tc := range []struct {
		name, ldflags string
		read          func() (*debug.BuildInfo, bool)
		want          string
	}{
		{"clone", "dev", info("v0.0.0-20261207134941-9da4a55b6a57", "vcs.revision", rev, "vcs.time", "2026-12-07T13:49:41Z", "vcs.modified", "false"),
			"gateway v0.0.0-20261207134941-9da4a55b6a57 (module v0.0.0-20261207134941-9da4a55b6a57, revision " + rev + ", committed 2026-12-07T13:49:41Z, go1.26.8)"},
		{"changed tree", "dev", info("v0.0.0-20261207134941-9da4a55b6a57+dirty", "vcs.revision", rev, "vcs.time", "2026-12-07T13:49:41Z", "vcs.modified", "true"),
			"gateway v0.0.0-20261207134941-9da4a55b6a57+dirty (module v0.0.0-20261207134941-9da4a55b6a57+dirty, revision " + rev + " with uncommitted changes, committed 2026-12-07T13:49:41Z, go1.26.8)"},
		{"go install", "dev", info("v1.2.3"), "gateway v1.2.3 (module v1.2.3, no VCS revision recorded (built with -buildvcs=false, from a git worktree, or outside a checkout), go1.26.8)"},
		{"ldflags", "1.4.0", info("(devel)", "vcs.revision", rev), "gateway 1.4.0 (module (devel), revision " + rev + ", go1.26.8)"},
		{"nothing recorded", "dev", info("(devel)"), "gateway dev (module (devel), no VCS revision recorded (built with -buildvcs=false, from a git worktree, or outside a checkout), go1.26.8)"},
		{"no build info", "dev", func() (*debug.BuildInfo, bool) { return nil, false }, "gateway dev (no build information recorded)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionLine(tc.ldflags, tc.read); got != tc.want {
				t.Errorf("versionLine =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestBuildVersion: the -ldflags version wins, then the module version Go
// recorded, then the VCS revision, then "dev".
func TestBuildVersion(t *testing.T) {
	info := func(main string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/almanet/gateway", Version: main}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name    string
		ldflags string
		read    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"ldflags", "1.4.0", info("v9.9.9"), "1.4.0"},
		{"module version", "dev", info("v1.2.3"), "v1.2.3"},
		{"pseudo-version", "", info("v0.0.0-20261201210000-0123456789ab+dirty"), "v0.0.0-20261201210000-0123456789ab+dirty"},
		{"vcs revision", "dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "false"), "dev-0123456789ab"},
		{"vcs dirty", "dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "dev-0123456789ab+dirty"},
		{"nothing recorded", "dev", info("(devel)"), "dev"},
		{"no build info", "dev", none, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildVersion(tc.ldflags, tc.read); got != tc.want {
				t.Errorf("buildVersion = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCPUProfileWrittenAtStop: -cpuprofile FILE profiles the server's run
// and writes the profile (gzip-compressed, as pprof reads it) when it stops.
func TestCPUProfileWrittenAtStop(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	t.Run("serve", func(t *testing.T) {
		base := startDemoArgs(t, map[string]string{"GATEWAY_ADDR": "127.0.0.1:0"}, "-cpuprofile", file)
		if code, _, body := get(t, base+"/v1/search?q=history"); code != http.StatusOK {
			t.Fatalf("/v1/search: status %d: %s", code, body)
		}
	}) // the subtest's cleanup stops the server
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("the profile is %d bytes and not gzip-compressed", len(b))
	}
}

func TestCPUProfileBadFile(t *testing.T) {
	err := run(context.Background(), []string{"-demo", "-cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.pprof")},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cpuprofile") {
		t.Fatalf("err = %v, want a cpuprofile error", err)
	}
}
