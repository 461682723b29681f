//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nginxCacheConf is a shared cache in front of the gateway as an operator
// would write it: proxy_cache on with nginx's default key
// ($scheme$proxy_host$request_uri), nginx honouring the gateway's
// Cache-Control and Vary, and the client's Host passed on (as most
// deployments do, so that the gateway can name itself).
const nginxCacheConf = `user %[1]s;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy_temp;
    fastcgi_temp_path %[2]s/fastcgi_temp;
    uwsgi_temp_path %[2]s/uwsgi_temp;
    scgi_temp_path %[2]s/scgi_temp;
    proxy_cache_path %[2]s/cache levels=1:2 keys_zone=gw:10m max_size=64m inactive=60m use_temp_path=off;
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass %[4]s;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_cache gw;
            add_header X-Proxy-Cache $upstream_cache_status always;
        }
    }
}
`

// startNginx runs nginx with proxy_cache in front of upstream and returns
// its base URL.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin := tool(t, "nginx")
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxCacheConf, u.Username, dir, port, upstream)), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "nginx", nil, bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/healthz")
	return base
}

// getVia sends a GET to base with an explicit Host (Go's client would
// not send one of our choosing) and headers, and returns the answer.
func getVia(t *testing.T, base, path, host string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

var explainHostRE = regexp.MustCompile(`<host>([^<]*)</host>`)

// TestEdgeBehindNginxCache: with nginx caching in front (default key),
// an answer first cached for a client without Origin still carries CORS
// for a browser; and a request with Host: evil.example cannot change the
// explain other clients get, with GATEWAY_PUBLIC_URL set (explain public,
// cached, naming the public host) or not (explain private with Vary: Host,
// never shared).
func TestEdgeBehindNginxCache(t *testing.T) {
	s := startSim(t)
	for _, tc := range []struct {
		name, public, wantHost string
	}{
		{"without GATEWAY_PUBLIC_URL", "", "127.0.0.1"},
		{"with GATEWAY_PUBLIC_URL", "https://search.example.org", "search.example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, s, "GATEWAY_PUBLIC_URL="+tc.public)
			ng := startNginx(t, g.base)
			ngHost := strings.TrimPrefix(ng, "http://")

			for _, path := range []string{
				"/v1/search?q=history",
				"/sru?version=1.2&operation=searchRetrieve&query=alma.title%3Dscience&maximumRecords=2",
			} {
				// A client without Origin fills nginx's cache.
				code, h, _ := getVia(t, ng, path, "")
				if code != http.StatusOK || h.Get("X-Proxy-Cache") != "MISS" {
					t.Fatalf("%s first: %d, X-Proxy-Cache %q", path, code, h.Get("X-Proxy-Cache"))
				}
				// A browser then gets the cached copy, with CORS.
				code, h, _ = getVia(t, ng, path, "", "Origin", "https://opac.example.org")
				got := []string{strconv.Itoa(code), h.Get("X-Proxy-Cache"), h.Get("Access-Control-Allow-Origin")}
				want := []string{"200", "HIT", "*"}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s for a browser after a cached no-Origin answer: status, X-Proxy-Cache, ACAO = %q, want %q", path, got, want)
				}
				if !strings.Contains(h.Get("Access-Control-Expose-Headers"), "X-Cache") {
					t.Errorf("%s: cached copy exposes %q", path, h.Get("Access-Control-Expose-Headers"))
				}
			}

			const explain = "/sru?version=1.2&operation=explain"
			// The attacker asks first, then again (a cache would now hold it).
			for range 2 {
				code, h, body := getVia(t, ng, explain, "evil.example")
				if code != http.StatusOK {
					t.Fatalf("explain with Host evil.example: %d", code)
				}
				if h.Get("X-Cache") != "MISS" {
					t.Errorf("explain X-Cache %q, want MISS (nothing is cached in the gateway)", h.Get("X-Cache"))
				}
				if tc.public != "" && strings.Contains(string(body), "evil.example") {
					t.Errorf("with GATEWAY_PUBLIC_URL, explain names the client's Host")
				}
			}
			// Every other client gets the right explain.
			for range 2 {
				_, h, body := getVia(t, ng, explain, ngHost)
				m := explainHostRE.FindStringSubmatch(string(body))
				if m == nil || m[1] != tc.wantHost {
					t.Errorf("explain for a normal client names %q (X-Proxy-Cache %s), want %s", m, h.Get("X-Proxy-Cache"), tc.wantHost)
				}
			}
		})
	}
}

// labelled reads one sample of a labelled metric (name{labels} value).
func labelled(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", series, l)
			}
			return f
		}
	}
	return 0
}

// TestConnectionCapUnderFlood: a gateway capped at 64 connections, under
// a flood of 600 connections that never send a request: the flood beyond
// the cap is answered 503 with Retry-After and closed; a client already
// connected keeps getting answers throughout; /metrics counts the open
// connections (the cap, not the flood) and the refusals; once the flood
// ends, new clients are served again.
func TestConnectionCapUnderFlood(t *testing.T) {
	const limit, flood = 64, 600
	s := startSim(t)
	g := startGateway(t, s, "GATEWAY_MAX_CONNECTIONS="+strconv.Itoa(limit))
	addr := strings.TrimPrefix(g.base, "http://")

	// The normal client: one keep-alive connection, opened before the flood.
	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	br := bufio.NewReader(client)
	ask := func(path string) (int, []byte) {
		t.Helper()
		_ = client.SetDeadline(time.Now().Add(30 * time.Second)) // hang guard
		fmt.Fprintf(client, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the connected client, GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, _ := ask("/v1/search?q=history"); code != 200 {
		t.Fatalf("before the flood: %d", code)
	}

	var mu sync.Mutex
	var conns []net.Conn
	refused := 0
	var wg sync.WaitGroup
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			// Over the cap the gateway answers at once; within it, it
			// waits for a request that never comes (until the read
			// deadline here, a hang guard).
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && strings.HasPrefix(line, "HTTP/1.1 503") {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	// While the flood is held open, the connected client keeps being served.
	for range 20 {
		if code, _ := ask("/v1/search?q=history"); code != 200 {
			t.Errorf("the connected client during the flood: %d", code)
		}
	}
	wg.Wait()
	_, body := ask("/metrics")
	open := labelled(t, string(body), "gateway_open_connections")
	capped := labelled(t, string(body), `gateway_edge_refused_total{reason="connection_cap"}`)
	t.Logf("flood of %d: %d answered 503; /metrics: %v open, %v refused at the cap", flood, refused, open, capped)
	if open > limit {
		t.Errorf("gateway_open_connections %v, over the cap %d", open, limit)
	}
	if refused < flood-limit || capped < float64(flood-limit) {
		t.Errorf("%d answered 503 and %v counted, want at least %d", refused, capped, flood-limit)
	}
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	// The flood gone, a new client is served.
	for i := 0; ; i++ {
		code, _, _, err := fetch(g.base + "/healthz")
		if err == nil && code == 200 {
			break
		}
		if i == 100 {
			t.Fatalf("after the flood a new client still gets %d, %v", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
