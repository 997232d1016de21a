//go:build !duckdb_arrow

package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// ArrowIngest names how WithArrow ingests: through DuckDB's Arrow
// interface (a build with the duckdb_arrow tag, as make builds), or its
// appender (this build, which go install makes: duckdb-go keeps its Arrow
// interface behind that tag). Both give the same tables; the appender
// is slower on wide extractions.
const ArrowIngest = "appender"

// WithArrow loads rdr into a temporary table on one connection and calls
// fn with that connection and the table's name, as the Arrow build does
// with a view: fn may run any statements, including a transaction, on
// conn; the table is readable only there and dropped after fn returns.
// The reader is read whole before fn runs; its error, if any, is
// returned and fn is not called.
func (w *Warehouse) WithArrow(ctx context.Context, rdr array.RecordReader, fn func(conn *sql.Conn, view string) error) (err error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("warehouse: get connection: %w", err)
	}
	defer conn.Close()
	view := fmt.Sprintf("__backflow_arrow_%d", w.views.Add(1))
	schema := rdr.Schema()
	cols := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = Ident(f.Name) + " " + appenderType(f.Type)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE "+view+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return fmt.Errorf("warehouse: create ingest table: %w", err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+view); derr != nil {
			err = errors.Join(err, fmt.Errorf("warehouse: drop ingest table: %w", derr))
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	err = conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", view)
		if err != nil {
			return err
		}
		row := make([]driver.Value, schema.NumFields())
		for rdr.Next() {
			rec := rdr.RecordBatch()
			for r := 0; r < int(rec.NumRows()); r++ {
				for c := range row {
					if row[c], err = value(rec.Column(c), r); err != nil {
						app.Close()
						return fmt.Errorf("column %s: %w", schema.Field(c).Name, err)
					}
				}
				if err := app.AppendRow(row...); err != nil {
					app.Close()
					return err
				}
			}
		}
		if err := rdr.Err(); err != nil {
			app.Close()
			return err
		}
		return app.Close()
	})
	if err != nil {
		return fmt.Errorf("warehouse: ingest: %w", err)
	}
	return fn(conn, view)
}

// appenderType is the column type a staged Arrow type loads as, the
// types the Arrow build's views give.
func appenderType(t arrow.DataType) string {
	switch t.ID() {
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.DATE32:
		return "DATE"
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).TimeZone != "" {
			return "TIMESTAMP WITH TIME ZONE"
		}
		return "TIMESTAMP"
	case arrow.INT64:
		return "BIGINT"
	case arrow.INT32:
		return "INTEGER"
	case arrow.LIST:
		return appenderType(t.(*arrow.ListType).Elem()) + "[]"
	}
	return "VARCHAR"
}

// value is row r of column a as the appender takes it.
func value(a arrow.Array, r int) (driver.Value, error) {
	if a.IsNull(r) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(r), nil
	case *array.LargeString:
		return a.Value(r), nil
	case *array.Float64:
		return a.Value(r), nil
	case *array.Int64:
		return a.Value(r), nil
	case *array.Int32:
		return a.Value(r), nil
	case *array.Boolean:
		return a.Value(r), nil
	case *array.Date32:
		return a.Value(r).ToTime(), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(r).ToTime(unit).UTC(), nil
	case *array.List:
		start, end := a.ValueOffsets(r)
		out := make([]any, 0, end-start)
		for i := start; i < end; i++ {
			v, err := value(a.ListValues(), int(i))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no appender conversion for Arrow type %s", a.DataType())
}
