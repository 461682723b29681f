package almasim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The write APIs of a network's workflows, with Alma's bodies and errors:
//
//	POST /almaws/v1/bibs?from_nz_mms_id=      link a new IZ record to an NZ record (body <bib/>)
//	PUT  /almaws/v1/bibs/{mms_id}             replace a record; on a linked record only the local
//	                                          fields ($9 local) change, all of them ("swap all")
//	POST /almaws/v1/bibs/{mms_id}?op=unlink_from_nz
//	POST /almaws/v1/acq/po-lines              a PO line (JSON)
//	GET  /almaws/v1/acq/po-lines?q=mms_id~…   the PO lines so far, as Alma's Retrieve PO-Lines lists them
//	                                          (q by mms_id or number; status; JSON {po_line, total_record_count})
//	POST /almaws/v1/users/{id}/resource-sharing-requests   a borrowing request (JSON)
//
// Changes live in an overlay beside the generated zones (which stay
// immutable and indexed): a record written once is a new *Record with its
// own fields and rendered MARCXML, found first by MMS ID, and a new IZ record
// is found by the member's SRU through alma.mms_id and
// alma.other_system_number (its 035 (EXLNZ-…) value), which is how a staff
// tool looks for an existing link. Other indexes do not see new records.
//
// Decisions where Alma's documentation is silent (the gateway's tests meet
// them): a member that already holds a record linked to the NZ record gets
// HTTP 400 401652 with a message naming the NZ record but not the existing
// IZ record (as Alma says it will name it only "in the future"); an
// unknown NZ record is 33007; a key of another institution than the
// record's is 402203 (as for GET); JSON bodies on the Bibs write APIs are
// 60105; an unparseable bib is 402278; a PO line without owner, type or
// title/mms_id is 401664 "Mandatory field is missing: X", an MMS ID the
// member does not own is 401872 "Given mms_id is illegal."; a
// resource-sharing request needs a partner that is another member
// (401889 otherwise) and a title. A partner code is the member's
// institution code.
//
// On every change the simulator sends Alma's webhook (when SetWebhook named
// a URL): a BIB event with the record, signed with X-Exl-Signature (Base64
// of HMAC-SHA256 over the body with the secret).

// writeState is the overlay of written records and the webhook target.
type writeState struct {
	mu                  sync.RWMutex       // guards recs, added, poLines
	recs                map[string]*Record // by MMS ID: records created or changed by writes
	added               map[string][]*Record
	poLines             map[string][]map[string]any // by institution: PO lines created, oldest first
	done                atomic.Int64                // writes that took effect
	seq                 atomic.Int64                // new MMS IDs, PO line and request numbers
	hookMu              sync.Mutex                  // guards hookURL, hookSecret
	hookURL, hookSecret string
	hooks               sync.WaitGroup
	sent                atomic.Int64
	failed              atomic.Int64
}

func (w *writeState) init() {
	w.recs = map[string]*Record{}
	w.added = map[string][]*Record{}
	w.poLines = map[string][]map[string]any{}
}

// WritesDone is the number of writes that took effect in Alma (a record
// linked, changed or unlinked, a PO line or a resource-sharing request
// created), whether or not their answer reached the caller.
func (s *Simulator) WritesDone() int64 { return s.writes.done.Load() }

// SetWebhook makes the simulator post Alma's webhook events for every change
// to url, signed with secret. An empty url turns webhooks off.
func (s *Simulator) SetWebhook(url, secret string) {
	s.writes.hookMu.Lock()
	defer s.writes.hookMu.Unlock()
	s.writes.hookURL, s.writes.hookSecret = url, secret
}

// WebhooksSent reports how many webhook deliveries were answered 2xx and how
// many failed.
func (s *Simulator) WebhooksSent() (ok, failed int64) {
	return s.writes.sent.Load(), s.writes.failed.Load()
}

