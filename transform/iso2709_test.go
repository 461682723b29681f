package transform

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readISO2709 is a test-only ISO 2709 reader: it checks the leader's
// numbers and the directory against the data and returns the leader and
// fields, so the encoder is checked by a second implementation (the
// integration suite also reads its output with yaz-marcdump).
func readISO2709(t *testing.T, b []byte) (string, []Field) {
	t.Helper()
	if len(b) < 25 || b[len(b)-1] != isoRecord {
		t.Fatalf("not a record: %q", b)
	}
	num := func(s []byte) int {
		n, err := strconv.Atoi(string(s))
		if err != nil {
			t.Fatalf("number %q: %v", s, err)
		}
		return n
	}
	if n := num(b[0:5]); n != len(b) {
		t.Fatalf("leader length %d, record is %d bytes", n, len(b))
	}
	base := num(b[12:17])
	if b[base-1] != isoField || (base-25)%12 != 0 {
		t.Fatalf("base address %d does not end the directory", base)
	}
	var fields []Field
	for d := 24; d < base-1; d += 12 {
		tag := string(b[d : d+3])
		n, at := num(b[d+3:d+7]), num(b[d+7:d+12])
		v := b[base+at : base+at+n]
		if v[len(v)-1] != isoField {
			t.Fatalf("field %s does not end with 0x1E", tag)
		}
		v = v[:len(v)-1]
		if strings.HasPrefix(tag, "00") {
			fields = append(fields, Field{Tag: tag, Value: string(v)})
			continue
		}
		f := Field{Tag: tag, Ind1: string(v[0:1]), Ind2: string(v[1:2]), Subfields: []Subfield{}}
		for _, s := range bytes.Split(v[2:], []byte{isoSubfield})[1:] {
			f.Subfields = append(f.Subfields, Subfield{Code: string(s[0:1]), Value: string(s[1:])})
		}
		fields = append(fields, f)
	}
	return string(b[:24]), fields
}

func TestAppendISO2709(t *testing.T) {
	s := NewScanner(bytes.NewReader(readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml")))
	n := 0
	for s.Scan() {
		r := mustParse(t, s.Bytes())
		got, err := r.AppendISO2709([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("dst prefix lost")
		}
		leader, fields := readISO2709(t, got[len("prefix"):])
		if leader[9] != 'a' || leader[10:12] != "22" || leader[20:] != "4500" {
			t.Errorf("record %d: leader %q", n, leader)
		}
		// The same record as MARCXML, read back, is what ISO 2709 carries.
		want := mustParse(t, r.AppendMARCXML(nil)).Fields()
		for i := range want {
			if want[i].Subfields == nil && !strings.HasPrefix(want[i].Tag, "00") {
				want[i].Subfields = []Subfield{}
			}
		}
		if diff := cmp.Diff(fields, want); diff != "" {
			t.Errorf("record %d fields (-got +want):\n%s", n, diff)
		}
		n++
	}
	if s.Err() != nil || n != 10 {
		t.Fatalf("scanned %d records: %v", n, s.Err())
	}
}

func TestAppendISO2709Edges(t *testing.T) {
	big := strings.Repeat("x", 10000)
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		check   func(t *testing.T, leader string, f []Field)
	}{
		{"separators in values are dropped", marc(cf("001", "9\x1d9"), df("245", "1", "0", "a", "A\x1fB\x1eC")), nil, func(t *testing.T, _ string, f []Field) {
			got := []string{f[0].Value, f[1].Subfields[0].Value}
			if diff := cmp.Diff(got, []string{"99", "ABC"}); diff != "" {
				t.Error(diff)
			}
		}},
		{"no leader gets the default", []byte(`<record><controlfield tag="001">1</controlfield></record>`), nil, func(t *testing.T, l string, _ []Field) {
			if l[5:10] != "nam a" {
				t.Errorf("leader %q", l)
			}
		}},
		{"invalid tags and codes are left out", marc(df("INST", " ", " ", "a", "x"), df("650", " ", "0", "", "x", "a", "y")), nil, func(t *testing.T, _ string, f []Field) {
			if len(f) != 1 || f[0].Tag != "650" || len(f[0].Subfields) != 1 {
				t.Errorf("fields %+v", f)
			}
		}},
		{"a field of 10000 bytes", marc(df("500", " ", " ", "a", big)), ErrISO2709TooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.in)
			got, err := r.AppendISO2709([]byte("x"))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if string(got) != "x" {
					t.Errorf("dst changed on error: %q", got)
				}
				return
			}
			l, f := readISO2709(t, got[1:])
			tt.check(t, l, f)
		})
	}
}
