package hubspottest

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Faults make the emulator fail the way HubSpot does under load: random
// rates apply to every authenticated request (before rate limiting), and
// FailNext queues exact failures for a test to script.
type Faults struct {
	// ServerErrorRate is the share of requests answered 500, 502, 503 or
	// 504 (HubSpot's processing limits show up as 502/504).
	ServerErrorRate float64
	// LockedRate is the share answered 423 Locked (records locked ~2 s).
	LockedRate float64
	// MigrationRate is the share answered 477 with Retry-After: 1.
	MigrationRate float64
	// ResetRate is the share whose connection is closed without an answer.
	ResetRate float64
	// AfterRate is the share of writes (any method but GET) that are
	// applied and then answered 502 or 504, or with the connection closed:
	// the work is done and the caller cannot know it.
	AfterRate float64
	// RateLimitRate is the share answered 429 as if another integration
	// on the account had spent a limit: TEN_SECONDLY_ROLLING six times in
	// ten (with the window's headers), SECONDLY three, DAILY once.
	RateLimitRate float64
	// Latency is added to every request.
	Latency time.Duration
	// Seed makes the random faults reproducible; default 1.
	Seed uint64
}

type faultState struct {
	cfg Faults
	// burst and window are the account's, for the headers of an injected
	// TEN_SECONDLY_ROLLING 429.
	burst  int
	window time.Duration

	mu    sync.Mutex
	rng   *rand.Rand
	queue []int // statuses to answer next, in order; 0 = connection reset
	after []int // the same, answered after the request was applied
	// afterOn holds such failures for the requests of one route pattern;
	// slowOn, delays before the answer of a request already applied.
	afterOn map[string][]int
	slowOn  map[string][]time.Duration
	// afterDone counts requests applied and then failed; injected, the
	// requests failed before the work.
	afterDone, injected int
}

func newFaultState(cfg Faults) *faultState {
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	return &faultState{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
}

// FailNext makes the next requests fail, one status each, in order: any
// HTTP status (answered with HubSpot's error body), or 0 to close the
// connection without answering.
func (s *Server) FailNext(statuses ...int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queue = append(s.faults.queue, statuses...)
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
	s.faults.rng = rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
}

// FailNextAfter makes the next requests be applied and then fail, one
// status each, in order (0 closes the connection, -1 lets a request
// through): a write that happened behind a gateway's error.
func (s *Server) FailNextAfter(statuses ...int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.after = append(s.faults.after, statuses...)
}

// FailAfterOn is FailNextAfter for the next requests of one route
// pattern only, e.g. "POST /crm/v3/objects/{objectType}/batch/create".
func (s *Server) FailAfterOn(pattern string, statuses ...int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.afterOn == nil {
		s.faults.afterOn = map[string][]int{}
	}
	s.faults.afterOn[pattern] = append(s.faults.afterOn[pattern], statuses...)
}

// Faulted is how many requests a fault failed before the work (queued
// or random).
func (s *Server) Faulted() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.injected
}

// SlowAfterOn makes the next requests of a route pattern be applied at
// once and answered only after the delays given, in order: a write done
// behind an answer slower than the client waits for.
func (s *Server) SlowAfterOn(pattern string, delays ...time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.slowOn == nil {
		s.faults.slowOn = map[string][]time.Duration{}
	}
	s.faults.slowOn[pattern] = append(s.faults.slowOn[pattern], delays...)
}

// slowAfter is the delay before a request's answer, 0 for none.
func (f *faultState) slowAfter(pattern string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.slowOn[pattern]
	if len(q) == 0 {
		return 0
	}
	f.slowOn[pattern] = q[1:]
	return q[0]
}

// FailedAfter is how many requests were applied and then answered with a
// failure.
func (s *Server) FailedAfter() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.afterDone
}

