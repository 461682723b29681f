package almasim

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the Alma surface: SRU at /view/sru/<code> (the network or a
// member) and the Bibs API at /almaws/v1/bibs/{mms_id}; and, beside it, the
// external SRU 2.0 target at /ext/sru. Every request is counted and logged,
// then delayed by Config.Latency, then faulted if a fault is set for its SRU
// target (SetTargetFault) or else for its endpoint.
func (s *Simulator) Handler() http.Handler { return http.HandlerFunc(s.serveAlma) }

func endpointOf(path string) (Endpoint, bool) {
	switch {
	case strings.HasPrefix(path, "/view/sru/"), path == externalPath:
		return EndpointSRU, true
	case strings.HasPrefix(path, "/almaws/v1/"):
		return EndpointBibs, true // the REST API: Bibs and the write APIs
	}
	return 0, false
}

func (s *Simulator) serveAlma(w http.ResponseWriter, r *http.Request) {
	ep, ok := endpointOf(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.counts.n[ep].Add(1)
	target := s.targetOf(r.URL.Path)
	if n := s.counts.target[target]; n != nil {
		n.Add(1)
	}
	q, inURL := redactedQuery(r.URL.Query())
	key, _ := apiKey(r)
	s.log.add(RequestLog{Time: s.cfg.Now(), Endpoint: ep, Method: r.Method, Path: r.URL.Path, Query: q,
		KeyInURL: inURL, KeyInHeader: strings.HasPrefix(r.Header.Get("Authorization"), "apikey "),
		KeyOwner: s.byKey[key], MaximumRecords: maximumRecords(r.URL.Query())})

	ctx := r.Context()
	released := s.release.wait() // taken before the fault, so that a change after take still wakes us
	if !sleep(ctx, s.cfg.Latency) {
		panic(http.ErrAbortHandler) // the client left or the server closes: drop the connection, answer nothing
	}
	f, faulted := s.faults.take(ep, target, r.Method != http.MethodGet && r.Method != http.MethodHead)
	if faulted {
		switch f.Kind {
		case FaultSlow:
			if !sleep(ctx, f.Delay) {
				panic(http.ErrAbortHandler)
			}
		case FaultHang:
			select {
			case <-ctx.Done(): // the client gave up or the server is closing
				panic(http.ErrAbortHandler)
			case <-released: // faults changed: answer as if Alma recovered
			}
		case FaultReset:
			reset(w)
			return
		case Fault500:
			s.write(w, s.internalError(ep, wantsJSON(r)))
			return
		case Fault429:
			s.write(w, s.perSecond(r, ep, f.RetryAfter))
			return
		}
	}
	var resp response
	switch {
	case target == ExternalTarget:
		resp = s.serveExternal(r)
	case ep == EndpointSRU:
		resp = s.serveSRU(r)
	default:
		resp = s.serveREST(r)
	}
	if faulted {
		switch f.Kind {
		case FaultLost:
			// Alma did the write; the answer never reaches the caller. The
			// body is read to its end so that the server sees the client
			// leave (net/http watches the connection only then).
			io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			select {
			case <-ctx.Done():
				panic(http.ErrAbortHandler)
			case <-released:
			}
		case FaultMalformed:
			resp.body = malformed(resp)
		case FaultTruncated:
			resp.body = truncated(resp.body)
		}
	}
	s.write(w, resp)
}

// targetOf names the SRU target a path asks: a zone code, ExternalTarget,
// or "" (the Bibs API, or an unknown institution).
func (s *Simulator) targetOf(path string) string {
	if path == externalPath {
		return ExternalTarget
	}
	code, ok := strings.CutPrefix(path, "/view/sru/")
	if !ok {
		return ""
	}
	if _, known := s.zones[code]; !known {
		return ""
	}
	return code
}

func (s *Simulator) write(w http.ResponseWriter, resp response) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Content-Type", resp.ctype)
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

// sleep waits d or until ctx ends; it reports whether the request should go on.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reset closes the connection with SO_LINGER 0, so that the client reads
// ECONNRESET instead of an answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2 or a recorder: abort the stream instead
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

const tomcat500 = `<!doctype html><html lang="en"><head><title>HTTP Status 500 – Internal Server Error</title></head>` +
	`<body><h1>HTTP Status 500 – Internal Server Error</h1><hr class="line" /><p><b>Type</b> Status Report</p>` +
	`<p><b>Description</b> The server encountered an unexpected condition that prevented it from fulfilling the request.</p></body></html>`

func (s *Simulator) internalError(ep Endpoint, js bool) response {
	if ep == EndpointSRU {
		return response{status: http.StatusInternalServerError, ctype: "text/html;charset=utf-8", body: []byte(tomcat500)}
	}
	return s.errorResponseH(errInternal, js, nil)
}

func (s *Simulator) perSecond(r *http.Request, ep Endpoint, retryAfter int) response {
	if retryAfter <= 0 {
		retryAfter = 1
	}
	var hdr http.Header
	js := false
	if ep == EndpointBibs {
		js = wantsJSON(r)
		key, _ := apiKey(r)
		if _, known := s.byKey[key]; known {
			if rem, ok := s.quota.peek(key); ok {
				hdr = http.Header{"X-Exl-Api-Remaining": {strconv.Itoa(rem)}}
			}
		}
	}
	resp := s.errorResponseH(errPerSecond, js, hdr)
	if resp.header == nil {
		resp.header = http.Header{}
	}
	resp.header.Set("Retry-After", strconv.Itoa(retryAfter))
	return resp
}
