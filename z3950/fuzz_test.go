package z3950

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the framer and the PDU decoder: they
// must return a frame, a need-more answer or an error, never panic, and a
// decoded search must map to CQL or a diagnostic without panicking.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/yaz-client/*.ber")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(toIndefinite(f, b))
	}
	f.Add(nested(40, true))
	f.Add([]byte{0xb4, 0x84, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := framer{max: 1 << 20, maxDepth: 32}
		n, err := fr.next(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("frame of %d bytes from %d", n, len(b))
		}
		req, err := decodePDU(b[:n])
		if err != nil {
			return
		}
		if s, ok := req.(*SearchRequest); ok && (s.Query.Type == 1 || s.Query.Type == 101) {
			rpnToCQL(s.Query, func(string) (string, *Diagnostic) { return "", diag(128, "") })
		}
	})
}
