package almasim

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a running simulator listener.
type Server struct {
	url    string
	srv    *http.Server
	cancel context.CancelFunc // ends every request context (hanging ones included)
	done   chan struct{}      // closed when Serve has returned
	once   sync.Once
	err    error
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves Handler and, on the
// same listener, ControlHandler under /_sim/ (which answers loopback clients
// only). The server stops when ctx ends or Close is called.
func (s *Simulator) Start(ctx context.Context, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/_sim/", s.ControlHandler())
	mux.Handle("/", s.Handler())
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	sv := &Server{url: "http://" + ln.Addr().String(), srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sv.done)
		srv.Serve(ln)
	}()
	go func() {
		select {
		case <-ctx.Done():
			sv.Close()
		case <-sv.done:
		}
	}()
	return sv, nil
}

// URL is the server's base URL, e.g. "http://127.0.0.1:43567".
func (sv *Server) URL() string { return sv.url }

// Close stops the server: hanging and slow requests end at once, and Close
// returns when every handler has returned.
func (sv *Server) Close() error {
	sv.once.Do(func() {
		sv.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := sv.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			sv.err = err
		}
		sv.srv.Close()
		<-sv.done
	})
	return sv.err
}
