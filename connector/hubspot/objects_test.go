package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

type hsHarness struct {
	t     *testing.T
	emu   *hubspottest.Server
	w     *warehouse.Warehouse
	dest  *objects
	sync  load.Spec
	calls atomic.Int32 // batch writes that reached the emulator
	runs  int
}

func newHSHarness(t *testing.T, match string, upsert bool) *hsHarness {
	t.Helper()
	return newHSHarnessDaily(t, match, upsert, 0)
}

// newHSHarnessDaily is newHSHarness with the account's daily budget
// (0: the emulator's default).
func newHSHarnessDaily(t *testing.T, match string, upsert bool, daily int) *hsHarness {
	t.Helper()
	h := &hsHarness{t: t}
	h.emu = hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000, DailyLimit: daily})
	h.emu.AddProperty("contacts", hubspottest.Property{Name: "trial_end", Label: "Trial end", Type: "date", FieldType: "date", GroupName: "contactinformation"})
	h.emu.AddProperty("contacts", hubspottest.Property{Name: "pql", Label: "PQL", Type: "bool", FieldType: "booleancheckbox", GroupName: "contactinformation"})
	h.emu.AddProperty("contacts", hubspottest.Property{Name: "last_seen", Label: "Last seen", Type: "datetime", FieldType: "date", GroupName: "contactinformation"})
	for _, e := range []string{"a@x.com", "b@x.com"} {
		h.emu.CreateObject("contacts", map[string]string{"email": e, "jobtitle": "old"})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/batch/") {
			h.calls.Add(1)
		}
		h.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, _ := api.New(api.Config{BaseURL: srv.URL, Token: "t", BurstLimit: 100_000})
	mode := load.Update
	if upsert {
		mode = load.Upsert
	}
	h.dest = &objects{client: c, target: target{object: "contacts", match: match, size: 100, mode: mode}}
	var err error
	h.w, err = warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.w.Close() })
	h.sync = load.Spec{Name: "contacts_out", File: "syncs/contacts_out.yml", Model: "m", Key: "email", Mode: mode, OnRemove: "ignore", Fields: []load.Field{{Column: "title", Field: "jobtitle"}, {Column: "stage", Field: "lifecyclestage"}, {Column: "trial", Field: "trial_end"},
		{Column: "pql", Field: "pql"}, {Column: "seen", Field: "last_seen"}, {Column: "score", Field: "hubspotscore"}}}
	return h
}

func (h *hsHarness) model(values string) {
	h.t.Helper()
	if _, err := h.w.DB().Exec(`CREATE OR REPLACE TABLE models.m AS SELECT * FROM (VALUES ` + values + `)
		t(email, title, stage, trial, pql, seen, score)`); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hsHarness) run() load.Result {
	h.t.Helper()
	h.runs++
	res, err := load.Sync(context.Background(), h.w, "r"+string(rune('0'+h.runs)), h.sync, h.dest)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *hsHarness) contact(email string) map[string]string {
	for _, id := range h.emu.ObjectIDs("contacts") {
		if o, _ := h.emu.Object("contacts", id); strings.EqualFold(o.Properties["email"], email) {
			return o.Properties
		}
	}
	return nil
}

const hsRow = `('a@x.com', 'CTO', 'customer', DATE '2026-03-01', true, TIMESTAMPTZ '2026-03-01 12:30:00+00', 87.5)`

