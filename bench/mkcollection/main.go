// Command mkcollection writes a MARCXML collection of the simulated Alma
// network's records, the input of SPEC 8's transform benchmark (gateway
// convert against yaz-marcdump on the same bytes).
//
// The records are the simulator's NZ records exactly as its SRU recordData
// carries them (MARC namespace, a marc: prefix, or no namespace, member 852s
// included), wrapped in one <collection> in the MARC namespace. -repeat
// writes the whole set several times over, for a larger input from the same
// generated network.
//
//	go run ./bench/mkcollection -records 5000 > /tmp/collection.xml
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/almanet/gateway/almasim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkcollection:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkcollection", flag.ContinueOnError)
	fs.SetOutput(stderr)
	records := fs.Int("records", 5000, "NZ records to generate")
	seed := fs.Uint64("seed", 1, "generation seed")
	repeat := fs.Int("repeat", 1, "write the record set this many times")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *records < 1 || *repeat < 1 {
		return fmt.Errorf("-records and -repeat must be positive")
	}
	recs := almasim.New(almasim.Config{Seed: *seed, Records: *records}).Records()
	w := bufio.NewWriterSize(stdout, 1<<20)
	n := 0
	io.WriteString(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n")
	for range *repeat {
		for _, r := range recs {
			w.Write(r.MARCXML)
			w.WriteByte('\n')
			n++
		}
	}
	io.WriteString(w, "</collection>\n")
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mkcollection: %d records\n", n)
	return nil
}
