package hubspot_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	connhs "github.com/backflow-dev/backflow/connector/hubspot"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/warehouse"
)

const token = "pat-na1-x"

func openWarehouse(t *testing.T) *warehouse.Warehouse {
	t.Helper()
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func hubspotEmulator(t *testing.T) *hubspottest.Server {
	t.Helper()
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{token}})
	for _, p := range []hubspottest.Property{
		{Name: "newsletter", Label: "Newsletter", Type: "bool", FieldType: "booleancheckbox", GroupName: "contactinformation"},
		{Name: "trial_end", Label: "Trial end", Type: "date", FieldType: "date", GroupName: "contactinformation"},
		{Name: "interests", Label: "Interests", Type: "enumeration", FieldType: "checkbox", GroupName: "contactinformation",
			Options: []hubspottest.Option{{Label: "A", Value: "a"}, {Label: "B", Value: "b"}}},
	} {
		if err := emu.AddProperty("contacts", p); err != nil {
			t.Fatal(err)
		}
	}
	return emu
}

func TestHubSpot_TypedColumns(t *testing.T) {
	ctx := context.Background()
	emu := hubspotEmulator(t)
	id, err := emu.CreateObject("contacts", map[string]string{
		"email": "a@x.com", "hubspotscore": "42.5", "newsletter": "true", "trial_end": "2026-03-01",
		"lifecyclestage": "lead", "interests": "a;b",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 150; i++ { // a second page
		if _, err := emu.CreateObject("contacts", map[string]string{"email": "p" + string(rune('a'+i%26)) + "@x.com"}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: token})
	w := openWarehouse(t)
	res, err := extract.Run(ctx, w, "r1", []extract.Source{&connhs.Source{Client: c, Objects: []string{"contacts"}, Incremental: true}}, extract.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var contacts *extract.Result
	for i := range res {
		if res[i].Stream == "hubspot/contacts" {
			contacts = &res[i]
		}
	}
	if contacts == nil || contacts.Rows != 151 {
		t.Fatalf("results = %v", res)
	}
	types := map[string]string{}
	rows, err := w.DB().Query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'raw_hubspot' AND table_name = 'contacts'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, ty string
		rows.Scan(&n, &ty)
		types[n] = ty
	}
	rows.Close()
	wantTypes := map[string]string{
		"id": "VARCHAR", "created_at": "TIMESTAMP WITH TIME ZONE", "archived": "BOOLEAN",
		"email": "VARCHAR", "hubspotscore": "DOUBLE", "newsletter": "BOOLEAN", "trial_end": "DATE",
		"createdate": "TIMESTAMP WITH TIME ZONE", "lifecyclestage": "VARCHAR", "interests": "VARCHAR",
	}
	for col, want := range wantTypes {
		if types[col] != want {
			t.Errorf("column %s: %q, want %q", col, types[col], want)
		}
	}
	var score float64
	var news bool
	var trial time.Time
	var interests, stage string
	if err := w.DB().QueryRow(`SELECT hubspotscore, newsletter, trial_end, interests, lifecyclestage FROM raw_hubspot.contacts WHERE id = ?`, id).
		Scan(&score, &news, &trial, &interests, &stage); err != nil {
		t.Fatal(err)
	}
	if score != 42.5 || !news || trial.Format("2006-01-02") != "2026-03-01" || interests != "a;b" || stage != "lead" {
		t.Errorf("values: %v %v %v %q %q", score, news, trial, interests, stage)
	}
	var cursor string
	if err := w.DB().QueryRow(`SELECT cursor FROM backflow.extract_state WHERE stream = 'hubspot/contacts'`).Scan(&cursor); err != nil || cursor == "" {
		t.Fatalf("cursor %q, err %v", cursor, err)
	}
}

// A failure halfway through a stream leaves the previous table and its
// cursor exactly as they were.
func TestRun_FailedStreamKeepsPreviousTable(t *testing.T) {
	ctx := context.Background()
	emu := hubspotEmulator(t)
	for i := 0; i < 250; i++ {
		emu.CreateObject("contacts", map[string]string{"firstname": "x"})
	}
	var fail atomic.Bool
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/objects/") && calls.Add(1) > 1 && fail.Load() {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"status":"error","message":"This app hasn't been granted all required scopes","category":"MISSING_SCOPES","correlationId":"c"}`))
			return
		}
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: token})
	w := openWarehouse(t)
	src := []extract.Source{&connhs.Source{Client: c, Objects: []string{"contacts"}}}
	if _, err := extract.Run(ctx, w, "r1", src, extract.Options{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		emu.CreateObject("contacts", map[string]string{"firstname": "y"})
	}
	fail.Store(true)
	calls.Store(0)
	_, err := extract.Run(ctx, w, "r2", src, extract.Options{})
	if err == nil || !strings.Contains(err.Error(), "MISSING_SCOPES") || !strings.Contains(err.Error(), "extract hubspot/contacts") {
		t.Fatalf("err = %v", err)
	}
	var n int
	var run string
	w.DB().QueryRow(`SELECT count(*) FROM raw_hubspot.contacts`).Scan(&n)
	w.DB().QueryRow(`SELECT run_id FROM backflow.extract_state WHERE stream = 'hubspot/contacts'`).Scan(&run)
	if n != 250 || run != "r1" {
		t.Fatalf("after a failed run: %d rows, state from %s; want 250 rows from r1", n, run)
	}

	// A run canceled midway (SIGINT) leaves the same state.
	fail.Store(false)
	calls.Store(0)
	cctx, cancel := context.WithCancel(ctx)
	var canceled atomic.Bool
	src[0].(*connhs.Source).Client = mustClient(t, srv.URL, func() {
		if calls.Load() > 1 && canceled.CompareAndSwap(false, true) {
			cancel()
		}
	})
	if _, err := extract.Run(cctx, w, "r3", src, extract.Options{}); err == nil {
		t.Fatal("a canceled run reported success")
	}
	w.DB().QueryRow(`SELECT count(*) FROM raw_hubspot.contacts`).Scan(&n)
	if n != 250 {
		t.Fatalf("after a canceled run: %d rows, want 250", n)
	}
	// The rerun converges.
	src[0].(*connhs.Source).Client = c
	if _, err := extract.Run(ctx, w, "r4", src, extract.Options{}); err != nil {
		t.Fatal(err)
	}
	w.DB().QueryRow(`SELECT count(*), max(run_id) FROM raw_hubspot.contacts, backflow.extract_state WHERE stream = 'hubspot/contacts'`).Scan(&n, &run)
	if n != 260 || run != "r4" {
		t.Fatalf("after the rerun: %d rows, state from %s; want 260 from r4", n, run)
	}
}

