package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/almanet/gateway/almasim"
)

// Graceful shutdown (SPEC 5, issue 7): when Serve's context ends (SIGTERM
// in cmd/gateway), the gateway stops accepting, lets the requests in flight
// finish, and returns. The tests make requests slow at the simulator so
// that they are in flight, wait until Alma has seen every one of them, and
// only then shut down: an ordering, not a clock.

// inFlight sends n distinct searches and returns their statuses when all
// are answered.
func inFlight(base string, n int) (wait func() []int) {
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(fmt.Sprintf("%s/v1/search?q=history&limit=1&start=%d", base, i+1))
			if err != nil {
				codes[i] = -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	return func() []int { wg.Wait(); return codes }
}

// awaitAlmaCalls waits until the simulator has received n SRU requests.
func awaitAlmaCalls(t *testing.T, sim *almasim.Simulator, n int64) {
	t.Helper()
	for i := 0; sim.Count(almasim.EndpointSRU) < n; i++ {
		if i > 3000 {
			t.Fatalf("only %d of %d requests reached Alma", sim.Count(almasim.EndpointSRU), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	sim := almasim.New(almasim.Config{Seed: 7, Records: 1000})
	simCtx, simCancel := context.WithCancel(context.Background())
	defer simCancel()
	simS, err := sim.Start(simCtx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer simS.Close()
	cfg := Config{SRUURL: sim.SRUURL(simS.URL())}
	cfg.Cache.ExplainRefresh = -1
	cfg.Upstream.RatePerSecond = 1000
	cfg.Upstream.RateBurst = 100
	gw, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()

	sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.FaultSlow, Delay: time.Second})
	const n = 12
	wait := inFlight(base, n)
	awaitAlmaCalls(t, sim, n)
	cancel() // SIGTERM
	codes := wait()
	if err := <-served; err != nil {
		t.Errorf("Serve after shutdown: %v", err)
	}
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d in flight at shutdown: status %d, want 200", i, c)
		}
	}
	if conn, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Errorf("a new connection was accepted after shutdown")
	}
}

// TestShutdownProcessOnSIGTERM builds cmd/gateway, runs it against a
// simulator in this process, and sends SIGTERM while requests are in
// flight: they all complete, the process exits 0, and the port is closed.
func TestShutdownProcessOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command(gobin, "build", "-o", bin, "../cmd/gateway")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sim := almasim.New(almasim.Config{Seed: 7, Records: 1000})
	simCtx, simCancel := context.WithCancel(context.Background())
	defer simCancel()
	simS, err := sim.Start(simCtx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer simS.Close()

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GATEWAY_ADDR=127.0.0.1:0", "ALMA_SRU_URL="+sim.SRUURL(simS.URL()),
		"GATEWAY_UPSTREAM_TIMEOUT=10s", "GATEWAY_CONFIG=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	lines := bufio.NewScanner(stdout)
	base := ""
	for lines.Scan() {
		if b, ok := strings.CutPrefix(lines.Text(), "gateway listening on "); ok {
			base = strings.TrimSpace(b)
			break
		}
	}
	go func() {
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	if base == "" {
		t.Fatalf("the gateway never said where it listens; stderr:\n%s", stderr.String())
	}
	sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.FaultSlow, Delay: time.Second})
	const n = 4 // within the default call budget's burst, so all are in flight at once
	before := sim.Count(almasim.EndpointSRU)
	wait := inFlight(base, n)
	awaitAlmaCalls(t, sim, before+n)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	codes := wait()
	if err := <-exited; err != nil {
		t.Errorf("gateway exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d in flight at SIGTERM: status %d, want 200", i, c)
		}
	}
	if conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://")); err == nil {
		conn.Close()
		t.Errorf("the port still accepts connections after exit")
	}
	if !strings.Contains(stderr.String(), "draining") {
		t.Errorf("the log does not say it drained:\n%s", stderr.String())
	}
}

// TestShutdownDrainIsBounded: a request that would outlive the drain
// timeout (Alma hangs) does not hold the shutdown: Serve returns while the
// simulator still hangs, and the request is still answered (503, at its
// own deadline) rather than cut off silently.
func TestShutdownDrainIsBounded(t *testing.T) {
	sim := almasim.New(almasim.Config{Seed: 7, Records: 1000})
	simCtx, simCancel := context.WithCancel(context.Background())
	defer simCancel()
	simS, err := sim.Start(simCtx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer simS.Close()
	cfg := Config{SRUURL: sim.SRUURL(simS.URL())}
	cfg.Cache.ExplainRefresh = -1
	cfg.Upstream.Timeout = Duration(3 * time.Second)
	cfg.Limits.DrainTimeout = Duration(100 * time.Millisecond)
	gw, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()

	sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.FaultHang})
	wait := inFlight("http://"+ln.Addr().String(), 1)
	awaitAlmaCalls(t, sim, 1)
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a bounded drain", err)
	}
	if f := sim.Faults()[almasim.EndpointSRU]; f.Kind != almasim.FaultHang {
		t.Fatalf("the hang ended (%q) before Serve returned; the drain was not bounded", f.Kind)
	}
	if codes := wait(); codes[0] != http.StatusServiceUnavailable {
		t.Errorf("the request in flight got %d, want 503 at its own deadline", codes[0])
	}
}
