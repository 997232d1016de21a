package models

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Test is a data test: SQL that returns the rows that fail it.
type Test struct {
	Name  string
	Model string // the model it checks; "" for a SQL test
	File  string // where it is declared, for messages
	SQL   string
}

// SQLTests reads dir/*.sql from fsys: each is a query returning failing rows.
func SQLTests(fsys fs.FS, dir string) ([]Test, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Test
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		out = append(out, Test{Name: strings.TrimSuffix(path.Base(f), ".sql"), File: f, SQL: string(raw)})
	}
	return out, nil
}

// TestResult is what one test found.
type TestResult struct {
	Test     Test
	Failures int64
	// Columns and Sample hold up to five failing rows.
	Columns []string
	Sample  [][]any
	Err     error
}

// RunTests runs tests against the warehouse.
func RunTests(ctx context.Context, db *sqlx.DB, tests []Test) []TestResult {
	out := make([]TestResult, len(tests))
	for i, t := range tests {
		r := TestResult{Test: t}
		// One SELECT, nested as DuckDB writes it back: a test file cannot
		// close the wrapping query and run a statement of its own.
		q, err := CanonicalSelect(ctx, db, t.File, t.SQL)
		if err != nil {
			r.Err = err
			out[i] = r
			continue
		}
		t.SQL = q
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+t.SQL+")").Scan(&r.Failures); err != nil {
			r.Err = fmt.Errorf("%s: %s", t.File, strings.TrimSpace(err.Error()))
			out[i] = r
			continue
		}
		if r.Failures > 0 {
			rows, err := db.QueryContext(ctx, "SELECT * FROM ("+t.SQL+") LIMIT 5")
			if err == nil {
				r.Columns, _ = rows.Columns()
				for rows.Next() {
					vals := make([]any, len(r.Columns))
					ptrs := make([]any, len(vals))
					for k := range vals {
						ptrs[k] = &vals[k]
					}
					rows.Scan(ptrs...)
					r.Sample = append(r.Sample, vals)
				}
				rows.Close()
			}
		}
		out[i] = r
	}
	return out
}

// Held reports whether blocked (from Blocked) holds a sync of model, and why.
func Held(blocked map[string]string, model string) (string, bool) {
	if why, ok := blocked[model]; ok {
		return why, true
	}
	why, ok := blocked[AllModels]
	return why, ok
}

// Blocked names the models that failing tests make unfit to sync, each
// with the reason: a model with a failing (or erroring) test, and every
// model downstream of it. A failing SQL test blocks the models it reads
// (found by DuckDB's parser) and their downstream, or, reading none,
// every model (AllModels).
func Blocked(ctx context.Context, db *sqlx.DB, ordered []Model, results []TestResult) (map[string]string, error) {
	blocked := map[string]string{}
	for _, r := range results {
		if r.Err == nil && r.Failures == 0 {
			continue
		}
		why := fmt.Sprintf("data test %s failed (%d rows)", r.Test.Name, r.Failures)
		if r.Err != nil {
			why = fmt.Sprintf("data test %s could not run: %v", r.Test.Name, r.Err)
		}
		read := []string{r.Test.Model}
		if r.Test.Model == "" {
			refs, err := tableRefs(ctx, db, Model{File: r.Test.File, SQL: r.Test.SQL})
			if err != nil {
				return nil, err
			}
			read = read[:0]
			for _, ref := range refs {
				if ref.schema == "models" {
					read = append(read, ref.table)
				}
			}
			if len(read) == 0 {
				// A project-wide assertion (information_schema, raw
				// tables): nothing is fit to sync while it fails.
				read = []string{AllModels}
			}
		}
		for _, m := range read {
			if _, ok := blocked[m]; !ok {
				blocked[m] = why
			}
		}
	}
	// ordered is in dependency order, so one pass carries a block down.
	for _, m := range ordered {
		if _, ok := blocked[m.Name]; ok {
			continue
		}
		for _, d := range m.Depends {
			if why, ok := blocked[d]; ok {
				blocked[m.Name] = why + " upstream in models." + d
				break
			}
		}
	}
	return blocked, nil
}
