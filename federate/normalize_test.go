package federate

import (
	"strings"
	"testing"

	"github.com/almanet/gateway/transform"
)

// TestWorkKey shows the work key of records as catalogues differ. The
// digraphs fold in every word ("Márquez" is "marquz", as "Mueller" is
// "muller"): the key is compared, never shown.
func TestWorkKey(t *testing.T) {
	tests := []struct {
		name string
		rec  transform.Record
		want string
	}{
		{"ind2 skips the article", transform.Record{TitleProper: "The lion, the witch and the wardrobe", Nonfiling: 4, Authors: []string{"Lewis, C. S."}, Year: "1950"},
			"lion the witch the wardrobe||lewis|c|1950"},
		{"the language's article, & for and", transform.Record{TitleProper: "The Lion, the Witch & the Wardrobe", Language: "eng", Authors: []string{"Lewis, Clive Staples"}, Year: "1950"},
			"lion the witch the wardrobe||lewis|c|1950"},
		{"a wrong ind2 is ignored", transform.Record{TitleProper: "Hobbit", Nonfiling: 4, Year: "1937"}, "hobbit||||1937"},
		{"an elided article", transform.Record{TitleProper: "L’étranger", Language: "fre", Authors: []string{"Camus, A."}, Year: "1972"},
			"etranger||camus|a|1972"},
		{"an article of another language stays", transform.Record{TitleProper: "Die hard", Language: "eng", Year: "1988"}, "die hard||||1988"},
		{"ü, ue and u are one", transform.Record{TitleProper: "GRUNDZÜGE DER VOLKSWIRTSCHAFTSLEHRE: EINE EINFÜHRUNG", Authors: []string{"Mueller, Juergen"}, Year: "2005"},
			"grundzuge der volkswirtschaftslehre||muller|j|2005"},
		{"ß is ss", transform.Record{TitleProper: "Große Denker", Authors: []string{"Peter Weiß"}, Year: "2010"}, "grosse denker||weiss|p|2010"},
		{"Vietnamese, decomposed", transform.Record{TitleProper: "Truye\u0302\u0323n Kie\u0302\u0300u", Authors: []string{"Nguyễn, Du"}}, "truyen kieu||nguyen|d|"},
		{"a subtitle after a full stop", transform.Record{TitleProper: "Ansichten eines Clowns. Roman", Authors: []string{"Böll, H."}}, "ansichten eines clowns||boll|h|"},
		{"not after an abbreviation", transform.Record{TitleProper: "Dr. Faustus"}, "dr faustus||||"},
		{"a volume in $n", transform.Record{TitleProper: "Handbuch der Kirchengeschichte", TitleParts: "Band 1 Von der Urgemeinde", Authors: []string{"Jedin, Hubert"}, Year: "1985"},
			"handbuch der kirchengeschichte|1|jedin|h|1985"},
		{"a roman volume", transform.Record{TitleProper: "Handbuch der Kirchengeschichte", TitleParts: "Bd. I", Authors: []string{"Jedin, Hubert"}, Year: "1985"},
			"handbuch der kirchengeschichte|1|jedin|h|1985"},
		{"a volume in $a", transform.Record{TitleProper: "Handbuch der Kirchengeschichte. Band 2", Authors: []string{"Jedin, H."}, Year: "1985"},
			"handbuch der kirchengeschichte|2|jedin|h|1985"},
		{"a volume in $a after a comma", transform.Record{TitleProper: "Handbuch der Kirchengeschichte, Bd. 2"}, "handbuch der kirchengeschichte|2|||"},
		{"a named part", transform.Record{TitleProper: "Handbuch", TitleParts: "Register"}, "handbuch|register|||"},
		{"a compound surname in direct order", transform.Record{TitleProper: "El amor", Language: "spa", Authors: []string{"Gabriel García Márquez"}}, "amor||marquz|g|"},
		{"the display title when there is no $a", transform.Record{Title: "Papers"}, "papers||||"},
	}
	var kb keyBuilder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, part, ok := kb.workKey(nil, &tt.rec)
			if !ok {
				t.Fatalf("no key, want %q", tt.want)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if p, want := string(got[part[0]:part[1]]), strings.Split(tt.want, "|")[1]; p != want {
				t.Errorf("part %q, want %q", p, want)
			}
		})
	}
	if _, _, ok := kb.workKey(nil, &transform.Record{TitleProper: "..."}); ok {
		t.Error("a title without words has a key")
	}
}
