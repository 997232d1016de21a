package hubspottest

import (
	"math/rand/v2"
	"net/http"
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
	// Latency is added to every request.
	Latency time.Duration
	// Seed makes the random faults reproducible; default 1.
	Seed uint64
}

type faultState struct {
	cfg Faults

	mu    sync.Mutex
	rng   *rand.Rand
	queue []int // statuses to answer next, in order; 0 = connection reset
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
	}
	f.mu.Unlock()
	switch {
	case status < 0:
		return false
	case status == 0:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		status = http.StatusBadGateway
	case status == 477:
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusTooManyRequests {
		rw.error(status, apiError{Message: "You have reached your ten_secondly_rolling limit.", ErrorType: "RATE_LIMIT", Category: "RATE_LIMITS",
			PolicyName: "TEN_SECONDLY_ROLLING", GroupName: "publicapi:private-app-api-calls-ten-secondly"})
		return true
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
		return true
	}
	rw.error(status, apiError{Category: "INTERNAL_ERROR", Message: msg})
	return true
}