// mustClient returns a client whose every request first calls hook.
func mustClient(t *testing.T, base string, hook func()) *hubspot.Client {
	t.Helper()
	c, err := hubspot.New(hubspot.Config{BaseURL: base, Token: token, HTTPClient: &http.Client{Transport: hookTransport(hook)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type hookTransport func()

func (h hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h()
	return http.DefaultTransport.RoundTrip(r)
}

// hsEnv is a HubSpot emulator with a movable clock, a client without
// pacing, and an incremental source.
type hsEnv struct {
	t     *testing.T
	emu   *hubspottest.Server
	clock time.Time
	src   *connhs.Source
	w     *warehouse.Warehouse
	runs  int
	hook  func(r *http.Request) // called before each request reaches the emulator
}

func newHSEnv(t *testing.T, objects ...string) *hsEnv {
	t.Helper()
	return newHSEnvLag(t, 0, objects...)
}

// newHSEnvLag is newHSEnv with search lagging writes by lag.
func newHSEnvLag(t *testing.T, lag time.Duration, objects ...string) *hsEnv {
	t.Helper()
	e := &hsEnv{t: t, clock: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	e.emu = hubspottest.New(hubspottest.Options{Tokens: []string{token}, BurstLimit: 1_000_000, SearchPerSecond: 1_000_000, SearchLag: lag})
	e.emu.SetClock(func() time.Time { return e.clock })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.hook != nil {
			e.hook(r)
		}
		e.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: token, BurstLimit: 1_000_000, SearchPerSecond: 1_000_000})
	e.src = &connhs.Source{Client: c, Objects: objects, Incremental: true, Associations: true, Lookback: time.Minute, Now: func() time.Time { return e.clock }}
	e.w = openWarehouse(t)
	return e
}

func (e *hsEnv) run(only ...string) []extract.Result {
	e.t.Helper()
	e.runs++
	res, err := extract.Run(context.Background(), e.w, fmt.Sprintf("r%d", e.runs), []extract.Source{e.src}, extract.Options{Only: only})
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

// TestHubSpot_SearchLag: an incremental run right after a change finds
// the record with its old values (HubSpot's index lags writes); the
// look-back of the next run, longer than the lag, reads it again with
// the new ones. Nothing is lost, and the cursor never outruns the index
// by more than the look-back.
func TestHubSpot_SearchLag(t *testing.T) {
	e := newHSEnvLag(t, 30*time.Second, "contacts")
	id, _ := e.emu.CreateObject("contacts", map[string]string{"email": "a@example.com", "firstname": "old"})
	e.emu.CreateObject("contacts", map[string]string{"email": "b@example.com", "firstname": "b"})
	e.clock = e.clock.Add(time.Hour)
	e.run()
	e.clock = e.clock.Add(time.Hour)
	e.emu.UpdateObject("contacts", id, map[string]string{"firstname": "new"})
	e.clock = e.clock.Add(5 * time.Second) // within the lag
	e.run()
	if got := e.query(`SELECT firstname FROM raw_hubspot.contacts WHERE id = ?`, id); got != "old" {
		t.Fatalf("a run within the lag read %q; the emulator's index should still hold the old value", got)
	}
	e.clock = e.clock.Add(time.Hour)
	e.run()
	if got := e.query(`SELECT firstname FROM raw_hubspot.contacts WHERE id = ?`, id); got != "new" {
		t.Fatalf("the next run read %q, want new: the look-back must cover the lag", got)
	}
	if got := e.query(`SELECT count(*)::VARCHAR FROM raw_hubspot.contacts`); got != "2" {
		t.Fatalf("%s contacts, want 2", got)
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
	if got := e.query(`SELECT string_agg(DISTINCT from_id || '>' || to_id, ',' ORDER BY from_id || '>' || to_id) FROM raw_hubspot.contact_company`); got != a+">"+co+","+b+">"+co {
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

// TestHubSpot_AssociationsMerge: an incremental run merges the changed
// contacts' associations (every type of each pair) and keeps everyone
// else's; a run that loaded contacts but not their associations (killed
// between the two) leaves a gap the next run reads.
func TestHubSpot_AssociationsMerge(t *testing.T) {
	e := newHSEnv(t, "contacts", "companies")
	co1, _ := e.emu.CreateObject("companies", map[string]string{"name": "One"})
	co2, _ := e.emu.CreateObject("companies", map[string]string{"name": "Two"})
	a, _ := e.emu.CreateObject("contacts", map[string]string{"email": "a@one.io"})
	b, _ := e.emu.CreateObject("contacts", map[string]string{"email": "b@one.io"})
	c, _ := e.emu.CreateObject("contacts", map[string]string{"email": "c@one.io"})
	e.emu.Associate("contacts", a, "companies", co1)
	e.emu.Associate("contacts", b, "companies", co1)
	e.run()
	rows := func() string {
		return e.query(`SELECT coalesce(string_agg(from_id || '>' || to_id || ':' || coalesce(label, '-'), ',' ORDER BY from_id, to_id, label NULLS FIRST), '') FROM raw_hubspot.contact_company`)
	}
	pair := func(from, to string) string { return from + ">" + to + ":-," + from + ">" + to + ":Primary" }
	if got, want := rows(), pair(a, co1)+","+pair(b, co1); got != want {
		t.Fatalf("after the first run: %s, want %s", got, want)
	}
	// a moves to the other company; c joins the first.
	e.clock = e.clock.Add(time.Hour)
	e.emu.Disassociate("contacts", a, "companies", co1)
	e.emu.Associate("contacts", a, "companies", co2)
	e.emu.Associate("contacts", c, "companies", co1)
	e.clock = e.clock.Add(time.Minute)
	res := e.run()
	if r := result(res, "hubspot/contact_company"); !r.Merged {
		t.Fatalf("contact_company was not merged: %+v", r)
	}
	if got, want := rows(), pair(a, co2)+","+pair(b, co1)+","+pair(c, co1); got != want {
		t.Fatalf("after the incremental run: %s, want %s", got, want)
	}
	// b moves; a run loads contacts and dies before associations; an hour
	// later the next run still finds b's move.
	e.clock = e.clock.Add(time.Hour)
	e.emu.Disassociate("contacts", b, "companies", co1)
	e.emu.Associate("contacts", b, "companies", co2)
	e.clock = e.clock.Add(time.Minute)
	e.run("hubspot/contacts")
	e.clock = e.clock.Add(time.Hour)
	e.run()
	if got, want := rows(), pair(a, co2)+","+pair(b, co2)+","+pair(c, co1); got != want {
		t.Fatalf("after the gap: %s, want %s", got, want)
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
			e.clock = e.clock.Add(time.Minute) // past the search lag
			e.run()
			for id, want := range map[string]string{a: "At", b: "After"} {
				if got := e.query(`SELECT firstname FROM raw_hubspot.contacts WHERE id = ?`, id); got != want {
					t.Errorf("contact %s: firstname %q, want %q", id, got, want)
				}
			}
		})
	}
}
