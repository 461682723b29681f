package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/almanet/gateway/almasim"
)

// phase is one stretch of the soak with one fault on every Alma endpoint.
type phase struct {
	name  string
	fault almasim.Fault
}

// phases are the soak's fault schedule, in order, each an equal share of
// the duration.
func phases(timeout time.Duration) []phase {
	return []phase{
		{"healthy (warm-up)", almasim.Fault{}},
		{"slow past the deadline", almasim.Fault{Kind: almasim.FaultSlow, Delay: 2 * timeout}},
		{"recovered", almasim.Fault{}},
		{"HTTP 500", almasim.Fault{Kind: almasim.Fault500}},
		{"429 with Retry-After 2", almasim.Fault{Kind: almasim.Fault429, RetryAfter: 2}},
		{"malformed XML", almasim.Fault{Kind: almasim.FaultMalformed}},
		{"truncated body", almasim.Fault{Kind: almasim.FaultTruncated}},
		{"hang", almasim.Fault{Kind: almasim.FaultHang}},
		{"connection reset", almasim.Fault{Kind: almasim.FaultReset}},
		{"recovered (end)", almasim.Fault{}},
	}
}

// tally is what one phase's answers were.
type tally struct {
	mu        sync.Mutex // guards the fields below
	kinds     map[string]int
	latencies []time.Duration
	alma      [2]int64 // SRU and Bibs calls Alma received in the phase
	breakers  string   // breaker states seen in the middle of the phase
	lastError string   // the gateway's latest recent upstream error then
}

