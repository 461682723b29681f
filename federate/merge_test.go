package federate

import (
	"strings"
	"testing"

	"github.com/almanet/gateway/transform"
	"github.com/google/go-cmp/cmp"
)

// rec is a compact description of one test record.
type rec struct {
	id, title, author, year string
	nz, cz, oclc, isbn      string
	issn                    string
	h852                    [][3]string // institution, $6, $9 types
	avail                   []string    // AVA, AVE, AVD
	subjects                []string
	publisher               string
}

func (r rec) parse(t testing.TB) *transform.Record {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>`)
	b.WriteString(`<controlfield tag="001">` + r.id + `</controlfield>`)
	df := func(tag, ind string, subs ...string) {
		b.WriteString(`<datafield tag="` + tag + `" ind1="` + ind[:1] + `" ind2="` + ind[1:] + `">`)
		for i := 0; i+1 < len(subs); i += 2 {
			b.WriteString(`<subfield code="` + subs[i] + `">` + subs[i+1] + `</subfield>`)
		}
		b.WriteString(`</datafield>`)
	}
	if r.isbn != "" {
		df("020", "  ", "a", r.isbn)
	}
	if r.issn != "" {
		df("022", "0 ", "a", r.issn)
	}
	if r.oclc != "" {
		df("035", "  ", "a", "(OCoLC)"+r.oclc)
	}
	if r.cz != "" {
		df("035", "  ", "a", "(EXLCZ)"+r.cz)
	}
	if r.nz != "" {
		df("035", "  ", "a", "(EXLNZ-01NET_NETWORK)"+r.nz)
	}
	if r.author != "" {
		df("100", "1 ", "a", r.author+",")
	}
	df("245", "10", "a", r.title)
	df("264", " 1", "b", r.publisher, "c", r.year)
	for _, s := range r.subjects {
		df("650", " 0", "a", s)
	}
	for _, h := range r.h852 {
		subs := []string{"a", h[0]}
		if h[1] != "" {
			subs = append(subs, "6", h[1])
		}
		for _, c := range strings.Split(h[2], "") {
			subs = append(subs, "9", c)
		}
		df("852", "01", subs...)
	}
	for _, a := range r.avail {
		df(a, "  ", "a", "X", "b", "MAIN")
	}
	b.WriteString(`</record>`)
	p, err := transform.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// src builds a Source from test records, positions 1..n.
func src(t testing.TB, target string, nz bool, member string, weight float64, recs ...rec) Source {
	t.Helper()
	s := Source{Target: target, NZ: nz, Member: member, Weight: weight}
	for i, r := range recs {
		s.Records = append(s.Records, Record{ID: r.id, Position: i + 1, Rec: r.parse(t)})
	}
	return s
}

// groups lists the clusters as their sources "target:id", in cluster order.
func groups(cs []*Cluster) [][]string {
	out := [][]string{}
	for _, c := range cs {
		var g []string
		for _, s := range c.Sources {
			g = append(g, s.Target+":"+s.ID)
		}
		out = append(out, g)
	}
	return out
}

func TestClustering(t *testing.T) {
	tests := []struct {
		name    string
		sources func(t *testing.T) []Source
		want    [][]string
	}{
		{"IZ 035 EXLNZ joins the NZ 001", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "991", title: "Alpha"}),
				src(t, "A", false, "A_INST", 1, rec{id: "771", nz: "991", title: "Something else entirely"}),
			}
		}, [][]string{{"nz:991", "A:771"}}},
		{"two IZ copies of one NZ record without the NZ record", func(t *testing.T) []Source {
			return []Source{
				src(t, "A", false, "A_INST", 1, rec{id: "771", nz: "991", title: "Alpha"}),
				src(t, "B", false, "B_INST", 1, rec{id: "881", nz: "991", title: "Alpha"}),
			}
		}, [][]string{{"A:771", "B:881"}}},
		{"NZ 852 $6 names the IZ record", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "991", title: "Alpha", h852: [][3]string{{"A_INST", "771", "P"}}}),
				src(t, "A", false, "A_INST", 1, rec{id: "771", title: "Beta"}),
			}
		}, [][]string{{"nz:991", "A:771"}}},
		{"CZ, OCLC with prefixes, ISBN-10 against ISBN-13, ISSN", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1,
					rec{id: "1", title: "One", cz: "99386"},
					rec{id: "2", title: "Two", oclc: "12345"},
					rec{id: "3", title: "Three", isbn: "9780306406157"},
					rec{id: "4", title: "Four", issn: "0028-0836"}),
				src(t, "ext", false, "", 1,
					rec{id: "e1", title: "Uno", cz: "99386"},
					rec{id: "e2", title: "Dos", oclc: "ocm00012345"},
					rec{id: "e3", title: "Tres", isbn: "0-306-40615-2"},
					rec{id: "e4", title: "Cuatro", issn: "00280836"}),
			}
		}, [][]string{{"nz:1", "ext:e1"}, {"nz:2", "ext:e2"}, {"nz:3", "ext:e3"}, {"nz:4", "ext:e4"}}},
		{"identifiers join transitively", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "1", title: "One", oclc: "5"}),
				src(t, "ext", false, "", 1, rec{id: "e1", title: "Another", oclc: "5", isbn: "9780306406157"}),
				src(t, "loc", false, "", 1, rec{id: "l1", title: "Third", isbn: "9780306406157"}),
			}
		}, [][]string{{"nz:1", "ext:e1", "loc:l1"}}},
		{"the key joins across targets: case, accents, punctuation, article, subtitle", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "1", title: "The Histoire des sciences : une introduction", author: "Lefèvre, Émilie", year: "2001"}),
				src(t, "ext", false, "", 1, rec{id: "e1", title: "histoire des SCIENCES.", author: "Lefevre, E.", year: "2001"}),
			}
		}, [][]string{{"nz:1", "ext:e1"}}},
		{"the key never joins two records of one target", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1,
					rec{id: "1", title: "Music", author: "Smith, A", year: "2000"},
					rec{id: "2", title: "Music", author: "Smith, A", year: "2000"}),
			}
		}, [][]string{{"nz:1"}, {"nz:2"}}},
		{"the key never joins two NZ MMS IDs, nor an ISBN with another; it joins what has no conflict", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "1", title: "Music", author: "Smith, A", year: "2000", isbn: "9780306406157"}),
				src(t, "A", false, "A_INST", 1, rec{id: "a1", nz: "7", title: "Music", author: "Smith, A", year: "2000"}),
				src(t, "ext", false, "", 1, rec{id: "e1", title: "Music", author: "Smith, A", year: "2000", isbn: "9781861972712"}),
			}
		}, [][]string{{"nz:1"}, {"A:a1", "ext:e1"}}},
		{"a year or an author apart is another work", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "1", title: "Music", author: "Smith, A", year: "2000"}),
				src(t, "ext", false, "", 1,
					rec{id: "e1", title: "Music", author: "Smith, A", year: "2001"},
					rec{id: "e2", title: "Music", author: "Jones, A", year: "2000"}),
			}
		}, [][]string{{"nz:1"}, {"ext:e1"}, {"ext:e2"}}},
		{"a key-joined cluster keeps one record per target", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "1", title: "Music", year: "2000"}),
				src(t, "ext", false, "", 1, rec{id: "e1", title: "Music", year: "2000"}),
				src(t, "loc", false, "", 1, rec{id: "l1", title: "Music", year: "2000"}, rec{id: "l2", title: "Music", year: "2000"}),
			}
		}, [][]string{{"nz:1", "ext:e1", "loc:l1"}, {"loc:l2"}}},
		{"untitled records never meet by key", func(t *testing.T) []Source {
			return []Source{
				src(t, "nz", true, "", 1, rec{id: "1", title: "...", year: "2000"}),
				src(t, "ext", false, "", 1, rec{id: "e1", title: "", year: "2000"}),
			}
		}, [][]string{{"nz:1"}, {"ext:e1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := groups(Merge(tt.sources(t), Options{Sort: SortPosition}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("clusters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPreferredRecordAndHoldings(t *testing.T) {
	sources := []Source{
		src(t, "ext", false, "", 5, rec{id: "e1", title: "External title", oclc: "1"}),
		src(t, "A", false, "A_INST", 1, rec{id: "a1", nz: "991", title: "IZ title", avail: []string{"AVE", "AVA"}}),
		src(t, "nz", true, "", 1, rec{id: "991", title: "NZ title", oclc: "1", h852: [][3]string{{"B_INST", "", "P"}, {"A_INST", "", "D"}}}),
		src(t, "C", false, "C_INST", 1, rec{id: "c1", title: "Local only", author: "Nobody", avail: []string{"AVA"}}),
	}
	got := Merge(sources, Options{Sort: SortPosition})
	if len(got) != 2 {
		t.Fatalf("%d clusters, want 2: %v", len(got), groups(got))
	}
	c := got[0]
	if c.Record.Title != "NZ title" || c.Preferred != (Ref{"nz", "991"}) {
		t.Errorf("preferred %v %q, want the nz record", c.Preferred, c.Record.Title)
	}
	want := []transform.Holding{
		{Institution: "B_INST", IZMMSID: "", Types: []string{"print"}},
		{Institution: "A_INST", IZMMSID: "a1", Types: []string{"print", "electronic", "digital"}},
	}
	if diff := cmp.Diff(want, c.Holdings); diff != "" {
		t.Errorf("holdings union (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Ref{{"ext", "e1"}, {"A", "a1"}, {"nz", "991"}}, c.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	if c.Weight != 5 {
		t.Errorf("cluster weight %v, want the highest source weight 5", c.Weight)
	}
	local := got[1]
	if diff := cmp.Diff([]transform.Holding{{Institution: "C_INST", IZMMSID: "c1", Types: []string{"print"}}}, local.Holdings); diff != "" {
		t.Errorf("a local-only record's holding (-want +got):\n%s", diff)
	}
	if len(sources[2].Records[0].Rec.Holdings) != 2 || len(sources[2].Records[0].Rec.Holdings[1].Types) != 1 {
		t.Error("Merge changed a source record's holdings")
	}

	// Without the nz record, the highest weight wins; equal weights, the first source.
	got = Merge([]Source{
		src(t, "low", false, "", 1, rec{id: "l", title: "Low", oclc: "9"}),
		src(t, "high", false, "", 2, rec{id: "h", title: "High", oclc: "9"}),
		src(t, "high2", false, "", 2, rec{id: "h2", title: "High two", oclc: "9"}),
	}, Options{})
	if got[0].Preferred != (Ref{"high", "h"}) {
		t.Errorf("preferred %v, want high:h", got[0].Preferred)
	}
}

func TestRanking(t *testing.T) {
	sources := func(t *testing.T, extWeight float64) []Source {
		return []Source{
			src(t, "nz", true, "", 1,
				rec{id: "rest", title: "Other", publisher: "Music House", year: "1990"},
				rec{id: "subject", title: "Other things", subjects: []string{"Music"}, year: "2010"},
				rec{id: "author", title: "Different", author: "Music, Anna", year: "2005"},
				rec{id: "title", title: "Music of the spheres", year: "1999"},
				rec{id: "title2", title: "A music lesson", year: "2020", h852: [][3]string{{"A", "", "P"}, {"B", "", "P"}}}),
			src(t, "ext", false, "", extWeight, rec{id: "e", title: "Unrelated music", year: ""}),
		}
	}
	ids := func(cs []*Cluster) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Preferred.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		weight float64
		sort   Sort
		want   []string
	}{
		{"title > author > subjects > rest; more holders, then the better position on ties", 1, SortRelevance, []string{"title2", "e", "title", "author", "subject", "rest"}},
		{"a target's weight", 3, SortRelevance, []string{"e", "title2", "title", "author", "subject", "rest"}},
		{"date: newest first, no year last", 1, SortDate, []string{"title2", "subject", "author", "title", "rest", "e"}},
		{"title: words, leading article ignored", 1, SortTitle, []string{"author", "title2", "title", "rest", "subject", "e"}},
		{"position: the targets interleaved", 1, SortPosition, []string{"rest", "e", "subject", "author", "title", "title2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(Merge(sources(t, tt.weight), Options{Terms: Terms(`alma.all_for_ui="music"`), Sort: tt.sort}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			for range 5 { // deterministic
				again := ids(Merge(sources(t, tt.weight), Options{Terms: Terms(`alma.all_for_ui="music"`), Sort: tt.sort}))
				if diff := cmp.Diff(got, again); diff != "" {
					t.Fatalf("a second merge of the same input ordered differently:\n%s", diff)
				}
			}
		})
	}
}

// TestScoreFolding holds the scorer to the words' folding, through its
// shortcut for ASCII fields (mayHold): a term found in any case, through a
// digraph or a diacritic, as a prefix when truncated, and never inside
// another word.
func TestScoreFolding(t *testing.T) {
	tests := []struct {
		query, title string
		want         float64
	}{
		{`alma.creator=Müller`, "Mueller lectures", weightTitle},
		{`alma.creator=Müller`, "MÜLLER LECTURES", weightTitle},
		{`alma.creator=Müller`, "MUELLER: lectures", weightTitle},
		{`alma.creator=Mueller`, "Muller lectures", weightTitle},
		{`alma.creator=Müller`, "Mullers lectures", 0},
		{`alma.title=history`, "Prehistory", 0},
		{`alma.title=history`, "HISTORY", weightTitle},
		{`alma.title=histor*`, "Historiography", weightTitle},
		{`alma.title=straße`, "Strasse und Weg", weightTitle},
		{`alma.title=1984`, "Nineteen 1984", weightTitle},
		{`alma.title=lyrics`, "Lyrics", weightTitle}, // no a, o or u: the whole term must be there
		{`alma.title=lyrics`, "Lyric", 0},
	}
	for _, tt := range tests {
		var sc scorer
		sc.reset(Terms(tt.query))
		c := &Cluster{Record: rec{id: "1", title: tt.title}.parse(t), Weight: 1}
		if got := sc.score(c); got != tt.want {
			t.Errorf("%s on the title %q scores %v, want %v", tt.query, tt.title, got, tt.want)
		}
	}
}

func TestTerms(t *testing.T) {
	tests := []struct{ query, want string }{
		{`alma.title="Data and Society"`, "data and society"},
		{`history and alma.creator=Müller`, "history muller"},
		{`music not jazz`, "music"},
		{`cql.allRecords=1`, ""},
		{`alma.title=comput* or "Über alles"`, "comput* uber alles"},
		{`alma.title=music sortBy alma.main_pub_date`, "music"},
		{`(unbalanced`, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Terms(tt.query), " "); got != tt.want {
			t.Errorf("Terms(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
	c := &Cluster{Record: rec{id: "1", title: "Computing"}.parse(t), Weight: 1}
	var sc scorer
	sc.reset([]string{"comput*"})
	if got := sc.score(c); got != weightTitle {
		t.Errorf("a truncated term scores %v on the title, want %v", got, weightTitle)
	}
}

func TestFacets(t *testing.T) {
	cs := Merge([]Source{
		src(t, "nz", true, "", 1,
			rec{id: "1", title: "One", year: "2001", h852: [][3]string{{"A", "", "PE"}, {"B", "", "P"}}},
			rec{id: "2", title: "Two", year: "2001", h852: [][3]string{{"A", "", "E"}}},
			rec{id: "3", title: "Three", year: "1999"}),
	}, Options{})
	got := Facets(cs, []string{"institution", "year", "type", "language"})
	want := map[string][]FacetValue{
		"institution": {{"A", 2}, {"B", 1}},
		"year":        {{"2001", 2}, {"1999", 1}},
		"type":        {{"electronic", 2}, {"print", 1}},
		"language":    {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facets (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{"", nil, false}, {"year, institution,year", []string{"year", "institution"}, false}, {"year,colour", nil, true},
	} {
		got, err := ParseFacets(tt.in)
		if (err != nil) != tt.bad || !cmp.Equal(got, tt.want) {
			t.Errorf("ParseFacets(%q) = %v, %v", tt.in, got, err)
		}
	}
	if _, err := ParseSort("newest", SortRelevance); err == nil {
		t.Error("ParseSort accepted newest")
	}
	if s, _ := ParseSort("", SortPosition); s != SortPosition {
		t.Errorf("ParseSort default: %q", s)
	}
}

func TestMergeNothing(t *testing.T) {
	if got := Merge(nil, Options{}); len(got) != 0 {
		t.Errorf("Merge(nil) = %v", got)
	}
	got := Merge([]Source{{Target: "nz", Records: []Record{{ID: "x", Rec: nil}}}}, Options{})
	if len(got) != 0 {
		t.Errorf("a record without Rec was merged: %v", groups(got))
	}
}
