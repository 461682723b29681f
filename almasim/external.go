package almasim

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The external target speaks SRU 2.0 the way a non-Alma server does: the
// OASIS namespaces, recordXMLEscaping instead of recordPacking, no
// recordIdentifier (the record's 001 is its identifier), pages of at most
// 25, the dc.* and bath.* index sets, and its own explain.
const (
	sru2NS       = "http://docs.oasis-open.org/ns/search-ws/sruResponse"
	diag2NS      = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
	marcSchema   = "info:srw/schema/1/marcxml-v1.1"
	extMaxRecord = 25
)

func (s *Simulator) serveExternal(r *http.Request) response {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			params = r.Form
		}
	}
	if v := params.Get("version"); v != "" && v != "2.0" {
		return diag2Response(newDiag(5, "2.0", "Unsupported version"))
	}
	op := params.Get("operation")
	if op == "" {
		op = "explain"
		if params.Has("query") {
			op = "searchRetrieve"
		}
	}
	switch op {
	case "explain":
		return s.explain2(r)
	case "searchRetrieve":
		return s.searchRetrieve2(params)
	}
	return diag2Response(newDiag(4, op, "Unsupported operation"))
}

func (s *Simulator) searchRetrieve2(params url.Values) response {
	query := params.Get("query")
	if strings.TrimSpace(query) == "" {
		return diag2Response(newDiag(7, "query", "Mandatory parameter not supplied"))
	}
	if qt := params.Get("queryType"); qt != "" && qt != "cql" {
		return diag2Response(newDiag(6, "queryType", "Unsupported parameter value"))
	}
	start, count := 1, sruDefaultRecords
	if v := params.Get("startRecord"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return diag2Response(newDiag(6, "startRecord", "Unsupported parameter value"))
		}
		start = n
	}
	if v := params.Get("maximumRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return diag2Response(newDiag(6, "maximumRecords", "Unsupported parameter value"))
		}
		count = min(n, extMaxRecord)
	}
	switch params.Get("recordSchema") {
	case "", "marcxml", marcSchema, "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd":
	default:
		return diag2Response(newDiag(66, params.Get("recordSchema"), "Unknown schema for retrieval"))
	}
	escaping := params.Get("recordXMLEscaping")
	switch escaping {
	case "":
		escaping = "xml"
	case "xml", "string":
	default:
		return diag2Response(newDiag(71, escaping, "Unsupported record packing"))
	}
	z := s.ext
	docs, d := z.search(query)
	if d != nil {
		return diag2Response(d)
	}
	total := len(docs)
	end := min(start+count-1, total)

	var b bytes.Buffer
	b.Grow(1024 + max(0, end-start+1)*5000)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<searchRetrieveResponse xmlns="` + sru2NS + `">`)
	b.WriteString("\n <version>2.0</version>\n <numberOfRecords>" + strconv.Itoa(total) + "</numberOfRecords>")
	if end >= start {
		b.WriteString("\n <records>")
		for pos := start; pos <= end; pos++ {
			rec := z.recs[docs[pos-1]]
			b.WriteString("\n  <record>\n   <recordSchema>" + marcSchema + "</recordSchema>")
			b.WriteString("\n   <recordXMLEscaping>" + escaping + "</recordXMLEscaping>\n   <recordData>")
			if escaping == "string" {
				b.Write(appendText(nil, string(rec.MARCXML)))
			} else {
				b.Write(rec.MARCXML)
			}
			b.WriteString("</recordData>\n   <recordPosition>" + strconv.Itoa(pos) + "</recordPosition>\n  </record>")
		}
		b.WriteString("\n </records>")
	}
	if end < total && end >= start {
		b.WriteString("\n <nextRecordPosition>" + strconv.Itoa(end+1) + "</nextRecordPosition>")
	}
	b.WriteString("\n</searchRetrieveResponse>\n")
	return response{status: http.StatusOK, ctype: "application/sru+xml; charset=utf-8", body: b.Bytes()}
}

// diag2Response is an SRU 2.0 searchRetrieveResponse carrying one
// diagnostic, with zero records, as HTTP 200.
func diag2Response(d *Diagnostic) response {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<searchRetrieveResponse xmlns="` + sru2NS + `" xmlns:diag="` + diag2NS + `">`)
	b.WriteString("\n <version>2.0</version>\n <numberOfRecords>0</numberOfRecords>\n <diagnostics>\n  <diag:diagnostic>")
	b.WriteString("\n   <diag:uri>" + escapeText(d.URI) + "</diag:uri>")
	if d.Details != "" {
		b.WriteString("\n   <diag:details>" + escapeText(d.Details) + "</diag:details>")
	}
	b.WriteString("\n   <diag:message>" + escapeText(d.Message) + "</diag:message>")
	b.WriteString("\n  </diag:diagnostic>\n </diagnostics>\n</searchRetrieveResponse>\n")
	return response{status: http.StatusOK, ctype: "application/sru+xml; charset=utf-8", body: b.Bytes()}
}

