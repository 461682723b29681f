package sru

import (
	"bytes"
	"strconv"
	"time"
)

// Namespaces of the responses.
const (
	nsSRW      = "http://www.loc.gov/zing/srw/"                        // SRU 1.1 and 1.2
	nsSRWDiag  = "http://www.loc.gov/zing/srw/diagnostic/"             // SRU 1.1 and 1.2
	nsSRU2     = "http://docs.oasis-open.org/ns/search-ws/sruResponse" // SRU 2.0 (Part 3)
	nsSRU2Diag = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
	nsSRU2Scan = "http://docs.oasis-open.org/ns/search-ws/scan"
	nsZeeRex   = "http://explain.z3950.org/dtd/2.0/"
	// NSGateway is the namespace of the gateway's own extraResponseData.
	NSGateway = "http://almanet.github.io/gateway/ns/sru-extra"
)

// The SRU elements are written with a prefix, never as the default
// namespace: a record in no namespace (Alma sends some) embedded in
// recordData must stay in no namespace.
const zs = "zs:"

// Record is one record to write. Data is an XML element (packing "xml")
// or the bytes to escape (packing "string").
type Record struct {
	Schema     string // URI; "" → the request's
	Packing    string // "xml" or "string"; "" → the request's
	Data       []byte
	Identifier string // written as recordIdentifier in SRU 1.2
	Position   int    // recordPosition; 0 → omitted
	// WellFormed promises that Data is exactly one namespace-well-formed
	// element made of XML 1.0 characters (as transform's output is), so
	// the writer need not check it again. False: the writer checks, and
	// sends a record that fails escaped.
	WellFormed bool
}

// Result is what the gateway answers a searchRetrieve with.
type Result struct {
	Total        int
	Records      []Record
	NextPosition int // 0 = none
	Diagnostics  []Diagnostic
	Extra        *Extra
}

// Extra is written into extraResponseData in the NSGateway namespace.
type Extra struct {
	Stale bool
	AsOf  time.Time
	Cache string // "HIT", "MISS", "STALE", "COALESCED"
	// Targets are a federated answer's targets and their states (SPEC 9.2),
	// written as gw:targets; nil writes none.
	Targets []ExtraTarget
	// Complete, when set, says whether a merged answer holds every record
	// its targets have (gw:complete; SPEC 14): false while paging on may
	// still find more than numberOfRecords says.
	Complete *bool
}

// ExtraTarget is one target's state in a federated answer.
type ExtraTarget struct {
	Name, Status  string
	Hits, Fetched int
	TookMS        int64
	AsOf          time.Time   // zero: none
	Diagnostic    *Diagnostic // nil: none
}

// ExplainInfo describes the gateway for its explain record.
type ExplainInfo struct {
	Host                       string
	Port                       int
	Database                   string // path without the leading slash, e.g. "sru"
	Title                      string
	Description                string
	Indexes                    *IndexSet // nil → DefaultIndexSet()
	DefaultRecords, MaxRecords int
}

func nsOf(v Version) (ns, diagNS string) {
	if v == V20 {
		return nsSRU2, nsSRU2Diag
	}
	return nsSRW, nsSRWDiag
}

func knownVersion(v Version) Version {
	if v == V11 || v == V12 || v == V20 {
		return v
	}
	return DefaultVersion
}

// prolog writes the XML declaration and the stylesheet instruction the
// client asked for (SRU 1.2 "stylesheet": the server only echoes it).
func prolog(buf *bytes.Buffer, stylesheet string) {
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if stylesheet != "" && validStylesheet(stylesheet) {
		buf.WriteString(`<?xml-stylesheet type="text/xsl" href="`)
		writeText(buf, stylesheet)
		buf.WriteString(`"?>` + "\n")
	}
}

func openRoot(buf *bytes.Buffer, v Version, name string) {
	ns, diagNS := nsOf(v)
	buf.WriteString("<" + zs + name + ` xmlns:zs="` + ns + `" xmlns:diag="` + diagNS + `">`)
	if v != V20 {
		// SRU 2.0 dropped the version element (sruResponse.xsd comment).
		writeElem(buf, zs, "version", string(v))
	}
}

