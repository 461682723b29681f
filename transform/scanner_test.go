package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// mmsIDs scans r and returns each record's 001.
func mmsIDs(t *testing.T, r io.Reader) ([]string, error) {
	t.Helper()
	sc := NewScanner(r)
	ids := []string{}
	for sc.Scan() {
		rec, err := Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("Parse(%q): %v", sc.Bytes(), err)
		}
		ids = append(ids, rec.MMSID)
	}
	return ids, sc.Err()
}

func TestScanner(t *testing.T) {
	rec := func(id string) string {
		return `<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">` + id + `</controlfield></record>`
	}
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"bare record", rec("1"), []string{"1"}},
		{"collection", `<?xml version="1.0"?><collection>` + rec("1") + rec("2") + `</collection>`, []string{"1", "2"}},
		{"prefixed collection", `<m:collection xmlns:m="http://www.loc.gov/MARC21/slim"><m:record><m:controlfield tag="001">1</m:controlfield></m:record></m:collection>`, []string{"1"}},
		{"SRU 1.2", `<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><numberOfRecords>2</numberOfRecords><records>` +
			`<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking><recordData>` + rec("1") + `</recordData><recordPosition>1</recordPosition></record>` +
			`<record><recordData>` + rec("2") + `</recordData></record></records></searchRetrieveResponse>`, []string{"1", "2"}},
		{"SRU 2.0 prefixed", `<sru:searchRetrieveResponse xmlns:sru="http://docs.oasis-open.org/ns/search-ws/sruResponse"><sru:records><sru:record><sru:recordSchema>info:srw/schema/1/marcxml-v1.1</sru:recordSchema><sru:recordXMLEscaping>xml</sru:recordXMLEscaping><sru:recordData>` + rec("7") + `</sru:recordData></sru:record></sru:records></sru:searchRetrieveResponse>`, []string{"7"}},
		{"SRU string packing", `<searchRetrieveResponse><records><record><recordPacking>string</recordPacking><recordData>&lt;record xmlns="http://www.loc.gov/MARC21/slim"&gt;&lt;controlfield tag="001"&gt;5&lt;/controlfield&gt;&lt;/record&gt;</recordData></record></records></searchRetrieveResponse>`, []string{"5"}},
		{"SRU CDATA packing", `<searchRetrieveResponse><records><record><recordData><![CDATA[` + rec("6") + `]]></recordData></record></records></searchRetrieveResponse>`, []string{"6"}},
		{"zero hits", `<searchRetrieveResponse><numberOfRecords>0</numberOfRecords><records/></searchRetrieveResponse>`, []string{}},
		{"diagnostic only", `<searchRetrieveResponse><diagnostics><diagnostic><uri>info:srw/diagnostic/1/7</uri></diagnostic></diagnostics></searchRetrieveResponse>`, []string{}},
		{"empty record elements skipped", `<collection><record/><record> </record>` + rec("3") + `</collection>`, []string{"3"}},
		{"comments, PIs, CDATA and '>' in attributes around", `<!DOCTYPE x [<!ENTITY a "b">]><collection a="x>y"><!-- <record> --><?pi <record>?><![CDATA[<record>]]>` + rec("4") + `</collection>`, []string{"4"}},
		{"empty input", "", []string{}},
		{"end tag inside CDATA and comment", `<collection><record><controlfield tag="001">8</controlfield><datafield tag="500" ind1=" " ind2=" "><subfield code="a"><![CDATA[</record>]]></subfield></datafield><!-- </record> --><?pi </record>?></record>` + rec("9") + `</collection>`, []string{"8", "9"}},
		{"end tag with space", `<collection><record><controlfield tag="001">10</controlfield></record >` + rec("11") + `</collection >`, []string{"10", "11"}},
		{"prefixed end tag with space at the end of input", `<m:record xmlns:m="x"><m:controlfield tag="001">12</m:controlfield></m:record
>`, []string{"12"}},
		{"nested record", `<collection><record><controlfield tag="001">13</controlfield><record><controlfield tag="001">x</controlfield></record></record><record/>` + rec("14") + `</collection>`, []string{"13", "14"}},
		{"similar names", `<collection><record><controlfield tag="001">15</controlfield><recordX>y</recordX></record></collection>`, []string{"15"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"one byte at a time", iotest.OneByteReader(strings.NewReader(tt.in))},
				{"half reads", iotest.HalfReader(strings.NewReader(tt.in))},
			} {
				got, err := mmsIDs(t, r.r)
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", r.name, diff)
				}
			}
		})
	}
}

