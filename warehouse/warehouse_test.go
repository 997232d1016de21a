package warehouse_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/warehouse"
)

func TestOpen_CreatesSchemas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := warehouse.Open(ctx, path, warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var schemas []string
	if err := w.DB().SelectContext(ctx, &schemas,
		`SELECT schema_name FROM information_schema.schemata
		 WHERE catalog_name = current_database() AND schema_name IN ('raw_hubspot','raw_pendo','models','backflow')
		 ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := []string{"backflow", "models", "raw_hubspot", "raw_pendo"}
	if len(schemas) != len(want) {
		t.Fatalf("schemas = %v, want %v", schemas, want)
	}
	for i := range want {
		if schemas[i] != want[i] {
			t.Fatalf("schemas = %v, want %v", schemas, want)
		}
	}
	// Reopen: install is idempotent.
	w.Close()
	w2, err := warehouse.Open(ctx, path, warehouse.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	w2.Close()
}

func TestWarehouse_WithArrow(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "n", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	var recs []arrow.RecordBatch
	for batch := 0; batch < 3; batch++ {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for i := 0; i < 1000; i++ {
			b.Field(0).(*array.StringBuilder).Append("x")
			if i%2 == 0 {
				b.Field(1).(*array.Float64Builder).AppendNull()
			} else {
				b.Field(1).(*array.Float64Builder).Append(float64(i))
			}
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	rdr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	err = w.WithArrow(ctx, rdr, func(conn *sql.Conn, view string) error {
		_, err := conn.ExecContext(ctx, "CREATE TABLE raw_pendo.t AS SELECT * FROM "+view)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n, nulls int
	if err := w.DB().QueryRowContext(ctx, "SELECT count(*), count(*) - count(n) FROM raw_pendo.t").Scan(&n, &nulls); err != nil {
		t.Fatal(err)
	}
	if n != 3000 || nulls != 1500 {
		t.Fatalf("rows = %d nulls = %d, want 3000 and 1500", n, nulls)
	}
}

// run_started_at() is the opening command's present on each of its
// connections, in views and macros too; other clients see the start of
// the latest run.
func TestOpen_RunStartedAt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	present := time.Date(2027, 3, 14, 23, 59, 30, 0, time.FixedZone("EDT", -4*3600))
	w, err := warehouse.Open(ctx, path, warehouse.Options{RunStartedAt: present})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE MACRO days_back(n) AS run_started_at() - to_days(n)`,
		`CREATE VIEW models.v AS SELECT run_started_at() AS started, days_back(1) AS a_day_before`,
		`INSERT INTO backflow.runs (run_id, command, started_at, status) VALUES ('0001', 'run', TIMESTAMPTZ '2020-01-01 00:00:00Z', 'succeeded'),
			('0002', 'run', TIMESTAMPTZ '2021-06-01 12:00:00Z', 'succeeded')`,
	} {
		if _, err := w.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	read := func(w *warehouse.Warehouse) (at, before time.Time) {
		t.Helper()
		// Several connections at once: each has the macro.
		conns := make([]*sql.Conn, 3)
		for i := range conns {
			c, err := w.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		for _, c := range conns {
			if err := c.QueryRowContext(ctx, `SELECT started, a_day_before FROM models.v`).Scan(&at, &before); err != nil {
				t.Fatal(err)
			}
		}
		return at, before
	}
	if at, before := read(w); !at.Equal(present) || !before.Equal(present.Add(-24*time.Hour)) {
		t.Errorf("run_started_at() = %s, days_back(1) = %s; want %s", at, before, present)
	}
	w.Close()
	ro, err := warehouse.Open(ctx, path, warehouse.Options{ReadOnly: true, RunStartedAt: present.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if at, _ := read(ro); !at.Equal(present.Add(time.Hour)) {
		t.Errorf("read-only: run_started_at() = %s, want %s", at, present.Add(time.Hour))
	}
	ro.Close()
	plain, err := warehouse.Open(ctx, path, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if at, _ := read(plain); !at.Equal(time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("without a present: run_started_at() = %s, want the latest run's start", at)
	}
}

// Connections compute in UTC, whatever the machine's zone, and the
// constants a project sets are macros in the file: pendo_day_end() ends a
// Pendo day at the next local midnight, 23 or 25 hours on DST days.
func TestOpen_TimeZoneAndConstants(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := warehouse.Open(ctx, path, warehouse.Options{Constants: map[string]string{"pendo_timezone": warehouse.Literal("America/New_York")}})
	if err != nil {
		t.Fatal(err)
	}
	var zone string
	if err := w.DB().QueryRowContext(ctx, `SELECT current_setting('TimeZone')`).Scan(&zone); err != nil || zone != "UTC" {
		t.Fatalf("TimeZone = %q (%v), want UTC", zone, err)
	}
	tests := []struct{ day, end string }{
		{"2026-12-01 05:00:00Z", "2026-12-02 05:00:00Z"},
		{"2027-03-14 05:00:00Z", "2027-03-15 04:00:00Z"}, // 23 hours
		{"2027-11-07 04:00:00Z", "2027-11-08 05:00:00Z"}, // 25 hours
		{"2026-12-31 05:00:00Z", "2027-01-01 05:00:00Z"},
	}
	for _, tt := range tests {
		var end time.Time
		if err := w.DB().QueryRowContext(ctx, `SELECT pendo_day_end(CAST(? AS TIMESTAMPTZ))`, tt.day).Scan(&end); err != nil {
			t.Fatal(err)
		}
		if want, _ := time.Parse("2006-01-02 15:04:05Z", tt.end); !end.Equal(want) {
			t.Errorf("pendo_day_end(%s) = %s, want %s", tt.day, end.UTC(), want)
		}
	}
	w.Close()
	// Other clients find the setting in the file.
	ro, err := warehouse.Open(ctx, path, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.DB().QueryRowContext(ctx, `SELECT pendo_timezone()`).Scan(&zone); err != nil || zone != "America/New_York" {
		t.Fatalf("pendo_timezone() = %q (%v)", zone, err)
	}
}
