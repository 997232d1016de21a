package models

import (
	"context"
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

// Run materializes the models in order, each in its own statement. It stops
// at the first failure; models already built stay built.
func Run(ctx context.Context, w *warehouse.Warehouse, ordered []Model) ([]Result, error) {
	var results []Result
	for _, m := range ordered {
		start := time.Now()
		kind := "VIEW"
		if m.Materialized == "table" {
			kind = "TABLE"
		}
		// No newline after AS: DuckDB's "LINE n" then matches the file.
		stmt := "CREATE OR REPLACE " + kind + " " + warehouse.Table("models", m.Name) + " AS " + m.SQL
		if _, err := w.DB().ExecContext(ctx, stmt); err != nil {
			if ctx.Err() != nil {
				return results, fmt.Errorf("%s: %w", m.File, ctx.Err())
			}
			return results, fileErrorAt(m, err.Error())
		}
		res := Result{Model: m.Name, Rows: -1, Duration: time.Since(start)}
		if kind == "TABLE" {
			if err := w.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+warehouse.Table("models", m.Name)).Scan(&res.Rows); err != nil {
				return results, fmt.Errorf("%s: count rows: %w", m.File, err)
			}
		}
		results = append(results, res)
	}
	return results, nil
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
