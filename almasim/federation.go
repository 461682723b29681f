package almasim

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/almanet/gateway/internal/stdnum"
)

// What federation needs from the simulated world (SPEC 9): members' IZ SRU
// answers that hold records the network lacks, an external SRU server of a
// different kind, and the ground truth of which records are the same work.
//
// Both extras are drawn after the network, each from its own seeded source,
// so that adding them changed no NZ or IZ record that existed before.

// ExternalTarget names the external SRU server (a union catalogue that is not
// Alma) for per-target faults, counters and Work. It answers at /ext/sru.
const ExternalTarget = "ext"

// externalPath is where the external target answers.
const externalPath = "/ext/sru"

// ExternalSRUURL is the external target's SRU base under base.
func (s *Simulator) ExternalSRUURL(base string) string {
	return strings.TrimRight(base, "/") + externalPath
}

// ExternalRecords lists the external target's records in their default
// result order.
func (s *Simulator) ExternalRecords() []Record {
	out := make([]Record, 0, len(s.ext.recs))
	for _, r := range s.ext.recs {
		out = append(out, r.clone())
	}
	return out
}

// LocalOnly lists member code's local-only records: IZ records with no NZ
// record behind them (no 035 (EXLNZ-…)).
func (s *Simulator) LocalOnly(code string) []Record {
	z, ok := s.zones[code]
	if !ok || z.nz {
		return nil
	}
	var out []Record
	for _, r := range z.recs {
		if r.NZMMSID == "" {
			out = append(out, r.clone())
		}
	}
	return out
}

// Work is the ground truth of clustering: the work that record id of target
// (the network code, a member code or ExternalTarget) is a copy of. Two
// records are the same work exactly when their Work values are equal. An NZ
// record is its own work (its MMS ID); a member's copy and an external
// record made from an NZ record share that NZ MMS ID; a local-only or
// external-only record is a work of its own ("<target>:<id>").
func (s *Simulator) Work(target, id string) (string, bool) {
	z := s.zoneOf(target)
	if z == nil {
		return "", false
	}
	i, ok := z.byID[id]
	if !ok || z.recs[i].hidden {
		return "", false
	}
	return z.recs[i].Work, true
}

// SameWork reports whether two records (target, id) are copies of one work;
// unknown records are no work at all.
func (s *Simulator) SameWork(targetA, idA, targetB, idB string) bool {
	a, okA := s.Work(targetA, idA)
	b, okB := s.Work(targetB, idB)
	return okA && okB && a == b
}

// Works is the whole ground truth: target → record ID → work.
func (s *Simulator) Works() map[string]map[string]string {
	out := map[string]map[string]string{}
	add := func(name string, z *zone) {
		m := map[string]string{}
		for _, r := range z.recs {
			if !r.hidden {
				m[r.MMSID] = r.Work
			}
		}
		out[name] = m
	}
	for code, z := range s.zones {
		add(code, z)
	}
	add(ExternalTarget, s.ext)
	return out
}

// zoneOf finds a target's zone: a zone code or ExternalTarget.
func (s *Simulator) zoneOf(target string) *zone {
	if target == ExternalTarget {
		return s.ext
	}
	return s.zones[target]
}

// Targets lists the SRU targets the simulator serves: the network, every
// member, and ExternalTarget.
func (s *Simulator) Targets() []string {
	out := []string{s.cfg.NetworkCode}
	for _, m := range s.members {
		out = append(out, m.Code)
	}
	return append(out, ExternalTarget)
}

// subGenerator is a generator on its own seeded source, for the records drawn
// after the network (local-only and external).
func (g *generator) subGenerator(salt uint64, izSeq []int64, izIDs map[string]bool) *generator {
	seed := g.s.cfg.Seed
	return &generator{s: g.s, rng: rand.New(rand.NewPCG(seed^salt, seed*0x2545f4914f6cdd1d^salt)), izSeq: izSeq, izIDs: izIDs}
}

// localOnly adds to each member's IZ the records it holds that the network
// lacks: its own 001, no (EXLNZ-…) and no (EXLCZ) link, and its inventory.
// Their MMS IDs continue the member's sequence, so none equals a copy's.
func (g *generator) localOnly(izs []*zone, keys map[string]int) {
	n := g.s.cfg.LocalOnly
	if n < 0 {
		return
	}
	lg := g.subGenerator(0x6c6f63616c, g.izSeq, g.izIDs) // continues the members' ID sequences
	next := g.s.cfg.Records + 1000000
	for m, mem := range g.s.members {
		for range n {
			src := lg.freshRecord(&next, keys) // its holders are dropped
			h := Holding{Institution: mem.Code, IZMMSID: lg.izID(m), Has6: true, Types: lg.types(src.Serial, false)}
			iz := lg.izRecord(src, h, m)
			iz.nz, iz.NZMMSID, iz.CZMMSID = nil, "", ""
			iz.fields = slices.DeleteFunc(iz.fields, func(f field) bool {
				if f.tag != "035" || len(f.subs) == 0 {
					return false
				}
				v := f.subs[0].value
				return strings.HasPrefix(v, "(EXLNZ-") || strings.HasPrefix(v, "(EXLCZ)")
			})
			iz.Work = mem.Code + ":" + iz.MMSID
			izs[m].add(iz)
		}
	}
}

