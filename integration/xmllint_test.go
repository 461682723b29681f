//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// xmllint validates every file against one schema with libxml2's xmllint
// (no network) and fails the test naming each file that does not validate,
// with xmllint's reasons.
func xmllint(t *testing.T, schema string, files map[string][]byte) {
	t.Helper()
	bin := tool(t, "xmllint")
	xsd := filepath.Join(schemaDir, schema)
	if _, err := os.Stat(xsd); err != nil {
		t.Fatalf("schema %s: %v (vendored in testdata/schemas, sources in its SOURCES.md)", xsd, err)
	}
	dir := t.TempDir()
	args := []string{"--noout", "--nonet", "--schema", xsd}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := runXMLLint(bin, args)
	for name, data := range files {
		p := filepath.Join(dir, name)
		if !strings.Contains(out, p+" validates") {
			t.Errorf("%s does not validate against %s:\n%s\n--- %s:\n%s", name, schema, linesAbout(out, p), name, head(string(data), 3000))
		}
	}
	if err != nil && !t.Failed() {
		t.Errorf("xmllint: %v\n%s", err, out)
	}
}

func runXMLLint(bin string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// linesAbout picks xmllint's messages about one file.
func linesAbout(out, path string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, path) {
			b.WriteString(strings.TrimPrefix(l, filepath.Dir(path)+"/"))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// element returns the first element with this local name (and, when ns is
// not empty, this namespace), as the bytes sent, with the namespace
// declarations it inherits from its ancestors copied onto it so that it
// stands alone as a document.
func element(t *testing.T, doc []byte, local, ns string) []byte {
	t.Helper()
	els := elements(t, doc, local, ns, 1)
	if len(els) == 0 {
		t.Fatalf("no %s element (namespace %q) in:\n%s", local, ns, head(string(doc), 2000))
	}
	return els[0]
}

// elements returns up to n elements (n < 0: all) as element does.
func elements(t *testing.T, doc []byte, local, ns string, n int) [][]byte {
	t.Helper()
	var out [][]byte
	dec := xml.NewDecoder(bytes.NewReader(doc))
	// scopes holds, per open element, the namespace declarations in scope.
	var scopes []map[string]string
	depth, from := 0, int64(-1)
	var inherited map[string]string
	for n < 0 || len(out) < n {
		off := dec.InputOffset()
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			scope := map[string]string{}
			if len(scopes) > 0 {
				for k, v := range scopes[len(scopes)-1] {
					scope[k] = v
				}
			}
			own := map[string]bool{}
			for _, a := range e.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					scope[""] = a.Value
					own[""] = true
				case a.Name.Space == "xmlns":
					scope[a.Name.Local] = a.Value
					own[a.Name.Local] = true
				}
			}
			scopes = append(scopes, scope)
			if from >= 0 {
				depth++
				continue
			}
			if e.Name.Local == local && (ns == "" || scope[e.Name.Space] == ns) {
				from, depth = off, 1
				inherited = map[string]string{}
				for k, v := range scope {
					if !own[k] {
						inherited[k] = v
					}
				}
			}
		case xml.EndElement:
			scopes = scopes[:len(scopes)-1]
			if from < 0 {
				continue
			}
			depth--
			if depth == 0 {
				out = append(out, declare(doc[from:dec.InputOffset()], inherited))
				from = -1
			}
		}
	}
	return out
}

// declare adds namespace declarations to an element's start tag.
func declare(el []byte, decls map[string]string) []byte {
	if len(decls) == 0 {
		return append([]byte(nil), el...)
	}
	end := bytes.IndexAny(el, " \t\r\n/>")
	var b bytes.Buffer
	b.Write(el[:end])
	for k, v := range decls {
		if k == "" {
			fmt.Fprintf(&b, ` xmlns="%s"`, escapeAttr(v))
		} else {
			fmt.Fprintf(&b, ` xmlns:%s="%s"`, k, escapeAttr(v))
		}
	}
	b.Write(el[end:])
	return b.Bytes()
}

func escapeAttr(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

const (
	nsMARC    = "http://www.loc.gov/MARC21/slim"
	nsSRU20   = "http://docs.oasis-open.org/ns/search-ws/sruResponse"
	nsZeeRex2 = "http://explain.z3950.org/dtd/2.0/"
)

var simRecordStart = regexp.MustCompile(`<recordData>\s*<(\w+:)?record( xmlns="")?`)

// recordShapes counts, in the simulated Alma's own answer for the first
// records of a query, the MARC records it sends in no namespace and with a
// prefix, so a test knows which of Alma's spellings it covers.
func (s *sim) recordShapes(t *testing.T, query string, n int) (noNS, prefixed int) {
	t.Helper()
	for start := 1; start <= n; start += 50 {
		q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {query},
			"startRecord": {fmt.Sprint(start)}, "maximumRecords": {fmt.Sprint(min(50, n-start+1))}}
		_, _, body := get(t, s.sru+"?"+q.Encode())
		for _, m := range simRecordStart.FindAllSubmatch(body, -1) {
			if len(m[1]) > 0 {
				prefixed++
			}
			if len(m[2]) > 0 {
				noNS++
			}
		}
	}
	return noNS, prefixed
}

