package pendo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Webhook deliveries (shared/reference/pendo-segments-webhooks.md §4): one
// JSON object per POST, its timestamp in epoch seconds, uniqueId the
// event's own id. Pendo documents no signing: backflow takes an optional
// shared secret, checked as HMAC-SHA256 of the raw body in a header
// (default X-Pendo-Signature), and an unguessable path token.

// HeaderSignature is where a signed delivery carries its HMAC.
const HeaderSignature = "X-Pendo-Signature"

// ErrSignature is a delivery whose signature is missing or wrong.
var ErrSignature = errors.New("pendo webhook: bad signature")

// WebhookEvent is one delivery.
type WebhookEvent struct {
	Event     string `json:"event"` // npsSubmitted, trackEventReceived, …
	VisitorID string `json:"visitorId"`
	AccountID string `json:"accountId"`
	Timestamp int64  `json:"timestamp"` // epoch seconds
	UniqueID  string `json:"uniqueId"`
	App       struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		Platform string `json:"platform"`
	} `json:"app"`
	Subscription struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"subscription"`
	// Properties are the event's own (guide, NPS rating, track event
	// properties), kept raw.
	Properties json.RawMessage `json:"properties"`
}

// Time is when the event happened.
func (e WebhookEvent) Time() time.Time { return time.Unix(e.Timestamp, 0).UTC() }

var uniqueID = regexp.MustCompile(`^[0-9a-fA-F]{16,64}$`)

// ParseWebhookEvent decodes a delivery: an object with an event name, a
// uniqueId and a timestamp in seconds (a millisecond value is refused: it
// would be read as a date thousands of years ahead).
func ParseWebhookEvent(body []byte) (WebhookEvent, error) {
	var e WebhookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("pendo webhook: body is not a JSON object: %w", err)
	}
	switch {
	case e.Event == "":
		return e, errors.New("pendo webhook: no event name")
	case !uniqueID.MatchString(e.UniqueID):
		return e, fmt.Errorf("pendo webhook: uniqueId %q is not Pendo's hex id", e.UniqueID)
	case e.Timestamp <= 0 || e.Timestamp > 1e11:
		return e, fmt.Errorf("pendo webhook: timestamp %d is not epoch seconds", e.Timestamp)
	}
	return e, nil
}

// Sign is a delivery's signature: hex HMAC-SHA256 of the body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks sig (hex, optionally "sha256="-prefixed) against
// the body, in constant time.
func VerifySignature(secret string, body []byte, sig string) error {
	sig = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(sig)), "sha256=")
	if sig == "" {
		return fmt.Errorf("%w: no signature", ErrSignature)
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, body))) {
		return fmt.Errorf("%w: signature does not match", ErrSignature)
	}
	return nil
}
