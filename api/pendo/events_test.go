package pendo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

var clock = time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)

// activityPair seeds visitors (one with quotes and a backslash in its id)
// and 50 days of activity, with a second app.
func activityPair(t *testing.T, cfg pendo.Config) (*pendotest.Server, *pendo.Client) {
	t.Helper()
	emu := pendotest.New(pendotest.Options{IntegrationKey: key, TrackSecret: "track-secret", RequestsPerSecond: 10_000})
	emu.SetClock(func() time.Time { return clock })
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("v%02d", i)
		if i == 7 {
			id = `v"07\quoted`
		}
		emu.PutVisitor(id, map[string]map[string]any{"auto": {"accountid": fmt.Sprintf("a%d", i%4)}})
	}
	if err := pendotest.GenerateActivity(emu, pendotest.ActivityOptions{Days: 50, NPSRate: 0.9}); err != nil {
		t.Fatal(err)
	}
	emu.AddApp(pendotest.App{ID: 77, Name: "Mobile", Platform: "ios"})
	emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "feat-mobile", VisitorID: "v01", AccountID: "a1", AppID: 77, Time: clock.Add(-2 * time.Hour)})
	srv := serve(t, emu)
	cfg.BaseURL, cfg.IntegrationKey, cfg.HTTPClient = srv.URL, key, srv.Client
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = 5 * time.Millisecond
	}
	cfg.RequestsPerSecond = 10_000
	if cfg.TimeZone == nil {
		cfg.TimeZone = mustLoc(t, "America/New_York") // the emulator's
	}
	cfg.Now = func() time.Time { return clock }
	c, err := pendo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func keyOf(t *testing.T, st pendo.Stream, raw json.RawMessage) string {
	t.Helper()
	var r map[string]any
	json.Unmarshal(raw, &r)
	tf := st.TimeField
	if tf == "" {
		tf = "day"
	}
	parts := []string{fmt.Sprint(r[tf])}
	for _, k := range st.Key {
		parts = append(parts, fmt.Sprint(r[k]))
	}
	return strings.Join(parts, "|")
}

// Tiny pages force cuts inside periods, at ties, and across windows; every
// row must come exactly once, the same rows an unpaged read gives.
func TestClient_EventsPaging(t *testing.T) {
	tests := []struct {
		stream   string
		pageSize int
	}{
		{"featureEvents", 3},
		{"pageEvents", 1},
		{"events", 5},
		{"trackEvents", 2},
		{"pollEvents", 2},
		{"guideEvents", 1},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			_, c := activityPair(t, pendo.Config{TimeZone: mustLoc(t, "America/New_York")})
			st := pendo.Streams[tt.stream]
			q := pendo.EventQuery{Stream: st, From: clock.AddDate(0, 0, -45), To: clock}
			want := map[string]int{}
			if err := c.Events(context.Background(), q, func(r json.RawMessage) error { want[keyOf(t, st, r)]++; return nil }); err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatal("no rows at all")
			}
			q.PageSize = tt.pageSize
			got := map[string]int{}
			if err := c.Events(context.Background(), q, func(r json.RawMessage) error { got[keyOf(t, st, r)]++; return nil }); err != nil {
				t.Fatal(err)
			}
			for k, n := range got {
				if n != 1 {
					t.Errorf("row %s read %d times", k, n)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("paged read found %d rows, unpaged %d", len(got), len(want))
			}
		})
	}
}