// external builds the external target: copies of some NZ records that share
// an ISBN, an ISSN or an OCLC number with them (or, for records with none of
// these, only title, author and year), written the way another catalogue
// would (its own 001 and 003, ISBNs hyphenated or as ISBN-10, no Alma links,
// no 852s), followed by records the network does not have.
func (g *generator) external(nz *zone, keys map[string]int) *zone {
	ext := &zone{code: ExternalTarget, lookup: externalIndex}
	n := g.s.cfg.External
	eg := g.subGenerator(0x65787465726e, slices.Clone(g.izSeq), map[string]bool{}) // its IZ draws are thrown away
	seq := 0
	nextID := func() string {
		seq++
		return "UC" + strconv.Itoa(100000000+seq*37+eg.rng.IntN(37))
	}
	for _, r := range nz.recs {
		if r.hidden {
			continue
		}
		hasID := len(r.ISBNs) > 0 || len(r.ISSNs) > 0 || oclcOf(r.fields) != ""
		p := 0.3
		if !hasID {
			p = 0.15
			if keys[workKey(r)] > 1 {
				continue // title, author and year alone could not say which NZ record it copies
			}
		}
		if !eg.chance(p) {
			continue
		}
		ext.add(eg.externalCopy(r, nextID(), r.MMSID, true))
	}
	if n >= 0 {
		next := g.s.cfg.Records + 2000000
		for range n {
			src := eg.freshRecord(&next, keys)
			id := nextID()
			ext.add(eg.externalCopy(src, id, ExternalTarget+":"+id, false))
		}
	}
	return ext
}

// oclcOf returns the record's (OCoLC) 035 $a, or "".
func oclcOf(fields []field) string {
	for _, f := range fields {
		if f.tag == "035" && len(f.subs) > 0 && strings.HasPrefix(f.subs[0].value, "(OCoLC)") {
			return f.subs[0].value
		}
	}
	return ""
}

// externalCopy writes src as the external catalogue holds it. For a copy of
// an NZ record (overlap), some identifiers are left out so that every join
// rule is exercised: an ISBN only, an OCLC number only, or both; and when an
// identifier joins, the subtitle is sometimes dropped, so that only the
// identifier can.
func (g *generator) externalCopy(src *Record, id, work string, overlap bool) *Record {
	r := &Record{MMSID: id, Institution: ExternalTarget, Title: src.Title, NonFiling: src.NonFiling,
		Authors: src.Authors, Publisher: src.Publisher, Place: src.Place, Year: src.Year,
		Language: src.Language, Subjects: src.Subjects, Serial: src.Serial, Work: work}
	oclc := oclcOf(src.fields)
	keepISBN, keepOCLC := len(src.ISBNs) > 0, oclc != ""
	if overlap && keepISBN && keepOCLC {
		switch g.rng.IntN(3) {
		case 0:
			keepISBN = false
		case 1:
			keepOCLC = false
		}
	}
	dropSubtitle := overlap && (keepISBN || keepOCLC || len(src.ISSNs) > 0) && strings.Contains(src.Title, " : ") && g.chance(0.3)
	if dropSubtitle {
		if a, _, ok := strings.Cut(src.Title, " : "); ok {
			r.Title = a
		}
	}
	if keepISBN {
		r.ISBNs = slices.Clone(src.ISBNs[:1])
	}
	r.ISSNs = slices.Clone(src.ISSNs)
	for _, f := range src.fields {
		switch f.tag {
		case "001":
			r.fields = append(r.fields, field{tag: "001", value: id}, field{tag: "003", value: "UNION"})
		case "005", "852", "856":
		case "020":
			if !keepISBN || f.subs[0].value != src.ISBNs[0] {
				continue
			}
			r.fields = append(r.fields, data("020", ' ', ' ', sf('a', g.isbnForm(f.subs[0].value))))
		case "035":
			if keepOCLC && f.subs[0].value == oclc {
				// Another catalogue writes the number with its own prefix zeros.
				r.fields = append(r.fields, data("035", ' ', ' ', sf('a', "(OCoLC)ocm"+strings.TrimPrefix(oclc, "(OCoLC)"))))
			}
		case "040":
			r.fields = append(r.fields, data("040", ' ', ' ', sf('a', "UNION"), sf('b', "eng"), sf('c', "UNION")))
		case "245":
			if dropSubtitle {
				f = data("245", f.ind1, f.ind2, sf('a', src.Title[:strings.Index(src.Title, " : ")]+"."))
			}
			r.fields = append(r.fields, f)
		default:
			r.fields = append(r.fields, f)
		}
	}
	return r
}

