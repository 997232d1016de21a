package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/warehouse"
)

// runsSQL lists runs, newest first, with what their syncs did.
const runsSQL = `SELECT r.run_id, r.command, r.started_at, r.finished_at, r.status,
	coalesce(sum(s.applied), 0)::BIGINT AS pushed, coalesce(sum(s.skipped), 0)::BIGINT AS skipped,
	coalesce(sum(s.failed), 0)::BIGINT AS failed, coalesce(sum(s.rejected), 0)::BIGINT AS rejected, r.error
FROM backflow.runs r LEFT JOIN backflow.sync_runs s USING (run_id)
GROUP BY ALL ORDER BY r.run_id DESC` // run ids (UUIDv7) sort in the order runs began, whatever --now said

// syncStateSQL is each sync's latest run.
const syncStateSQL = `SELECT sync, status, started_at AS last_run, applied AS pushed, skipped, failed, rejected, error
FROM backflow.sync_runs QUALIFY row_number() OVER (PARTITION BY sync ORDER BY run_id DESC) = 1
ORDER BY status = 'succeeded', sync`

// topErrorsSQL groups the row errors of each sync's latest run.
const topErrorsSQL = `WITH latest AS (
	SELECT sync, run_id FROM backflow.sync_runs
	QUALIFY row_number() OVER (PARTITION BY sync ORDER BY run_id DESC) = 1)
SELECT r.sync, r.status, count(*) AS rows, r.error, min(r.key) AS example_key
FROM backflow.sync_rows r JOIN latest USING (sync, run_id)
WHERE r.status <> 'applied'
GROUP BY ALL ORDER BY rows DESC, r.sync LIMIT 10`

// openDriftSQL counts each sync's open drift (backflow.drift).
const openDriftSQL = `SELECT sync, policy AS on_drift, count(*) AS fields, count(DISTINCT key) AS records,
	string_agg(DISTINCT field, ', ' ORDER BY field) AS drifted, max(found_at) AS last_found
FROM backflow.drift WHERE resolved_at IS NULL GROUP BY ALL ORDER BY fields DESC, sync`

// driftSQL lists open drift, newest first, with who changed it where the
// destination says.
const driftSQL = `SELECT sync, key, record_id, field, sent, found, policy AS on_drift, found_at, modified_at,
	coalesce(source || coalesce(' ' || source_id, '') || coalesce(' (' || source_label || ')', '') || coalesce(' user ' || changed_by, ''),
		CASE WHEN explained THEN 'not said by the destination' ELSE 'not read yet' END) AS changed_by
FROM backflow.drift WHERE resolved_at IS NULL AND (? = '' OR sync = ?) ORDER BY found_at DESC, sync, key, field`

// hasDrift reports whether the file has backflow.drift: a file only read
// since backflow 4 has not been migrated yet.
func hasDrift(ctx context.Context, db *sqlx.DB) (bool, error) {
	return warehouse.HasTable(ctx, db, "backflow", "drift")
}

func newCmdDrift(g *globals, stdio IO) *cobra.Command {
	var dir, format, sync string
	var limit int
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "List destination values changed since backflow sent them, with who changed them",
		Long: `drift lists the open rows of backflow.drift: fields of records whose value in
the destination differs from what backflow last sent, found by comparing the
staged copy of the destination (raw_hubspot, raw_pendo) with the snapshot at
each run. changed_by is HubSpot's property history (CRM_UI and a user id, a
workflow, another integration); Pendo does not say. What a sync does about it
is its on_drift: report (default), overwrite or keep. See docs/drift.md.`,
		Example: `  backflow drift
  backflow drift --sync contact_traits --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, w, err := openProject(cmd.Context(), g, dir, true)
			if err != nil {
				return err
			}
			defer w.Close()
			ok, err := hasDrift(cmd.Context(), w.DB())
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintln(stdio.Out, "no drift recorded yet: run backflow run")
				return nil
			}
			t, err := queryTable(cmd.Context(), w.DB(), limit, driftSQL, sync, sync)
			if err != nil {
				return fmt.Errorf("drift: %w", err)
			}
			if len(t.rows) == 0 && format == "table" {
				fmt.Fprintln(stdio.Out, "no open drift: every destination holds what backflow sent")
				return nil
			}
			return t.print(stdio, format)
		},
	}
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringVar(&sync, "sync", "", "only this sync")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, csv or json")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many rows (0: all)")
	return cmd
}

func newCmdRuns(g *globals, stdio IO) *cobra.Command {
	var dir, format string
	var limit int
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List past runs, newest first, with what their syncs pushed and failed",
		Example: `  backflow runs --limit 5
  backflow runs --format json | jq '.[0].status'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printQuery(cmd.Context(), g, stdio, dir, format, limit, "runs", runsSQL)
		},
	}
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, csv or json")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs (0: all)")
	return cmd
}

func newCmdStatus(g *globals, stdio IO) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the last runs, each sync's latest state, and the top row errors",
		Long: `status reads the DuckDB file's history (backflow.runs, sync_runs, sync_rows):
the last five runs, each sync's latest run with failing syncs first, and the
most frequent row errors of those latest runs with an example key.`,
		Example: `  backflow status
  backflow status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			out := map[string]any{}
			if asJSON {
				defer func() { err = printOutcome(stdio, g, out, err) }()
			}
			_, w, err := openProject(cmd.Context(), g, dir, true)
			if err != nil {
				return err
			}
			defer w.Close()
			sections := []struct{ title, sql string }{
				{"last runs", runsSQL}, {"syncs", syncStateSQL}, {"top row errors (latest run of each sync)", topErrorsSQL},
			}
			if ok, err := hasDrift(cmd.Context(), w.DB()); err != nil {
				return err
			} else if ok {
				sections = append(sections, struct{ title, sql string }{"open drift (backflow drift lists it)", openDriftSQL})
			}
			for i, sec := range sections {
				limit := 0
				if i == 0 {
					limit = 5
				}
				t, err := queryTable(cmd.Context(), w.DB(), limit, sec.sql)
				if err != nil {
					return fmt.Errorf("status: %s: %w", sec.title, err)
				}
				if asJSON {
					out[[]string{"runs", "syncs", "errors", "drift"}[i]] = t.objects()
					continue
				}
				fmt.Fprintf(stdio.Out, "%s:\n", sec.title)
				if len(t.rows) == 0 {
					fmt.Fprintln(stdio.Out, "  (none)")
				} else if err := t.print(IO{Out: stdio.Out, ErrOut: io.Discard}, "table"); err != nil {
					return err
				}
				fmt.Fprintln(stdio.Out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the three sections as one JSON object")
	return cmd
}