// TestXMLLintValidatesGatewayOutput validates what the gateway serves with
// xmllint against the shared schemas (SPEC 3.1, 3.2): SRU 2.0 responses
// against sruResponse.xsd, the explain record against ZeeRex 2.0's
// explain.xsd, MARCXML (feed collections, single records, the records
// inside SRU 1.2 and 2.0 answers) against MARC21slim.xsd. The pages chosen
// include the records Alma sends in no namespace and with a prefix.
func TestXMLLintValidatesGatewayOutput(t *testing.T) {
	s := startSim(t)
	g := startGateway(t, s, "GATEWAY_CACHE_TTL=1s")
	// query has more than 100 hits; shapes has between 51 and 100, among
	// them records Alma sends in no namespace and with a prefix.
	const query, shapes = "alma.title=science", "alma.title=art"
	noNS, prefixed := s.recordShapes(t, shapes, 100)
	if noNS == 0 || prefixed == 0 {
		t.Fatalf("the records of %s hold %d in no namespace and %d prefixed; the test needs both", shapes, noNS, prefixed)
	}
	shapesTotal := s.ask(t, shapes, 1).total

	sru20 := func(params ...string) []byte {
		t.Helper()
		v := url.Values{"version": {"2.0"}}
		for i := 0; i+1 < len(params); i += 2 {
			v.Set(params[i], params[i+1])
		}
		code, _, body := get(t, g.base+"/sru?"+v.Encode())
		if code != http.StatusOK {
			t.Fatalf("/sru?%s answered %d", v.Encode(), code)
		}
		return body
	}
	responses := map[string][]byte{
		"marcxml-100.xml":    sru20("query", query, "maximumRecords", "100"),
		"marcxml-shapes.xml": sru20("query", shapes, "maximumRecords", "100"),
		"marcxml-uri.xml":    sru20("query", query, "maximumRecords", "10", "startRecord", "91", "recordSchema", "info:srw/schema/1/marcxml-v1.1"),
		"dc.xml":             sru20("query", query, "maximumRecords", "100", "recordSchema", "dc"),
		"string.xml":         sru20("query", query, "maximumRecords", "10", "recordXMLEscaping", "string"),
		"non-latin.xml":      sru20("query", nonLatin[0].query, "maximumRecords", "10"),
		"zero-hits.xml":      sru20("query", "alma.title=qqqzzzxxx"),
		"diag-index.xml":     sru20("query", "alma.nosuchindex=x"),
		"diag-syntax.xml":    sru20("query", "alma.title=("),
		"diag-schema.xml":    sru20("query", query, "recordSchema", "mods"),
		"diag-start.xml":     sru20("query", query, "startRecord", "10001"),
		"diag-scan.xml":      sru20("operation", "scan", "scanClause", "alma.title=x"),
		"explain.xml":        sru20(),
		"sortby.xml":         sru20("query", query+" sortBy alma.title", "maximumRecords", "5"),
		"stylesheet.xml":     sru20("query", query, "maximumRecords", "1", "stylesheet", "/s.xsl"),
		"diag-unknown.xml":   sru20("query", query, "foo", "bar"),
		"diag-nonumber.xml":  sru20("query", query, "maximumRecords", "ten"),
	}
	if p, err := parseSRU(responses["marcxml-100.xml"]); err != nil || len(p.records) != 100 {
		t.Fatalf("the 100-record page has %v records (%v)", len(p.records), err)
	}
	if p, _ := parseSRU(responses["zero-hits.xml"]); p.total != 0 || len(p.diagnostics) != 0 {
		t.Fatalf("zero-hits.xml: total %d, diagnostics %v", p.total, p.diagnostics)
	}
	for _, name := range []string{"diag-index.xml", "diag-syntax.xml", "diag-schema.xml", "diag-start.xml", "diag-scan.xml"} {
		if p, _ := parseSRU(responses[name]); len(p.diagnostics) == 0 {
			t.Errorf("%s carries no diagnostic:\n%s", name, head(string(responses[name]), 1000))
		}
	}

	t.Run("explain records against explain.xsd", func(t *testing.T) {
		files := map[string][]byte{}
		for _, version := range []string{"1.1", "1.2", "2.0"} {
			_, _, body := get(t, g.base+"/sru?version="+version+"&operation=explain")
			if version == "2.0" {
				_, _, body = get(t, g.base+"/sru?version=2.0")
			}
			ex := element(t, body, "explain", nsZeeRex2)
			files["explain-"+version+".xml"] = ex
			for _, want := range []string{"<host>127.0.0.1</host>", "<port>" + portOf(g.base) + "</port>", "<database>sru</database>"} {
				if !bytes.Contains(ex, []byte(want)) {
					t.Errorf("explain %s does not describe the gateway itself (%s):\n%s", version, want, head(string(ex), 1500))
				}
			}
		}
		xmllint(t, "sru-2.0/explain.xsd", files)
	})

	t.Run("MARCXML against MARC21slim.xsd", func(t *testing.T) {
		files := map[string][]byte{}
		for _, q := range []url.Values{
			{"query": {query}, "limit": {"100"}, "format": {"marcxml"}},
			{"query": {shapes}, "limit": {"100"}, "format": {"marcxml"}},
			{"q": {"history"}, "limit": {"50"}, "start": {"51"}, "format": {"marcxml"}},
			{"query": {nonLatin[1].query}, "limit": {"20"}, "format": {"marcxml"}},
			{"query": {"alma.title=qqqzzzxxx"}, "format": {"marcxml"}},
		} {
			code, h, body := get(t, g.base+"/v1/search?"+q.Encode())
			if code != http.StatusOK {
				t.Fatalf("/v1/search?%s answered %d: %s", q.Encode(), code, head(string(body), 500))
			}
			if ct := h.Get("Content-Type"); !strings.Contains(ct, "xml") {
				t.Errorf("/v1/search?%s Content-Type = %q", q.Encode(), ct)
			}
			files["search-"+fmt.Sprint(len(files))+".xml"] = body
		}
		page, _, _ := g.sruGet(t, url.Values{"version": {"2.0"}, "query": {query}, "maximumRecords": {"3"}})
		for _, r := range page.records {
			code, _, body := get(t, g.base+"/v1/records/"+r.mmsID+"?format=marcxml")
			if code != http.StatusOK {
				t.Fatalf("/v1/records/%s?format=marcxml answered %d", r.mmsID, code)
			}
			files["record-"+r.mmsID+".xml"] = body
		}
		for _, version := range []string{"1.2", "2.0"} {
			_, _, body := get(t, g.base+"/sru?"+url.Values{"version": {version}, "operation": {"searchRetrieve"}, "query": {shapes}, "maximumRecords": {"100"}}.Encode())
			recs := elements(t, body, "record", nsMARC, -1)
			if len(recs) != shapesTotal {
				t.Fatalf("SRU %s: %d MARC records in the answer, want %d", version, len(recs), shapesTotal)
			}
			for i, r := range recs {
				files[fmt.Sprintf("sru%s-record-%03d.xml", version, i+1)] = r
			}
		}
		xmllint(t, "MARC21slim.xsd", files)
	})

	// Last, because they make Alma fail: a stale answer and Alma down.
	// A stale answer (SPEC 4: extraResponseData) and Alma down with
	// nothing cached (diagnostic 1) must validate too.
	staleQuery := "alma.title=music"
	sru20("query", staleQuery, "maximumRecords", "3")
	time.Sleep(1500 * time.Millisecond) // past GATEWAY_CACHE_TTL=1s
	s.setFault(t, "sru", "500", 20)
	responses["stale.xml"] = sru20("query", staleQuery, "maximumRecords", "3")
	responses["alma-down.xml"] = sru20("query", "alma.title=water", "maximumRecords", "3")
	s.setFault(t, "sru", "none", 0)
	if p, _ := parseSRU(responses["stale.xml"]); !p.stale || len(p.records) != 3 {
		t.Errorf("stale.xml: stale=%v with %d records, want a stale answer with 3 records:\n%s", p.stale, len(p.records), head(string(responses["stale.xml"]), 1500))
	}
	if p, _ := parseSRU(responses["alma-down.xml"]); len(p.diagnostics) == 0 || !strings.HasPrefix(p.diagnostics[0], "info:srw/diagnostic/1/1|") {
		t.Errorf("alma-down.xml: diagnostics %v, want info:srw/diagnostic/1/1", p.diagnostics)
	}

	t.Run("SRU 2.0 responses against sruResponse.xsd", func(t *testing.T) {
		xmllint(t, "sru-2.0/sruResponse.xsd", responses)
	})

}

func portOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Port()
}