func (t *tally) add(kind string, d time.Duration) {
	t.mu.Lock()
	t.kinds[kind]++
	t.latencies = append(t.latencies, d)
	t.mu.Unlock()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gatewayBin := fs.String("gateway", "", "the gateway binary to soak (required)")
	duration := fs.Duration("duration", 60*time.Second, "how long the load runs, all phases together")
	clients := fs.Int("clients", 48, "concurrent clients")
	seed := fs.Uint64("seed", 1, "seed of the simulated network and of the request mix")
	records := fs.Int("records", 5000, "records in the simulated network")
	latency := fs.Duration("latency", 30*time.Millisecond, "the simulated Alma's own latency per call")
	timeout := fs.Duration("timeout", 2*time.Second, "GATEWAY_UPSTREAM_TIMEOUT for the gateway")
	cooldown := fs.Duration("cooldown", 2*time.Second, "GATEWAY_BREAKER_COOLDOWN for the gateway")
	ttl := fs.Duration("ttl", 10*time.Second, "GATEWAY_CACHE_TTL for the gateway (short, so entries go stale during faults)")
	reqRate := fs.Float64("rate", 1000, "requests per second of all clients together (0: as fast as they can)")
	logPath := fs.String("log", "", "where the gateway's log goes (default: a temporary file, removed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *gatewayBin == "" {
		return errors.New("-gateway is required (scripts/soak.sh builds it)")
	}
	if *duration <= 0 || *duration > time.Hour || *clients < 1 || *clients > 2000 {
		return errors.New("-duration must be in (0, 1h] and -clients in [1, 2000]")
	}

	sim := almasim.New(almasim.Config{Seed: *seed, Records: *records, Latency: *latency})
	simCtx, simCancel := context.WithCancel(context.Background())
	defer simCancel()
	simS, err := sim.Start(simCtx, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the simulator: %v", err)
	}
	defer simS.Close()

	logFile, err := openLog(*logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if *logPath == "" {
		defer os.Remove(logFile.Name())
	}
	gw, base, err := startGateway(*gatewayBin, logFile, []string{
		"GATEWAY_ADDR=127.0.0.1:0",
		"ALMA_SRU_URL=" + sim.SRUURL(simS.URL()),
		"ALMA_API_URL=" + simS.URL(),
		"ALMA_API_KEY=" + sim.NZKey(),
		"GATEWAY_UPSTREAM_TIMEOUT=" + timeout.String(),
		"GATEWAY_BREAKER_COOLDOWN=" + cooldown.String(),
		"GATEWAY_CACHE_TTL=" + ttl.String(),
		"GATEWAY_CACHE_STALE=1h",
	})
	if err != nil {
		return err
	}
	defer gw.Process.Kill() // a no-op once it has exited

	targets, err := requestMix(sim)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "soak: gateway %s, simulated Alma %s (latency %v), %d clients, at most %v requests/s, %v, %d distinct requests\n",
		base, simS.URL(), *latency, *clients, *reqRate, *duration, len(targets))

	ps := phases(*timeout)
	tallies := make([]*tally, len(ps))
	for i := range tallies {
		tallies[i] = &tally{kinds: map[string]int{}}
	}
	var current struct {
		sync.Mutex
		i int
	}
	var warm map[string]float64

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	client := &http.Client{
		Timeout:   30 * time.Second, // far past the gateway's own deadline: hitting it is a finding
		Transport: &http.Transport{MaxIdleConnsPerHost: *clients, MaxIdleConns: *clients},
	}
	pace := rate.NewLimiter(rate.Inf, 0)
	if *reqRate > 0 {
		pace = rate.NewLimiter(rate.Limit(*reqRate), *clients)
	}
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(*seed, uint64(c)))
			z := rand.NewZipf(r, 1.2, 4, uint64(len(targets)-1))
			for pace.Wait(loadCtx) == nil {
				target := targets[z.Uint64()]
				kind, d := hit(loadCtx, client, base+target)
				if loadCtx.Err() != nil {
					return // cut off by the end of the soak: not an answer
				}
				current.Lock()
				t := tallies[current.i]
				current.Unlock()
				t.add(kind, d)
			}
		}()
	}

	step := *duration / time.Duration(len(ps))
	start := time.Now()
	for i, p := range ps {
		current.Lock()
		current.i = i
		current.Unlock()
		if p.fault.Kind == almasim.FaultNone {
			sim.ClearFaults()
		} else {
			sim.SetFault(almasim.EndpointAll, p.fault)
		}
		sru0, bibs0 := sim.Count(almasim.EndpointSRU), sim.Count(almasim.EndpointBibs)
		fmt.Fprintf(stdout, "%6.1fs  phase %d: %s\n", time.Since(start).Seconds(), i+1, p.name)
		select {
		case <-time.After(step / 2):
			tallies[i].breakers, tallies[i].lastError = status(base)
		case <-ctx.Done():
		}
		select {
		case <-time.After(step - step/2):
		case <-ctx.Done():
		}
		tallies[i].alma = [2]int64{sim.Count(almasim.EndpointSRU) - sru0, sim.Count(almasim.EndpointBibs) - bibs0}
		if i == 0 {
			warm, _ = scrape(base)
		}
		if ctx.Err() != nil {
			break
		}
	}
	stopLoad()
	wg.Wait()
	sim.ClearFaults()
	client.CloseIdleConnections()
	time.Sleep(3 * time.Second) // let background refreshes and idle connections settle
	end, err := scrape(base)
	if err != nil {
		return fmt.Errorf("scraping the gateway's metrics after the soak: %v", err)
	}

	// Stop the gateway the way an orchestrator does.
	t0 := time.Now()
	_ = gw.Process.Signal(syscall.SIGTERM)
	exitErr := gw.Wait()
	stopped := time.Since(t0)

	bad := report(stdout, ps, tallies, warm, end)
	logText, _ := os.ReadFile(logFile.Name())
	panics := bytes.Count(logText, []byte("panic"))
	errorsLogged := bytes.Count(logText, []byte(`"level":"ERROR"`))
	fmt.Fprintf(stdout, "\ngateway log: %d lines, %d at ERROR, %d mentioning a panic\n", bytes.Count(logText, []byte("\n")), errorsLogged, panics)
	fmt.Fprintf(stdout, "SIGTERM → exit in %v, exit status: %v\n", stopped.Round(time.Millisecond), exitStatus(exitErr))
	switch {
	case exitErr != nil:
		return fmt.Errorf("the gateway did not exit cleanly: %v", exitErr)
	case panics > 0:
		return fmt.Errorf("the gateway logged %d panics", panics)
	case bad > 0:
		return fmt.Errorf("%d answers were 5xx other than 503, or no answer at all", bad)
	}
	return nil
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.CreateTemp("", "soak-gateway-*.log")
	}
	return os.Create(path)
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// startGateway runs the gateway binary and waits for its listening line.
func startGateway(bin string, log io.Writer, env []string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting %s: %v", bin, err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if b, ok := strings.CutPrefix(sc.Text(), "gateway listening on "); ok {
			go io.Copy(io.Discard, out)
			return cmd, strings.TrimSpace(b), nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", errors.New("the gateway exited without saying where it listens (see its log)")
}

