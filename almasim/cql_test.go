package almasim

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// brute lists the NZ records for which keep holds, in default result order:
// the ground truth that the inverted index must reproduce.
func brute(s *Simulator, keep func(Record) bool) []string {
	out := []string{}
	for _, r := range s.Records() {
		if keep(r) {
			out = append(out, r.MMSID)
		}
	}
	return out
}

var (
	wordREMu sync.Mutex // guards wordRE
	wordRE   = map[string]*regexp.Regexp{}
)

// hasWords matches re as whole words of a lower-cased value.
func hasWords(v string, re string) bool {
	wordREMu.Lock()
	c, ok := wordRE[re]
	if !ok {
		c = regexp.MustCompile(`(^|[^\pL\pN])` + re + `($|[^\pL\pN])`)
		wordRE[re] = c
	}
	wordREMu.Unlock()
	return c.MatchString(strings.ToLower(v))
}

func anyValue(vals []string, f func(string) bool) bool { return slices.ContainsFunc(vals, f) }

func TestCQLEvaluator(t *testing.T) {
	s := shared(t, 600)
	recs := s.Records()
	var withISBN, withISSN, withAuthor2 Record
	for _, r := range recs {
		if len(r.ISBNs) > 0 && withISBN.MMSID == "" {
			withISBN = r
		}
		if len(r.ISSNs) > 0 && withISSN.MMSID == "" {
			withISSN = r
		}
		if len(r.Authors) > 1 && withAuthor2.MMSID == "" {
			withAuthor2 = r
		}
	}
	var filed Record // a title with a non-filing article
	for _, r := range recs {
		if r.NonFiling > 0 && filed.MMSID == "" {
			filed = r
		}
	}
	isbn := withISBN.ISBNs[0]
	hyphenated := isbn[:3] + "-" + isbn[3:4] + "-" + isbn[4:8] + "-" + isbn[8:12] + "-" + isbn[12:]
	mid := recs[len(recs)/2].MMSID
	title := func(re string) func(Record) bool { return func(r Record) bool { return hasWords(r.Title, re) } }
	year := func(r Record) int { n, _ := strconv.Atoi(r.Year); return n }

	tests := []struct {
		name, query string
		want        func(Record) bool
		min         int // the case must match at least this many records
	}{
		{"title word", "alma.title=history", title("history"), 20},
		{"title word is case and accent blind", `alma.title=HISTÓRY`, title("history"), 20},
		{"title phrase", `alma.title="history of"`, title(`history of`), 5},
		{"title all", `alma.title all "science history"`, func(r Record) bool { return title("science")(r) && title("history")(r) }, 1},
		{"title any", `alma.title any "science history"`, func(r Record) bool { return title("science")(r) || title("history")(r) }, 30},
		{"title not equal", `alma.title<>history`, func(r Record) bool { return !title("history")(r) }, 100},
		{"title right truncation", "alma.title=scien*", title(`scien\pL*`), 10},
		{"title truncation in a phrase", `alma.title="history of sci*"`, title(`history of sci\pL*`), 1},
		{"title exact", `alma.title=="` + recs[10].Title + `"`, func(r Record) bool {
			return strings.Join(tokenize(r.Title, false), " ") == strings.Join(tokenize(recs[10].Title, false), " ")
		}, 1},
		{"title exact without the non-filing article", `alma.title=="` + filed.Title[filed.NonFiling:] + `"`, func(r Record) bool {
			k := strings.Join(tokenize(filed.Title[filed.NonFiling:], false), " ")
			return strings.Join(tokenize(r.Title, false), " ") == k || strings.Join(tokenize(r.Title[r.NonFiling:], false), " ") == k
		}, 1},
		{"keywords find the creator", "alma.all_for_ui=" + strings.Fields(strings.Split(withAuthor2.Authors[1], ",")[0])[0], func(r Record) bool {
			sur := strings.ToLower(strings.Fields(strings.Split(withAuthor2.Authors[1], ",")[0])[0])
			return hasWords(r.Title+" "+r.Publisher+" "+r.Place+" "+strings.Join(r.Authors, " ")+" "+strings.Join(r.Subjects, " "), regexp.QuoteMeta(sur))
		}, 1},
		{"creator surname", "alma.creator=garcia", func(r Record) bool {
			return anyValue(r.Authors, func(a string) bool { return strings.Contains(a, "García") })
		}, 1},
		{"creator exact", `alma.creator=="` + withAuthor2.Authors[1] + `"`, func(r Record) bool {
			return slices.Contains(r.Authors, withAuthor2.Authors[1])
		}, 1},
		{"isbn", "alma.isbn=" + isbn, func(r Record) bool { return slices.Contains(r.ISBNs, isbn) }, 1},
		{"isbn hyphenated", "alma.isbn=" + hyphenated, func(r Record) bool { return slices.Contains(r.ISBNs, isbn) }, 1},
		{"isbn truncated", "alma.isbn=" + isbn[:9] + "*", func(r Record) bool {
			return anyValue(r.ISBNs, func(v string) bool { return strings.HasPrefix(v, isbn[:9]) })
		}, 1},
		{"issn with hyphen", "alma.issn=" + withISSN.ISSNs[0], func(r Record) bool { return slices.Contains(r.ISSNs, withISSN.ISSNs[0]) }, 1},
		{"issn without hyphen", "alma.issn=" + strings.ReplaceAll(withISSN.ISSNs[0], "-", ""), func(r Record) bool { return slices.Contains(r.ISSNs, withISSN.ISSNs[0]) }, 1},
		{"mms_id exact", "alma.mms_id==" + mid, func(r Record) bool { return r.MMSID == mid }, 1},
		{"mms_id greater", "alma.mms_id>" + mid, func(r Record) bool { return compareNumeric(r.MMSID, mid) > 0 }, 100},
		{"mms_id any", `alma.mms_id any "` + recs[1].MMSID + " " + recs[2].MMSID + `"`, func(r Record) bool {
			return r.MMSID == recs[1].MMSID || r.MMSID == recs[2].MMSID
		}, 2},
		{"year", "alma.main_pub_date=2010", func(r Record) bool { return r.Year == "2010" }, 1},
		{"year at least", "alma.main_pub_date>=2015", func(r Record) bool { return year(r) >= 2015 }, 50},
		{"year before", "alma.main_pub_date<1950", func(r Record) bool { return year(r) < 1950 }, 1},
		{"year not", "alma.main_pub_date<>2020", func(r Record) bool { return r.Year != "2020" }, 100},
		{"and", "alma.title=history and alma.main_pub_date>2000", func(r Record) bool { return title("history")(r) && year(r) > 2000 }, 5},
		{"or", "alma.title=history or alma.title=science", func(r Record) bool { return title("history")(r) || title("science")(r) }, 30},
		{"not", "alma.title=history not alma.title=science", func(r Record) bool { return title("history")(r) && !title("science")(r) }, 10},
		{"parentheses", "(alma.title=music or alma.title=art) and alma.main_pub_date<2000", func(r Record) bool {
			return (title("music")(r) || title("art")(r)) && year(r) < 2000
		}, 1},
		{"server choice is keywords", "history", func(r Record) bool {
			return hasWords(r.Title+" "+strings.Join(r.Subjects, " "), "history")
		}, 20},
		{"CJK phrase", `alma.title="歴史"`, func(r Record) bool { return strings.Contains(r.Title, "歴史") }, 1},
		{"escaped characters", `alma.title="cats and dogs"`, func(r Record) bool { return strings.HasPrefix(r.Title, "Cats <and> dogs") }, 1},
		{"all records", "cql.allRecords=1", func(Record) bool { return true }, 600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Search(tc.query)
			if err != nil {
				t.Fatalf("Search(%q): %v", tc.query, err)
			}
			want := brute(s, tc.want)
			if len(want) < tc.min {
				t.Fatalf("ground truth has %d records, the case needs %d", len(want), tc.min)
			}
			if got == nil {
				got = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", tc.query, diff)
			}
		})
	}
}

