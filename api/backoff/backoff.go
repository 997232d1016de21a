// Package backoff is the retry schedule the API clients share: exponential
// delays with jitter, and a sleep that ends early when the context does.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Max caps every delay.
const Max = 30 * time.Second

// Delay is the wait before retry number attempt (0-based): base doubled per
// attempt, capped at Max, with the top half jittered so that parallel
// workers do not retry in lockstep.
func Delay(attempt int, base time.Duration) time.Duration {
	d := min(base<<min(attempt, 5), Max)
	return d/2 + Jitter(d/2)
}

// Jitter is a random duration in [0, max).
func Jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// Sleep waits for d or until ctx is done, whichever is first, and returns
// ctx's error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