// WaitWebhooks waits until every webhook delivery started so far has ended.
func (s *Simulator) WaitWebhooks() { s.writes.hooks.Wait() }

// recordIn returns the current version of a zone's record: the overlay's if
// a write changed or created it, else the generated one.
func (s *Simulator) recordIn(z *zone, id string) (*Record, bool) {
	s.writes.mu.RLock()
	r, ok := s.writes.recs[id]
	s.writes.mu.RUnlock()
	if ok && r.Institution == z.code {
		return r, true
	}
	if doc, ok := z.byID[id]; ok {
		return z.recs[doc], true
	}
	return nil, false
}

// overlayActive reports whether any write happened (the SRU fast path skips
// the overlay otherwise).
func (s *Simulator) overlayActive() bool {
	s.writes.mu.RLock()
	defer s.writes.mu.RUnlock()
	return len(s.writes.recs) > 0
}

// sruRecords is the search result as records, with the overlay applied: a
// changed record in its current version (dropped when a simple identifier
// query no longer matches it), and new records that a simple identifier
// query matches appended.
func (s *Simulator) sruRecords(z *zone, query string, docs []int32) []*Record {
	out := make([]*Record, 0, len(docs))
	idx, val, simple := simpleIdentQuery(query)
	s.writes.mu.RLock()
	defer s.writes.mu.RUnlock()
	for _, d := range docs {
		r := z.recs[d]
		if o, ok := s.writes.recs[r.MMSID]; ok {
			if simple && !identMatches(o, idx, val) {
				continue
			}
			r = o
		}
		out = append(out, r)
	}
	if simple {
		for _, r := range s.writes.added[z.code] {
			if cur := s.writes.recs[r.MMSID]; cur != nil && identMatches(cur, idx, val) {
				out = append(out, cur)
			}
		}
	}
	return out
}

// simpleIdentQuery reads `alma.mms_id=V` or `alma.other_system_number=V`
// (relations = or ==, V optionally quoted).
func simpleIdentQuery(q string) (index, value string, ok bool) {
	q = strings.TrimSpace(q)
	for _, ix := range []string{"alma.mms_id", "alma.other_system_number"} {
		rest, found := strings.CutPrefix(q, ix)
		if !found {
			continue
		}
		rest = strings.TrimSpace(rest)
		switch {
		case strings.HasPrefix(rest, "=="):
			rest = rest[2:]
		case strings.HasPrefix(rest, "="):
			rest = rest[1:]
		default:
			return "", "", false
		}
		rest = strings.TrimSpace(rest)
		if len(rest) >= 2 && rest[0] == '"' && rest[len(rest)-1] == '"' {
			rest = rest[1 : len(rest)-1]
		}
		if rest == "" || strings.ContainsAny(rest, " \"*") {
			return "", "", false
		}
		return ix, rest, true
	}
	return "", "", false
}

func identMatches(r *Record, index, value string) bool {
	if index == "alma.mms_id" {
		return r.MMSID == value
	}
	want := identNorm(value)
	for _, f := range r.fields {
		if f.tag != "035" {
			continue
		}
		for _, sb := range f.subs {
			if sb.code == 'a' && identNorm(sb.value) == want {
				return true
			}
		}
	}
	return false
}

// render renders one record's SRU MARCXML as zone.render does.
func renderRecord(r *Record, nz bool) {
	var fields []field
	if nz {
		fields = withMember852s(r.fields, r.Holdings)
	} else {
		fields = append(append([]field(nil), r.fields...), availFields(r.Avail, r.MMSID)...)
	}
	l := sruNS
	switch {
	case r.NoNS:
		l = sruNoNS
	case r.Prefixed:
		l = sruPrefixed
	}
	r.MARCXML = appendRecord(nil, leaderOf(r, fields), fields, l)
}

// copyRecord copies a record for a change: slices the change touches are
// fresh, the rest is shared read-only.
func copyRecord(r *Record) *Record {
	c := *r
	c.fields = slices.Clone(r.fields)
	c.Holdings = slices.Clone(r.Holdings)
	c.Avail = slices.Clone(r.Avail)
	c.MARCXML = nil
	return &c
}