func TestCQLSortBy(t *testing.T) {
	s := shared(t, 600)
	key := func(id string) string {
		r, _ := s.Record(id)
		switch {
		default:
			return strings.Join(tokenize(r.Title[r.NonFiling:], false), " ")
		}
	}
	asc, err := s.Search("alma.title=history sortBy alma.title/sort.ascending")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.Search("alma.title=history sortBy alma.title/sort.descending")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := s.Search("alma.title=history")
	if !slices.IsSortedFunc(asc, func(a, b string) int { return strings.Compare(key(a), key(b)) }) {
		t.Error("ascending title sort is not sorted")
	}
	if !slices.IsSortedFunc(desc, func(a, b string) int { return strings.Compare(key(b), key(a)) }) {
		t.Error("descending title sort is not sorted")
	}
	if slices.Equal(asc, plain) || len(asc) != len(plain) {
		t.Error("sorting changed nothing or lost records")
	}
	// A "The"/"A" title sorts by the word after the article.
	years, err := s.Search("alma.title=history sortBy alma.main_pub_date/sort.descending")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(years, func(a, b string) int {
		ra, _ := s.Record(a)
		rb, _ := s.Record(b)
		return strings.Compare(rb.Year, ra.Year)
	}) {
		t.Error("year sort is not descending")
	}
	if _, err := s.Search("alma.title=history sortBy alma.creator"); err != nil {
		t.Errorf("creator sort: %v", err)
	}
}

