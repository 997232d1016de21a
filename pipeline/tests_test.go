package pipeline_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// demoWith is the demo project with extra files, pointed at sb.
func demoWith(t *testing.T, sb *sandbox.Sandbox, extra map[string]string) *pipeline.Project {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(examples.Demo(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(examples.Demo(), path)
		fsys[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, text := range extra {
		fsys[path] = &fstest.MapFile{Data: []byte(text)}
	}
	p, _ := sandboxed(t, sb, fsys, "demo")
	return p.Pipeline()
}

// TestRun_FailingDataTestHoldsItsSyncs: run builds the models, runs the
// data tests, and does not run a sync whose model fails one.
func TestRun_FailingDataTestHoldsItsSyncs(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(sandbox.Options{Contacts: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	secrets := map[string]string{"HUBSPOT_TOKEN": sandbox.HubSpotToken, "PENDO_INTEGRATION_KEY": sandbox.PendoIntegrationKey}
	db := filepath.Join(t.TempDir(), "w.duckdb")

	p := demoWith(t, sb, map[string]string{"tests/no_customers.sql": "SELECT visitor_id FROM models.visitor_traits WHERE is_customer\n"})
	res, err := pipeline.Run(ctx, pipeline.Options{Project: p, Secrets: secrets, WarehousePath: db})
	if err == nil || !strings.Contains(err.Error(), "sync visitor_traits: not run: data test no_customers failed") {
		t.Fatalf("run with a failing test: %v", err)
	}
	if res.TestsFailed() != 1 || len(res.Tests) != 4 || len(res.Syncs) != 0 {
		t.Fatalf("tests run %d, failed %d, syncs run %d; want 4, 1, 0", len(res.Tests), res.TestsFailed(), len(res.Syncs))
	}

	p = demoWith(t, sb, map[string]string{"tests/few_customers.sql": "SELECT count(*) FROM models.visitor_traits WHERE is_customer HAVING count(*) > 1000\n"})
	res, err = pipeline.Run(ctx, pipeline.Options{Project: p, Secrets: secrets, WarehousePath: db})
	if err != nil || res.TestsFailed() != 0 || len(res.Syncs) != 1 || res.Syncs[0].Applied == 0 {
		t.Fatalf("run with passing tests: %v, %d failed, syncs %v", err, res.TestsFailed(), res.Syncs)
	}
}

// TestRun_StopBeforeSyncs: a stop during extraction ends the run as
// stopped, with nothing sent and the run recorded as stopped.
func TestRun_StopBeforeSyncs(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(sandbox.Options{Contacts: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	db := filepath.Join(t.TempDir(), "w.duckdb")
	stop := make(chan struct{})
	var once sync.Once
	progress := func(string, int64) { once.Do(func() { close(stop) }) }
	res, err := pipeline.Run(ctx, pipeline.Options{Project: demoWith(t, sb, nil), WarehousePath: db, Stop: stop, Progress: progress,
		Secrets: map[string]string{"HUBSPOT_TOKEN": sandbox.HubSpotToken, "PENDO_INTEGRATION_KEY": sandbox.PendoIntegrationKey}})
	if !errors.Is(err, load.ErrStopped) || len(res.Syncs) != 0 {
		t.Fatalf("stopped run: %v, %d syncs", err, len(res.Syncs))
	}
	w, err := warehouse.Open(ctx, db, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var status string
	if err := w.DB().QueryRow(`SELECT status FROM backflow.runs WHERE run_id = ?`, res.RunID).Scan(&status); err != nil || status != "stopped" {
		t.Fatalf("runs.status = %q, %v; want stopped", status, err)
	}
}
