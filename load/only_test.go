package load_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/connector/memfile"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestPlan_Only: a plan restricted to some model rows sends their changes
// and nothing else: a row gone from the model outside the restriction is
// not removed until a plan without it.
func TestPlan_Only(t *testing.T) {
	ctx := context.Background()
	now, store, w := memfileFixture(t, 5)
	exec := func(q string) {
		t.Helper()
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE models.m AS SELECT 'k' || i AS k, 'v' || i AS a, i AS t FROM range(1, 6) r(i)`)
	spec := load.Spec{Name: "people", File: "syncs/people.yml", Model: "m", Key: "k", Mode: load.Update, OnRemove: load.Clear,
		Fields: []load.Field{{Column: "a", Field: "a"}}}
	dest := &memfile.Destination{Store: store, Table: "people", Size: 10}
	if _, err := load.Sync(ctx, w, "r1", spec, dest); err != nil {
		t.Fatal(err)
	}
	// k2 and k4 change, k5 leaves the model; only t >= 3 was recomputed.
	exec(`UPDATE models.m SET a = 'new', t = 9 WHERE k IN ('k2', 'k4'); DELETE FROM models.m WHERE k = 'k5'`)
	plan := func(only string) load.Result {
		t.Helper()
		p, err := load.NewPlan(ctx, w, spec, dest, load.PlanOptions{Only: only, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		res, err := p.Apply(ctx, w, "r-"+only, 0)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := plan("t >= 9"); r.ModelRows != 2 || r.Changed != 2 || r.Removed != 0 || r.Applied != 2 {
		t.Fatalf("restricted plan: %v; want the 2 recomputed rows changed, nothing removed", r)
	}
	if r := plan(""); r.Changed != 0 || r.Removed != 1 || r.Unchanged != 4 {
		t.Fatalf("full plan: %v; want k5 removed and nothing else", r)
	}
}

// memfileFixture is a memfile store of people k1…kn with a text field a,
// on a fixed clock, and an empty DuckDB file closed with the test.
func memfileFixture(t *testing.T, n int) (func() time.Time, *memfile.Store, *warehouse.Warehouse) {
	t.Helper()
	now := func() time.Time { return time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC) }
	store := memfile.NewStore(now)
	store.Declare("people", "a", "string")
	for i := 1; i <= n; i++ {
		store.Put("people", fmt.Sprintf("k%d", i), nil)
	}
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return now, store, w
}
