package warehouse_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

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