// serveREST dispatches the REST API: the Bibs API's GET (bibs.go) and the
// write APIs.
func (s *Simulator) serveREST(r *http.Request) response {
	p := r.URL.Path
	switch {
	case p == "/almaws/v1/bibs" && r.Method == http.MethodPost:
		return s.createBib(r)
	case strings.HasPrefix(p, bibsPrefix) && r.Method == http.MethodPut:
		return s.updateBib(r)
	case strings.HasPrefix(p, bibsPrefix) && r.Method == http.MethodPost:
		return s.operateBib(r)
	case p == "/almaws/v1/acq/po-lines" && r.Method == http.MethodPost:
		return s.createPOLine(r)
	case p == "/almaws/v1/acq/po-lines" && r.Method == http.MethodGet:
		return s.listPOLines(r)
	case strings.HasPrefix(p, "/almaws/v1/users/") && strings.HasSuffix(p, "/resource-sharing-requests") && r.Method == http.MethodPost:
		return s.createRSRequest(r)
	case strings.HasPrefix(p, bibsPrefix):
		return s.serveBibs(r)
	}
	return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, wantsJSON(r), nil)
}

// restCaller is the checked key of a write call.
type restCaller struct {
	inst string
	hdr  http.Header
	js   bool
}

// caller checks the key and spends one call of its quota; resp is the
// error answer when ok is false.
func (s *Simulator) caller(r *http.Request, js bool) (c restCaller, resp response, ok bool) {
	key, _ := apiKey(r)
	inst, known := s.byKey[key]
	if !known {
		return c, s.errorResponse(errUnauthorized, js, ""), false
	}
	remaining, okq := s.quota.take(key)
	if !okq {
		return c, s.errorResponse(errDaily, js, key), false
	}
	return restCaller{inst: inst, js: js, hdr: http.Header{"X-Exl-Api-Remaining": {strconv.Itoa(remaining)}}}, response{}, true
}

// bibsWriteJSON is Alma's refusal of JSON on the Bibs write APIs.
func bibsWriteJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Content-Type"), "json") || wantsJSON(r)
}

var errJSONNotSupported = apiError{http.StatusBadRequest, "60105", "JSON is not supported for this API."}

func (s *Simulator) member(code string) (Member, bool) {
	for _, m := range s.members {
		if m.Code == code {
			return m, true
		}
	}
	return Member{}, false
}

