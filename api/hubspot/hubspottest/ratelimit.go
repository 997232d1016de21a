package hubspottest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// window is a rolling-window counter of admitted requests for one token.
type window struct {
	times []time.Time // admission times within the last window, oldest first
}

func (w *window) prune(now time.Time, length time.Duration) {
	i := 0
	for i < len(w.times) && now.Sub(w.times[i]) >= length {
		i++
	}
	w.times = w.times[i:]
}

// admit counts a request against the token's rolling window and the
// account's daily budget, sets HubSpot's rate-limit headers, and answers 429
// with HubSpot's body when either is spent. Refused requests do not consume
// the window.
func (s *Server) admit(rw *response, token, route string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	win := s.limits[token]
	if win == nil {
		win = &window{}
		s.limits[token] = win
	}
	win.prune(now, s.opts.Window)

	h := rw.w.Header()
	if s.daily >= s.opts.DailyLimit {
		s.limited++
		rw.error(http.StatusTooManyRequests, apiError{
			Message:    "You have reached your daily limit.",
			ErrorType:  "RATE_LIMIT",
			Category:   "RATE_LIMITS",
			PolicyName: "DAILY",
			GroupName:  fmt.Sprintf("publicapi:private-app-api-calls-daily:%d", s.opts.PortalID),
		})
		return false
	}
	if len(win.times) >= s.opts.BurstLimit {
		s.limited++
		s.daily++ // HubSpot counts refused calls toward the daily total
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.BurstLimit))
		h.Set("X-HubSpot-RateLimit-Remaining", "0")
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.Window.Milliseconds(), 10))
		rw.error(http.StatusTooManyRequests, apiError{
			Message:    "You have reached your ten_secondly_rolling limit.",
			ErrorType:  "RATE_LIMIT",
			Category:   "RATE_LIMITS",
			PolicyName: "TEN_SECONDLY_ROLLING",
			GroupName:  fmt.Sprintf("publicapi:private-app-api-calls-ten-secondly:%d", s.opts.PortalID),
		})
		return false
	}
	win.times = append(win.times, now)
	s.daily++
	s.counts[route]++
	h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.BurstLimit))
	h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(s.opts.BurstLimit-len(win.times)))
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.Window.Milliseconds(), 10))
	h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(s.opts.DailyLimit))
	h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(s.opts.DailyLimit-s.daily))
	return true
}