// isbnForm writes an ISBN-13 the way another catalogue might: hyphenated,
// as its ISBN-10, or as it is.
func (g *generator) isbnForm(isbn string) string {
	if len(isbn) != 13 {
		return isbn
	}
	switch g.rng.IntN(3) {
	case 0:
		return isbn[:3] + "-" + isbn[3:4] + "-" + isbn[4:8] + "-" + isbn[8:12] + "-" + isbn[12:]
	case 1:
		if strings.HasPrefix(isbn, "978") {
			return stdnum.ISBN10(isbn)
		}
	}
	return isbn
}

// externalIndexes are the external target's index names (the Dublin Core
// and Bath context sets, as a union catalogue that is not Alma uses them)
// and the simulator's index each one searches.
var externalIndexes = map[string]string{
	"cql.serverChoice":         "all_for_ui",
	"cql.anywhere":             "all_for_ui",
	"cql.keywords":             "all_for_ui",
	"dc.title":                 "title",
	"dc.creator":               "creator",
	"dc.subject":               "subjects",
	"dc.publisher":             "publisher",
	"dc.date":                  "main_pub_date",
	"dc.identifier":            "mms_id",
	"bath.isbn":                "isbn",
	"bath.issn":                "issn",
	"bath.standardIdentifier":  "other_system_number",
	"bath.name":                "creator",
	"bath.topicalSubject":      "subjects",
	"bath.keyTitle":            "title",
	"bath.any":                 "all_for_ui",
	"bath.personalName":        "creator",
	"bath.corporateName":       "creator",
	"bath.conferenceName":      "creator",
	"bath.geographicName":      "subjects",
	"bath.notes":               "all_for_ui",
	"bath.possessingInstitute": "publisher",
}

// externalIndex resolves a CQL index name the way the external target does:
// dc.* and bath.* only (Alma's alma.* names are unknown there, diagnostic 16).
func externalIndex(name string) (int, bool) {
	short, ok := externalIndexes[name]
	if !ok {
		return 0, false
	}
	for i, d := range indexDefs {
		if d.name == "alma."+short {
			return i, true
		}
	}
	return 0, false
}

// externalIndexNames lists the external target's indexes in order, for its
// explain.
func externalIndexNames() []string {
	names := make([]string, 0, len(externalIndexes))
	for n := range externalIndexes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// freshRecord draws a bibliographic record for a local-only or external-only
// work at index *next and on, skipping any whose title, first author and year
// equal an NZ record's: such a pair would be one work to any merger, and the
// ground truth says otherwise.
func (g *generator) freshRecord(next *int, keys map[string]int) *Record {
	for {
		r := g.record(*next)
		*next++
		if keys[workKey(r)] == 0 && keys[workKeyFiled(r)] == 0 {
			return r
		}
	}
}

// nzWorkKeys counts the NZ records per workKey and workKeyFiled.
func nzWorkKeys(nz *zone) map[string]int {
	keys := map[string]int{}
	for _, r := range nz.recs {
		if r.hidden {
			continue
		}
		keys[workKey(r)]++
		if k := workKeyFiled(r); k != workKey(r) {
			keys[k]++
		}
	}
	return keys
}

// workKey is a record's title words, first author's surname and year, as
// case and accent blind as the indexes (see tokenize).
func workKey(r *Record) string { return keyOf(r.Title, r) }

// workKeyFiled is workKey without the title's non-filing characters.
func workKeyFiled(r *Record) string { return keyOf(r.Title[min(r.NonFiling, len(r.Title)):], r) }

func keyOf(title string, r *Record) string {
	surname := ""
	if len(r.Authors) > 0 {
		surname, _, _ = strings.Cut(r.Authors[0], ",")
	}
	// Only the main title: a catalogue may leave the subtitle out.
	main, _, _ := strings.Cut(title, " : ")
	return strings.Join(tokenize(main, false), " ") + "|" + strings.Join(tokenize(surname, false), " ") + "|" + r.Year
}
