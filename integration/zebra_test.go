//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/almanet/gateway/transform"
)

// Z39.50 targets (SPEC 15) through the gateway binary: Index Data's Zebra
// (zebraidx and zebrasrv, the engine of every Koha library) over a MARC
// collection this test builds from the simulated network, and YAZ's
// yaz-ztest, both federated over Z39.50 with the simulated NZ.

func init() {
	installHint["zebraidx"] = "apt-get install -y idzebra-2.0"
	installHint["zebrasrv"] = "apt-get install -y idzebra-2.0"
}

// zebraCollection is what the test put into Zebra: copies of NZ records
// as they are (their 001 the NZ's MMS ID), copies catalogued again by
// another library (their own 001, no 035s: they join the NZ record by ISBN
// or by title, author and year), and a record only Zebra has.
type zebraCollection struct {
	iso       []byte            // the ISO 2709 file zebraidx reads
	same      []string          // MMS IDs of the copies kept as they are
	recat     map[string]string // Zebra's own 001 → the NZ MMS ID it is a copy of
	localOnly string            // the 001 of the record only Zebra has
}

// buildZebraCollection asks the simulator's NZ for query and builds the
// collection from its first records.
func buildZebraCollection(t *testing.T, s *sim, query string) zebraCollection {
	t.Helper()
	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {query}, "maximumRecords": {"12"}}
	code, _, body := get(t, s.sru+"?"+q.Encode())
	if code != http.StatusOK {
		t.Fatalf("simulator SRU: %d", code)
	}
	var recs []*transform.Record
	sc := transform.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		r, err := transform.Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) < 10 {
		t.Fatalf("the simulator has %d records for %s, want 10", len(recs), query)
	}
	c := zebraCollection{recat: map[string]string{}}
	add := func(leader string, fields []transform.Field) {
		r, err := transform.Parse(transform.AppendFields(nil, leader, fields))
		if err != nil {
			t.Fatal(err)
		}
		if c.iso, err = r.AppendISO2709(c.iso); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		fields := r.Fields()
		switch {
		case i < 6:
			c.same = append(c.same, r.MMSID)
		case len(r.ISBNs) > 0 || len(r.Authors) > 0:
			// Catalogued again elsewhere: its own number, no 035.
			own := fmt.Sprintf("zb%04d", i)
			c.recat[own] = r.MMSID
			fields = slices.DeleteFunc(fields, func(f transform.Field) bool { return f.Tag == "035" })
			for j := range fields {
				if fields[j].Tag == "001" {
					fields[j].Value = own
				}
			}
		default:
			continue
		}
		add(r.Leader, fields)
	}
	c.localOnly = "zb-local-1"
	add("00000nam a2200000 a 4500", []transform.Field{
		{Tag: "001", Value: c.localOnly},
		{Tag: "008", Value: "991231s1999    sz            000 0 ger d"},
		{Tag: "100", Ind1: "1", Ind2: " ", Subfields: []transform.Subfield{{Code: "a", Value: "Zebrowski, Zora"}}},
		{Tag: "245", Ind1: "1", Ind2: "0", Subfields: []transform.Subfield{{Code: "a", Value: "A history of the striped horse"}, {Code: "c", Value: "Zora Zebrowski."}}},
		{Tag: "260", Ind1: " ", Ind2: " ", Subfields: []transform.Subfield{{Code: "a", Value: "Zürich"}, {Code: "b", Value: "Koha Press"}, {Code: "c", Value: "1999"}}},
	})
	return c
}

// gwmarcAbs is the Zebra indexing rules of the test's database: Zebra's own
// usmarc.abs plus the identifiers, subjects and date of the gateway's
// default Bib-1 map (ISBN 1=7, ISSN 1=8, 001 as 1=12, subjects 1=21,
// date 1=31).
const gwmarcAbs = `name gwmarc
reference USmarc
attset bib1.att
tagset usmarc.tag
marc usmarc.mar
esetname B usmarc-b.est
esetname F @
all any
elm 001			Local-number		Local-number:w
elm 008			other			Date-of-publication:w:range(data,7,4)
elm 020			ISBN			-
elm 020/?		ISBN			-
elm 020/?/a		ISBN			ISBN:w
elm 022			ISSN			-
elm 022/?		ISSN			-
elm 022/?/a		ISSN			ISSN:w
elm 100			Author-name-personal	-
elm 100/?		Author-name-personal	!:w,!:p,Author:w,Author:p
elm 110			Author-name-corporate	-
elm 110/?		Author-name-corporate	!:w,!:p,Author:w,Author:p
elm 245			title			-
elm 245/?		title			!:w
elm 245/?/a		title			!:w,!:p
elm 260			Place-publication	-
elm 260/?		Place-publication	-
elm 260/?/a		Place-publication	!:w
elm 260/?/b		Publisher		!:w
elm 260/?/c		Date			!:w
elm 650			Subject-heading		-
elm 650/?		Subject-heading		!:w
elm 700			Author			-
elm 700/?		Author			Author:w,Author:p
`

