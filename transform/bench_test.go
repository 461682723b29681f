package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"testing"
)

// benchFile points BenchmarkConvertFile at a big export:
//
//	go test ./transform -run '^$' -bench ConvertFile -benchfile /path/to/export.xml
var benchFile = flag.String("benchfile", "", "SRU response or MARCXML collection for BenchmarkConvertFile")

func slspRecords(b *testing.B) [][]byte {
	b.Helper()
	sc := NewScanner(bytes.NewReader(readTestdata(b, "slsp_nz_sru_searchRetrieve_20records_852.xml")))
	var recs [][]byte
	for sc.Scan() {
		recs = append(recs, bytes.Clone(sc.Bytes()))
	}
	if len(recs) != 10 {
		b.Fatalf("got %d records", len(recs))
	}
	return recs
}

// BenchmarkParse parses the ten records of the SLSP page; ns/op is per
// page, records/s is reported.
func BenchmarkParse(b *testing.B) {
	recs := slspRecords(b)
	size := 0
	for _, r := range recs {
		size += len(r)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var p parser
	for b.Loop() {
		for _, r := range recs {
			if _, err := p.parse(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFeedJSON is the SRU page to JSON feed path: scan the page,
// parse each record, append its feed JSON.
func BenchmarkFeedJSON(b *testing.B) {
	page := readTestdata(b, "slsp_nz_sru_searchRetrieve_20records_852.xml")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	var p parser
	var out []byte
	n := 0
	for b.Loop() {
		sc := NewScanner(bytes.NewReader(page))
		out = out[:0]
		for sc.Scan() {
			r, err := p.parse(sc.Bytes())
			if err != nil {
				b.Fatal(err)
			}
			n++
			out = r.AppendFeedJSON(out, n)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendFeedJSONvsMarshal compares the fast path with encoding/json.
func BenchmarkAppendFeedJSONvsMarshal(b *testing.B) {
	r, err := Parse(slspRecords(b)[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("AppendFeedJSON", func(b *testing.B) {
		b.ReportAllocs()
		var out []byte
		for b.Loop() {
			out = r.AppendFeedJSON(out[:0], 1)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonMarshal(r.Feed(1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMARCXML(b *testing.B) {
	r, err := Parse(slspRecords(b)[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		out = r.AppendMARCXML(out[:0])
	}
}

// BenchmarkConvertFile runs Convert (json) over -benchfile, or over the
// SLSP page repeated into a 20 MB collection when no file is given.
func BenchmarkConvertFile(b *testing.B) {
	var open func() io.Reader
	var size int64
	if *benchFile != "" {
		st, err := os.Stat(*benchFile)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
		open = func() io.Reader {
			f, err := os.Open(*benchFile)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			return f
		}
	} else {
		recs := slspRecords(b)
		var body []byte
		for _, r := range recs {
			body = append(body, r...)
			body = append(body, '\n')
		}
		n := (20 << 20) / len(body)
		size = int64(n * len(body))
		open = func() io.Reader {
			return &repeatReader{head: []byte("<collection>"), body: body, tail: []byte("</collection>"), n: n}
		}
	}
	b.SetBytes(size)
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		n, err := Convert(context.Background(), io.Discard, open(), "json", nil)
		if err != nil {
			b.Fatal(err)
		}
		records += n
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
