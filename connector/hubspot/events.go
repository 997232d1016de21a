package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/load"
)

// Custom event fields a sync maps columns to; every other field is a
// property of the event definition.
const (
	eventObjectID   = "objectId"
	eventEmail      = "email"
	eventOccurredAt = "occurredAt"
)

// HubSpot's custom event send limits.
const (
	eventMaxProperties = 50
	eventMaxValue      = 256
	eventMaxURLValue   = 1024
)

// events sends model rows as occurrences of one custom behavioural event,
// in batches of up to 500, each with the row's key as its uuid: HubSpot
// keeps the first occurrence of a uuid, so a batch sent twice (a crash, a
// retry) is never counted twice.
type events struct {
	client *api.Client
	// event is the definition's name or fullyQualifiedName.
	event string
	size  int

	fqn   string
	props map[string]string // property name → type
}

var _ load.Destination = (*events)(nil)

// Describe implements load.Destination: the event must be defined;
// objectId or email identifies the record; other fields must be the
// definition's properties.
func (h *events) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	defs, err := h.client.EventDefinitions(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(defs, func(d api.EventDefinition) bool { return d.Name == h.event || d.FullyQualifiedName == h.event })
	if i < 0 {
		return nil, fmt.Errorf("event: HubSpot has no custom event %q; define it first (Data Management > Custom Events)", h.event)
	}
	def := defs[i]
	h.fqn = def.FullyQualifiedName
	h.props = map[string]string{}
	for _, p := range append(def.Properties, def.PropertyDefinitions...) {
		h.props[p.Name] = p.Type
	}
	fields := req.Fields
	if !slices.Contains(fields, eventObjectID) && !slices.Contains(fields, eventEmail) {
		return nil, errors.New("fields: an event needs a column mapped to objectId (the record id) or email (contacts)")
	}
	types := map[string]string{}
	for _, f := range fields {
		switch f {
		case eventObjectID, eventEmail:
			types[f] = "string"
		case eventOccurredAt:
			types[f] = "datetime"
		default:
			t, ok := h.props[f]
			if !ok && !strings.HasPrefix(f, "hs_") {
				return nil, fmt.Errorf("fields: event %s has no property %q", h.event, f)
			}
			types[f] = t
		}
	}
	l := h.client.Limiter()
	pace := load.Pace{PerSecond: l.PerSecond(), DailyLeft: -1}
	if _, remaining, ok := l.Daily(); ok {
		pace.DailyLeft = int64(remaining)
	}
	return &load.Description{Name: "hubspot event " + h.event, Types: types, BatchSize: min(max(h.size, 1), api.MaxEventBatch),
		Pace: pace, Value: eventValueSQL, Check: h.check}, nil
}

// eventValueSQL is load.Description.Value for events: every value is a
// string, datetimes in ISO 8601 UTC.
func eventValueSQL(col, colType, fieldType string) (string, error) {
	if fieldType == "datetime" {
		switch {
		case colType == "DATE":
			return "pendo_time_to_hubspot_datetime(CAST(" + col + " AS TIMESTAMP))", nil
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return "pendo_time_to_hubspot_datetime(" + col + ")", nil
		case load.IsInteger(colType):
			return "pendo_time_to_hubspot_datetime(CAST(" + col + " AS BIGINT))", nil
		}
		return "", fmt.Errorf("a %s column cannot feed a HubSpot datetime: use a TIMESTAMP", colType)
	}
	if fieldType == "number" && !load.IsNumeric(colType) && colType != "VARCHAR" {
		return "", fmt.Errorf("a %s column cannot feed a HubSpot number event property", colType)
	}
	if strings.HasSuffix(colType, "[]") || strings.HasPrefix(colType, "STRUCT") || strings.HasPrefix(colType, "MAP") {
		return "", fmt.Errorf("a %s column cannot feed a HubSpot event property: cast it to VARCHAR in the model", colType)
	}
	return "CAST(" + col + " AS VARCHAR)", nil
}

func (h *events) occurrence(r load.Row) (api.Event, error) {
	e := api.Event{EventName: h.fqn, UUID: r.Key, Properties: map[string]string{}}
	names := make([]string, 0, len(r.Values))
	for k := range r.Values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := r.Values[name]
		if string(raw) == "null" {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return e, fmt.Errorf("field %s is not a string: %s", name, raw)
		}
		switch name {
		case eventObjectID:
			e.ObjectID = v
		case eventEmail:
			e.Email = v
		case eventOccurredAt:
			e.Properties[eventOccurredAt] = v // moved out below
		default:
			e.Properties[name] = v
		}
	}
	return e, nil
}

// check is load.Description.Check with HubSpot's send limits, which
// otherwise fail the whole batch.
func (h *events) check(values map[string]json.RawMessage) string {
	e, err := h.occurrence(load.Row{Values: values})
	if err != nil {
		return err.Error()
	}
	if e.ObjectID == "" && e.Email == "" {
		return "no objectId or email identifies the record"
	}
	delete(e.Properties, eventOccurredAt)
	if len(e.Properties) > eventMaxProperties {
		return fmt.Sprintf("%d properties; HubSpot takes at most %d per event", len(e.Properties), eventMaxProperties)
	}
	for name, v := range e.Properties {
		limit := eventMaxValue
		if strings.Contains(name, "url") || strings.Contains(name, "referrer") {
			limit = eventMaxURLValue
		}
		if len(v) > limit {
			return fmt.Sprintf("%s: the value is %d characters long; HubSpot keeps at most %d", name, len(v), limit)
		}
	}
	return ""
}

// Apply implements load.Destination. HubSpot answers 204 without per-event
// results and refuses a whole batch for one bad event: a 400 is split in
// halves until the bad event is isolated and rejected.
func (h *events) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	batch := make([]api.Event, len(rows))
	for i, r := range rows {
		e, err := h.occurrence(r)
		if err != nil {
			return nil, fmt.Errorf("row %s: %w", r.Key, err)
		}
		if at, ok := e.Properties[eventOccurredAt]; ok {
			delete(e.Properties, eventOccurredAt)
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				return nil, fmt.Errorf("row %s: occurredAt %q: %w", r.Key, at, err)
			}
			e.OccurredAt = t
		}
		batch[i] = e
	}
	return h.send(ctx, batch)
}

func (h *events) send(ctx context.Context, batch []api.Event) ([]load.Outcome, error) {
	return load.Isolate(batch, func(part []api.Event) ([]load.Outcome, string, error) {
		err := h.client.SendEvents(ctx, part)
		var apiErr *api.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && apiErr.Category != "" {
			return nil, apiErr.Category + ": " + apiErr.Message, nil
		}
		if err != nil {
			return nil, "", err
		}
		return load.All(load.Outcome{Status: load.Applied}, len(part)), "", nil
	})
}