// WriteSearchRetrieve writes a searchRetrieveResponse for req in req's
// version, element order as in SRU 1.2 §searchRetrieve and sruResponse.xsd
// for 2.0: version (1.x), numberOfRecords, records, nextRecordPosition,
// echoedSearchRetrieveRequest, diagnostics, extraResponseData.
func WriteSearchRetrieve(buf *bytes.Buffer, req *Request, res *Result) {
	if req == nil {
		req = &Request{Version: DefaultVersion, Operation: "searchRetrieve", RecordSchema: SchemaMARCXML, RecordPacking: "xml"}
	}
	if res == nil {
		res = &Result{}
	}
	v := knownVersion(req.Version)
	prolog(buf, req.Stylesheet)
	openRoot(buf, v, "searchRetrieveResponse")
	writeElem(buf, zs, "numberOfRecords", strconv.Itoa(max(0, res.Total)))
	if len(res.Records) > 0 {
		buf.WriteString("<" + zs + "records>")
		for i := range res.Records {
			writeRecord(buf, v, req, &res.Records[i])
		}
		buf.WriteString("</" + zs + "records>")
	}
	if res.NextPosition > 0 {
		writeElem(buf, zs, "nextRecordPosition", strconv.Itoa(res.NextPosition))
	}
	writeEcho(buf, v, req)
	writeDiagList(buf, res.Diagnostics)
	writeExtra(buf, res.Extra)
	buf.WriteString("</" + zs + "searchRetrieveResponse>")
}

func writeRecord(buf *bytes.Buffer, v Version, req *Request, r *Record) {
	schema := r.Schema
	if schema == "" {
		schema = req.RecordSchema
	}
	if schema == "" {
		schema = SchemaMARCXML
	}
	packing := r.Packing
	if packing == "" {
		packing = req.RecordPacking
	}
	if packing != "string" {
		packing = "xml"
	}
	data := recordBytes(r.Data)
	if packing == "xml" && !r.WellFormed && !wellFormedElement(data) {
		// Embedding it would break the whole response; send this record
		// escaped instead and say so in its packing element.
		packing = "string"
	}
	buf.WriteString("<" + zs + "record>")
	writeElem(buf, zs, "recordSchema", schema)
	if v == V20 {
		writeElem(buf, zs, "recordXMLEscaping", packing)
	} else {
		writeElem(buf, zs, "recordPacking", packing)
	}
	buf.WriteString("<" + zs + "recordData>")
	if packing == "xml" {
		buf.Write(data)
	} else {
		writeTextBytes(buf, data)
	}
	buf.WriteString("</" + zs + "recordData>")
	if v == V12 && r.Identifier != "" {
		// SRU 1.2 added the optional recordIdentifier; Alma writes it
		// after recordData. 1.1 and 2.0 have no such element.
		writeElem(buf, zs, "recordIdentifier", r.Identifier)
	}
	if r.Position > 0 {
		writeElem(buf, zs, "recordPosition", strconv.Itoa(r.Position))
	}
	buf.WriteString("</" + zs + "record>")
}

// recordBytes sanitizes a record and drops a leading byte order mark and
// XML declaration, which cannot appear inside another document.
func recordBytes(b []byte) []byte {
	b = SanitizeXML(b)
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	t := bytes.TrimLeft(b, " \t\r\n")
	if bytes.HasPrefix(t, []byte("<?xml")) && len(t) > 5 && (t[5] == ' ' || t[5] == '\t' || t[5] == '\r' || t[5] == '\n' || t[5] == '?') {
		if i := bytes.Index(t, []byte("?>")); i >= 0 {
			return bytes.TrimLeft(t[i+2:], " \t\r\n")
		}
	}
	return b
}

// echo order per version (SRU 1.1/1.2 echoedSearchRetrieveRequest;
// sruResponse.xsd echoedSearchRetrieveRequestDefinition for 2.0).
var (
	echoOrder1 = []string{"version", "query", "startRecord", "maximumRecords", "recordPacking",
		"recordSchema", "resultSetTTL", "sortKeys", "stylesheet"}
	echoOrder2 = []string{"version", "queryType", "query", "startRecord", "maximumRecords",
		"recordXMLEscaping", "recordPacking", "recordSchema", "resultSetTTL", "sortKeys", "stylesheet", "httpAccept"}
)

