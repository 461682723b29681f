package almasim

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes the network to generate. Every field's zero value means
// the default written beside it.
type Config struct {
	Seed        uint64           // 0 means 1
	Records     int              // NZ records; 0 means 5000
	NetworkCode string           // "" means "01NET_NETWORK"
	Members     int              // 0 means 10; clamped to 8..12
	Latency     time.Duration    // added to every Alma answer (SRU and Bibs API), to mimic Alma's own latency; 0 = none
	DailyQuota  int              // API calls a key may make before Alma answers DAILY_THRESHOLD; 0 means 100000
	LocalOnly   int              // local-only records per member IZ (no NZ record); 0 means max(3, Records/100), -1 none
	External    int              // records only the external target has; 0 means max(5, Records/20), -1 none
	Now         func() time.Time // clock for xb:responseDate and tracking ids; nil means time.Now
}

// withDefaults applies every default in one place.
func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Records <= 0 {
		c.Records = 5000
	}
	if c.NetworkCode == "" {
		c.NetworkCode = "01NET_NETWORK"
	}
	if c.Members == 0 {
		c.Members = 10
	}
	c.Members = min(max(c.Members, 8), 12)
	if c.DailyQuota <= 0 {
		c.DailyQuota = 100000
	}
	if c.LocalOnly == 0 {
		c.LocalOnly = max(3, c.Records/100)
	}
	if c.External == 0 {
		c.External = max(5, c.Records/20)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Member is one institution of the network.
type Member struct {
	Code   string // institution code, e.g. "01NET_INST"; its IZ SRU is /view/sru/<Code>
	Name   string
	APIKey string // the member's own (IZ) API key
	Suffix string // the 4-digit MMS ID suffix of its records
}

// Holding is one member-availability 852 of an NZ record.
type Holding struct {
	Institution string   // $a
	IZMMSID     string   // the member's record; the 852 carries it in $6 unless Has6 is false
	Has6        bool     // whether the 852 carries $6
	Types       []string // $9 codes in order: "P", "E", "D"
}

// Availability is one AVA, AVE or AVD field of the Bibs API (and of IZ SRU
// records), as the simulator generated it.
type Availability struct {
	Kind        string // "AVA", "AVE" or "AVD"
	Institution string // $a

	// AVA
	Library, LibraryName   string // $b, $q
	Location, LocationName string // $j, $c
	CallNumber             string // $d
	Status                 string // $e: available, unavailable, check_holdings (AVE: Available, Not Available)
	Total, Unavailable     int    // $f, $g; -1 when absent (check_holdings)
	HoldingsID             string // $8

	// AVE
	PortfolioID, CollectionID, CollectionName string // $8, $c, $m
	Interface, Coverage, URL                  string // $t, $s, $u (AVD: $u)

	// AVD
	RepresentationID, Label string // $b, $d
}

// Record is one generated bibliographic record, NZ or IZ: the ground truth
// that tests compare answers with.
type Record struct {
	MMSID       string
	Institution string // the network code for NZ records, the member code for IZ records
	NZMMSID     string // IZ records: the NZ record (035 (EXLNZ-<network>)); "" for NZ records
	CZMMSID     string // 035 (EXLCZ); "" when none

	Title     string // 245 $a " : " $b, without the closing ISBD punctuation
	NonFiling int    // 245 ind2
	Authors   []string
	ISBNs     []string
	ISSNs     []string
	Publisher string
	Place     string
	Year      string
	Language  string
	Subjects  []string
	LCCN      string   // 010 $a without its padding; "" when none
	Series    []string // 490/830 $a without the closing " ;"
	Serial    bool
	Legacy852 bool      // carries legacy cataloguing 852s (ind1=0 ind2=" ") that are not member availability
	NoNS      bool      // the SRU recordData holds the MARC in no namespace
	Prefixed  bool      // the SRU recordData holds the MARC with a "marc:" prefix
	Holdings  []Holding // NZ records: member-availability 852s
	Avail     []Availability
	MARCXML   []byte // the record exactly as the SRU recordData carries it
	Work      string // the work it is a copy of: see Simulator.Work
	hidden    bool   // reachable by alma.mms_id only (the control-character record)
	fields    []field
	doc       int32
	nz        *Record // IZ records: their NZ record
	izRecords []*Record
	toks      [][][]string // NZ records: per text index, per value, the tokens
}

// Simulator is a generated Alma network and its request state. It is safe
// for concurrent use.
type Simulator struct {
	cfg     Config
	members []Member
	nzKey   string
	nz      *zone
	zones   map[string]*zone  // by institution code, NZ included
	ext     *zone             // the external SRU target (ExternalTarget)
	byKey   map[string]string // API key -> institution code

	faults   faultTable
	counts   counters
	log      requestLog
	quota    quota
	release  releaser     // wakes hanging requests when faults change
	tracking atomic.Int64 // sequence of error tracking ids
	writes   writeState   // records written through the write APIs, webhooks (writes.go)
}

// New generates the network described by cfg.
func New(cfg Config) *Simulator {
	cfg = cfg.withDefaults()
	s := &Simulator{cfg: cfg, zones: map[string]*zone{}, byKey: map[string]string{}}
	s.generate()
	s.byKey[s.nzKey] = cfg.NetworkCode
	for _, m := range s.members {
		s.byKey[m.APIKey] = m.Code
	}
	s.counts.init(s.Targets())
	s.log.init(1024)
	s.quota.init(cfg.DailyQuota)
	s.release.init()
	s.writes.init()
	return s
}

// NetworkCode is the network's (NZ's) institution code.
func (s *Simulator) NetworkCode() string { return s.cfg.NetworkCode }

// SRUURL is the network's SRU base under base (e.g. a Server's URL).
func (s *Simulator) SRUURL(base string) string {
	return strings.TrimRight(base, "/") + "/view/sru/" + s.cfg.NetworkCode
}

// APIURL is the Alma REST base under base, the value for ALMA_API_URL (the
// gateway adds /almaws/v1/...): the simulator serves both on one listener.
func (s *Simulator) APIURL(base string) string { return strings.TrimRight(base, "/") }

// NZKey is the network's API key.
func (s *Simulator) NZKey() string { return s.nzKey }

// Members lists the member institutions in code order.
func (s *Simulator) Members() []Member { return append([]Member(nil), s.members...) }

// ControlCharMMSID names the NZ record whose title holds characters that XML
// 1.0 forbids (U+0001, U+000B, U+FFFE). Only alma.mms_id finds it (and the
// Bibs API serves it); every other answer stays well-formed.
func (s *Simulator) ControlCharMMSID() string { return "99000000000000" + nzSuffix }

// Record returns the generated NZ, IZ or external record with this ID.
func (s *Simulator) Record(mmsID string) (Record, bool) {
	for _, z := range s.zones {
		if r, ok := s.recordIn(z, mmsID); ok {
			return r.clone(), true
		}
	}
	if i, ok := s.ext.byID[mmsID]; ok {
		return s.ext.recs[i].clone(), true
	}
	return Record{}, false
}

// Records lists the NZ records in their default result order (control
// character record excluded).
func (s *Simulator) Records() []Record {
	out := make([]Record, 0, len(s.nz.recs))
	for _, r := range s.nz.recs {
		if !r.hidden {
			out = append(out, r.clone())
		}
	}
	return out
}

// Search runs a CQL query against the NZ the way the SRU endpoint does and
// returns the matching MMS IDs in result order (all of them: no page or
// position cap), or the SRU diagnostic as an error (*Diagnostic).
func (s *Simulator) Search(cql string) ([]string, error) {
	return s.SearchIn(s.cfg.NetworkCode, cql)
}

// SearchIn is Search against one zone: the network code, a member code or
// ExternalTarget (whose indexes are dc.* and bath.*).
func (s *Simulator) SearchIn(code, cql string) ([]string, error) {
	z := s.zoneOf(code)
	if z == nil {
		return nil, &Diagnostic{URI: diagURI(1), Message: "General system error", Details: "unknown institution " + code}
	}
	docs, d := z.search(cql)
	if d != nil {
		return nil, d
	}
	ids := make([]string, len(docs))
	for i, doc := range docs {
		ids[i] = z.recs[doc].MMSID
	}
	return ids, nil
}

// clone copies the record's exported slices, so that callers cannot change
// the ground truth the index was built from.
func (r *Record) clone() Record {
	c := *r
	c.Authors = slices.Clone(r.Authors)
	c.ISBNs = slices.Clone(r.ISBNs)
	c.ISSNs = slices.Clone(r.ISSNs)
	c.Subjects = slices.Clone(r.Subjects)
	c.Avail = slices.Clone(r.Avail)
	c.MARCXML = slices.Clone(r.MARCXML)
	c.Holdings = make([]Holding, len(r.Holdings))
	for i, h := range r.Holdings {
		h.Types = slices.Clone(h.Types)
		c.Holdings[i] = h
	}
	return c
}

// releaser lets ClearFaults and SetFault wake requests blocked by FaultHang.
type releaser struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

func (r *releaser) init() { r.ch = make(chan struct{}) }

func (r *releaser) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ch
}

func (r *releaser) fire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.ch)
	r.ch = make(chan struct{})
}
