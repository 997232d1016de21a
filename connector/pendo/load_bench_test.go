package pendo

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// HubSpot at a Professional tier's 190 requests per 10 seconds: 1,900
// records/s in batches of 100. Pendo's bulk metadata endpoint processes
// about 2,500 rows/s (the emulator's model of its 5-minute cap).
const (
	hsBurst        = 190
	hsCeiling      = 1900.0
	pendoBulkRate  = 2500
	benchScoreProp = "usage_score"
)

func benchWarehouse(b *testing.B) *warehouse.Warehouse {
	b.Helper()
	w, err := warehouse.Open(context.Background(), filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return w
}

func exec(b *testing.B, w *warehouse.Warehouse, queries ...string) {
	b.Helper()
	for _, q := range queries {
		if _, err := w.DB().Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// timedSync plans and applies a sync, timing the apply alone (the
// throughput figure) and the whole sync.
func timedSync(b *testing.B, w *warehouse.Warehouse, runID string, s load.Spec, dest load.Destination) (res load.Result, apply, total float64) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	p, err := load.NewPlan(ctx, w, s, dest, load.PlanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	applyStart := time.Now()
	res, err = p.Apply(ctx, w, runID, 0)
	if err != nil {
		b.Fatal(err)
	}
	return res, time.Since(applyStart).Seconds(), time.Since(start).Seconds()
}

// BenchmarkApplyPendo sets three custom fields on 25,000 visitors (10 s
// at the emulator's 2,500 rows/s bulk processing rate) in batches of 500,
// and reports the rate as a share of that.
func BenchmarkApplyPendo(b *testing.B) {
	const n = 25_000
	emu := pendotest.New(pendotest.Options{IntegrationKey: key, BulkRowsPerSecond: pendoBulkRate})
	for _, f := range [][2]string{{"plan", "string"}, {"score", "float"}, {"active", "boolean"}} {
		if err := emu.AddField("visitor", "custom", f[0], f[1]); err != nil {
			b.Fatal(err)
		}
	}
	for k := 0; k < n; k++ {
		emu.PutVisitor(fmt.Sprintf("v%d", k), nil)
	}
	srv := httptest.NewServer(emu)
	b.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), IntegrationKey: key})
	if err != nil {
		b.Fatal(err)
	}
	dest := &metadata{client: c, kind: api.Visitor, group: "custom", size: 500}
	s := load.Spec{Name: "traits", File: "syncs/traits.yml", Model: "traits", Key: "id", Mode: "update", OnRemove: "ignore", Fields: []load.Field{{Column: "plan", Field: "plan"}, {Column: "score", Field: "score"}, {Column: "active", Field: "active"}}}
	for i := 0; i < b.N; i++ {
		w := benchWarehouse(b)
		exec(b, w, fmt.Sprintf(`CREATE TABLE models.traits AS SELECT 'v' || i AS id, ['free', 'pro', 'team'][1 + i %% 3] AS plan,
			(i %% 1000) / 10.0 AS score, i %% 2 = 0 AS active FROM range(%d) t(i)`, n))
		res, elapsed, total := timedSync(b, w, "first", s, dest)
		if res.Applied != n {
			b.Fatalf("sync: %v", res)
		}
		lost := 0
		for k := 0; k < n; k++ {
			md, _ := emu.Visitor(fmt.Sprintf("v%d", k))
			if md["custom"]["plan"] == nil {
				lost++
			}
		}
		ratio := float64(n) / elapsed / pendoBulkRate
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: apply_pendo_ratio %.3f ratio\n", ratio)
		fmt.Printf("bench: apply_pendo_seconds %.2f s\n", elapsed)
		fmt.Printf("bench: apply_pendo_sync_seconds %.2f s\n", total)
		fmt.Printf("bench: apply_pendo_lost %d rows\n", lost)
	}
}
