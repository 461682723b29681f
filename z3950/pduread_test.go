package z3950

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/go-cmp/cmp"
)

// clientSearch and clientPresent are the PDUs Client sends.
func clientSearch() []byte {
	attrs := ctxCons(44)
	e := seq()
	e.AppendChild(ctxInt(120, attrUse))
	e.AppendChild(ctxInt(121, 4))
	attrs.AppendChild(e)
	q := ctxCons(1)
	q.AppendChild(oid(OIDBib1Attributes))
	q.AppendChild(ctxCons(0, ctxCons(102, attrs, ctxString(45, "history"))))
	return pdu(tagSearchRequest, []byte("ref"), ctxInt(13, 0), ctxInt(14, 1), ctxInt(15, 0), ctxBool(16, true),
		ctxString(17, "s"), ctxCons(18, ctxString(105, "Default")), ctxCons(21, q))
}

func clientPresent() []byte {
	return pdu(tagPresentRequest, nil, ctxString(31, "s"), ctxInt(30, 1), ctxInt(29, 10),
		ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, OIDUSMARC, ""))
}

// TestInPlaceReadsTheHotPDUs: the searchRequests and presentRequests
// yaz-client and the package's Client send are read in place, to what
// asn1-ber's tree gives; their indefinite-length forms, and every other
// PDU, are left to asn1-ber.
func TestInPlaceReadsTheHotPDUs(t *testing.T) {
	hot := map[string][]byte{"client search": clientSearch(), "client present": clientPresent()}
	for _, f := range []string{"02-search.ber", "03-present.ber", "04-present.ber", "05-search.ber", "06-search.ber"} {
		hot[f] = fixture(t, f)
	}
	for name, b := range hot {
		got, ok, err := decodeInPlace(b)
		if !ok || err != nil {
			t.Errorf("%s: in place %v, %v; want read in place", name, ok, err)
			continue
		}
		want, err := decodePacket(b)
		if err != nil {
			t.Fatalf("%s: asn1-ber: %v", name, err)
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s: in place vs asn1-ber (-got +want):\n%s", name, diff)
		}
		if _, ok, _ := decodeInPlace(toIndefinite(t, b)); ok {
			t.Errorf("%s: the indefinite-length form was read in place", name)
		}
	}
	for _, f := range []string{"01-init.ber", "07-deleteResultSet.ber", "08-close.ber"} {
		if _, ok, _ := decodeInPlace(fixture(t, f)); ok {
			t.Errorf("%s was read in place", f)
		}
	}
}

// TestInPlaceLeavesNonShortestForms: an encoding asn1-ber would not give
// back byte for byte (a long-form length that fits the short form, a
// low tag in the high-tag form) is left to asn1-ber, so a field holding
// raw content (referenceId) cannot differ between the readers.
func TestInPlaceLeavesNonShortestForms(t *testing.T) {
	b := clientPresent()
	long := append([]byte{b[0], 0x81}, b[1:]...) // the PDU's length in the long form
	if _, ok, _ := decodeInPlace(long); ok {
		t.Error("a long-form length under 128 was read in place")
	}
	hi := append([]byte{0xbf, 24}, b[1:]...) // [24] in the high-tag form
	if _, ok, _ := decodeInPlace(hi); ok {
		t.Error("a low tag in the high-tag form was read in place")
	}
	for _, in := range [][]byte{long} {
		got, err := decodePDU(in)
		want, werr := decodeReference(in)
		if (err == nil) != (werr == nil) || !cmp.Equal(got, want) {
			t.Errorf("%x: %v, %v; reference %v, %v", in, got, err, want, werr)
		}
	}
}

// decodeReference is decodePDU as it was before decodeInPlace: asn1-ber's
// tree, and the packet decoders of pdu_reference_test.go for the two hot
// PDUs.
func decodeReference(frame []byte) (any, error) {
	p, err := ber.DecodePacketErr(frame)
	if err != nil {
		return nil, protoErr("BER: %v", err)
	}
	if p.ClassType != ber.ClassContext || p.TagType != ber.TypeConstructed {
		return nil, protoErr("PDU is not a context-tagged SEQUENCE")
	}
	switch int(p.Tag) {
	case tagSearchRequest:
		return decodeSearchOld(p)
	case tagPresentRequest:
		return decodePresentOld(p)
	}
	return decodePacket(frame)
}

// FuzzInPlaceDecoder holds the in-place reader to asn1-ber on arbitrary
// input: decodePDU must give what the reference decoder (asn1-ber's tree
// and the decoders as they were) gives, the same request or an error
// with the same message, and never panic.
func FuzzInPlaceDecoder(f *testing.F) {
	for _, b := range [][]byte{clientSearch(), clientPresent()} {
		f.Add(b)
	}
	for _, name := range []string{"02-search.ber", "03-present.ber", "04-present.ber", "05-search.ber", "06-search.ber"} {
		b := fixture(f, name)
		f.Add(b)
		f.Add(toIndefinite(f, b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodePDU(b)
		want, werr := decodeReference(b)
		switch {
		case (err == nil) != (werr == nil):
			t.Fatalf("decodePDU: %v; reference: %v", err, werr)
		case err != nil:
			if err.Error() != werr.Error() {
				t.Fatalf("decodePDU: %v; reference: %v", err, werr)
			}
		default:
			if diff := cmp.Diff(got, want); diff != "" {
				t.Fatalf("decodePDU vs reference (-got +want):\n%s", diff)
			}
		}
	})
}