// explain2 is the external target's ZeeRex 2.0 explain record in an SRU 2.0
// explainResponse: its dc, bath and cql index sets, one schema, page sizes.
func (s *Simulator) explain2(r *http.Request) response {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<explainResponse xmlns="` + sru2NS + `">`)
	b.WriteString("\n <version>2.0</version>\n <record>\n  <recordSchema>http://explain.z3950.org/dtd/2.0/</recordSchema>")
	b.WriteString("\n  <recordXMLEscaping>xml</recordXMLEscaping>\n  <recordData>")
	b.WriteString("\n   <explain xmlns=\"http://explain.z3950.org/dtd/2.0/\">")
	b.WriteString("\n    <serverInfo protocol=\"SRU\" version=\"2.0\">\n     <host>" + escapeText(host) + "</host>\n     <port>" + escapeText(port) + "</port>")
	b.WriteString("\n     <database>ext/sru</database>\n    </serverInfo>")
	b.WriteString("\n    <databaseInfo>\n     <title>Simulated union catalogue (not Alma)</title>\n    </databaseInfo>")
	b.WriteString("\n    <indexInfo>")
	b.WriteString("\n     <set identifier=\"info:srw/cql-context-set/1/cql-v1.2\" name=\"cql\"/>")
	b.WriteString("\n     <set identifier=\"info:srw/cql-context-set/1/dc-v1.1\" name=\"dc\"/>")
	b.WriteString("\n     <set identifier=\"http://zing.z3950.org/cql/bath/2.0/\" name=\"bath\"/>")
	for _, name := range externalIndexNames() {
		set, idx, _ := strings.Cut(name, ".")
		b.WriteString("\n     <index>\n      <title>" + name + "</title>\n      <map><name set=\"" + set + "\">" + idx + "</name></map>\n     </index>")
	}
	b.WriteString("\n    </indexInfo>")
	b.WriteString("\n    <searchInfo>\n     <queryExample>dc.title=\"history\"</queryExample>\n     <queryExample>bath.isbn=9780000000002</queryExample>\n    </searchInfo>")
	b.WriteString("\n    <schemaInfo>\n     <schema identifier=\"" + marcSchema + "\" name=\"marcxml\"><title>MARCXML</title></schema>\n    </schemaInfo>")
	b.WriteString("\n    <configInfo>\n     <default type=\"numberOfRecords\">" + strconv.Itoa(sruDefaultRecords) + "</default>")
	b.WriteString("\n     <setting type=\"maximumRecords\">" + strconv.Itoa(extMaxRecord) + "</setting>\n    </configInfo>")
	b.WriteString("\n   </explain>\n  </recordData>\n </record>\n</explainResponse>\n")
	return response{status: http.StatusOK, ctype: "application/sru+xml; charset=utf-8", body: b.Bytes()}
}
