// Command rounds does bench/run.sh's arithmetic, so that the numbers in
// BENCHMARKS.md come from tested code rather than inline awk.
//
// A measurement is a number of alternating rounds: in each round every side
// (the gateway and its peers) is loaded once for a few seconds by wrk. The
// ratio of a round is the gateway's requests per second divided by the
// fastest peer's in that same round, so a burst of load from elsewhere on the
// machine that hits one round hits both sides of its ratio. The result is the
// median of those per-round ratios and their spread (min–max).
//
//	rounds wrk FILE                      # requests/s of one wrk output; fails on any error or non-2xx
//	rounds ratio -a gateway -b nginx,varnish FILE
//	rounds median FILE                   # median, min and max of one number a line
//
// FILE holds one "ROUND SIDE RPS" line per wrk run for ratio; "-" reads stdin.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rounds:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: rounds wrk FILE | rounds ratio -a SIDE -b SIDE[,SIDE] FILE | rounds median FILE")
	}
	switch args[0] {
	case "wrk":
		if len(args) != 2 {
			return errors.New("usage: rounds wrk FILE")
		}
		text, err := readAll(args[1], stdin)
		if err != nil {
			return err
		}
		rps, err := wrkRPS(text)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%.0f\n", rps)
		return nil
	case "ratio":
		fs := flag.NewFlagSet("ratio", flag.ContinueOnError)
		fs.SetOutput(stderr)
		a := fs.String("a", "gateway", "the side under test")
		b := fs.String("b", "", "the peers, comma-separated; each round's fastest is the baseline")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *b == "" || fs.NArg() != 1 {
			return errors.New("usage: rounds ratio -a SIDE -b SIDE[,SIDE] FILE")
		}
		text, err := readAll(fs.Arg(0), stdin)
		if err != nil {
			return err
		}
		obs, err := parseRounds(text)
		if err != nil {
			return err
		}
		s, err := summarize(obs, *a, strings.Split(*b, ","))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, s)
		return nil
	case "median":
		if len(args) != 2 {
			return errors.New("usage: rounds median FILE")
		}
		text, err := readAll(args[1], stdin)
		if err != nil {
			return err
		}
		var xs []float64
		for _, f := range strings.Fields(text) {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return fmt.Errorf("not a number: %q", f)
			}
			xs = append(xs, x)
		}
		if len(xs) == 0 {
			return errors.New("no numbers")
		}
		fmt.Fprintf(stdout, "%s %s %s\n", num(median(xs)), num(slices.Min(xs)), num(slices.Max(xs)))
		return nil
	}
	return fmt.Errorf("unknown command %q (wrk, ratio, median)", args[0])
}

func readAll(name string, stdin io.Reader) (string, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		return string(b), err
	}
	b, err := os.ReadFile(name)
	return string(b), err
}

// wrkRPS reads wrk's report and returns its Requests/sec. Any socket error,
// any non-2xx or 3xx answer and a run of no requests are errors: a side that
// fails must fail the benchmark, not turn into a fast-looking number.
func wrkRPS(text string) (float64, error) {
	var (
		rps      float64
		seen     bool
		requests int64 = -1
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("wrk: bad Requests/sec %q", f[1])
			}
			rps, seen = v, true
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			return 0, fmt.Errorf("wrk: %s", line)
		case strings.HasPrefix(line, "Socket errors:"):
			return 0, fmt.Errorf("wrk: %s", line)
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("wrk: bad request count %q", f[0])
			}
			requests = n
		}
	}
	if !seen || requests < 0 {
		return 0, errors.New("wrk: no Requests/sec or request count in its output")
	}
	if requests == 0 || rps == 0 {
		return 0, errors.New("wrk: no request completed")
	}
	return rps, nil
}

// observation is one wrk run: a side's requests per second in a round.
type observation struct {
	round int
	side  string
	rps   float64
}

func parseRounds(text string) ([]observation, error) {
	var obs []observation
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want ROUND SIDE RPS, got %q", i+1, line)
		}
		r, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: bad round %q", i+1, f[0])
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("line %d: bad requests/s %q", i+1, f[2])
		}
		obs = append(obs, observation{r, f[1], v})
	}
	return obs, nil
}

// summary is the result of one A/B measurement.
type summary struct {
	rounds        int
	ratio, lo, hi float64            // median per-round ratio and its spread
	medianRPS     map[string]float64 // each side's median requests/s
	sides         []string           // a, then the peers, for printing
	baselineWins  map[string]int     // how many rounds each peer was the faster
	a             string
	peers         []string
}

func (s summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ratio %.2f min %.2f max %.2f rounds %d", s.ratio, s.lo, s.hi, s.rounds)
	for _, side := range s.sides {
		fmt.Fprintf(&b, " %s %.0f", side, s.medianRPS[side])
	}
	if len(s.peers) > 1 {
		for _, p := range s.peers {
			fmt.Fprintf(&b, " faster-%s %d", p, s.baselineWins[p])
		}
	}
	return b.String()
}

// summarize pairs the rounds: each round must have every side exactly once.
func summarize(obs []observation, a string, peers []string) (summary, error) {
	byRound := map[int]map[string]float64{}
	var order []int
	for _, o := range obs {
		m, ok := byRound[o.round]
		if !ok {
			m = map[string]float64{}
			byRound[o.round] = m
			order = append(order, o.round)
		}
		if _, dup := m[o.side]; dup {
			return summary{}, fmt.Errorf("round %d has %s twice", o.round, o.side)
		}
		m[o.side] = o.rps
	}
	if len(order) == 0 {
		return summary{}, errors.New("no rounds")
	}
	s := summary{a: a, peers: peers, sides: append([]string{a}, peers...),
		medianRPS: map[string]float64{}, baselineWins: map[string]int{}}
	var ratios []float64
	perSide := map[string][]float64{}
	for _, r := range order {
		m := byRound[r]
		av, ok := m[a]
		if !ok {
			return summary{}, fmt.Errorf("round %d has no %s", r, a)
		}
		perSide[a] = append(perSide[a], av)
		best, bestSide := 0.0, ""
		for _, p := range peers {
			v, ok := m[p]
			if !ok {
				return summary{}, fmt.Errorf("round %d has no %s", r, p)
			}
			perSide[p] = append(perSide[p], v)
			if v > best {
				best, bestSide = v, p
			}
		}
		s.baselineWins[bestSide]++
		ratios = append(ratios, av/best)
	}
	for side, xs := range perSide {
		s.medianRPS[side] = median(xs)
	}
	s.rounds = len(ratios)
	s.ratio, s.lo, s.hi = median(ratios), slices.Min(ratios), slices.Max(ratios)
	return s, nil
}

// median returns the middle value of xs (the mean of the middle two when
// even); xs is not changed.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 0 {
		return (s[m-1] + s[m]) / 2
	}
	return s[m]
}

// num prints a number with at most three decimals and no trailing zeros.
func num(x float64) string {
	s := strconv.FormatFloat(x, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
