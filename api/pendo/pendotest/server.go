// Package pendotest is an in-memory emulator of Pendo's v1 API, for tests,
// benchmarks, the demo and `backflow sandbox`.
//
// It follows shared/reference/pendo.md: the integration key travels in
// x-pendo-integration-key and a bad one gets 403 with an empty body; bulk
// metadata updates answer 200 with {total, updated, failed, missing, errors}
// and 400 for an undeclared field; each endpoint allows 100 requests per
// second and answers 429 past that. Where Pendo's behaviour is undocumented
// the emulator picks the stricter reading and says so in a comment.
package pendotest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// IntegrationKey is a key with write access.
	IntegrationKey string
	// ReadOnlyKey, if set, is a key without "Allow Write Access".
	ReadOnlyKey string
	// RequestsPerSecond is the per-endpoint limit. Default 100.
	RequestsPerSecond int
}

// Server is the emulator; it implements http.Handler.
type Server struct {
	opts Options

	mu       sync.Mutex
	visitors map[string]*Entity
	accounts map[string]*Entity
	schema   map[string]map[string]map[string]*Field // kind → group → field
	windows  map[string][]time.Time                  // endpoint → admission times in the last second
	counts   map[string]int
	limited  int
	now      func() time.Time
}

// Entity is a visitor or an account: its id and metadata by group.
type Entity struct {
	ID       string
	Metadata map[string]map[string]any
}

// New returns an emulator with Pendo's standard metadata schema and no data.
func New(opts Options) *Server {
	if opts.RequestsPerSecond == 0 {
		opts.RequestsPerSecond = 100
	}
	s := &Server{
		opts:     opts,
		visitors: map[string]*Entity{},
		accounts: map[string]*Entity{},
		windows:  map[string][]time.Time{},
		counts:   map[string]int{},
		now:      time.Now,
	}
	s.schema = standardSchema()
	return s
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Pendo-Integration-Key")
	write := key != "" && key == s.opts.IntegrationKey
	read := write || (key != "" && key == s.opts.ReadOnlyKey)
	if !read {
		// Pendo answers a missing, wrong or other-region key with an empty 403.
		w.WriteHeader(http.StatusForbidden)
		return
	}
	route, handler, writes := s.route(r)
	if handler == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if writes && !write {
		// Undocumented; the stricter reading: a read-only key is refused as
		// a bad key would be.
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if !s.admit(route) {
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	}
	handler(w, r)
}

func (s *Server) route(r *http.Request) (string, http.HandlerFunc, bool) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/aggregation":
		return "aggregation", s.aggregate, false
	case r.Method == http.MethodGet && len(p) == 5 && p[0] == "api" && p[1] == "v1" && p[2] == "metadata" && p[3] == "schema":
		kind := p[4]
		return "metadata/schema", func(w http.ResponseWriter, r *http.Request) { s.getSchema(w, kind) }, false
	case r.Method == http.MethodPost && len(p) == 6 && p[0] == "api" && p[1] == "v1" && p[2] == "metadata" && p[5] == "value":
		kind, group := p[3], p[4]
		return "metadata/" + kind + "/" + group + "/value", func(w http.ResponseWriter, r *http.Request) { s.bulkUpdate(w, r, kind, group) }, true
	}
	return "", nil, false
}

// admit applies the per-endpoint limit over a sliding one-second window.
func (s *Server) admit(route string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	times := s.windows[route]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= time.Second {
		i++
	}
	times = times[i:]
	if len(times) >= s.opts.RequestsPerSecond {
		s.windows[route] = times
		s.limited++
		return false
	}
	s.windows[route] = append(times, now)
	s.counts[route]++
	return true
}

// Requests returns requests served per endpoint and the number of 429s.
func (s *Server) Requests() (byRoute map[string]int, rateLimited int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out, s.limited
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// badRequest answers as Pendo does: plain text, not JSON.
func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	w.Write([]byte(msg))
}
