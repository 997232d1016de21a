package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// openProject loads the project and opens its DuckDB file.
func openProject(ctx context.Context, g *globals, dir string, readOnly bool) (*project.Project, *warehouse.Warehouse, error) {
	return openProjectWith(ctx, g, dir, warehouse.Options{ReadOnly: readOnly})
}

// openProjectWith is openProject with more options (NoFileAccess).
func openProjectWith(ctx context.Context, g *globals, dir string, base warehouse.Options) (*project.Project, *warehouse.Warehouse, error) {
	readOnly := base.ReadOnly
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	p, err := g.loadProject(abs)
	if err != nil {
		return nil, nil, err
	}
	now, err := g.clock()
	if err != nil {
		return nil, nil, err
	}
	opts := base
	opts.LockTimeout, opts.Constants, opts.FileMode = g.lockTimeout, p.Pipeline().Constants, p.Config.Mode()
	opts.MemoryLimit = p.Config.MemoryLimit
	if !readOnly || g.now != "" {
		// Building models (or reading them at a set time) works in the
		// command's present; reading them otherwise sees the file's own
		// run_started_at(), the start of the latest run.
		opts.RunStartedAt = now()
	}
	w, err := warehouse.Open(ctx, p.Path(p.Config.Warehouse), opts)
	if err != nil {
		return nil, nil, err
	}
	return p, w, nil
}

func newCmdModels(g *globals, stdio IO) *cobra.Command {
	var dir string
	var selectors []string
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Build, list and inspect the SQL models",
		Example: `  backflow models run                       # every model
  backflow models run --select +visitor_traits   # a model and what it reads
  backflow models graph
  backflow models match-report`,
	}
	cmd.PersistentFlags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	// load opens the project's file to build in it, or (parseOnly) a
	// database in memory, enough to parse and order the models: listing
	// them never creates or changes the file.
	load := func(ctx context.Context, parseOnly bool) (*project.Project, *warehouse.Warehouse, []models.Model, error) {
		var p *project.Project
		var w *warehouse.Warehouse
		var err error
		if parseOnly {
			abs, aerr := filepath.Abs(dir)
			if aerr != nil {
				return nil, nil, nil, aerr
			}
			if p, err = g.loadProject(abs); err == nil {
				w, err = warehouse.Open(ctx, ":memory:", warehouse.Options{Constants: p.Pipeline().Constants})
			}
		} else {
			p, w, err = openProject(ctx, g, dir, false)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		ordered, err := pipeline.Models(ctx, w, p.Pipeline(), selectors)
		if err != nil {
			w.Close()
			return nil, nil, nil, err
		}
		return p, w, ordered, nil
	}
	var fullRefresh bool
	run := &cobra.Command{
		Use:   "run",
		Short: "Build models into the models schema, in dependency order",
		Example: `  backflow models run
  backflow models run --select +visitor_traits   # the model and everything it reads`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, w, ordered, err := load(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer w.Close()
			res, err := models.RunWith(cmd.Context(), w, ordered, models.RunOptions{FullRefresh: fullRefresh})
			for _, r := range res {
				fmt.Fprintln(stdio.Out, r)
			}
			return err
		},
	}
	run.Flags().BoolVar(&fullRefresh, "full-refresh", false, "build incremental models whole")
	run.Flags().StringSliceVar(&selectors, "select", nil, "models to build: name, +name (with upstream), name+ (with downstream)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List models in build order",
		Example: `  backflow models list
  backflow models list --select visitor_traits+`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, w, ordered, err := load(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer w.Close()
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tMATERIALIZED\tFILE\tREADS")
			for _, m := range ordered {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.Materialized, m.File, strings.Join(m.Depends, ", "))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringSliceVar(&selectors, "select", nil, "models to list: name, +name (with upstream), name+ (with downstream)")
	graph := &cobra.Command{
		Use:   "graph",
		Short: "Print the model dependency graph as text",
		Example: `  backflow models graph
  backflow report   # the same lineage, drawn, with the syncs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, w, ordered, err := load(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer w.Close()
			fmt.Fprint(stdio.Out, models.Graph(ordered))
			return nil
		},
	}
	report := &cobra.Command{
		Use:   "match-report",
		Short: "Build the identity models and count matched, ambiguous and unmatched records per rule",
		Example: `  backflow models match-report
  backflow query "SELECT * FROM models.identity_contacts_visitors WHERE status = 'ambiguous'"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			selectors = []string{"+identity_contacts_visitors", "+identity_companies_accounts"}
			_, w, ordered, err := load(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer w.Close()
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "MODEL\tRULE\tSTATUS\tCOUNT\t")
			for _, m := range ordered {
				if _, err := models.Run(cmd.Context(), w, []models.Model{m}); err != nil {
					fmt.Fprintf(stdio.ErrOut, "%s: not built (%v)\n", m.Name, err)
					continue
				}
				counts, err := models.MatchReport(cmd.Context(), w.DB(), m.Name)
				if err != nil {
					return err
				}
				for _, c := range counts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t\n", c.Model, c.Rule, c.Status, c.Count)
				}
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(run, list, graph, report)
	return cmd
}

func newCmdTest(g *globals, stdio IO) *cobra.Command {
	var dir string
	var selectors []string
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the data tests: column tests in models/*.yml and tests/*.sql",
		Long: `test runs the tests declared beside models (unique, not_null,
accepted_values, relationships in models/<name>.yml) and every tests/*.sql,
a query returning the rows that fail. It prints each failing test with up to
five failing rows and exits 1 if any test fails.`,
		Example: `  backflow test
  backflow test --select visitor_traits`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, w, err := openProject(cmd.Context(), g, dir, false)
			if err != nil {
				return err
			}
			defer w.Close()
			ordered, err := pipeline.Models(cmd.Context(), w, p.Pipeline(), selectors)
			if err != nil {
				return err
			}
			tests, err := pipeline.DataTests(p.Pipeline(), ordered, len(selectors) == 0)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range models.RunTests(cmd.Context(), w.DB(), tests) {
				switch {
				case r.Err != nil:
					failed++
					fmt.Fprintf(stdio.Out, "ERROR %s: %v\n", r.Test.Name, r.Err)
				case r.Failures > 0:
					failed++
					fmt.Fprintf(stdio.Out, "FAIL  %s (%s): %d failing rows\n", r.Test.Name, r.Test.File, r.Failures)
					tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "      "+strings.Join(r.Columns, "\t"))
					for _, row := range r.Sample {
						cells := make([]string, len(row))
						for i, v := range row {
							cells[i] = fmt.Sprint(v)
						}
						fmt.Fprintln(tw, "      "+strings.Join(cells, "\t"))
					}
					tw.Flush()
				default:
					fmt.Fprintf(stdio.Out, "PASS  %s\n", r.Test.Name)
				}
			}
			fmt.Fprintf(stdio.Out, "%d passed, %d failed\n", len(tests)-failed, failed)
			if failed > 0 {
				return fmt.Errorf("%d data tests failed", failed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringSliceVar(&selectors, "select", nil, "test only these models (name, +name, name+)")
	return cmd
}
