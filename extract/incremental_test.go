package extract_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/warehouse"
)

// hsEnv is a HubSpot emulator with a movable clock, a client without
// pacing, and an incremental source.
type hsEnv struct {
	t     *testing.T
	emu   *hubspottest.Server
	clock time.Time
	src   *extract.HubSpot
	w     *warehouse.Warehouse
	runs  int
	hook  func(r *http.Request) // called before each request reaches the emulator
}

func newHSEnv(t *testing.T, objects ...string) *hsEnv {
	t.Helper()
	e := &hsEnv{t: t, clock: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	e.emu = hubspottest.New(hubspottest.Options{Tokens: []string{token}, BurstLimit: 1_000_000, SearchPerSecond: 1_000_000})
	e.emu.SetClock(func() time.Time { return e.clock })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.hook != nil {
			e.hook(r)
		}
		e.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: token, BurstLimit: 1_000_000, SearchPerSecond: 1_000_000})
	e.src = &extract.HubSpot{Client: c, Objects: objects, Incremental: true, Associations: true, Lookback: time.Minute, Now: func() time.Time { return e.clock }}
	e.w = openWarehouse(t)
	return e
}

func (e *hsEnv) run() []extract.Result {
	e.t.Helper()
	e.runs++
	res, err := extract.Run(context.Background(), e.w, fmt.Sprintf("r%d", e.runs), []extract.Source{e.src}, extract.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *hsEnv) query(q string, args ...any) string {
	e.t.Helper()
	var s string
	if err := e.w.DB().QueryRow(q, args...).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return s
}

func result(res []extract.Result, stream string) extract.Result {
	for _, r := range res {
		if r.Stream == stream {
			return r
		}
	}
	return extract.Result{}
}

func TestHubSpot_IncrementalAcrossTheSearchCap(t *testing.T) {
	e := newHSEnv(t, "contacts")
	var ids []string
	for i := 0; i < 10_300; i++ {
		id, _ := e.emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("p%d@x.com", i), "hubspotscore": "1"})
		ids = append(ids, id)
	}
	if r := result(e.run(), "hubspot/contacts"); r.Rows != 10_300 || r.Merged {
		t.Fatalf("first run: %v", r)
	}
	// A bulk job changes 10,250 records in the same millisecond.
	e.clock = e.clock.Add(time.Hour)
	for _, id := range ids[:10_250] {
		e.emu.UpdateObject("contacts", id, map[string]string{"hubspotscore": "2"})
	}
	e.clock = e.clock.Add(time.Minute)
	r := result(e.run(), "hubspot/contacts")
	if !r.Merged || r.Rows < 10_250 {
		t.Fatalf("incremental run: %v", r)
	}
	if got := e.query(`SELECT count(*)::VARCHAR FROM raw_hubspot.contacts WHERE hubspotscore = 2`); got != "10250" {
		t.Fatalf("%s contacts carry the new score, want 10250", got)
	}
	if got := e.query(`SELECT count(*)::VARCHAR FROM raw_hubspot.contacts`); got != "10300" {
		t.Fatalf("%s contacts, want 10300 (no duplicates)", got)
	}
}

// A record changed while the first extraction runs, after its page was
// read, is picked up by the next run: the cursor is the read's start.
func TestHubSpot_ChangedDuringExtraction(t *testing.T) {
	e := newHSEnv(t, "contacts")
	var first string
	for i := 0; i < 250; i++ {
		id, _ := e.emu.CreateObject("contacts", map[string]string{"firstname": "old"})
		if i == 0 {
			first = id
		}
	}
	var pages atomic.Int32
	e.hook = func(r *http.Request) {
		if r.Method == "GET" && strings.Contains(r.URL.Path, "/objects/contacts") && r.URL.Query().Get("archived") == "" && pages.Add(1) == 2 {
			e.clock = e.clock.Add(time.Second)
			e.emu.UpdateObject("contacts", first, map[string]string{"firstname": "new"})
		}
	}
	e.run()
	if got := e.query(`SELECT firstname FROM raw_hubspot.contacts WHERE id = ?`, first); got != "old" {
		t.Fatalf("first run read %q; the test expects the change to land after its page", got)
	}
	e.hook = nil
	e.clock = e.clock.Add(time.Minute)
	e.run()
	if got := e.query(`SELECT firstname FROM raw_hubspot.contacts WHERE id = ?`, first); got != "new" {
		t.Fatalf("after the second run: %q, want new", got)
	}
}