// startZebra indexes iso with zebraidx and serves it with zebrasrv on a
// free loopback port (database Default); it returns the address.
func startZebra(t *testing.T, iso []byte) string {
	t.Helper()
	idx, srv := tool(t, "zebraidx"), tool(t, "zebrasrv")
	dir := t.TempDir()
	tab := "/usr/share/idzebra-2.0/tab"
	if _, err := os.Stat(filepath.Join(tab, "bib1.att")); err != nil {
		t.Fatalf("Zebra's tables are not at %s: %v (apt-get install -y idzebra-2.0)", tab, err)
	}
	modules, _ := filepath.Glob("/usr/lib/*/idzebra-2.0/modules")
	if len(modules) == 0 {
		t.Fatal("Zebra's record filter modules are not installed (apt-get install -y libidzebra-2.0-modules)")
	}
	reg := filepath.Join(dir, "reg")
	if err := os.Mkdir(reg, 0o755); err != nil {
		t.Fatal(err)
	}
	// lockDir and -p keep Zebra's lock and pid files out of the working
	// directory (the repository).
	cfg := fmt.Sprintf("profilePath: %s:%s\nmodulePath: %s\nattset: bib1.att\nattset: explain.att\nrecordType: grs.marc.gwmarc\nregister: %s:100M\nlockDir: %s\nisam: b\nencoding: utf-8\n",
		dir, tab, modules[0], reg, dir)
	files := map[string][]byte{"zebra.cfg": []byte(cfg), "gwmarc.abs": []byte(gwmarcAbs), "records.mrc": iso}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "zebra.cfg")
	out := runTool(t, "", idx, "-c", conf, "-d", "Default", "update", filepath.Join(dir, "records.mrc"))
	if !strings.Contains(out, "Records:") {
		t.Fatalf("zebraidx indexed nothing:\n%s", tail(out, 4096))
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	start(t, "zebrasrv", nil, srv, "-c", conf, "-l", filepath.Join(dir, "zebrasrv.log"), "-p", filepath.Join(dir, "zebrasrv.pid"), "tcp:"+addr)
	waitTCP(t, addr)
	return addr
}

