package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/pipeline"
)

type syncOptions struct {
	project    string
	syncs      []string
	show       int
	limit      int64
	fullResync bool
	json       bool
	// retrySkipped resends skipped and rejected rows.
	retrySkipped bool
	timeout      time.Duration
	allowMass    bool
}

func newCmdPlan(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what each sync would send, without sending or changing anything",
		Long: `plan checks each sync (key present, unique and not null; mapped columns present
with types the destination accepts; values the destination would refuse),
diffs the model against what was last pushed, and prints the rows to add,
change and remove, the API calls that takes, how long at the configured rate
limit, and sample payloads. Nothing is sent and nothing in the DuckDB file
changes. It reads the models as they are: run backflow models run first.`,
		Example: `  backflow plan
  backflow plan --sync visitor_traits --show 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSyncs(cmd, g, stdio, lookupEnv, opts, pipeline.SyncOptions{FullResync: opts.fullResync, RetrySkipped: opts.retrySkipped})
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringSliceVar(&opts.syncs, "sync", nil, "plan only these syncs")
	cmd.Flags().IntVar(&opts.show, "show", 3, "sample payloads to print per sync")
	cmd.Flags().BoolVar(&opts.fullResync, "full-resync", false, "plan as if nothing had been pushed")
	cmd.Flags().BoolVar(&opts.retrySkipped, "retry-skipped", false, "plan to resend rows last skipped (record not found) or rejected")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the plans as JSON on stdout")
	addAllowMassRemoval(cmd, &opts.allowMass)
	return cmd
}

func newCmdSync(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Send each sync's changes to its destination",
		Long: `sync plans each sync as backflow plan does and sends the adds and changes in
batches, recording every row's outcome in backflow.sync_rows and advancing
the snapshot for accepted rows only. It does not extract or rebuild models
(backflow run does all three).`,
		Example: `  backflow sync --sync visitor_traits --limit 10   # a test sample
  backflow sync --full-resync                       # resend everything`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.limit(opts.timeout); err != nil {
				return err
			}
			return runSyncs(cmd, g, stdio, lookupEnv, opts, pipeline.SyncOptions{Apply: true, Limit: opts.limit, FullResync: opts.fullResync, RetrySkipped: opts.retrySkipped})
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringSliceVar(&opts.syncs, "sync", nil, "run only these syncs")
	cmd.Flags().Int64Var(&opts.limit, "limit", 0, "send at most this many rows per sync (a test sample)")
	cmd.Flags().BoolVar(&opts.fullResync, "full-resync", false, "ignore what was pushed before and send every row")
	cmd.Flags().BoolVar(&opts.retrySkipped, "retry-skipped", false, "resend rows last skipped (record not found) or rejected, changed or not")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON summary on stdout")
	addTimeout(cmd, &opts.timeout)
	addAllowMassRemoval(cmd, &opts.allowMass)
	return cmd
}

