package transform

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// marc builds a namespaced MARCXML record from field markup.
func marc(fields ...string) []byte {
	return []byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>` +
		strings.Join(fields, "") + `</record>`)
}

// df builds a datafield; subs alternate code and value (value is markup).
func df(tag, ind1, ind2 string, subs ...string) string {
	var b strings.Builder
	b.WriteString(`<datafield tag="` + tag + `" ind1="` + ind1 + `" ind2="` + ind2 + `">`)
	for i := 0; i+1 < len(subs); i += 2 {
		b.WriteString(`<subfield code="` + subs[i] + `">` + subs[i+1] + `</subfield>`)
	}
	b.WriteString(`</datafield>`)
	return b.String()
}

func cf(tag, v string) string { return `<controlfield tag="` + tag + `">` + v + `</controlfield>` }

func mustParse(t *testing.T, data []byte) *Record {
	t.Helper()
	r, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return r
}

func TestHoldings852(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   []Holding
	}{
		{"member field", []string{df("852", "0", "1", "a", "01NET_INST", "6", "9990111100121", "9", "P")},
			[]Holding{{"01NET_INST", "9990111100121", []string{"print"}, ""}}},
		{"several $9 in order", []string{df("852", "0", "1", "a", "A", "6", "1", "9", "P", "9", "E", "9", "D")},
			[]Holding{{"A", "1", []string{"print", "electronic", "digital"}, ""}}},
		{"unknown code passed through", []string{df("852", "0", "1", "a", "A", "6", "1", "9", "X", "9", "p")},
			[]Holding{{"A", "1", []string{"X", "p"}, ""}}},
		{"$6 missing", []string{df("852", "0", "1", "a", "A", "9", "E")},
			[]Holding{{"A", "", []string{"electronic"}, ""}}},
		{"no $9", []string{df("852", "0", "1", "a", "A", "6", "1")},
			[]Holding{{"A", "1", []string{}, ""}}},
		{"no $a ignored", []string{df("852", "0", "1", "6", "1", "9", "P")}, []Holding{}},
		{"blank $a ignored", []string{df("852", "0", "1", "a", "  ", "9", "P")}, []Holding{}},
		{"ind2 blank is cataloguing", []string{df("852", "0", " ", "a", "A", "9", "P")}, []Holding{}},
		{"ind1 8 is cataloguing", []string{df("852", "8", "1", "a", "A", "9", "P")}, []Holding{}},
		{"ind swapped", []string{df("852", "1", "0", "a", "A", "9", "P")}, []Holding{}},
		{"other tag", []string{df("853", "0", "1", "a", "A", "9", "P")}, []Holding{}},
		{"values trimmed, first $a and $6", []string{df("852", "0", "1", "a", " A ", "a", "B", "6", " 1 ", "6", "2", "9", " P ")},
			[]Holding{{"A", "1", []string{"print"}, ""}}},
		{"order kept, mixed with legacy", []string{
			df("852", "0", "1", "a", "B", "6", "2", "9", "P"),
			df("852", "0", " ", "b", "f", "h", "Q1"),
			df("852", "0", "1", "a", "A", "9", "E"),
		}, []Holding{{"B", "2", []string{"print"}, ""}, {"A", "", []string{"electronic"}, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, marc(tt.fields...))
			if diff := cmp.Diff(tt.want, r.Holdings); diff != "" {
				t.Errorf("holdings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHoldingsFeedJSON(t *testing.T) {
	r := mustParse(t, marc(df("852", "0", "1", "a", "A", "9", "P", "9", "Z"), df("852", "0", "1", "a", "B", "6", "7")))
	got := string(r.AppendFeedJSON(nil, 3))
	want := `{"position":3,"mms_id":"","cz_mms_id":null,"title":"","authors":[],"isbns":[],"issns":[],"publisher":"","year":"","language":"",` +
		`"holdings":[{"institution":"A","name":null,"iz_mms_id":null,"types":["print","Z"]},{"institution":"B","name":null,"iz_mms_id":"7","types":[]}]}`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestIdentifiers(t *testing.T) {
	tests := []struct {
		name                 string
		fields               []string
		mms, cz, nz, network string
		isbns, issns, oclc   []string
	}{
		{name: "001 trimmed", fields: []string{cf("001", " 9912 ")}, mms: "9912", isbns: []string{}, issns: []string{}},
		{name: "first 001 wins", fields: []string{cf("001", "1"), cf("001", "2")}, mms: "1", isbns: []string{}, issns: []string{}},
		{name: "CZ and NZ", fields: []string{
			df("035", " ", " ", "a", "(OCoLC)123"),
			df("035", " ", " ", "a", "(EXLCZ)992550000001150386"),
			df("035", " ", " ", "a", "(EXLNZ-41SLSP_NETWORK)991012502969705501"),
		}, cz: "992550000001150386", nz: "991012502969705501", network: "41SLSP_NETWORK", isbns: []string{}, issns: []string{}, oclc: []string{"123"}},
		{name: "OCLC numbers normalized", fields: []string{
			df("035", " ", " ", "a", "(OCoLC)ocm00012345"),
			df("035", " ", " ", "a", "(OCoLC)ocn987654321"),
			df("035", " ", " ", "a", "(OCoLC)on1234567890"),
			df("035", " ", " ", "a", "(OCoLC)12345"), // the first one again
			df("035", " ", " ", "a", "(OCoLC)000"),   // no number
			df("035", " ", " ", "a", "(OCoLC)12ab"),  // not a number
		}, isbns: []string{}, issns: []string{}, oclc: []string{"12345", "987654321", "1234567890"}},
		{name: "035 $z is not an identifier", fields: []string{df("035", " ", " ", "z", "(EXLCZ)1")}, isbns: []string{}, issns: []string{}},
		{name: "EXLNZ without code", fields: []string{df("035", " ", " ", "a", "(EXLNZ-)5")}, isbns: []string{}, issns: []string{}},
		{name: "ISBNs normalized", fields: []string{
			df("020", " ", " ", "a", "978-3-16-148410-0 (pbk.)"),
			df("020", " ", " ", "a", "0-375-40069-x"),
			df("020", " ", " ", "a", "3 406 44182 3 : EUR 12.80"),
			df("020", " ", " ", "a", "9783161484100"), // duplicate
			df("020", " ", " ", "z", "9780000000002"), // cancelled/invalid
			df("020", " ", " ", "a", "12345"),         // not an ISBN
			df("020", " ", " ", "a", "1234567890123"), // 13 digits, not 978/979
			df("020", " ", " ", "q", "pbk."),
		}, isbns: []string{"9783161484100", "037540069X", "3406441823"}, issns: []string{}},
		{name: "ISSNs", fields: []string{
			df("022", " ", " ", "a", "0036-8075"),
			df("022", " ", " ", "a", "1476 4687"),
			df("022", " ", " ", "a", "0028083x"),
			df("022", " ", " ", "a", "12-345678"),
			df("022", " ", " ", "y", "1111-1111"),
		}, isbns: []string{}, issns: []string{"0036-8075", "0028-083X"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, marc(tt.fields...))
			got := []any{r.MMSID, r.CZMMSID, r.NZMMSID, r.NetworkCode, r.ISBNs, r.ISSNs, r.OCLCNumbers}
			want := []any{tt.mms, tt.cz, tt.nz, tt.network, tt.isbns, tt.issns, tt.oclc}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mms, cz, nz, network, isbns, issns, oclc (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTitle(t *testing.T) {
	tests := []struct {
		name string
		subs []string
		want string
	}{
		{"a and b", []string{"a", "Data and society :", "b", "an introduction /", "c", "Anna Muster."}, "Data and society : an introduction"},
		{"n and p", []string{"a", "Handbuch.", "n", "Teil 2,", "p", "Methoden ;"}, "Handbuch. Teil 2, Methoden"},
		{"trailing period", []string{"a", "Poor relief."}, "Poor relief"},
		{"initial kept", []string{"a", "Essays on John F."}, "Essays on John F."},
		{"Jr. kept", []string{"a", "Martin Luther King, Jr."}, "Martin Luther King, Jr."},
		{"ellipsis kept", []string{"a", "And then..."}, "And then..."},
		{"abbreviation kept", []string{"a", "History of the U.S.A."}, "History of the U.S.A."},
		{"equals", []string{"a", "Niveau supérieur =", "b", "Livello superiore"}, "Niveau supérieur = Livello superiore"},
		{"white space collapsed", []string{"a", "  A\n   title  ", "b", "\tsub :"}, "A title sub"},
		{"non-filing kept", []string{"a", "The Hobbit"}, "The Hobbit"},
		{"CJK", []string{"a", "紅樓夢 /", "c", "曹雪芹著."}, "紅樓夢"},
		{"Japanese", []string{"a", "ノルウェイの森 :", "b", "上巻"}, "ノルウェイの森 : 上巻"},
		{"diacritics", []string{"a", "Über Goethe\u0301s Faust ;", "b", "Çağdaş Türkçe"}, "Über Goethe\u0301s Faust ; Çağdaş Türkçe"},
		{"ampersand entity", []string{"a", "Pride &amp; prejudice"}, "Pride & prejudice"},
		{"less-than entities", []string{"a", "&lt; &gt; Zauberberg"}, "< > Zauberberg"},
		// Issue 22: Alma's non-filing markers, and MARC's NSB/NSE, are not
		// part of the title shown; lone angle brackets are.
		{"non-filing markers", []string{"a", "&lt;&lt;Der&gt;&gt; Zauberberg"}, "Der Zauberberg"},
		{"NSB and NSE", []string{"a", "\u0098The \u009cMagic mountain"}, "The Magic mountain"},
		{"two markers", []string{"a", "&lt;&lt;Die&gt;&gt; Cultur &lt;&lt;der&gt;&gt; Renaissance"}, "Die Cultur der Renaissance"},
		{"a lone <<", []string{"a", "a &lt;&lt; b"}, "a << b"},
		{"<and> is text", []string{"a", "Cats &lt;and&gt; dogs"}, "Cats <and> dogs"},
		{"quotes", []string{"a", "&quot;Quoted&quot; &apos;title&apos; \"raw\" 'raw'"}, `"Quoted" 'title' "raw" 'raw'`},
		{"numeric references", []string{"a", "&#72;&#x69;&#X21; &#x1F600;"}, "Hi! 😀"},
		{"CDATA", []string{"a", "<![CDATA[A <b> & c]]>"}, "A <b> & c"},
		{"line ends", []string{"a", "one\r\ntwo\rthree&#13;"}, "one two three"},
		{"unknown entity and bare ampersand kept", []string{"a", "Caf&eacute; &amp x"}, "Caf&eacute; &amp x"},
		{"no 245", nil, ""},
		{"form subheading only", []string{"k", "Papers,", "f", "1900-1950."}, "Papers"},
		{"$k ignored when $a present", []string{"a", "Letters", "k", "Papers"}, "Letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := []string{}
			if tt.subs != nil {
				fields = append(fields, df("245", "1", "0", tt.subs...))
			}
			r := mustParse(t, marc(fields...))
			if r.Title != tt.want {
				t.Errorf("got %q, want %q", r.Title, tt.want)
			}
		})
	}
}

// TestTitleParts checks the title as catalogued, which the federated merge
// keys on: $a alone, the part's number and name, and the non-filing count.
func TestTitleParts(t *testing.T) {
	tests := []struct {
		name      string
		ind2      string
		subs      []string
		proper    string
		parts     string
		nonfiling int
	}{
		{"a and b", "0", []string{"a", "Data and society :", "b", "an introduction /", "c", "Anna Muster."}, "Data and society", "", 0},
		{"subtitle in $a", "0", []string{"a", "Data and society : an introduction /"}, "Data and society : an introduction", "", 0},
		{"n and p", "0", []string{"a", "Handbuch.", "n", "Teil 2,", "p", "Methoden ;"}, "Handbuch", "Teil 2 Methoden", 0},
		{"n alone", "0", []string{"a", "Handbuch", "n", "Bd. 1"}, "Handbuch", "Bd. 1", 0},
		{"non-filing 4", "4", []string{"a", "The Hobbit"}, "The Hobbit", "", 4},
		{"non-filing blank", " ", []string{"a", "Hobbit"}, "Hobbit", "", 0},
		{"non-filing not a digit", "x", []string{"a", "Hobbit"}, "Hobbit", "", 0},
		{"no $a", "0", []string{"k", "Papers"}, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, marc(df("245", "1", tt.ind2, tt.subs...)))
			got := []any{r.TitleProper, r.TitleParts, r.Nonfiling}
			if diff := cmp.Diff([]any{tt.proper, tt.parts, tt.nonfiling}, got); diff != "" {
				t.Errorf("proper, parts, nonfiling (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetISBNs checks which ISBNs name a whole multi-volume set, by $q or by
// a qualifier in $a; they stay in ISBNs (they are on the book).
func TestSetISBNs(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		isbns  []string
		set    []string
	}{
		{"$q set", []string{df("020", " ", " ", "a", "9783451204500", "q", "set"), df("020", " ", " ", "a", "9783451204517", "q", "Band 1")},
			[]string{"9783451204500", "9783451204517"}, []string{"9783451204500"}},
		{"qualifier in $a", []string{df("020", " ", " ", "a", "978-3-451-20450-0 (Gesamtwerk)"), df("020", " ", " ", "a", "978-3-451-20451-7 (Bd. 1)")},
			[]string{"9783451204500", "9783451204517"}, []string{"9783451204500"}},
		{"a range of volumes", []string{df("020", " ", " ", "a", "0-19-852663-6 (v. 1-3 : alk. paper)")}, []string{"0198526636"}, []string{"0198526636"}},
		{"$q of the next $a is not this one's", []string{df("020", " ", " ", "a", "9783451204517", "a", "9783451204500", "q", "(set)")},
			[]string{"9783451204517", "9783451204500"}, []string{"9783451204500"}},
		{"pbk. and hardback are no sets", []string{df("020", " ", " ", "a", "9780306406157 (pbk.)"), df("020", " ", " ", "a", "0306406152", "q", "hardcover")},
			[]string{"9780306406157", "0306406152"}, nil},
		{"a word containing set is not set", []string{df("020", " ", " ", "a", "9780306406157 (boxset edition)"), df("020", " ", " ", "a", "0306406152", "q", "Setzkasten")},
			[]string{"9780306406157", "0306406152"}, nil},
		{"ISBN prefix", []string{df("020", " ", " ", "a", "ISBN 3-16-148410-X")}, []string{"316148410X"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, marc(tt.fields...))
			if diff := cmp.Diff([]any{tt.isbns, tt.set}, []any{r.ISBNs, r.SetISBNs}); diff != "" {
				t.Errorf("isbns, set isbns (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthorsPublisherYearLanguage(t *testing.T) {
	tests := []struct {
		name      string
		fields    []string
		authors   []string
		publisher string
		year      string
		language  string
	}{
		{
			name: "personal and corporate names",
			fields: []string{
				df("100", "1", " ", "a", "García Márquez, Gabriel,", "d", "1927-2014."),
				df("110", "2", " ", "a", "Great Britain.", "b", "Parliament.", "b", "House of Commons."),
				df("111", "2", " ", "a", "Olympic Games", "n", "(21st :"),
				df("700", "1", " ", "a", "Smith, J.", "e", "editor."),
				df("710", "2", " ", "a", "UNESCO."),
				df("700", "1", " ", "a", "García Márquez, Gabriel"), // duplicate
				df("720", " ", " ", "a", "Not an author"),
			},
			authors: []string{"García Márquez, Gabriel", "Great Britain. Parliament. House of Commons", "Olympic Games", "Smith, J.", "UNESCO"},
		},
		{
			name: "264 ind2=1 preferred",
			fields: []string{
				df("264", " ", "4", "c", "©2019"),
				df("264", " ", "1", "a", "Berlin :", "b", "Springer,", "c", "[2020]"),
				df("260", " ", " ", "b", "Old,", "c", "1999."),
			},
			authors: []string{}, publisher: "Springer", year: "2020",
		},
		{
			name:    "other 264 before 260",
			fields:  []string{df("260", " ", " ", "b", "Old,", "c", "1999."), df("264", " ", "4", "c", "©2019")},
			authors: []string{}, publisher: "Old", year: "2019",
		},
		{
			name:    "260 fallback",
			fields:  []string{df("260", " ", " ", "a", "New York :", "b", "A.A. Knopf,", "c", "c1997.")},
			authors: []string{}, publisher: "A.A. Knopf", year: "1997",
		},
		{
			name:    "008 year and language",
			fields:  []string{cf("008", "990423s1997    nyu      b    000 1 eng  ")},
			authors: []string{}, year: "1997", language: "eng",
		},
		{
			name:    "008 year not digits, 041 language",
			fields:  []string{cf("008", "990423s19uu    nyu      b    000 1 |||  "), df("041", "1", " ", "a", "engspa", "h", "spa")},
			authors: []string{}, language: "eng",
		},
		{
			name:    "short 008",
			fields:  []string{cf("008", "9904"), df("041", " ", " ", "a", "GER")},
			authors: []string{},
		},
		{
			name:    "no year in $c",
			fields:  []string{df("264", " ", "1", "b", "X", "c", "[19--?]"), cf("008", "990423s2001    nyu      b    000 1 fre  ")},
			authors: []string{}, publisher: "X", year: "2001", language: "fre",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, marc(tt.fields...))
			got := []any{r.Authors, r.Publisher, r.Year, r.Language}
			want := []any{tt.authors, tt.publisher, tt.year, tt.language}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("authors, publisher, year, language (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubjectsAndType(t *testing.T) {
	r := mustParse(t, marc(
		df("650", " ", "0", "a", "Poor", "z", "England", "x", "History", "y", "19th century."),
		df("600", "1", "7", "a", "Burckhardt, Jacob,", "d", "1818-1897", "2", "gnd"),
		df("650", " ", "7", "a", "Poor", "z", "England", "x", "History", "y", "19th century", "2", "x"),
		df("653", " ", " ", "2", "no heading"),
	))
	want := []string{"Poor -- England -- History -- 19th century", "Burckhardt, Jacob, 1818-1897"}
	if diff := cmp.Diff(want, r.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	for leader, want := range map[string]string{
		"00000nam a2200000 a 4500": "text", "00000ckm a2200000 a 4500": "image",
		"00000njm a2200000 a 4500": "sound", "00000ngm a2200000 a 4500": "image",
		"00000nmm a2200000 a 4500": "", "00000nrm a2200000 a 4500": "",
		"00000npc a2200000 a 4500": "collection", "00000nas a2200000 a 4500": "text",
		"00000nzm a2200000 a 4500": "", "short": "",
	} {
		if got := dcType(leader); got != want {
			t.Errorf("dcType(%q): got %q, want %q", leader, got, want)
		}
	}
}

// TestParseShapes reads the same record written in every way XML allows.
func TestParseShapes(t *testing.T) {
	want := FeedRecord{
		Position: 1, MMSID: "123", Title: "A & B", Authors: []string{"Doe, Jane"},
		ISBNs: []string{}, ISSNs: []string{},
		Holdings: []FeedHolding{{Institution: "INST", Types: []string{"print"}}},
	}
	shapes := map[string]string{
		"default namespace":                   `<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">123</controlfield><datafield tag="100" ind1="1" ind2=" "><subfield code="a">Doe, Jane</subfield></datafield><datafield tag="245" ind1="0" ind2="0"><subfield code="a">A &amp; B</subfield></datafield><datafield tag="852" ind1="0" ind2="1"><subfield code="a">INST</subfield><subfield code="9">P</subfield></datafield></record>`,
		"prefix":                              `<?xml version="1.0"?><!-- exported --><marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:record><marc:controlfield tag="001">123</marc:controlfield><marc:datafield tag="100" ind1="1" ind2=" "><marc:subfield code="a">Doe, Jane</marc:subfield></marc:datafield><marc:datafield tag="245" ind1="0" ind2="0"><marc:subfield code="a">A &#38; B</marc:subfield></marc:datafield><marc:datafield tag="852" ind1="0" ind2="1"><marc:subfield code="a">INST</marc:subfield><marc:subfield code="9">P</marc:subfield></marc:datafield></marc:record></marc:collection>`,
		"no namespace, single quotes, spaces": "<record>\n <controlfield  tag = '001' >123</controlfield>\n <datafield ind2=' ' tag='100' ind1='1'>\n  <subfield code='a'>Doe, Jane</subfield>\n </datafield><datafield tag=\"245\" ind1='0' ind2=\"0\"><subfield code='a'>A <![CDATA[&]]> B</subfield></datafield><datafield tag='852' ind1='0' ind2='1'><subfield code='a'>IN<!-- c -->ST</subfield><subfield code='9'><?pi x?>P</subfield></datafield></record>",
		"unknown elements and attributes":     `<record type="Bibliographic" xmlns="http://www.loc.gov/MARC21/slim" xmlns:x="urn:x"><x:note><controlfield tag="001">999</controlfield></x:note><controlfield x:id="c1" tag="001">123</controlfield><datafield tag="100" ind1="1" ind2=" "><subfield code="a">Doe, Jane</subfield><x:extra>zzz</x:extra></datafield><datafield tag="245" ind1="0" ind2="0"><subfield code="a">A &amp;<x:b>ignored</x:b> B</subfield></datafield><datafield tag="852" ind1="0" ind2="1"><subfield code="a">INST</subfield><subfield code="9">P</subfield></datafield><datafield tag="500" ind1=" " ind2=" "/></record>`,
		"SRU wrapper":                         `<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><records><record><recordSchema>marcxml</recordSchema><recordData><record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">123</controlfield><datafield tag="100" ind1="1" ind2=" "><subfield code="a">Doe, Jane</subfield></datafield><datafield tag="245" ind1="0" ind2="0"><subfield code="a">A &amp; B</subfield></datafield><datafield tag="852" ind1="0" ind2="1"><subfield code="a">INST</subfield><subfield code="9">P</subfield></datafield></record></recordData></record></records></searchRetrieveResponse>`,
	}
	for name, in := range shapes {
		t.Run(name, func(t *testing.T) {
			recs := parseAll(t, []byte(in))
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			if diff := cmp.Diff(want, recs[0].Feed(1)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              "",
		"no record":          "<collection><foo/></collection>",
		"unterminated":       `<record><controlfield tag="001">1`,
		"mismatched end":     `<record><datafield tag="245"><subfield code="a">x</datafield></record>`,
		"unterminated tag":   `<record><datafield tag="245`,
		"unterminated CDATA": `<record><leader><![CDATA[abc</leader></record>`,
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := Parse([]byte(in)); err == nil {
				t.Errorf("got %+v, want an error", r)
			}
		})
	}
	if r, err := Parse([]byte(`<marc:record xmlns:marc="x"/>`)); err != nil || r.MMSID != "" || len(r.Holdings) != 0 {
		t.Errorf("empty record: got %+v, %v", r, err)
	}
}

