// Command z3950load is the load loop of bench/z3950.sh: over one
// connection it repeats the exchange "search @attr 1=4 TERM, present 1+10
// as MARC21" against a Z39.50 server (the gateway or yaz-ztest), or GETs
// one SRU URL over one keep-alive HTTP connection, for a duration, and
// prints exchanges per second. With -idle N it opens N sessions, sends
// each an Init, and holds them until stdin closes (memory per session).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/almanet/gateway/z3950"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9210", "Z39.50 server")
	db := flag.String("db", "Default", "database")
	term := flag.String("term", "science", "title term (Bib-1 use 4)")
	sru := flag.String("sru", "", "instead: GET this SRU URL over one keep-alive connection")
	d := flag.Duration("d", 5*time.Second, "duration")
	idle := flag.Int("idle", 0, "open this many idle sessions and hold them until stdin closes")
	flag.Parse()
	if err := run(*addr, *db, *term, *sru, *d, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "z3950load:", err)
		os.Exit(1)
	}
}

func run(addr, db, term, sru string, d time.Duration, idle int) error {
	ctx := context.Background()
	if idle > 0 {
		var cs []*z3950.Client
		for i := 0; i < idle; i++ {
			c, err := z3950.Dial(ctx, addr)
			if err != nil {
				return fmt.Errorf("session %d: %v", i, err)
			}
			cs = append(cs, c)
		}
		fmt.Println("open", len(cs))
		io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		for _, c := range cs {
			c.Close()
		}
		return nil
	}
	n := 0
	var end time.Time
	if sru != "" {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
		get := func() error {
			resp, err := client.Get(sru)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return err
		}
		if err := get(); err != nil { // warm: cached from here on
			return err
		}
		t0 := time.Now()
		for end = t0.Add(d); time.Now().Before(end); n++ {
			if err := get(); err != nil {
				return err
			}
		}
		fmt.Printf("%.0f exchanges/s (%d in %s)\n", float64(n)/time.Since(t0).Seconds(), n, time.Since(t0).Round(time.Millisecond))
		return nil
	}
	c, err := z3950.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	exchange := func() error {
		hits, err := c.SearchTerm(db, "default", 4, term)
		if err != nil {
			return err
		}
		if hits < 10 {
			return fmt.Errorf("%d hits for %q; need 10", hits, term)
		}
		recs, err := c.Present("default", 1, 10, z3950.OIDUSMARC)
		if err != nil {
			return err
		}
		if len(recs) != 10 {
			return fmt.Errorf("present gave %d records", len(recs))
		}
		return nil
	}
	if err := exchange(); err != nil { // warm: cached from here on
		return err
	}
	t0 := time.Now()
	for end = t0.Add(d); time.Now().Before(end); n++ {
		if err := exchange(); err != nil {
			return err
		}
	}
	fmt.Printf("%.0f exchanges/s (%d in %s)\n", float64(n)/time.Since(t0).Seconds(), n, time.Since(t0).Round(time.Millisecond))
	return nil
}
