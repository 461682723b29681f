package almasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

const (
	bibsPrefix = "/almaws/v1/bibs/"
	wsNS       = "http://com/exlibris/urm/general/xmlbeans"
	jsonType   = "application/json;charset=UTF-8"
	apiXMLType = "application/xml;charset=UTF-8"
)

// apiError is one Alma REST error (web_service_result / errorList).
type apiError struct {
	status  int
	code    string
	message string
}

var (
	errUnauthorized = apiError{http.StatusBadRequest, "UNAUTHORIZED", "API-key not defined or not configured to allow this API."}
	errPerSecond    = apiError{http.StatusTooManyRequests, "PER_SECOND_THRESHOLD", "HTTP requests are more than allowed per second"}
	errDaily        = apiError{http.StatusTooManyRequests, "DAILY_THRESHOLD", "Daily API Request Threshold has been reached. For details see: https://developers.exlibrisgroup.com/alma/apis/#threshold"}
	errInternal     = apiError{http.StatusInternalServerError, "UNKNOWN", "An internal error occurred; please try again later."}
)

// apiKey returns the key of a request: the Authorization: apikey header, or
// the apikey parameter (which Alma also accepts).
func apiKey(r *http.Request) (key string, inURL bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		if k, ok := strings.CutPrefix(a, "apikey "); ok {
			return strings.TrimSpace(k), false
		}
	}
	if k := r.URL.Query().Get("apikey"); k != "" {
		return k, true
	}
	return "", false
}

func wantsJSON(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "json":
		return true
	case "xml":
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// serveBibs answers GET /almaws/v1/bibs/{mms_id}.
func (s *Simulator) serveBibs(r *http.Request) response {
	js := wantsJSON(r)
	key, _ := apiKey(r)
	inst, ok := s.byKey[key]
	if !ok {
		return s.errorResponse(errUnauthorized, js, "")
	}
	remaining, ok := s.quota.take(key)
	if !ok {
		return s.errorResponse(errDaily, js, key)
	}
	hdr := http.Header{"X-Exl-Api-Remaining": {strconv.Itoa(remaining)}}
	id := strings.TrimPrefix(r.URL.Path, bibsPrefix)
	if r.Method != http.MethodGet || id == "" || strings.Contains(id, "/") {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, js, hdr)
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return s.errorResponseH(apiError{http.StatusBadRequest, "402204", "Input parameters mmsId " + id + " is not numeric."}, js, hdr)
		}
	}
	z := s.zones[inst]
	rec, ok := s.recordIn(z, id)
	if !ok {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402203", "Input parameters mmsId " + id + " is not valid."}, js, hdr)
	}
	expand := r.URL.Query().Get("expand")
	var avail []Availability
	for _, a := range rec.Avail {
		if (a.Kind == "AVA" && strings.Contains(expand, "p_avail")) ||
			(a.Kind == "AVE" && strings.Contains(expand, "e_avail")) ||
			(a.Kind == "AVD" && strings.Contains(expand, "d_avail")) {
			avail = append(avail, a)
		}
	}
	fields := append([]field(nil), rec.fields...)
	base := len(fields)
	if !z.nz {
		fields = append(fields, data("INT", ' ', ' ', sf('a', "P")), data("INST", ' ', ' ', sf('a', z.code)))
	}
	fields = append(fields, availFields(avail, rec.MMSID)...)
	marc := appendRecord(nil, leaderOf(rec, fields), fields, apiLayout(base))
	b := bibOf(rec, "http://"+r.Host)
	if js {
		b.Anies = []string{`<?xml version="1.0" encoding="UTF-16"?>` + string(marc)}
		return response{status: http.StatusOK, ctype: jsonType, header: hdr, body: marshalJSON(b)}
	}
	return response{status: http.StatusOK, ctype: apiXMLType, header: hdr, body: b.appendXML(marc)}
}

