package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

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
contacts change in HubSpot, which sends exactly those 25. Then it runs every
recipe of examples/recipes together until a run sends nothing.

The demo keeps its own clock: it starts at --now (default: the system
clock's present) and moves one second before each run, so the same --now
always prints the same counts.`,
		Example: `  backflow demo
  backflow demo --json | jq .passes
  backflow demo --now 2027-03-14T23:59:30-04:00   # the last 30 s of the day DST starts in New York`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(stdio.ErrOut)
			if err != nil {
				return err
			}
			sum, err := demo.Run(cmd.Context(), demo.Options{Dir: opts.dir, Contacts: opts.contacts, Logger: log, Now: g.start})
			if opts.json {
				return printOutcome(stdio, g, sum, err)
			}
			if err != nil {
				return err
			}
			printDemo(stdio.Out, sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", filepath.Join(os.TempDir(), "backflow-demo"), "folder for the demo project and its DuckDB file")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the summary as JSON on stdout")
	cmd.Flags().IntVar(&opts.contacts, "contacts", 2000, "HubSpot contacts to seed")
	return cmd
}

// printDemo prints what the demo did; every count and every conclusion
// comes from the summary.
func printDemo(w io.Writer, sum *demo.Summary) {
	fmt.Fprintf(w, "the emulators' present: %s\n", sum.Now.Format(time.RFC3339))
	fmt.Fprintf(w, "preflight (backflow check): no problems, %d checks in %.1fs\n", len(sum.Checks), sum.CheckSeconds)
	labels := []string{"first load", "nothing changed", fmt.Sprintf("%d contacts changed in HubSpot", sum.ChangedContacts)}
	for i, p := range sum.Passes {
		fmt.Fprintf(w, "pass %d (%s): staged %d rows, model %d rows, pushed %d, skipped %d, failed %d in %.1fs\n",
			i+1, labels[i], p.Staged, p.ModelRows, p.Pushed, p.Skipped, p.Failed, p.Seconds)
	}
	printLineageFigures(w, "lineage (backflow lineage)", sum.Lineage)
	fmt.Fprintf(w, "checked: the snapshot and sync_rows agree with the Pendo emulator for all %d visitors in the snapshot\n", sum.Verified)
	if len(sum.RecipeRuns) > 0 {
		n := len(sum.RecipeRuns)
		fmt.Fprintf(w, "\nrecipes (examples/recipes, all in one project; %d runs in %.1fs):\n", n, sum.RecipesSeconds)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		head := "  recipe\tsync"
		for i := range sum.RecipeRuns {
			head += fmt.Sprintf("\trun %d", i+1)
		}
		fmt.Fprintln(tw, head+"\tfailed")
		for _, r := range sum.Recipes {
			line := "  " + r.Recipe + "\t" + r.Sync
			for _, p := range r.Pushed {
				line += fmt.Sprintf("\t%d", p)
			}
			fmt.Fprintf(tw, "%s\t%d\n", line, r.Failed)
		}
		tw.Flush()
		for i, rr := range sum.RecipeRuns[1:] {
			if rr.Pushed == 0 {
				continue
			}
			var parts []string
			for _, name := range slices.Sorted(maps.Keys(rr.Syncs)) {
				parts = append(parts, fmt.Sprintf("%s %d", name, rr.Syncs[name]))
			}
			fmt.Fprintf(w, "  run %d sent %s in %s (%s); since run %d, only that run's own writes changed the emulators, and the clock moved %s\n",
				i+2, plural(rr.Pushed, "row"), plural(int64(len(rr.Syncs)), "sync"), strings.Join(parts, ", "), i+1, rr.At.Sub(sum.RecipeRuns[i].At))
		}
		if sum.RecipesLineage != nil {
			printLineageFigures(w, "  lineage", *sum.RecipesLineage)
		}
		if sum.RecipesSettled > 0 {
			fmt.Fprintf(w, "  run %d sent nothing: the recipes reached their fixed point\n", sum.RecipesSettled)
		} else {
			fmt.Fprintf(w, "  every one of the %d runs sent something: no fixed point reached\n", n)
		}
	}
	fmt.Fprintf(w, "\nproject:     %s\nDuckDB file: %s\n", sum.Project, sum.DuckDB)
	if sum.RecipesProject != "" {
		fmt.Fprintf(w, "recipes:     %s\n", sum.RecipesProject)
	}
	fmt.Fprintf(w, "try:         backflow query --project %s \"SELECT status, count(*) FROM backflow.sync_rows GROUP BY ALL\"\n", sum.Project)
	fmt.Fprintln(w, "             (or any DuckDB client: duckdb -readonly FILE; see the README's Install section)")
	if sum.RecipesProject != "" {
		fmt.Fprintf(w, "             backflow lineage --project %s --impact raw_hubspot.contacts.lifecyclestage   (with the sandbox running: backflow sandbox)\n", sum.RecipesProject)
	}
}

func printLineageFigures(w io.Writer, label string, f demo.LineageFigures) {
	fmt.Fprintf(w, "%s: %d sync fields traced to raw columns through %d columns of %d models, %d unknown, in %.3fs\n",
		label, f.Fields, f.Columns, f.Models, f.Unknown, f.Seconds)
}

// plural is "1 row", "2 rows".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
