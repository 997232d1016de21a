package load

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

	"github.com/backflow-dev/backflow/api/pendo"
)

// Track event fields a sync maps columns to; every other field becomes an
// event property.
const (
	trackEvent     = "event"
	trackVisitor   = "visitorId"
	trackAccount   = "accountId"
	trackTimestamp = "timestamp"
)

// PendoTrack sends model rows as Pendo track events, one per request,
// several at once under the data host's rate limit. Pendo has no
// idempotency key: an event whose answer was lost may be sent again on the
// next run (see docs/pendo.md).
type PendoTrack struct {
	Client *pendo.Client
	Size   int
	// Workers is how many events are in flight at once. Default 8.
	Workers int
	// Now is the clock for the 7-day window (default time.Now).
	Now func() time.Time
}

var (
	_ Destination = (*PendoTrack)(nil)
	_ Checker     = (*PendoTrack)(nil)
)

// Name implements Destination.
func (p *PendoTrack) Name() string { return "pendo track events" }

// BatchSize implements Destination: the rows one run of concurrent sends
// takes, and so at most the events sent again after a crash.
func (p *PendoTrack) BatchSize() int { return max(p.Size, 1) }

// Calls is one request per event: Pendo's track endpoint takes one.
func (p *PendoTrack) Calls(rows int64) int64 { return rows }

// FieldTypes implements Destination: event, visitorId and timestamp are
// required; accountId is optional; any other field is a property.
func (p *PendoTrack) FieldTypes(_ context.Context, fields []string) (map[string]string, error) {
	var missing []string
	for _, req := range []string{trackEvent, trackVisitor, trackTimestamp} {
		if !slices.Contains(fields, req) {
			missing = append(missing, req)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("fields: a track event needs columns mapped to %s", strings.Join(missing, ", "))
	}
	out := map[string]string{}
	for _, f := range fields {
		switch f {
		case trackEvent, trackVisitor, trackAccount:
			out[f] = "string"
		case trackTimestamp:
			out[f] = "time"
		default:
			out[f] = "property"
		}
	}
	return out, nil
}

// ValueSQL implements Destination: ids and the name as strings, the
// timestamp as epoch milliseconds, properties as their JSON values.
func (p *PendoTrack) ValueSQL(col, colType, fieldType string) (string, error) {
	switch fieldType {
	case "string":
		return "CAST(" + col + " AS VARCHAR)", nil
	case "time":
		switch {
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return "epoch_ms(" + col + ")", nil
		case isInteger(colType):
			return "CAST(" + col + " AS BIGINT)", nil // already epoch ms
		}
		return "", fmt.Errorf("a %s column cannot be a track event timestamp: use a TIMESTAMP or TIMESTAMPTZ", colType)
	case "property":
		return col, nil
	}
	return "", fmt.Errorf("track event field type %q is unknown", fieldType)
}

// event builds the track event a row describes.
func (p *PendoTrack) event(values map[string]json.RawMessage) (pendo.TrackEvent, error) {
	var e pendo.TrackEvent
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

func (p *PendoTrack) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Check implements Checker: the events Pendo would answer 200 for and
// silently drop (older than 7 days, properties over 512 bytes, bad
// property names, no visitor).
func (p *PendoTrack) Check(values map[string]json.RawMessage) string {
	e, err := p.event(values)
	if err == nil {
		err = pendo.CheckTrackEvent(e, p.now())
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// Apply implements Destination. A refused event (400) is rejected; one
// whose fate is unknown (5xx, lost answer) is failed and sent again on the
// next run.
func (p *PendoTrack) Apply(ctx context.Context, rows []Row) ([]Outcome, error) {
	events := make([]pendo.TrackEvent, len(rows))
	for i, r := range rows {
		e, err := p.event(r.Values)
		if err != nil {
			return nil, fmt.Errorf("row %s: %w", r.Key, err)
		}
		events[i] = e
	}
	errs := p.Client.TrackAll(ctx, events, p.Workers)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Outcome, len(rows))
	for i, err := range errs {
		var apiErr *pendo.Error
		switch {
		case err == nil:
			out[i] = Outcome{Status: Applied}
		case errors.Is(err, pendo.ErrTrackRejected),
			errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
			out[i] = Outcome{Status: Rejected, Error: err.Error()}
		default:
			out[i] = Outcome{Status: Failed, Error: err.Error()}
		}
	}
	return out, nil
}
