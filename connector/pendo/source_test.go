package pendo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	connpd "github.com/backflow-dev/backflow/connector/pendo"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/warehouse"
)

func openWarehouse(t *testing.T) *warehouse.Warehouse {
	t.Helper()
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestPendo_FlattenedColumns(t *testing.T) {
	ctx := context.Background()
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k"})
	emu.AddField("visitor", "custom", "plan", "string")
	emu.AddField("visitor", "custom", "seats", "integer")
	emu.AddField("visitor", "custom", "arr", "float")
	emu.AddField("visitor", "custom", "beta", "boolean")
	emu.AddField("visitor", "custom", "renews", "time")
	emu.PutVisitor("v1", map[string]map[string]any{
		"agent":  {"email": "A@x.com"},
		"auto":   {"accountids": []any{"acme", "globex"}},
		"custom": {"plan": "pro", "seats": 12, "arr": 1200.5, "beta": true, "renews": int64(1767225600000)},
	})
	emu.PutVisitor("_PENDO_T_abc", nil)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, _ := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k"})
	w := openWarehouse(t)
	if _, err := extract.Run(ctx, w, "r1", []extract.Source{&connpd.Source{Client: c, Tables: []string{"visitors"}}}, extract.Options{}); err != nil {
		t.Fatal(err)
	}
	var n int
	w.DB().QueryRow(`SELECT count(*) FROM raw_pendo.visitors`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d visitors staged; anonymous visitors must be excluded", n)
	}
	var email, plan string
	var seats int64
	var arr float64
	var beta bool
	var renews time.Time
	var accounts string
	if err := w.DB().QueryRow(`SELECT agent__email, custom__plan, custom__seats, custom__arr, custom__beta, custom__renews, array_to_string(auto__accountids, ',')
		FROM raw_pendo.visitors`).Scan(&email, &plan, &seats, &arr, &beta, &renews, &accounts); err != nil {
		t.Fatal(err)
	}
	if email != "A@x.com" || plan != "pro" || seats != 12 || arr != 1200.5 || !beta || !renews.Equal(time.UnixMilli(1767225600000)) || accounts != "acme,globex" {
		t.Fatalf("values: %q %q %d %v %v %v %q", email, plan, seats, arr, beta, renews, accounts)
	}
}

func TestPendo_IncrementalVisitorsLateEventsAndNPS(t *testing.T) {
	clock := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", RequestsPerSecond: 100_000})
	emu.SetClock(func() time.Time { return clock })
	for i := 0; i < 30; i++ {
		emu.PutVisitor(fmt.Sprintf("v%02d", i), map[string]map[string]any{"agent": {"email": fmt.Sprintf("v%d@x.com", i)}, "auto": {"accountid": "a1"}})
	}
	emu.PutVisitor("_PENDO_T_anon", nil)
	pendotest.GenerateActivity(emu, pendotest.ActivityOptions{Days: 10, NPSRate: 0.9, Now: clock})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, _ := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", RequestsPerSecond: 100_000, TimeZone: newYork(t)})
	src := &connpd.Source{Client: c, Tables: []string{"visitors", "feature_events", "poll_events"}, Incremental: true, HistoryDays: 15,
		EventLookback: 48 * time.Hour, MetadataLookback: time.Minute, Now: func() time.Time { return clock }}
	clock = clock.Add(10 * time.Minute) // the first run starts after the visitors were last updated
	w := openWarehouse(t)
	run := func(id string) []extract.Result {
		res, err := extract.Run(context.Background(), w, id, []extract.Source{src}, extract.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	run("r1")
	count := func(q string) int {
		var n int
		if err := w.DB().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM raw_pendo.visitors`); n != 30 {
		t.Fatalf("%d visitors, want 30 (anonymous excluded)", n)
	}
	if n := count(`SELECT count(*) FROM raw_pendo.visitors WHERE metadata_extra LIKE '%auto__-323232%'`); n == 0 {
		t.Error("the per-app auto group was dropped instead of kept in metadata_extra")
	}
	events := count(`SELECT sum(num_events) FROM raw_pendo.feature_events`)
	if n := count(`SELECT count(*) FROM raw_pendo.nps_responses WHERE score IS NOT NULL`); n == 0 {
		t.Fatal("no NPS responses")
	}
	if n := count(`SELECT count(*) FROM raw_pendo.nps_responses WHERE text IS NOT NULL`); n == 0 {
		t.Fatal("no NPS text joined to a score")
	}
	// Every feature id in the events has its name in the catalog.
	if n := count(`SELECT count(DISTINCT feature_id) FROM raw_pendo.feature_events e
		WHERE NOT EXISTS (SELECT 1 FROM raw_pendo.catalog c WHERE c.kind = 'feature' AND c.id = e.feature_id AND c.name IS NOT NULL)`); n != 0 {
		t.Errorf("%d feature ids without a name in raw_pendo.catalog", n)
	}
	if n := count(`SELECT count(*) FROM raw_pendo.catalog WHERE kind = 'guide' AND id = 'guide-nps'`); n != 1 {
		t.Errorf("the NPS guide is %d times in raw_pendo.catalog, want 1", n)
	}

	// Late data: an event of yesterday arrives after the first run, and
	// one visitor changes.
	clock = clock.Add(6 * time.Hour)
	emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "feat-01", VisitorID: "v01", AccountID: "a1", Time: clock.Add(-30 * time.Hour)})
	emu.PutVisitor("v02", map[string]map[string]any{"agent": {"email": "changed@x.com"}, "auto": {"accountid": "a1"}})
	res := run("r2")
	if r := result(res, "pendo/visitors"); !r.Merged || r.Rows != 1 {
		t.Fatalf("visitors: %v (only the changed visitor should be read)", r)
	}
	if got := count(`SELECT count(*) FROM raw_pendo.visitors WHERE agent__email = 'changed@x.com'`); got != 1 {
		t.Fatal("the changed visitor was not merged")
	}
	if n := count(`SELECT count(*) FROM raw_pendo.visitors`); n != 30 {
		t.Fatalf("%d visitors after the merge, want 30", n)
	}
	if got := count(`SELECT sum(num_events) FROM raw_pendo.feature_events`); got != events+1 {
		t.Fatalf("feature events %d, want %d: the late event was lost or others doubled", got, events+1)
	}
	// Re-extraction is idempotent.
	run("r3")
	if got := count(`SELECT sum(num_events) FROM raw_pendo.feature_events`); got != events+1 {
		t.Fatalf("after a rerun: %d, want %d", got, events+1)
	}
}

func newYork(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// At every chosen instant, a first read stages every event up to the
// instant it starts, in the local day it belongs to; the cursor is that
// instant; a second read a second later stages what happened in between
// once, and nothing twice.
func TestPendo_EventsUpToEachInstant(t *testing.T) {
	ny := newYork(t)
	for _, in := range clocktest.Instants {
		t.Run(in.Name, func(t *testing.T) {
			clk := clock.NewManual(in.Time)
			emu := pendotest.New(pendotest.Options{IntegrationKey: "k", RequestsPerSecond: 100_000, Now: clk.Now})
			for i := 0; i < 20; i++ {
				emu.PutVisitor(fmt.Sprintf("v%02d", i), map[string]map[string]any{"auto": {"accountid": "a1"}})
			}
			if err := pendotest.GenerateActivity(emu, pendotest.ActivityOptions{Days: 3, NPSRate: 0.9}); err != nil {
				t.Fatal(err)
			}
			// The last millisecond before the run, and local midnight.
			y, m, d := in.Time.In(ny).Date()
			for _, at := range []time.Time{in.Time.Add(-time.Millisecond), time.Date(y, m, d, 0, 0, 0, 0, ny)} {
				emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "feat-00", VisitorID: "v01", AccountID: "a1", Time: at},
					pendotest.Activity{Kind: "poll", GuideID: pendotest.NPSGuideID, PollID: pendotest.NPSScorePollID, Response: 9.0, VisitorID: "v02", AccountID: "a1", Time: at})
			}
			srv := httptest.NewServer(emu)
			defer srv.Close()
			c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", RequestsPerSecond: 100_000, TimeZone: ny, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			src := &connpd.Source{Client: c, Tables: []string{"feature_events", "poll_events"}, Incremental: true, HistoryDays: 2, Now: clk.Now}
			w := openWarehouse(t)
			run := func(id string) {
				t.Helper()
				if _, err := extract.Run(context.Background(), w, id, []extract.Source{src}, extract.Options{Now: clk.Now}); err != nil {
					t.Fatal(err)
				}
			}
			count := func(q string) int {
				t.Helper()
				var n int
				if err := w.DB().QueryRow(q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			// What the emulator holds from the first day read to now.
			fy, fm, fd := in.Time.AddDate(0, 0, -2).In(ny).Date()
			first := time.Date(fy, fm, fd, 0, 0, 0, 0, ny)
			held := func(kind string) int {
				n := 0
				for _, a := range emu.Activities(kind) {
					if !a.Time.Before(first) && !a.Time.After(clk.Now()) {
						n++
					}
				}
				return n
			}

			run("r1")
			if got, want := count(`SELECT coalesce(sum(num_events), 0) FROM raw_pendo.feature_events`), held("feature"); got != want {
				t.Errorf("first read: %d feature events staged, the emulator holds %d up to the read", got, want)
			}
			if got, want := count(`SELECT count(*) FROM raw_pendo.poll_events`), held("poll"); got != want {
				t.Errorf("first read: %d poll events staged, the emulator holds %d up to the read", got, want)
			}
			// Every bucket is a local midnight.
			if n := count(`SELECT count(*) FROM raw_pendo.feature_events WHERE strftime(timezone('America/New_York', day), '%H:%M:%S') <> '00:00:00'`); n != 0 {
				t.Errorf("%d rows in buckets that do not start at local midnight", n)
			}
			var cursor string
			if err := w.DB().QueryRow(`SELECT cursor FROM backflow.extract_state WHERE stream = 'pendo/feature_events'`).Scan(&cursor); err != nil {
				t.Fatal(err)
			}
			if c, _ := time.Parse(time.RFC3339Nano, cursor); !c.Equal(in.Time) {
				t.Errorf("cursor %s, want the instant the read started, %s", cursor, in.Time.UTC())
			}

			clk.Advance(500 * time.Millisecond)
			emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "feat-00", VisitorID: "v03", AccountID: "a1", Time: clk.Now()},
				pendotest.Activity{Kind: "poll", GuideID: pendotest.NPSGuideID, PollID: pendotest.NPSScorePollID, Response: 3.0, VisitorID: "v03", AccountID: "a1", Time: clk.Now()})
			clk.Advance(500 * time.Millisecond)
			run("r2")
			if got, want := count(`SELECT coalesce(sum(num_events), 0) FROM raw_pendo.feature_events`), held("feature"); got != want {
				t.Errorf("second read: %d feature events staged, the emulator holds %d", got, want)
			}
			if got, want := count(`SELECT count(*) FROM raw_pendo.poll_events`), held("poll"); got != want {
				t.Errorf("second read: %d poll events staged, the emulator holds %d", got, want)
			}
		})
	}
}

func result(res []extract.Result, stream string) extract.Result {
	for _, r := range res {
		if r.Stream == stream {
			return r
		}
	}
	return extract.Result{}
}
