package extract_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	res, err := extract.Run(ctx, w, "r1", []extract.Source{&extract.HubSpot{Client: c, Objects: []string{"contacts"}, Incremental: true}}, extract.Options{})
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
	src := []extract.Source{&extract.HubSpot{Client: c, Objects: []string{"contacts"}}}
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
	src[0].(*extract.HubSpot).Client = mustClient(t, srv.URL, func() {
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
	src[0].(*extract.HubSpot).Client = c
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
	if _, err := extract.Run(ctx, w, "r1", []extract.Source{&extract.Pendo{Client: c, Tables: []string{"visitors"}}}, extract.Options{}); err != nil {
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
