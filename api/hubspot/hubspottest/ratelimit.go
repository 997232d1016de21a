package hubspottest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// bucket names the limit a route counts against.
type bucket int

const (
	// burstBucket: the token's rolling 10-second window and the account's
	// daily budget, with X-HubSpot-RateLimit-* headers.
	burstBucket bucket = iota
	// searchBucket: the account's 5 requests/second search limit, counted
	// in the daily budget, with no headers at all.
	searchBucket
	// eventsBucket: custom event sends, exempt from the 10-second and
	// daily limits (1,250 requests/second).
	eventsBucket
)

// window is a rolling-window counter of admitted requests.
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

func (s *Server) window(key string, now time.Time, length time.Duration) *window {
	win := s.limits[key]
	if win == nil {
		win = &window{}
		s.limits[key] = win
	}
	win.prune(now, length)
	return win
}

// admit counts a request against its bucket, sets HubSpot's rate-limit
// headers where HubSpot sends them, and answers 429 with HubSpot's body
// when a limit is spent. Refused requests do not consume the window, but
// count toward the daily total, as HubSpot counts them.
func (s *Server) admit(rw *response, tok, pattern string, b bucket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now() // real time: see Options.Now
	h := rw.w.Header()
	refuse := func(msg, policy, group string) bool {
		s.limited++
		rw.error(http.StatusTooManyRequests, apiError{
			Message: msg, ErrorType: "RATE_LIMIT", Category: "RATE_LIMITS", PolicyName: policy,
			GroupName: fmt.Sprintf("publicapi:%s:%d", group, s.opts.PortalID),
		})
		return false
	}
	switch b {
	case eventsBucket:
		win := s.window("events", now, time.Second)
		if len(win.times) >= 1250 {
			return refuse("You have reached your secondly limit.", "SECONDLY", "behavioral-events-send-secondly")
		}
		win.times = append(win.times, now)
	case searchBucket:
		if s.daily >= s.opts.DailyLimit {
			return refuse("You have reached your daily limit.", "DAILY", "private-app-api-calls-daily")
		}
		win := s.window("search", now, time.Second)
		if len(win.times) >= s.opts.SearchPerSecond {
			s.daily++
			return refuse("You have reached your secondly limit.", "SECONDLY", "crm-search-secondly")
		}
		win.times = append(win.times, now)
		s.daily++
	default:
		t := s.tokens[tok]
		oauth := t != nil && !t.private
		if !oauth && s.daily >= s.opts.DailyLimit {
			return refuse("You have reached your daily limit.", "DAILY", "private-app-api-calls-daily")
		}
		win := s.window("burst:"+tok, now, s.opts.Window)
		interval := strconv.FormatInt(s.opts.Window.Milliseconds(), 10)
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.BurstLimit))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", interval)
		if len(win.times) >= s.opts.BurstLimit {
			s.daily++
			h.Set("X-HubSpot-RateLimit-Remaining", "0")
			return refuse("You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING", "private-app-api-calls-ten-secondly")
		}
		win.times = append(win.times, now)
		s.daily++
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(s.opts.BurstLimit-len(win.times)))
		if !oauth { // HubSpot sends no daily headers on OAuth calls
			h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(s.opts.DailyLimit))
			h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(s.opts.DailyLimit-s.daily))
		}
	}
	s.counts[pattern]++
	return true
}
