package hubspot

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// benchDest describes contacts with HubSpot's value rendering and, when
// observe is set, HubSpot's drift comparisons; it sends nothing.
type benchDest struct {
	props   []api.Property
	observe bool
}

func (d *benchDest) Describe(context.Context, load.Request) (*load.Description, error) {
	desc := &load.Description{Name: "hubspot contacts", Types: map[string]string{}, BatchSize: 100, Value: valueSQL}
	o := &load.Observed{Schema: "raw_hubspot", Table: "contacts", Record: "r.id", ID: "r.id", Modified: "r.updated_at", Where: "NOT r.archived",
		Columns: []string{"id", "updated_at", "archived"}, Fields: map[string]load.ObservedField{}}
	for _, p := range d.props {
		desc.Types[p.Name] = p.Type
		o.Fields[p.Name] = compare("contacts", p)
	}
	if d.observe {
		desc.Observed = o
	}
	return desc, nil
}

func (d *benchDest) Apply(context.Context, []load.Row) ([]load.Outcome, error) {
	return nil, fmt.Errorf("the bench sends nothing")
}

// BenchmarkDriftCheck: 1,000,000 contacts synced with four properties
// (text, number, datetime, enumeration), staged again by extraction after
// the push, 1% of them edited since. The drift check is the time a plan
// takes with it less the time the same plan takes without (both measured
// here, on the same file).
func BenchmarkDriftCheck(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	w, err := warehouse.Open(ctx, filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	props := []api.Property{{Name: "plan_name", Type: "string"}, {Name: "seats", Type: "number"},
		{Name: "last_seen", Type: "datetime"}, {Name: "tier", Type: "enumeration", FieldType: "select"}}
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE models.traits AS SELECT CAST(i AS VARCHAR) AS contact_id, 'plan ' || (i %% 7) AS plan_name,
			CAST(i %% 500 AS DOUBLE) AS seats, TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(i) AS last_seen, 'tier' || (i %% 3) AS tier
			FROM range(%d) r(i)`, n),
		`CREATE TABLE backflow.snapshot_traits (key VARCHAR PRIMARY KEY, row_hash VARCHAR, payload JSON, pushed_at TIMESTAMPTZ, run_id VARCHAR, skipped_hash VARCHAR, dest_id VARCHAR)`,
		`INSERT INTO backflow.snapshot_traits SELECT contact_id, md5(p), p::JSON, ` + warehouse.TimeLiteral(t0) + `, 'r0', NULL, NULL FROM (
			SELECT contact_id, to_json(struct_pack(last_seen := pendo_time_to_hubspot_datetime(last_seen), plan_name := plan_name,
				seats := hubspot_number_text(seats), tier := tier))::VARCHAR AS p FROM models.traits)`,
		`CREATE SCHEMA IF NOT EXISTS raw_hubspot`,
		// HubSpot's answer: 1% edited by hand; the rest as sent.
		`CREATE TABLE raw_hubspot.contacts AS SELECT contact_id AS id, ` + warehouse.TimeLiteral(t0.Add(time.Minute)) + ` AS updated_at, false AS archived,
			CASE WHEN CAST(contact_id AS BIGINT) % 100 = 0 THEN 'edited' ELSE plan_name END AS plan_name, seats, last_seen, tier FROM models.traits`,
	} {
		if _, err := w.DB().ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	spec := load.Spec{Name: "traits", File: "syncs/traits.yml", Model: "traits", Key: "contact_id", Mode: load.Update, OnRemove: load.Ignore}
	for _, p := range props {
		spec.Fields = append(spec.Fields, load.Field{Column: p.Name, Field: p.Name})
	}
	plan := func(observe bool) (time.Duration, load.DriftSummary) {
		start := time.Now()
		p, err := load.NewPlan(ctx, w, spec, &benchDest{props: props, observe: observe}, load.PlanOptions{Now: func() time.Time { return t0.Add(time.Hour) }})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		p.Close()
		return took, p.Drift
	}
	for b.Loop() {
		plan(false) // warm the file's pages
		base, _ := plan(false)
		with, d := plan(true)
		if d.Found() != n/100 || d.Fields["plan_name"] != n/100 {
			b.Fatalf("drift %+v, want %d plan_name edits", d, n/100)
		}
		check := (with - base).Seconds()
		b.ReportMetric(check, "s")
		fmt.Printf("bench: drift_check_1m_seconds %.2f s\n", check)
		fmt.Printf("bench: drift_plan_1m_seconds %.2f s (the whole plan with the check; %.2f s without)\n", with.Seconds(), base.Seconds())
	}
}
