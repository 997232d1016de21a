package pendo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AllApps is the appId value that reads every app of a multi-app
// subscription; without it Pendo answers for the default app only.
const AllApps = `expandAppIds("*")`

// MaxWindow is the longest time range one aggregation call covers; Pendo
// advises against more than 30 days per call.
const MaxWindow = 30 * 24 * time.Hour

// Stream describes an event source and the key that identifies its rows.
type Stream struct {
	// Source is the aggregation source: events, featureEvents, pageEvents,
	// trackEvents, guideEvents or pollEvents.
	Source string
	// Key lists the row fields that, with the time bucket, identify a row,
	// in sort order.
	Key []string
	// TimeField is the field that orders rows in time: day or hour for
	// rolled-up sources, browserTime for guide and poll events.
	TimeField string
	// Hourly uses hourRange periods instead of dayRange.
	Hourly bool
}

// Streams are the event sources backflow reads.
var Streams = map[string]Stream{
	"events":        {Source: "events", Key: []string{"visitorId", "accountId", "appId"}},
	"featureEvents": {Source: "featureEvents", Key: []string{"visitorId", "accountId", "appId", "featureId"}},
	"pageEvents":    {Source: "pageEvents", Key: []string{"visitorId", "accountId", "appId", "pageId"}},
	"trackEvents":   {Source: "trackEvents", Key: []string{"visitorId", "accountId", "appId", "trackTypeId"}},
	"guideEvents":   {Source: "guideEvents", TimeField: "browserTime", Key: []string{"visitorId", "guideId", "guideStepId", "type"}},
	"pollEvents":    {Source: "pollEvents", TimeField: "browserTime", Key: []string{"visitorId", "guideId", "pollId"}},
}

// EventQuery selects the rows of one stream in [From, To).
type EventQuery struct {
	Stream   Stream
	From, To time.Time
	// AllApps reads every app of the subscription.
	AllApps bool
	// Params adds source parameters (featureId, trackTypeId, guideId, …).
	Params map[string]any
	// PageSize bounds the rows of one period in one call; default 50,000.
	PageSize int
}

// Events reads a stream's rows in [From, To), calling fn once per row in
// (time, key) order. The range is read in windows of at most 30 days;
// within a window, pages are cut by keyset: sort by time and key, filter
// past the last row seen, limit.
//
// Pendo runs the steps after a time series once per period, so a page
// holds up to PageSize rows of every period. When one period is cut short,
// every row after it in the response is dropped and read again on the
// next page, which starts right after the last row kept: no row is lost
// or repeated, whatever ties the boundary has.
func (c *Client) Events(ctx context.Context, q EventQuery, fn func(row json.RawMessage) error) error {
	st := q.Stream
	timeField := st.TimeField
	period := "dayRange"
	unit := 24 * time.Hour
	if timeField == "" {
		timeField = "day"
		if st.Hourly {
			timeField, period, unit = "hour", "hourRange", time.Hour
		}
	}
	size := q.PageSize
	if size == 0 {
		size = 50_000
	}
	sortKeys := append([]string{timeField}, st.Key...)
	for from := q.From; from.Before(q.To); from = from.Add(MaxWindow) {
		to := minTime(from.Add(MaxWindow), q.To)
		periods := int((to.Sub(from) + unit - 1) / unit)
		var cursor []any // the sort-key values of the last row kept
		for {
			src := map[string]any{st.Source: sourceParams(q)}
			src["timeSeries"] = map[string]any{"period": period, "first": from.UnixMilli(), "count": periods}
			pipeline := []Step{{"source": src}}
			if cursor != nil {
				pipeline = append(pipeline, Step{"filter": after(sortKeys, cursor)})
			}
			pipeline = append(pipeline, Step{"sort": sortKeys}, Step{"limit": size})

			var (
				curPeriod any
				inPeriod  int
				truncated bool
				last      []any
			)
			err := c.Aggregate(ctx, pipeline, func(raw json.RawMessage) error {
				if truncated {
					return nil // past a cut period: read again next page
				}
				var r map[string]any
				dec := json.NewDecoder(strings.NewReader(string(raw)))
				dec.UseNumber()
				if err := dec.Decode(&r); err != nil {
					return fmt.Errorf("pendo: %s row: %w", st.Source, err)
				}
				// A new period starts when the time bucket changes. Guide and
				// poll rows carry no bucket: theirs is the day (or hour) of
				// browserTime in the subscription's time zone.
				p := r[timeField]
				if st.TimeField != "" {
					p = c.bucket(r[timeField], st.Hourly)
				}
				if inPeriod == 0 || p != curPeriod {
					curPeriod, inPeriod = p, 0
				}
				inPeriod++
				last = make([]any, len(sortKeys))
				for i, k := range sortKeys {
					last[i] = r[k]
				}
				if inPeriod >= size {
					truncated = true
				}
				return fn(raw)
			})
			if err != nil {
				return err
			}
			if !truncated {
				break
			}
			cursor = last
		}
	}
	return nil
}

func sourceParams(q EventQuery) map[string]any {
	params := map[string]any{}
	for k, v := range q.Params {
		params[k] = v
	}
	if q.AllApps {
		params["appId"] = AllApps
	}
	if len(params) == 0 {
		return nil
	}
	return params
}

// after renders the keyset filter "rows strictly after cursor" in sort
// order: a > x || (a == x && (b > y || (b == y && …))).
func after(keys []string, cursor []any) string {
	var b strings.Builder
	for i, k := range keys {
		v := literal(cursor[i])
		if i == len(keys)-1 {
			fmt.Fprintf(&b, "%s > %s", k, v)
			break
		}
		fmt.Fprintf(&b, "%s > %s || (%s == %s && (", k, v, k, v)
	}
	for i := 0; i < len(keys)-1; i++ {
		b.WriteString("))")
	}
	return b.String()
}

// literal renders a JSON value as a filter literal.
func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return Quote(fmt.Sprint(v))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Catalog lists the rows of a catalog source (features, pages, guides,
// trackTypes) across every app when allApps is set.
func (c *Client) Catalog(ctx context.Context, source string, allApps bool) ([]map[string]any, error) {
	var params any
	if allApps {
		params = map[string]any{"appId": AllApps}
	}
	var out []map[string]any
	err := c.Aggregate(ctx, []Step{{"source": map[string]any{source: params}}}, func(raw json.RawMessage) error {
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// bucket is the start of the day (or hour) holding a millisecond time, in
// the subscription's time zone.
func (c *Client) bucket(v any, hourly bool) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	ms, err := n.Int64()
	if err != nil {
		return v
	}
	t := time.UnixMilli(ms).In(c.loc)
	if hourly {
		return t.Truncate(time.Hour).UnixMilli()
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.loc).UnixMilli()
}
