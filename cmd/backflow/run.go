package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/notify"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

type runOptions struct {
	project     string
	timeout     time.Duration
	allowMass   bool
	json        bool
	publish     string
	selectors   []string
	syncs       []string
	skipExtract bool
	webhook     string
	report      string
}

func newCmdRun(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Extract, build models, run the data tests, and run every sync",
		Long: `run extracts every configured source, builds the models, runs the data
tests, then runs the syncs. A sync whose model (or a model upstream of it)
fails a data test is not run; the others are. SIGINT or SIGTERM finishes
the batch in flight, records it, and exits 5; a second signal aborts.
It starts with the checks backflow check makes: a project mistake stops it
before any data moves.`,
		Example: `  # from cron or Airflow, in the project folder
  HUBSPOT_TOKEN=pat-... PENDO_INTEGRATION_KEY=... backflow run --json
  # and leave analysts a copy they can keep open
  backflow run --publish /srv/analytics/backflow.duckdb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			var res *pipeline.Result
			if opts.json {
				// One object on stdout whatever happens, config errors
				// and lock timeouts included.
				defer func() { err = printOutcome(stdio, g, runSummary(res), err) }()
			}
			if err := g.limit(opts.timeout); err != nil {
				return err
			}
			log, p, secrets, err := g.setup(stdio, opts.project, lookupEnv)
			if err != nil {
				return err
			}
			webhook := opts.webhook
			if webhook == "" {
				webhook, _ = lookupEnv(webhookEnv)
			}
			if webhook != "" {
				defer func() {
					// A failed alert is logged, never the run's outcome.
					runErr := err
					if errors.Is(runErr, errRowsFailed) {
						runErr = nil // alert says which rows from the result
					}
					if nerr := alert(g.hard, webhook, p.Config.Name, res, g.redactor().Wrap(runErr)); nerr != nil {
						log.Error("notify: " + g.redactor().Wrap(nerr).Error())
					}
				}()
			}
			if _, err := g.check(cmd, log, p, secrets, opts.syncs); err != nil {
				return err
			}
			defer g.disp.end()
			res, err = pipeline.Run(g.hard, pipeline.Options{
				Stop:          g.stop,
				Progress:      g.disp.extracting,
				SyncProgress:  g.disp.syncing,
				Phase:         g.disp.end,
				Project:       p.Pipeline(),
				Secrets:       secrets,
				WarehousePath: p.Path(p.Config.Warehouse),
				LockTimeout:   g.lockTimeout,
				Logger:        log,
				Select:        opts.selectors,
				Syncs:         opts.syncs,
				SkipExtract:   opts.skipExtract,
				Now:           g.clockFn,

				AllowMassRemoval: opts.allowMass,
			})
			g.disp.end()
			if !opts.json {
				printRun(stdio, res, err)
			}
			if opts.report != "" {
				// Written for failed runs too: that is when it is read. A
				// report that cannot be written is logged, never the
				// run's outcome.
				if rerr := runReport(g.hard, g, p, opts.report); rerr != nil {
					log.Error("report", "err", rerr)
				} else {
					log.Info("report written", "path", opts.report)
				}
			}
			if err != nil {
				return err // the last published copy stays as it was
			}
			if opts.publish != "" {
				if err := warehouse.Publish(cmd.Context(), p.Path(p.Config.Warehouse), opts.publish, g.lockTimeout, p.Config.Mode()); err != nil {
					return err
				}
				log.Info("published", "path", opts.publish)
			}
			if t := res.Totals(); t.Failed+t.Rejected > 0 {
				return errRowsFailed
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&opts.selectors, "select", nil, "build only these models (name, +name, name+)")
	cmd.Flags().StringSliceVar(&opts.syncs, "sync", nil, "run only these syncs (e.g. one per Airflow task)")
	cmd.Flags().BoolVar(&opts.skipExtract, "skip-extract", false, "use the data already staged")
	cmd.Flags().StringVar(&opts.webhook, "notify-webhook", "", "post a JSON summary here when the run fails or rows fail (a Slack incoming webhook shows it); it is a secret: prefer "+webhookEnv+", which argv and ps never show")
	cmd.Flags().StringVar(&opts.report, "report", "", "after a run, write backflow report's HTML page here (also when the run failed)")
	cmd.Flags().StringVar(&opts.publish, "publish", "", "after a run, write a read-only copy of the DuckDB file here for analysts (replaced atomically)")
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON summary on stdout")
	addTimeout(cmd, &opts.timeout)
	addAllowMassRemoval(cmd, &opts.allowMass)
	return cmd
}

// addAllowMassRemoval gives a command the flag that lifts max_removal.
func addAllowMassRemoval(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "allow-mass-removal", false, "let a whole read lose, or a sync clear or archive, more than the project's max_removal share (default 10%) this once")
}

type syncSummary struct {
	Sync      string `json:"sync"`
	ModelRows int64  `json:"model_rows"`
	Added     int64  `json:"added"`
	Changed   int64  `json:"changed"`
	Removed   int64  `json:"removed"`
	Unchanged int64  `json:"unchanged"`
	Pushed    int64  `json:"pushed"`
	Skipped   int64  `json:"skipped"`
	Failed    int64  `json:"failed"`
	Rejected  int64  `json:"rejected"`
}

// runSummary is a run's --json object and alert body, without status
// (see printOutcome); res may be nil (the run never started).
func runSummary(res *pipeline.Result) map[string]any {
	if res == nil {
		res = &pipeline.Result{}
	}
	out := map[string]any{"run_id": res.RunID, "duckdb": res.Warehouse, "staged": res.Staged(), "seconds": res.Duration.Seconds()}
	syncs := []syncSummary{}
	for _, s := range res.Syncs {
		syncs = append(syncs, syncSummary{s.Sync, s.ModelRows, s.Added, s.Changed, s.Removed, s.Unchanged, s.Applied, s.Skipped, s.Failed, s.Rejected})
	}
	out["syncs"] = syncs
	failing := []string{}
	for _, t := range res.Tests {
		if t.Err != nil || t.Failures > 0 {
			failing = append(failing, t.Test.Name)
		}
	}
	out["tests"] = map[string]any{"run": len(res.Tests), "failed": failing}
	return out
}

func printRun(stdio IO, res *pipeline.Result, err error) {
	if res == nil {
		return
	}
	for _, e := range res.Extract {
		fmt.Fprintln(stdio.Out, "extract", e)
	}
	for _, m := range res.Models {
		fmt.Fprintln(stdio.Out, "model  ", m)
	}
	if len(res.Tests) > 0 {
		fmt.Fprintf(stdio.Out, "tests   %d passed, %d failed\n", len(res.Tests)-res.TestsFailed(), res.TestsFailed())
	}
	for _, t := range res.Tests {
		switch {
		case t.Err != nil:
			fmt.Fprintf(stdio.Out, "  ERROR %s: %s\n", t.Test.Name, redact.New().Error(t.Err))
		case t.Failures > 0:
			fmt.Fprintf(stdio.Out, "  FAIL  %s (%s): %s; run backflow test to see them\n", t.Test.Name, t.Test.File, plural(t.Failures, "failing row"))
		}
	}
	for _, s := range res.Syncs {
		fmt.Fprintln(stdio.Out, "sync   ", s)
	}
	if err != nil {
		fmt.Fprintf(stdio.Out, "run %s failed after %.1fs; DuckDB file: %s\n", res.RunID, res.Duration.Seconds(), res.Warehouse)
		return
	}
	fmt.Fprintf(stdio.Out, "run %s finished in %.1fs; DuckDB file: %s\n", res.RunID, res.Duration.Seconds(), res.Warehouse)
}

// setup is what commands that call the APIs share: the logger, the project
// and its credentials.
func (g *globals) setup(stdio IO, dir string, lookupEnv func(string) (string, bool)) (*slog.Logger, *project.Project, project.Secrets, error) {
	// Log lines go through the display, which prints them above its
	// progress bars on a terminal.
	g.disp = newDisplay(stdio.ErrOut)
	log, err := g.logger(g.disp)
	if err != nil {
		return nil, nil, nil, err
	}
	g.disp.setLog(log.Info)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := g.loadProject(abs)
	if err != nil {
		return nil, nil, nil, err
	}
	secrets, err := p.Secrets(lookupEnv)
	if err != nil {
		return nil, nil, nil, &usageError{err}
	}
	g.scrub.Store(redact.New(secrets.Values()...))
	return log, p, secrets, nil
}

// runReport writes the report page after a run.
func runReport(ctx context.Context, g *globals, p *project.Project, out string) error {
	w, err := warehouse.Open(ctx, p.Path(p.Config.Warehouse), warehouse.Options{ReadOnly: true, LockTimeout: g.lockTimeout, MemoryLimit: p.Config.MemoryLimit})
	if err != nil {
		return err
	}
	defer w.Close()
	// The log line says it was written; stdout stays the run's.
	now, err := g.clock()
	if err != nil {
		return err
	}
	return writeReport(ctx, IO{Out: io.Discard}, p, w, out, 30, now)
}

// webhookEnv is where run reads the alert webhook's URL when
// --notify-webhook is not given.
const webhookEnv = "BACKFLOW_NOTIFY_WEBHOOK"

// alert posts a summary to the webhook when the run failed or rows failed;
// res is nil when the run failed before it started (preflight).
func alert(ctx context.Context, webhook, project string, res *pipeline.Result, runErr error) error {
	if res == nil {
		res = &pipeline.Result{}
	}
	t := res.Totals()
	var text string
	switch {
	case runErr != nil:
		text = fmt.Sprintf(":x: backflow run %s (%s) failed: %v", res.RunID, project, runErr)
	case t.Failed+t.Rejected > 0:
		var bad []string
		for _, s := range res.Syncs {
			if s.Failed+s.Rejected > 0 {
				bad = append(bad, fmt.Sprintf("%s (%d failed, %d rejected)", s.Sync, s.Failed, s.Rejected))
			}
		}
		text = fmt.Sprintf(":warning: backflow run %s (%s): rows failed in %s. See `backflow status`.", res.RunID, project, strings.Join(bad, ", "))
	default:
		return nil
	}
	run := runSummary(res)
	code := codeOf(runErr)
	run["status"], run["exit_code"] = statusOf(code), code
	if runErr != nil {
		run["error"] = runErr.Error()
	}
	return notify.Post(ctx, nil, webhook, notify.Message{Text: text, Run: run})
}
