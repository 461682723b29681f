package daia

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in      string
		want    []RequestID
		wantErr error
	}{
		{"9912345601340101", []RequestID{{"9912345601340101", MMSID, "9912345601340101"}}, nil},
		{"978-0-306-40615-7", []RequestID{{"978-0-306-40615-7", ISBN, "9780306406157"}}, nil},
		{"urn:isbn:0306406152|ISBN:080442957x", []RequestID{{"urn:isbn:0306406152", ISBN, "0306406152"}, {"ISBN:080442957x", ISBN, "080442957X"}}, nil},
		{"99123|99123| 99123 ", []RequestID{{"99123", MMSID, "99123"}, {" 99123 ", MMSID, "99123"}}, nil},
		{"", nil, ErrEmpty},
		{"  ", nil, ErrEmpty},
		{"99123|", nil, ErrEmpty},
		{"abc", nil, ErrInvalid},
		{"isbn:99123", nil, ErrInvalid},
		{"9780306406158", nil, ErrCheckDigit},
		{"0306406153", nil, ErrCheckDigit},
		{"1", nil, ErrInvalid},
		{strings.Repeat("9", 25), nil, ErrInvalid},
		{strings.Repeat("99|", 20) + "99", nil, ErrTooMany},
	}
	for _, tt := range tests {
		got, err := ParseIDs(tt.in, 20)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseIDs(%q) error %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseIDs(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestISBNForms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"9780306406157", []string{"9780306406157", "0306406152"}},
		{"0306406152", []string{"9780306406157", "0306406152"}},
		{"080442957X", []string{"9780804429573", "080442957X"}},
		{"9791234567896", []string{"9791234567896"}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, ISBNForms(tt.in)); d != "" {
			t.Errorf("ISBNForms(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

// FuzzParseIDs: any id parameter is answered with identifiers or an error,
// never a panic; what it returns is bounded and normalized.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"9912345601340101", "978-0-306-40615-7|urn:isbn:0306406152", "||", "isbn:", "X", "99|99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseIDs(s, 20)
		if err != nil {
			if ids != nil {
				t.Fatalf("ids with an error")
			}
			return
		}
		if len(ids) == 0 || len(ids) > 20 {
			t.Fatalf("%d ids", len(ids))
		}
		for _, id := range ids {
			switch id.Kind {
			case ISBN:
				if len(ISBNForms(id.Value)) == 0 {
					t.Fatalf("no forms for %q", id.Value)
				}
			case MMSID:
				if !allDigits(id.Value) {
					t.Fatalf("MMS ID %q", id.Value)
				}
			default:
				t.Fatalf("kind %d", id.Kind)
			}
		}
	})
}
