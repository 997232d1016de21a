package pendo

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestEstimateCountsPendoProcessing: a Pendo bulk metadata plan takes at
// least its rows at Pendo's processing rate, not just its calls.
func TestEstimateCountsPendoProcessing(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.DB().Exec(`CREATE TABLE models.m AS SELECT 'v' || i AS visitor_id, 'x' AS plan FROM range(10000) r(i)`); err != nil {
		t.Fatal(err)
	}
	pd := pendotest.New(pendotest.Options{IntegrationKey: "k"})
	pd.AddField("visitor", "custom", "plan", "string")
	srv := httptest.NewServer(pd)
	defer srv.Close()
	pc, err := api.New(api.Config{BaseURL: srv.URL, IntegrationKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	s := load.Spec{Name: "traits", File: "syncs/traits.yml", Model: "m", Key: "visitor_id", Mode: "update", OnRemove: "ignore", Fields: []load.Field{{Column: "plan", Field: "plan"}}}
	plan, err := load.NewPlan(ctx, w, s, &metadata{client: pc, kind: api.Visitor, group: "custom", size: 1000}, load.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	e := plan.Estimate()
	if e.Calls != 10 || e.Duration != 4*time.Second {
		t.Errorf("estimate: %d calls in %s; want 10 calls in 4s (10,000 rows at 2,500/s)", e.Calls, e.Duration)
	}
}
