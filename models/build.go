package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/backflow-dev/backflow/warehouse"
)

// Run materializes the models in order, each in its own statement, an
// incremental model by merging what it recomputes. It stops at the first
// failure; models already built stay built.
func Run(ctx context.Context, w *warehouse.Warehouse, ordered []Model) ([]Result, error) {
	return RunWith(ctx, w, ordered, RunOptions{})
}

// RunOptions tune a build.
type RunOptions struct {
	// FullRefresh builds incremental models whole.
	FullRefresh bool
}

// RunWith is Run with options.
func RunWith(ctx context.Context, w *warehouse.Warehouse, ordered []Model, opts RunOptions) ([]Result, error) {
	// One connection: incremental_since() is a temporary macro of it.
	conn, err := w.DB().Connx(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var results []Result
	for _, m := range ordered {
		start := time.Now()
		res := Result{Model: m.Name, Rows: -1, Materialized: m.Materialized}
		var err error
		switch m.Materialized {
		case "incremental":
			res, err = buildIncremental(ctx, conn, m, opts.FullRefresh)
		case "table":
			err = create(ctx, conn, m, "TABLE")
		default:
			res.Materialized = "view"
			err = create(ctx, conn, m, "VIEW")
		}
		if err != nil {
			return results, err
		}
		if res.Materialized != "view" {
			if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+warehouse.Table("models", m.Name)).Scan(&res.Rows); err != nil {
				return results, fmt.Errorf("%s: count rows: %w", m.File, err)
			}
		}
		res.Duration = time.Since(start)
		results = append(results, res)
	}
	return results, nil
}

// create builds m whole as a view or a table.
func create(ctx context.Context, conn *sqlx.Conn, m Model, kind string) error {
	// No newline after AS: DuckDB's "LINE n" then matches the file.
	stmt := "CREATE OR REPLACE " + kind + " " + warehouse.Table("models", m.Name) + " AS " + m.SQL
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", m.File, ctx.Err())
		}
		return fileErrorAt(m, err.Error())
	}
	return nil
}

// buildIncremental recomputes the rows of m whose watermark is at or after
// the table's greatest (the SQL filters on incremental_since(), which
// holds it), checks their keys, and replaces those keys' rows. A first
// build, a full refresh, or a model whose columns changed is built whole
// (incremental_since() is NULL then).
func buildIncremental(ctx context.Context, conn *sqlx.Conn, m Model, full bool) (Result, error) {
	res := Result{Model: m.Name, Rows: -1, Materialized: "table"}
	if m.UniqueKey == "" || m.Watermark == "" {
		return res, &FileError{File: m.File, Err: errors.New("materialized: incremental needs unique_key and watermark in the model's YAML")}
	}
	target := warehouse.Table("models", m.Name)
	setSince := func(expr string) error {
		_, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP MACRO incremental_since() AS "+expr)
		return err
	}
	defer setSince("NULL")
	var kind sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT table_type FROM information_schema.tables WHERE table_catalog = current_database()
		AND table_schema = 'models' AND table_name = ?`, m.Name).Scan(&kind); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("%s: %w", m.File, err)
	}
	whole := func() (Result, error) {
		if err := setSince("NULL"); err != nil {
			return res, err
		}
		return res, create(ctx, conn, m, "TABLE")
	}
	if full || kind.String != "BASE TABLE" {
		return whole()
	}
	var wmType string
	if err := conn.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns WHERE table_catalog = current_database()
		AND table_schema = 'models' AND table_name = ? AND column_name = ?`, m.Name, m.Watermark).Scan(&wmType); err != nil {
		return whole() // the watermark column is new: build whole
	}
	var since sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT max("+warehouse.Ident(m.Watermark)+")::VARCHAR FROM "+target).Scan(&since); err != nil {
		return res, fmt.Errorf("%s: read the watermark: %w", m.File, err)
	}
	if !since.Valid {
		return whole()
	}
	sinceSQL := "CAST(" + warehouse.Literal(since.String) + " AS " + wmType + ")"
	if err := setSince(sinceSQL); err != nil {
		return res, fmt.Errorf("%s: %w", m.File, err)
	}
	staged := warehouse.Ident("__incremental_" + m.Name)
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+staged+" AS "+m.SQL); err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("%s: %w", m.File, ctx.Err())
		}
		return res, fileErrorAt(m, err.Error())
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+staged)
	same, err := sameColumns(ctx, conn, m.Name, "__incremental_"+m.Name)
	if err != nil {
		return res, fmt.Errorf("%s: %w", m.File, err)
	}
	if !same {
		return whole()
	}
	key := warehouse.Ident(m.UniqueKey)
	var rows, keys, nulls int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT "+key+"), count(*) - count("+key+") FROM "+staged).Scan(&rows, &keys, &nulls); err != nil {
		return res, fmt.Errorf("%s: unique_key %s: %w", m.File, m.UniqueKey, err)
	}
	if nulls > 0 || keys != rows-nulls {
		return res, &FileError{File: m.File, Err: fmt.Errorf("unique_key %s: the recomputed rows hold %d null and %d duplicate keys; nothing was merged", m.UniqueKey, nulls, rows-nulls-keys)}
	}
	tx, err := conn.BeginTxx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	for _, q := range []string{
		"DELETE FROM " + target + " WHERE " + key + " IN (SELECT " + key + " FROM " + staged + ")",
		"INSERT INTO " + target + " BY NAME SELECT * FROM " + staged,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return res, fmt.Errorf("%s: merge: %w", m.File, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("%s: merge: %w", m.File, err)
	}
	res.Materialized, res.Merged = "incremental", rows
	res.Recomputed = warehouse.Ident(m.Watermark) + " >= " + sinceSQL
	return res, nil
}

