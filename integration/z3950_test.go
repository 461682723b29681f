//go:build integration

package integration

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/transform"
)

func init() {
	installHint["tshark"] = "apt-get install -y tshark"
	installHint["yaz-marcdump"] = "apt-get install -y yaz"
	installHint["yaz-ztest"] = "apt-get install -y yaz"
}

var z3950Line = regexp.MustCompile(`^z39\.50 listening on tcp:(\S+) `)

// startZ3950 runs a gateway with Z39.50 on a free loopback port and
// returns it with the Z39.50 address.
func startZ3950(t *testing.T, s *sim, env ...string) (*gw, string) {
	t.Helper()
	g := startGateway(t, s, append([]string{"GATEWAY_Z3950_ADDR=127.0.0.1:0"}, env...)...)
	return g, g.waitLine(t, z3950Line, 30*time.Second)[1]
}

// yazZ runs yaz-client against a Z39.50 database with a script on stdin
// and returns its output and its APDU log (-a).
func yazZ(t *testing.T, target, script string) (out, apdu string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "apdu.log")
	out = runTool(t, script+"quit\n", tool(t, "yaz-client"), "-a", log, "tcp:"+target)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("yaz-client wrote no APDU log: %v", err)
	}
	return out, string(b)
}

// apduTrouble finds what YAZ says when it cannot decode a PDU.
var apduTrouble = regexp.MustCompile(`(?i)warning|odr|decod|malformed|bad |unknown|error`)

func checkAPDULog(t *testing.T, apdu string) {
	t.Helper()
	for _, l := range strings.Split(apdu, "\n") {
		// Diagnostic texts are the server's words, not YAZ's complaints.
		if apduTrouble.MatchString(l) && !strings.Contains(l, "addinfo") && !strings.Contains(l, "condition") {
			t.Errorf("YAZ's APDU log complains: %q", l)
		}
	}
	for _, pdu := range []string{"initResponse", "searchResponse"} {
		if !strings.Contains(apdu, pdu) {
			t.Errorf("APDU log has no %s:\n%s", pdu, head(apdu, 2000))
		}
	}
}

// sruTruth is the gateway's own SRU answer (MARCXML) for a CQL query.
func sruTruth(t *testing.T, g *gw, cql string, max int) *sruPage {
	t.Helper()
	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {cql}, "maximumRecords": {strconv.Itoa(max)}}
	_, _, body := get(t, g.base+"/sru?"+q.Encode())
	p, err := parseSRU(body)
	if err != nil || len(p.diagnostics) > 0 {
		t.Fatalf("SRU %s: %v %v", cql, err, p.diagnostics)
	}
	return p
}

// comparable is a MARC record as compared across formats: the leader's
// non-computed positions and the fields.
func comparable(t *testing.T, data []byte) (string, []transform.Field) {
	t.Helper()
	r, err := transform.Parse(data)
	if err != nil {
		t.Fatalf("parsing a record: %v\n%s", err, head(string(data), 500))
	}
	l := r.Leader
	if len(l) < 24 {
		l += strings.Repeat(" ", 24-len(l))
	}
	// 0-4 record length and 12-16 base address are computed by each
	// format; 9 is the character coding (ISO 2709 here says "a", UTF-8).
	return l[5:9] + l[10:12] + l[17:], r.Fields()
}

var (
	yazHitsAll  = regexp.MustCompile(`Number of hits: (\d+)`)
	zoomZHits   = regexp.MustCompile(`/Default: (\d+) hits`)
	iso001      = regexp.MustCompile(`(?m)^001 (\d+)$`)
	nucCodeLine = regexp.MustCompile(`(?m)^nucCode: (\S+)`)
)

