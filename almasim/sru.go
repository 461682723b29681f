package almasim

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// SRU 1.2 limits of Alma.
const (
	sruDefaultRecords = 10
	sruMaxRecords     = 50    // Alma's page cap; larger maximumRecords are capped, not refused
	sruMaxPosition    = 10000 // Alma pages no further than this position
)

const (
	srwNS   = "http://www.loc.gov/zing/srw/"
	diagNS  = "http://www.loc.gov/zing/srw/diagnostic/"
	xbNS    = "http://www.exlibris.com/repository/search/xmlbeans/"
	xmlDecl = `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`
)

// Diagnostic is an SRU diagnostic as Alma sends it.
type Diagnostic struct {
	URI     string // "info:srw/diagnostic/1/N", or a bare Alma number such as "200832"
	Details string
	Message string
}

func (d *Diagnostic) Error() string {
	if d.Details == "" {
		return d.URI + ": " + d.Message
	}
	return d.URI + ": " + d.Message + " (" + d.Details + ")"
}

func diagURI(n int) string { return "info:srw/diagnostic/1/" + strconv.Itoa(n) }

func newDiag(n int, details, message string) *Diagnostic {
	return &Diagnostic{URI: diagURI(n), Details: details, Message: message}
}

// missingVersion is Alma's answer to a request without version: a bare
// number as URI (sample alma_sru_diagnostic_missing_version_200832.xml).
var missingVersion = &Diagnostic{URI: "200832", Message: "Mandatory parameter version was not provided"}

// response is an answer before it is written, so that faults can corrupt it.
type response struct {
	status int
	ctype  string
	header http.Header
	body   []byte
}

const xmlType = "text/xml;charset=UTF-8"

// serveSRU answers /view/sru/<code>.
func (s *Simulator) serveSRU(r *http.Request) response {
	code := strings.TrimPrefix(r.URL.Path, "/view/sru/")
	z, ok := s.zones[code]
	if !ok {
		return response{status: http.StatusNotFound, ctype: "text/html;charset=UTF-8",
			body: []byte("<html><body><h1>HTTP Status 404 - Not Found</h1><p>Institution " + escapeText(code) + " is not known.</p></body></html>")}
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			params = r.Form
		}
	}
	if !params.Has("version") {
		return diagResponse(missingVersion)
	}
	if v := params.Get("version"); v != "1.2" {
		return diagResponse(newDiag(5, "1.2", "Unsupported version"))
	}
	switch op := params.Get("operation"); op {
	case "explain":
		return s.explain(r, z)
	case "":
		if params.Get("query") == "" {
			return s.explain(r, z)
		}
		return diagResponse(newDiag(7, "operation", "Mandatory parameter not supplied"))
	case "searchRetrieve":
		return s.searchRetrieve(z, params)
	default:
		return diagResponse(newDiag(4, op, "Unsupported operation"))
	}
}

