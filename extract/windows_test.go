package extract_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
)

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
			src := &extract.Pendo{Client: c, Tables: []string{"feature_events", "poll_events"}, Incremental: true, HistoryDays: 2, Now: clk.Now}
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

// At every chosen instant, a record changed in the millisecond a read
// starts, or after it, is read by the next run.
func TestHubSpot_ChangesAtTheCursor(t *testing.T) {
	for _, in := range clocktest.Instants {
		t.Run(in.Name, func(t *testing.T) {
			e := newHSEnv(t, "contacts")
			e.clock = in.Time
			a, err := e.emu.CreateObject("contacts", map[string]string{"email": "a@x.com"})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := e.emu.CreateObject("contacts", map[string]string{"email": "b@x.com"})
			e.run()
			// Changed at the very instant the first read started (its
			// cursor), and one millisecond later.
			if err := e.emu.UpdateObject("contacts", a, map[string]string{"firstname": "At"}); err != nil {
				t.Fatal(err)
			}
			e.clock = e.clock.Add(time.Millisecond)
			if err := e.emu.UpdateObject("contacts", b, map[string]string{"firstname": "After"}); err != nil {
				t.Fatal(err)
			}
			e.clock = e.clock.Add(time.Second)
			e.run()
			for id, want := range map[string]string{a: "At", b: "After"} {
				if got := e.query(`SELECT firstname FROM raw_hubspot.contacts WHERE id = ?`, id); got != want {
					t.Errorf("contact %s: firstname %q, want %q", id, got, want)
				}
			}
		})
	}
}