// waitTCP waits until addr accepts connections.
func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if i == 200 {
			t.Fatalf("%s never accepted a connection: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// zFedAnswer is what these tests read of a federated /v1/search.
type zFedAnswer struct {
	Total   int `json:"total"`
	Records []struct {
		MMSID    string `json:"mms_id"`
		Title    string `json:"title"`
		Holdings []struct {
			Institution string `json:"institution"`
		} `json:"holdings"`
		Sources []struct {
			Target string `json:"target"`
			ID     string `json:"id"`
		} `json:"sources"`
	} `json:"records"`
	Targets []struct {
		Name       string `json:"name"`
		Status     string `json:"status"`
		Hits       int    `json:"hits"`
		Fetched    int    `json:"fetched"`
		Dropped    int    `json:"dropped"`
		Diagnostic *struct {
			URI, Message, Details string
		} `json:"diagnostic"`
	} `json:"targets"`
}

func zFederated(t *testing.T, g *gw, params url.Values) zFedAnswer {
	t.Helper()
	code, _, body := get(t, g.base+"/v1/search?"+params.Encode())
	var r zFedAnswer
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("/v1/search?%s: %d %s", params.Encode(), code, head(string(body), 2000))
	}
	return r
}

// TestZebraAndYazZtestAsZ39_50Targets federates the simulated NZ with a
// Zebra holding copies of its records (some catalogued again, one of its
// own) and with yaz-ztest, both over Z39.50 through the gateway binary.
// Zebra's copies merge into the NZ records (by MMS ID, or by ISBN or
// title, author and year for the re-catalogued ones) and the merged records
// keep the NZ's holdings; Zebra's own record comes as its own; yaz-ztest's
// records arrive; a query Bib-1 cannot say skips both.
func TestZebraAndYazZtestAsZ39_50Targets(t *testing.T) {
	s := startSim(t)
	const query = "alma.title=history"
	coll := buildZebraCollection(t, s, query)
	zebra := startZebra(t, coll.iso)
	ztestPort := freePort(t)
	ztest := fmt.Sprintf("127.0.0.1:%d", ztestPort)
	start(t, "yaz-ztest", nil, tool(t, "yaz-ztest"), "-l", filepath.Join(t.TempDir(), "ztest.log"), "tcp:"+ztest)
	waitTCP(t, ztest)

	cfg := fmt.Sprintf(`targets:
  - name: zebra
    protocol: z3950
    address: %s
    database: Default
    page_size: 5
  - name: ztest
    protocol: z3950
    address: %s
    database: Default
    max_records: 10
groups:
  zall: [nz, zebra, ztest]
  zebranz: [nz, zebra]
`, zebra, ztest)
	file := filepath.Join(t.TempDir(), "z.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, s, "GATEWAY_CONFIG="+file, "GATEWAY_FEDERATION_TIMEOUT=10s")

	nz := zFederated(t, g, url.Values{"query": {query}, "targets": {"nz"}, "limit": {"100"}})
	nzHoldings := map[string][]string{}
	for _, r := range nz.Records {
		for _, h := range r.Holdings {
			nzHoldings[r.MMSID] = append(nzHoldings[r.MMSID], h.Institution)
		}
	}

	r := zFederated(t, g, url.Values{"query": {query}, "targets": {"zall"}, "limit": {"100"}})
	want := 1 + len(coll.same) + len(coll.recat)
	for _, tg := range r.Targets {
		if tg.Status != "ok" {
			t.Errorf("target %s: %s %+v", tg.Name, tg.Status, tg.Diagnostic)
		}
		switch tg.Name {
		case "zebra":
			if tg.Hits != want || tg.Fetched != want || tg.Dropped != 0 {
				t.Errorf("zebra: %d hits, %d fetched, %d dropped; want %d records", tg.Hits, tg.Fetched, tg.Dropped, want)
			}
		case "ztest":
			if tg.Hits == 0 || tg.Fetched != min(tg.Hits, 10) {
				t.Errorf("yaz-ztest: %d hits, %d fetched (max_records 10)", tg.Hits, tg.Fetched)
			}
		}
	}
	joined := map[string]string{} // Zebra's record ID → the merged record's MMS ID
	withHoldings := 0
	for _, rec := range r.Records {
		var inNZ bool
		var zebraIDs []string
		for _, src := range rec.Sources {
			switch src.Target {
			case "nz":
				inNZ = true
			case "zebra":
				zebraIDs = append(zebraIDs, src.ID)
			}
		}
		for _, id := range zebraIDs {
			joined[id] = ""
			if inNZ {
				joined[id] = rec.MMSID
			}
		}
		if inNZ && len(zebraIDs) > 0 {
			var got []string
			for _, h := range rec.Holdings {
				got = append(got, h.Institution)
			}
			if w := nzHoldings[rec.MMSID]; !slices.Equal(got, w) {
				t.Errorf("merged record %s: holdings %v, want the network's %v", rec.MMSID, got, w)
			}
			if len(got) > 0 {
				withHoldings++
			}
		}
	}
	for _, id := range coll.same {
		if joined[id] != id {
			t.Errorf("Zebra's copy %s: merged into %q, want the NZ record %s", id, joined[id], id)
		}
	}
	for own, nzID := range coll.recat {
		if joined[own] != nzID {
			t.Errorf("Zebra's re-catalogued copy %s: merged into %q, want the NZ record %s", own, joined[own], nzID)
		}
	}
	if v, ok := joined[coll.localOnly]; !ok || v != "" {
		t.Errorf("Zebra's own record %s: present %v, merged into %q", coll.localOnly, ok, v)
	}
	if withHoldings == 0 {
		t.Error("no record merged from nz and Zebra has holdings: the check above proved nothing")
	}

	// yaz-ztest alone is a pass-through (SPEC 14): its own total, and its
	// records (MARC-8 by their blank leader/09) with their titles.
	r = zFederated(t, g, url.Values{"query": {query}, "targets": {"ztest"}, "limit": {"10"}})
	titled := 0
	for _, rec := range r.Records {
		if rec.Title != "" {
			titled++
		}
	}
	if r.Total == 0 || len(r.Records) != min(r.Total, 10) || titled != len(r.Records) {
		t.Errorf("yaz-ztest alone: total %d, %d records, %d with a title", r.Total, len(r.Records), titled)
	}

	// Zebra and the network alone: Zebra's own record is there with its
	// title, decoded as Zebra sent it.
	r = zFederated(t, g, url.Values{"query": {`alma.title="striped horse"`}, "targets": {"zebranz"}})
	if len(r.Records) != 1 || !strings.HasPrefix(r.Records[0].Title, "A history of the striped horse") {
		t.Errorf("Zebra's own record: %+v", r.Records)
	}

	// A query Bib-1 cannot say (masking inside a term) is not sent to
	// either Z39.50 target.
	r = zFederated(t, g, url.Values{"query": {`alma.title="hist*ory"`}, "targets": {"zall"}})
	for _, tg := range r.Targets {
		if (tg.Name == "zebra" || tg.Name == "ztest") && tg.Status != "skipped" {
			t.Errorf("masking inside a term: %s is %s, want skipped", tg.Name, tg.Status)
		}
	}
	_, _, body := get(t, g.base+"/metrics")
	for _, w := range []string{`gateway_target_info{kind="z3950",target="zebra",upstream="z3950:zebra"} 1`, `gateway_target_info{kind="z3950",target="ztest",upstream="z3950:ztest"} 1`} {
		if !strings.Contains(string(body), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}
