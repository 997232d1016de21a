// Package memnet is an in-memory network for tests: an HTTP server and
// the client that reaches it over net.Pipe connections, never a socket.
//
// Inside a testing/synctest bubble nothing blocked on such a connection
// keeps the bubble's fake clock from moving, so a test of rate limits,
// retries and backoff runs against the emulators in no real time and gives
// the same answer on an idle machine and a loaded one.
package memnet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Listener is a net.Listener whose connections come from its Dial.
type Listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Listen returns a Listener.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// errClosed is returned by Accept and Dial once the listener is closed.
var errClosed = errors.New("memnet: listener closed")

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errClosed
	}
}

// Close stops Accept and Dial.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder address.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener, whatever the address.
func (l *Listener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type addr struct{}

func (addr) Network() string { return "memnet" }
func (addr) String() string  { return "memnet" }

// Server is an HTTP server on an in-memory listener.
type Server struct {
	// URL is the base URL to give clients; its host is never resolved.
	URL string
	// Client reaches the server, and only it.
	Client *http.Client

	srv *http.Server
	ln  *Listener
	wg  sync.WaitGroup
}

// Serve serves h until Close.
func Serve(h http.Handler) *Server {
	s := &Server{URL: "http://memnet.localhost", ln: Listen(), srv: &http.Server{Handler: h}}
	s.Client = &http.Client{Transport: &http.Transport{DialContext: s.ln.Dial}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(s.ln)
	}()
	return s
}

// Close closes the client's connections and the server, and waits for
// the server to stop: a synctest bubble ends only once its goroutines do.
func (s *Server) Close() {
	s.Client.CloseIdleConnections()
	s.srv.Close()
	s.wg.Wait()
}
