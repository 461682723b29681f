package z3950

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/almanet/gateway/sru"
)

// Backend is what the server needs from the gateway: database names, the
// index set queries are validated against, and searches. The gateway's
// implementation goes through its search pipeline (cache, coalescing,
// breakers).
type Backend interface {
	// Database resolves a client's database name to the one searched, or
	// reports that there is no such database (diagnostic 235).
	Database(name string) (string, bool)
	// Indexes is the index set queries are checked against; nil means
	// sru.DefaultIndexSet().
	Indexes() *sru.IndexSet
	// Search returns records q.Start..q.Start+q.Count-1 of the query's
	// result list (Count 0: the hit count only). A *Diagnostic error
	// reaches the client as it is; any other error is diagnostic 2 with
	// the error's text as addinfo, so it must say what failed without
	// secrets.
	Search(ctx context.Context, q Search) (*Result, error)
}

// Search is one search as the Backend receives it.
type Search struct {
	Database string // as resolved by Backend.Database
	CQL      string // validated, canonical (sru.Query.AlmaQuery)
	Start    int    // 1-based
	Count    int    // 0: hit count only
	// Syntax (an OID) and ElementSet ("", "marcxml" or "dc") are the
	// checked form of the records: encode each with EncodeRecord.
	Syntax, ElementSet string
}

// Result is a Backend's answer.
type Result struct {
	Total   int
	Records []Record // in result-list order from Start
	// More says the result list may grow past Total: a merged result
	// that fetches more of its targets' hits when positions past the
	// records merged so far are asked for. The server then asks the
	// Backend for a present past Total instead of refusing it, and the
	// result set's count grows with the answers.
	More bool
}

// Config bounds the server. Zero values mean the defaults in parentheses.
type Config struct {
	MaxSessions     int           // concurrent sessions (100)
	MaxPerClient    int           // concurrent sessions of one client address, an IPv6 one by its /64 (8)
	InitTimeout     time.Duration // from connect to a whole initRequest (10s)
	MaxBuffered     int           // bytes of incoming PDUs held across all sessions (32 MiB)
	IdleTimeout     time.Duration // between PDUs, and to receive one PDU (5m)
	MaxPDUBytes     int           // largest PDU accepted (1 MiB)
	MaxDepth        int           // deepest BER nesting accepted (32)
	MaxMessageBytes int           // largest message size granted in Init (4 MiB)
	MaxResultSets   int           // named result sets per session (20)
	ResultSetTTL    time.Duration // a result set's lifetime (30m)
	MaxPosition     int           // last presentable position in a result set (10000)
	MaxPresent      int           // records per Present or piggy-back (100)
	SearchTimeout   time.Duration // deadline of one Backend call (15s)
	WriteTimeout    time.Duration // deadline to write one response (30s)
	DrainTimeout    time.Duration // how long Serve's shutdown waits for sessions (10s)
	Version         string        // implementationVersion
}

func (c *Config) applyDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxSessions, 100)
	def(&c.MaxPerClient, 8)
	defD(&c.InitTimeout, 10*time.Second)
	def(&c.MaxBuffered, 32<<20)
	defD(&c.IdleTimeout, 5*time.Minute)
	def(&c.MaxPDUBytes, 1<<20)
	def(&c.MaxDepth, 32)
	def(&c.MaxMessageBytes, 4<<20)
	def(&c.MaxResultSets, 20)
	defD(&c.ResultSetTTL, 30*time.Minute)
	def(&c.MaxPosition, 10000)
	def(&c.MaxPresent, 100)
	defD(&c.SearchTimeout, 15*time.Second)
	defD(&c.WriteTimeout, 30*time.Second)
	defD(&c.DrainTimeout, 10*time.Second)
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Server is a Z39.50 server. Its zero value is not usable; call NewServer.
type Server struct {
	backend Backend
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	// base is the parent of every Backend call's context; cancelled when
	// Shutdown gives up waiting.
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex // guards the fields below
	sessions map[*session]struct{}
	clients  map[string]int // open sessions by client address (clientKey)
	lns      map[net.Listener]struct{}
	closing  bool

	wg    sync.WaitGroup
	stats counters
	// buffered is the bytes of the sessions' input buffers, bounded by
	// MaxBuffered: partial PDUs cannot add up past it.
	buffered atomic.Int64
}

// counters are the server's metrics, read by Stats.
type counters struct {
	active, total, refused          atomic.Int64
	refusedClient, initClosed       atomic.Int64
	bufferRefused                   atomic.Int64
	pdus                            [64]atomic.Int64 // by PDU tag - 16 (20..48 fit)
	protocolErrors, diagnostics     atomic.Int64
	backendErrors, idleClosed       atomic.Int64
	searches, presents, recordsSent atomic.Int64
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	SessionsActive, SessionsTotal, SessionsRefused int64
	// SessionsRefusedClient counts the sessions refused at the per-client
	// bound (within SessionsRefused); InitClosed the sessions closed for
	// sending no initRequest within InitTimeout; BufferRefused the ones
	// closed because the bytes held for all sessions reached MaxBuffered.
	SessionsRefusedClient, InitClosed, BufferRefused int64
	// Buffered is the input buffer bytes held now.
	Buffered int64
	// PDUs counts requests received by name (init, search, present,
	// deleteResultSet, close, scan, sort, other).
	PDUs                                      map[string]int64
	ProtocolErrors, Diagnostics, BackendFails int64
	IdleClosed, Searches, Presents, Records   int64
}