// requestMix is the spread of requests: JSON and SRU searches over words
// with enough hits for three pages, and single records. The clients draw
// from it with a Zipf law, so the head is cached and the tail misses.
func requestMix(sim *almasim.Simulator) ([]string, error) {
	words := []string{"history", "science", "music", "art", "law", "economics", "water", "war", "society",
		"data", "education", "language", "philosophy", "religion", "health", "city", "politics", "nature",
		"culture", "theory", "europe", "world", "women", "media", "energy", "literature", "studies", "introduction"}
	var out []string
	for _, w := range words {
		ids, err := sim.Search(`alma.all_for_ui="` + w + `"`)
		if err != nil || len(ids) < 30 {
			continue // a zero-hit word paged past its end is not the point here
		}
		for _, start := range []int{1, 11, 21} {
			out = append(out,
				"/v1/search?q="+url.QueryEscape(w)+"&limit=10&start="+strconv.Itoa(start),
				"/sru?version=1.2&operation=searchRetrieve&maximumRecords=10&startRecord="+strconv.Itoa(start)+"&query="+url.QueryEscape("alma.all_for_ui="+w))
		}
		out = append(out, "/sru?version=2.0&recordSchema=dc&maximumRecords=5&query="+url.QueryEscape("alma.title="+w))
	}
	n := 0
	for _, r := range sim.Records() {
		if r.NZMMSID == "" && len(r.Holdings) > 0 {
			out = append(out, "/v1/records/"+r.MMSID)
			if n++; n == 150 {
				break
			}
		}
	}
	if len(out) < 50 {
		return nil, fmt.Errorf("the simulated network gave only %d requests; use more -records", len(out))
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// hit makes one request and names its outcome.
func hit(ctx context.Context, c *http.Client, target string) (string, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "bad request built", 0
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return "NO ANSWER (client gave up after 30s)", time.Since(t0)
		}
		return "NO ANSWER (connection error)", time.Since(t0)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	xc := resp.Header.Get("X-Cache")
	sruPath := strings.Contains(target, "/sru?")
	switch {
	case resp.StatusCode == http.StatusOK && xc == "STALE":
		return "200 stale", d
	case resp.StatusCode == http.StatusOK && sruPath && bytes.Contains(body, []byte("info:srw/diagnostic/1/1<")):
		return "200 SRU diagnostic 1 (Alma unavailable)", d
	case resp.StatusCode == http.StatusOK && strings.Contains(target, "/v1/records/") && !bytes.Contains(body, []byte(`"diagnostics":[]`)):
		return "200 record, availability missing", d
	case resp.StatusCode == http.StatusOK:
		return "200 " + strings.ToLower(xc), d
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
		return "503 WITHOUT Retry-After", d
	case resp.StatusCode == http.StatusServiceUnavailable:
		return "503 with Retry-After", d
	case resp.StatusCode >= 500:
		return strconv.Itoa(resp.StatusCode) + " (BUG)", d
	}
	return strconv.Itoa(resp.StatusCode), d
}

// status reads the breaker states and the latest upstream error from
// /v1/status (served to loopback clients).
func status(base string) (breakers, lastError string) {
	resp, err := http.Get(base + "/v1/status")
	if err != nil {
		return "?", ""
	}
	defer resp.Body.Close()
	var st struct {
		Upstreams []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"upstreams"`
		RecentErrors []struct {
			Upstream string `json:"upstream"`
			Error    string `json:"error"`
		} `json:"recent_errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "?", ""
	}
	var parts []string
	for _, u := range st.Upstreams {
		parts = append(parts, u.Name+" "+u.State)
	}
	slices.Sort(parts)
	if n := len(st.RecentErrors); n > 0 {
		lastError = st.RecentErrors[n-1].Error
	}
	return strings.Join(parts, ", "), lastError
}

// scrape reads the gateway's /metrics into "name{labels}" → value.
func scrape(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

// report prints the soak's findings as Markdown and returns how many
// answers were bad (a 5xx other than 503, or none).
func report(w io.Writer, ps []phase, ts []*tally, warm, end map[string]float64) int {
	bad := 0
	fmt.Fprintf(w, "\n| phase | requests | p50 ms | p95 ms | p99 ms | max ms | Alma SRU calls | Alma API calls | breakers mid-phase | answers |\n|---|---|---|---|---|---|---|---|---|---|\n")
	var all []time.Duration
	total := map[string]int{}
	for i, p := range ps {
		t := ts[i]
		lat := slices.Clone(t.latencies)
		slices.Sort(lat)
		all = append(all, lat...)
		var kinds []string
		for k, n := range t.kinds {
			kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
			total[k] += n
			if strings.Contains(k, "BUG") || strings.Contains(k, "NO ANSWER") || strings.Contains(k, "WITHOUT") {
				bad += n
			}
		}
		slices.Sort(kinds)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %d | %s | %s |\n", p.name, len(lat),
			ms(percentile(lat, .5)), ms(percentile(lat, .95)), ms(percentile(lat, .99)), ms(percentile(lat, 1)),
			t.alma[0], t.alma[1], t.breakers, strings.Join(kinds, "; "))
	}
	slices.Sort(all)
	defer func() {
		fmt.Fprintf(w, "\nlatest upstream error in the middle of each phase (from /v1/status):\n")
		for i, p := range ps {
			fmt.Fprintf(w, "  %-26s %s\n", p.name, ts[i].lastError)
		}
	}()
	fmt.Fprintf(w, "| **all** | %d | %s | %s | %s | %s | | | | |\n\n", len(all),
		ms(percentile(all, .5)), ms(percentile(all, .95)), ms(percentile(all, .99)), ms(percentile(all, 1)))
	var kinds []string
	for k := range total {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	fmt.Fprintf(w, "answers by kind over the whole soak:\n")
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-45s %d\n", k, total[k])
	}
	fmt.Fprintf(w, "\ngateway process (from its /metrics): after warm-up → at the end (load stopped, 3s idle)\n")
	for _, m := range []struct{ name, unit string }{
		{"go_goroutines", ""}, {"process_resident_memory_bytes", "MiB"}, {"go_memstats_heap_inuse_bytes", "MiB"},
		{"go_memstats_heap_alloc_bytes", "MiB"}, {"gateway_cache_bytes", "MiB"},
	} {
		a, b := warm[m.name], end[m.name]
		if m.unit == "MiB" {
			fmt.Fprintf(w, "  %-32s %8.1f → %8.1f MiB\n", m.name, a/(1<<20), b/(1<<20))
		} else {
			fmt.Fprintf(w, "  %-32s %8.0f → %8.0f\n", m.name, a, b)
		}
	}
	fmt.Fprintf(w, "\ngateway counters at the end:\n")
	var names []string
	for k := range end {
		for _, p := range []string{"gateway_breaker_transitions_total", "gateway_upstream_calls_total", "gateway_upstream_retries_total",
			"gateway_alma_rate_limited_total", "gateway_cache_hits_total", "gateway_cache_misses_total", "gateway_cache_stale_total",
			"gateway_cache_coalesced_total", "gateway_cache_load_errors_total", "gateway_alma_api_remaining"} {
			if strings.HasPrefix(k, p) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-70s %.0f\n", k, end[k])
	}
	return bad
}
