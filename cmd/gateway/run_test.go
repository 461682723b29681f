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
	"strings"
	"testing"
)

// startDemo runs the whole program with -demo on a loopback port and
// returns its base URL; the program stops when the test ends.
func startDemo(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		err := run(ctx, []string{"-demo"}, getenv, strings.NewReader(""), pw, io.Discard)
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
