package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter keeps one token's calls under HubSpot's rolling burst window.
//
// HubSpot counts calls in any rolling window of 10 s, so a token bucket
// whose burst plus refill over one window exceeds the limit draws 429s. The
// limiter spaces calls evenly at (limit-1) per window with a burst of one:
// no window can then hold more than limit calls, and throughput stays
// within 1/limit of the ceiling. The limit configured for the tier is
// corrected from the X-HubSpot-RateLimit-Max and -Interval-Milliseconds
// headers of the first response that carries them.
type Limiter struct {
	mu     sync.Mutex
	window time.Duration
	limit  int
	rl     *rate.Limiter
	// daily and dailyLeft are the account's daily budget and what was
	// left of it at the last response that said (-1: not known; OAuth
	// calls carry no daily headers).
	daily, dailyLeft int
	// share is the part of the app's limit this limiter may use (0 < share
	// ≤ 1), leaving the rest to other integrations on the same app.
	share float64
}

// NewLimiter returns a limiter for limit calls per window.
func NewLimiter(limit int, window time.Duration) *Limiter {
	l := &Limiter{rl: rate.NewLimiter(1, 1), daily: -1, dailyLeft: -1, share: 1}
	l.set(limit, window)
	return l
}

func (l *Limiter) set(limit int, window time.Duration) {
	l.limit, l.window = limit, window
	l.rl.SetLimit(rate.Limit(l.share * float64(max(limit-1, 1)) / window.Seconds()))
}

// SetShare makes the limiter use only a share (0 < share ≤ 1) of the
// app's limit, also once the limit is corrected from response headers.
func (l *Limiter) SetShare(share float64) {
	if share <= 0 || share > 1 {
		share = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.share = share
	l.set(l.limit, l.window)
}

// Window is the current burst window.
func (l *Limiter) Window() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.window
}

// PerSecond is the sustained pace the limiter keeps, in calls per second.
func (l *Limiter) PerSecond() float64 { return float64(l.rl.Limit()) }

// Daily returns the account's daily budget and what was left of it at the
// last response that said; ok is false before any such response (and for
// OAuth apps, whose responses carry no daily headers).
func (l *Limiter) Daily() (limit, remaining int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.daily, l.dailyLeft, l.daily >= 0
}

// Wait blocks until a call may be sent or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error {
	return l.rl.Wait(ctx)
}

// Plausible burst headers: HubSpot's tiers allow 100 to 250 calls per 10 s
// (with add-ons up to 1,000 per 10 s and per second on its other limits).
// A value outside these bounds comes from something else answering, and
// adopting it (2 calls a day, say) would make a run sleep for hours.
const (
	minHeaderLimit  = 10
	maxHeaderLimit  = 10_000
	minHeaderWindow = time.Second
	maxHeaderWindow = time.Minute
)

// Observe reads HubSpot's rate-limit headers from a response and adopts
// the limit and window they state. Search responses carry no headers and
// leave the limiter untouched. Implausible values are ignored, and the
// error says which.
func (l *Limiter) Observe(h http.Header) error {
	if daily, err := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Daily")); err == nil && daily > 0 {
		if left, err := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Daily-Remaining")); err == nil && left >= 0 && left <= daily {
			l.mu.Lock()
			l.daily, l.dailyLeft = daily, left
			l.mu.Unlock()
		}
	}
	max, ms := h.Get("X-HubSpot-RateLimit-Max"), h.Get("X-HubSpot-RateLimit-Interval-Milliseconds")
	if max == "" || ms == "" {
		return nil
	}
	limit, err1 := strconv.Atoi(max)
	interval, err2 := strconv.Atoi(ms)
	window := time.Duration(interval) * time.Millisecond
	if err1 != nil || err2 != nil || limit < minHeaderLimit || limit > maxHeaderLimit || window < minHeaderWindow || window > maxHeaderWindow {
		return fmt.Errorf("X-HubSpot-RateLimit-Max %q per %q ms is outside %d–%d calls per %s–%s; keeping %d per %s",
			max, ms, minHeaderLimit, maxHeaderLimit, minHeaderWindow, maxHeaderWindow, l.limitNow(), l.Window())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if limit != l.limit || window != l.window {
		l.set(limit, window)
	}
	return nil
}

func (l *Limiter) limitNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}
