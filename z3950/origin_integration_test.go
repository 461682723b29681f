//go:build integration

package z3950

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/almanet/gateway/transform"
)

// startYazZtest runs YAZ's reference server, yaz-ztest, on a free port.
func startYazZtest(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("yaz-ztest")
	if err != nil {
		t.Fatal("yaz-ztest is not installed: apt-get install -y yaz (scripts/install-tools.sh)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-l", filepath.Join(t.TempDir(), "ztest.log"), "tcp:"+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i > 200 {
			t.Fatalf("yaz-ztest never listened on %s", addr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestOriginYazZtest: the origin against YAZ's own server: Init with
// UTF-8 negotiated and idAuthentication, a Bib-1 search, piggy-backed
// records then Presents, ISO 2709 and MARCXML that transform reads, a
// warm second search, and YAZ's diagnostics as answers.
func TestOriginYazZtest(t *testing.T) {
	addr := startYazZtest(t)
	ctx := context.Background()
	for _, syntax := range []string{OIDUSMARC, OIDXML} {
		t.Run(syntax, func(t *testing.T) {
			esn := "F"
			if syntax == OIDXML {
				esn = "marcxml" // yaz-ztest's name for MARCXML
			}
			o := NewOrigin(OriginConfig{Address: addr, Database: "Default", Syntax: syntax, Elements: esn, UTF8: true, Auth: "alice/secret", PageSize: 4})
			defer o.Close()
			res, err := o.Search(ctx, parseRPN(t, `alma.title = computer`, DefaultIndexMap()), 1, 10)
			if err != nil {
				t.Fatal(err)
			}
			if res.Diagnostic != nil || res.Hits == 0 || len(res.Records) != min(res.Hits, 10) {
				t.Fatalf("hits %d, %d records, diagnostic %v", res.Hits, len(res.Records), res.Diagnostic)
			}
			if res.Charset != "iso-8859-1" {
				t.Errorf("charset %q: yaz-ztest answers a UTF-8 proposal with its own ISO-8859-1", res.Charset)
			}
			for i, r := range res.Records {
				if r.Problem != "" || r.Diagnostic != nil {
					t.Fatalf("record %d: %s %v", i, r.Problem, r.Diagnostic)
				}
				var rec *transform.Record
				if syntax == OIDUSMARC {
					rec, err = transform.ParseISO2709(r.Data)
				} else {
					rec, err = transform.Parse(r.Data)
				}
				if err != nil || rec.Title == "" {
					t.Fatalf("record %d: %v %+v\n%q", i, err, rec, r.Data)
				}
			}
			res, err = o.Search(ctx, parseRPN(t, `alma.creator = "a b" or alma.isbn = 1`, DefaultIndexMap()), 2, 3)
			if err != nil || !res.Warm || o.Inits() != 1 {
				t.Fatalf("warm search: %v, warm %v, inits %d", err, res != nil && res.Warm, o.Inits())
			}
		})
	}
	// yaz-ztest answers a database it does not have with diagnostic 109
	// or 235, in words.
	o := NewOrigin(OriginConfig{Address: addr, Database: "Nope"})
	defer o.Close()
	res, err := o.Search(ctx, parseRPN(t, `alma.title = x`, DefaultIndexMap()), 1, 5)
	if err != nil || res.Diagnostic == nil {
		t.Fatalf("unknown database: %v %+v", err, res)
	}
	fmt.Println("yaz-ztest on an unknown database:", res.Diagnostic)
}
