package hubspot

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// EventDefinition is a custom behavioural event definition.
type EventDefinition struct {
	ID            string            `json:"id,omitempty"`
	Name          string            `json:"name"`
	Label         string            `json:"label,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Description   string            `json:"description,omitempty"`
	PrimaryObject string            `json:"primaryObject,omitempty"` // CONTACT (default), COMPANY, DEAL, TICKET
	// IncludeDefaultProperties adds HubSpot's standard event properties
	// (page URL, browser, …); backflow's events carry their own.
	IncludeDefaultProperties bool   `json:"includeDefaultProperties"`
	FullyQualifiedName       string `json:"fullyQualifiedName,omitempty"`
	// PropertyDefinitions on create; Properties on read.
	PropertyDefinitions []EventProperty `json:"propertyDefinitions"`
	Properties          []EventProperty `json:"properties,omitempty"`
}

// EventProperty is one property of an event definition.
type EventProperty struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"` // string, number, enumeration, datetime
}

// CreateEventDefinition defines a custom event; the returned definition's
// FullyQualifiedName (pe<portal>_<name>) is the name events are sent with.
func (c *Client) CreateEventDefinition(ctx context.Context, def EventDefinition) (*EventDefinition, error) {
	if def.PropertyDefinitions == nil {
		def.PropertyDefinitions = []EventProperty{}
	}
	var out EventDefinition
	if err := c.do(ctx, call{method: "POST", path: "/events/v3/event-definitions", body: def, out: &out, idempotent: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// EventDefinitions lists the account's custom event definitions, every
// page of them.
func (c *Client) EventDefinitions(ctx context.Context) ([]EventDefinition, error) {
	var out []EventDefinition
	seen := map[string]bool{}
	after := ""
	for pages := 1; ; pages++ {
		if pages > c.maxPages {
			return nil, fmt.Errorf("hubspot: list event definitions: %w: more than %d pages", ErrBadPage, c.maxPages)
		}
		q := url.Values{"limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var body struct {
			Results *[]EventDefinition `json:"results"`
			Paging  *paging            `json:"paging"`
		}
		if err := c.do(ctx, call{method: "GET", path: "/events/v3/event-definitions", query: q, out: &body, idempotent: true}); err != nil {
			return nil, err
		}
		if body.Results == nil {
			return nil, fmt.Errorf("hubspot: list event definitions: %w: no results array", ErrBadPage)
		}
		out = append(out, *body.Results...)
		next := body.Paging.nextAfter()
		if next == "" {
			return out, nil
		}
		if seen[next] || len(*body.Results) == 0 {
			return nil, fmt.Errorf("hubspot: list event definitions: %w: the cursor %q does not move on", ErrBadPage, next)
		}
		seen[next] = true
		after = next
	}
}

// Event is one custom event occurrence.
type Event struct {
	EventName  string            `json:"eventName"` // the definition's fullyQualifiedName
	ObjectID   string            `json:"objectId,omitempty"`
	Email      string            `json:"email,omitempty"`
	OccurredAt time.Time         `json:"-"`
	UUID       string            `json:"uuid,omitempty"` // HubSpot keeps the first occurrence per uuid for a year
	Properties map[string]string `json:"properties"`
}

// EventSendsPerSecond is HubSpot's limit on custom event sends, which
// count against neither the ten-second window nor the daily budget.
const EventSendsPerSecond = 1250

// MaxEventBatch is the batch send's limit.
const MaxEventBatch = 500

func (e Event) wire() map[string]any {
	m := map[string]any{"eventName": e.EventName, "properties": orEmptyMap(e.Properties)}
	if e.ObjectID != "" {
		m["objectId"] = e.ObjectID
	}
	if e.Email != "" {
		m["email"] = e.Email
	}
	if !e.OccurredAt.IsZero() {
		m["occurredAt"] = e.OccurredAt.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if e.UUID != "" {
		m["uuid"] = e.UUID
	}
	return m
}

// SendEvents sends up to 500 occurrences in one call. HubSpot answers 204
// with no per-event results; one invalid event fails the whole call. With a
// uuid on every event, resending a batch is harmless: HubSpot keeps the
// first occurrence of each uuid.
func (c *Client) SendEvents(ctx context.Context, events []Event) error {
	if len(events) > MaxEventBatch {
		return fmt.Errorf("hubspot: send events: %d events, at most %d per call", len(events), MaxEventBatch)
	}
	inputs := make([]map[string]any, len(events))
	idempotent := true
	for i, e := range events {
		inputs[i] = e.wire()
		idempotent = idempotent && e.UUID != ""
	}
	return c.do(ctx, call{method: "POST", path: "/events/v3/send/batch", body: map[string]any{"inputs": inputs}, idempotent: idempotent, eventSend: true})
}
