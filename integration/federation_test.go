//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The federation (SPEC 9) through the real binary: the simulated network,
// three members' IZ SRU, the simulator's external SRU 2.0 catalogue, and
// YAZ's own yaz-ztest (an SRU server nobody here wrote) as targets with
// index maps; real SRU clients against the virtual databases /sru/{db} and
// /view/sru/{db}, and xmllint against the SRU 2.0 schema.

// fedJSONAnswer is what these tests read of a federated /v1/search.
type fedJSONAnswer struct {
	Total   int `json:"total"`
	Hits    int `json:"hits"`
	Records []struct {
		MMSID   string `json:"mms_id"`
		Sources []struct {
			Target string `json:"target"`
			ID     string `json:"id"`
		} `json:"sources"`
	} `json:"records"`
	Targets []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Hits    int    `json:"hits"`
		Fetched int    `json:"fetched"`
	} `json:"targets"`
}

// startFederation runs the simulator, yaz-ztest and a gateway configured
// with them, and returns the gateway and the members asked.
func startFederation(t *testing.T) (*gw, []string) {
	t.Helper()
	s := startSim(t)
	code, _, body := get(t, s.base+"/_sim/network")
	var network struct {
		Members []struct {
			Code string `json:"code"`
		} `json:"members"`
	}
	if code != 200 || json.Unmarshal(body, &network) != nil || len(network.Members) < 3 {
		t.Fatalf("/_sim/network: %d %s", code, body)
	}
	ztest := tool(t, "yaz-ztest")
	port := freePort(t)
	start(t, "yaz-ztest", nil, ztest, "-l", filepath.Join(t.TempDir(), "ztest.log"), fmt.Sprintf("tcp:127.0.0.1:%d", port))
	zbase := fmt.Sprintf("http://127.0.0.1:%d/Default", port)
	waitHTTP(t, zbase+"?version=1.2&operation=explain")

	var members []string
	var cfg strings.Builder
	cfg.WriteString("members:\n")
	for _, m := range network.Members[:3] {
		members = append(members, m.Code)
		fmt.Fprintf(&cfg, "  - code: %s\n    sru_url: %s/view/sru/%s\n", m.Code, s.base, m.Code)
	}
	fmt.Fprintf(&cfg, `targets:
  - name: union
    url: %s/ext/sru
    version: "2.0"
    record_schema: info:srw/schema/1/marcxml-v1.1
    page_size: 25
    index_map: {alma.all_for_ui: cql.serverChoice, alma.title: dc.title, alma.creator: dc.creator}
  - name: ztest
    url: %s
    version: "1.2"
    max_records: 10
    page_size: 10
    index_map: {alma.all_for_ui: cql.serverChoice, alma.title: dc.title}
groups:
  all: [nz, %s, union]
  withztest: [nz, ztest]
`, s.base, zbase, strings.Join(members, ", "))
	file := filepath.Join(t.TempDir(), "federation.yaml")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, s, "GATEWAY_CONFIG="+file, "GATEWAY_FEDERATION_TIMEOUT=10s"), members
}

func federated(t *testing.T, g *gw, params url.Values) fedJSONAnswer {
	t.Helper()
	code, _, body := get(t, g.base+"/v1/search?"+params.Encode())
	var r fedJSONAnswer
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("/v1/search?%s: %d %s", params.Encode(), code, head(string(body), 2000))
	}
	return r
}

var gwTarget = regexp.MustCompile(`<gw:target name="([^"]+)" status="([^"]+)"`)