// writeEcho writes echoedSearchRetrieveRequest from req.Echo (the query
// from req.Query).
func writeEcho(buf *bytes.Buffer, v Version, req *Request) {
	if len(req.Echo) == 0 {
		return
	}
	order := echoOrder1
	if v == V20 {
		order = echoOrder2
	}
	buf.WriteString("<" + zs + "echoedSearchRetrieveRequest>")
	for _, name := range order {
		if !req.Echo.Has(name) {
			continue
		}
		val := req.Echo.Get(name)
		if name == "query" {
			// Request.Query, so that a caller sharing one cached answer
			// among spellings of a query can echo the canonical one.
			val = req.Query
		}
		if !echoable(name, val) {
			continue
		}
		writeElem(buf, zs, name, val)
	}
	buf.WriteString("</" + zs + "echoedSearchRetrieveRequest>")
}

// echoable keeps typed echo elements valid: numbers must be numbers and
// the version one of the enumerated ones.
func echoable(name, val string) bool {
	switch name {
	case "startRecord":
		n, ok := number(val)
		return ok && n > 0
	case "maximumRecords", "resultSetTTL":
		_, ok := number(val)
		return ok
	case "version":
		return validVersion(val)
	case "recordXMLEscaping":
		return val == "xml" || val == "string"
	case "stylesheet":
		return validStylesheet(val)
	}
	return true
}

func writeDiagList(buf *bytes.Buffer, diags []Diagnostic) {
	if len(diags) == 0 {
		return
	}
	buf.WriteString("<" + zs + "diagnostics>")
	for _, d := range diags {
		writeDiag(buf, "diag:", d)
	}
	buf.WriteString("</" + zs + "diagnostics>")
}

func writeDiag(buf *bytes.Buffer, prefix string, d Diagnostic) {
	uri := d.URI
	if uri == "" {
		uri = diagPrefix + "1"
	}
	buf.WriteString("<" + prefix + "diagnostic>")
	writeElem(buf, prefix, "uri", uri)
	if d.Details != "" {
		writeElem(buf, prefix, "details", d.Details)
	}
	if d.Message != "" {
		writeElem(buf, prefix, "message", d.Message)
	}
	buf.WriteString("</" + prefix + "diagnostic>")
}

func writeExtra(buf *bytes.Buffer, e *Extra) {
	if e == nil {
		return
	}
	buf.WriteString("<" + zs + `extraResponseData><gw:gateway xmlns:gw="` + NSGateway + `">`)
	if e.Cache != "" {
		writeElem(buf, "gw:", "cache", e.Cache)
	}
	writeElem(buf, "gw:", "stale", strconv.FormatBool(e.Stale))
	if !e.AsOf.IsZero() {
		writeElem(buf, "gw:", "asOf", e.AsOf.UTC().Format(time.RFC3339))
	}
	if e.Targets != nil {
		buf.WriteString("<gw:targets>")
		for _, t := range e.Targets {
			buf.WriteString(`<gw:target name="`)
			writeText(buf, t.Name)
			buf.WriteString(`" status="`)
			writeText(buf, t.Status)
			buf.WriteString(`" hits="` + strconv.Itoa(t.Hits) + `" fetched="` + strconv.Itoa(t.Fetched) + `" tookMs="` + strconv.FormatInt(t.TookMS, 10) + `"`)
			if !t.AsOf.IsZero() {
				buf.WriteString(` asOf="` + t.AsOf.UTC().Format(time.RFC3339) + `"`)
			}
			if t.Diagnostic == nil {
				buf.WriteString("/>")
				continue
			}
			buf.WriteString(">")
			writeDiag(buf, "gw:", *t.Diagnostic)
			buf.WriteString("</gw:target>")
		}
		buf.WriteString("</gw:targets>")
	}
	if e.Complete != nil {
		writeElem(buf, "gw:", "complete", strconv.FormatBool(*e.Complete))
	}
	buf.WriteString("</gw:gateway></" + zs + "extraResponseData>")
}

