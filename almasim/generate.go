package almasim

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/almanet/gateway/internal/stdnum"
)

// nzSuffix is the MMS ID suffix of the Network Zone's records.
const nzSuffix = "0101"

// generator draws the network from one seeded source; the order of draws is
// part of the output, so it never changes with anything but the Config.
type generator struct {
	s     *Simulator
	rng   *rand.Rand
	izSeq []int64         // next IZ serial per member
	izIDs map[string]bool // IZ MMS IDs drawn so far
}

func (s *Simulator) generate() {
	g := &generator{s: s, rng: rand.New(rand.NewPCG(s.cfg.Seed, s.cfg.Seed^0x9e3779b97f4a7c15)), izIDs: map[string]bool{}}
	g.members()
	nz := &zone{code: s.cfg.NetworkCode, nz: true}
	s.nz = nz
	s.zones[nz.code] = nz
	izs := make([]*zone, len(s.members))
	for i, m := range s.members {
		izs[i] = &zone{code: m.Code}
		s.zones[m.Code] = izs[i]
	}
	g.izSeq = make([]int64, len(s.members))
	for i := range g.izSeq {
		g.izSeq[i] = 1000000000 + int64(i)*7919
	}
	for i := range s.cfg.Records {
		r := g.record(i)
		nz.add(r)
		for _, iz := range r.izRecords {
			izs[g.memberIndex(iz.Institution)].add(iz)
		}
	}
	nz.add(g.controlCharRecord())
	keys := nzWorkKeys(nz)
	g.localOnly(izs, keys)
	s.ext = g.external(nz, keys)
	own := slices.Clone(nz.recs) // records that tokenize for themselves (IZ copies share their NZ record's tokens)
	for _, z := range append(izs, s.ext) {
		for _, r := range z.recs {
			if r.nz == nil {
				own = append(own, r)
			}
		}
	}
	parallel(len(own), func(i int) { own[i].tokenizeAll() })
	zones := make([]*zone, 0, len(s.zones)+1)
	for _, z := range s.zones {
		zones = append(zones, z)
	}
	zones = append(zones, s.ext)
	parallel(len(zones), func(i int) {
		zones[i].render()
		zones[i].build()
	})
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

var memberNames = []string{
	"University of Northland", "Southvale College", "Eastbridge Institute of Technology",
	"Westmoor University", "Lakeside Public Library", "Central State Library",
	"Hillcrest University", "Rivermouth Academy of Music", "Oakridge Medical Library",
	"Seaview Polytechnic", "Stonebridge Law School", "Maplewood School of Art",
}

func (g *generator) members() {
	s := g.s
	base := strings.TrimSuffix(s.cfg.NetworkCode, "_NETWORK")
	base = strings.TrimLeft(base, "0123456789")
	if base == "" {
		base = "NET"
	}
	names := slices.Clone(memberNames)
	g.rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	s.nzKey = g.apiKey()
	for i := range s.cfg.Members {
		s.members = append(s.members, Member{
			Code:   fmt.Sprintf("%02d%s_INST", i+1, base),
			Name:   names[i],
			APIKey: g.apiKey(),
			Suffix: fmt.Sprintf("01%02d", i+2),
		})
	}
}

// apiKey draws an Alma-looking key ("l8xx" and 32 hex digits).
func (g *generator) apiKey() string {
	return fmt.Sprintf("l8xx%016x%016x", g.rng.Uint64(), g.rng.Uint64())
}

func (g *generator) memberIndex(code string) int {
	for i, m := range g.s.members {
		if m.Code == code {
			return i
		}
	}
	return -1
}

func (g *generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }
func (g *generator) chance(p float64) bool     { return g.rng.Float64() < p }

// Vocabulary. Titles are drawn from patterns over these words so that common
// words such as "history" and "science" match many records.
var (
	topics = []string{"history", "science", "philosophy", "economics", "mathematics", "music", "art",
		"architecture", "law", "medicine", "biology", "chemistry", "physics", "literature", "religion",
		"politics", "education", "psychology", "sociology", "geography", "climate", "language",
		"computing", "engineering", "agriculture", "astronomy", "ecology", "theatre", "film", "photography"}
	adjectives = []string{"modern", "early", "ancient", "medieval", "global", "social", "natural", "political",
		"cultural", "digital", "urban", "European", "Swiss", "American", "comparative", "applied", "critical", "new"}
	places = []string{"Europe", "Switzerland", "Japan", "Africa", "the Alps", "Latin America", "the Pacific",
		"Scandinavia", "Rome", "China", "the Middle East", "New Zealand"}
	subtitles = []string{"an introduction", "a critical reader", "theory and practice", "new perspectives",
		"selected essays", "a global history", "methods and debates", "a very short introduction",
		"sources and documents", "the science of everyday life"}
	surnames = []string{"Smith", "Johnson", "Müller", "García Márquez", "Dvořák", "Nguyen", "O'Brien", "Kowalski",
		"Andersen", "Lefèvre", "Rossi", "Tanaka", "Ivanova", "Schmidt", "Brown", "Okafor", "Haddad", "Silva",
		"Jansen", "Novák", "Björk", "Zürcher", "Muster", "Fontaine", "Weiß", "Çelik", "Østergaard", "Moreau"}
	forenames = []string{"Anna", "John", "Jürgen", "Gabriel", "Antonín", "Mai", "Seán", "Marta", "Søren", "Émilie",
		"Giulia", "Hiroshi", "Olga", "Peter", "Grace", "Chidi", "Layla", "João", "Femke", "Jana", "Björn", "Léa"}
	notes = []string{"Includes bibliographical references and index.", "Includes bibliographical references (pages 301-322).",
		"Translation of the German edition.", "Originally presented as the author's thesis (doctoral)."}
	editions = []string{"2nd edition.", "Third edition, revised and expanded.", "1. Auflage.", "New edition."}
)

type publisher struct{ place, name, country string }

var publishers = map[string][]publisher{
	"eng": {{"New York", "Routledge", "nyu"}, {"Oxford", "Oxford University Press", "enk"},
		{"Cambridge", "Cambridge University Press", "enk"}, {"London", "Verso", "enk"},
		{"Chicago", "University of Chicago Press", "ilu"}, {"Wellington", "Victoria University Press", "nz "}},
	"ger": {{"Berlin", "De Gruyter", "gw "}, {"Frankfurt am Main", "Suhrkamp", "gw "},
		{"Zürich", "Chronos Verlag", "sz "}, {"Basel", "Schwabe Verlag", "sz "}},
	"fre": {{"Paris", "Gallimard", "fr "}, {"Genève", "Droz", "sz "}},
	"jpn": {{"Tōkyō", "Iwanami Shoten", "ja "}},
	"chi": {{"北京", "科学出版社", "cc "}},
	"kor": {{"서울", "Minumsa", "ko "}},
	"rus": {{"Москва", "Наука", "ru "}},
	"por": {{"São Paulo", "Editora Unesp", "bl "}},
	"cze": {{"Praha", "Academia", "xr "}},
}

// special titles: non-Latin scripts, diacritics, and characters that XML
// must escape.
type special struct {
	a, b, lang string
	nonFiling  int
	author     string
}

var specials = []special{
	{"日本の歴史", "", "jpn", 0, "村上, 春樹"},
	{"中国科学技术史", "", "chi", 0, "李, 约瑟"},
	{"한국의 역사와 문화", "", "kor", 0, "김, 영희"},
	{"История науки", "краткий курс", "rus", 0, "Иванов, Иван"},
	{"Наука и общество", "", "rus", 0, "Петрова, Ольга"},
	{"Histoire des sciences en France", "", "fre", 0, ""},
	{"Les sciences naturelles", "une histoire", "fre", 4, ""},
	{"L'histoire de l'art", "", "fre", 2, ""},
	{"Geschichte der Naturwissenschaften im 19. Jahrhundert", "", "ger", 0, ""},
	{"Die Geschichte der Philosophie", "", "ger", 4, ""},
	{"Über die Grenzen der Wissenschaft", "", "ger", 0, ""},
	{"Ciência, tecnologia e sociedade", "", "por", 0, ""},
	{"Dějiny české hudby", "", "cze", 0, ""},
	{"Science & society", "a history", "eng", 0, ""},
	{"Cats <and> dogs", `a "natural" history & more`, "eng", 0, ""},
	{"Rock 'n' roll & the history of science", "", "eng", 0, ""},
	{"Æsthetics & the science of beauty", "", "eng", 0, ""},
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// title draws a 245 $a and $b, the non-filing count, the language and
// whether the record is a serial.
func (g *generator) title() (a, b, lang string, nonFiling int, serial bool, author string) {
	lang = "eng"
	t1, t2 := g.pick(topics), g.pick(topics)
	adj := g.pick(adjectives)
	switch g.rng.IntN(14) {
	case 0:
		a = "A history of " + strings.ToLower(adj) + " " + t1
		nonFiling = 2
	case 1:
		a = "The science of " + t1
		nonFiling = 4
	case 2:
		a = capitalize(t1) + " and " + t2
	case 3:
		a = "Introduction to " + t1
	case 4:
		a = capitalize(adj) + " " + t1 + " in " + g.pick(places)
	case 5:
		a = "Studies in the history of " + t1
	case 6:
		a = capitalize(t1)
	case 7:
		a = "Essays on " + t1 + " and society"
	case 8:
		a = "Handbook of " + strings.ToLower(adj) + " " + t1
	case 9:
		a = "An atlas of " + t1
		nonFiling = 3
	case 10:
		a = "The " + t1 + " of " + g.pick(places)
		nonFiling = 4
	case 11:
		a = capitalize(t1) + " in " + g.pick(places) + ", " + strconv.Itoa(1700+g.rng.IntN(200)) + "-" + strconv.Itoa(1900+g.rng.IntN(100))
	case 12:
		a = "Journal of " + t1
		if g.chance(0.6) {
			serial = true
		}
	default:
		a = "History and " + t1
	}
	if !serial && g.chance(0.55) {
		b = g.pick(subtitles)
	}
	return a, b, lang, nonFiling, serial, ""
}

func (g *generator) person() string {
	return g.pick(surnames) + ", " + g.pick(forenames)
}

func (g *generator) nzID(i int) string {
	return "99" + strconv.FormatInt(1234560000+int64(i)*1000+g.rng.Int64N(1000), 10) + nzSuffix
}

func (g *generator) izID(m int) string {
	g.izSeq[m] += 1 + g.rng.Int64N(500)
	full := strconv.FormatInt(g.izSeq[m], 10)
	mid := full
	if g.chance(0.3) {
		mid = mid[:len(mid)-2] // Alma's IDs vary in length
	}
	id := "99" + mid + g.s.members[m].Suffix
	if g.izIDs[id] {
		id = "99" + full + g.s.members[m].Suffix // a shortened ID may repeat; the full serial never does
	}
	g.izIDs[id] = true
	return id
}

func digits(g *generator, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteByte(byte('0' + g.rng.IntN(10)))
	}
	return sb.String()
}

// isbn13 draws a valid ISBN-13.
func (g *generator) isbn13() string {
	s := "978" + strconv.Itoa(g.rng.IntN(4)) + digits(g, 8)
	sum := 0
	for i, c := range s {
		d := int(c - '0')
		if i%2 == 1 {
			d *= 3
		}
		sum += d
	}
	return s + strconv.Itoa((10-sum%10)%10)
}

// issn draws a valid ISSN (NNNN-NNNC).
func (g *generator) issn() string {
	s := digits(g, 7)
	sum := 0
	for i, c := range s {
		sum += (8 - i) * int(c-'0')
	}
	check := (11 - sum%11) % 11
	cs := strconv.Itoa(check)
	if check == 10 {
		cs = "X"
	}
	return s[:4] + "-" + s[4:] + cs
}

// holdingShape decides who holds record i; showcases come first.
func (g *generator) holders(i int) []int {
	n := len(g.s.members)
	perm := g.rng.Perm(n)
	switch i {
	case 0:
		return perm // every member
	case 1:
		return nil // nobody
	case 3, 7:
		return perm[:3]
	}
	p := g.rng.Float64()
	switch {
	case p < 0.07:
		return nil
	case p < 0.12:
		return perm
	}
	k := 1
	for k < n && g.chance(0.55) {
		k++
	}
	return perm[:k]
}

func (g *generator) types(serial, first bool) []string {
	if first {
		return []string{"P", "E"}
	}
	p := g.rng.Float64()
	if serial {
		p = p * 0.5 // serials are more often electronic
	}
	switch {
	case p < 0.03:
		return []string{"D"}
	case p < 0.04:
		return []string{"E", "D"}
	case p < 0.14:
		return []string{"P", "E"}
	case p < 0.16:
		return []string{"P", "D"}
	case p < 0.31:
		return []string{"E"}
	}
	return []string{"P"}
}

// record generates NZ record i and its IZ copies.
func (g *generator) record(i int) *Record {
	r := &Record{MMSID: g.nzID(i), Institution: g.s.cfg.NetworkCode}
	r.Work = r.MMSID
	a, b, lang, nonFiling, serial, author := g.title()
	if i == 4 || i == 5 || (i > 7 && g.chance(0.06)) {
		sp := specials[g.rng.IntN(len(specials))]
		switch i {
		case 4:
			sp = specials[0]
		case 5:
			sp = specials[14]
		}
		a, b, lang, nonFiling, serial, author = sp.a, sp.b, sp.lang, sp.nonFiling, false, sp.author
	}
	r.Serial, r.Language, r.NonFiling = serial, lang, nonFiling
	r.NoNS = i == 2 || (i > 7 && g.chance(0.03))
	r.Prefixed = i == 6 || (i > 7 && !r.NoNS && g.chance(0.02))
	r.Legacy852 = i == 3 || (i > 7 && g.chance(0.05))

	year := 2024 - int(g.rng.ExpFloat64()*25)
	year = max(year, 1850)
	r.Year = strconv.Itoa(year)
	pubs := publishers[lang]
	pub := pubs[g.rng.IntN(len(pubs))]
	r.Publisher, r.Place = pub.name, pub.place

	if author == "" && g.chance(0.88) {
		author = g.person()
	}
	if author != "" {
		r.Authors = append(r.Authors, author)
	}
	for range g.rng.IntN(3) {
		if g.chance(0.5) {
			r.Authors = append(r.Authors, g.person())
		}
	}

	// Subjects
	nsub := 1 + g.rng.IntN(3)
	var subjectFields []field
	for range nsub {
		t := capitalize(g.pick(topics))
		f := data("650", ' ', '0', sf('a', t))
		subj := t
		switch g.rng.IntN(4) {
		case 0:
			f.subs = append(f.subs, sf('x', "History"))
			subj += " -- History"
		case 1:
			pl := g.pick(places)
			f.subs = append(f.subs, sf('z', pl))
			subj += " -- " + pl
		}
		if serial {
			f.subs = append(f.subs, sf('v', "Periodicals."))
			subj += " -- Periodicals"
		} else {
			last := &f.subs[len(f.subs)-1]
			last.value += "."
		}
		if g.chance(0.15) {
			f.ind2 = '7'
			f.subs = append(f.subs, sf('2', "fast"))
		}
		subjectFields = append(subjectFields, f)
		r.Subjects = append(r.Subjects, subj)
	}

	// Identifiers
	var fields []field
	fields = append(fields, field{tag: "001", value: r.MMSID})
	d005 := fmt.Sprintf("%04d%02d%02d%02d%02d%02d.0", max(year, 2015)+g.rng.IntN(3), 1+g.rng.IntN(12), 1+g.rng.IntN(28), g.rng.IntN(24), g.rng.IntN(60), g.rng.IntN(60))
	fields = append(fields, field{tag: "005", value: d005})
	typeDate, date2 := "s", "    "
	if serial {
		typeDate, date2 = "c", "9999"
	}
	entered := fmt.Sprintf("%02d%02d%02d", year%100, 1+g.rng.IntN(12), 1+g.rng.IntN(28))
	f008 := entered + typeDate + fmt.Sprintf("%04d", year) + date2 + pub.country + "      b    001 0 " + lang + " d"
	fields = append(fields, field{tag: "008", value: f008})
	// LCCN and series come from their own generator, so that adding them
	// left every other drawn value (and every count the tests know) as it was.
	side := rand.New(rand.NewPCG(g.s.cfg.Seed^0x5eed5e1e5, uint64(i)))
	if !serial && side.Float64() < 0.35 {
		r.LCCN = fmt.Sprintf("%d%06d", max(year, 1900), side.IntN(1000000))
		fields = append(fields, data("010", ' ', ' ', sf('a', "   "+r.LCCN+" ")))
	}
	var seriesFields []field
	if !serial && side.Float64() < 0.25 {
		sr := seriesTitles[side.IntN(len(seriesTitles))]
		r.Series = append(r.Series, sr)
		v := strconv.Itoa(1 + side.IntN(120))
		if side.Float64() < 0.5 {
			seriesFields = append(seriesFields, data("490", '0', ' ', sf('a', sr+" ;"), sf('v', v)))
		} else {
			seriesFields = append(seriesFields, data("490", '1', ' ', sf('a', sr+" ;"), sf('v', v)), data("830", ' ', '0', sf('a', sr+" ;"), sf('v', v+".")))
		}
	}
	if serial {
		is := g.issn()
		r.ISSNs = append(r.ISSNs, is)
		fields = append(fields, data("022", '0', ' ', sf('a', is)))
	} else if g.chance(0.8) {
		is := g.isbn13()
		r.ISBNs = append(r.ISBNs, is)
		f := data("020", ' ', ' ', sf('a', is))
		if g.chance(0.3) {
			f.subs = append(f.subs, sf('q', g.pick([]string{"hardcover", "paperback", "(pbk.)"})))
		}
		fields = append(fields, f)
		if g.chance(0.3) {
			i10 := stdnum.ISBN10(is)
			r.ISBNs = append(r.ISBNs, i10)
			fields = append(fields, data("020", ' ', ' ', sf('a', i10)))
		}
	}
	if g.chance(0.6) {
		fields = append(fields, data("035", ' ', ' ', sf('a', "(OCoLC)"+strconv.Itoa(10000000+g.rng.IntN(1200000000)))))
	}
	if i == 0 || g.chance(0.4) {
		r.CZMMSID = "99" + digits(g, 12) + "0386"
		fields = append(fields, data("035", ' ', ' ', sf('a', "(EXLCZ)"+r.CZMMSID)))
	}
	if g.chance(0.3) {
		fields = append(fields, data("035", ' ', ' ', sf('a', fmt.Sprintf("(NET)%07d-netdb", i+1))))
	}
	fields = append(fields, data("040", ' ', ' ', sf('a', "NET"), sf('b', "eng"), sf('e', "rda"), sf('c', "NET")))
	if len(r.Authors) > 0 {
		fields = append(fields, data("100", '1', ' ', sf('a', r.Authors[0]+","), sf('d', g.lifeDates()), sf('e', "author.")))
	}

	// 245 with ISBD punctuation: $a ends " :" before $b, " /" before $c.
	ind1 := byte('0')
	if len(r.Authors) > 0 {
		ind1 = '1'
	}
	var resp string
	if len(r.Authors) > 0 {
		resp = invertName(r.Authors[0])
		if len(r.Authors) > 1 {
			resp += " ; edited by " + invertName(r.Authors[1])
		}
		resp += "."
	}
	f245 := data("245", ind1, byte('0'+nonFiling))
	sa := a
	switch {
	case b != "":
		sa += " :"
	case resp != "":
		sa += " /"
	default:
		sa += "."
	}
	f245.subs = append(f245.subs, sf('a', sa))
	if b != "" {
		sb := b
		if resp != "" {
			sb += " /"
		} else {
			sb += "."
		}
		f245.subs = append(f245.subs, sf('b', sb))
	}
	if resp != "" {
		f245.subs = append(f245.subs, sf('c', resp))
	}
	fields = append(fields, f245)
	r.Title = trimISBD(a)
	if b != "" {
		r.Title += " : " + b
	}
	if !serial && g.chance(0.2) {
		fields = append(fields, data("250", ' ', ' ', sf('a', g.pick(editions))))
	}
	c := r.Year + "."
	if serial {
		c = r.Year + "-"
	}
	if g.chance(0.15) {
		fields = append(fields, data("260", ' ', ' ', sf('a', pub.place+" :"), sf('b', pub.name+","), sf('c', c)))
	} else {
		fields = append(fields, data("264", ' ', '1', sf('a', pub.place+" :"), sf('b', pub.name+","), sf('c', c)))
	}
	if serial {
		fields = append(fields, data("300", ' ', ' ', sf('a', "volumes :"), sf('b', "illustrations ;"), sf('c', "28 cm")))
	} else {
		fields = append(fields, data("300", ' ', ' ', sf('a', fmt.Sprintf("%s, %d pages :", roman(5+g.rng.IntN(30)), 80+g.rng.IntN(700))), sf('b', "illustrations ;"), sf('c', fmt.Sprintf("%d cm", 20+g.rng.IntN(10)))))
	}
	holders := g.holders(i)
	holdingTypes := make([][]string, len(holders))
	eOnly := len(holders) > 0
	for k := range holders {
		holdingTypes[k] = g.types(serial, i == 0 && k == 0)
		if slices.Contains(holdingTypes[k], "P") {
			eOnly = false
		}
	}
	if eOnly {
		fields = append(fields,
			data("336", ' ', ' ', sf('a', "text"), sf('b', "txt"), sf('2', "rdacontent")),
			data("337", ' ', ' ', sf('a', "computer"), sf('b', "c"), sf('2', "rdamedia")),
			data("338", ' ', ' ', sf('a', "online resource"), sf('b', "cr"), sf('2', "rdacarrier")))
	} else {
		fields = append(fields,
			data("336", ' ', ' ', sf('a', "text"), sf('b', "txt"), sf('2', "rdacontent")),
			data("337", ' ', ' ', sf('a', "unmediated"), sf('b', "n"), sf('2', "rdamedia")),
			data("338", ' ', ' ', sf('a', "volume"), sf('b', "nc"), sf('2', "rdacarrier")))
	}
	for _, f := range seriesFields {
		if f.tag == "490" {
			fields = append(fields, f)
		}
	}
	if g.chance(0.4) {
		fields = append(fields, data("504", ' ', ' ', sf('a', g.pick(notes))))
	}
	fields = append(fields, subjectFields...)
	for _, au := range r.Authors[min(1, len(r.Authors)):] {
		fields = append(fields, data("700", '1', ' ', sf('a', au+","), sf('e', g.pick([]string{"editor.", "author.", "translator."}))))
	}
	for _, f := range seriesFields {
		if f.tag == "830" {
			fields = append(fields, f)
		}
	}
	if r.Legacy852 {
		fields = append(fields, data("852", '0', ' ', sf('b', "main"), sf('h', "Q"+strconv.Itoa(1+g.rng.IntN(300))), sf('i', ".S"+digits(g, 3)), sf('p', digits(g, 6)), sf('x', "reclassed from: "+digits(g, 4)+".846")))
		if g.chance(0.5) {
			fields = append(fields, data("852", '0', ' ', sf('b', "annex"), sf('t', "2"), sf('h', "Q1"), sf('i', ".S"+digits(g, 4)), sf('p', digits(g, 6))))
		}
	}
	if eOnly {
		fields = append(fields, data("856", '4', '0', sf('u', "https://resolver.example.org/"+r.MMSID), sf('z', "Online access")))
	}
	r.fields = fields

	// Member holdings and their IZ records.
	for k, m := range holders {
		mem := g.s.members[m]
		h := Holding{Institution: mem.Code, IZMMSID: g.izID(m), Has6: !(i == 7 && k == 0) && g.chance(0.95), Types: holdingTypes[k]}
		if i == 7 && k == 1 {
			h.Types = []string{"D"}
		}
		r.Holdings = append(r.Holdings, h)
		iz := g.izRecord(r, h, m)
		r.izRecords = append(r.izRecords, iz)
		r.Avail = append(r.Avail, iz.Avail...)
	}
	return r
}

func (g *generator) lifeDates() string {
	born := 1900 + g.rng.IntN(95)
	if born < 1950 && g.chance(0.6) {
		return fmt.Sprintf("%d-%d.", born, born+50+g.rng.IntN(40))
	}
	return fmt.Sprintf("%d-", born)
}

func invertName(n string) string {
	sur, fore, ok := strings.Cut(n, ", ")
	if !ok {
		return n
	}
	return fore + " " + sur
}

func roman(n int) string {
	vals := []int{10, 9, 5, 4, 1}
	syms := []string{"x", "ix", "v", "iv", "i"}
	var sb strings.Builder
	for i, v := range vals {
		for n >= v {
			sb.WriteString(syms[i])
			n -= v
		}
	}
	return sb.String()
}

// seriesTitles are the series (490/830 $a) some monographs belong to.
var seriesTitles = []string{
	"Lecture notes in computer science", "Studies in the history of science", "Cambridge studies in linguistics",
	"Oxford historical monographs", "Routledge library editions", "Springer series in statistics",
	"Collection Que sais-je?", "Beiträge zur Geschichte der Philosophie", "Biblioteca di storia",
}

var libraries = []struct{ code, name string }{
	{"MAIN", "Main Library"}, {"SCI", "Science Library"}, {"LAW", "Law Library"}, {"HUM", "Humanities Library"},
}
var locations = []struct{ code, name string }{
	{"GEN", "General Collection"}, {"STACKS", "Stacks"}, {"REF", "Reference"}, {"OFFSITE", "Remote Storage"},
}
var interfaces = []string{"ProQuest", "EBSCOhost", "JSTOR", "SpringerLink", "Oxford Academic"}

// izRecord makes member m's copy of NZ record nz, with its inventory.
func (g *generator) izRecord(nz *Record, h Holding, m int) *Record {
	mem := g.s.members[m]
	iz := &Record{
		MMSID: h.IZMMSID, Institution: mem.Code, NZMMSID: nz.MMSID, CZMMSID: nz.CZMMSID,
		Title: nz.Title, NonFiling: nz.NonFiling, Authors: nz.Authors, ISBNs: nz.ISBNs, ISSNs: nz.ISSNs,
		Publisher: nz.Publisher, Place: nz.Place, Year: nz.Year, Language: nz.Language, Subjects: nz.Subjects,
		LCCN: nz.LCCN, Series: nz.Series, Serial: nz.Serial, Legacy852: nz.Legacy852, NoNS: nz.NoNS, Prefixed: nz.Prefixed, nz: nz, Work: nz.MMSID,
	}
	// Fields: the NZ bib with the member's 001 and an (EXLNZ-) 035.
	iz.fields = make([]field, 0, len(nz.fields)+1)
	inserted := false
	for _, f := range nz.fields {
		if f.tag == "001" {
			f.value = iz.MMSID
		}
		if !inserted && f.tag > "035" {
			iz.fields = append(iz.fields, data("035", ' ', ' ', sf('a', "(EXLNZ-"+g.s.cfg.NetworkCode+")"+nz.MMSID)))
			inserted = true
		}
		iz.fields = append(iz.fields, f)
	}
	seq := func(prefix string) string { return prefix + digits(g, 9) + "000" + mem.Suffix[2:] }
	for _, t := range h.Types {
		switch t {
		case "P":
			for n := range 1 + g.rng.IntN(2) {
				lib := libraries[(m+n)%len(libraries)]
				loc := locations[g.rng.IntN(len(locations))]
				a := Availability{Kind: "AVA", Institution: mem.Code, Library: lib.code, LibraryName: lib.name,
					Location: loc.code, LocationName: loc.name, HoldingsID: seq("22"),
					CallNumber: fmt.Sprintf("%s%d .%c%d %s", g.pick([]string{"HM", "QA", "PN", "Q", "BF", "D"}), 1+g.rng.IntN(999), 'A'+rune(g.rng.IntN(26)), 10+g.rng.IntN(89), nz.Year)}
				p := g.rng.Float64()
				switch {
				case p < 0.7:
					a.Status, a.Total = "available", 1+g.rng.IntN(4)
					a.Unavailable = g.rng.IntN(a.Total)
				case p < 0.9:
					a.Status, a.Total = "unavailable", 1+g.rng.IntN(2)
					a.Unavailable = a.Total
				default:
					a.Status, a.Total, a.Unavailable = "check_holdings", -1, -1
				}
				iz.Avail = append(iz.Avail, a)
			}
		case "E":
			a := Availability{Kind: "AVE", Institution: mem.Code, PortfolioID: seq("53"), CollectionID: seq("61"),
				CollectionName: capitalize(g.pick(topics)) + " Online", Interface: g.pick(interfaces),
				Coverage: "Available from " + nz.Year, Status: "Available"}
			if g.chance(0.1) {
				a.Status = "Not Available"
			}
			a.URL = "https://" + strings.ToLower(mem.Code) + ".alma.example.org/openurl?u.ignore_date_coverage=true&portfolio_pid=" + a.PortfolioID
			iz.Avail = append(iz.Avail, a)
		case "D":
			a := Availability{Kind: "AVD", Institution: mem.Code, RepresentationID: seq("12"), Label: "Digitized copy"}
			a.URL = "https://" + strings.ToLower(mem.Code) + ".alma.example.org/delivery/" + a.RepresentationID
			iz.Avail = append(iz.Avail, a)
		}
	}
	return iz
}

// controlCharRecord is the one record whose text XML 1.0 forbids; see
// ControlCharMMSID.
func (g *generator) controlCharRecord() *Record {
	id := g.s.ControlCharMMSID()
	r := &Record{MMSID: id, Institution: g.s.cfg.NetworkCode, Title: "Control\x01characters\x0b in a title\uFFFE",
		Year: "2020", Language: "eng", hidden: true}
	r.fields = []field{
		{tag: "001", value: id},
		{tag: "005", value: "20200101000000.0"},
		{tag: "008", value: "200101s2020    xx            000 0 eng d"},
		data("245", '0', '0', sf('a', r.Title+".")),
		data("264", ' ', '1', sf('c', "2020.")),
	}
	return r
}
