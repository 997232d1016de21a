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
}

func newFaultState(cfg Faults) *faultState {
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	return &faultState{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x2545f491))}
}

// inject answers with a queued or random fault; it reports whether it did.
func (f *faultState) inject(w http.ResponseWriter) bool {
	f.mu.Lock()
	status := -1
	if len(f.queue) > 0 {
		status, f.queue = f.queue[0], f.queue[1:]
	} else if x := f.rng.Float64(); x < f.cfg.ResetRate {
		status = 0
	} else if x-f.cfg.ResetRate < f.cfg.ServerErrorRate {
		status = []int{500, 502, 503}[f.rng.IntN(3)]
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
	return true
}