// WriteDiagnostics writes a response that carries only diagnostics, in the
// element the operation calls for: searchRetrieveResponse (with
// numberOfRecords 0), explainResponse or scanResponse. An unknown version
// is answered in DefaultVersion.
func WriteDiagnostics(buf *bytes.Buffer, v Version, operation string, diags []Diagnostic) {
	v = knownVersion(v)
	if len(diags) == 0 {
		diags = []Diagnostic{*NewDiagnostic(1, "no diagnostic given")}
	}
	prolog(buf, "")
	switch operation {
	case "explain":
		openRoot(buf, v, "explainResponse")
		if v == V20 {
			// explainResponseDefinition requires a record; an empty
			// ZeeRex record says there is no explain to give.
			buf.WriteString("<" + zs + "record>")
			writeElem(buf, zs, "recordSchema", nsZeeRex)
			writeElem(buf, zs, "recordXMLEscaping", "xml")
			buf.WriteString("<" + zs + "recordData/></" + zs + "record>")
		}
		writeDiagList(buf, diags)
		buf.WriteString("</" + zs + "explainResponse>")
	case "scan":
		if v == V20 {
			// SRU 2.0 scan lives in its own namespace (scan.xsd).
			buf.WriteString(`<scan:scanResponse xmlns:scan="` + nsSRU2Scan + `" xmlns:diag="` + nsSRU2Diag + `">`)
			buf.WriteString("<scan:diagnostics>")
			for _, d := range diags {
				writeDiag(buf, "diag:", d)
			}
			buf.WriteString("</scan:diagnostics></scan:scanResponse>")
			return
		}
		openRoot(buf, v, "scanResponse")
		writeDiagList(buf, diags)
		buf.WriteString("</" + zs + "scanResponse>")
	default:
		openRoot(buf, v, "searchRetrieveResponse")
		writeElem(buf, zs, "numberOfRecords", "0")
		writeDiagList(buf, diags)
		buf.WriteString("</" + zs + "searchRetrieveResponse>")
	}
}

// WriteExplain writes the explainResponse describing the gateway: a
// ZeeRex 2.0 record (explain.xsd) with the gateway's host, port and path,
// its indexes, both record schemas and its page sizes. echo, when not nil,
// gives the packing, stylesheet and echoed parameters of the request.
func WriteExplain(buf *bytes.Buffer, v Version, info ExplainInfo, echo *Request) {
	v = knownVersion(v)
	packing, stylesheet := "xml", ""
	if echo != nil {
		if echo.RecordPacking == "string" {
			packing = "string"
		}
		stylesheet = echo.Stylesheet
	}
	prolog(buf, stylesheet)
	openRoot(buf, v, "explainResponse")
	buf.WriteString("<" + zs + "record>")
	writeElem(buf, zs, "recordSchema", nsZeeRex)
	if v == V20 {
		writeElem(buf, zs, "recordXMLEscaping", packing)
	} else {
		writeElem(buf, zs, "recordPacking", packing)
	}
	buf.WriteString("<" + zs + "recordData>")
	if packing == "xml" {
		writeZeeRex(buf, v, info)
	} else {
		var rec bytes.Buffer
		writeZeeRex(&rec, v, info)
		writeTextBytes(buf, rec.Bytes())
	}
	buf.WriteString("</" + zs + "recordData>")
	buf.WriteString("</" + zs + "record>")
	if echo != nil && len(echo.Echo) > 0 {
		buf.WriteString("<" + zs + "echoedExplainRequest>")
		names := []string{"version", "recordPacking", "stylesheet"}
		if v == V20 {
			names = []string{"version", "recordXMLEscaping", "recordPacking", "stylesheet"}
		}
		for _, name := range names {
			if val := echo.Echo.Get(name); echo.Echo.Has(name) && echoable(name, val) {
				writeElem(buf, zs, name, val)
			}
		}
		buf.WriteString("</" + zs + "echoedExplainRequest>")
	}
	buf.WriteString("</" + zs + "explainResponse>")
}

