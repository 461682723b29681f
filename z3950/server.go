package z3950

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
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
}

// Config bounds the server. Zero values mean the defaults in parentheses.
type Config struct {
	MaxSessions     int           // concurrent sessions (100)
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
	lns      map[net.Listener]struct{}
	closing  bool

	wg    sync.WaitGroup
	stats counters
}

// counters are the server's metrics, read by Stats.
type counters struct {
	active, total, refused          atomic.Int64
	pdus                            [64]atomic.Int64 // by PDU tag - 16 (20..48 fit)
	protocolErrors, diagnostics     atomic.Int64
	backendErrors, idleClosed       atomic.Int64
	searches, presents, recordsSent atomic.Int64
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	SessionsActive, SessionsTotal, SessionsRefused int64
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
		sessions: map[*session]struct{}{}, lns: map[net.Listener]struct{}{}}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		SessionsActive: c.active.Load(), SessionsTotal: c.total.Load(), SessionsRefused: c.refused.Load(),
		PDUs:           map[string]int64{},
		ProtocolErrors: c.protocolErrors.Load(), Diagnostics: c.diagnostics.Load(), BackendFails: c.backendErrors.Load(),
		IdleClosed: c.idleClosed.Load(), Searches: c.searches.Load(), Presents: c.presents.Load(), Records: c.recordsSent.Load(),
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
// the session limit is reached.
func (s *Server) start(c net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		s.stats.refused.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.SetWriteDeadline(s.now().Add(5 * time.Second))
			c.Write(closePDU(nil, CloseResources, "session limit reached; try again later"))
			c.Close()
		}()
		return
	}
	ss := newSession(s, c)
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.active.Add(1)
	s.stats.total.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.sessions, ss)
			s.mu.Unlock()
			s.stats.active.Add(-1)
			c.Close()
		}()
		ss.run()
	}()
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