func numeric(id string) bool {
	if id == "" {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// createBib answers POST /almaws/v1/bibs?from_nz_mms_id=.
func (s *Simulator) createBib(r *http.Request) response {
	if bibsWriteJSON(r) {
		return s.errorResponseH(errJSONNotSupported, true, nil)
	}
	c, resp, ok := s.caller(r, false)
	if !ok {
		return resp
	}
	nzID := r.URL.Query().Get("from_nz_mms_id")
	if nzID == "" {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402209", "Given bib xml is invalid."}, false, c.hdr)
	}
	if !numeric(nzID) {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402204", "Input parameters mmsId " + nzID + " is not numeric."}, false, c.hdr)
	}
	mem, isMember := s.member(c.inst)
	if !isMember {
		return s.errorResponseH(apiError{http.StatusBadRequest, "40166452", "Error - Not supported from the network zone."}, false, c.hdr)
	}
	s.writes.mu.Lock()
	nz, found := s.currentLocked(s.nz, nzID)
	if !found || nz.hidden {
		s.writes.mu.Unlock()
		return s.errorResponseH(apiError{http.StatusBadRequest, "33007", "No record found for MMS id " + nzID}, false, c.hdr)
	}
	for _, h := range nz.Holdings {
		if h.Institution == c.inst {
			s.writes.mu.Unlock()
			return s.errorResponseH(apiError{http.StatusBadRequest, "401652",
				"General Error - An error has occurred while processing the request. A record linked to network record " + nzID + " already exists in the institution."}, false, c.hdr)
		}
	}
	id := "99" + strconv.FormatInt(7000000000+s.writes.seq.Add(1), 10) + mem.Suffix
	iz := &Record{
		MMSID: id, Institution: c.inst, NZMMSID: nz.MMSID, CZMMSID: nz.CZMMSID,
		Title: nz.Title, NonFiling: nz.NonFiling, Authors: nz.Authors, ISBNs: nz.ISBNs, ISSNs: nz.ISSNs,
		Publisher: nz.Publisher, Place: nz.Place, Year: nz.Year, Language: nz.Language, Subjects: nz.Subjects,
		Serial: nz.Serial, NoNS: nz.NoNS, Prefixed: nz.Prefixed, nz: nz,
	}
	inserted := false
	for _, f := range nz.fields {
		if f.tag == "001" {
			f.value = id
		}
		if !inserted && f.tag > "035" {
			iz.fields = append(iz.fields, data("035", ' ', ' ', sf('a', "(EXLNZ-"+s.cfg.NetworkCode+")"+nz.MMSID)))
			inserted = true
		}
		iz.fields = append(iz.fields, f)
	}
	renderRecord(iz, false)
	nz2 := copyRecord(nz)
	nz2.Holdings = append(nz2.Holdings, Holding{Institution: c.inst, IZMMSID: id, Has6: true})
	renderRecord(nz2, true)
	s.writes.recs[id] = iz
	s.writes.recs[nz.MMSID] = nz2
	s.writes.added[c.inst] = append(s.writes.added[c.inst], iz)
	s.writes.mu.Unlock()
	s.writes.done.Add(1)

	s.notify(iz, "BIB_CREATED", "BIB record created")
	s.notify(nz2, "BIB_UPDATED", "BIB record updated")
	return response{status: http.StatusOK, ctype: apiXMLType, header: c.hdr, body: s.bibXML(iz, r)}
}

// currentLocked is recordIn for a caller holding writes.mu.
func (s *Simulator) currentLocked(z *zone, id string) (*Record, bool) {
	if r, ok := s.writes.recs[id]; ok && r.Institution == z.code {
		return r, true
	}
	if doc, ok := z.byID[id]; ok {
		return z.recs[doc], true
	}
	return nil, false
}

func (s *Simulator) bibXML(rec *Record, r *http.Request) []byte {
	marc := appendRecord(nil, leaderOf(rec, rec.fields), rec.fields, apiLayout(len(rec.fields)))
	return bibOf(rec, "http://"+r.Host).appendXML(marc)
}

// bibTarget reads and checks {mms_id} of a Bibs write call against the key's
// zone.
func (s *Simulator) bibTarget(r *http.Request, c restCaller) (z *zone, id string, resp response, ok bool) {
	id = strings.TrimPrefix(r.URL.Path, bibsPrefix)
	if id == "" || strings.Contains(id, "/") {
		return nil, "", s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, false, c.hdr), false
	}
	if !numeric(id) {
		return nil, "", s.errorResponseH(apiError{http.StatusBadRequest, "402204", "Input parameters mmsId " + id + " is not numeric."}, false, c.hdr), false
	}
	z = s.zones[c.inst]
	if _, found := s.recordIn(z, id); !found {
		return nil, "", s.errorResponseH(apiError{http.StatusBadRequest, "402203", "Input parameters mmsId " + id + " is not valid."}, false, c.hdr), false
	}
	return z, id, response{}, true
}

// updateBib answers PUT /almaws/v1/bibs/{mms_id}.
func (s *Simulator) updateBib(r *http.Request) response {
	if bibsWriteJSON(r) {
		return s.errorResponseH(errJSONNotSupported, true, nil)
	}
	c, resp, ok := s.caller(r, false)
	if !ok {
		return resp
	}
	z, id, resp, ok := s.bibTarget(r, c)
	if !ok {
		return resp
	}
	in, err := readBibFields(r.Body)
	if err != nil {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402278", "Error - Parse exception for input record."}, false, c.hdr)
	}
	s.writes.mu.Lock()
	cur, _ := s.currentLocked(z, id)
	next := copyRecord(cur)
	if cur.NZMMSID != "" {
		// Linked: the shared fields stay; all local fields are swapped for the
		// payload's local fields; other payload fields are ignored.
		kept := next.fields[:0]
		for _, f := range next.fields {
			if !isLocal(f) {
				kept = append(kept, f)
			}
		}
		next.fields = kept
		for _, f := range in {
			if isLocal(f) {
				next.fields = append(next.fields, f)
			}
		}
	} else {
		next.fields = next.fields[:0]
		for _, f := range in {
			if f.tag == "001" {
				f.value = id
			}
			next.fields = append(next.fields, f)
		}
		if len(next.fields) == 0 || next.fields[0].tag != "001" {
			next.fields = append([]field{{tag: "001", value: id}}, next.fields...)
		}
	}
	slices.SortStableFunc(next.fields, func(a, b field) int { return strings.Compare(a.tag, b.tag) })
	renderRecord(next, z.nz)
	s.writes.recs[id] = next
	s.writes.mu.Unlock()
	s.writes.done.Add(1)
	s.notify(next, "BIB_UPDATED", "BIB record updated")
	return response{status: http.StatusOK, ctype: apiXMLType, header: c.hdr, body: s.bibXML(next, r)}
}

// operateBib answers POST /almaws/v1/bibs/{mms_id}?op=unlink_from_nz.
func (s *Simulator) operateBib(r *http.Request) response {
	if bibsWriteJSON(r) {
		return s.errorResponseH(errJSONNotSupported, true, nil)
	}
	c, resp, ok := s.caller(r, false)
	if !ok {
		return resp
	}
	if op := r.URL.Query().Get("op"); op != "unlink_from_nz" {
		return s.errorResponseH(apiError{http.StatusBadRequest, "401652", "General Error - An error has occurred while processing the request. Unsupported op " + op + "."}, false, c.hdr)
	}
	if _, isMember := s.member(c.inst); !isMember {
		return s.errorResponseH(apiError{http.StatusBadRequest, "40166452", "Error - Not supported from the network zone."}, false, c.hdr)
	}
	z, id, resp, ok := s.bibTarget(r, c)
	if !ok {
		return resp
	}
	s.writes.mu.Lock()
	cur, _ := s.currentLocked(z, id)
	if cur.NZMMSID == "" {
		s.writes.mu.Unlock()
		return s.errorResponseH(apiError{http.StatusBadRequest, "401652", "General Error - An error has occurred while processing the request. The record is not linked to the network zone."}, false, c.hdr)
	}
	next := copyRecord(cur)
	nzID := cur.NZMMSID
	next.NZMMSID, next.nz = "", nil
	kept := next.fields[:0]
	for _, f := range next.fields {
		if f.tag == "035" && len(f.subs) > 0 && strings.HasPrefix(f.subs[0].value, "(EXLNZ-") {
			continue
		}
		kept = append(kept, f)
	}
	next.fields = kept
	renderRecord(next, false)
	s.writes.recs[id] = next
	var nz2 *Record
	if nz, found := s.currentLocked(s.nz, nzID); found {
		nz2 = copyRecord(nz)
		nz2.Holdings = slices.DeleteFunc(nz2.Holdings, func(h Holding) bool { return h.Institution == c.inst })
		renderRecord(nz2, true)
		s.writes.recs[nzID] = nz2
	}
	s.writes.mu.Unlock()
	s.writes.done.Add(1)
	s.notify(next, "BIB_UPDATED", "BIB record updated")
	if nz2 != nil {
		s.notify(nz2, "BIB_UPDATED", "BIB record updated")
	}
	return response{status: http.StatusOK, ctype: apiXMLType, header: c.hdr, body: s.bibXML(next, r)}
}

// isLocal says whether a field is a local field: a data field with $9 local.
func isLocal(f field) bool {
	for _, sb := range f.subs {
		if sb.code == '9' && strings.EqualFold(strings.TrimSpace(sb.value), "local") {
			return true
		}
	}
	return false
}

// readBibFields parses a <bib><record>…</record></bib> body (or a bare
// <record>), bounded at 1 MiB.
func readBibFields(body io.Reader) ([]field, error) {
	type xsub struct {
		Code  string `xml:"code,attr"`
		Value string `xml:",chardata"`
	}
	type xfield struct {
		XMLName xml.Name
		Tag     string `xml:"tag,attr"`
		Ind1    string `xml:"ind1,attr"`
		Ind2    string `xml:"ind2,attr"`
		Value   string `xml:",chardata"`
		Subs    []xsub `xml:"subfield"`
	}
	type xrecord struct {
		Fields []xfield `xml:",any"`
	}
	type xbib struct {
		XMLName xml.Name
		Record  *xrecord `xml:"record"`
		Fields  []xfield `xml:",any"`
	}
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20+1))
	if err != nil || len(raw) > 1<<20 {
		return nil, fmt.Errorf("body unreadable or too large")
	}
	var b xbib
	if err := xml.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	var xs []xfield
	switch {
	case b.XMLName.Local == "record":
		xs = b.Fields
	case b.XMLName.Local == "bib" && b.Record != nil:
		xs = b.Record.Fields
	default:
		return nil, fmt.Errorf("no record")
	}
	var out []field
	for _, x := range xs {
		switch x.XMLName.Local {
		case "controlfield":
			if len(x.Tag) != 3 {
				return nil, fmt.Errorf("bad tag")
			}
			out = append(out, field{tag: x.Tag, value: x.Value})
		case "datafield":
			if len(x.Tag) != 3 {
				return nil, fmt.Errorf("bad tag")
			}
			f := field{tag: x.Tag, ind1: indicator(x.Ind1), ind2: indicator(x.Ind2), subs: []subfield{}}
			for _, sb := range x.Subs {
				if len(sb.Code) != 1 {
					return nil, fmt.Errorf("bad subfield code")
				}
				f.subs = append(f.subs, sf(sb.Code[0], sb.Value))
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func indicator(s string) byte {
	if len(s) == 1 {
		return s[0]
	}
	return ' '
}

// createPOLine answers POST /almaws/v1/acq/po-lines.
func (s *Simulator) createPOLine(r *http.Request) response {
	c, resp, ok := s.caller(r, true)
	if !ok {
		return resp
	}
	var in map[string]any
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, true, c.hdr)
	}
	value := func(k string) string {
		switch v := in[k].(type) {
		case map[string]any:
			s, _ := v["value"].(string)
			return s
		case string:
			return v
		}
		return ""
	}
	rm, _ := in["resource_metadata"].(map[string]any)
	mmsID, title := "", ""
	if rm != nil {
		if m, ok := rm["mms_id"].(map[string]any); ok {
			mmsID, _ = m["value"].(string)
		}
		title, _ = rm["title"].(string)
	}
	for _, k := range []string{"owner", "type"} {
		if value(k) == "" {
			return s.errorResponseH(apiError{http.StatusBadRequest, "401664", "Mandatory field is missing: " + k}, true, c.hdr)
		}
	}
	if mmsID == "" && title == "" {
		return s.errorResponseH(apiError{http.StatusBadRequest, "401664", "Mandatory field is missing: title"}, true, c.hdr)
	}
	if mmsID != "" {
		z := s.zones[c.inst]
		if _, found := s.recordIn(z, mmsID); !found || !numeric(mmsID) {
			return s.errorResponseH(apiError{http.StatusBadRequest, "401872", "Given mms_id is illegal."}, true, c.hdr)
		}
	}
	s.writes.mu.Lock()
	if num, _ := in["number"].(string); num != "" {
		// A caller's own number: Alma refuses it twice.
		for _, pl := range s.writes.poLines[c.inst] {
			if pl["number"] == num {
				s.writes.mu.Unlock()
				return s.errorResponseH(apiError{http.StatusBadRequest, "401870", "PoLine " + num + " already exists."}, true, c.hdr)
			}
		}
	} else {
		in["number"] = "POL-" + strconv.FormatInt(s.writes.seq.Add(1), 10)
	}
	in["status"] = map[string]any{"value": "IN_REVIEW", "desc": "In Review"}
	in["created_date"] = s.cfg.Now().UTC().Format("2006-01-02Z")
	body := marshalJSON(in)
	s.writes.poLines[c.inst] = append(s.writes.poLines[c.inst], in)
	s.writes.mu.Unlock()
	s.writes.done.Add(1)
	return response{status: http.StatusOK, ctype: jsonType, header: c.hdr, body: body}
}

// listPOLines answers GET /almaws/v1/acq/po-lines: the key's institution's
// PO lines, filtered by q (mms_id~V or number~V; Alma's brief search, here
// on those two fields only) and status (ACTIVE, CLOSED, CANCELLED; ALL and
// ALL_WITH_CLOSED take every line: the simulator closes none), newest first,
// at most limit (default 10, at most 100) from offset.
func (s *Simulator) listPOLines(r *http.Request) response {
	c, resp, ok := s.caller(r, true)
	if !ok {
		return resp
	}
	q := r.URL.Query()
	field, value := "", ""
	if qs := q.Get("q"); qs != "" {
		var found bool
		field, value, found = strings.Cut(qs, "~")
		if !found || field != "mms_id" && field != "number" || value == "" {
			return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, true, c.hdr)
		}
	}
	limit, offset := 10, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, true, c.hdr)
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, true, c.hdr)
		}
		offset = n
	}
	status := q.Get("status")
	s.writes.mu.RLock()
	var match []map[string]any
	lines := s.writes.poLines[c.inst]
	for i := len(lines) - 1; i >= 0; i-- {
		pl := lines[i]
		switch field {
		case "number":
			if pl["number"] != value {
				continue
			}
		case "mms_id":
			if poLineMMSID(pl) != value {
				continue
			}
		}
		if st, _ := pl["status"].(map[string]any); status == "ACTIVE" && st["value"] == "CLOSED" || status == "CLOSED" && st["value"] != "CLOSED" || status == "CANCELLED" && st["value"] != "CANCELLED" {
			continue
		}
		match = append(match, pl)
	}
	total := len(match)
	page := []map[string]any{}
	if offset < total {
		page = match[offset:min(total, offset+limit)]
	}
	body := marshalJSON(map[string]any{"po_line": page, "total_record_count": total})
	s.writes.mu.RUnlock()
	return response{status: http.StatusOK, ctype: jsonType, header: c.hdr, body: body}
}

