package pendo

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// trackNow is the present of the track event tests: Pendo's 7-day window
// is measured from it.
var trackNow = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)

type trackHarness struct {
	t    *testing.T
	emu  *pendotest.Server
	w    *warehouse.Warehouse
	dest *track
	sync load.Spec
	runs int
}

func newTrackHarness(t *testing.T, faults pendotest.Faults) *trackHarness {
	t.Helper()
	h := &trackHarness{t: t}
	now := func() time.Time { return trackNow }
	h.emu = pendotest.New(pendotest.Options{IntegrationKey: key, TrackSecret: "s", Faults: faults, Now: now})
	srv := httptest.NewServer(h.emu)
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), TrackSecret: "s", MaxRetries: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	h.dest = &track{client: c, size: 4, now: now}
	h.w, err = warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{RunStartedAt: trackNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.w.Close() })
	h.sync = load.Spec{Name: "milestones", File: "syncs/milestones.yml", Model: "milestones", Key: "event_key", Mode: "events", OnRemove: "ignore", Fields: []load.Field{{Column: "name", Field: "event"}, {Column: "visitor", Field: "visitorId"}, {Column: "at", Field: "timestamp"},
		{Column: "plan", Field: "plan"}, {Column: "seats", Field: "seats"}}}
	return h
}

// model makes n events e0..e(n-1) an hour old, plus the given extra rows.
func (h *trackHarness) model(n int, extra string) {
	h.t.Helper()
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE models.milestones AS
		SELECT 'e' || i AS event_key, 'Trial Milestone' AS name, 'v' || (i %% 3) AS visitor,
			run_started_at() - INTERVAL 1 HOUR AS at, 'pro' AS plan, i AS seats FROM range(%d) t(i) %s`, n, extra)
	if _, err := h.w.DB().Exec(q); err != nil {
		h.t.Fatal(err)
	}
}

func (h *trackHarness) run() load.Result {
	h.t.Helper()
	h.runs++
	res, err := load.Sync(context.Background(), h.w, fmt.Sprint("r", h.runs), h.sync, h.dest)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// seats returns how many times each event (by its seats property) arrived.
func (h *trackHarness) seats() map[string]int {
	out := map[string]int{}
	for _, a := range h.emu.Tracked() {
		out[fmt.Sprint(a.Properties["seats"])]++
	}
	return out
}

func TestPendoTrack_SentOnce(t *testing.T) {
	h := newTrackHarness(t, pendotest.Faults{})
	h.model(10, "")
	p, err := load.NewPlan(context.Background(), h.w, h.sync, h.dest, load.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Calls() != 10 {
		t.Fatalf("10 events take %d calls, want one each", p.Calls())
	}
	p.Close()
	if r := h.run(); r.Added != 10 || r.Applied != 10 {
		t.Fatalf("first: %v", r)
	}
	if r := h.run(); r.Added+r.Applied != 0 {
		t.Fatalf("rerun sent events again: %v", r)
	}
	// A sent event whose columns change is not sent again; one that leaves
	// the model and comes back is not either; a new one is.
	if _, err := h.w.DB().Exec(`UPDATE models.milestones SET plan = 'team'`); err != nil {
		t.Fatal(err)
	}
	if r := h.run(); r.Applied != 0 {
		t.Fatalf("a changed event was resent: %v", r)
	}
	h.model(5, "")
	h.run()
	h.model(11, "")
	if r := h.run(); r.Added != 1 || r.Applied != 1 {
		t.Fatalf("after events left and came back: %v", r)
	}
	// A full resync does not resend events either.
	p, err = load.NewPlan(context.Background(), h.w, h.sync, h.dest, load.PlanOptions{FullResync: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 0 {
		t.Fatalf("a full resync would send %d events again", p.Pending())
	}
	p.Close()
	got := h.seats()
	for i := 0; i < 11; i++ {
		if got[fmt.Sprint(i)] != 1 {
			t.Fatalf("event e%d arrived %d times; all: %v", i, got[fmt.Sprint(i)], got)
		}
	}
}

func TestPendoTrack_Rejections(t *testing.T) {
	h := newTrackHarness(t, pendotest.Faults{})
	h.model(2, `UNION ALL SELECT 'old', 'Trial Milestone', 'v1', run_started_at() - INTERVAL 8 DAY, 'pro', 100
		UNION ALL SELECT 'big', 'Trial Milestone', 'v1', run_started_at(), repeat('x', 600), 101
		UNION ALL SELECT 'anon', 'Trial Milestone', NULL, run_started_at(), 'pro', 102`)
	r := h.run()
	if r.Applied != 2 || r.Rejected != 3 {
		t.Fatalf("run: %v", r)
	}
	want := map[string]string{
		"old":  "more than 7 days old",
		"big":  "Pendo keeps at most 512",
		"anon": "no visitor id",
	}
	for k, frag := range want {
		var msg string
		h.w.DB().QueryRow(`SELECT error FROM backflow.sync_rows WHERE key = ?`, k).Scan(&msg)
		if !strings.Contains(msg, frag) {
			t.Errorf("%s: error %q, want it to mention %q", k, msg, frag)
		}
	}
	if n := h.emu.TrackReceived(); n != 2 {
		t.Fatalf("the data host received %d events; rejected ones were sent", n)
	}
	if r := h.run(); r.Rejected+r.Applied != 0 {
		t.Fatalf("unchanged rejected events were retried: %v", r)
	}
}

func TestPendoTrack_ServerErrorsConverge(t *testing.T) {
	h := newTrackHarness(t, pendotest.Faults{ServerErrorRate: 0.3, Seed: 7})
	h.model(40, "")
	var failed int64
	for i := 0; i < 10; i++ {
		r := h.run()
		failed += r.Failed
		if r.Added == 0 {
			break
		}
	}
	if failed == 0 {
		t.Fatal("no request failed: the fault injection did not bite")
	}
	got := h.seats()
	for i := 0; i < 40; i++ {
		if got[fmt.Sprint(i)] != 1 {
			t.Fatalf("event e%d arrived %d times", i, got[fmt.Sprint(i)])
		}
	}
}

// TestTrack_AnswerLost holds the documented bound: Pendo records an event
// and the answer is lost (502, a closed connection); the event is failed,
// sent again on the next run, and arrives twice. One duplicate per lost
// answer, never more, and no event is lost.
func TestTrack_AnswerLost(t *testing.T) {
	h := newTrackHarness(t, pendotest.Faults{})
	h.model(6, "")
	h.emu.FailAfterOn("track", 502, -1, 0)
	first := h.run()
	if first.Failed != 2 || h.emu.FailedAfter() != 2 {
		t.Fatalf("first run: %+v with %d answers lost, want 2 failed", first, h.emu.FailedAfter())
	}
	if r := h.run(); r.Applied != 2 {
		t.Fatalf("rerun sent %d, want the 2 failed ones", r.Applied)
	}
	twice := 0
	for seats, n := range h.seats() {
		switch n {
		case 1:
		case 2:
			twice++
		default:
			t.Errorf("event %s arrived %d times", seats, n)
		}
	}
	if got := len(h.seats()); got != 6 || twice != 2 {
		t.Fatalf("%d events arrived, %d of them twice; want 6 and 2 (one per lost answer)", got, twice)
	}
	if r := h.run(); r.Applied != 0 {
		t.Fatalf("a third run sent %d", r.Applied)
	}
}
