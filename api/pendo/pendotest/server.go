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
	"net/http/httptest"
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
	// TrackSecret is the app's track event shared secret, for /data/track.
	TrackSecret string
	// RequestsPerSecond is the per-endpoint limit. Default 100.
	RequestsPerSecond int
	// TimeZone is the subscription's time zone, which day buckets follow.
	// Default America/New_York (Pendo's samples are US-Eastern days).
	TimeZone *time.Location
	// BulkRowsPerCall is how many rows a bulk metadata call can process
	// within Pendo's 5-minute limit; past it the call answers 408. Default
	// 750,000 (about 2,500 rows/s).
	BulkRowsPerCall int
	// BulkRowsPerSecond is how fast a bulk metadata call processes rows:
	// the call answers after len(rows)/BulkRowsPerSecond. Zero answers at
	// once (unit tests); benchmarks set 2,500 to match BulkRowsPerCall.
	BulkRowsPerSecond int
	// Faults injects failures.
	Faults Faults
	// Now is the emulator's present: the time its data is stamped with
	// and its windows are measured from (lastupdated, the 7-day track
	// window, now() in expressions, generated history). Default the system
	// clock. Rate limits count real time whatever the clock: they are what
	// a client's pacing meets, and a client paces on real time.
	Now func() time.Time
}

// Faults make the emulator fail as a service under load does.
type Faults struct {
	// ServerErrorRate is the share of requests answered 500, 502 or 503
	// (502 and 503 as HTML pages, as a load balancer sends them).
	ServerErrorRate float64
	// ResetRate is the share whose connection is closed without an answer.
	ResetRate float64
	// AfterRate is the share of writes (bulk metadata, field creation,
	// single values, track events) applied and then answered 502 or with
	// the connection closed: the work is done, the caller cannot know.
	AfterRate float64
	// CutRate is the share of aggregation answers cut mid-stream (the
	// connection closed after about half the body).
	CutRate float64
	// RateLimitRate is the share answered 429 before the work, as if
	// another integration had spent the second's requests.
	RateLimitRate float64
	// Seed makes the random faults reproducible; default 1.
	Seed uint64
}

// Server is the emulator; it implements http.Handler.
type Server struct {
	opts Options

	mu             sync.Mutex
	visitors       map[string]*Entity
	segments       map[string]*Segment
	accounts       map[string]*Entity
	schema         map[string]map[string]map[string]*Field // kind → group → field
	windows        map[string][]time.Time                  // endpoint → admission times in the last second
	counts         map[string]int
	limited        int
	apps           []App
	features       []Feature
	pages          []Page
	guides         []Guide
	trackTypes     []TrackType
	activity       []Activity // raw activity; sorted by Time when activitySorted
	activitySorted bool
	trackReceived  int
	loc            *time.Location
	faults         *faultState
	now            func() time.Time
	gate           chan struct{} // bulk writes wait on it while set (HoldWrites)
	hooks          hookState
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
	if opts.TimeZone == nil {
		opts.TimeZone = easternTime()
	}
	if opts.BulkRowsPerCall == 0 {
		opts.BulkRowsPerCall = 750_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		visitors: map[string]*Entity{},
		accounts: map[string]*Entity{},
		windows:  map[string][]time.Time{},
		counts:   map[string]int{},
		now:      opts.Now,
		loc:      opts.TimeZone,
		apps:     []App{{ID: DefaultAppID, Name: "Web app", Platform: "web"}},
		faults:   newFaultState(opts.Faults),
	}
	s.schema = standardSchema()
	return s
}

// SetClock replaces the emulator's clock.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// FailNext makes the next requests fail, one status each: an HTTP status,
// or 0 to close the connection without answering.
func (s *Server) FailNext(statuses ...int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queue = append(s.faults.queue, statuses...)
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.inject(w) {
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/data/track" {
		s.serve(w, r, "track", true, s.track)
		return
	}
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
	s.serve(w, r, route, writes, handler)
}

// serve runs a handler under the faults that strike after the work: an
// answer lost behind a failure, or cut mid-stream.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, writes bool, handler http.HandlerFunc) {
	if status := s.faults.failAfter(route, writes); status >= 0 {
		handler(httptest.NewRecorder(), r)
		s.faults.answer(w, status)
		return
	}
	if n := s.faults.cutAt(route); n >= 0 {
		cw := &cutWriter{ResponseWriter: w, left: n}
		handler(cw, r)
		if cw.dropped {
			s.faults.mu.Lock()
			s.faults.cuts++
			s.faults.mu.Unlock()
		}
		cw.cut()
		return
	}
	handler(w, r)
}

func (s *Server) route(r *http.Request) (string, http.HandlerFunc, bool) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) < 3 || p[0] != "api" || p[1] != "v1" {
		return "", nil, false
	}
	p = p[2:]
	m := r.Method
	switch {
	case m == http.MethodPost && len(p) == 1 && p[0] == "aggregation":
		return "aggregation", s.aggregate, false
	case m == http.MethodGet && len(p) == 1 && p[0] == "segment":
		return "segment", s.listSegments, false
	case m == http.MethodGet && len(p) == 2 && p[0] == "segment":
		id := p[1]
		return "segment/get", func(w http.ResponseWriter, r *http.Request) { s.getSegment(w, id) }, false
	case m == http.MethodGet && len(p) == 2 && p[0] == "token" && p[1] == "verify":
		return "token/verify", s.verify, false
	case m == http.MethodGet && len(p) == 3 && p[0] == "metadata" && p[1] == "schema":
		kind := p[2]
		return "metadata/schema", func(w http.ResponseWriter, r *http.Request) { s.getSchema(w, kind) }, false
	case m == http.MethodPost && len(p) == 4 && p[0] == "metadata" && p[1] == "schema":
		kind, group := p[2], p[3]
		return "metadata/schema/field", func(w http.ResponseWriter, r *http.Request) { s.createField(w, r, kind, group) }, true
	case m == http.MethodPost && len(p) == 4 && p[0] == "metadata" && p[3] == "value":
		kind, group := p[1], p[2]
		return "metadata/" + kind + "/" + group + "/value", func(w http.ResponseWriter, r *http.Request) { s.bulkUpdate(w, r, kind, group) }, true
	case (m == http.MethodPut || m == http.MethodGet) && len(p) == 6 && p[0] == "metadata" && p[3] == "value":
		kind, group, id, field := p[1], p[2], p[4], p[5]
		if m == http.MethodGet {
			return "metadata/value/get", func(w http.ResponseWriter, r *http.Request) { s.getValue(w, kind, group, id, field) }, false
		}
		return "metadata/value/put", func(w http.ResponseWriter, r *http.Request) { s.putValue(w, r, kind, group, id, field) }, true
	}
	return "", nil, false
}

func easternTime() *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		// No zoneinfo on the machine: a fixed US-Eastern offset still keeps
		// day buckets off UTC midnight, which is what clients must handle.
		return time.FixedZone("EST", -5*3600)
	}
	return loc
}

// admit applies the per-endpoint limit over a sliding one-second window
// of real time (see Options.Now).
func (s *Server) admit(route string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
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