func TestFederationWithRealClients(t *testing.T) {
	g, members := startFederation(t)
	const query = "alma.title=history"
	want := federated(t, g, url.Values{"query": {query}, "targets": {"all"}, "limit": {"100"}})
	for _, tg := range want.Targets {
		if tg.Status != "ok" {
			t.Errorf("target %s: %s", tg.Name, tg.Status)
		}
	}
	if len(want.Targets) != len(members)+2 || want.Total == 0 || want.Total >= want.Hits {
		t.Fatalf("merged %d of %d hits from %d targets: nothing merged?", want.Total, want.Hits, len(want.Targets))
	}

	for _, path := range []string{"/sru/all", "/view/sru/all"} {
		t.Run("zoomsh "+path, func(t *testing.T) {
			out, apdu := zoomsh(t, "set sru get", "set sru_version 2.0", "connect "+g.base+path, "search cql:"+query, "show 0 3")
			m := regexp.MustCompile(regexp.QuoteMeta(path) + `: (\d+) hits`).FindStringSubmatch(out)
			if m == nil || m[1] != fmt.Sprint(want.Total) {
				t.Errorf("zoomsh hits %v, want the merged total %d:\n%s", m, want.Total, tail(out, 2048))
			}
			if n := len(marcRecordsIn(t, out)); n != 3 {
				t.Errorf("zoomsh showed %d MARC records, want 3", n)
			}
			if !strings.Contains(apdu, "GET "+path+"?") {
				t.Errorf("zoomsh did not ask %s:\n%s", path, head(apdu, 1024))
			}
		})
		t.Run("yaz-client "+path, func(t *testing.T) {
			out := runTool(t, fmt.Sprintf("sru get 1.2\nquerytype cql\nopen %s%s\nfind %s\nshow 1+2\nquit\n", g.base, path, query), tool(t, "yaz-client"))
			if got := hitsOf(t, yazHits, out); got != want.Total {
				t.Errorf("yaz-client hits %d, want %d", got, want.Total)
			}
			if n := len(marcRecordsIn(t, out)); n != 2 {
				t.Errorf("yaz-client showed %d MARC records, want 2:\n%s", n, tail(out, 2048))
			}
		})
		t.Run("npm sru-client "+path, func(t *testing.T) {
			r := nodeSRU(t, g.base+path, query, "version=2.0", "maxRecordsPerRequest=20", "retrieveAll=false")
			if r.Error != nil || r.Total == nil || *r.Total != want.Total || len(r.Records) != 20 {
				t.Fatalf("node client: error %v, total %v (want %d), %d records", deref(r.Error), deref(r.Total), want.Total, len(r.Records))
			}
			for i, rec := range r.Records {
				if ns, _, _, err := marcRecord([]byte(rec)); err != nil || ns != "http://www.loc.gov/MARC21/slim" {
					t.Errorf("record %d: %q %v", i+1, ns, err)
				}
			}
		})
		t.Run("xmllint "+path, func(t *testing.T) {
			_, _, sr := get(t, g.base+path+"?version=2.0&maximumRecords=5&query="+url.QueryEscape(query))
			_, _, ex := get(t, g.base+path+"?version=2.0&operation=explain")
			states := map[string]string{}
			for _, m := range gwTarget.FindAllStringSubmatch(string(sr), -1) {
				states[m[1]] = m[2]
			}
			if len(states) != len(members)+2 || states["nz"] != "ok" || states["union"] != "ok" {
				t.Errorf("target states in extraResponseData: %v", states)
			}
			if !bytes.Contains(ex, []byte("<database>"+strings.TrimPrefix(path, "/")+"</database>")) {
				t.Errorf("explain does not name %s", path)
			}
			xmllint(t, "sru-2.0/sruResponse.xsd", map[string][]byte{"search.xml": sr, "explain.xml": ex})
		})
	}
}

func TestFederationYazZtestAsTarget(t *testing.T) {
	g, _ := startFederation(t)
	r := federated(t, g, url.Values{"q": {"computer"}, "targets": {"withztest"}})
	states := map[string]string{}
	var zt struct{ hits, fetched int }
	for _, tg := range r.Targets {
		states[tg.Name] = tg.Status
		if tg.Name == "ztest" {
			zt.hits, zt.fetched = tg.Hits, tg.Fetched
		}
	}
	if states["ztest"] != "ok" || states["nz"] != "ok" {
		t.Fatalf("statuses %v", states)
	}
	if zt.hits == 0 || zt.fetched != min(zt.hits, 10) {
		t.Errorf("yaz-ztest: %d hits, %d fetched (max_records 10)", zt.hits, zt.fetched)
	}
	fromZtest := 0
	for _, rec := range r.Records {
		for _, s := range rec.Sources {
			if s.Target == "ztest" {
				fromZtest++
			}
		}
	}
	if fromZtest == 0 {
		t.Error("no merged record has a yaz-ztest source")
	}
	// An index its map lacks: yaz-ztest is skipped, nz answers.
	r = federated(t, g, url.Values{"query": {"alma.publisher=routledge"}, "targets": {"withztest"}})
	for _, tg := range r.Targets {
		if tg.Name == "ztest" && tg.Status != "skipped" {
			t.Errorf("unmappable query: yaz-ztest is %s, want skipped", tg.Status)
		}
	}
}
