package hubspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/connector"
)

var _ connector.Receiver = (*session)(nil)

// Receives implements connector.Receiver: the block has webhooks.
func (s *session) Receives() bool { return s.cfg.Webhooks != nil }

// Receive implements connector.Receiver: a delivery signed with the app's
// client secret (v3, else v1), each notification a change of the object
// stream it names.
func (s *session) Receive(d connector.Delivery) ([]connector.Change, error) {
	if s.cfg.Webhooks == nil {
		return nil, fmt.Errorf("hubspot: %w: the hubspot block has no webhooks", connector.ErrUnauthenticated)
	}
	secret := s.env.Secret(s.cfg.Webhooks.ClientSecretEnv)
	if err := api.Verify(secret, d.Header.Get, d.Method, d.URL, d.Body, d.Now); err != nil {
		if secret == "" {
			err = fmt.Errorf("%w (set %s)", err, s.cfg.Webhooks.ClientSecretEnv)
		}
		return nil, fmt.Errorf("hubspot: %w: %w", connector.ErrUnauthenticated, err)
	}
	ns, err := api.ParseNotifications(d.Body)
	if err != nil {
		return nil, fmt.Errorf("hubspot: %w", err)
	}
	out := make([]connector.Change, len(ns))
	for i, n := range ns {
		raw, err := json.Marshal(n)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("hubspot: notification %d", i), err)
		}
		id := n.ObjectID
		if id == 0 {
			id = n.FromObjectID
		}
		out[i] = connector.Change{Key: n.DedupeKey(), Kind: n.Type(), Stream: notificationStream(n), RecordID: strconv.FormatInt(id, 10),
			OccurredAt: n.Time(), Payload: raw}
	}
	return out, nil
}

// notificationStream is the stream a notification's object is staged by:
// contact.* → hubspot/contacts, object.* by its objectTypeId; "" for a
// type backflow stages none of (conversations, products).
func notificationStream(n api.Notification) string {
	kind, _, _ := strings.Cut(n.Type(), ".")
	switch kind {
	case "contact", "company", "deal", "ticket":
		kind = map[string]string{"contact": "contacts", "company": "companies", "deal": "deals", "ticket": "tickets"}[kind]
	case "object":
		kind = map[string]string{"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets", "0-27": "tasks"}[n.ObjectTypeID]
	default:
		kind = ""
	}
	if kind == "" {
		return ""
	}
	return "hubspot/" + kind
}
