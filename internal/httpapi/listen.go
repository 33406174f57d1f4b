package httpapi

import (
	"context"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the HTTP server that HTTPServer and LimitListener set up (see
// docs/security.md).
const (
	// ReadHeaderTimeout bounds reading a request's line and headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, body included. Event
	// streams lift it once their request is read.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds writing an answer to a client that does not
	// read. Event streams renew it at every write (streamWriteTimeout).
	WriteTimeout = time.Minute
	// IdleTimeout closes a kept-alive connection with no request.
	IdleTimeout = 30 * time.Second
	// DefaultMaxConnections is the default cap on connections served at
	// once (bgtask serve --max-connections); more wait in the kernel's
	// accept queue until one ends.
	DefaultMaxConnections = 1000
)

// HTTPServer returns an http.Server for handler (s, or s wrapped in
// middleware) with the timeouts above. Its Shutdown also ends the reads of
// request bodies in progress (a client that sent half a body does not hold
// the shutdown for its grace period). Event streams end once the manager
// stopped, after they sent its last events: Shutdown (not Close) after
// the manager's Stop lets those bytes out.
func (s *Server) HTTPServer(handler http.Handler, errorLog *log.Logger) *http.Server {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
	srv.RegisterOnShutdown(s.BeginShutdown)
	return srv
}

// BeginShutdown makes requests that are still reading a body fail at once
// with 503. HTTPServer's Shutdown calls it; call it before Shutdown of an
// http.Server of your own.
func (s *Server) BeginShutdown() { s.stop() }

// LimitListener returns a listener that accepts at most n connections at
// once: Accept waits until one of them is closed.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn frees its slot when closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// stopping returns a context cancelled by BeginShutdown.
func (s *Server) stopping() context.Context { return s.stopCtx }
