package pendo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
)

func TestPeriods(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	type span struct {
		first string // RFC 3339 in the zone
		count int
	}
	tests := []struct {
		name     string
		from, to string
		loc      *time.Location
		hourly   bool
		want     []span
		lengths  []time.Duration // of each period, when checked
	}{
		{name: "30s_after_local_midnight", from: "2026-12-01T16:00:30-05:00", to: "2026-12-02T00:00:30-05:00", loc: ny,
			want: []span{{"2026-12-01T00:00:00-05:00", 2}}},
		{name: "30s_before_local_midnight", from: "2026-12-01T15:59:30-05:00", to: "2026-12-01T23:59:30-05:00", loc: ny,
			want: []span{{"2026-12-01T00:00:00-05:00", 1}}},
		{name: "dst_starts_23h_day", from: "2027-03-13T12:00:00-05:00", to: "2027-03-14T23:59:30-04:00", loc: ny,
			want: []span{{"2027-03-13T00:00:00-05:00", 2}}, lengths: []time.Duration{24 * time.Hour, 23 * time.Hour}},
		{name: "dst_ends_25h_day", from: "2027-11-06T18:00:00-04:00", to: "2027-11-07T01:30:00-05:00", loc: ny,
			want: []span{{"2027-11-06T00:00:00-04:00", 2}}, lengths: []time.Duration{24 * time.Hour, 25 * time.Hour}},
		{name: "month_end", from: "2027-02-28T15:59:30-05:00", to: "2027-03-01T00:00:30-05:00", loc: ny,
			want: []span{{"2027-02-28T00:00:00-05:00", 2}}},
		{name: "year_end", from: "2026-12-31T15:59:30-05:00", to: "2027-01-01T00:00:30-05:00", loc: ny,
			want: []span{{"2026-12-31T00:00:00-05:00", 2}}},
		{name: "utc_midnight_is_local_evening", from: "2026-12-01T16:00:30Z", to: "2026-12-02T00:00:30Z", loc: ny,
			want: []span{{"2026-12-01T00:00:00-05:00", 1}}},
		{name: "utc_days", from: "2026-12-01T16:00:30Z", to: "2026-12-02T00:00:30Z", loc: time.UTC,
			want: []span{{"2026-12-01T00:00:00Z", 2}}},
		{name: "61_days_in_three_calls", from: "2026-10-01T12:00:00-04:00", to: "2026-11-30T12:00:00-05:00", loc: ny,
			want: []span{{"2026-10-01T00:00:00-04:00", 30}, {"2026-10-31T00:00:00-04:00", 30}, {"2026-11-30T00:00:00-05:00", 1}}},
		{name: "at_midnight_exactly", from: "2026-12-02T00:00:00-05:00", to: "2026-12-02T00:00:00-05:00", loc: ny,
			want: []span{{"2026-12-02T00:00:00-05:00", 1}}},
		{name: "from_after_to", from: "2026-12-02T00:00:00-05:00", to: "2026-12-01T00:00:00-05:00", loc: ny},
		{name: "hourly_repeated_hour", from: "2027-11-07T00:30:00-04:00", to: "2027-11-07T01:30:00-05:00", loc: ny, hourly: true,
			want: []span{{"2027-11-07T00:00:00-04:00", 3}}, lengths: []time.Duration{time.Hour, time.Hour, time.Hour}},
		{name: "hourly_half_hour_zone", from: "2026-12-01T10:45:00+05:30", to: "2026-12-01T11:10:00+05:30", loc: mustLoc(t, "Asia/Kolkata"), hourly: true,
			want: []span{{"2026-12-01T10:00:00+05:30", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pendo.Periods(at(tt.from), at(tt.to), tt.loc, tt.hourly)
			var have []span
			for _, sp := range got {
				have = append(have, span{sp.First.In(tt.loc).Format(time.RFC3339), sp.Count})
			}
			if !slices.Equal(have, tt.want) {
				t.Fatalf("Periods = %v, want %v", have, tt.want)
			}
			if tt.lengths != nil {
				// Each period ends where the next local day (or hour) starts.
				start := got[0].First
				for i, want := range tt.lengths {
					next := start.Add(want)
					if l := next.In(tt.loc); !tt.hourly && (l.Hour() != 0 || l.Minute() != 0) {
						t.Errorf("period %d (%s) does not last %v: it would end at %s", i, start.In(tt.loc), want, l)
					}
					start = next
				}
			}
		})
	}
}

// At every chosen instant, a read up to the present holds every row up to
// it, in the local day it belongs to, and nothing is dropped at a day,
// month, year or DST boundary.
func TestClient_EventsUpToThePresent(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	for _, in := range clocktest.Instants {
		t.Run(in.Name, func(t *testing.T) {
			now := in.Time
			emu := pendotest.New(pendotest.Options{IntegrationKey: key, RequestsPerSecond: 10_000})
			emu.SetClock(func() time.Time { return now })
			y, m, d := now.In(ny).Date()
			midnight := time.Date(y, m, d, 0, 0, 0, 0, ny)
			moments := map[string]time.Time{
				"10s_ago":                   now.Add(-10 * time.Second),
				"1ms_ago":                   now.Add(-time.Millisecond),
				"now":                       now,
				"local_midnight":            midnight,
				"1ms_before_local_midnight": midnight.Add(-time.Millisecond),
				"yesterday_noon":            time.Date(y, m, d-1, 12, 0, 0, 0, ny),
				"two_days_ago":              time.Date(y, m, d-2, 12, 0, 0, 0, ny),
				"in_an_hour":                now.Add(time.Hour), // not yet: a clock skew somewhere
			}
			for name, at := range moments {
				emu.PutVisitor(name, nil)
				emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "f1", VisitorID: name, Time: at},
					pendotest.Activity{Kind: "poll", GuideID: "g1", PollID: "p1", GuideType: "pollResponse", Response: 7.0, VisitorID: name, Time: at})
			}
			srv := serve(t, emu)
			c, err := pendo.New(pendo.Config{BaseURL: srv.URL, HTTPClient: srv.Client, IntegrationKey: key, TimeZone: ny, RequestsPerSecond: 10_000, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			from := now.Add(-26 * time.Hour)
			for _, stream := range []string{"featureEvents", "pollEvents"} {
				st := pendo.Streams[stream]
				q := pendo.EventQuery{Stream: st, From: from, To: now, PageSize: 2}
				got := map[string]int64{} // visitor → bucket (day) or browserTime
				err := c.Events(context.Background(), q, func(raw json.RawMessage) error {
					var r struct {
						VisitorID   string `json:"visitorId"`
						Day         int64  `json:"day"`
						BrowserTime int64  `json:"browserTime"`
					}
					if err := json.Unmarshal(raw, &r); err != nil {
						return err
					}
					if _, dup := got[r.VisitorID]; dup {
						return fmt.Errorf("%s read twice", r.VisitorID)
					}
					got[r.VisitorID] = r.Day + r.BrowserTime
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				fy, fm, fd := from.In(ny).Date()
				start := time.Date(fy, fm, fd, 0, 0, 0, 0, ny)
				for name, at := range moments {
					v, read := got[name]
					switch {
					case at.Before(start):
						if read {
							t.Errorf("%s: %s (%s) is before the first day read, yet was read", stream, name, at)
						}
					case at.After(now):
						// In today's bucket: read or not, both are fine.
					case !read:
						t.Errorf("%s: %s (%s) was not read", stream, name, at.In(ny))
					case stream == "featureEvents":
						ay, am, ad := at.In(ny).Date()
						if want := time.Date(ay, am, ad, 0, 0, 0, 0, ny).UnixMilli(); v != want {
							t.Errorf("%s: %s in bucket %s, want %s", stream, name, time.UnixMilli(v).In(ny), time.UnixMilli(want).In(ny))
						}
					case v != at.UnixMilli():
						t.Errorf("%s: %s at %d, want %d", stream, name, v, at.UnixMilli())
					}
				}
			}
		})
	}
}

// A client whose time zone is not the subscription's would ask for
// periods that miss part of a day: the first rolled-up row says so.
func TestClient_EventsWrongTimeZone(t *testing.T) {
	now := clocktest.Named("afternoon")
	emu := pendotest.New(pendotest.Options{IntegrationKey: key}) // New York
	emu.SetClock(func() time.Time { return now })
	emu.PutVisitor("v1", nil)
	emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "f1", VisitorID: "v1", Time: now.Add(-time.Hour)})
	srv := serve(t, emu)
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, HTTPClient: srv.Client, IntegrationKey: key}) // UTC
	if err != nil {
		t.Fatal(err)
	}
	q := pendo.EventQuery{Stream: pendo.Streams["featureEvents"], From: now.Add(-time.Hour), To: now}
	err = c.Events(context.Background(), q, func(json.RawMessage) error { return nil })
	if !errors.Is(err, pendo.ErrTimeZone) {
		t.Fatalf("err = %v, want ErrTimeZone", err)
	}
	t.Log(err)
}
