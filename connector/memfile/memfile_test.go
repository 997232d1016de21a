package memfile_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/connector/memfile"
	"github.com/backflow-dev/backflow/extract/extracttest"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/load/loadtest"
)

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Records is the memfile destination of records, as the load suite sees
// it; Events its destination of events.
func Records() loadtest.Target {
	return loadtest.Target{Name: "memfile_records", OnRemove: []load.OnRemove{load.Clear, load.Archive}, CreateFields: true,
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			store := memfile.NewStore(loadtest.Present)
			store.Declare("people", "a", "string", "lead", "customer", "evangelist")
			store.Declare("people", "n", "number")
			f := &loadtest.Fixture{Missing: "nobody", Good: []string{"lead", "customer", "evangelist"}, Bad: "NotAStage", NewField: "bf_score",
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Update, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: "a"}, {Column: "n", Field: "n"}}}}
			for i := range 4 {
				id := fmt.Sprintf("p%d", i)
				store.Put("people", id, nil)
				f.Keys = append(f.Keys, id)
			}
			if env.ServerErrors > 0 {
				store.FailAfterWork(env.ServerErrors, 3)
			}
			f.Destination = func(s load.Spec) load.Destination {
				return &memfile.Destination{Store: store, Table: "people", Archive: s.OnRemove == load.Archive, Size: 2}
			}
			f.Get = func(key string) (string, string, bool) {
				v, ok := store.Get("people", key)
				return str(v["a"]), str(v["n"]), ok
			}
			f.Field = func(key, name string) string { v, _ := store.Get("people", key); return str(v[name]) }
			f.Calls = store.Calls
			return f
		}}
}

// Events is the memfile destination of events.
func Events() loadtest.Target {
	return loadtest.Target{Name: "memfile_events", Events: true,
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			store := memfile.NewStore(loadtest.Present)
			store.Declare("signals", "a", "string", "lead", "customer", "evangelist")
			store.Declare("signals", "n", "number")
			f := &loadtest.Fixture{Keys: []string{"e0", "e1", "e2", "e3"}, Good: []string{"lead", "customer", "evangelist"}, Bad: "NotAStage",
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Events, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: "a"}, {Column: "n", Field: "n"}}}}
			if env.ServerErrors > 0 {
				store.FailAfterWork(env.ServerErrors, 3)
			}
			f.Destination = func(load.Spec) load.Destination {
				return &memfile.Destination{Store: store, Table: "signals", Events: true, Size: 2}
			}
			f.Get = func(key string) (string, string, bool) {
				for _, e := range store.Events("signals") {
					if e.Key == key {
						return str(e.Values["a"]), str(e.Values["n"]), true
					}
				}
				return "", "", false
			}
			f.Calls = store.Calls
			return f
		}}
}

func TestLoadSuite(t *testing.T) {
	for _, target := range []loadtest.Target{Records(), Events()} {
		t.Run(target.Name, func(t *testing.T) { loadtest.Run(t, target) })
	}
}

// Source is the memfile source, as the extract suite sees it.
func Source() extracttest.Source {
	return extracttest.Source{Name: "memfile", New: func(t *testing.T) *extracttest.Fixture {
		clk := clock.NewManual(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
		store := memfile.NewStore(clk.Now)
		store.Declare("people", "a", "string")
		f := &extracttest.Fixture{Source: &memfile.Source{Store: store, Tables: []string{"people"}, Lookback: 5 * time.Minute, BatchRows: 10},
			Stream: "memfile/people", Schema: "raw_memfile", Table: "people", KeyColumn: "id", ValueColumn: "a",
			Now: clk.Now, Advance: clk.Advance, Lookback: 5 * time.Minute, Many: 50}
		f.Put = func(ref, value string) string { store.Put("people", ref, map[string]any{"a": value}); return ref }
		f.AddColumn = func() string { store.Declare("people", "tier", "string"); return "tier" }
		f.Set = func(ref, col, value string) { store.Put("people", ref, map[string]any{col: value}) }
		f.Fail = func(on bool) {
			var err error
			if on {
				err = errors.New("memfile: 403 forbidden")
			}
			store.FailReads("people", err)
		}
		return f
	}}
}

func TestExtractSuite(t *testing.T) { extracttest.Run(t, Source()) }
