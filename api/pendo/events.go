package pendo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/api/jsonscan"
)

// AllApps is the appId value that reads every app of a multi-app
// subscription; without it Pendo answers for the default app only.
const AllApps = `expandAppIds("*")`

// MaxPeriods is the most day periods one aggregation call covers: Pendo
// advises against more than 30 days per call. Hourly streams take up to
// 30 days of hours.
const MaxPeriods = 30

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

// EventQuery selects the rows of one stream from the period (day, or hour)
// holding From to the period holding To, both included, with periods in
// the client's time zone. To is usually the present: the period holding
// it is read as far as Pendo has it.
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

// Events reads a stream's rows (see EventQuery), calling fn once per row
// in (time, key) order. The periods are read in calls of at most
// MaxPeriods days; within a call, pages are cut by keyset: sort by time
// and key, filter past the last row seen, limit.
//
// Pendo runs the steps after a time series once per period, so a page
// holds up to PageSize rows of every period. When one period is cut short,
// every row after it in the response is dropped and read again on the
// next page, which starts right after the last row kept: no row is lost
// or repeated, whatever ties the boundary has.
//
// A rolled-up row whose bucket is not the start of a period asked for
// means the client's time zone is not the subscription's: the periods
// would miss part of a day, so Events fails, naming the zone the buckets
// imply, instead of staging a partial read.
func (c *Client) Events(ctx context.Context, q EventQuery, fn func(row json.RawMessage) error) error {
	return c.EventRows(ctx, q, func(row jsonscan.Value) error { return fn(row.Raw()) })
}

// EventRows is Events with each row as a jsonscan.Value, valid during the
// call: a reader of its fields walks the row once.
func (c *Client) EventRows(ctx context.Context, q EventQuery, fn func(row jsonscan.Value) error) error {
	st := q.Stream
	timeField := st.TimeField
	period := "dayRange"
	if st.Hourly {
		period = "hourRange"
	}
	if timeField == "" {
		timeField = "day"
		if st.Hourly {
			timeField = "hour"
		}
	}
	size := q.PageSize
	if size == 0 {
		size = 50_000
	}
	sortKeys := append([]string{timeField}, st.Key...)
	spans := Periods(q.From, q.To, c.loc, st.Hourly)
	for i, sp := range spans {
		if i == len(spans)-1 {
			// One period past the present: empty when the time zones agree;
			// when they do not, it still reaches the subscription's current
			// day, whose rows then show the mismatch (below).
			sp.Count++
		}
		var cursor []any // the sort-key values of the last row kept
		var lastKept []byte
		cuts := 0
		for pages := 1; ; pages++ {
			if pages > c.maxPages {
				return fmt.Errorf("pendo: %s: more than %d pages from %s", st.Source, c.maxPages, sp.First.Format(time.RFC3339))
			}
			src := map[string]any{st.Source: sourceParams(q)}
			src["timeSeries"] = map[string]any{"period": period, "first": sp.First.UnixMilli(), "count": sp.Count}
			pipeline := []Step{{"source": src}}
			if cursor != nil {
				pipeline = append(pipeline, Step{"filter": after(sortKeys, cursor)})
			}
			pipeline = append(pipeline, Step{"sort": sortKeys}, Step{"limit": size})

			var (
				curPeriod int64
				inPeriod  int
				truncated bool
				last      []any
			)
			err := c.aggregate(ctx, pipeline, func(row jsonscan.Value) error {
				if truncated {
					return nil // past a cut period: read again next page
				}
				// A new period starts when the time bucket changes. Guide and
				// poll rows carry no bucket: theirs is the period holding
				// browserTime in the client's time zone.
				ms, err := msField(row, timeField)
				if err != nil {
					return fmt.Errorf("pendo: %s row: %w", st.Source, err)
				}
				p := periodStart(time.UnixMilli(ms), c.loc, st.Hourly).UnixMilli()
				if st.TimeField == "" && p != ms {
					return c.zoneError(st.Source, ms, st.Hourly)
				}
				if inPeriod == 0 || p != curPeriod {
					curPeriod, inPeriod = p, 0
				}
				inPeriod++
				if inPeriod >= size {
					// The next page starts after this row: only its keys are kept.
					truncated = true
					if last, err = sortValues(row.Raw(), sortKeys); err != nil {
						return fmt.Errorf("pendo: %s row: %w", st.Source, err)
					}
				}
				lastKept = append(lastKept[:0], row.Raw()...)
				return fn(row)
			})
			if err != nil && c.resume(ctx, err, &cuts, st.Source) {
				// From the row after the last one kept: nothing read twice.
				if len(lastKept) > 0 {
					if cursor, err = sortValues(lastKept, sortKeys); err != nil {
						return fmt.Errorf("pendo: %s row: %w", st.Source, err)
					}
				}
				continue
			}
			if err != nil {
				return err
			}
			cuts = 0
			if !truncated {
				break
			}
			// A cut page must move the keyset on, or the next one is the same.
			if cursor != nil && fmt.Sprint(last) == fmt.Sprint(cursor) {
				return fmt.Errorf("pendo: %s: paging did not advance past %v", st.Source, cursor)
			}
			cursor = last
		}
	}
	return nil
}