func TestHubSpotSync_UpdateByEmail(t *testing.T) {
	h := newHSHarness(t, "email", false)
	h.model(hsRow + `, ('ghost@x.com', 'CEO', 'lead', NULL, false, NULL, 1), ('b@x.com', 'VP', 'Customer', NULL, NULL, NULL, NULL)`)
	r := h.run()
	if r.Applied != 1 || r.Skipped != 1 || r.Rejected != 1 {
		t.Fatalf("first run: %v", r)
	}
	a := h.contact("a@x.com")
	want := map[string]string{"jobtitle": "CTO", "lifecyclestage": "customer", "trial_end": "2026-03-01", "pql": "true",
		"last_seen": "2026-03-01T12:30:00.000Z", "hubspotscore": "87.5"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("a@x.com %s = %q, want %q", k, a[k], v)
		}
	}
	if h.contact("b@x.com")["jobtitle"] != "old" {
		t.Error("a row with a label instead of an option value was sent")
	}
	var msg string
	h.w.DB().QueryRow(`SELECT error FROM backflow.sync_rows WHERE key = 'b@x.com'`).Scan(&msg)
	if !strings.Contains(msg, `lifecyclestage: "Customer" is not one of the property's option values`) {
		t.Errorf("rejection reason = %q", msg)
	}
	if h.contact("ghost@x.com") != nil {
		t.Error("update mode created a contact")
	}
	calls := h.calls.Load()
	if r := h.run(); r.Applied+r.Skipped+r.Rejected != 0 || h.calls.Load() != calls {
		t.Fatalf("rerun sent something: %v", r)
	}
	// One field changes and one becomes NULL (cleared): only they are sent.
	h.model(`('a@x.com', 'CEO', 'customer', DATE '2026-03-01', true, TIMESTAMPTZ '2026-03-01 12:30:00+00', NULL)`)
	if r := h.run(); r.Changed != 1 || r.Applied != 1 {
		t.Fatalf("change: %v", r)
	}
	a = h.contact("a@x.com")
	if a["jobtitle"] != "CEO" || a["hubspotscore"] != "" {
		t.Errorf("after the change: jobtitle %q, hubspotscore %q (want CEO and cleared)", a["jobtitle"], a["hubspotscore"])
	}
}

func TestHubSpotSync_Upsert(t *testing.T) {
	h := newHSHarness(t, "email", true)
	h.model(hsRow + `, ('new@x.com', 'Founder', 'lead', NULL, false, NULL, 3)`)
	if r := h.run(); r.Applied != 2 {
		t.Fatalf("upsert: %v", r)
	}
	if n := h.contact("new@x.com"); n == nil || n["jobtitle"] != "Founder" {
		t.Fatalf("the new contact: %v", n)
	}
	if r := h.run(); r.Applied != 0 {
		t.Fatalf("rerun: %v", r)
	}
	if got := len(h.emu.ObjectIDs("contacts")); got != 3 {
		t.Fatalf("%d contacts; an upsert created a duplicate", got)
	}
}

func TestHubSpotSync_PlanErrors(t *testing.T) {
	tests := []struct {
		name  string
		match string
		field load.Field
		want  string
	}{
		{"read_only", "email", load.Field{Column: "title", Field: "createdate"}, `fields: contacts property "createdate" is read-only`},
		{"unknown", "email", load.Field{Column: "title", Field: "nosuch"}, `fields: contacts has no property "nosuch"`},
		{"not_unique_match", "jobtitle", load.Field{Column: "title", Field: "jobtitle"}, `match: contacts "jobtitle" is not a unique-value property`},
		{"bad_type", "email", load.Field{Column: "trial", Field: "pql"}, "fields.trial: a DATE column cannot feed a HubSpot bool property"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHSHarness(t, tt.match, false)
			h.model(hsRow)
			h.sync.Fields = []load.Field{tt.field}
			_, err := load.Sync(context.Background(), h.w, "r1", h.sync, h.dest)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "syncs/contacts_out.yml") && tt.name != "none" {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if h.calls.Load() != 0 {
				t.Fatal("something was sent")
			}
		})
	}
}

func TestHubSpotPlan_Estimate(t *testing.T) {
	tests := []struct {
		name      string
		daily     int
		rows      int
		wantCalls int64
		wantLeft  int64 // after the plan's one properties read
		wantFits  bool
	}{
		{"fits", 1000, 150, 2, 999, true},
		{"past_the_daily_budget", 2, 250, 3, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHSHarnessDaily(t, "email", false, tt.daily)
			if _, err := h.w.DB().Exec(fmt.Sprintf(`CREATE TABLE models.m AS SELECT 'u' || i || '@x.com' AS email, 'CTO' AS title,
				'lead' AS stage, NULL::DATE AS trial, true AS pql, NULL::TIMESTAMPTZ AS seen, i AS score FROM range(%d) t(i)`, tt.rows)); err != nil {
				t.Fatal(err)
			}
			p, err := load.NewPlan(context.Background(), h.w, h.sync, h.dest, load.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			e := p.Estimate()
			// The limiter keeps (limit-1) calls per 10 s window.
			if e.Calls != tt.wantCalls || e.DailyLeft != tt.wantLeft || e.Fits() != tt.wantFits || e.PerSecond != 99_999.0/10 {
				t.Fatalf("estimate = %+v (fits %v), want %d calls, %d left, fits %v", e, e.Fits(), tt.wantCalls, tt.wantLeft, tt.wantFits)
			}
			if h.calls.Load() != 0 {
				t.Fatal("the plan sent a batch")
			}
		})
	}
}
