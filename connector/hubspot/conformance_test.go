package hubspot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/extract/extracttest"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/load/loadtest"
)

func TestLoadSuite(t *testing.T) {
	for _, target := range []loadtest.Target{objectsTarget(), eventsTarget(), listsTarget()} {
		t.Run(target.Name, func(t *testing.T) { loadtest.Run(t, target) })
	}
}

func TestExtractSuite(t *testing.T) {
	for _, src := range []extracttest.Source{contactsSource(), listsSource(), listMembershipsSource()} {
		t.Run(src.Name, func(t *testing.T) { extracttest.Run(t, src) })
	}
}

// failingServer serves emu, answering 403 MISSING_SCOPES to the requests
// fails matches while the returned flag is set, and a client of it.
func failingServer(t *testing.T, emu *hubspottest.Server, fails func(path string) bool) (*api.Client, *atomic.Bool) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && fails(r.URL.Path) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]string{"status": "error", "message": "This app hasn't been granted all required scopes", "category": "MISSING_SCOPES"})
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, Token: "t", BurstLimit: 1_000_000, SearchPerSecond: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	return c, &failing
}

// listServer is an emulator and a client for the list streams; reads of
// paths under /crm/v3/lists holding part fail while the returned flag is
// set.
func listServer(t *testing.T, part string) (*hubspottest.Server, *clock.Manual, *api.Client, *atomic.Bool) {
	clk := clock.NewManual(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 1_000_000, SearchPerSecond: 1_000_000, Now: clk.Now})
	c, failing := failingServer(t, emu, func(p string) bool { return strings.HasPrefix(p, "/crm/v3/lists") && strings.Contains(p, part) })
	return emu, clk, c, failing
}

// listsSource is raw_hubspot.lists, read whole: a Put makes a manual
// list named value, or renames it.
func listsSource() extracttest.Source {
	return extracttest.Source{Name: "hubspot_lists", New: func(t *testing.T) *extracttest.Fixture {
		emu, clk, c, failing := listServer(t, "/")
		ids := map[string]string{}
		return &extracttest.Fixture{
			Source: &Source{Client: c, Objects: []string{"lists"}, Incremental: true, Lookback: 5 * time.Minute, Now: clk.Now},
			Stream: "hubspot/lists", Schema: "raw_hubspot", Table: "lists", KeyColumn: "id", ValueColumn: "name",
			Put: func(ref, value string) string {
				if id, ok := ids[ref]; ok {
					if err := emu.RenameList(id, value); err != nil {
						t.Fatal(err)
					}
					return id
				}
				id, err := emu.CreateList(value, "contacts", "MANUAL")
				if err != nil {
					t.Fatal(err)
				}
				ids[ref] = id
				return id
			},
			Advance: clk.Advance, Now: clk.Now, Whole: true, Fail: failing.Store,
		}
	}}
}

// listMembershipsSource is raw_hubspot.list_memberships (read with the
// lists): a Put moves a contact into the manual list named value, out of
// the one it was in; the table holds that list's id.
func listMembershipsSource() extracttest.Source {
	return extracttest.Source{Name: "hubspot_list_memberships", New: func(t *testing.T) *extracttest.Fixture {
		emu, clk, c, failing := listServer(t, "/memberships")
		lists, in, contacts := map[string]string{}, map[string]string{}, map[string]string{}
		list := func(name string) string {
			if id, ok := lists[name]; ok {
				return id
			}
			id, err := emu.CreateList(name, "contacts", "MANUAL")
			if err != nil {
				t.Fatal(err)
			}
			lists[name] = id
			return id
		}
		lookback := 5 * time.Minute
		return &extracttest.Fixture{
			Source: &Source{Client: c, Objects: []string{"lists"}, Incremental: true, Lookback: lookback, Now: clk.Now},
			Stream: "hubspot/list_memberships", With: []string{"hubspot/lists"}, Schema: "raw_hubspot", Table: "list_memberships",
			KeyColumn: "record_id", ValueColumn: "list_id",
			Put: func(ref, value string) string {
				id, ok := contacts[ref]
				if !ok {
					var err error
					if id, err = emu.CreateObject("contacts", map[string]string{"email": ref + "@x.com"}); err != nil {
						t.Fatal(err)
					}
					contacts[ref] = id
				}
				if old, ok := in[ref]; ok && old != value {
					if err := emu.RemoveFromList(list(old), id); err != nil {
						t.Fatal(err)
					}
				}
				if err := emu.AddToList(list(value), id); err != nil {
					t.Fatal(err)
				}
				in[ref] = value
				return id
			},
			Value:   list,
			Advance: clk.Advance, Now: clk.Now, Lookback: lookback, Many: 1200, Fail: failing.Store,
		}
	}}
}

