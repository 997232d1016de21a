package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/internal/memstat"
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

// accepting is a HubSpot destination that accepts every row without a
// call, in large batches: it writes a 1,000,000-row snapshot through the
// real record path quickly, as setup for the plan benchmark.
type accepting struct{ *objects }

func (a accepting) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	d, err := a.objects.Describe(ctx, req)
	if d != nil {
		d.BatchSize = 50_000
	}
	return d, err
}

func (accepting) Apply(_ context.Context, rows []load.Row) ([]load.Outcome, error) {
	out := make([]load.Outcome, len(rows))
	for i := range out {
		out[i].Status = load.Applied
	}
	return out, nil
}

// hsBench serves a HubSpot emulator at the bench tier, with a number
// property usage_score on contacts, counting batch calls.
func hsBench(b *testing.B, burst int) (*hubspottest.Server, *objects, *atomic.Int64) {
	b.Helper()
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: burst})
	emu.AddProperty("contacts", hubspottest.Property{Name: benchScoreProp, Label: "Usage score", Type: "number", FieldType: "number", GroupName: "contactinformation"})
	c, calls := countingClient(b, emu, burst, "/batch/")
	return emu, &objects{client: c, target: target{object: "contacts", match: "id", size: api.MaxBatch, mode: load.Update}}, calls
}

// countingClient serves emu and counts the calls whose path holds part;
// its client runs at burst calls per 10 s.
func countingClient(b *testing.B, emu *hubspottest.Server, burst int, part string) (*api.Client, *atomic.Int64) {
	b.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, part) {
			calls.Add(1)
		}
		emu.ServeHTTP(w, r)
	}))
	b.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: "t", BurstLimit: burst})
	if err != nil {
		b.Fatal(err)
	}
	return c, &calls
}

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

func contactSync(batch int) load.Spec {
	return load.Spec{Name: "usage", File: "syncs/usage.yml", Model: "usage", Key: "id", Mode: "update", OnRemove: "ignore", Fields: []load.Field{{Column: "title", Field: "jobtitle"}, {Column: "stage", Field: "lifecyclestage"}, {Column: "score", Field: benchScoreProp}}}
}

// BenchmarkPlan1M plans a 1,000,000-row model against a 1,000,000-row
// snapshot with 1% of rows changed, and reports the time and the peak
// resident memory of making the plan.
func BenchmarkPlan1M(b *testing.B) {
	ctx := context.Background()
	_, dest, _ := hsBench(b, 100_000)
	s := contactSync(100)
	for i := 0; i < b.N; i++ {
		w := benchWarehouse(b)
		exec(b, w, `CREATE TABLE models.usage AS SELECT i, CAST(i AS VARCHAR) AS id, 'Title ' || (i % 1000) AS title,
			['lead', 'opportunity', 'customer'][1 + i % 3] AS stage, i % 977 AS score FROM range(1000000) t(i)`)
		if _, err := load.Sync(ctx, w, "setup", s, accepting{dest}); err != nil {
			b.Fatal(err)
		}
		exec(b, w, `UPDATE models.usage SET score = score + 1 WHERE i % 100 = 7`, `CHECKPOINT`)
		path := w.Path()
		w.Close()
		elapsed, peak, base := planFile(b, path, "", s, dest)
		_, limited, _ := planFile(b, path, "256MB", s, dest)
		b.ReportMetric(elapsed, "s")
		b.ReportMetric(peak, "peak-MB")
		fmt.Printf("bench: plan_1m_seconds %.2f s\n", elapsed)
		fmt.Printf("bench: plan_1m_peak_mb %.0f MB\n", peak)
		fmt.Printf("bench: plan_1m_rss_before_mb %.0f MB\n", base)
		fmt.Printf("bench: plan_1m_peak_mb_at_256mb_limit %.0f MB\n", limited)
	}
}

// planFile opens the file afresh, as a scheduled run does, so the figures
// are the plan's and not the setup's caches, and makes the plan with
// DuckDB's memory capped at limit ("" for DuckDB's default, 80% of RAM).
func planFile(b *testing.B, path, limit string, s load.Spec, dest load.Destination) (seconds, peakMB, baseMB float64) {
	b.Helper()
	ctx := context.Background()
	debug.FreeOSMemory()
	w, err := warehouse.Open(ctx, path, warehouse.Options{MemoryLimit: limit})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	memstat.ResetPeak()
	baseMB = memstat.CurrentMB()
	start := time.Now()
	p, err := load.NewPlan(ctx, w, s, dest, load.PlanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	seconds = time.Since(start).Seconds()
	peakMB = memstat.PeakMB()
	changed, unchanged := p.Counts.Changed, p.Counts.Unchanged
	p.Close()
	if changed != 10_000 || unchanged != 990_000 {
		b.Fatalf("plan: %d changed, %d unchanged; want 10000 and 990000", changed, unchanged)
	}
	return seconds, peakMB, baseMB
}

// BenchmarkApplyHubSpot syncs 57,000 contacts by id (30 s at the ceiling),
// reports the rate as a share of the 1,900 records/s ceiling, then changes
// one field of 1% of the rows and reports the batch calls per changed row.
func BenchmarkApplyHubSpot(b *testing.B) {
	const n = 57_000
	emu, dest, calls := hsBench(b, hsBurst)
	ids := make([]string, n)
	for k := range ids {
		id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("u%d@example.com", k)})
		if err != nil {
			b.Fatal(err)
		}
		ids[k] = "'" + id + "'"
	}
	s := contactSync(100)
	for i := 0; i < b.N; i++ {
		w := benchWarehouse(b)
		exec(b, w, `CREATE TABLE models.usage AS SELECT i, id, 'Title ' || (i % 1000) AS title,
			['lead', 'opportunity', 'customer'][1 + i % 3] AS stage, i % 977 AS score
			FROM (SELECT unnest([`+strings.Join(ids, ",")+`]) AS id, generate_subscripts([`+strings.Join(ids, ",")+`], 1) - 1 AS i)`)
		res, elapsed, total := timedSync(b, w, "first", s, dest)
		if res.Applied != n {
			b.Fatalf("first sync: %v", res)
		}
		ratio := float64(n) / elapsed / hsCeiling

		exec(b, w, `UPDATE models.usage SET score = score + 1000 WHERE i % 100 = 7`)
		before := calls.Load()
		res, _, _ = timedSync(b, w, "second", s, dest)
		if res.Applied != n/100 {
			b.Fatalf("second sync: %v", res)
		}
		perRow := float64(calls.Load()-before) / float64(res.Applied)

		lost := 0
		rows, err := w.DB().Query(`SELECT id, CAST(score AS VARCHAR) FROM models.usage`)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id, score string
			rows.Scan(&id, &score)
			if o, _ := emu.Object("contacts", id); o.Properties[benchScoreProp] != score {
				lost++
			}
		}
		rows.Close()
		_, limited := emu.Requests()
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: apply_hubspot_ratio %.3f ratio\n", ratio)
		fmt.Printf("bench: apply_hubspot_seconds %.1f s\n", elapsed)
		fmt.Printf("bench: apply_hubspot_sync_seconds %.1f s\n", total)
		fmt.Printf("bench: apply_hubspot_lost %d rows\n", lost)
		fmt.Printf("bench: apply_hubspot_429s %d responses\n", limited)
		fmt.Printf("bench: calls_per_changed_record %.4f calls\n", perRow)
	}
}