// TestForbiddenCharacters: characters XML 1.0 forbids never reach any
// output, whether raw, as references, or invalid UTF-8.
func TestForbiddenCharacters(t *testing.T) {
	in := marc(
		cf("001", "12\x013"),
		df("245", "0", "0", "a", "Ti\x00t&#1;l&#xFFFE;e\x0b \xff\xfe bad &#xD800;&#0;"),
		df("100", "1", " ", "a", "Na\x1fme"),
	)
	r := mustParse(t, in)
	if got, want := r.Title, "Title \uFFFD\uFFFD bad"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
	if got, want := r.MMSID, "123"; got != want {
		t.Errorf("mms id: got %q, want %q", got, want)
	}
	for name, out := range map[string][]byte{"marcxml": r.AppendMARCXML(nil), "dc": r.AppendDC(nil)} {
		checkWellFormed(t, out)
		for _, c := range string(out) {
			if !isXMLChar(c) {
				t.Errorf("%s: forbidden %U in output", name, c)
			}
		}
	}
	if !json.Valid(r.AppendFeedJSON(nil, 1)) {
		t.Errorf("invalid JSON")
	}
	// Exported fields set by hand are escaped the same way.
	r.Title = "a\x02b<c>&\"\xff"
	checkWellFormed(t, r.AppendDC(nil))
}

