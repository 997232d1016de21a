package pendo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/load"
)

// Track event fields a sync maps columns to; every other field becomes an
// event property.
const (
	trackEvent     = "event"
	trackVisitor   = "visitorId"
	trackAccount   = "accountId"
	trackTimestamp = "timestamp"
)

// track sends model rows as Pendo track events, one per request, several
// at once under the data host's rate limit. Pendo has no idempotency key:
// an event whose answer was lost may be sent again on the next run (see
// docs/pendo.md).
type track struct {
	client *api.Client
	size   int
	// workers is how many events are in flight at once; 0 is the
	// client's default.
	workers int
	// now is the clock for the 7-day window.
	now func() time.Time
}

var _ load.Destination = (*track)(nil)

// Describe implements load.Destination: event, visitorId and timestamp
// are required; accountId is optional; any other field is a property. A
// batch is the rows one run of concurrent sends takes, and so at most the
// events sent again after a crash; each is a call of its own.
func (p *track) Describe(_ context.Context, req load.Request) (*load.Description, error) {
	var missing []string
	for _, f := range []string{trackEvent, trackVisitor, trackTimestamp} {
		if !slices.Contains(req.Fields, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("fields: a track event needs columns mapped to %s", strings.Join(missing, ", "))
	}
	types := map[string]string{}
	for _, f := range req.Fields {
		switch f {
		case trackEvent, trackVisitor, trackAccount:
			types[f] = "string"
		case trackTimestamp:
			types[f] = "time"
		default:
			types[f] = "property"
		}
	}
	return &load.Description{Name: "pendo track events", Types: types, BatchSize: max(p.size, 1), RowsPerCall: 1,
		Pace: load.Pace{PerSecond: p.client.PerSecond(), DailyLeft: -1}, Value: trackValueSQL, Check: p.check}, nil
}

// trackValueSQL is load.Description.Value for track events: ids and the
// name as strings, the timestamp as epoch milliseconds, properties as
// their JSON values.
func trackValueSQL(col, colType, fieldType string) (string, error) {
	switch fieldType {
	case "string":
		return "CAST(" + col + " AS VARCHAR)", nil
	case "time":
		switch {
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return "epoch_ms(" + col + ")", nil
		case load.IsInteger(colType):
			return "CAST(" + col + " AS BIGINT)", nil // already epoch ms
		}
		return "", fmt.Errorf("a %s column cannot be a track event timestamp: use a TIMESTAMP or TIMESTAMPTZ", colType)
	case "property":
		return col, nil
	}
	return "", fmt.Errorf("track event field type %q is unknown", fieldType)
}

// event builds the track event a row describes.
func (p *track) event(values map[string]json.RawMessage) (api.TrackEvent, error) {
	var e api.TrackEvent
	str := func(name string, dst *string) error {
		raw, ok := values[name]
		if !ok || string(raw) == "null" {
			return nil
		}
		return json.Unmarshal(raw, dst)
	}
	if err := errors.Join(str(trackEvent, &e.Event), str(trackVisitor, &e.VisitorID), str(trackAccount, &e.AccountID)); err != nil {
		return e, err
	}
	if raw, ok := values[trackTimestamp]; ok && string(raw) != "null" {
		var ms int64
		if err := json.Unmarshal(raw, &ms); err != nil {
			return e, fmt.Errorf("timestamp: %w", err)
		}
		e.Timestamp = time.UnixMilli(ms)
	}
	for name, raw := range values {
		switch name {
		case trackEvent, trackVisitor, trackAccount, trackTimestamp:
			continue
		}
		if string(raw) == "null" {
			continue // an absent property, not a null one
		}
		if e.Properties == nil {
			e.Properties = map[string]any{}
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return e, fmt.Errorf("property %s: %w", name, err)
		}
		e.Properties[name] = v
	}
	return e, nil
}

// check is load.Description.Check: the events Pendo would answer 200 for
// and silently drop (older than 7 days, properties over 512 bytes, bad
// property names, no visitor).
func (p *track) check(values map[string]json.RawMessage) string {
	e, err := p.event(values)
	if err == nil {
		err = api.CheckTrackEvent(e, p.now())
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// Apply implements load.Destination. A refused event (400) is rejected; one
// whose fate is unknown (5xx, lost answer) is failed and sent again on the
// next run.
func (p *track) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	events := make([]api.TrackEvent, len(rows))
	for i, r := range rows {
		e, err := p.event(r.Values)
		if err != nil {
			return nil, fmt.Errorf("row %s: %w", r.Key, err)
		}
		events[i] = e
	}
	errs := p.client.TrackAll(ctx, events, p.workers)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]load.Outcome, len(rows))
	for i, err := range errs {
		var apiErr *api.Error
		switch {
		case err == nil:
			out[i] = load.Outcome{Status: load.Applied}
		case errors.Is(err, api.ErrTrackRejected),
			errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
			out[i] = load.Outcome{Status: load.Rejected, Error: err.Error()}
		default:
			out[i] = load.Outcome{Status: load.Failed, Error: err.Error()}
		}
	}
	return out, nil
}
