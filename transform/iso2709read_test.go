package transform

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/google/go-cmp/cmp"
)

// TestParseISO2709RoundTrip reads back every golden record written by
// AppendISO2709: the same fields, and the same identifiers, holdings and
// merge keys as the MARCXML record.
func TestParseISO2709RoundTrip(t *testing.T) {
	n := 0
	for _, in := range goldenInputs {
		sc := NewScanner(bytes.NewReader(goldenInput(t, in.file)))
		for sc.Scan() {
			want, err := Parse(sc.Bytes())
			if err != nil {
				continue
			}
			iso, err := want.AppendISO2709(nil)
			if err != nil {
				continue
			}
			got, err := ParseISO2709(iso)
			if err != nil {
				t.Fatalf("%s: %v", in.file, err)
			}
			if diff := cmp.Diff(want.Feed(1), got.Feed(1)); diff != "" {
				t.Fatalf("%s: feed record differs (-marcxml +iso2709):\n%s", in.file, diff)
			}
			if diff := cmp.Diff(want.Holdings, got.Holdings); diff != "" {
				t.Fatalf("%s: holdings differ:\n%s", in.file, diff)
			}
			if want.NZMMSID != got.NZMMSID || want.CZMMSID != got.CZMMSID || !cmp.Equal(want.OCLCNumbers, got.OCLCNumbers) {
				t.Fatalf("%s: identifiers differ", in.file)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d records read back", n)
	}
}

// isoRecordOf builds an ISO 2709 record with leader/09 coding from
// fields given as tag + content (indicators and 0x1F-coded subfields for
// data fields).
func isoRecordOf(coding byte, fields ...string) []byte {
	var dir, data []byte
	for _, f := range fields {
		tag, v := f[:3], f[3:]+"\x1e"
		dir = append(dir, tag...)
		dir = append(dir, pad(len(v), 4)...)
		dir = append(dir, pad(len(data), 5)...)
		data = append(data, v...)
	}
	base := 24 + len(dir) + 1
	total := base + len(data) + 1
	leader := []byte(pad(total, 5) + "nam ?22" + pad(base, 5) + " a 4500")
	leader[9] = coding
	out := append(leader, dir...)
	out = append(out, 0x1e)
	out = append(out, data...)
	return append(out, 0x1d)
}

func pad(n, w int) string {
	s := []byte("0000000000")
	for i := w - 1; i >= 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s[:w])
}

func TestParseISO2709MARC8(t *testing.T) {
	rec := isoRecordOf(' ',
		"001991234",
		"10010\x1faM\xe8uller, Jos\xe2e,\x1fd1950-",
		"24510\x1faStra\xc7e und Pl\xe8atze /\x1fc\xa5sop.",
		"020  \x1fa978-3-16-148410-0 (pbk.)",
		"650 0\x1faH\xe3otels\x1fx\x1bgb\x1bs-Strahlung H\x1bb2\x1bsO.",
	)
	r, err := ParseISO2709(rec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Leader[9] != 'a' {
		t.Errorf("leader/09 = %q, want 'a' once decoded", r.Leader[9])
	}
	if got, want := r.Authors, []string{"Müller, José"}; !cmp.Equal(got, want) {
		t.Errorf("authors %q, want %q", got, want)
	}
	if got, want := r.Title, "Straße und Plätze"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	if got, want := r.ISBNs, []string{"9783161484100"}; !cmp.Equal(got, want) {
		t.Errorf("isbns %q, want %q", got, want)
	}
	fs := r.Fields()
	if got, want := fs[1].Subfields[0].Value, "M\u00fcller, Jos\u00e9,"; got != want {
		t.Errorf("100 $a %q, want %q (precomposed)", got, want)
	}
	if got, want := fs[4].Subfields[1].Value, "β-Strahlung H₂O."; got != want {
		t.Errorf("650 $x %q, want %q", got, want)
	}
	if got, want := fs[3].Subfields[0].Value, "978-3-16-148410-0 (pbk.)"; got != want {
		t.Errorf("020 $a %q, want %q", got, want)
	}
}

func TestDecodeMARC8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"\xe2e", "é"},       // acute before e → precomposed (NFC)
		{"\xe8u\xe8o", "üö"}, // two marks
		{"\xf2\xe3a", "ậ"},   // dot below + circumflex on a, NFC
		{"\xa1\xb1\xb2\xc7", "Łłøß"},
		{"x\xe8", "x \u0308"},       // a trailing mark sits on a space
		{"\x1b(B\x1b)!E\xe2a", "á"}, // explicit designations
		{"\x1bp2\x1bs", "²"},
		{"a\x88The\x89b", "aTheb"},
	} {
		got, err := DecodeMARC8([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("DecodeMARC8(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"\x1b$1!!!", "\x1b(N", "a\x1b", "\xaf", "\x90"} {
		if _, err := DecodeMARC8([]byte(bad)); !errors.Is(err, errMARC8) {
			t.Errorf("DecodeMARC8(%q): err %v, want a MARC-8 error", bad, err)
		}
	}
}

func TestParseISO2709Refuses(t *testing.T) {
	good := isoRecordOf('a', "0011", "24500\x1faT")
	cases := map[string][]byte{
		"short":              good[:20],
		"length past data":   good[:len(good)-3],
		"bad coding":         append(append([]byte{}, good[:9]...), append([]byte{'x'}, good[10:]...)...),
		"undecodable MARC-8": isoRecordOf(' ', "0011", "24500\x1fa\x1b$1!!!"),
		"entry outside": func() []byte {
			b := append([]byte{}, good...)
			copy(b[24+3:24+7], "9999")
			return b
		}(),
		"base past end": func() []byte {
			b := append([]byte{}, good...)
			copy(b[12:17], "99999")
			return b
		}(),
		"digits": func() []byte {
			b := append([]byte{}, good...)
			b[2] = 'x'
			return b
		}(),
	}
	for name, b := range cases {
		if _, err := ParseISO2709(b); !errors.Is(err, ErrISO2709) {
			t.Errorf("%s: err %v, want ErrISO2709", name, err)
		}
	}
	if r, err := ParseISO2709(good); err != nil || r.Title != "T" {
		t.Fatalf("good record: %v %+v", err, r)
	}
}

// FuzzParseISO2709 reads arbitrary bytes as ISO 2709, in UTF-8 and MARC-8:
// never a panic, and every record it accepts keeps the outputs' promises.
func FuzzParseISO2709(f *testing.F) {
	f.Add(isoRecordOf('a', "0011", "24500\x1faT", "85201\x1faA\x1f9P"))
	f.Add(isoRecordOf(' ', "0011", "10010\x1faM\xe8uller", "24500\x1fa\x1bgb\x1bs\xe2e"))
	if r, err := Parse(awkwardRecord); err == nil {
		if b, err := r.AppendISO2709(nil); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseISO2709(b)
		if err != nil {
			if !errors.Is(err, ErrISO2709) {
				t.Fatalf("error %v does not wrap ErrISO2709", err)
			}
			return
		}
		checkOutputs(t, r)
	})
}

// FuzzDecodeMARC8 decodes arbitrary bytes: never a panic, and the output
// is valid UTF-8 in NFC.
func FuzzDecodeMARC8(f *testing.F) {
	f.Add([]byte("M\xe8uller \x1bgb\x1bs \x1bb2\x1bs \xf2\xe3a"))
	f.Add([]byte("\x1b(B\x1b)!E\xa1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeMARC8(b)
		if err != nil {
			return
		}
		if !utf8.ValidString(s) || !norm.NFC.IsNormalString(s) {
			t.Fatalf("not UTF-8 in NFC: %q", s)
		}
	})
}