// TestAppendFeedJSONMatchesMarshal holds the fast path to encoding/json,
// on every sample record and on awkward strings.
func TestAppendFeedJSONMatchesMarshal(t *testing.T) {
	var recs []*Record
	for _, in := range goldenInputs {
		recs = append(recs, parseAll(t, goldenInput(t, in.file))...)
	}
	odd := []string{"", "plain", "<script>&amp;</script>", "quote\" back\\slash", "ctl \x00\x01\x08\x0c\x1f\x7f\t\n\r",
		"bad utf8 \xff\xc3", "sep \u2028 \u2029", "emoji 😀 CJK 紅樓夢", "\ufeffbom"}
	for i, s := range odd {
		recs = append(recs, &Record{
			MMSID: s, CZMMSID: s, Title: s, Publisher: s, Year: s, Language: s,
			Authors: []string{s, s}, ISBNs: nil, ISSNs: []string{s},
			Holdings: []Holding{{Institution: s, IZMMSID: s, Types: []string{s}}, {Institution: s}},
		})
		_ = i
	}
	for i, r := range recs {
		want, err := json.Marshal(r.Feed(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		got := r.AppendFeedJSON(nil, i+1)
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("record %d (%s): AppendFeedJSON differs from json.Marshal (-marshal +fast):\n%s", i, r.MMSID, diff)
		}
	}
}

// TestManyRepeats: deduplication stays linear on a record with very many
// subjects and ISBNs, and keeps first-seen order.
func TestManyRepeats(t *testing.T) {
	var fields []string
	var want []string
	for i := range 5000 {
		v := fmt.Sprintf("Subject %d", i%2500)
		fields = append(fields, df("650", " ", "0", "a", v))
		if i < 2500 {
			want = append(want, v)
		}
		fields = append(fields, df("020", " ", " ", "a", "3406441823"))
	}
	r := mustParse(t, marc(fields...))
	if diff := cmp.Diff(want, r.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"3406441823"}, r.ISBNs); diff != "" {
		t.Errorf("isbns (-want +got):\n%s", diff)
	}
}

