// Package clock is backflow's notion of the present. Everything whose
// result depends on the time (extraction windows and cursors, model
// builds, the emulators' data) takes a func() time.Time instead of reading
// the system clock, so tests and the --now flag can set the present.
//
// Durations that only measure (how long a run took) and pacing under a
// rate limit stay on the system clock: they are about real elapsed time.
package clock

import (
	"fmt"
	"sync"
	"time"
)

// System is the system clock.
func System() time.Time { return time.Now() }

// From returns a clock that reads start now and moves on with the system
// clock from there: `--now TIME` for a sandbox or a run.
func From(start time.Time) func() time.Time {
	base := time.Now()
	return func() time.Time { return start.Add(time.Since(base)) }
}

// Manual is a clock that moves only when told to. Tests and the demo use
// it so that the same starting instant gives the same results, however
// long each step takes on a busy machine. It is safe for concurrent use.
type Manual struct {
	mu sync.Mutex
	t  time.Time
}

// NewManual returns a clock stopped at t.
func NewManual(t time.Time) *Manual { return &Manual{t: t} }

// Now returns the clock's present.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

// Advance moves the clock forward by d (d ≥ 0).
func (m *Manual) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("clock: Advance(%v): time does not go backwards", d))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t = m.t.Add(d)
}

// Parse reads a --now value: RFC 3339, with or without fractional
// seconds ("2026-12-01T23:59:30-05:00").
func Parse(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-12-01T23:59:30-05:00", s)
	}
	return t, nil
}