// bib is the Bibs API's bib object (fields in Alma's order).
type bib struct {
	MMSID          string       `json:"mms_id"`
	RecordFormat   string       `json:"record_format"`
	LinkedRecordID valueType    `json:"linked_record_id"`
	Title          string       `json:"title"`
	Author         *string      `json:"author"`
	ISSN           *string      `json:"issn"`
	ISBN           *string      `json:"isbn"`
	NetworkNumber  []string     `json:"network_number"`
	Place          string       `json:"place_of_publication"`
	Date           string       `json:"date_of_publication"`
	Publisher      string       `json:"publisher_const"`
	Holdings       valueLink    `json:"holdings"`
	CreatedBy      string       `json:"created_by"`
	CreatedDate    string       `json:"created_date"`
	SuppressPub    string       `json:"suppress_from_publishing"`
	SuppressExt    string       `json:"suppress_from_external_search"`
	SyncOCLC       string       `json:"sync_with_oclc"`
	SyncLA         string       `json:"sync_with_libraries_australia"`
	Originating    string       `json:"originating_system"`
	OriginatingID  string       `json:"originating_system_id"`
	Anies          []string     `json:"anies"`
	Requests       valueLinkInt `json:"requests"`
	Link           *string      `json:"link"`
}

type valueType struct {
	Value *string `json:"value"`
	Type  *string `json:"type"`
}

type valueLink struct {
	Value *string `json:"value"`
	Link  string  `json:"link"`
}