// Span is one aggregation call's time series: Count periods from First.
type Span struct {
	First time.Time
	Count int
}

// Periods lists the periods (days, or hours) in loc from the one holding
// from to the one holding to, both included, cut into spans of at most
// MaxPeriods days. Days follow the calendar, so a day with a DST switch
// is 23 or 25 hours long.
func Periods(from, to time.Time, loc *time.Location, hourly bool) []Span {
	limit := MaxPeriods
	if hourly {
		limit *= 24
	}
	start := periodStart(from, loc, hourly)
	end := nextPeriod(periodStart(to, loc, hourly), loc, hourly)
	var out []Span
	for start.Before(end) {
		sp := Span{First: start}
		for sp.Count < limit && start.Before(end) {
			start = nextPeriod(start, loc, hourly)
			sp.Count++
		}
		out = append(out, sp)
	}
	return out
}

// periodStart is the start of the day (or hour) holding t in loc.
func periodStart(t time.Time, loc *time.Location, hourly bool) time.Time {
	l := t.In(loc)
	if hourly {
		// Counted back from t, not rebuilt from the wall clock, so the
		// repeated hour of a DST switch and half-hour zones come out right.
		return l.Add(-time.Duration(l.Minute())*time.Minute - time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
	}
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// nextPeriod is the start of the period after the one starting at start.
func nextPeriod(start time.Time, loc *time.Location, hourly bool) time.Time {
	if hourly {
		return start.Add(time.Hour)
	}
	l := start.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
}

// msField reads a row's time field: epoch milliseconds.
func msField(row jsonscan.Value, field string) (int64, error) {
	var v jsonscan.Value
	err := row.Members(func(key []byte, value jsonscan.Value) error {
		if string(key) == field {
			v = value
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if v.Kind() == jsonscan.Invalid {
		return 0, fmt.Errorf("no %s, the time in milliseconds", field)
	}
	ms, ok := v.Int()
	if !ok {
		return 0, fmt.Errorf("%s is %s, not a time in milliseconds", field, v.Raw())
	}
	return ms, nil
}

// sortValues reads the sort-key values of the row a page was cut after.
func sortValues(row []byte, keys []string) ([]any, error) {
	var r map[string]any
	dec := json.NewDecoder(bytes.NewReader(row))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	last := make([]any, len(keys))
	for i, k := range keys {
		last[i] = r[k]
	}
	return last, nil
}

// zoneError explains a bucket that does not start a period in the
// client's time zone.
func (c *Client) zoneError(source string, ms int64, hourly bool) error {
	t := time.UnixMilli(ms).UTC()
	unit := "day"
	if hourly {
		unit = "hour"
	}
	// The bucket is a local midnight: its UTC time of day is the offset.
	mins := t.Hour()*60 + t.Minute()
	if mins > 12*60 {
		mins -= 24 * 60
	}
	offset := time.FixedZone("", -mins*60)
	return fmt.Errorf("pendo: %s: Pendo's %s bucket %s is not the start of a %s in time zone %s, so the subscription keeps another time zone "+
		"(UTC%s on that day): set pendo.timezone in backflow.yml to the subscription's (Settings > Subscription settings), e.g. America/New_York: %w",
		source, unit, t.Format(time.RFC3339), unit, c.loc, t.In(offset).Format("-07:00"), ErrTimeZone)
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
