package hubspot

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Timeline events v3 are open only to public apps that already had
// timeline templates; new apps are pointed at other APIs. backflow
// supports them as an option; custom behavioural events are the default.

// TimelineTemplate is an app's event template.
type TimelineTemplate struct {
	ID             string          `json:"id,omitempty"`
	Name           string          `json:"name"`
	ObjectType     string          `json:"objectType"` // contacts, companies, deals, tickets
	HeaderTemplate string          `json:"headerTemplate,omitempty"`
	DetailTemplate string          `json:"detailTemplate,omitempty"`
	Tokens         []TimelineToken `json:"tokens"`
}

// TimelineToken is one template token.
type TimelineToken struct {
	Name               string   `json:"name"`
	Label              string   `json:"label"`
	Type               string   `json:"type"` // string, number, date, enumeration
	Options            []Option `json:"options"`
	ObjectPropertyName string   `json:"objectPropertyName,omitempty"`
}

// CreateTimelineTemplate creates a template with the app's developer API
// key (an app-level call, not a portal token).
func (c *Client) CreateTimelineTemplate(ctx context.Context, appID int, developerKey string, t TimelineTemplate) (*TimelineTemplate, error) {
	if t.Tokens == nil {
		t.Tokens = []TimelineToken{}
	}
	for i := range t.Tokens {
		if t.Tokens[i].Options == nil {
			t.Tokens[i].Options = []Option{}
		}
	}
	var out TimelineTemplate
	path := "/integrators/timeline/v3/" + strconv.Itoa(appID) + "/event-templates"
	if err := c.do(ctx, call{method: "POST", path: path, query: url.Values{"hapikey": {developerKey}}, body: t, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// TimelineEvent is one timeline event. ID makes it idempotent per record:
// HubSpot refuses an id already used.
type TimelineEvent struct {
	ID              string            `json:"id,omitempty"`
	EventTemplateID string            `json:"eventTemplateId"`
	ObjectID        string            `json:"objectId,omitempty"`
	Email           string            `json:"email,omitempty"`
	Timestamp       time.Time         `json:"-"`
	Tokens          map[string]string `json:"tokens"`
}

// CreateTimelineEvents creates up to 100 events and reconciles the answer
// per input by event id: one Result per input, in order.
func (c *Client) CreateTimelineEvents(ctx context.Context, events []TimelineEvent) ([]Result, error) {
	if len(events) > MaxBatch {
		return nil, fmt.Errorf("hubspot: timeline events: %d events, at most %d per call", len(events), MaxBatch)
	}
	inputs := make([]map[string]any, len(events))
	for i, e := range events {
		m := map[string]any{"eventTemplateId": e.EventTemplateID, "tokens": orEmptyMap(e.Tokens)}
		if e.ID != "" {
			m["id"] = e.ID
		}
		if e.ObjectID != "" {
			m["objectId"] = e.ObjectID
		}
		if e.Email != "" {
			m["email"] = e.Email
		}
		if !e.Timestamp.IsZero() {
			m["timestamp"] = e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		inputs[i] = m
	}
	var resp batchResponse
	var status int
	// Events with ids are safe to resend: a duplicate is refused, not doubled.
	if err := c.do(ctx, call{method: "POST", path: "/integrators/timeline/v3/events/batch/create", body: map[string]any{"inputs": inputs},
		out: &resp, idempotent: true, status: &status}); err != nil {
		return nil, err
	}
	out := make([]Result, len(events))
	byID := map[string]int{}
	for i, e := range events {
		byID[e.ID] = i
	}
	for k := range resp.Results {
		if i, ok := byID[resp.Results[k].ID]; ok {
			out[i] = Result{Object: &resp.Results[k]}
		}
	}
	for _, e := range resp.Errors {
		for _, id := range e.Context["id"] {
			if i, ok := byID[id]; ok {
				out[i] = Result{Err: &RowError{Index: i, ID: id, Status: status, Category: e.Category, Message: e.Message}}
			}
		}
	}
	for i := range out {
		if out[i].Object == nil && out[i].Err == nil {
			out[i] = Result{Err: &RowError{Index: i, ID: events[i].ID, Status: status, Category: "UNRECONCILED", Message: "HubSpot's answer named neither a result nor an error for this event (send events with ids)"}}
		}
	}
	return out, nil
}