type valueLinkInt struct {
	Value int     `json:"value"`
	Link  *string `json:"link"`
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func bibOf(r *Record, base string) bib {
	var raw245 []string
	for _, f := range r.fields {
		if f.tag == "245" {
			for _, s := range f.subs {
				if s.code == 'a' || s.code == 'b' {
					raw245 = append(raw245, s.value)
				}
			}
		}
	}
	pubTag := "264"
	if first(r.fields, "264", 'c') == "" {
		pubTag = "260"
	}
	b := bib{
		MMSID: r.MMSID, RecordFormat: "marc21", Title: strings.Join(raw245, " "),
		Author: strp(first(r.fields, "100", 'a')), ISSN: strp(first(r.fields, "022", 'a')), ISBN: strp(first(r.fields, "020", 'a')),
		Place: first(r.fields, pubTag, 'a'), Date: first(r.fields, pubTag, 'c'), Publisher: first(r.fields, pubTag, 'b'),
		Holdings:  valueLink{Link: "/almaws/v1/bibs/" + r.MMSID + "/holdings"},
		CreatedBy: "import", CreatedDate: r.Year + "-01-01Z", SuppressPub: "false", SuppressExt: "false",
		SyncOCLC: "NONE", SyncLA: "NONE", Originating: "ILS", OriginatingID: r.MMSID + "-" + strings.ToLower(r.Institution),
		NetworkNumber: []string{},
	}
	if r.NZMMSID != "" {
		b.LinkedRecordID = valueType{Value: strp(r.NZMMSID), Type: strp("NZ")}
	}
	for _, f := range r.fields {
		if f.tag == "035" {
			for _, s := range f.subs {
				if s.code == 'a' {
					b.NetworkNumber = append(b.NetworkNumber, s.value)
				}
			}
		}
	}
	return b
}

func (b bib) appendXML(marc []byte) []byte {
	var w bytes.Buffer
	el := func(name string, v *string) {
		if v == nil {
			w.WriteString("\n  <" + name + "/>")
			return
		}
		w.WriteString("\n  <" + name + ">")
		w.Write(appendText(nil, *v))
		w.WriteString("</" + name + ">")
	}
	w.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n<bib>")
	el("mms_id", &b.MMSID)
	el("record_format", &b.RecordFormat)
	if b.LinkedRecordID.Value != nil {
		w.WriteString("\n  <linked_record_id type=\"NZ\">" + *b.LinkedRecordID.Value + "</linked_record_id>")
	} else {
		w.WriteString("\n  <linked_record_id/>")
	}
	el("title", &b.Title)
	el("author", b.Author)
	el("issn", b.ISSN)
	el("isbn", b.ISBN)
	w.WriteString("\n  <network_numbers>")
	for _, n := range b.NetworkNumber {
		w.WriteString("\n    <network_number>")
		w.Write(appendText(nil, n))
		w.WriteString("</network_number>")
	}
	w.WriteString("\n  </network_numbers>")
	el("place_of_publication", &b.Place)
	el("date_of_publication", &b.Date)
	el("publisher_const", &b.Publisher)
	w.WriteString("\n  <holdings link=\"")
	w.Write(appendAttr(nil, b.Holdings.Link))
	w.WriteString("\"/>")
	el("created_by", &b.CreatedBy)
	el("created_date", &b.CreatedDate)
	el("suppress_from_publishing", &b.SuppressPub)
	el("suppress_from_external_search", &b.SuppressExt)
	el("sync_with_oclc", &b.SyncOCLC)
	el("sync_with_libraries_australia", &b.SyncLA)
	el("originating_system", &b.Originating)
	el("originating_system_id", &b.OriginatingID)
	w.WriteString("\n  ")
	w.Write(marc)
	w.WriteString("\n</bib>\n")
	return w.Bytes()
}

func marshalJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // Alma writes <, > and & as they are
	if err := enc.Encode(v); err != nil {
		panic(err) // only simulator-built values reach here
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// trackingID mimics Alma's "E01-0212223205-P0XW8-AWAE584905282".
func (s *Simulator) trackingID() string {
	n := s.tracking.Add(1)
	return fmt.Sprintf("E01-%s-SIM%02d-AWAE%09d", s.cfg.Now().UTC().Format("0201150405"), n%100, n)
}

func (s *Simulator) errorResponse(e apiError, js bool, key string) response {
	var hdr http.Header
	if rem, ok := s.quota.peek(key); ok {
		hdr = http.Header{"X-Exl-Api-Remaining": {strconv.Itoa(rem)}}
	}
	return s.errorResponseH(e, js, hdr)
}

// errorResponseH renders a web_service_result (XML, sample
// princeton_bibs_api_error_402203_xml.xml) or an errorList (JSON, sample
// princeton_bibs_api_error_402204_json.json).
func (s *Simulator) errorResponseH(e apiError, js bool, hdr http.Header) response {
	tid := s.trackingID()
	if js {
		body := fmt.Sprintf(`{"errorsExist":true,"errorList":{"error":[{"errorCode":%q,"errorMessage":%s,"trackingId":%q}]},"result":null}`,
			e.code, marshalJSON(e.message), tid)
		return response{status: e.status, ctype: jsonType, header: hdr, body: []byte(body)}
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<web_service_result xmlns="` + wsNS + `">`)
	b.WriteString("\n  <errorsExist>true</errorsExist>\n  <errorList>\n    <error>\n      <errorCode>")
	b.WriteString(escapeText(e.code))
	b.WriteString("</errorCode>\n      <errorMessage>")
	b.WriteString(escapeText(e.message))
	b.WriteString("</errorMessage>\n      <trackingId>" + tid + "</trackingId>\n    </error>\n  </errorList>\n</web_service_result>\n")
	return response{status: e.status, ctype: apiXMLType, header: hdr, body: b.Bytes()}
}

// quota is the daily call budget per API key.
type quota struct {
	mu    sync.Mutex // guards used
	daily int
	used  map[string]int
}

func (q *quota) init(daily int) {
	q.daily = daily
	q.used = map[string]int{}
}

// take counts one call; ok is false when the budget is spent.
func (q *quota) take(key string) (remaining int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used[key] >= q.daily {
		return 0, false
	}
	q.used[key]++
	return q.daily - q.used[key], true
}

func (q *quota) peek(key string) (int, bool) {
	if key == "" {
		return 0, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.daily - q.used[key], true
}

func (q *quota) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	clear(q.used)
}
