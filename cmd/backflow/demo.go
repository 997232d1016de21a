package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/demo"
)

type demoOptions struct {
	dir      string
	json     bool
	contacts int
}

func newCmdDemo(g *globals, stdio IO) *cobra.Command {
	opts := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the example project end to end against built-in HubSpot and Pendo emulators",
		Long: `demo starts in-process HubSpot and Pendo emulators seeded with realistic data,
writes the example project to --dir, and runs it three times: a first load,
a second pass that sends nothing (nothing changed), and a third pass after 25
contacts change in HubSpot, which sends exactly those 25.`,
		Example: `  backflow demo
  backflow demo --json | jq .passes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(stdio.ErrOut)
			if err != nil {
				return err
			}
			sum, err := demo.Run(cmd.Context(), demo.Options{Dir: opts.dir, Contacts: opts.contacts, Logger: log})
			if err != nil {
				return err
			}
			if opts.json {
				return printJSON(stdio.Out, sum)
			}
			labels := []string{"first load", "nothing changed", fmt.Sprintf("%d contacts changed in HubSpot", sum.ChangedContacts)}
			for i, p := range sum.Passes {
				fmt.Fprintf(stdio.Out, "pass %d (%s): staged %d rows, model %d rows, pushed %d, skipped %d, failed %d in %.1fs\n",
					i+1, labels[i], p.Staged, p.ModelRows, p.Pushed, p.Skipped, p.Failed, p.Seconds)
			}
			fmt.Fprintf(stdio.Out, "checked: the snapshot and sync_rows agree with the Pendo emulator for all %d pushed visitors\n", sum.Verified)
			if len(sum.Recipes) > 0 {
				fmt.Fprintf(stdio.Out, "\nrecipes (examples/recipes, all in one project, run twice in %.1fs):\n", sum.RecipesSeconds)
				tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  recipe\tsync\tfirst run\tsecond run\tfailed")
				for _, r := range sum.Recipes {
					fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\n", r.Recipe, r.Sync, r.Pushed[0], r.Pushed[len(r.Pushed)-1], r.Failed)
				}
				tw.Flush()
				fmt.Fprintln(stdio.Out, "  The second run sends only what the first run's own HubSpot writes changed: the lifecycle stages the PQL recipe set go on to\n  Pendo, and the new expansion deals advance by trial milestones. A third run would send nothing.")
			}
			fmt.Fprintf(stdio.Out, "\nproject:     %s\nDuckDB file: %s\n", sum.Project, sum.DuckDB)
			if sum.RecipesProject != "" {
				fmt.Fprintf(stdio.Out, "recipes:     %s\n", sum.RecipesProject)
			}
			fmt.Fprintf(stdio.Out, "try:         duckdb -readonly %s \"SELECT status, count(*) FROM backflow.sync_rows GROUP BY ALL\"\n", sum.DuckDB)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", filepath.Join(os.TempDir(), "backflow-demo"), "folder for the demo project and its DuckDB file")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the summary as JSON on stdout")
	cmd.Flags().IntVar(&opts.contacts, "contacts", 2000, "HubSpot contacts to seed")
	return cmd
}
