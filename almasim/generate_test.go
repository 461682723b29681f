package almasim

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestGenerationIsDeterministic(t *testing.T) {
	a, b := New(Config{Records: 200, Seed: 7}), New(Config{Records: 200, Seed: 7})
	c := New(Config{Records: 200, Seed: 8})
	if a.NZKey() != b.NZKey() || fmt.Sprint(a.Members()) != fmt.Sprint(b.Members()) {
		t.Error("same seed, different keys or members")
	}
	if a.NZKey() == c.NZKey() {
		t.Error("different seeds, same NZ key")
	}
	ra, rb, rc := a.Records(), b.Records(), c.Records()
	differ := 0
	for i := range ra {
		if !bytes.Equal(ra[i].MARCXML, rb[i].MARCXML) {
			t.Fatalf("record %d differs between two runs with one seed", i)
		}
		for _, h := range ra[i].Holdings {
			x, _ := a.Record(h.IZMMSID)
			y, _ := b.Record(h.IZMMSID)
			if !bytes.Equal(x.MARCXML, y.MARCXML) {
				t.Fatalf("IZ record %s differs between two runs", h.IZMMSID)
			}
		}
		if !bytes.Equal(ra[i].MARCXML, rc[i].MARCXML) {
			differ++
		}
	}
	if differ < 150 {
		t.Errorf("only %d of 200 records differ between seeds 7 and 8", differ)
	}
}

func TestConfigDefaults(t *testing.T) {
	s := shared(t, 5000)
	if got := len(s.Records()); got != 5000 {
		t.Errorf("%d records", got)
	}
	if s.NetworkCode() != "01NET_NETWORK" || len(s.Members()) != 10 {
		t.Errorf("network %s with %d members", s.NetworkCode(), len(s.Members()))
	}
	if s.Members()[0].Code != "01NET_INST" || s.Members()[9].Code != "10NET_INST" {
		t.Errorf("member codes %s..%s", s.Members()[0].Code, s.Members()[9].Code)
	}
	for _, tc := range []struct{ in, want int }{{3, 8}, {8, 8}, {12, 12}, {40, 12}} {
		if got := len(New(Config{Records: 10, Members: tc.in}).Members()); got != tc.want {
			t.Errorf("Members %d gives %d, want %d", tc.in, got, tc.want)
		}
	}
	o := New(Config{Records: 10, NetworkCode: "41SLSP_NETWORK"})
	if o.Members()[0].Code != "01SLSP_INST" || o.SRUURL("http://h/") != "http://h/view/sru/41SLSP_NETWORK" {
		t.Errorf("member %s, SRU %s", o.Members()[0].Code, o.SRUURL("http://h/"))
	}
}

