package z3950

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// yazScript is the yaz-client session recorded into testdata/yaz-client:
// every PDU the client sent, one file each.
const yazScript = `find @and @attr 1=4 history @attr 1=1003 author
format usmarc
show 1+2
format xml
elements marcxml
show 3
querytype cql
find alma.title=science
querytype prefix
find @attr 1=4 @attr 2=3 @attr 3=3 @attr 4=1 @attr 5=1 @attr 6=1 "hist of sci"
delete 1
close
`

// TestRecordYazClientFixtures rewrites testdata/yaz-client/*.ber from a
// real yaz-client session when Z3950_RECORD is set: the client talks to
// the fake backend through a loopback recorder that splits what it sends
// into PDUs. Without Z3950_RECORD it is skipped, saying so (the fixtures
// are committed and read by the PDU tests; see testdata/yaz-client/README).
func TestRecordYazClientFixtures(t *testing.T) {
	if os.Getenv("Z3950_RECORD") == "" {
		t.Skip("rewrites the committed yaz-client fixtures: set Z3950_RECORD=1 to record them again")
	}
	_, addr := startServer(t, newFake(t), Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var pdus [][]byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer s.Close()
		go io.Copy(c, s)
		var buf []byte
		f := framer{max: 1 << 20, maxDepth: 64}
		tmp := make([]byte, 4096)
		for {
			n, err := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			s.Write(tmp[:n])
			for len(buf) > 0 {
				m, ferr := f.next(buf)
				if ferr != nil {
					break
				}
				pdus = append(pdus, bytes.Clone(buf[:m]))
				buf = buf[m:]
				f.reset()
			}
			if err != nil {
				return
			}
		}
	}()
	cmd := exec.Command("yaz-client", "tcp:"+ln.Addr().String()+"/Default")
	cmd.Stdin = strings.NewReader(yazScript)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("yaz-client: %v\n%s", err, out)
	}
	ln.Close()
	wg.Wait()
	dir := filepath.Join("testdata", "yaz-client")
	os.MkdirAll(dir, 0o755)
	for i, p := range pdus {
		name := filepath.Join(dir, fmt.Sprintf("%02d-%s.ber", i+1, tagName(p)))
		if err := os.WriteFile(name, p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d PDUs to %s", len(pdus), dir)
}

func tagName(p []byte) string {
	_, _, n, err := header(p)
	if err != nil || n < 2 {
		return "unknown"
	}
	tag := int(p[0] & 0x1f)
	if tag == 0x1f {
		tag = int(p[1] & 0x7f)
	}
	if name := pduNames[tag]; name != "" {
		return name
	}
	return fmt.Sprint(tag)
}
