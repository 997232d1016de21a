package warehouse_test

import (
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/backflow-dev/backflow/warehouse"
)

// previousRelease is a DuckDB file written by the previous release
// (c9ec01a): `backflow init` against `backflow sandbox --contacts 40`,
// then two `backflow run`s, syncing visitor and account traits to Pendo.
const previousRelease = "testdata/release-c9ec01a.duckdb.gz"

// oldFile copies the previous release's file into a temporary folder.
func oldFile(t *testing.T) string {
	t.Helper()
	f, err := os.Open(previousRelease)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "warehouse.duckdb")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// raw runs statements on a file without backflow's migrations.
func raw(t *testing.T, path string, stmts ...string) {
	t.Helper()
	c, err := duckdb.NewConnector(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

type state struct {
	versions             []int
	runs, snapshotRows   int
	snapshotsWithoutDest int
}

func readState(t *testing.T, w *warehouse.Warehouse) state {
	t.Helper()
	var s state
	if err := w.DB().Select(&s.versions, `SELECT version FROM backflow.schema_version ORDER BY version`); err != nil {
		t.Fatal(err)
	}
	q := func(dst *int, query string) {
		if err := w.DB().QueryRow(query).Scan(dst); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(&s.runs, `SELECT count(*) FROM backflow.runs`)
	q(&s.snapshotRows, `SELECT count(*) FROM backflow.snapshot_visitor_traits`)
	q(&s.snapshotsWithoutDest, `SELECT count(*) FROM information_schema.tables t WHERE table_schema = 'backflow' AND table_name LIKE 'snapshot%'
		AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = 'backflow' AND c.table_name = t.table_name AND c.column_name = 'dest_id')`)
	return s
}

func TestMigrate_PreviousRelease(t *testing.T) {
	tests := []struct {
		name string
		// before changes the old file first: an older file still.
		before []string
	}{
		{"as_written", nil},
		{"snapshots_before_create_mode", []string{
			`ALTER TABLE backflow.snapshot_visitor_traits DROP COLUMN dest_id`,
			`ALTER TABLE backflow.snapshot_account_traits DROP COLUMN dest_id`,
		}},
		{"no_schema_changes_table", []string{`DROP TABLE backflow.schema_changes`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := oldFile(t)
			raw(t, path, tt.before...)
			at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
			w, err := warehouse.Open(ctx, path, warehouse.Options{RunStartedAt: at})
			if err != nil {
				t.Fatal(err)
			}
			got := readState(t, w)
			if len(got.versions) != warehouse.Version-1 || got.versions[0] != 2 || got.versions[len(got.versions)-1] != warehouse.Version {
				t.Fatalf("versions recorded %v, want 2..%d (the file was at 1)", got.versions, warehouse.Version)
			}
			if got.runs != 2 || got.snapshotRows != 33 || got.snapshotsWithoutDest != 0 {
				t.Fatalf("after the migration: %+v; want the 2 runs and 33 snapshot rows kept, every snapshot with dest_id", got)
			}
			var migratedAt time.Time
			if err := w.DB().QueryRow(`SELECT max(migrated_at) FROM backflow.schema_version`).Scan(&migratedAt); err != nil || !migratedAt.Equal(at) {
				t.Fatalf("migrated_at %v (%v), want %v", migratedAt, err, at)
			}
			var n int
			if err := w.DB().QueryRow(`SELECT count(*) FROM backflow.schema_changes`).Scan(&n); err != nil {
				t.Fatalf("schema_changes: %v", err)
			}
			w.Close()
			// Opening again migrates nothing.
			w, err = warehouse.Open(ctx, path, warehouse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if again := readState(t, w); len(again.versions) != len(got.versions) || again.runs != 2 {
				t.Fatalf("second open: %+v", again)
			}
		})
	}
}

func TestMigrate_NewFile(t *testing.T) {
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var versions []int
	if err := w.DB().Select(&versions, `SELECT version FROM backflow.schema_version ORDER BY version`); err != nil {
		t.Fatal(err)
	}
	if len(versions) != warehouse.Version || versions[len(versions)-1] != warehouse.Version {
		t.Fatalf("a new file went through versions %v, want 1..%d", versions, warehouse.Version)
	}
}

func TestMigrate_NewerFileRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := warehouse.Open(ctx, path, warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	raw(t, path, `INSERT INTO backflow.schema_version VALUES (99, 'from the future', now())`)
	_, err = warehouse.Open(ctx, path, warehouse.Options{})
	if !errors.Is(err, warehouse.ErrNewerFile) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("err = %v, want ErrNewerFile naming version 99", err)
	}
}
