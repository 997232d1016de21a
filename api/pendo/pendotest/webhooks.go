package pendotest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// URL webhooks (shared/reference/pendo-segments-webhooks.md §4), set from
// Go as an admin sets them in Settings > Integrations > Webhooks: one
// JSON object per POST, timestamp in epoch seconds, a 40-hex uniqueId.
// The emulator sends trackEventReceived for each track event its data
// host accepts or Record adds, and guideDisplayed, npsSubmitted and
// pollSubmitted for the guide views and poll answers Record adds (the
// living sandbox's). Unconfirmed by Pendo, so chosen and documented
// (docs/emulators.md): the event's name and properties are under
// properties.name and properties.properties; no retries (Pendo states
// no delivery guarantee: at most once); a signature header only when a
// secret is set.

// Webhook is one URL webhook's settings.
type Webhook struct {
	URL string
	// Secret, when set, signs each delivery: hex HMAC-SHA256 of the body
	// in X-Pendo-Signature.
	Secret         string
	SubscriptionID int64
	HTTPClient     *http.Client
}

type hookState struct {
	cfg     *Webhook
	pending [][]byte
	n       int
	// sent and failed count deliveries.
	sent, failed int
}

// SetWebhook replaces the URL webhook; nil stops deliveries.
func (s *Server) SetWebhook(w *Webhook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = hookState{cfg: w}
}

// hookTrack queues a trackEventReceived delivery. Called with s.mu held.
func (s *Server) hookTrack(event, visitor, account string, at time.Time, props map[string]any) {
	s.hookEvent("trackEventReceived", visitor, account, at, map[string]any{"name": event, "properties": props})
}

// hookActivity queues the delivery a recorded guide view or poll answer
// makes: guideDisplayed, npsSubmitted (the NPS score poll), or
// pollSubmitted. Called with s.mu held.
func (s *Server) hookActivity(a Activity) {
	switch {
	case a.Kind == "guide" && a.GuideType == "guideSeen":
		s.hookEvent("guideDisplayed", a.VisitorID, a.AccountID, a.Time, map[string]any{"guideId": a.GuideID, "guideStepId": a.GuideStepID})
	case a.Kind == "poll" && a.PollID == NPSScorePollID:
		s.hookEvent("npsSubmitted", a.VisitorID, a.AccountID, a.Time, map[string]any{"guideId": a.GuideID, "guideStepId": a.GuideStepID,
			"nps": map[string]any{"rating": a.Response, "source": "web"}})
	case a.Kind == "poll":
		s.hookEvent("pollSubmitted", a.VisitorID, a.AccountID, a.Time, map[string]any{"guideId": a.GuideID, "guideStepId": a.GuideStepID,
			"pollId": a.PollID, "response": a.Response})
	}
}

// hookEvent queues one delivery. Called with s.mu held.
func (s *Server) hookEvent(name, visitor, account string, at time.Time, props map[string]any) {
	h := &s.hooks
	if h.cfg == nil {
		return
	}
	h.n++
	id := sha1.Sum(fmt.Appendf(nil, "%d/%s/%s/%d", h.n, name, visitor, at.UnixMilli()))
	body, err := json.Marshal(map[string]any{
		"app":          map[string]any{"id": DefaultAppID, "name": "Sandbox", "platform": "web"},
		"subscription": map[string]any{"id": h.cfg.SubscriptionID, "name": "Sandbox"},
		"event":        name, "visitorId": visitor, "accountId": account,
		"timestamp": at.Unix(), "uniqueId": hex.EncodeToString(id[:]),
		"properties": props,
	})
	if err != nil {
		return // props came from JSON: they marshal
	}
	h.pending = append(h.pending, body)
}

// WebhookCounts are the deliveries answered 2xx and the others (not
// retried).
func (s *Server) WebhookCounts() (sent, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks.sent, s.hooks.failed
}

// DeliverWebhooks posts every queued delivery once, in order.
func (s *Server) DeliverWebhooks(ctx context.Context) int {
	s.mu.Lock()
	cfg, due := s.hooks.cfg, s.hooks.pending
	s.hooks.pending = nil
	s.mu.Unlock()
	if cfg == nil {
		return 0
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ok := 0
	for _, body := range due {
		req, err := http.NewRequestWithContext(ctx, "POST", cfg.URL, bytes.NewReader(body))
		if err != nil {
			return ok
		}
		req.Header.Set("Content-Type", "application/json")
		if cfg.Secret != "" {
			mac := hmac.New(sha256.New, []byte(cfg.Secret))
			mac.Write(body)
			req.Header.Set("X-Pendo-Signature", hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := client.Do(req)
		sent := err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
		if err == nil {
			resp.Body.Close()
		}
		s.mu.Lock()
		if sent {
			s.hooks.sent++
			ok++
		} else {
			s.hooks.failed++
		}
		s.mu.Unlock()
	}
	return ok
}