// suiteServer serves emu, counting the write calls path matches; storm
// spends the token's whole burst window.
func suiteServer(t *testing.T, emu *hubspottest.Server, writes func(*http.Request) bool) (*api.Client, *atomic.Int64, func()) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if writes(r) {
			calls.Add(1)
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: "t", BurstLimit: 100_000, RetryBaseDelay: 5 * time.Millisecond, MaxRetries: 8})
	if err != nil {
		t.Fatal(err)
	}
	storm := func() {
		// Another integration on the same app spends the whole window.
		for range 5 {
			req, _ := http.NewRequest("GET", srv.URL+"/crm/v3/objects/contacts?limit=1", nil)
			req.Header.Set("Authorization", "Bearer t")
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	return c, &calls, storm
}

func emulatorOptions(env loadtest.Env) hubspottest.Options {
	opts := hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000, Faults: hubspottest.Faults{ServerErrorRate: env.ServerErrors, Seed: 3}}
	if env.Storm {
		opts.BurstLimit, opts.Window = 5, 300*time.Millisecond
	}
	return opts
}

// objectsTarget is contacts updated by id: a is lifecyclestage (an
// enumeration), n a number property.
func objectsTarget() loadtest.Target {
	return loadtest.Target{Name: "hubspot_contacts", OnRemove: []load.OnRemove{load.Clear, load.Archive}, CreateFields: true,
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			emu := hubspottest.New(emulatorOptions(env))
			emu.AddProperty("contacts", hubspottest.Property{Name: "usage_score", Label: "Usage", Type: "number", FieldType: "number", GroupName: "contactinformation"})
			f := &loadtest.Fixture{Missing: "987654321", Good: []string{"lead", "customer", "evangelist"}, Bad: "NotAStage", NewField: "bf_usage_score",
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Update, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: "lifecyclestage"}, {Column: "n", Field: "usage_score"}}}}
			for i := range 4 {
				id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%d@x.com", i)})
				if err != nil {
					t.Fatal(err)
				}
				f.Keys = append(f.Keys, id)
			}
			c, calls, storm := suiteServer(t, emu, func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/batch/") })
			f.Destination = func(s load.Spec) load.Destination {
				return &objects{client: c, target: target{object: "contacts", match: "id", mode: load.Update, archive: s.OnRemove == load.Archive, size: 2}}
			}
			f.Get = func(key string) (string, string, bool) {
				o, ok := emu.Object("contacts", key)
				if !ok || o.Archived {
					return "", "", false
				}
				return o.Properties["lifecyclestage"], o.Properties["usage_score"], true
			}
			f.Field = func(key, name string) string { o, _ := emu.Object("contacts", key); return o.Properties[name] }
			f.Calls = calls.Load
			f.Limited = func() int { _, n := emu.Requests(); return n }
			if env.Storm {
				f.Storm = storm
			}
			return f
		}}
}

// listsTarget is contacts' list memberships, as (list, record) pairs
// keyed by the record: a names one of three manual lists (Bad a DYNAMIC
// one, refused at plan time).
func listsTarget() loadtest.Target {
	return loadtest.Target{Name: "hubspot_lists", Membership: true, OnRemove: []load.OnRemove{load.Clear},
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			emu := hubspottest.New(emulatorOptions(env))
			good := []string{"Trial", "Customers A", "Churn risk"}
			lists := map[string]string{}
			for _, name := range good {
				id, err := emu.CreateList(name, "contacts", "MANUAL")
				if err != nil {
					t.Fatal(err)
				}
				lists[name] = id
			}
			if _, err := emu.AddDynamicList("Everyone", "contacts", func(hubspottest.Object) bool { return true }); err != nil {
				t.Fatal(err)
			}
			f := &loadtest.Fixture{Missing: "987654321", Good: good, Bad: "Everyone", Extra: "k AS record_id",
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Update, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: listNameField}, {Column: "record_id", Field: listRecordField}}}}
			for i := range 4 {
				id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%d@x.com", i)})
				if err != nil {
					t.Fatal(err)
				}
				f.Keys = append(f.Keys, id)
			}
			c, calls, storm := suiteServer(t, emu, func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/memberships/") })
			f.Destination = func(s load.Spec) load.Destination {
				return &listDest{client: c, target: target{object: "lists", pairs: true, listObject: "contacts", mode: load.Update, size: 2}}
			}
			f.Get = func(key string) (string, string, bool) {
				if o, ok := emu.Object("contacts", key); !ok || o.Archived {
					return "", "", false
				}
				var in []string
				for _, name := range good {
					if slices.Contains(emu.ListMembers(lists[name]), key) {
						in = append(in, name)
					}
				}
				return strings.Join(in, ";"), "", true
			}
			f.Calls = calls.Load
			f.Limited = func() int { _, n := emu.Requests(); return n }
			if env.Storm {
				f.Storm = storm
			}
			return f
		}}
}