func (s *Simulator) searchRetrieve(z *zone, params url.Values) response {
	query := params.Get("query")
	if strings.TrimSpace(query) == "" {
		return diagResponse(newDiag(7, "query", "Mandatory parameter not supplied"))
	}
	start, count := 1, sruDefaultRecords
	if v := params.Get("startRecord"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return diagResponse(newDiag(6, "startRecord", "Unsupported parameter value"))
		}
		start = n
	}
	if v := params.Get("maximumRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return diagResponse(newDiag(6, "maximumRecords", "Unsupported parameter value"))
		}
		count = min(n, sruMaxRecords)
	}
	if start > sruMaxPosition {
		return diagResponse(newDiag(61, strconv.Itoa(start), "First record position out of range"))
	}
	switch params.Get("recordSchema") {
	case "", "marcxml", "marcxml-v1.1", "info:srw/schema/1/marcxml-v1.1", "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd", "http://www.loc.gov/MARC21/slim":
	default:
		return diagResponse(newDiag(66, params.Get("recordSchema"), "Unknown schema for retrieval"))
	}
	packing := params.Get("recordPacking")
	switch packing {
	case "":
		packing = "xml"
	case "xml", "string":
	default:
		return diagResponse(newDiag(71, packing, "Unsupported record packing"))
	}
	docs, d := z.search(query)
	if d != nil {
		return diagResponse(d)
	}
	var recs []*Record // the overlay's view of docs (writes.go); nil while nothing was written
	if s.overlayActive() {
		recs = s.sruRecords(z, query, docs)
	}
	total := len(docs)
	if recs != nil {
		total = len(recs)
	}
	if total > 0 && start > total {
		return diagResponse(newDiag(61, strconv.Itoa(start), "First record position out of range"))
	}
	end := min(start+count-1, total, sruMaxPosition)

	var b bytes.Buffer
	b.Grow(1024 + max(0, end-start+1)*6000)
	b.WriteString(xmlDecl)
	b.WriteString(`<searchRetrieveResponse xmlns="` + srwNS + `">`)
	indentSRU(&b, 1)
	b.WriteString("<version>1.2</version>")
	indentSRU(&b, 1)
	b.WriteString("<numberOfRecords>" + strconv.Itoa(total) + "</numberOfRecords>")
	indentSRU(&b, 1)
	if end < start {
		b.WriteString("<records/>")
	} else {
		b.WriteString("<records>")
		for pos := start; pos <= end; pos++ {
			var rec *Record
			if recs != nil {
				rec = recs[pos-1]
			} else {
				rec = z.recs[docs[pos-1]]
			}
			indentSRU(&b, 2)
			b.WriteString("<record>")
			indentSRU(&b, 3)
			b.WriteString("<recordSchema>marcxml</recordSchema>")
			indentSRU(&b, 3)
			b.WriteString("<recordPacking>" + packing + "</recordPacking>")
			indentSRU(&b, 3)
			b.WriteString("<recordData>")
			indentSRU(&b, 4)
			if packing == "string" {
				b.Write(appendText(nil, string(rec.MARCXML)))
			} else {
				b.Write(rec.MARCXML)
			}
			indentSRU(&b, 3)
			b.WriteString("</recordData>")
			indentSRU(&b, 3)
			b.WriteString("<recordIdentifier>" + rec.MMSID + "</recordIdentifier>")
			indentSRU(&b, 3)
			b.WriteString("<recordPosition>" + strconv.Itoa(pos) + "</recordPosition>")
			indentSRU(&b, 2)
			b.WriteString("</record>")
		}
		indentSRU(&b, 1)
		b.WriteString("</records>")
	}
	next := max(end+1, start) // with maximumRecords=0 the next position is start itself
	if next <= total && next <= sruMaxPosition {
		indentSRU(&b, 1)
		b.WriteString("<nextRecordPosition>" + strconv.Itoa(next) + "</nextRecordPosition>")
	}
	indentSRU(&b, 1)
	b.WriteString(`<extraResponseData xmlns:xb="` + xbNS + `">`)
	indentSRU(&b, 2)
	b.WriteString("<xb:exact>true</xb:exact>")
	indentSRU(&b, 2)
	b.WriteString("<xb:responseDate>" + s.cfg.Now().Format("2006-01-02T15:04:05-0700") + "</xb:responseDate>")
	indentSRU(&b, 1)
	b.WriteString("</extraResponseData>")
	b.WriteString("\n</searchRetrieveResponse>\n")
	return response{status: http.StatusOK, ctype: xmlType, body: b.Bytes()}
}

