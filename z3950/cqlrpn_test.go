package z3950

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/almanet/gateway/sru"
)

// TestCQLToRPN converts the gateway's CQL to Bib-1 RPN, checks the PQF,
// and reads the encoded query back with the server's own decoder.
func TestCQLToRPN(t *testing.T) {
	for _, c := range []struct{ cql, pqf, back string }{
		{`alma.title = history`, `@attr 1=4 @attr 2=3 @attr 4=2 "history"`, `alma.title = "history"`},
		{`alma.title = "world history"`, `@and @attr 1=4 @attr 2=3 @attr 4=2 "world" @attr 1=4 @attr 2=3 @attr 4=2 "history"`, `(alma.title = "world") and (alma.title = "history")`},
		{`alma.creator == "jane smith"`, `@attr 1=1003 @attr 2=3 @attr 4=1 "jane smith"`, `alma.creator = "jane smith"`},
		{`alma.title all "cats dogs"`, `@and @attr 1=4 @attr 2=3 @attr 4=2 "cats" @attr 1=4 @attr 2=3 @attr 4=2 "dogs"`, `(alma.title = "cats") and (alma.title = "dogs")`},
		{`smith* not alma.isbn=123`, `@not @attr 1=1016 @attr 2=3 @attr 4=2 @attr 5=1 "smith" @attr 1=7 @attr 2=3 @attr 4=2 "123"`, `(alma.all_for_ui = "smith*") not (alma.isbn = "123")`},
		{`alma.main_pub_date >= 1990`, `@attr 1=31 @attr 2=4 "1990"`, `alma.main_pub_date >= "1990"`},
		// An ISSN is both its forms (sru's standard numbers, issue 22).
		{`alma.issn = "1234-5678" or alma.title = "a\"b"`, `@or @or @attr 1=8 @attr 2=3 @attr 4=2 "1234-5678" @attr 1=8 @attr 2=3 @attr 4=2 "12345678" @attr 1=4 @attr 2=3 @attr 4=2 "a\"b"`,
			`((alma.issn = "1234-5678") or (alma.issn = "12345678")) or (alma.title = "a\"b")`},
	} {
		n := parseRPN(t, c.cql, DefaultIndexMap())
		if got := PQF(n); got != c.pqf {
			t.Errorf("%s:\n got %s\nwant %s", c.cql, got, c.pqf)
		}
		p, err := ber.DecodePacketErr(encodeRPNQuery(n).Bytes())
		if err != nil {
			t.Fatal(err)
		}
		q, err := decodeQuery(elOf(p))
		if err != nil {
			t.Fatalf("%s: the server cannot decode it: %v", c.cql, err)
		}
		back, d := rpnToCQL(q, nil)
		if d != nil || back != c.back {
			t.Errorf("%s: read back as %q (%v), want %q", c.cql, back, d, c.back)
		}
	}
}

func TestCQLToRPNRefuses(t *testing.T) {
	m, err := ParseIndexMap(map[string]string{"alma.title": "1=4 4=1", "alma.all_for_ui": "1=1016", "alma.main_pub_date": "1=31"})
	if err != nil {
		t.Fatal(err)
	}
	for cql, want := range map[string]int{
		`alma.creator = x`:                 16,
		`alma.title = "a*b"`:               28,
		`alma.title = "?ab"`:               28,
		`alma.title = "^ab"`:               32,
		`alma.title = a prox alma.title=b`: 37,
		`alma.main_pub_date < 19*`:         28,
	} {
		q, d := sru.ParseQuery(cql, nil)
		if d != nil {
			t.Fatalf("%s: %v", cql, d)
		}
		if _, d := CQLToRPN(q.CQL, m); d == nil || d.Number() != want {
			t.Errorf("%s: %v, want diagnostic %d", cql, d, want)
		}
	}
	// A map's own structure is kept.
	q, _ := sru.ParseQuery(`alma.title = "a b"`, nil)
	n, d := CQLToRPN(q.CQL, m)
	if d != nil || PQF(n) != `@and @attr 1=4 @attr 4=1 @attr 2=3 "a" @attr 1=4 @attr 4=1 @attr 2=3 "b"` {
		t.Errorf("%v %s", d, PQF(n))
	}
	for _, bad := range []string{"", "4=1", "1=4 1=5", "x=1", "1=a", "9=1"} {
		if _, err := ParseAttributes(bad); err == nil {
			t.Errorf("ParseAttributes(%q) accepted", bad)
		}
	}
}
