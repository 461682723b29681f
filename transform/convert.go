package transform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Convert reads an SRU response or a MARCXML collection from r and writes
// what the feed would serve for its records to w, one record at a time, in
// format:
//   - "json" (or ""): one JSON document {"records":[...]} with one feed
//     record (SPEC 3.2) per line, at its SRU recordPosition (or counted
//     from 1 when the input has none);
//   - "marcxml": a MARCXML collection (AppendCollectionStart);
//   - "dc": the records as <srw_dc:dc> elements inside a <records>
//     element without namespace (Dublin Core has no collection element).
//
// Memory stays bounded by the largest record, whatever the input size.
// When progress is not nil, a status line ("\r1234 records, 5.6 MB") is
// written to it a few times a second and a final one with a newline at the
// end; the caller decides whether progress is worth showing (a terminal).
// Convert returns the number of records written. It stops at the first
// malformed record, or when ctx is done; the output is then incomplete.
// An input that holds no MARCXML records to convert (Sniff: JSON, an
// explain, an SRU diagnostic, records in another schema, a document with
// no MARC record) is an *InputError, returned before anything is written
// when the start of the input shows it.
func Convert(ctx context.Context, w io.Writer, r io.Reader, format string, progress io.Writer) (n int, err error) {
	var start, end []byte
	var emit func(dst []byte, rec *Record, n, position int) []byte
	switch format {
	case "", "json":
		start, end = []byte(`{"records":[`+"\n"), []byte("\n]}\n")
		emit = func(dst []byte, rec *Record, n, position int) []byte {
			if n > 1 {
				dst = append(dst, ",\n"...)
			}
			return rec.AppendFeedJSON(dst, position)
		}
	case "marcxml":
		start, end = AppendCollectionStart(nil), AppendCollectionEnd(nil)
		emit = func(dst []byte, rec *Record, _, _ int) []byte {
			return append(rec.AppendMARCXML(dst), '\n')
		}
	case "dc":
		start, end = []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n<records>\n"), []byte("</records>\n")
		emit = func(dst []byte, rec *Record, _, _ int) []byte {
			return append(rec.AppendDC(dst), '\n')
		}
	default:
		return 0, fmt.Errorf("transform: unknown format %q (want json, marcxml or dc)", format)
	}

	cr := &countingReader{r: r}
	// Look at the start before writing anything: a Dublin Core answer, a
	// failed search, an explain or a JSON document holds no MARCXML records
	// and must not pass for an empty result (issue 10).
	br := bufio.NewReaderSize(cr, sniffSize)
	head, perr := br.Peek(sniffSize)
	if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, bufio.ErrBufferFull) {
		return 0, perr
	}
	in := Sniff(head, perr != nil)
	switch in.Kind {
	case InputRecords, InputOtherXML:
	default:
		return 0, &in
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write(start); err != nil {
		return 0, err
	}
	sc := NewScanner(br)
	var p parser
	var buf []byte
	var last time.Time
	report := func(final bool) {
		if progress == nil {
			return
		}
		nl := ""
		if final {
			nl = "\n"
		}
		fmt.Fprintf(progress, "\r%d records, %.1f MB%s", n, float64(cr.n)/1e6, nl)
	}
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			bw.Flush()
			return n, err
		}
		rec, err := p.parse(sc.Bytes())
		if err != nil {
			bw.Flush()
			return n, fmt.Errorf("record %d: %w", n+1, err)
		}
		n++
		position := sc.Position()
		if position <= 0 {
			position = n
		}
		buf = emit(buf[:0], rec, n, position)
		if _, err := bw.Write(buf); err != nil {
			return n, err
		}
		if progress != nil && n%64 == 0 {
			if now := time.Now(); now.Sub(last) > 200*time.Millisecond {
				last = now
				report(false)
			}
		}
	}
	if err := sc.Err(); err != nil {
		bw.Flush()
		return n, err
	}
	if n == 0 && in.Kind == InputOtherXML {
		return 0, &in // nothing flushed: the start is still in bw
	}
	if _, err := bw.Write(end); err != nil {
		return n, err
	}
	report(true)
	return n, bw.Flush()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