func runSyncs(cmd *cobra.Command, g *globals, stdio IO, lookupEnv func(string) (string, bool), opts *syncOptions, so pipeline.SyncOptions) (err error) {
	summaries := []map[string]any{}
	if opts.json {
		// One object on stdout whatever happens: status, exit_code, syncs.
		defer func() { err = printOutcome(stdio, g, map[string]any{"syncs": summaries}, err) }()
	}
	log, p, secrets, err := g.setup(stdio, opts.project, lookupEnv)
	if err != nil {
		return err
	}
	if _, err := g.check(cmd, log, p, secrets, opts.syncs); err != nil {
		return err
	}
	if file := p.Path(p.Config.Warehouse); !exists(file) {
		// Nothing staged: a plan has nothing to diff, and neither command
		// creates the file.
		next := "nothing is staged yet (no " + p.Config.Warehouse + "): run backflow run first; it extracts, builds the models and syncs (or backflow extract, then backflow models run)"
		if so.Apply {
			return &usageError{errors.New(next)}
		}
		if !opts.json {
			fmt.Fprintln(stdio.Out, "preflight passed; "+next)
		}
		return nil
	}
	failed := false
	err = pipeline.Syncs(g.hard, pipeline.Options{Stop: g.stop, Project: p.Pipeline(), Secrets: secrets, WarehousePath: p.Path(p.Config.Warehouse), Logger: log, Syncs: opts.syncs, LockTimeout: g.lockTimeout, Now: g.clockFn, AllowMassRemoval: opts.allowMass, SyncProgress: g.disp.syncing}, so,
		func(ps pipeline.PlannedSync) error {
			g.disp.end() // the sync's bar goes before its lines print
			pl := ps.Plan
			c := pl.Counts
			est := pl.Estimate()
			sum := map[string]any{"sync": pl.Spec.Name, "model_rows": c.ModelRows, "added": c.Added, "changed": c.Changed, "removed": c.Removed,
				"unchanged": c.Unchanged, "rejected": pl.Rejected, "calls": est.Calls, "seconds_estimate": est.Duration.Seconds()}
			if est.DailyLeft >= 0 {
				sum["daily_calls_left"] = est.DailyLeft
			}
			if len(pl.Creates) > 0 {
				sum["creates_fields"] = pl.Creates
			}
			if d := pl.Drift; d.Checked {
				sum["drift"] = map[string]any{"fields": d.Found(), "records": d.Records, "by_field": d.Fields, "kept": d.Kept, "policy": driftPolicy(pl.Spec)}
			} else {
				sum["drift"] = map[string]any{"checked": false, "reason": d.Reason}
			}
			if ps.Result != nil {
				r := ps.Result
				sum["pushed"], sum["skipped"], sum["failed"], sum["rejected"] = r.Applied, r.Skipped, r.Failed, r.Rejected
				failed = failed || r.Failed+r.Rejected > 0
			}
			if opts.json {
				if opts.show > 0 && ps.Result == nil {
					sample, err := pl.Sample(cmd.Context(), opts.show)
					if err != nil {
						return err
					}
					for i := range sample {
						sample[i].Values = shortValues(sample[i].Values)
					}
					sum["sample"] = sample
				}
				summaries = append(summaries, sum)
				return nil
			}
			fmt.Fprintf(stdio.Out, "%s → %s %s (%s)\n", pl.Spec.Name, ps.Sync.Destination, ps.Sync.Object, pl.Spec.File)
			fmt.Fprintf(stdio.Out, "  %d model rows: %d to add, %d to change, %d removed, %d unchanged; %d the destination would refuse\n",
				c.ModelRows, c.Added, c.Changed, c.Removed, c.Unchanged, pl.Rejected)
			for _, f := range pl.Creates {
				fmt.Fprintf(stdio.Out, "  creates field %s (%s) before sending (create_fields)\n", f.Field, f.Type)
			}
			fmt.Fprintln(stdio.Out, "  "+driftLine(pl))
			fmt.Fprintf(stdio.Out, "  %d API calls, about %s at %.1f requests/s", est.Calls, est.Duration.Round(time.Second), est.PerSecond)
			switch {
			case est.DailyLeft < 0:
				fmt.Fprintln(stdio.Out)
			case est.Fits():
				fmt.Fprintf(stdio.Out, "; %d calls left in today's budget\n", est.DailyLeft)
			default:
				fmt.Fprintf(stdio.Out, "; only %d calls left in today's budget: rows past it are sent on the next run\n", est.DailyLeft)
			}
			if ps.Result != nil {
				r := ps.Result
				fmt.Fprintf(stdio.Out, "  pushed %d, skipped %d (not found), failed %d, rejected %d in %s\n", r.Applied, r.Skipped, r.Failed, r.Rejected, r.Duration.Round(time.Millisecond))
				return nil
			}
			sample, err := pl.Sample(cmd.Context(), opts.show)
			if err != nil {
				return err
			}
			for _, r := range sample {
				vals, _ := json.Marshal(shortValues(r.Values))
				fmt.Fprintf(stdio.Out, "  %-6s %s %s\n", r.Op, r.Key, strings.TrimSpace(string(vals)))
			}
			return nil
		})
	g.disp.end()
	if err != nil {
		return err
	}
	if failed {
		return errRowsFailed
	}
	return nil
}

// maxShown is how much of one value a plan prints: a 10 MB string is
// summarised, not dumped on the terminal.
const maxShown = 200

// shortValues returns values with every one longer than maxShown bytes of
// JSON replaced by its start and its size.
func shortValues(values map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(values))
	for k, v := range values {
		if len(v) <= maxShown {
			out[k] = v
			continue
		}
		head := strings.ToValidUTF8(string(v[:maxShown]), "")
		short, _ := json.Marshal(fmt.Sprintf("%s… (%d bytes of JSON)", head, len(v)))
		out[k] = short
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func driftPolicy(s load.Spec) load.OnDrift { return cmp.Or(s.OnDrift, load.DriftReport) }

// driftLine is a plan's drift in one line: what changed in the
// destination since backflow sent it, and what on_drift does about it.
func driftLine(pl *load.Plan) string {
	d := pl.Drift
	if !d.Checked {
		return "drift not checked: " + d.Reason
	}
	if d.Found() == 0 {
		return "no drift: the destination holds what backflow sent"
	}
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(d.Fields)) {
		parts = append(parts, fmt.Sprintf("%s %d", f, d.Fields[f]))
	}
	what := map[load.OnDrift]string{load.DriftReport: "reported, not sent again", load.DriftOverwrite: "the model's values are sent again",
		load.DriftKeep: "the edits are kept"}[driftPolicy(pl.Spec)]
	return fmt.Sprintf("drift: %d fields of %d records changed in the destination since sent (%s); on_drift %s: %s (backflow drift --sync %s)",
		d.Found(), d.Records, strings.Join(parts, ", "), driftPolicy(pl.Spec), what, pl.Spec.Name)
}