func poLineMMSID(pl map[string]any) string {
	rm, _ := pl["resource_metadata"].(map[string]any)
	m, _ := rm["mms_id"].(map[string]any)
	v, _ := m["value"].(string)
	return v
}

// createRSRequest answers POST /almaws/v1/users/{user_id}/resource-sharing-requests.
func (s *Simulator) createRSRequest(r *http.Request) response {
	c, resp, ok := s.caller(r, true)
	if !ok {
		return resp
	}
	user := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/almaws/v1/users/"), "/resource-sharing-requests")
	if u, err := url.PathUnescape(user); err == nil {
		user = u
	}
	if user == "" || strings.Contains(user, "/") {
		return s.errorResponseH(apiError{http.StatusBadRequest, "401861", "User with identifier " + user + " was not found."}, true, c.hdr)
	}
	var in map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		return s.errorResponseH(apiError{http.StatusBadRequest, "402119", "General error."}, true, c.hdr)
	}
	partner := ""
	if p, ok := in["partner"].(map[string]any); ok {
		partner, _ = p["value"].(string)
	}
	if _, isMember := s.member(partner); !isMember || partner == c.inst {
		return s.errorResponseH(apiError{http.StatusBadRequest, "401889", "Partner " + partner + " is not a valid lending partner."}, true, c.hdr)
	}
	if t, _ := in["title"].(string); t == "" {
		return s.errorResponseH(apiError{http.StatusBadRequest, "401664", "Mandatory field is missing: title"}, true, c.hdr)
	}
	n := s.writes.seq.Add(1)
	in["request_id"] = strconv.FormatInt(8000000000+n, 10)
	in["external_id"] = c.inst + "-" + strconv.FormatInt(n, 10)
	in["user_primary_id"] = user
	in["status"] = map[string]any{"value": "READY_TO_BE_SENT", "desc": "Ready to be sent"}
	s.writes.done.Add(1)
	return response{status: http.StatusOK, ctype: jsonType, header: c.hdr, body: marshalJSON(in)}
}