func TestHubSpot_SchemaDriftArchivedAndAssociations(t *testing.T) {
	e := newHSEnv(t, "contacts", "companies")
	co, _ := e.emu.CreateObject("companies", map[string]string{"name": "Acme"})
	a, _ := e.emu.CreateObject("contacts", map[string]string{"email": "a@acme.io"})
	b, _ := e.emu.CreateObject("contacts", map[string]string{"email": "b@acme.io"})
	e.emu.Associate("contacts", a, "companies", co)
	e.emu.Associate("contacts", b, "companies", co)
	e.run()
	if got := e.query(`SELECT string_agg(from_id || '>' || to_id, ',' ORDER BY from_id) FROM raw_hubspot.contact_company`); got != a+">"+co+","+b+">"+co {
		t.Fatalf("contact_company = %s", got)
	}

	// Between runs: a new property, a property whose type changes, an
	// archived contact, and a contact that loses its company.
	e.clock = e.clock.Add(time.Hour)
	e.emu.AddProperty("contacts", hubspottest.Property{Name: "nps_score", Label: "NPS", Type: "number", FieldType: "number", GroupName: "contactinformation"})
	e.emu.UpdateObject("contacts", a, map[string]string{"nps_score": "9"})
	// Archive b through the API, as a user deleting it would.
	archiveViaAPI(t, e, "contacts", b)
	e.clock = e.clock.Add(time.Minute)
	res := e.run()
	if r := result(res, "hubspot/contacts"); !r.Merged || len(r.Changes) != 1 || r.Changes[0].Column != "nps_score" || r.Changes[0].Action != "added" {
		t.Fatalf("contacts: %+v", r)
	}
	if got := e.query(`SELECT nps_score::VARCHAR FROM raw_hubspot.contacts WHERE id = ?`, a); got != "9.0" {
		t.Fatalf("nps_score = %s", got)
	}
	if got := e.query(`SELECT archived::VARCHAR FROM raw_hubspot.contacts WHERE id = ?`, b); got != "true" {
		t.Fatalf("archived contact: archived = %s, want true (marked, not lost)", got)
	}
	if got := e.query(`SELECT count(*)::VARCHAR FROM backflow.schema_changes WHERE column_name = 'nps_score' AND action = 'added'`); got != "1" {
		t.Fatalf("schema change recorded %s times", got)
	}
}

func archiveViaAPI(t *testing.T, e *hsEnv, objectType, id string) {
	t.Helper()
	srv := httptest.NewServer(e.emu)
	defer srv.Close()
	c, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: token, BurstLimit: 1_000_000})
	if err := c.Archive(context.Background(), objectType, id); err != nil {
		t.Fatal(err)
	}
}

// A property whose type changes (number → text) widens the column to
// VARCHAR: old numbers stay, as text, and new text values fit.
func TestHubSpot_TypeChangeWidens(t *testing.T) {
	e := newHSEnv(t, "deals")
	e.emu.AddProperty("deals", hubspottest.Property{Name: "tier", Label: "Tier", Type: "number", FieldType: "number", GroupName: "dealinformation"})
	deal, _ := e.emu.CreateObject("deals", map[string]string{"dealname": "D", "pipeline": "default", "dealstage": "qualifiedtobuy", "tier": "3"})
	other, _ := e.emu.CreateObject("deals", map[string]string{"dealname": "E", "pipeline": "default", "dealstage": "qualifiedtobuy", "tier": "5"})
	e.run()
	e.clock = e.clock.Add(time.Hour)
	if err := e.emu.ChangePropertyType("deals", "tier", "string", "text"); err != nil {
		t.Fatal(err)
	}
	e.emu.UpdateObject("deals", deal, map[string]string{"tier": "gold"})
	e.clock = e.clock.Add(time.Minute)
	r := result(e.run(), "hubspot/deals")
	if !r.Merged || len(r.Changes) != 1 || r.Changes[0].Action != "widened to VARCHAR" || r.Changes[0].OldType != "DOUBLE" {
		t.Fatalf("changes: %+v", r.Changes)
	}
	if got := e.query(`SELECT typeof(tier) || ':' || tier FROM raw_hubspot.deals WHERE id = ?`, deal); got != "VARCHAR:gold" {
		t.Fatalf("changed deal: tier = %s", got)
	}
	if got := e.query(`SELECT typeof(tier) || ':' || tier FROM raw_hubspot.deals WHERE id = ?`, other); got != "VARCHAR:5.0" && got != "VARCHAR:5" {
		t.Fatalf("untouched deal: tier = %s, want the old number kept as text", got)
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
	src := &extract.Pendo{Client: c, Tables: []string{"visitors", "feature_events", "poll_events"}, Incremental: true, HistoryDays: 15,
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