// writeZeeRex writes the explain record, in explain.xsd's element order:
// serverInfo, databaseInfo, indexInfo, searchInfo, schemaInfo, configInfo.
func writeZeeRex(buf *bytes.Buffer, v Version, info ExplainInfo) {
	idx := info.Indexes
	if idx == nil {
		idx = DefaultIndexSet()
	}
	lim := Limits{DefaultRecords: info.DefaultRecords, MaxRecords: info.MaxRecords}.withDefaults()
	port := info.Port
	if port <= 0 {
		port = 80
	}
	buf.WriteString(`<explain xmlns="` + nsZeeRex + `" authoritative="true">`)
	buf.WriteString(`<serverInfo protocol="SRU" version="`)
	writeText(buf, string(v))
	buf.WriteString(`" transport="http">`)
	writeElem(buf, "", "host", info.Host)
	writeElem(buf, "", "port", strconv.Itoa(port))
	writeElem(buf, "", "database", info.Database)
	buf.WriteString(`</serverInfo>`)

	title := info.Title
	if title == "" {
		title = "Alma network search gateway"
	}
	buf.WriteString(`<databaseInfo><title lang="en" primary="true">`)
	writeText(buf, title)
	buf.WriteString(`</title>`)
	if info.Description != "" {
		buf.WriteString(`<description lang="en" primary="true">`)
		writeText(buf, info.Description)
		buf.WriteString(`</description>`)
	}
	buf.WriteString(`</databaseInfo>`)

	buf.WriteString(`<indexInfo>`)
	for _, set := range idx.contextSets() {
		buf.WriteString(`<set name="`)
		writeText(buf, set)
		buf.WriteString(`" identifier="`)
		writeText(buf, idx.SetIdentifier(set))
		buf.WriteString(`"/>`)
	}
	for _, ix := range idx.indexes {
		buf.WriteString(`<index search="true" scan="false" sort="`)
		buf.WriteString(strconv.FormatBool(ix.Sortable))
		buf.WriteString(`">`)
		if ix.Title != "" {
			writeElem(buf, "", "title", ix.Title)
		}
		buf.WriteString(`<map><name set="`)
		writeText(buf, ix.Set)
		buf.WriteString(`">`)
		writeText(buf, ix.Name)
		buf.WriteString(`</name></map>`)
		if len(ix.Relations) > 0 {
			buf.WriteString(`<configInfo>`)
			for _, r := range ix.Relations {
				buf.WriteString(`<supports type="relation">`)
				writeText(buf, r)
				buf.WriteString(`</supports>`)
			}
			buf.WriteString(`</configInfo>`)
		}
		buf.WriteString(`</index>`)
	}
	buf.WriteString(`</indexInfo>`)

	buf.WriteString(`<searchInfo>`)
	buf.WriteString(`<queryExample>alma.title="data"</queryExample>`)
	buf.WriteString(`<queryExample>history sortBy alma.main_pub_date/sort.descending</queryExample>`)
	buf.WriteString(`</searchInfo>`)

	buf.WriteString(`<schemaInfo>`)
	buf.WriteString(`<schema identifier="` + SchemaMARCXML + `" name="marcxml" location="http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd" retrieve="true" sort="false"><title lang="en">MARCXML: Alma's record with member holdings</title></schema>`)
	buf.WriteString(`<schema identifier="` + SchemaDC + `" name="dc" retrieve="true" sort="false"><title lang="en">Dublin Core</title></schema>`)
	buf.WriteString(`</schemaInfo>`)

	buf.WriteString(`<configInfo>`)
	writeTyped(buf, "default", "numberOfRecords", strconv.Itoa(lim.DefaultRecords))
	writeTyped(buf, "default", "recordSchema", "marcxml")
	writeTyped(buf, "default", "contextSet", idx.defaultSet)
	writeTyped(buf, "default", "index", serverChoiceIndex)
	writeTyped(buf, "default", "relation", "=")
	writeTyped(buf, "setting", "maximumRecords", strconv.Itoa(lim.MaxRecords))
	writeTyped(buf, "setting", "maximumStartRecord", strconv.Itoa(lim.MaxPosition))
	writeTyped(buf, "supports", "sort", "")
	buf.WriteString(`</configInfo>`)
	buf.WriteString(`</explain>`)
}

func writeTyped(buf *bytes.Buffer, elem, typ, text string) {
	buf.WriteString("<" + elem + ` type="` + typ + `">`)
	writeText(buf, text)
	buf.WriteString("</" + elem + ">")
}

// searchRetrieveEnd is how every response WriteSearchRetrieve writes ends.
const searchRetrieveEnd = "</" + zs + "searchRetrieveResponse>"

// InsertExtra returns a copy of body, a response WriteSearchRetrieve wrote
// without Extra, with e written as its extraResponseData: the same bytes
// WriteSearchRetrieve would have written with Result.Extra set. It lets a
// cache keep one rendering of a response and mark it per request (stale).
// A body that does not end as WriteSearchRetrieve's do is returned as is.
func InsertExtra(body []byte, e *Extra) []byte {
	if e == nil || !bytes.HasSuffix(body, []byte(searchRetrieveEnd)) {
		return body
	}
	at := len(body) - len(searchRetrieveEnd)
	var buf bytes.Buffer
	buf.Grow(len(body) + 256)
	buf.Write(body[:at])
	writeExtra(&buf, e)
	buf.WriteString(searchRetrieveEnd)
	return buf.Bytes()
}
