//go:build duckdb_arrow

package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// ArrowIngest names how WithArrow ingests: through DuckDB's Arrow
// interface (this build), or its appender (a build without the
// duckdb_arrow tag, such as go install).
const ArrowIngest = "arrow"

// WithArrow registers rdr as a temporary view on one connection and calls fn
// with that connection and the view's name. fn may run any statements,
// including a transaction, on conn; the view is readable only there. The
// reader is consumed by whichever statement scans the view, and must not be
// scanned twice. The view is dropped and its stream released after fn
// returns, never before: DuckDB reads the stream lazily.
func (w *Warehouse) WithArrow(ctx context.Context, rdr array.RecordReader, fn func(conn *sql.Conn, view string) error) (err error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("warehouse: get connection: %w", err)
	}
	defer conn.Close()

	view := fmt.Sprintf("__backflow_arrow_%d", w.views.Add(1))
	var release func()
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		release, err = a.RegisterView(rdr, view)
		return err
	})
	if err != nil {
		return fmt.Errorf("warehouse: register arrow view: %w", err)
	}
	defer func() {
		// Drop first: the view must never outlive the stream it points at.
		// The connection goes back to the pool, so a failed drop poisons it.
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+view); derr != nil {
			err = errors.Join(err, fmt.Errorf("warehouse: drop arrow view: %w", derr))
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		release()
	}()
	return fn(conn, view)
}
