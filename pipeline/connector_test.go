package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/connector/memfile"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestRun_TestConnector runs a project of the test-only memfile connector,
// added to the shipped table by one line, end to end: its source is
// extracted, a model reads it, a sync writes its destination. run and
// sync record a run whose rows were rejected the same way: partial.
func TestRun_TestConnector(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC) }
	store := memfile.NewStore(now)
	store.Declare("people", "stage", "string")
	store.Put("people", "p1", map[string]any{"stage": "lead"})
	store.Put("people", "p2", map[string]any{"stage": "bogus"})
	store.Declare("crm", "stage", "string", "lead", "customer")
	store.Put("crm", "p1", nil)
	store.Put("crm", "p2", nil)

	table := append(builtin.Connectors(), memfile.New(store))
	p, err := project.Load(fstest.MapFS{
		"backflow.yml":   {Data: []byte("name: t\nmemfile:\n  tables: [people]\n")},
		"models/out.sql": {Data: []byte("SELECT id, stage FROM raw_memfile.people\n")},
		"syncs/crm.yml":  {Data: []byte("model: out\ndestination: memfile\nobject: crm\nkey: id\nfields: {stage: stage}\n")},
	}, "t", table)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "w.duckdb")
	opts := pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Now: now}
	res, err := pipeline.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Staged() != 2 || len(res.Syncs) != 1 || res.Syncs[0].Applied != 1 || res.Syncs[0].Rejected != 1 {
		t.Fatalf("run: staged %d, syncs %v", res.Staged(), res.Syncs)
	}
	if v, _ := store.Get("crm", "p1"); v["stage"] != "lead" {
		t.Fatalf("crm p1 holds %v", v)
	}
	// The rejected row again, through sync.
	if err := pipeline.Syncs(ctx, opts, pipeline.SyncOptions{Apply: true, RetrySkipped: true}, func(ps pipeline.PlannedSync) error {
		if r := ps.Result; r.Rejected != 1 {
			t.Errorf("sync: %v", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w, err := warehouse.Open(ctx, db, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var statuses []string
	if err := w.DB().Select(&statuses, `SELECT command || ' ' || status FROM backflow.runs ORDER BY run_id`); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0] != "run partial" || statuses[1] != "sync partial" {
		t.Fatalf("runs recorded %v; want run and sync both partial", statuses)
	}
}
