package load

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/warehouse"
)

// TestDiff_SnapshotLookupFailure: when looking for the snapshot fails,
// the plan fails; read as "no snapshot", every row would be planned as an
// add and sent again.
func TestDiff_SnapshotLookupFailure(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.DB().Exec(`CREATE TABLE models.m AS SELECT 'k' || i AS k, i AS n FROM range(3) t(i)`); err != nil {
		t.Fatal(err)
	}
	conn, err := w.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close() // every statement on it now fails
	p := &Plan{Spec: Spec{Name: "s", File: "syncs/s.yml", Model: "m", Key: "k", Mode: Update, OnRemove: Ignore}, conn: conn}
	err = p.diff(ctx, warehouse.Table("models", "m"), []string{`"n" := n`}, "NULL::VARCHAR")
	if err == nil || !strings.Contains(err.Error(), "look for the snapshot") {
		t.Fatalf("diff = %v; want the failed lookup", err)
	}
	if p.Counts.Added != 0 || p.Pending() != 0 {
		t.Fatalf("the failed plan counts %d adds", p.Counts.Added)
	}
}