// NotifyItemChange sends an ITEM webhook (ITEM_UPDATED) for an item of the
// record mmsID, as Alma does when an item changes (loans, moves): a test's
// way to make an inventory change the gateway must hear of.
func (s *Simulator) NotifyItemChange(mmsID string) bool {
	for _, z := range s.zones {
		if rec, ok := s.recordIn(z, mmsID); ok {
			body := marshalJSON(map[string]any{
				"id": s.eventID(), "action": "ITEM", "institution": map[string]string{"value": rec.Institution},
				"time":  s.cfg.Now().UTC().Format(time.RFC3339),
				"event": map[string]string{"value": "ITEM_UPDATED", "desc": "Item updated"},
				"item": map[string]any{
					"bib_data":     map[string]any{"mms_id": rec.MMSID, "title": rec.Title},
					"holding_data": map[string]any{"holding_id": "22" + rec.MMSID[2:]},
					"item_data":    map[string]any{"pid": "23" + rec.MMSID[2:], "base_status": map[string]string{"value": "1", "desc": "Item in place"}},
				},
			})
			s.deliver(body)
			return true
		}
	}
	return false
}

func (s *Simulator) eventID() string {
	return strconv.FormatInt(s.cfg.Now().UnixNano(), 10) + "-" + strconv.FormatInt(s.writes.seq.Add(1), 10)
}

