package load

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

	"github.com/backflow-dev/backflow/api/hubspot"
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

// HubSpotEvents sends model rows as occurrences of one custom behavioural
// event, in batches of up to 500, each with the row's key as its uuid:
// HubSpot keeps the first occurrence of a uuid, so a batch sent twice (a
// crash, a retry) is never counted twice.
type HubSpotEvents struct {
	Client *hubspot.Client
	// Event is the definition's name or fullyQualifiedName.
	Event string
	Size  int

	fqn   string
	props map[string]string // property name → type
}

var (
	_ Destination = (*HubSpotEvents)(nil)
	_ Checker     = (*HubSpotEvents)(nil)
)

// Name implements Destination.
func (h *HubSpotEvents) Name() string { return "hubspot event " + h.Event }

// BatchSize implements Destination.
func (h *HubSpotEvents) BatchSize() int { return min(max(h.Size, 1), hubspot.MaxEventBatch) }

// FieldTypes implements Destination: the event must be defined; objectId
// or email identifies the record; other fields must be the definition's
// properties.
func (h *HubSpotEvents) FieldTypes(ctx context.Context, fields []string) (map[string]string, error) {
	defs, err := h.Client.EventDefinitions(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(defs, func(d hubspot.EventDefinition) bool { return d.Name == h.Event || d.FullyQualifiedName == h.Event })
	if i < 0 {
		return nil, fmt.Errorf("event: HubSpot has no custom event %q; define it first (Data Management > Custom Events)", h.Event)
	}
	def := defs[i]
	h.fqn = def.FullyQualifiedName
	h.props = map[string]string{}
	for _, p := range append(def.Properties, def.PropertyDefinitions...) {
		h.props[p.Name] = p.Type
	}
	if !slices.Contains(fields, eventObjectID) && !slices.Contains(fields, eventEmail) {
		return nil, errors.New("fields: an event needs a column mapped to objectId (the record id) or email (contacts)")
	}
	out := map[string]string{}
	for _, f := range fields {
		switch f {
		case eventObjectID, eventEmail:
			out[f] = "string"
		case eventOccurredAt:
			out[f] = "datetime"
		default:
			t, ok := h.props[f]
			if !ok && !strings.HasPrefix(f, "hs_") {
				return nil, fmt.Errorf("fields: event %s has no property %q", h.Event, f)
			}
			out[f] = t
		}
	}
	return out, nil
}

// ValueSQL implements Destination: every value is a string, datetimes in
// ISO 8601 UTC.
func (h *HubSpotEvents) ValueSQL(col, colType, fieldType string) (string, error) {
	if fieldType == "datetime" {
		switch {
		case colType == "DATE":
			return "pendo_time_to_hubspot_datetime(CAST(" + col + " AS TIMESTAMP))", nil
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return "pendo_time_to_hubspot_datetime(" + col + ")", nil
		case isInteger(colType):
			return "pendo_time_to_hubspot_datetime(CAST(" + col + " AS BIGINT))", nil
		}
		return "", fmt.Errorf("a %s column cannot feed a HubSpot datetime: use a TIMESTAMP", colType)
	}
	if fieldType == "number" && !isNumeric(colType) && colType != "VARCHAR" {
		return "", fmt.Errorf("a %s column cannot feed a HubSpot number event property", colType)
	}
	if strings.HasSuffix(colType, "[]") || strings.HasPrefix(colType, "STRUCT") || strings.HasPrefix(colType, "MAP") {
		return "", fmt.Errorf("a %s column cannot feed a HubSpot event property: cast it to VARCHAR in the model", colType)
	}
	return "CAST(" + col + " AS VARCHAR)", nil
}

func (h *HubSpotEvents) event(r Row) (hubspot.Event, error) {
	e := hubspot.Event{EventName: h.fqn, UUID: r.Key, Properties: map[string]string{}}
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

// Check implements Checker with HubSpot's send limits, which otherwise
// fail the whole batch.
func (h *HubSpotEvents) Check(values map[string]json.RawMessage) string {
	e, err := h.event(Row{Values: values})
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

// Apply implements Destination. HubSpot answers 204 without per-event
// results and refuses a whole batch for one bad event: a 400 is split in
// halves until the bad event is isolated and rejected.
func (h *HubSpotEvents) Apply(ctx context.Context, rows []Row) ([]Outcome, error) {
	events := make([]hubspot.Event, len(rows))
	for i, r := range rows {
		e, err := h.event(r)
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
		events[i] = e
	}
	return h.send(ctx, events)
}

func (h *HubSpotEvents) send(ctx context.Context, events []hubspot.Event) ([]Outcome, error) {
	return isolate(events, func(events []hubspot.Event) ([]Outcome, string, error) {
		err := h.Client.SendEvents(ctx, events)
		var apiErr *hubspot.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && apiErr.Category != "" {
			return nil, apiErr.Category + ": " + apiErr.Message, nil
		}
		if err != nil {
			return nil, "", err
		}
		return repeat(Outcome{Status: Applied}, len(events)), "", nil
	})
}
