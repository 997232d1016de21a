package pendo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// TrackEvent is one server-side track event.
type TrackEvent struct {
	Event      string
	VisitorID  string
	AccountID  string
	Timestamp  time.Time
	Properties map[string]any
	// Context is {ip, userAgent, url, title}; Pendo requires the object,
	// which may be empty.
	Context map[string]any
}

// Track event rules: Pendo answers 200 for events it will never process,
// so these are checked before sending.
const (
	TrackMaxAge           = 7 * 24 * time.Hour
	TrackMaxPropertyBytes = 512
)

var trackPropertyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// ErrTrackRejected wraps the reasons CheckTrackEvent refuses an event.
var ErrTrackRejected = errors.New("pendo would drop this track event")

// CheckTrackEvent reports why Pendo would drop an event while answering
// 200: no name or visitor, a timestamp older than 7 days (or in the
// future), a property name that is not letters, digits and underscores of
// at most 32 characters starting with a letter, or properties over 512
// bytes of JSON.
func CheckTrackEvent(e TrackEvent, now time.Time) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrTrackRejected, fmt.Sprintf(format, args...))
	}
	switch {
	case e.Event == "":
		return fail("no event name")
	case e.VisitorID == "":
		return fail("no visitor id")
	case e.Timestamp.IsZero():
		return fail("no timestamp")
	case now.Sub(e.Timestamp) > TrackMaxAge:
		return fail("timestamp %s is more than 7 days old; Pendo never processes it", e.Timestamp.UTC().Format(time.RFC3339))
	case e.Timestamp.Sub(now) > time.Hour:
		return fail("timestamp %s is in the future", e.Timestamp.UTC().Format(time.RFC3339))
	}
	for name := range e.Properties {
		if !trackPropertyName.MatchString(name) || name == "__x__" {
			return fail("property name %q must be letters, digits and underscores, at most 32, starting with a letter", name)
		}
	}
	raw, err := json.Marshal(e.Properties)
	if err != nil {
		return fail("properties: %v", err)
	}
	if len(raw) > TrackMaxPropertyBytes {
		return fail("properties are %d bytes of JSON; Pendo keeps at most %d", len(raw), TrackMaxPropertyBytes)
	}
	return nil
}

// Track sends one event to the data host with the track secret. Pendo
// takes one event per request and has no idempotency key, so a call is
// retried only after a 429 (nothing was recorded); after a 5xx or a lost
// response it may have been, and the error is returned instead.
func (c *Client) Track(ctx context.Context, e TrackEvent) error {
	if err := CheckTrackEvent(e, c.now()); err != nil {
		return err
	}
	ctxObj := e.Context
	if ctxObj == nil {
		ctxObj = map[string]any{}
	}
	body := map[string]any{"type": "track", "event": e.Event, "visitorId": e.VisitorID, "timestamp": e.Timestamp.UnixMilli(),
		"properties": e.Properties, "context": ctxObj}
	if e.AccountID != "" {
		body["accountId"] = e.AccountID
	}
	if e.Properties == nil {
		body["properties"] = map[string]any{}
	}
	resp, err := c.sendTo(ctx, request{host: c.dataURL, key: c.secret, method: "POST", path: "/data/track", endpoint: "data/track", body: body})
	if err != nil {
		return err
	}
	resp.Close()
	return nil
}

// TrackAll sends events concurrently (workers at once, default 8) under
// the data host's rate limit and returns one error per event (nil when
// sent), in order. It stops sending when ctx is done; unsent events get
// ctx's error.
func (c *Client) TrackAll(ctx context.Context, events []TrackEvent, workers int) []error {
	if workers <= 0 {
		workers = 8
	}
	errs := make([]error, len(events))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = c.Track(ctx, events[i])
			}
		}()
	}
	for i := range events {
		if ctx.Err() != nil {
			for j := i; j < len(events); j++ {
				errs[j] = ctx.Err()
			}
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