func TestScannerErrors(t *testing.T) {
	t.Run("truncated record", func(t *testing.T) {
		_, err := mmsIDs(t, strings.NewReader(`<collection><record><controlfield tag="001">1</controlfield>`))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("truncated after a record", func(t *testing.T) {
		ids, err := mmsIDs(t, strings.NewReader(`<searchRetrieveResponse><records><record><recordData><record><controlfield tag="001">1</controlfield></record></recordData></record><record><recordSchema>marcxml</recordSchema>`))
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(ids) != 1 {
			t.Errorf("got %v, %v; want the one record, then io.ErrUnexpectedEOF", ids, err)
		}
	})
	t.Run("truncated tag", func(t *testing.T) {
		_, err := mmsIDs(t, strings.NewReader(`<collection><record><controlfield tag="00`))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("reader error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := mmsIDs(t, io.MultiReader(strings.NewReader("<collection><record>"), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) {
			t.Errorf("got %v, want boom", err)
		}
	})
	t.Run("record too large", func(t *testing.T) {
		big := `<collection><record><controlfield tag="001">1</controlfield>` + strings.Repeat(`<datafield tag="500" ind1=" " ind2=" "><subfield code="a">xxxxxxxxxxxxxxxx</subfield></datafield>`, 2000) + `</record></collection>`
		sc := NewScanner(strings.NewReader(big))
		sc.max = 64 << 10
		for sc.Scan() {
			t.Errorf("got a record of %d bytes past a %d limit", len(sc.Bytes()), sc.max)
		}
		if !errors.Is(sc.Err(), ErrRecordTooLarge) {
			t.Errorf("got %v, want ErrRecordTooLarge", sc.Err())
		}
	})
	t.Run("huge comment outside records", func(t *testing.T) {
		sc := NewScanner(strings.NewReader(`<collection><!--` + strings.Repeat("x", 200<<10) + `--></collection>`))
		sc.max = 64 << 10
		if sc.Scan() || sc.Err() == nil {
			t.Errorf("got no error for markup past the limit")
		}
	})
	t.Run("UTF-16", func(t *testing.T) {
		for name, in := range map[string]string{
			"BOM LE":    "\xff\xfe<\x00r\x00",
			"BOM BE":    "\xfe\xff\x00<\x00r",
			"no BOM LE": "<\x00?\x00x\x00",
			"no BOM BE": "\x00<\x00?\x00x",
		} {
			if _, err := mmsIDs(t, strings.NewReader(in)); !errors.Is(err, ErrUTF16) {
				t.Errorf("%s: got %v, want ErrUTF16", name, err)
			}
		}
		// A UTF-8 byte order mark is fine.
		if ids, err := mmsIDs(t, strings.NewReader("\ufeff<record><controlfield tag='001'>1</controlfield></record>")); err != nil || len(ids) != 1 {
			t.Errorf("UTF-8 BOM: got %v, %v", ids, err)
		}
	})
	t.Run("reader that never progresses", func(t *testing.T) {
		sc := NewScanner(zeroReader{})
		if sc.Scan() || !errors.Is(sc.Err(), io.ErrNoProgress) {
			t.Errorf("got %v, want io.ErrNoProgress", sc.Err())
		}
	})
}

func TestScannerPositions(t *testing.T) {
	rec := func(id string) string {
		return `<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">` + id + `</controlfield></record>`
	}
	in := `<searchRetrieveResponse><records>` +
		`<record><recordSchema>marcxml</recordSchema><recordData>` + rec("a") + `</recordData><recordIdentifier>a</recordIdentifier><recordPosition> 11 </recordPosition></record>` +
		`<record><recordData>&lt;record&gt;&lt;controlfield tag="001"&gt;b&lt;/controlfield&gt;&lt;/record&gt;</recordData><recordPosition>12</recordPosition></record>` +
		`<record><recordData>` + rec("c") + `</recordData><extraRecordData>` + rec("extra") + `</extraRecordData></record>` +
		`<record><recordData>` + rec("d") + `</recordData><recordPosition>x</recordPosition></record>` +
		`</records></searchRetrieveResponse>` + `<collection>` + rec("e") + `</collection>`
	type got struct {
		ID       string
		Position int
	}
	want := []got{{"a", 11}, {"b", 12}, {"c", 0}, {"d", 0}, {"e", 0}}
	for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
		sc := NewScanner(r)
		var all []got
		for sc.Scan() {
			rec, err := Parse(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got{rec.MMSID, sc.Position()})
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

func TestConvertUsesRecordPosition(t *testing.T) {
	in := strings.Replace(string(readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml")),
		"<recordPosition>1</recordPosition>", "<recordPosition>41</recordPosition>", 1)
	var out bytes.Buffer
	if _, err := Convert(context.Background(), &out, strings.NewReader(in), "json", nil); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Records []FeedRecord }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range doc.Records {
		got = append(got, r.Position)
	}
	if diff := cmp.Diff([]int{41, 2, 3, 4, 5, 6, 7, 8, 9, 10}, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestConvert(t *testing.T) {
	page := readTestdata(t, "slsp_nz_sru_searchRetrieve_20records_852.xml")
	t.Run("json document", func(t *testing.T) {
		var out bytes.Buffer
		n, err := Convert(context.Background(), &out, bytes.NewReader(page), "", nil)
		if err != nil || n != 10 {
			t.Fatalf("got n=%d err=%v, want 10 records", n, err)
		}
		var doc struct {
			Records []FeedRecord `json:"records"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		for i, r := range doc.Records {
			if r.Position != i+1 {
				t.Errorf("record %d: position %d", i, r.Position)
			}
		}
	})
	t.Run("progress", func(t *testing.T) {
		var progress bytes.Buffer
		if _, err := Convert(context.Background(), io.Discard, bytes.NewReader(page), "json", &progress); err != nil {
			t.Fatal(err)
		}
		if got := progress.String(); !strings.HasPrefix(got, "\r10 records, 0.1 MB") || !strings.HasSuffix(got, "\n") {
			t.Errorf("progress: got %q", got)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		if _, err := Convert(context.Background(), io.Discard, bytes.NewReader(page), "mods", nil); err == nil {
			t.Error("got nil error for format mods")
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := Convert(ctx, io.Discard, bytes.NewReader(page), "json", nil)
		if !errors.Is(err, context.Canceled) || n != 0 {
			t.Errorf("got n=%d err=%v, want context.Canceled", n, err)
		}
	})
	t.Run("malformed record", func(t *testing.T) {
		in := `<collection><record><controlfield tag="001">1</controlfield></record><record><datafield tag="1"><subfield code="a">x</datafield></record></collection>`
		n, err := Convert(context.Background(), io.Discard, strings.NewReader(in), "json", nil)
		if err == nil || n != 1 || !strings.Contains(err.Error(), "record 2") {
			t.Errorf("got n=%d err=%v, want an error naming record 2", n, err)
		}
	})
	t.Run("write error", func(t *testing.T) {
		boom := errors.New("disk full")
		_, err := Convert(context.Background(), failWriter{boom}, bytes.NewReader(bytes.Repeat(page, 10)), "marcxml", nil)
		if !errors.Is(err, boom) {
			t.Errorf("got %v, want the write error", err)
		}
	})
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// TestConvertStreams converts an input much larger than what the scanner
// may buffer: it only works if records are handled one at a time.
func TestConvertStreams(t *testing.T) {
	r := &repeatReader{
		head: []byte(`<collection xmlns="http://www.loc.gov/MARC21/slim">`),
		body: marc(cf("001", "1"), df("245", "0", "0", "a", strings.Repeat("x", 1000))),
		tail: []byte(`</collection>`),
		n:    5000,
	}
	sc := NewScanner(r)
	sc.max = 8 << 10 // far below the 5 MB input
	count := 0
	for sc.Scan() {
		count++
	}
	if err := sc.Err(); err != nil || count != 5000 {
		t.Fatalf("got %d records, err %v; want 5000", count, err)
	}
	if len(sc.buf) > sc.max+1 {
		t.Errorf("buffer grew to %d bytes", len(sc.buf))
	}
}

// repeatReader yields head, body n times, tail, without holding it all.
type repeatReader struct {
	head, body, tail []byte
	n                int
	cur              []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		switch {
		case r.head != nil:
			r.cur, r.head = r.head, nil
		case r.n > 0:
			r.cur = r.body
			r.n--
		case r.tail != nil:
			r.cur, r.tail = r.tail, nil
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
