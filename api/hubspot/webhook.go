package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook deliveries (shared/reference/hubspot-lists-webhooks.md §6–7): a
// POST whose body is a JSON array of notifications, signed with the app's
// client secret.

// Headers HubSpot signs a delivery with.
const (
	HeaderSignatureV3 = "X-HubSpot-Signature-v3"
	HeaderTimestamp   = "X-HubSpot-Request-Timestamp"
	HeaderSignature   = "X-HubSpot-Signature" // v1 (or v2, by X-HubSpot-Signature-Version)
	HeaderSigVersion  = "X-HubSpot-Signature-Version"
)

// SignatureMaxAge is how old a v3 timestamp may be (HubSpot: 5 minutes).
const SignatureMaxAge = 5 * time.Minute

// MaxNotifications is the most notifications one delivery may carry:
// HubSpot sends up to 100; more is not HubSpot.
const MaxNotifications = 100

// ErrSignature is a delivery that is not HubSpot's: a missing, wrong or
// stale signature.
var ErrSignature = errors.New("hubspot webhook: bad signature")

// Notification is one event of a delivery. HubSpot names its type
// subscriptionType in real traffic, eventType in one guide: both read.
type Notification struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int64  `json:"subscriptionId"`
	PortalID         int64  `json:"portalId"`
	AppID            int64  `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"` // epoch ms
	SubscriptionType string `json:"subscriptionType"`
	EventType        string `json:"eventType"`
	AttemptNumber    int    `json:"attemptNumber"`
	ObjectID         int64  `json:"objectId"`
	ObjectTypeID     string `json:"objectTypeId"` // generic (object.*) subscriptions
	PropertyName     string `json:"propertyName"`
	PropertyValue    string `json:"propertyValue"`
	ChangeSource     string `json:"changeSource"`
	ChangeFlag       string `json:"changeFlag"`
	SourceID         string `json:"sourceId"`
	// Merges and association changes.
	PrimaryObjectID    int64   `json:"primaryObjectId"`
	MergedObjectIDs    []int64 `json:"mergedObjectIds"`
	NewObjectID        int64   `json:"newObjectId"`
	AssociationType    string  `json:"associationType"`
	FromObjectID       int64   `json:"fromObjectId"`
	ToObjectID         int64   `json:"toObjectId"`
	AssociationRemoved bool    `json:"associationRemoved"`
}

// Type is the notification's type: "contact.propertyChange".
func (n Notification) Type() string {
	if n.SubscriptionType != "" {
		return n.SubscriptionType
	}
	return n.EventType
}

// Time is when the change happened.
func (n Notification) Time() time.Time { return time.UnixMilli(n.OccurredAt).UTC() }

// DedupeKey identifies the change whatever the delivery attempt: HubSpot
// says eventId is not guaranteed unique, so the key is the subscription,
// object, property, time and value.
func (n Notification) DedupeKey() string {
	return fmt.Sprintf("%d/%s/%d/%s/%d/%s", n.SubscriptionID, n.Type(), n.ObjectID, n.PropertyName, n.OccurredAt, n.PropertyValue)
}

// ParseNotifications decodes a delivery's body: a JSON array of at most
// MaxNotifications notifications, each with a type and an object.
func ParseNotifications(body []byte) ([]Notification, error) {
	var ns []Notification
	if err := json.Unmarshal(body, &ns); err != nil {
		return nil, fmt.Errorf("hubspot webhook: body is not a JSON array of notifications: %w", err)
	}
	if len(ns) > MaxNotifications {
		return nil, fmt.Errorf("hubspot webhook: %d notifications in one delivery; HubSpot sends at most %d", len(ns), MaxNotifications)
	}
	for i, n := range ns {
		if n.Type() == "" || (n.ObjectID == 0 && n.FromObjectID == 0) || n.OccurredAt <= 0 {
			return nil, fmt.Errorf("hubspot webhook: notification %d: want subscriptionType, objectId and occurredAt", i)
		}
	}
	return ns, nil
}

// SignV3 is the v3 signature of a delivery: base64 HMAC-SHA256, keyed by
// the app's client secret, of method + uri + body + timestamp (ms).
func SignV3(secret, method, uri string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method + uri))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignV1 is the v1 signature: hex SHA-256 of secret + body.
func SignV1(secret string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// v3Unescapes are the percent-escapes HubSpot decodes in the URI before
// signing.
var v3Unescapes = strings.NewReplacer("%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
	"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";")

// Verify checks a delivery's signature: v3 when its headers are there (a
// timestamp at most SignatureMaxAge old, and not in the future by more
// than that), else v1. uri is the public URL HubSpot called (scheme,
// host, path and query), not the one a proxy forwarded. The comparison
// takes constant time.
func Verify(secret string, header func(string) string, method, uri string, body []byte, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("%w: no client secret is configured", ErrSignature)
	}
	if sig := header(HeaderSignatureV3); sig != "" {
		ts := header(HeaderTimestamp)
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: timestamp %q is not epoch milliseconds", ErrSignature, ts)
		}
		if age := now.Sub(time.UnixMilli(ms)); age > SignatureMaxAge || age < -SignatureMaxAge {
			return fmt.Errorf("%w: timestamp is %s from now, outside %s", ErrSignature, age.Round(time.Second), SignatureMaxAge)
		}
		want := SignV3(secret, method, v3Unescapes.Replace(uri), body, ts)
		if !hmac.Equal([]byte(sig), []byte(want)) {
			return fmt.Errorf("%w: v3 signature does not match", ErrSignature)
		}
		return nil
	}
	sig := header(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("%w: no signature header", ErrSignature)
	}
	if v := header(HeaderSigVersion); v != "" && v != "v1" {
		return fmt.Errorf("%w: signature version %q without a v3 signature", ErrSignature, v)
	}
	// v1 signs no time: a replay is stopped by the queue's dedupe key only.
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(SignV1(secret, body))) {
		return fmt.Errorf("%w: v1 signature does not match", ErrSignature)
	}
	return nil
}