func TestGeneratedNetworkIsRealistic(t *testing.T) {
	s := shared(t, 5000)
	recs := s.Records()
	var (
		nobody, everyone, legacy, noNS, prefixed, several9, no6, cz, nonLatin, escaped int
		history, science, serials, digital, electronic                                 int
	)
	keys := map[string]bool{s.NZKey(): true}
	for _, m := range s.Members() {
		if keys[m.APIKey] || !regexp.MustCompile(`^l8xx[0-9a-f]{32}$`).MatchString(m.APIKey) {
			t.Errorf("member key %q repeated or not Alma-like", m.APIKey)
		}
		keys[m.APIKey] = true
	}
	leader := regexp.MustCompile(`<(?:marc:)?leader>(\d{5}[acnp][a-z][ms] a22\d{5}.{3}4500)</(?:marc:)?leader>`)
	f008 := regexp.MustCompile(`<(?:marc:)?controlfield tag="008">([^<]*)</`)
	isbnRE := regexp.MustCompile(`^97[89]\d{10}$|^\d{9}[\dX]$`)
	for _, r := range recs {
		if !strings.HasPrefix(r.MMSID, "99") || !strings.HasSuffix(r.MMSID, nzSuffix) {
			t.Fatalf("NZ MMS ID %s", r.MMSID)
		}
		if !leader.Match(r.MARCXML) {
			t.Fatalf("%s: leader not Alma-like:\n%.300s", r.MMSID, r.MARCXML)
		}
		if m := f008.FindSubmatch(r.MARCXML); m == nil || len([]rune(string(m[1]))) != 40 {
			t.Fatalf("%s: 008 %q", r.MMSID, m)
		}
		for _, i := range r.ISBNs {
			if !isbnRE.MatchString(i) || !validISBN(i) {
				t.Errorf("%s: ISBN %s", r.MMSID, i)
			}
		}
		fields := datafields(t, r.MARCXML)
		var f245 marcField
		for _, f := range fields {
			if f.Tag == "245" {
				f245 = f
			}
		}
		checkISBD(t, r, f245)
		switch {
		case len(r.Holdings) == 0:
			nobody++
		case len(r.Holdings) == len(s.Members()):
			everyone++
		}
		for _, h := range r.Holdings {
			if len(h.Types) > 1 {
				several9++
			}
			if !h.Has6 {
				no6++
			}
			if slices.Contains(h.Types, "D") {
				digital++
			}
			if slices.Contains(h.Types, "E") {
				electronic++
			}
			if !strings.HasPrefix(h.IZMMSID, "99") || !strings.HasSuffix(h.IZMMSID, memberSuffix(s, h.Institution)) {
				t.Errorf("IZ MMS ID %s for %s", h.IZMMSID, h.Institution)
			}
		}
		n852 := 0
		for _, f := range fields {
			if f.Tag == "852" && f.Ind1 == "0" && f.Ind2 == "1" {
				n852++
			}
			if f.Tag == "852" && f.Ind1 == "0" && f.Ind2 == " " && len(f.sub("b")) > 0 && len(f.sub("h")) > 0 {
				if !r.Legacy852 {
					t.Errorf("%s: legacy 852 not flagged", r.MMSID)
				}
			}
		}
		if n852 != len(r.Holdings) {
			t.Errorf("%s: %d member 852s for %d holdings", r.MMSID, n852, len(r.Holdings))
		}
		if r.Legacy852 {
			legacy++
		}
		if r.NoNS {
			noNS++
		}
		if r.Prefixed {
			prefixed++
		}
		if r.CZMMSID != "" {
			cz++
			if !bytes.Contains(r.MARCXML, []byte("(EXLCZ)"+r.CZMMSID)) {
				t.Errorf("%s: CZ ID not in a 035", r.MMSID)
			}
		}
		if strings.ContainsFunc(r.Title, func(c rune) bool {
			return unicode.Is(unicode.Han, c) || unicode.Is(unicode.Cyrillic, c) || unicode.Is(unicode.Hangul, c)
		}) {
			nonLatin++
		}
		if strings.ContainsAny(r.Title, `&<"`) {
			escaped++
		}
		if hasWords(r.Title, "history") {
			history++
		}
		if hasWords(r.Title, "science") {
			science++
		}
		if r.Serial {
			serials++
		}
	}
	counts := map[string]int{"held by nobody": nobody, "held by every member": everyone, "legacy 852s": legacy,
		"MARC in no namespace": noNS, "prefixed MARC": prefixed, "several $9": several9, "852 without $6": no6,
		"EXLCZ": cz, "non-Latin titles": nonLatin, "titles with & < \"": escaped, `"history" titles`: history,
		`"science" titles`: science, "serials": serials, "digital holdings": digital, "electronic holdings": electronic}
	for what, n := range counts {
		if n < 10 {
			t.Errorf("%d records with %s, want at least 10", n, what)
		}
	}
	t.Logf("%v", counts)
}

func memberSuffix(s *Simulator, code string) string {
	for _, m := range s.Members() {
		if m.Code == code {
			return m.Suffix
		}
	}
	return "?"
}

func validISBN(s string) bool {
	sum := 0
	if len(s) == 13 {
		for i, c := range s {
			d := int(c - '0')
			if i%2 == 1 {
				d *= 3
			}
			sum += d
		}
		return sum%10 == 0
	}
	for i, c := range s {
		d := int(c - '0')
		if c == 'X' {
			d = 10
		}
		sum += (10 - i) * d
	}
	return sum%11 == 0
}

// checkISBD holds the 245 to cataloguing practice: non-filing indicator
// counting the article, $a ending " :" before $b and " /" before $c.
func checkISBD(t *testing.T, r Record, f marcField) {
	t.Helper()
	a := f.sub("a")
	if len(a) != 1 {
		t.Fatalf("%s: 245 without one $a", r.MMSID)
	}
	nonFiling := int(f.Ind2[0] - '0')
	if nonFiling > 0 {
		art := strings.ToLower(a[0][:nonFiling])
		if !slices.Contains([]string{"the ", "a ", "an ", "die ", "les ", "l'"}, art) {
			t.Errorf("%s: non-filing %d over %q", r.MMSID, nonFiling, art)
		}
	}
	switch {
	case len(f.sub("b")) > 0 && !strings.HasSuffix(a[0], " :"):
		t.Errorf("%s: 245 $a %q before $b", r.MMSID, a[0])
	case len(f.sub("b")) == 0 && len(f.sub("c")) > 0 && !strings.HasSuffix(a[0], " /"):
		t.Errorf("%s: 245 $a %q before $c", r.MMSID, a[0])
	}
	if (f.Ind1 == "1") != strings.Contains(string(r.MARCXML), `tag="100"`) {
		t.Errorf("%s: 245 ind1 %s disagrees with the 100", r.MMSID, f.Ind1)
	}
}