func TestCQLDiagnostics(t *testing.T) {
	s := shared(t, 300)
	tests := []struct {
		query, uri, details string
	}{
		{"alma.nosuch=x", "info:srw/diagnostic/1/16", "alma.nosuch"},
		{"dc.title=x", "info:srw/diagnostic/1/16", "dc.title"},
		{"alma.title adj x", "info:srw/diagnostic/1/19", "adj"},
		{"alma.all_for_ui==x", "info:srw/diagnostic/1/19", "=="},
		{"alma.isbn<123", "info:srw/diagnostic/1/19", "<"},
		{"alma.title=/stem x", "info:srw/diagnostic/1/20", "stem"},
		{"alma.title=", "info:srw/diagnostic/1/10", "alma.title="},
		{"(alma.title=x", "info:srw/diagnostic/1/10", "(alma.title=x"},
		{"alma.title=x prox alma.title=y", "info:srw/diagnostic/1/37", "prox"},
		{"alma.title=*story", "info:srw/diagnostic/1/28", "*story"},
		{"alma.main_pub_date=abc", "info:srw/diagnostic/1/36", "abc"},
		{"alma.title=x sortBy alma.isbn", "info:srw/diagnostic/1/16", "alma.isbn"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			_, err := s.Search(tc.query)
			var d *Diagnostic
			if !errors.As(err, &d) {
				t.Fatalf("Search(%q) = %v, want diagnostic %s", tc.query, err, tc.uri)
			}
			if d.URI != tc.uri || d.Details != tc.details {
				t.Errorf("Search(%q) = %s %q, want %s %q", tc.query, d.URI, d.Details, tc.uri, tc.details)
			}
		})
	}
}

func TestSearchInMemberZone(t *testing.T) {
	s := shared(t, 300)
	m := s.Members()[0]
	want := []string{}
	for _, r := range s.Records() {
		for _, h := range r.Holdings {
			if h.Institution == m.Code {
				want = append(want, h.IZMMSID)
			}
		}
	}
	for _, r := range s.LocalOnly(m.Code) { // drawn after the network, so last
		want = append(want, r.MMSID)
	}
	got, err := s.SearchIn(m.Code, "cql.allRecords=1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("member zone records (-want +got):\n%s", diff)
	}
	nz := s.Records()[0].MMSID
	got, err = s.SearchIn(m.Code, `alma.other_system_number="(EXLNZ-`+s.NetworkCode()+`)`+nz+`"`)
	if err != nil || len(got) != 1 {
		t.Errorf("IZ search by its NZ link: %v, %v", got, err)
	}
}