// TestZ3950YazClient drives the gateway's Z39.50 server with yaz-client:
// hit counts equal the SRU endpoint's for the same query; MARC21 records
// (ISO 2709, saved by set_marcdump and converted by yaz-marcdump) carry
// the same fields as the SRU MARCXML; MARCXML, Dublin Core, OPAC with the
// member holdings, SUTRS; named result sets, present out of range, delete;
// YAZ's APDU log decodes every PDU without a complaint.
func TestZ3950YazClient(t *testing.T) {
	s := startSim(t)
	g, addr := startZ3950(t, s)
	history := sruTruth(t, g, `alma.title="history"`, 10)
	both := sruTruth(t, g, `alma.title="history" and alma.creator="author"`, 1)
	music := sruTruth(t, g, `alma.title="music"`, 1)
	if history.total < 10 {
		t.Fatalf("the simulator has only %d history titles", history.total)
	}
	dump := filepath.Join(t.TempDir(), "records.mrc")
	// set_marcdump keeps every record shown after it: MARC21 only here.
	_, apdu := yazZ(t, addr+"/Default", "find @attr 1=4 history\nformat usmarc\nset_marcdump "+dump+"\nshow 1+10\n")
	checkAPDULog(t, apdu)
	out, apdu := yazZ(t, addr+"/Default", `find @and @attr 1=4 history @attr 1=1003 author
find @attr 1=4 history
format xml
elements marcxml
show 1+3
elements dc
show 4
format opac
elements F
show 1+2
format sutrs
show 5
show 99999+1
find @attr 1=4 music
show 1+1+2
delete 2
show 1+1+2
`)
	checkAPDULog(t, apdu)
	var hits []int
	for _, m := range yazHitsAll.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		hits = append(hits, n)
	}
	if diff := cmp.Diff(hits, []int{both.total, history.total, music.total}); diff != "" {
		t.Errorf("hit counts against SRU's (-got +want):\n%s", diff)
	}

	// MARC21: yaz-marcdump reads the ISO 2709 records yaz-client saved.
	xmlOut := runTool(t, "", tool(t, "yaz-marcdump"), "-i", "marc", "-o", "marcxml", dump)
	recs := regexp.MustCompile(`(?s)<record.*?</record>`).FindAllString(xmlOut, -1)
	if len(recs) != 10 {
		t.Fatalf("yaz-marcdump read %d records from the MARC21 dump, want 10", len(recs))
	}
	for i, r := range recs {
		gotL, gotF := comparable(t, []byte(r))
		wantL, wantF := comparable(t, history.records[i].data)
		if diff := cmp.Diff(gotF, wantF); diff != "" || gotL != wantL {
			t.Errorf("record %d: ISO 2709 via yaz-marcdump differs from SRU MARCXML (leader %q vs %q):\n%s", i+1, gotL, wantL, diff)
		}
	}
	// MARCXML and Dublin Core.
	var wantIDs []string
	for _, r := range history.records[:3] {
		wantIDs = append(wantIDs, r.mmsID)
	}
	if got := ids001(out); len(got) < 3 || !cmp.Equal(got[:3], wantIDs) {
		t.Errorf("MARCXML records %v, want %v", got, wantIDs)
	}
	if !strings.Contains(out, "<dc:title>") {
		t.Errorf("no Dublin Core record in the output")
	}
	// OPAC: the member 852s of records 1 and 2, each with one holdings
	// entry per library and location of its live AVA (issue 22).
	var want852 []string
	for _, r := range history.records[:2] {
		rec, _ := transform.Parse(r.data)
		for _, h := range rec.Holdings {
			want852 = append(want852, h.Institution)
		}
	}
	var got852 []string
	for _, m := range nucCodeLine.FindAllStringSubmatch(out, -1) {
		got852 = append(got852, m[1])
	}
	if diff := cmp.Diff(slices.Compact(got852), want852); diff != "" || len(want852) == 0 {
		t.Errorf("OPAC holdings (-got +want):\n%s", diff)
	}
	for _, want := range []string{"callNumber:", "localLocation:", "availableNow:"} {
		if !strings.Contains(out, want) {
			t.Errorf("yaz-client shows no %s in the OPAC records: no live circulation", want)
		}
	}
	// SUTRS.
	if !strings.Contains(out, "MMS ID: "+history.records[4].mmsID) {
		t.Errorf("SUTRS record 5 does not name MMS ID %s", history.records[4].mmsID)
	}
	for _, want := range []string{
		"[13] Present request out of range",
		"[30] Specified result set does not exist",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("yaz-client did not report %q:\n%s", want, tail(out, 3000))
		}
	}
}

