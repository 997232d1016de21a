package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newCmdQuery(g *globals, stdio IO) *cobra.Command {
	var dir, format string
	var limit int
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Run read-only SQL on the DuckDB file and print the result",
		Example: `  backflow query "SELECT status, count(*) FROM backflow.sync_rows GROUP BY ALL"
  backflow query --format csv "SELECT * FROM models.visitor_traits" > traits.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "csv" && format != "json" {
				return &usageError{fmt.Errorf("--format must be table, csv or json, not %q", format)}
			}
			_, w, err := openProject(cmd.Context(), g, dir, true)
			if err != nil {
				return err
			}
			defer w.Close()
			rows, err := w.DB().QueryContext(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			var out [][]any
			for rows.Next() && (limit <= 0 || len(out) < limit) {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(vals))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				out = append(out, vals)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("query: %w", err)
			}
			switch format {
			case "json":
				objs := make([]map[string]any, len(out))
				for i, r := range out {
					objs[i] = map[string]any{}
					for k, c := range cols {
						objs[i][c] = r[k]
					}
				}
				return printJSON(stdio.Out, objs)
			case "csv":
				cw := csv.NewWriter(stdio.Out)
				cw.Write(cols)
				for _, r := range out {
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
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
			for _, r := range out {
				cells := make([]string, len(r))
				for i, v := range r {
					cells[i] = cell(v)
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			}
			tw.Flush()
			fmt.Fprintf(stdio.ErrOut, "(%d rows)\n", len(out))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, csv or json")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many rows (0: all)")
	return cmd
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
