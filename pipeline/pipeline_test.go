package pipeline_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/demo"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestRun_EndToEnd runs the example project against the seeded emulators:
// first load, a no-op rerun, a visitor deleted in Pendo (reported missing,
// skipped, not retried), and a changed contact; after each pass the
// snapshot and sync_rows must agree with what the Pendo emulator holds.
func TestRun_EndToEnd(t *testing.T) {
	ctx := context.Background()
	// Runs are an hour apart on a pinned clock: past HubSpot search's lag,
	// as scheduled runs are.
	now := clocktest.Named("afternoon")
	clock := func() time.Time { return now }
	sb, err := sandbox.Start(sandbox.Options{Contacts: 300, ExtraVisitors: 40, Anonymous: 5, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	p, secrets := sandboxed(t, sb, examples.Demo(), "examples/demo")
	db := filepath.Join(t.TempDir(), "w.duckdb")
	opts := pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Secrets: secrets, Now: clock}

	run := func(name string) load.Result {
		t.Helper()
		now = now.Add(time.Hour)
		res, err := pipeline.Run(ctx, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Syncs) != 1 {
			t.Fatalf("%s: %d syncs", name, len(res.Syncs))
		}
		return res.Syncs[0]
	}

	first := run("first")
	if first.ModelRows < 200 || first.Applied != first.ModelRows || first.Skipped+first.Failed+first.Rejected != 0 {
		t.Fatalf("first run: %v", first)
	}
	checkAgree(t, db, sb)

	if again := run("second"); again.Applied+again.Skipped+again.Failed != 0 || again.Unchanged != first.ModelRows {
		t.Fatalf("second run sent something: %v", again)
	}

	// A visitor vanishes from Pendo after extraction, and its contact
	// changes: Pendo reports it missing on the next push.
	w, err := warehouse.Open(ctx, db, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var gone, contactID string
	var score float64
	if err := w.DB().QueryRowContext(ctx, `SELECT i.visitor_id, i.contact_id, coalesce(c.hubspotscore, 0) FROM models.identity_contacts_visitors i
		JOIN raw_hubspot.contacts c ON c.id = i.contact_id WHERE i.status = 'matched' ORDER BY i.visitor_id LIMIT 1`).Scan(&gone, &contactID, &score); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := sb.HubSpot.UpdateObject("contacts", contactID, map[string]string{"hubspotscore": "101"}); err != nil {
		t.Fatal(err)
	}
	// Keep raw_pendo stale for the deleted visitor by deleting it only after
	// this run's extraction would have read it: run the sync on the model
	// that still holds it.
	opts.Only = []string{"hubspot"}
	sb.Pendo.DeleteVisitor(gone)
	third := run("third")
	if third.Changed != 1 || third.Skipped != 1 || third.Applied != 0 {
		t.Fatalf("third run: %v", third)
	}
	var status, msg string
	w, err = warehouse.Open(ctx, db, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.DB().QueryRowContext(ctx, `SELECT status, error FROM backflow.sync_rows WHERE key = ? ORDER BY recorded_at DESC LIMIT 1`, gone).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if status != "skipped_not_found" {
		t.Fatalf("missing visitor status = %s (%s)", status, msg)
	}
	// Skipped rows are not retried until they change.
	if fourth := run("fourth"); fourth.Applied+fourth.Skipped+fourth.Failed != 0 {
		t.Fatalf("fourth run retried a skipped row: %v", fourth)
	}
	checkAgree(t, db, sb)
}

func checkAgree(t *testing.T, db string, sb *sandbox.Sandbox) {
	t.Helper()
	n, err := demo.Verify(context.Background(), db, "visitor_traits", sb.Pendo)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("empty snapshot")
	}
}

// sandboxed loads the project in fsys pointed at sb, with its credentials.
func sandboxed(t *testing.T, sb *sandbox.Sandbox, fsys fs.FS, dir string) (*project.Project, project.Secrets) {
	t.Helper()
	p, err := project.LoadWith(fsys, dir, builtin.Connectors(), project.Options{Set: sb.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := p.Secrets(sb.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	return p, secrets
}