// failAfter picks the failure a request gets after it is applied: -1 for
// none, 0 for a closed connection, or a status.
func (f *faultState) failAfter(r *http.Request, pattern string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	status := -1
	if q := f.afterOn[pattern]; len(q) > 0 {
		status, f.afterOn[pattern] = q[0], q[1:]
	} else if len(f.after) > 0 {
		status, f.after = f.after[0], f.after[1:]
		if status < 0 {
			return -1
		}
	} else if r.Method != http.MethodGet && f.cfg.AfterRate > 0 && f.rng.Float64() < f.cfg.AfterRate {
		status = []int{0, 502, 504}[f.rng.IntN(3)]
	}
	if status >= 0 {
		f.afterDone++
	}
	return status
}

// inject applies a queued or random fault; it reports whether it answered.
func (f *faultState) inject(w http.ResponseWriter, r *http.Request, rw *response) bool {
	if f.cfg.Latency > 0 {
		time.Sleep(f.cfg.Latency)
	}
	f.mu.Lock()
	status := -1
	if len(f.queue) > 0 {
		status, f.queue = f.queue[0], f.queue[1:]
	} else if x := f.rng.Float64(); x < f.cfg.ResetRate {
		status = 0
	} else if x -= f.cfg.ResetRate; x < f.cfg.ServerErrorRate {
		status = []int{500, 502, 503, 504}[f.rng.IntN(4)]
	} else if x -= f.cfg.ServerErrorRate; x < f.cfg.LockedRate {
		status = 423
	} else if x -= f.cfg.LockedRate; x < f.cfg.MigrationRate {
		status = 477
	} else if x -= f.cfg.MigrationRate; x < f.cfg.RateLimitRate {
		status = []int{tenSecondly, tenSecondly, tenSecondly, tenSecondly, tenSecondly, tenSecondly, secondly, secondly, secondly, daily}[f.rng.IntN(10)]
	}
	if status >= 0 {
		f.injected++
	}
	f.mu.Unlock()
	if status < 0 {
		return false
	}
	f.answer(w, rw, status)
	return true
}

// Injected 429s by policy: codes that never reach the wire as such.
const (
	tenSecondly = http.StatusTooManyRequests
	secondly    = 1000 + iota
	daily
)

// answer fails a request with status (0: the connection closed).
func (f *faultState) answer(w http.ResponseWriter, rw *response, status int) {
	switch {
	case status == 0:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		status = http.StatusBadGateway
	case status == 477:
		w.Header().Set("Retry-After", "1")
	}
	switch status {
	case tenSecondly:
		h := w.Header()
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(f.burst))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(f.window.Milliseconds(), 10))
		h.Set("X-HubSpot-RateLimit-Remaining", "0")
		rw.error(status, apiError{Message: "You have reached your ten_secondly_rolling limit.", ErrorType: "RATE_LIMIT", Category: "RATE_LIMITS",
			PolicyName: "TEN_SECONDLY_ROLLING", GroupName: "publicapi:private-app-api-calls-ten-secondly"})
		return
	case secondly:
		rw.error(http.StatusTooManyRequests, apiError{Message: "You have reached your secondly limit.", ErrorType: "RATE_LIMIT", Category: "RATE_LIMITS",
			PolicyName: "SECONDLY", GroupName: "publicapi:crm-search-secondly"})
		return
	case daily:
		rw.error(http.StatusTooManyRequests, apiError{Message: "You have reached your daily limit.", ErrorType: "RATE_LIMIT", Category: "RATE_LIMITS",
			PolicyName: "DAILY", GroupName: "publicapi:private-app-api-calls-daily"})
		return
	}
	msg := map[int]string{
		423: "The record is locked; retry in 2 seconds.",
		477: "Migration in progress; retry after the time in the Retry-After header.",
		502: "Bad Gateway: the request exceeded HubSpot's processing limits.",
		504: "Gateway Timeout",
	}[status]
	if msg == "" {
		msg = http.StatusText(status)
	}
	if status == 502 || status == 504 {
		// Gateways answer with HTML, not HubSpot's JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		w.Write([]byte("<html><body><h1>" + msg + "</h1></body></html>"))
		return
	}
	rw.error(status, apiError{Category: "INTERNAL_ERROR", Message: msg})
}
