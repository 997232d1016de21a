package pendo

import (
	"crypto/subtle"
	"fmt"
	"net/url"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/connector"
)

var _ connector.Receiver = (*session)(nil)

// webhookStreams is the stream each of Pendo's webhook event names
// touches (shared/reference/pendo-segments-webhooks.md §4.4: the URL
// webhooks' names, and the Segment-format ones). An unknown name is
// stored with no stream, never refused.
var webhookStreams = map[string]string{
	"trackEventReceived": "pendo/track_events",
	"npsSubmitted":       "pendo/poll_events", "NPSSubmitted": "pendo/poll_events",
	"pollSubmitted":  "pendo/poll_events",
	"guideDisplayed": "pendo/guide_events", "guideSeen": "pendo/guide_events",
	"featureClicked": "pendo/feature_events",
	"pageLoaded":     "pendo/page_events",
	"visitorCreated": "pendo/visitors", "visitorFirstSeen": "pendo/visitors",
	"accountCreated": "pendo/accounts", "accountFirstSeen": "pendo/accounts",
}

// Receives implements connector.Receiver: the block has webhooks.
func (s *session) Receives() bool { return s.cfg.Webhooks != nil }

// Receive implements connector.Receiver: the URL's token (and, when a
// signing secret is set, the body's signature) must match; the event is
// one change, keyed by Pendo's uniqueId.
func (s *session) Receive(d connector.Delivery) ([]connector.Change, error) {
	wh := s.cfg.Webhooks
	if wh == nil {
		return nil, fmt.Errorf("pendo: %w: the pendo block has no webhooks", connector.ErrUnauthenticated)
	}
	want := s.env.Secret(wh.TokenEnv)
	u, err := url.Parse(d.URL)
	if err != nil {
		return nil, fmt.Errorf("pendo: webhook URL: %w", err)
	}
	got := u.Query().Get("token")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		why := "the URL's token does not match"
		if want == "" {
			why = "no token is configured (set " + wh.TokenEnv + ")"
		}
		return nil, fmt.Errorf("pendo: %w: %s", connector.ErrUnauthenticated, why)
	}
	if wh.SigningSecretEnv != "" {
		if err := api.VerifySignature(s.env.Secret(wh.SigningSecretEnv), d.Body, d.Header.Get(wh.SignatureHeader)); err != nil {
			return nil, fmt.Errorf("pendo: %w: %w", connector.ErrUnauthenticated, err)
		}
	}
	e, err := api.ParseWebhookEvent(d.Body)
	if err != nil {
		return nil, fmt.Errorf("pendo: %w", err)
	}
	record := e.VisitorID
	if st := webhookStreams[e.Event]; st == "pendo/accounts" {
		record = e.AccountID
	}
	return []connector.Change{{Key: e.UniqueID, Kind: e.Event, Stream: webhookStreams[e.Event], RecordID: record,
		OccurredAt: e.Time(), Payload: d.Body}}, nil
}
