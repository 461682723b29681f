package stdnum

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestISBN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"978-3-16-148410-0", "9783161484100"},
		{"9783161484100 (pbk.)", "9783161484100"},
		{"ISBN 3-16-148410-X", "316148410X"},
		{"isbn: 316148410x", "316148410X"},
		{" 979-10-90636-07-1 ", "9791090636071"},
		{"0375400699 1997", "0375400699"}, // a space ends a complete number, even inside a longer one
		{"9773161484100", ""},             // 977 is an ISSN's EAN, not an ISBN
		{"12345", ""},
		{"31614841X0", ""},
		{"", ""},
	} {
		if got := ISBN(tc.in); got != tc.want {
			t.Errorf("ISBN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestISBNForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"9780306406157", []string{"9780306406157", "0306406152"}},
		{"0306406152", []string{"9780306406157", "0306406152"}},
		{"080442957X", []string{"9780804429573", "080442957X"}},
		{"9791234567896", []string{"9791234567896"}},
		{"abc", nil},
	} {
		if d := cmp.Diff(tc.want, ISBNForms(tc.in)); d != "" {
			t.Errorf("ISBNForms(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		v    string
		isbn bool
	}{
		{"9780306406157", true}, {"9780306406158", false}, {"0306406152", true}, {"0306406153", false},
		{"080442957X", true}, {"X804429570", false},
	} {
		if got := ISBNCheck(tc.v); got != tc.isbn {
			t.Errorf("ISBNCheck(%q) = %v, want %v", tc.v, got, tc.isbn)
		}
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"0317-8471", "0317-8471", true}, {"03178471", "0317-8471", true}, {"2434-561x", "2434-561X", true},
		{"0317-8472", "0317-8472", false}, {"0317 8471", "", false}, {"031-78471", "", false},
	} {
		v := ISSN(tc.in)
		if v != tc.want || v != "" && ISSNCheck(v) != tc.ok {
			t.Errorf("ISSN(%q) = %q (check %v), want %q (check %v)", tc.in, v, ISSNCheck(v), tc.want, tc.ok)
		}
	}
}

func TestOCLC(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		prefixed bool
	}{
		{"(OCoLC)ocm00012345", "12345", true}, {"(OCoLC)12345", "12345", true}, {"ocn123456789", "123456789", true},
		{"on1234567890", "1234567890", true}, {"(ocolc) 0042", "42", true}, {"12345", "12345", false},
		{"(OCoLC)", "", false}, {"(NET)0000001-netdb", "", false}, {"ocmabc", "", false},
	} {
		if got, p := OCLC(tc.in), OCLCPrefixed(tc.in); got != tc.want || p != tc.prefixed {
			t.Errorf("OCLC(%q) = %q, prefixed %v; want %q, %v", tc.in, got, p, tc.want, tc.prefixed)
		}
	}
}

// FuzzNumbers: every reader takes any input without panicking, and what it
// returns is a fixed point of itself and consistent with the other forms.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"978-3-16-148410-0", "ISBN 316148410X", "0317-8471", "(OCoLC)ocm00012345", "on1", "979", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v := ISBN(s); v != "" {
			if ISBN(v) != v {
				t.Errorf("ISBN(ISBN(%q)) = %q, want %q", s, ISBN(v), v)
			}
			forms := ISBNForms(v)
			if len(forms) == 0 || len(forms[0]) != 13 {
				t.Fatalf("ISBNForms(%q) = %q", v, forms)
			}
			if !ISBNCheck(v) {
				return // a misprinted ISBN keeps its digits; its forms need not agree
			}
			if !ISBNCheck(forms[0]) {
				t.Errorf("ISBNForms(%q) = %q", v, forms)
			}
			for _, f := range forms[1:] {
				if !ISBNCheck(f) || ISBN13(f) != forms[0] {
					t.Errorf("ISBNForms(%q) = %q: %q is no ISBN-10 of the first", v, forms, f)
				}
			}
		}
		if v := ISSN(s); v != "" && (ISSN(v) != v || ISSN(strings.ReplaceAll(v, "-", "")) != v) {
			t.Errorf("ISSN(%q) = %q is not a fixed point", s, v)
		}
		if v := OCLC(s); v != "" && (OCLC(v) != v || OCLC("(OCoLC)ocm"+v) != v) {
			t.Errorf("OCLC(%q) = %q is not a fixed point", s, v)
		}
	})
}
