package z3950

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/go-cmp/cmp"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "yaz-client", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// toIndefinite re-encodes every constructed element of a BER encoding in
// the indefinite-length form (as some clients and servers send), so the
// fixtures test that path too.
func toIndefinite(t testing.TB, b []byte) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		id, length, n, err := header(b)
		if err != nil || length < 0 || n+length > len(b) {
			t.Fatalf("toIndefinite: bad input at %x", b)
		}
		body := b[n : n+length]
		if id&0x20 != 0 {
			out = append(out, b[:n-lenOctets(b[:n])]...)
			out = append(out, 0x80)
			out = append(out, toIndefinite(t, body)...)
			out = append(out, 0, 0)
		} else {
			out = append(out, b[:n+length]...)
		}
		b = b[n+length:]
	}
	return out
}

// lenOctets is how many octets of a header are its length.
func lenOctets(hdr []byte) int {
	id := 1
	if hdr[0]&0x1f == 0x1f {
		for id < len(hdr) && hdr[id]&0x80 != 0 {
			id++
		}
		id++
	}
	return len(hdr) - id
}

func rpnTerm(value string, attrs ...int) *RPNNode {
	t := &Term{Value: value, Kind: "general"}
	for i := 0; i+1 < len(attrs); i += 2 {
		t.Attributes = append(t.Attributes, Attribute{Type: attrs[i], Value: attrs[i+1]})
	}
	return &RPNNode{Term: t}
}

// TestDecodeYazClientFixtures decodes, field by field, the PDUs a real
// yaz-client sent (testdata/yaz-client/README says how they were made),
// as sent and re-encoded with indefinite lengths.
func TestDecodeYazClientFixtures(t *testing.T) {
	tests := []struct {
		file string
		want any
	}{
		{"01-init.ber", &InitRequest{
			Versions: []int{1, 2, 3}, Options: []int{0, 1, 2, 4, 7, 8, 10, 14},
			PreferredMessageSize: 67108864, ExceptionalRecordSize: 67108864,
			ImplementationID: "81", ImplementationName: "YAZ",
			ImplementationVersion: "5.34.0 dec0c8a0b762132468cc8264c1b220eae1c67bd7",
		}},
		{"02-search.ber", &SearchRequest{
			LargeSetLowerBound: 1, ReplaceIndicator: true, ResultSetName: "1", DatabaseNames: []string{"Default"},
			Query: Query{Type: 1, AttributeSet: OIDBib1Attributes, RPN: &RPNNode{Op: "and",
				Left: rpnTerm("history", 1, 4), Right: rpnTerm("author", 1, 1003)}},
		}},
		{"03-present.ber", &PresentRequest{ResultSetID: "1", Start: 1, Count: 2, PreferredRecordSyntax: OIDUSMARC}},
		{"04-present.ber", &PresentRequest{ResultSetID: "1", Start: 3, Count: 1, ElementSetName: "marcxml", PreferredRecordSyntax: OIDXML}},
		{"05-search.ber", &SearchRequest{
			LargeSetLowerBound: 1, ReplaceIndicator: true, ResultSetName: "2", DatabaseNames: []string{"Default"},
			Query: Query{Type: 104, ExternalOID: OIDCQL, CQL: "alma.title=science"},
		}},
		{"06-search.ber", &SearchRequest{
			LargeSetLowerBound: 1, ReplaceIndicator: true, ResultSetName: "3", DatabaseNames: []string{"Default"},
			Query: Query{Type: 1, AttributeSet: OIDBib1Attributes, RPN: rpnTerm("hist of sci", 6, 1, 5, 1, 4, 1, 3, 3, 2, 3, 1, 4)},
		}},
		{"07-deleteResultSet.ber", &DeleteRequest{Names: []string{"1"}}},
		{"08-close.ber", &CloseRequest{Reason: CloseFinished}},
	}
	for _, tt := range tests {
		b := fixture(t, tt.file)
		for _, form := range []string{"definite", "indefinite"} {
			t.Run(tt.file+"/"+form, func(t *testing.T) {
				in := b
				if form == "indefinite" {
					in = toIndefinite(t, b)
					f := framer{max: 1 << 20, maxDepth: 32}
					n, err := f.next(in)
					if err != nil || n != len(in) {
						t.Fatalf("framer: %d, %v; want %d", n, err, len(in))
					}
				}
				got, err := decodePDU(in)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(got, tt.want); diff != "" {
					t.Errorf("decoded (-got +want):\n%s", diff)
				}
			})
		}
	}
}

// TestFramerByteAtATime feeds a fixture one byte at a time: the framer
// reports a short buffer until the last byte, then the whole length.
func TestFramerByteAtATime(t *testing.T) {
	for _, b := range [][]byte{fixture(t, "02-search.ber"), toIndefinite(t, fixture(t, "02-search.ber"))} {
		f := framer{max: 1 << 20, maxDepth: 32}
		for i := 1; i <= len(b); i++ {
			n, err := f.next(b[:i])
			if i < len(b) && err != errShort {
				t.Fatalf("at %d of %d: %d, %v", i, len(b), n, err)
			}
			if i == len(b) && (err != nil || n != len(b)) {
				t.Fatalf("complete: %d, %v", n, err)
			}
		}
	}
}

// TestClientReadsIndefiniteLengths: the client's TLV walk reads a present
// response in either length form (yaz-ztest sends indefinite ones).
func TestClientReadsIndefiniteLengths(t *testing.T) {
	rec := EncodeRecord(loadRecords(t)[0], OIDUSMARC, "")
	resp := pdu(tagPresentResponse, nil, ctxInt(24, 1), ctxInt(25, 2), ctxInt(27, 0),
		recordsPacket([]record{{db: "Default", ext: rec.External}}, nil))
	for _, b := range [][]byte{resp, toIndefinite(t, resp)} {
		top, err := splitTLV(b)
		if err != nil || len(top) != 1 || top[0].tag != tagPresentResponse || len(top[0].all) != len(b) {
			t.Fatalf("splitTLV: %v", err)
		}
		fields, err := splitTLV(top[0].content)
		if err != nil || len(fields) != 4 || fields[3].tag != 28 {
			t.Fatalf("fields: %d, %v", len(fields), err)
		}
	}
}

// TestPDURecordsIsThePacketEncoding: the flat encoding of responseRecords
// gives the same bytes as building it from packets: records with and
// without a database name, a surrogate diagnostic, lengths across the
// long-form boundaries, and the empty list.
func TestPDURecordsIsThePacketEncoding(t *testing.T) {
	ext := func(n int) []byte { return externalOctets(OIDUSMARC, bytes.Repeat([]byte{'x'}, n)).Bytes() }
	for _, recs := range [][]record{
		nil,
		{{db: "Default", ext: ext(10)}},
		{{ext: ext(100)}, {db: "nz", ext: ext(200)}, {db: "x", diag: diag(14, "record too large")}},
		{{db: "Default", ext: ext(70000)}, {db: "Default", ext: ext(300)}},
	} {
		want := pdu(tagPresentResponse, []byte("ref"), ctxInt(24, len(recs)), ctxInt(25, 0), ctxInt(27, 0), recordsPacket(recs, nil))
		got := pduRecords(tagPresentResponse, []byte("ref"), true, recs, ctxInt(24, len(recs)), ctxInt(25, 0), ctxInt(27, 0))
		if !bytes.Equal(got, want) {
			t.Errorf("%d records: flat encoding differs (%d bytes, want %d)", len(recs), len(got), len(want))
		}
		if _, err := ber.DecodePacketErr(got); err != nil {
			t.Errorf("%d records: not BER: %v", len(recs), err)
		}
	}
}