// diagResponse writes a diagnostic the way Alma does: a
// searchRetrieveResponse with HTTP 200, diag: prefix, four-space indentation
// and no XML declaration (sample alma_sru_diagnostic_missing_version_200832.xml).
func diagResponse(d *Diagnostic) response {
	var b bytes.Buffer
	b.WriteString(`<searchRetrieveResponse xmlns="` + srwNS + `" xmlns:diag="` + diagNS + `">`)
	b.WriteString("\n    <version>1.2</version>\n    <diagnostics>\n        <diag:diagnostic>\n            <diag:uri>")
	b.WriteString(escapeText(d.URI))
	b.WriteString("</diag:uri>\n            ")
	if d.Details == "" {
		b.WriteString("<diag:details/>")
	} else {
		b.WriteString("<diag:details>" + escapeText(d.Details) + "</diag:details>")
	}
	b.WriteString("\n            <diag:message>" + escapeText(d.Message) + "</diag:message>")
	b.WriteString("\n        </diag:diagnostic>\n    </diagnostics>\n</searchRetrieveResponse>")
	return response{status: http.StatusOK, ctype: xmlType, body: b.Bytes()}
}

// explain describes the zone like Alma's explain (sample
// alma_explain_response_TR_INTEGRATION_INST.xml): Alma's whole index list
// (internal/almaindex), in its order, and the network zone's extra.
func (s *Simulator) explain(r *http.Request, z *zone) response {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	var b bytes.Buffer
	line := func(level int, s string) {
		indentSRU(&b, level)
		b.WriteString(s)
	}
	b.WriteString(xmlDecl + `<explainResponse xmlns="` + srwNS + `">`)
	line(1, "<version>1.2</version>")
	line(1, "<record>")
	line(2, "<recordSchema>http://explain.z3950.org/dtd/2.1/</recordSchema>")
	line(2, "<recordPacking>xml</recordPacking>")
	line(2, "<recordData>")
	line(3, `<explain xmlns="http://explain.z3950.org/dtd/2.0/" xmlns:ns="http://explain.z3950.org/dtd/2.1/">`)
	line(4, "<serverInfo>")
	line(5, "<ns:host>"+escapeText(host)+"</ns:host>")
	line(5, "<ns:port>"+escapeText(port)+"</ns:port>")
	line(5, "<ns:database>"+z.code+"</ns:database>")
	line(4, "</serverInfo>")
	line(4, "<indexInfo>")
	line(5, `<set identifier="marcxml" name="alma"/>`)
	for _, i := range explainOrder {
		d := indexDefs[i]
		if d.nzOnly && !z.nz {
			continue
		}
		if d.sortable {
			line(5, `<index sort="true">`)
		} else {
			line(5, "<index>")
		}
		line(6, "<ns:title>"+d.title+"</ns:title>")
		line(6, "<map>")
		set, name, _ := strings.Cut(d.name, ".")
		line(7, `<name set="`+set+`">`+name+"</name>")
		line(6, "</map>")
		line(6, "<configInfo>")
		for _, rel := range d.relations {
			line(7, `<supports type="relation">`+escapeText(rel)+"</supports>")
		}
		line(7, `<supports type="emptyTerm"/>`)
		line(6, "</configInfo>")
		line(5, "</index>")
	}
	line(4, "</indexInfo>")
	line(4, "<schemaInfo>")
	line(5, `<schema identifier="http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd" name="marcxml" sort="true"/>`)
	line(4, "</schemaInfo>")
	line(4, "<configInfo>")
	line(5, `<ns:default type="numberOfRecords">`+strconv.Itoa(sruDefaultRecords)+"</ns:default>")
	line(5, `<ns:setting type="maximumRecords">`+strconv.Itoa(sruMaxRecords)+"</ns:setting>")
	for _, rel := range []string{"=", "all", "any", "==", ">", "<", ">=", "<=", "<>"} {
		line(5, `<ns:supports type="relation">`+escapeText(rel)+"</ns:supports>")
	}
	line(5, `<ns:supports type="emptyTerm"/>`)
	line(4, "</configInfo>")
	line(3, "</explain>")
	line(2, "</recordData>")
	line(1, "</record>")
	b.WriteString("\n</explainResponse>\n")
	return response{status: http.StatusOK, ctype: xmlType, body: b.Bytes()}
}