func TestClient_EventsAllApps(t *testing.T) {
	_, c := activityPair(t, pendo.Config{})
	count := func(all bool) (n int, mobile int) {
		q := pendo.EventQuery{Stream: pendo.Streams["featureEvents"], From: clock.Add(-24 * time.Hour), To: clock.Add(time.Hour), AllApps: all}
		err := c.Events(context.Background(), q, func(r json.RawMessage) error {
			n++
			if strings.Contains(string(r), "feat-mobile") {
				mobile++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, m := count(false); m != 0 {
		t.Error("the second app's rows came without expandAppIds")
	}
	if _, m := count(true); m != 1 {
		t.Errorf("expandAppIds found %d rows of the second app, want 1", m)
	}
}

func TestClient_Catalog(t *testing.T) {
	_, c := activityPair(t, pendo.Config{})
	guides, err := c.Catalog(context.Background(), "guides", false)
	if err != nil {
		t.Fatal(err)
	}
	var nps map[string]any
	for _, g := range guides {
		if g["id"] == pendotest.NPSGuideID {
			nps = g
		}
	}
	if polls, _ := nps["polls"].([]any); len(polls) != 2 {
		t.Fatalf("NPS guide = %v", nps)
	}
}

func TestCheckTrackEvent(t *testing.T) {
	now := clock
	ok := pendo.TrackEvent{Event: "Report Exported", VisitorID: "v1", Timestamp: now.Add(-time.Hour), Properties: map[string]any{"plan": "pro"}}
	tests := []struct {
		name   string
		mutate func(*pendo.TrackEvent)
		want   string
	}{
		{"valid", func(*pendo.TrackEvent) {}, ""},
		{"no_name", func(e *pendo.TrackEvent) { e.Event = "" }, "no event name"},
		{"no_visitor", func(e *pendo.TrackEvent) { e.VisitorID = "" }, "no visitor id"},
		{"eight_days_old", func(e *pendo.TrackEvent) { e.Timestamp = now.Add(-8 * 24 * time.Hour) }, "more than 7 days old"},
		{"future", func(e *pendo.TrackEvent) { e.Timestamp = now.Add(48 * time.Hour) }, "in the future"},
		{"bad_property_name", func(e *pendo.TrackEvent) { e.Properties = map[string]any{"plan-name": "x"} }, "property name"},
		{"long_property_name", func(e *pendo.TrackEvent) { e.Properties = map[string]any{strings.Repeat("a", 33): "x"} }, "property name"},
		{"properties_too_big", func(e *pendo.TrackEvent) { e.Properties = map[string]any{"notes": strings.Repeat("x", 520)} }, "bytes of JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mutate(&e)
			err := pendo.CheckTrackEvent(e, now)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, pendo.ErrTrackRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestClient_TrackAll(t *testing.T) {
	synctest.Test(t, testTrackAll)
}

func testTrackAll(t *testing.T) {
	emu, c := activityPair(t, pendo.Config{TrackSecret: "track-secret"})
	now := clock
	var events []pendo.TrackEvent
	for i := 0; i < 30; i++ {
		events = append(events, pendo.TrackEvent{Event: "Warehouse Sync", VisitorID: fmt.Sprintf("v%02d", i%10), AccountID: "a1",
			Timestamp: now.Add(-time.Duration(i) * time.Minute), Properties: map[string]any{"rows": i}})
	}
	events = append(events, pendo.TrackEvent{Event: "Old", VisitorID: "v01", Timestamp: now.Add(-10 * 24 * time.Hour)})
	emu.FailNext(429, 429) // refused before anything was recorded: retried
	errs := c.TrackAll(context.Background(), events, 4)
	for i, err := range errs[:30] {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if !errors.Is(errs[30], pendo.ErrTrackRejected) {
		t.Fatalf("an event Pendo would drop was sent: %v", errs[30])
	}
	if n := emu.TrackReceived(); n != 30 {
		t.Fatalf("data host received %d events, want 30", n)
	}
	// They show up in trackEvents: the half hour they span is read from
	// its start to the present, whatever day buckets it straddles.
	total := 0
	q := pendo.EventQuery{Stream: pendo.Streams["trackEvents"], From: now.Add(-30 * time.Minute), To: now}
	err := c.Events(context.Background(), q, func(r json.RawMessage) error {
		var row struct {
			NumEvents   int    `json:"numEvents"`
			TrackTypeID string `json:"trackTypeId"`
		}
		json.Unmarshal(r, &row)
		if row.TrackTypeID == trackType(t, c, "Warehouse Sync") {
			total += row.NumEvents
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 30 {
		t.Errorf("trackEvents holds %d of the 30 events", total)
	}
	// A 5xx is not retried: the event may have been recorded.
	emu.FailNext(503)
	if err := c.Track(context.Background(), events[0]); err == nil {
		t.Error("a 503 on a track event was retried or ignored")
	}
	srv := serve(t, emu)
	bad, _ := pendo.New(pendo.Config{BaseURL: srv.URL, HTTPClient: srv.Client, IntegrationKey: key, TrackSecret: "wrong", Now: func() time.Time { return clock }})
	var apiErr *pendo.Error
	if err := bad.Track(context.Background(), events[0]); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestClient_MetadataExtras(t *testing.T) {
	emu := pendotest.New(pendotest.Options{IntegrationKey: key, ReadOnlyKey: "ro", BulkRowsPerCall: 3})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, _ := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: key})
	ctx := context.Background()
	if err := c.CreateField(ctx, pendo.Visitor, "Churn_Risk", "float", "Churn risk"); err != nil {
		t.Fatal(err)
	}
	var apiErr *pendo.Error
	if err := c.CreateField(ctx, pendo.Visitor, "churn_risk", "float", ""); !errors.As(err, &apiErr) || apiErr.Status != 409 {
		t.Errorf("duplicate field: %v", err)
	}
	var updates []pendo.Update
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("v%d", i)
		emu.PutVisitor(id, nil)
		updates = append(updates, pendo.Update{ID: id, Values: map[string]json.RawMessage{"churn_risk": json.RawMessage(`0.5`)}})
	}
	// Ten rows exceed what one call processes in time (3 here): 408, split.
	out, err := c.UpdateMetadata(ctx, pendo.Visitor, "custom", updates, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o.Status != pendo.Updated {
			t.Errorf("row %d: %v %s", i, o.Status, o.Error)
		}
	}
	if err := c.SetValue(ctx, pendo.Visitor, "custom", "v1", "churn_risk", json.RawMessage(`0.9`)); err != nil {
		t.Fatal(err)
	}
	if md, _ := emu.Visitor("v1"); md["custom"]["churn_risk"] != 0.9 {
		t.Errorf("v1 churn_risk = %v", md["custom"]["churn_risk"])
	}
	ro, _ := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "ro"})
	if w, err := ro.Verify(ctx); err != nil || w {
		t.Errorf("read-only key: write=%v err=%v", w, err)
	}
	if w, err := c.Verify(ctx); err != nil || !w {
		t.Errorf("write key: write=%v err=%v", w, err)
	}
}

func mustLoc(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no zoneinfo for %s", name)
	}
	return loc
}

func TestClient_AccountsAndCatalogs(t *testing.T) {
	emu, c := activityPair(t, pendo.Config{})
	emu.PutAccount("a0", map[string]map[string]any{"agent": {"name": "Acme"}})
	emu.PutAccount("a1", nil)
	var accounts []string
	if err := c.Accounts(context.Background(), pendo.ListOptions{PageSize: 1}, func(e *pendo.Entity) error {
		accounts = append(accounts, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 2 || accounts[0] != "a0" {
		t.Fatalf("accounts = %v", accounts)
	}
	for _, src := range []string{"features", "pages", "guides", "trackTypes"} {
		rows, err := c.Catalog(context.Background(), src, true)
		if err != nil || len(rows) == 0 {
			t.Errorf("%s: %d rows, %v", src, len(rows), err)
		}
	}
}

func TestClient_PendoFaults(t *testing.T) {
	for _, faults := range [][]int{{500}, {502, 503}, {0}, {0, 502, 429}} {
		t.Run(fmt.Sprint(faults), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				emu, c := newPair(t, pendotest.Options{}, pendo.Config{})
				emu.FailNext(faults...)
				if _, err := c.Schema(context.Background(), pendo.Visitor); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
	synctest.Test(t, func(t *testing.T) {
		emu, c := newPair(t, pendotest.Options{}, pendo.Config{MaxRetries: 2})
		emu.FailNext(502, 502, 502)
		var apiErr *pendo.Error
		if _, err := c.Schema(context.Background(), pendo.Visitor); !errors.As(err, &apiErr) || apiErr.Status != 502 || strings.Contains(apiErr.Message, "<") {
			t.Fatalf("after retries: %v (HTML bodies must not leak into messages)", err)
		}
	})
}

// TestClient_RateLimitStorm: under a storm of 429s every call is retried
// past the second's window and succeeds.
func TestClient_RateLimitStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emu, c := newPair(t, pendotest.Options{Faults: pendotest.Faults{RateLimitRate: 0.3, Seed: 9}}, pendo.Config{MaxRetries: 20})
		for range 30 {
			if _, err := c.Schema(context.Background(), pendo.Visitor); err != nil {
				t.Fatal(err)
			}
		}
		if emu.Faulted() == 0 {
			t.Error("expected 429s")
		}
	})
}

// trackType is the id Pendo gave a track event name.
func trackType(t *testing.T, c *pendo.Client, name string) string {
	t.Helper()
	types, err := c.Catalog(context.Background(), "trackTypes", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range types {
		if tt["name"] == name {
			return fmt.Sprint(tt["id"])
		}
	}
	t.Fatalf("no track type %q", name)
	return ""
}

// TestClient_CutAnswersResumed: the emulator cuts aggregation answers
// mid-stream, inside a row and between rows; each read asks again from
// the row after the last one it kept and ends with every row exactly once.
func TestClient_CutAnswersResumed(t *testing.T) {
	for _, stream := range []string{"featureEvents", "pollEvents", "visitors"} {
		t.Run(stream, func(t *testing.T) {
			emu, c := activityPair(t, pendo.Config{})
			read := func() map[string]int {
				got := map[string]int{}
				if stream == "visitors" {
					if err := c.Visitors(context.Background(), pendo.ListOptions{PageSize: 15}, func(e *pendo.Entity) error { got[e.ID]++; return nil }); err != nil {
						t.Fatal(err)
					}
					return got
				}
				st := pendo.Streams[stream]
				q := pendo.EventQuery{Stream: st, From: clock.AddDate(0, 0, -45), To: clock, PageSize: 7}
				if err := c.Events(context.Background(), q, func(r json.RawMessage) error { got[keyOf(t, st, r)]++; return nil }); err != nil {
					t.Fatal(err)
				}
				return got
			}
			want := read()
			emu.CutOn("aggregation", 700, 1, 2500, -1, 90)
			got := read()
			if emu.Cuts() == 0 {
				t.Fatal("no answer was cut")
			}
			for k, n := range got {
				if n != 1 {
					t.Errorf("row %s read %d times", k, n)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("read %d rows after %d cuts, want %d", len(got), emu.Cuts(), len(want))
			}
		})
	}
}
