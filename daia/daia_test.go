package daia

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/internal/stdnum"
)

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in      string
		want    []RequestID
		wantErr error
	}{
		{"9912345601340101", []RequestID{{"9912345601340101", MMSID, "9912345601340101", nil}}, nil},
		{"978-0-306-40615-7", []RequestID{{"978-0-306-40615-7", ISBN, "9780306406157", nil}}, nil},
		{"urn:isbn:0306406152|ISBN:080442957x", []RequestID{{"urn:isbn:0306406152", ISBN, "0306406152", nil}, {"ISBN:080442957x", ISBN, "080442957X", nil}}, nil},
		{"99123|99123| 99123 ", []RequestID{{"99123", MMSID, "99123", nil}, {" 99123 ", MMSID, "99123", nil}}, nil},
		// VuFind's default daiaIdPrefix, a union catalogue's double one,
		// and the document URLs the gateway itself gives, sent back.
		{"ppn:9912345601340101|ppn:9780306406157", []RequestID{{"ppn:9912345601340101", MMSID, "9912345601340101", nil}, {"ppn:9780306406157", ISBN, "9780306406157", nil}}, nil},
		{"gvk:ppn:99123", []RequestID{{"gvk:ppn:99123", MMSID, "99123", nil}}, nil},
		{"http://gw.example/v1/records/9912345601340101", []RequestID{{"http://gw.example/v1/records/9912345601340101", MMSID, "9912345601340101", nil}}, nil},
		{"https://gw.example/#record/99123", []RequestID{{"https://gw.example/#record/99123", MMSID, "99123", nil}}, nil},
		{"99123|", []RequestID{{"99123", MMSID, "99123", nil}}, nil},
		{"", nil, ErrEmpty},
		{"  ", nil, ErrEmpty},
		{"|", nil, ErrEmpty},
		{strings.Repeat("99|", 20) + "99", nil, ErrTooMany},
		{"99123|" + strings.Repeat("a", 300), nil, ErrInvalid},
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

// TestParseIDsOneBadIdentifier: an identifier that cannot be read is
// answered on its own; the others in the request still are.
func TestParseIDsOneBadIdentifier(t *testing.T) {
	for _, tt := range []struct {
		bad  string
		want error
	}{
		{"abc", ErrInvalid},
		{"isbn:99123", ErrInvalid},
		{"9780306406158", ErrCheckDigit},
		{"ppn:0306406153", ErrCheckDigit},
		{"1", ErrInvalid},
		{strings.Repeat("9", 25), ErrInvalid},
		{"http://gw.example/v1/records/abc", ErrInvalid},
	} {
		got, err := ParseIDs("99123|"+tt.bad+"|978-0-306-40615-7", 20)
		if err != nil {
			t.Fatalf("ParseIDs with %q refused the whole request: %v", tt.bad, err)
		}
		if len(got) != 3 || got[0].Err != nil || got[2].Err != nil || got[0].Kind != MMSID || got[2].Kind != ISBN {
			t.Fatalf("ParseIDs with %q: %+v", tt.bad, got)
		}
		if !errors.Is(got[1].Err, tt.want) || got[1].Kind != 0 || got[1].Requested != tt.bad {
			t.Errorf("ParseIDs: the bad identifier %q came back as %+v, want Err %v", tt.bad, got[1], tt.want)
		}
	}
}

func TestRequestIDURI(t *testing.T) {
	for in, want := range map[string]string{
		"ppn:99123": "ppn:99123", " urn:isbn:0306406152 ": "urn:isbn:0306406152", "http://gw.example/v1/records/99123": "http://gw.example/v1/records/99123",
		"99123": "", "978-0-306-40615-7": "", ":99": "", "ppn:": "", "p p:1": "", "1ppn:2": "",
	} {
		got, ok := RequestID{Requested: in}.URI()
		if got != want || ok != (want != "") {
			t.Errorf("URI(%q) = %q, %v; want %q", in, got, ok, want)
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
			if id.Err != nil {
				if id.Kind != 0 || !errors.Is(id.Err, ErrInvalid) && !errors.Is(id.Err, ErrCheckDigit) {
					t.Fatalf("bad identifier %+v", id)
				}
				continue
			}
			switch id.Kind {
			case ISBN:
				if len(stdnum.ISBNForms(id.Value)) == 0 {
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