// eventsTarget is a custom event of contacts: a and n are properties of
// the definition; a value over 256 characters is refused.
func eventsTarget() loadtest.Target {
	return loadtest.Target{Name: "hubspot_events", Events: true,
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			emu := hubspottest.New(emulatorOptions(env))
			contact, err := emu.CreateObject("contacts", map[string]string{"email": "ada@x.com"})
			if err != nil {
				t.Fatal(err)
			}
			c, calls, storm := suiteServer(t, emu, func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/events/v3/send") })
			emu.DefineEvent("conf_event", "Conformance", "CONTACT", []hubspottest.EventProperty{{Name: "a", Label: "A", Type: "string"}, {Name: "n", Label: "N", Type: "number"}})
			f := &loadtest.Fixture{Keys: []string{"e0", "e1", "e2", "e3"}, Good: []string{"lead", "customer", "evangelist"}, Bad: strings.Repeat("x", 300),
				Extra: fmt.Sprintf("'%s' AS contact_id, run_started_at() - INTERVAL 1 HOUR AS at", contact),
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Events, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: "a"}, {Column: "n", Field: "n"}, {Column: "contact_id", Field: "objectId"}, {Column: "at", Field: "occurredAt"}}}}
			f.Destination = func(load.Spec) load.Destination { return &events{client: c, event: "conf_event", size: 2} }
			f.Get = func(key string) (string, string, bool) {
				for _, e := range emu.Events() {
					if e.UUID == key {
						return e.Properties["a"], e.Properties["n"], true
					}
				}
				return "", "", false
			}
			f.Calls = calls.Load
			f.Limited = func() int { _, n := emu.Requests(); return n }
			if env.Storm {
				f.Storm = storm
			}
			return f
		}}
}

// contactsSource is the contacts stream, incremental, over an emulator
// whose search lags its writes by two seconds.
func contactsSource() extracttest.Source {
	return extracttest.Source{Name: "hubspot_contacts", New: func(t *testing.T) *extracttest.Fixture {
		clk := clock.NewManual(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
		emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 1_000_000, SearchPerSecond: 1_000_000, SearchLag: 2 * time.Second, Now: clk.Now})
		c, failing := failingServer(t, emu, func(p string) bool { return strings.Contains(p, "/objects/contacts") })
		lookback := 5 * time.Minute
		ids := map[string]string{}
		put := func(ref string, props map[string]string) string {
			if id, ok := ids[ref]; ok {
				if err := emu.UpdateObject("contacts", id, props); err != nil {
					t.Fatal(err)
				}
				return id
			}
			props["email"] = ref + "@x.com"
			id, err := emu.CreateObject("contacts", props)
			if err != nil {
				t.Fatal(err)
			}
			ids[ref] = id
			return id
		}
		return &extracttest.Fixture{
			Source: &Source{Client: c, Objects: []string{"contacts"}, Incremental: true, Lookback: lookback, Now: clk.Now},
			Stream: "hubspot/contacts", Schema: "raw_hubspot", Table: "contacts", KeyColumn: "id", ValueColumn: "jobtitle",
			Put:     func(ref, value string) string { return put(ref, map[string]string{"jobtitle": value}) },
			Advance: clk.Advance, Now: clk.Now, Lookback: lookback, Many: 250,
			AddColumn: func() string {
				if err := emu.AddProperty("contacts", hubspottest.Property{Name: "tier", Label: "Tier", Type: "string", FieldType: "text", GroupName: "contactinformation"}); err != nil {
					t.Fatal(err)
				}
				return "tier"
			},
			Set:    func(ref, col, value string) { put(ref, map[string]string{col: value}) },
			Fail:   failing.Store,
			Keyed:  true,
			Probed: true,
		}
	}}
}
