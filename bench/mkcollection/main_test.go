package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/almanet/gateway/transform"
)

// TestCollectionHoldsEveryRecord writes small collections and reads them
// back with transform's streaming reader: the count must be records×repeat,
// and every record must parse.
func TestCollectionHoldsEveryRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"once", []string{"-records", "60"}, 60},
		{"three times", []string{"-records", "40", "-repeat", "3"}, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(tc.args, &out, &errOut); err != nil {
				t.Fatalf("run: %v", err)
			}
			if !bytes.HasPrefix(out.Bytes(), []byte(`<?xml`)) || !bytes.Contains(out.Bytes(), []byte(`<collection xmlns="http://www.loc.gov/MARC21/slim">`)) {
				t.Fatalf("output does not start as a MARC collection: %.200s", out.Bytes())
			}
			n, err := transform.Convert(context.Background(), io.Discard, &out, "json", nil)
			if err != nil {
				t.Fatalf("converting the collection: %v", err)
			}
			if n != tc.want {
				t.Errorf("collection holds %d records, want %d", n, tc.want)
			}
			if !strings.Contains(errOut.String(), "records") {
				t.Errorf("stderr = %q, want the record count", errOut.String())
			}
		})
	}
}

func TestRefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-records", "0"}, {"-repeat", "-1"}, {"-nonsense"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if err := run(args, io.Discard, io.Discard); err == nil {
				t.Errorf("run(%q) = nil, want an error", args)
			}
		})
	}
}
