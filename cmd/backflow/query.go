package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/warehouse"
)

func newCmdQuery(g *globals, stdio IO) *cobra.Command {
	var dir, format, file string
	var limit int
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Run read-only SQL on the DuckDB file and print the result",
		Example: `  backflow query "SELECT status, count(*) FROM backflow.sync_rows GROUP BY ALL"
  backflow query --format csv "SELECT * FROM models.visitor_traits" > traits.csv
  # an analysts' copy (backflow run --publish, backflow serve --publish)
  backflow query --file /srv/analytics/backflow.duckdb "SELECT * FROM backflow.runs"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				return printFileQuery(cmd.Context(), g, stdio, file, format, limit, args[0])
			}
			return printQuery(cmd.Context(), g, stdio, dir, format, limit, "query", args[0])
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "query this DuckDB file (a published copy) instead of the project's")
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, csv or json")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many rows (0: all)")
	return cmd
}

// printQuery runs a read-only query against the project's file and prints
// it in format (table, csv or json); what names the command in errors.
func printQuery(ctx context.Context, g *globals, stdio IO, dir, format string, limit int, what, query string) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	// Read-only, and no file other than the database: the query cannot
	// write the file, nor COPY it elsewhere, nor ATTACH another.
	_, w, err := openProjectWith(ctx, g, dir, warehouse.Options{ReadOnly: true, NoFileAccess: true})
	if err != nil {
		return err
	}
	defer w.Close()
	t, err := queryTable(ctx, w.DB(), limit, query)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return t.print(stdio, format)
}

// printFileQuery is printQuery on any DuckDB file, read-only.
func printFileQuery(ctx context.Context, g *globals, stdio IO, path, format string, limit int, query string) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	w, err := warehouse.Open(ctx, path, warehouse.Options{ReadOnly: true, NoFileAccess: true, LockTimeout: g.lockTimeout})
	if err != nil {
		return err
	}
	defer w.Close()
	t, err := queryTable(ctx, w.DB(), limit, query)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return t.print(stdio, format)
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// table is a query's result, for printing.
type table struct {
	cols []string
	rows [][]any
}

// queryTable runs a query and keeps at most limit rows (0: all).
func queryTable(ctx context.Context, db *sqlx.DB, limit int, q string, args ...any) (*table, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	t := &table{cols: cols}
	for rows.Next() && (limit <= 0 || len(t.rows) < limit) {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		t.rows = append(t.rows, vals)
	}
	return t, rows.Err()
}

// objects is the table as JSON objects, one per row.
func (t *table) objects() []map[string]any {
	objs := make([]map[string]any, len(t.rows))
	for i, r := range t.rows {
		objs[i] = map[string]any{}
		for k, c := range t.cols {
			objs[i][c] = r[k]
		}
	}
	return objs
}

// print writes the table as an aligned table, CSV or JSON.
func (t *table) print(stdio IO, format string) error {
	switch format {
	case "json":
		return printJSON(stdio.Out, t.objects())
	case "csv":
		cw := csv.NewWriter(stdio.Out)
		cw.Write(t.cols)
		for _, r := range t.rows {
			rec := make([]string, len(r))
			for i, v := range r {
				rec[i] = cell(v)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.cols, "\t"))
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cell(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(stdio.ErrOut, "(%d rows)\n", len(t.rows))
	return nil
}

func checkFormat(format string) error {
	if format != "table" && format != "csv" && format != "json" {
		return &usageError{fmt.Errorf("--format must be table, csv or json, not %q", format)}
	}
	return nil
}