// TestZ3950Zoomsh: zoomsh in Z39.50 mode gets the SRU endpoint's hit
// count and records (by 001, in order) for the same query, as MARC21 and
// MARCXML.
func TestZ3950Zoomsh(t *testing.T) {
	s := startSim(t)
	g, addr := startZ3950(t, s)
	want := sruTruth(t, g, `alma.title="science"`, 10)
	out, _ := zoomsh(t, "connect tcp:"+addr+"/Default", "set preferredRecordSyntax usmarc",
		"search @attr 1=4 science", "show 0 10",
		"set preferredRecordSyntax xml", "set elementSetName marcxml", "show 0 3")
	if got := hitsOf(t, zoomZHits, out); got != want.total {
		t.Errorf("zoomsh: %d hits, SRU %d", got, want.total)
	}
	var wantIDs []string
	for _, r := range want.records {
		wantIDs = append(wantIDs, r.mmsID)
	}
	var got []string
	for _, m := range iso001.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1])
	}
	if diff := cmp.Diff(got, wantIDs); diff != "" {
		t.Errorf("MARC21 records shown by zoomsh (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(ids001(out), wantIDs[:3]); diff != "" {
		t.Errorf("MARCXML records shown by zoomsh (-got +want):\n%s", diff)
	}
}

// TestZ3950Tshark captures a yaz-client session on loopback and has
// Wireshark's Z39.50 dissector decode it: every PDU type of the session
// appears, with no malformed-packet or expert error.
func TestZ3950Tshark(t *testing.T) {
	tshark := tool(t, "tshark")
	s := startSim(t)
	_, addr := startZ3950(t, s)
	_, port, _ := net.SplitHostPort(addr)
	pcap := filepath.Join(t.TempDir(), "z3950.pcap")
	capture := start(t, "tshark", nil, tshark, "-i", "lo", "-w", pcap, "-f", "tcp port "+port)
	for i := 0; !strings.Contains(capture.stderr.String(), "Capturing on"); i++ {
		if i == 600 {
			t.Fatalf("tshark did not start capturing:\n%s", capture.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // "Capturing on" comes a moment before the capture does
	yazZ(t, addr+"/Default", `find @attr 1=4 history
format usmarc
show 1+2
format xml
elements marcxml
show 3
format opac
elements F
show 4
format sutrs
show 5
show 99999+1
delete 1
close
`)
	time.Sleep(500 * time.Millisecond) // let the last segments reach the capture
	capture.cmd.Process.Signal(syscall.SIGINT)
	<-capture.done
	out := runTool(t, "", tshark, "-r", pcap, "-d", "tcp.port=="+port+",z3950", "-V")
	for _, bad := range []string{"Malformed", "Expert Info (Error", "Dissector bug", "[Exception"} {
		if i := strings.Index(out, bad); i >= 0 {
			t.Errorf("tshark reports %q:\n%s", bad, out[max(0, i-1500):min(len(out), i+500)])
		}
	}
	for _, pdu := range []string{"initRequest", "initResponse", "searchRequest", "searchResponse",
		"presentRequest", "presentResponse", "deleteResultSetRequest", "deleteResultSetResponse", "close"} {
		if !strings.Contains(out, pdu) {
			t.Errorf("the dissector shows no %s", pdu)
		}
	}
	if t.Failed() {
		os.WriteFile(filepath.Join("testdata", "out", "z3950-tshark.txt"), []byte(out), 0o644)
	}
}

// TestZ3950DemoLine: gateway -demo prints a yaz-client line that works.
func TestZ3950DemoLine(t *testing.T) {
	p := start(t, "gateway -demo", []string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_CONFIG="}, gatewayBin, "-demo")
	m := p.waitLine(t, regexp.MustCompile(`^\s+yaz-client (tcp:\S+/Default)$`), 60*time.Second)
	out := runTool(t, "find @attr 1=4 history\nshow 1\nquit\n", tool(t, "yaz-client"), m[1])
	if n := hitsOf(t, yazHits, out); n == 0 || !strings.Contains(out, "Record type: USmarc") {
		t.Errorf("the printed yaz-client line gave %d hits:\n%s", n, tail(out, 2000))
	}
}

var (
	marc010 = regexp.MustCompile(`tag="010"[^>]*>\s*<subfield code="a">\s*(\d+)\s*</subfield>`)
	marc490 = regexp.MustCompile(`tag="490"[^>]*>\s*<subfield code="a">([^<;]+?) ;</subfield>`)
	marc035 = regexp.MustCompile(`<subfield code="a">\(OCoLC\)(\d+)</subfield>`)
)

// TestZ3950DemoIdentifierRows: in `gateway -demo`, yaz-client's OCLC
// (1211), LCCN (9) and series (5) searches find what SRU finds for the same
// index (issue 22: they answered 114, because the simulator's explain
// listed ten indexes and the gateway took its word for it).
func TestZ3950DemoIdentifierRows(t *testing.T) {
	p := start(t, "gateway -demo", []string{"GATEWAY_ADDR=127.0.0.1:0", "ALMA_SRU_URL=", "ALMA_API_URL=", "ALMA_API_KEY=", "REDIS_URL=", "GATEWAY_CONFIG="}, gatewayBin, "-demo")
	base := p.waitLine(t, listenLine, 90*time.Second)[1]
	target := p.waitLine(t, regexp.MustCompile(`^\s+yaz-client (tcp:\S+/Default)$`), 60*time.Second)[1]
	g := &gw{proc: p, base: base}
	// The explain the gateway reads at start replaces its built-in index
	// list with the simulator's: wait until it has.
	for i := 0; !strings.Contains(p.stderr.String(), "index list read from Alma's explain"); i++ {
		if i == 600 {
			t.Fatalf("the gateway did not read the simulator's explain:\n%s", tail(p.stderr.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, _, body := get(t, base+"/sru?version=1.2&operation=explain")
	if n := strings.Count(string(body), "<index>") + strings.Count(string(body), "<index "); n < 392 {
		t.Errorf("the gateway's explain lists %d indexes, want Alma's 392", n)
	}
	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {"alma.all_for_ui=history"}, "maximumRecords": {"50"}}
	_, _, body = get(t, base+"/sru?"+q.Encode())
	first := func(re *regexp.Regexp) string {
		m := re.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in the first 50 history records", re)
		}
		return string(m[1])
	}
	for _, row := range []struct {
		use   int
		term  string
		index string
	}{
		{1211, first(marc035), "alma.oclc_control_number_035_a"},
		{9, first(marc010), "alma.lccn"},
		{5, first(marc490), "alma.series"},
	} {
		t.Run(row.index, func(t *testing.T) {
			want := sruTruth(t, g, row.index+`="`+row.term+`"`, 10)
			if want.total == 0 {
				t.Fatalf("SRU finds nothing for %s=%q; the test proves nothing", row.index, row.term)
			}
			out := runTool(t, fmt.Sprintf("find @attr 1=%d \"%s\"\nquit\n", row.use, row.term), tool(t, "yaz-client"), target)
			if strings.Contains(out, "Diagnostic") {
				t.Fatalf("yaz-client find @attr 1=%d %q:\n%s", row.use, row.term, tail(out, 2000))
			}
			if got := hitsOf(t, yazHits, out); got != want.total {
				t.Errorf("1=%d %q: %d hits, SRU %s finds %d", row.use, row.term, got, row.index, want.total)
			}
		})
	}
}