// TestManyAmpersands: bare '&'s are kept, and cost linear time.
func TestManyAmpersands(t *testing.T) {
	amps := strings.Repeat("&", 1<<20)
	r := mustParse(t, marc(df("245", "0", "0", "a", amps+"x")))
	if r.Title != amps+"x" {
		t.Errorf("got a title of %d bytes, want %d", len(r.Title), len(amps)+1)
	}
}

func TestLineEnds(t *testing.T) {
	r := mustParse(t, marc(df("500", " ", " ", "a", "a\r\nb\rc&#13;d")))
	if got, want := r.Fields()[0].Subfields[0].Value, "a\nb\nc\rd"; got != want {
		t.Errorf("got %q, want %q (CR LF and CR read as LF; a character reference stays)", got, want)
	}
	if out := string(r.AppendMARCXML(nil)); !strings.Contains(out, "a\nb\nc&#13;d") {
		t.Errorf("MARCXML should keep the CR as a reference: %s", out)
	}
}

func TestFieldsAccessors(t *testing.T) {
	r := mustParse(t, marc(cf("001", "1"), df("245", "1", "0", "a", "T", "b", "S")))
	want := []Field{
		{Tag: "001", Value: "1"},
		{Tag: "245", Ind1: "1", Ind2: "0", Subfields: []Subfield{{"a", "T"}, {"b", "S"}}},
	}
	if diff := cmp.Diff(want, r.Fields()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if v, ok := r.ControlField("001"); !ok || v != "1" {
		t.Errorf("ControlField(001): got %q %v", v, ok)
	}
	if _, ok := r.ControlField("003"); ok {
		t.Errorf("ControlField(003): found a field that is not there")
	}
}