// sameColumns reports whether two tables (models.a, temp b) have the same
// columns, names and types, in any order.
func sameColumns(ctx context.Context, conn *sqlx.Conn, model, temp string) (bool, error) {
	var differ int
	err := conn.QueryRowContext(ctx, `WITH a AS (SELECT column_name, data_type FROM information_schema.columns
			WHERE table_catalog = current_database() AND table_schema = 'models' AND table_name = ?),
		b AS (SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = 'temp' AND table_name = ?)
		SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b)) + (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a))`,
		model, temp).Scan(&differ)
	return differ == 0, err
}

var lineRef = regexp.MustCompile(`LINE (\d+):`)

// Bind creates each ordered model as a view in db, which binds its SQL
// against the tables db holds (empty tables with the staged columns are
// enough: nothing is read), and returns every model's error, each naming
// the file and line. A model reading one that failed is not bound; its
// error says so. skip, when it returns a reason, leaves a model unbound
// with that reason (its tables are not known).
func Bind(ctx context.Context, db *sqlx.DB, ordered []Model, skip func(Model) string) (bound map[string]bool, errs []error, skipped map[string]string) {
	bound, skipped = map[string]bool{}, map[string]string{}
	failed := map[string]bool{}
	for _, m := range ordered {
		if i := slices.IndexFunc(m.Depends, func(d string) bool { return failed[d] || skipped[d] != "" }); i >= 0 {
			failed[m.Name] = true
			skipped[m.Name] = "reads models." + m.Depends[i] + ", which could not be checked"
			continue
		}
		if why := skip(m); why != "" {
			skipped[m.Name] = why
			continue
		}
		stmt := "CREATE OR REPLACE VIEW " + warehouse.Table("models", m.Name) + " AS " + m.SQL
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			failed[m.Name] = true
			errs = append(errs, fileErrorAt(m, err.Error()))
			continue
		}
		bound[m.Name] = true
	}
	return bound, errs, skipped
}

// fileErrorAt is a DuckDB error about m as a FileError with its line.
func fileErrorAt(m Model, msg string) *FileError {
	msg = strings.TrimSpace(msg)
	if mm := lineRef.FindStringSubmatch(msg); mm != nil {
		if n, err := strconv.Atoi(mm[1]); err == nil {
			first, _, _ := strings.Cut(msg, "\n")
			return &FileError{File: m.File, Line: n, Err: errors.New(strings.TrimSpace(first))}
		}
	}
	return &FileError{File: m.File, Err: errors.New(msg)}
}
