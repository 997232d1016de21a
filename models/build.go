package models

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

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
			return results, fmt.Errorf("%s: %s", m.File, sqlErrorAt(m, err.Error()))
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

// sqlErrorAt rewrites a DuckDB error so it starts with the model file's
// line number: "models/x.sql:3: Binder Error: …".
func sqlErrorAt(m Model, msg string) string {
	msg = strings.TrimSpace(msg)
	if mm := lineRef.FindStringSubmatch(msg); mm != nil {
		if n, err := strconv.Atoi(mm[1]); err == nil {
			first, _, _ := strings.Cut(msg, "\n")
			return fmt.Sprintf("line %d: %s", n, strings.TrimSpace(first))
		}
	}
	return msg
}