// notify sends a BIB webhook for rec (Alma's shape: id, action, institution,
// time, event, bib with its anies).
func (s *Simulator) notify(rec *Record, event, desc string) {
	b := bibOf(rec, "")
	marc := appendRecord(nil, leaderOf(rec, rec.fields), rec.fields, apiLayout(len(rec.fields)))
	b.Anies = []string{string(marc)}
	body := marshalJSON(map[string]any{
		"id": s.eventID(), "action": "BIB", "institution": map[string]string{"value": rec.Institution},
		"time":  s.cfg.Now().UTC().Format(time.RFC3339),
		"event": map[string]string{"value": event, "desc": desc},
		"bib":   b,
	})
	s.deliver(body)
}

// Sign is Alma's webhook signature: Base64 of HMAC-SHA256 over body.
func Sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// deliver posts body to the webhook URL in the background.
func (s *Simulator) deliver(body []byte) {
	s.writes.hookMu.Lock()
	u, secret := s.writes.hookURL, s.writes.hookSecret
	s.writes.hookMu.Unlock()
	if u == "" {
		return
	}
	s.writes.hooks.Add(1)
	go func() {
		defer s.writes.hooks.Done()
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			s.writes.failed.Add(1)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Exl-Signature", Sign(body, secret))
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			s.writes.failed.Add(1)
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			s.writes.sent.Add(1)
		} else {
			s.writes.failed.Add(1)
		}
	}()
}
