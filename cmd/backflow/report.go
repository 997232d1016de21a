package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/report"
	"github.com/backflow-dev/backflow/warehouse"
)

func newCmdReport(g *globals, stdio IO) *cobra.Command {
	var dir, out string
	var runs int
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write one self-contained HTML page: lineage, sync history, top errors",
		Long: `report writes an HTML page about the project's DuckDB file: the lineage from
raw tables through models and syncs to destination objects, each sync's last
runs as a chart (pushed, skipped, failed, rejected per run), and the top row
errors of each sync's latest run. The page embeds its data and script and
loads nothing from the network: open it, mail it, or publish it after each
run.`,
		Example: `  backflow report                       # writes backflow-report.html
  backflow report --out /srv/www/backflow.html --runs 60`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runs < 1 {
				return &usageError{fmt.Errorf("--runs must be at least 1, not %d", runs)}
			}
			p, w, err := openProject(cmd.Context(), g, dir, true)
			if err != nil {
				return err
			}
			defer w.Close()
			now, err := g.clock()
			if err != nil {
				return err
			}
			return writeReport(cmd.Context(), stdio, p, w, out, runs, now)
		},
	}
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringVar(&out, "out", "backflow-report.html", "where to write the page")
	cmd.Flags().IntVar(&runs, "runs", 30, "runs per sync to chart")
	return cmd
}

// writeReport writes the project's report page to out: whole, then renamed,
// so a web server never serves half a page.
func writeReport(ctx context.Context, stdio IO, p *project.Project, w *warehouse.Warehouse, out string, runs int, now func() time.Time) error {
	ordered, err := pipeline.Models(ctx, w, p.Pipeline(), nil)
	if err != nil {
		return err
	}
	d, err := report.Collect(ctx, w.DB(), p, ordered, runs, now())
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := report.Write(&b, d); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), p.Config.Mode()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	// The umask (077 in backflow) trims the mode WriteFile asked for.
	if err := os.Chmod(tmp, p.Config.Mode()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	abs, _ := filepath.Abs(out)
	fmt.Fprintf(stdio.Out, "wrote %s (%d syncs, %d lineage nodes, %d error kinds)\n", abs, len(d.Syncs), len(d.Nodes), len(d.Errors))
	return nil
}