// pduNames names the request PDUs counted in Stats.
var pduNames = map[int]string{
	tagInitRequest: "init", tagSearchRequest: "search", tagPresentRequest: "present",
	tagDeleteRequest: "deleteResultSet", tagClose: "close", tagScanRequest: "scan",
	tagSortRequest: "sort", tagESRequest: "extendedServices",
}

// NewServer returns a server answering from b.
func NewServer(b Backend, cfg Config, log *slog.Logger) *Server {
	cfg.applyDefaults()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{backend: b, cfg: cfg, log: log, now: time.Now, base: base, cancelBase: cancel,
		sessions: map[*session]struct{}{}, clients: map[string]int{}, lns: map[net.Listener]struct{}{}}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		SessionsActive: c.active.Load(), SessionsTotal: c.total.Load(), SessionsRefused: c.refused.Load(),
		PDUs:           map[string]int64{},
		ProtocolErrors: c.protocolErrors.Load(), Diagnostics: c.diagnostics.Load(), BackendFails: c.backendErrors.Load(),
		IdleClosed: c.idleClosed.Load(), Searches: c.searches.Load(), Presents: c.presents.Load(), Records: c.recordsSent.Load(),
		SessionsRefusedClient: c.refusedClient.Load(), InitClosed: c.initClosed.Load(), BufferRefused: c.bufferRefused.Load(),
		Buffered: s.buffered.Load(),
	}
	for tag := range c.pdus {
		n := c.pdus[tag].Load()
		if n == 0 {
			continue
		}
		name := pduNames[tag+16]
		if name == "" {
			name = "other"
		}
		st.PDUs[name] += n
	}
	return st
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("z3950: server closed")

// Serve accepts sessions on ln until Shutdown, or until ctx ends (which
// shuts the server down, waiting up to DrainTimeout for sessions to end).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	drained := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(drained)
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
		defer cancel()
		s.Shutdown(sctx)
	})
	defer func() {
		if !stop() {
			<-drained // ctx ended: return once the sessions are drained
		}
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.start(c)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// start runs a session for c, or refuses it with a Close (resources) when
// the session limit, or the client's, is reached.
func (s *Server) start(c net.Conn) {
	key := clientKey(c.RemoteAddr())
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	why := ""
	switch {
	case len(s.sessions) >= s.cfg.MaxSessions:
		why = "session limit reached; try again later"
	case s.clients[key] >= s.cfg.MaxPerClient:
		why = "this address has " + strconv.Itoa(s.cfg.MaxPerClient) + " sessions open, as many as one client may; close one first"
		s.stats.refusedClient.Add(1)
	}
	if why != "" {
		s.mu.Unlock()
		s.stats.refused.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.SetWriteDeadline(s.now().Add(5 * time.Second))
			c.Write(closePDU(nil, CloseResources, why))
			c.Close()
		}()
		return
	}
	ss := newSession(s, c)
	s.sessions[ss] = struct{}{}
	s.clients[key]++
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.active.Add(1)
	s.stats.total.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.sessions, ss)
			if s.clients[key]--; s.clients[key] <= 0 {
				delete(s.clients, key)
			}
			s.mu.Unlock()
			ss.release()
			s.stats.active.Add(-1)
			c.Close()
		}()
		ss.run()
	}()
}

// clientKey is the address a session is counted under: the IP, an IPv6
// one by its /64 (one host's share), as the HTTP edge counts clients.
func clientKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if v4 := ta.IP.To4(); v4 != nil {
		return string(v4)
	}
	if len(ta.IP) == net.IPv6len {
		return string(ta.IP[:8])
	}
	return string(ta.IP)
}

// reserve takes n bytes of MaxBuffered for a session's buffer; false when
// they would pass it.
func (s *Server) reserve(n int) bool {
	if s.buffered.Add(int64(n)) > int64(s.cfg.MaxBuffered) {
		s.buffered.Add(-int64(n))
		return false
	}
	return true
}

// Shutdown stops accepting, tells idle sessions the server is shutting
// down (Close, shutdown), lets a request in progress finish, and waits
// for every session to end or ctx to expire (then it drops them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	for ss := range s.sessions {
		ss.wake()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancelBase()
		return nil
	case <-ctx.Done():
		s.cancelBase()
		s.mu.Lock()
		for ss := range s.sessions {
			ss.conn.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}
