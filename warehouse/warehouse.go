// Package warehouse owns backflow's DuckDB file: opening it, creating the
// schemas and internal state tables, installing macros, and ingesting Arrow
// record batches.
//
// Ingest never inserts row by row: a RecordReader is registered as a view on
// one connection and consumed by a single INSERT … SELECT (or CREATE TABLE …
// AS SELECT) on that same connection.
package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"

	embedded "github.com/backflow-dev/backflow/sql"
)

// Warehouse is an open backflow DuckDB file. It is safe for concurrent use;
// each Arrow ingest holds one pooled connection for its duration.
type Warehouse struct {
	db    *sqlx.DB
	path  string
	views atomic.Int64 // names registered Arrow views uniquely per process
}

// Options tune how the file is opened.
type Options struct {
	// ReadOnly opens the file without taking the writer lock and without
	// creating or migrating anything.
	ReadOnly bool
	// MemoryLimit caps DuckDB's memory (e.g. "2GB"); empty keeps DuckDB's
	// default of 80% of RAM.
	MemoryLimit string
}

// Open opens or creates the DuckDB file at path (":memory:" or "" for an
// in-memory database), creates backflow's schemas and state tables, and
// installs the shipped macros.
func Open(ctx context.Context, path string, opts Options) (*Warehouse, error) {
	dsn := path
	if dsn == ":memory:" {
		dsn = ""
	}
	var params []string
	if opts.ReadOnly {
		params = append(params, "access_mode=READ_ONLY")
	}
	if opts.MemoryLimit != "" {
		params = append(params, "memory_limit="+opts.MemoryLimit)
	}
	if len(params) > 0 {
		dsn += "?" + strings.Join(params, "&")
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("warehouse: open %s: %w", displayPath(path), err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "duckdb")
	w := &Warehouse{db: db, path: path}
	if !opts.ReadOnly {
		if err := w.install(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return w, nil
}

func displayPath(path string) string {
	if path == "" || path == ":memory:" {
		return "in-memory database"
	}
	return path
}

func (w *Warehouse) install(ctx context.Context) error {
	var domains []string
	for _, line := range strings.Split(embedded.FreeEmailDomains, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			domains = append(domains, "("+Literal(line)+")")
		}
	}
	freeMail := `CREATE OR REPLACE TABLE backflow.free_email_domains AS
		SELECT domain FROM (VALUES ` + strings.Join(domains, ", ") + `) t(domain)
		UNION SELECT domain FROM backflow.free_email_domains_extra;`
	for _, script := range []struct{ name, text string }{
		{"schema.sql", embedded.Schema},
		{"free_email_domains.txt", freeMail},
		{"macros.sql", embedded.Macros},
	} {
		if _, err := w.db.ExecContext(ctx, script.text); err != nil {
			return fmt.Errorf("warehouse: install %s into %s: %w", script.name, displayPath(w.path), err)
		}
	}
	return nil
}

// Path is the file path the warehouse was opened with.
func (w *Warehouse) Path() string { return w.path }

// DB is the connection pool, for state queries.
func (w *Warehouse) DB() *sqlx.DB { return w.db }

// Close closes the file.
func (w *Warehouse) Close() error { return w.db.Close() }

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

// Ident quotes a SQL identifier for DuckDB.
func Ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Table returns schema.name with both parts quoted.
func Table(schema, name string) string {
	return Ident(schema) + "." + Ident(name)
}

// Literal quotes a SQL string literal.
func Literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
