package pendotest

import (
	"math/rand/v2"
	"net/http"
	"sync"
)

type faultState struct {
	cfg Faults

	mu    sync.Mutex
	rng   *rand.Rand
	queue []int
	// afterOn and cutOn hold scripted faults by route: statuses answered
	// after the work (0: the connection closed), and byte counts after
	// which an answer is cut.
	afterOn   map[string][]int
	cutOn     map[string][]int
	afterDone int
	cuts      int
	injected  int // requests failed before the work
}

func newFaultState(cfg Faults) *faultState {
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	return &faultState{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x2545f491))}
}

// SetFaults replaces the random fault rates (a storm starts or ends);
// scripted failures stay queued.
func (s *Server) SetFaults(f Faults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	seed := f.Seed
	if seed == 0 {
		seed = 1
	}
	s.faults.cfg = f
	s.faults.rng = rand.New(rand.NewPCG(seed, seed^0x2545f491))
}

// FailAfterOn makes the next requests of a route be applied and then
// answered with the statuses given, in order (0 closes the connection, -1
// lets one through). Routes: "aggregation", "track",
// "metadata/visitor/custom/value" (kind and group vary),
// "metadata/schema/field", "metadata/value/put".
func (s *Server) FailAfterOn(route string, statuses ...int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.afterOn == nil {
		s.faults.afterOn = map[string][]int{}
	}
	s.faults.afterOn[route] = append(s.faults.afterOn[route], statuses...)
}

// CutOn makes the next answers of a route stop after the given numbers of
// bytes of body, the connection closed (-1 lets one through whole).
func (s *Server) CutOn(route string, bytes ...int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.cutOn == nil {
		s.faults.cutOn = map[string][]int{}
	}
	s.faults.cutOn[route] = append(s.faults.cutOn[route], bytes...)
}

// Faulted is how many requests a fault failed before the work (queued
// or random).
func (s *Server) Faulted() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.injected
}

// FailedAfter is how many requests were applied and then failed, and
// Cuts how many answers were cut mid-stream.
func (s *Server) FailedAfter() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.afterDone
}

func (s *Server) Cuts() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.cuts
}

// failAfter picks the failure a request gets after it is applied: -1 for
// none, 0 for a closed connection, or a status.
func (f *faultState) failAfter(route string, writes bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	status := -1
	if q := f.afterOn[route]; len(q) > 0 {
		status, f.afterOn[route] = q[0], q[1:]
	} else if writes && f.cfg.AfterRate > 0 && f.rng.Float64() < f.cfg.AfterRate {
		status = []int{0, 502}[f.rng.IntN(2)]
	}
	if status >= 0 {
		f.afterDone++
	}
	return status
}

// cutAt returns after how many bytes an answer is cut, or -1. A random
// cut (CutRate) falls after 64 KiB.
func (f *faultState) cutAt(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := -1
	if q := f.cutOn[route]; len(q) > 0 {
		n, f.cutOn[route] = q[0], q[1:]
	} else if route == "aggregation" && f.cfg.CutRate > 0 && f.rng.Float64() < f.cfg.CutRate {
		n = 64 << 10
	}
	return n
}

// cutWriter passes the first left bytes of a body and drops the rest;
// cut then closes the connection, so the client sees a body ended early.
type cutWriter struct {
	http.ResponseWriter
	left    int
	wrote   int
	dropped bool
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) > w.left-w.wrote {
		w.dropped = true
		n := max(w.left-w.wrote, 0)
		w.ResponseWriter.Write(p[:n])
		w.wrote += n
		return len(p), nil
	}
	w.wrote += len(p)
	return w.ResponseWriter.Write(p)
}

// Flush keeps a streaming handler's flushes working through the cut.
func (w *cutWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// cut closes the connection if part of the body was dropped.
func (w *cutWriter) cut() {
	if !w.dropped {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
	}
}

// inject answers with a queued or random fault; it reports whether it did.
func (f *faultState) inject(w http.ResponseWriter) bool {
	f.mu.Lock()
	status := -1
	if len(f.queue) > 0 {
		status, f.queue = f.queue[0], f.queue[1:]
	} else if x := f.rng.Float64(); x < f.cfg.ResetRate {
		status = 0
	} else if x -= f.cfg.ResetRate; x < f.cfg.ServerErrorRate {
		status = []int{500, 502, 503}[f.rng.IntN(3)]
	} else if x -= f.cfg.ServerErrorRate; x < f.cfg.RateLimitRate {
		status = http.StatusTooManyRequests
	}
	if status >= 0 {
		f.injected++
	}
	f.mu.Unlock()
	if status < 0 {
		return false
	}
	f.answer(w, status)
	return true
}

// answer fails a request with status (0: the connection closed).
func (f *faultState) answer(w http.ResponseWriter, status int) {
	if status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		status = http.StatusBadGateway
	}
	switch status {
	case 502, 503:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		w.Write([]byte("<html><body><h1>" + http.StatusText(status) + "</h1></body></html>"))
	case http.StatusTooManyRequests:
		http.Error(w, "Too Many Requests", status)
	case http.StatusForbidden:
		w.WriteHeader(status)
	default:
		http.Error(w, http.StatusText(status), status)
	}
}
