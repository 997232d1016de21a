// Package pipeline runs one backflow run against a project: extract every
// configured source, build the models, then run every sync, recording the
// run in backflow.runs. It knows connectors only through package
// connector's contracts, and the project only as the Project value here.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

// Project is what a run needs of a project (package project builds it
// from the files).
type Project struct {
	// FS is the project folder (models/, tests/); Dir is its path, which
	// connectors resolve relative paths against.
	FS  fs.FS
	Dir string
	// Identity configures the shipped identity models, which match
	// HubSpot contacts and companies to Pendo visitors and accounts;
	// IdentityModels says the project has both, so they are built.
	Identity       models.Identity
	IdentityModels bool
	// Constants are the macros of no arguments the connectors set.
	Constants map[string]string
	// MaxRemoval is the share a whole read may lose, or a sync may clear
	// or archive, before it stops (see extract and load).
	MaxRemoval float64
	// FileMode is the permission of the DuckDB file.
	FileMode os.FileMode
	// MemoryLimit caps DuckDB's memory ("2GB"); empty keeps DuckDB's
	// default.
	MemoryLimit string
	// Connectors are the configured connectors, in extraction order.
	Connectors []Connector
	Syncs      []Sync
}

// Connector is one configured connector.
type Connector struct {
	Name   string
	Config connector.Config
}

// Sync is one sync of the project.
type Sync struct {
	Spec load.Spec
	// Destination is the connector written to; Object what it names.
	Destination, Object string
	// RateLimitShare is the part of the API's rate limit the sync may use.
	RateLimitShare float64
	// Target is what the connector's session builds the destination from.
	Target connector.Target
}

// Options configure a run.
type Options struct {
	Project *Project
	// Secrets are the resolved credentials: environment variable → value.
	Secrets map[string]string
	// WarehousePath is the DuckDB file; the CLI resolves it against the
	// project folder.
	WarehousePath string
	// Warehouse, when set, is the file already open (backflow serve keeps
	// it open between runs): Run uses it and leaves it open. It must have
	// been opened without RunStartedAt, so that each run's models see
	// that run's start (the file's run_started_at() reads backflow.runs).
	Warehouse *warehouse.Warehouse
	// Command is what backflow.runs records the run as: run (default),
	// extract (with ExtractOnly), serve for a cycle of backflow serve.
	Command string
	// HTTPClient is used for every API call; nil uses each client's default.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// FullRefresh ignores extraction cursors; Only limits extraction to
	// sources or streams ("hubspot", "pendo/visitors"); Keys reads only
	// these records of a stream (see extract.Options.Keys).
	FullRefresh bool
	Only        []string
	Keys        map[string][]string
	// RebuildModels builds incremental models whole (serve's full
	// cycles); FullRefresh implies it.
	RebuildModels bool
	// PlanRecomputed plans a sync whose model was built incrementally over
	// only the rows the build recomputed (load.PlanOptions.Only): serve's
	// changes and poll cycles, whose full cycles then find removals.
	PlanRecomputed bool
	// ExtractOnly stops after extraction; SkipExtract skips it.
	ExtractOnly, SkipExtract bool
	// Progress receives extraction progress (rows so far per stream),
	// SyncProgress each sync's sending, and Phase is called as a phase
	// (extraction, then syncs) ends, for a display to close its own.
	Progress     func(stream string, rows int64)
	SyncProgress func(SyncProgress)
	Phase        func()
	// Select limits the models built (see models.Select).
	Select []string
	// LockTimeout is how long to wait for another process to release the
	// DuckDB file.
	LockTimeout time.Duration
	// Syncs limits the syncs run, by name.
	Syncs []string
	// Stop, once closed, ends the run gracefully: extraction, model
	// builds and plans are canceled (each rolls back), a sync finishes the
	// batch in flight and records it, and no further sync starts. The run
	// then returns an error wrapping load.ErrStopped. Canceling ctx
	// instead aborts at once, in-flight calls included.
	Stop <-chan struct{}
	// AllowMassRemoval lets a whole read lose, and a sync clear or
	// archive, more than the project's max_removal share.
	AllowMassRemoval bool
	// Now is the present: extraction windows end there, models see the
	// run's start as run_started_at(), and run history is stamped by it.
	// Default the system clock.
	Now func() time.Time
	// ReachTimeout bounds preflight's call to each API (Check): one that
	// has not answered by then is reported unreachable. Default 20 s.
	ReachTimeout time.Duration
}

// scrub redacts the project's secrets, and anything credential-shaped,
// from every error text the run records or returns.
func (o Options) scrub() *redact.Redactor {
	var values []string
	for _, v := range o.Secrets {
		values = append(values, v)
	}
	return redact.New(values...)
}

// now is the run's clock.
func (o Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// logger is opts.Logger, or one that discards.
func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// open opens the DuckDB file for the run.
func (o Options) open(ctx context.Context, started time.Time) (*warehouse.Warehouse, error) {
	return warehouse.Open(ctx, o.WarehousePath, warehouse.Options{LockTimeout: o.LockTimeout, RunStartedAt: started,
		Constants: o.Project.Constants, FileMode: o.Project.FileMode, MemoryLimit: o.Project.MemoryLimit})
}

// sessions opens every configured connector.
func (o Options) sessions() (map[string]connector.Session, error) {
	env := connector.Env{Secrets: o.Secrets, HTTPClient: o.HTTPClient, Logger: o.logger(), Now: o.now(), Dir: o.Project.Dir}
	out := map[string]connector.Session{}
	for _, c := range o.Project.Connectors {
		s, err := c.Config.Open(env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		out[c.Name] = s
	}
	return out, nil
}

// SyncProgress is how far one sync's sending is.
type SyncProgress struct {
	Sync string
	// Done rows of the plan's Total were handed to the destination.
	Done, Total int64
	// Estimate is how long the plan's sending takes at the limiter's
	// pace (load.Plan.Estimate).
	Estimate time.Duration
}

// Left is how long the rest takes at the plan's pace.
func (p SyncProgress) Left() time.Duration {
	if p.Total <= 0 || p.Done >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Estimate) * float64(p.Total-p.Done) / float64(p.Total))
}

// phase says a phase ended (Options.Phase).
func (o Options) phase() {
	if o.Phase != nil {
		o.Phase()
	}
}

// Result is what a run did.
type Result struct {
	RunID     string
	Warehouse string
	Extract   []extract.Result
	Models    []models.Result
	Syncs     []load.Result
	// Tests are the data tests run after the models were built.
	Tests    []models.TestResult
	Duration time.Duration
}

// TestsFailed counts the data tests that failed or could not run.
func (r *Result) TestsFailed() int {
	n := 0
	for _, t := range r.Tests {
		if t.Err != nil || t.Failures > 0 {
			n++
		}
	}
	return n
}

// Staged is the number of rows extracted, over all streams.
func (r *Result) Staged() int64 {
	var n int64
	for _, e := range r.Extract {
		n += e.Rows
	}
	return n
}

// Totals adds up the syncs.
func (r *Result) Totals() load.Result {
	return total(r.Syncs)
}

func total(syncs []load.Result) load.Result {
	var t load.Result
	for _, s := range syncs {
		t.ModelRows += s.ModelRows
		t.Applied += s.Applied
		t.Skipped += s.Skipped
		t.Failed += s.Failed
		t.Rejected += s.Rejected
	}
	return t
}

// Run performs one run.
func Run(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	res := &Result{RunID: uuid.Must(uuid.NewV7()).String(), Warehouse: opts.WarehousePath}
	if err := checkSyncs(opts.Project, opts.Syncs); err != nil {
		return res, err
	}
	if !opts.ExtractOnly {
		if err := checkSyncModels(opts.Project); err != nil {
			return res, err
		}
	}
	sessions, err := opts.sessions()
	if err != nil {
		return res, err
	}
	soft, cancel := stopping(ctx, opts.Stop)
	defer cancel()
	started := opts.now()()
	w := opts.Warehouse
	if w == nil {
		if w, err = opts.open(soft, started); err != nil {
			return res, stopped(err, opts.Stop)
		}
		defer w.Close()
	}
	command := "run"
	if opts.ExtractOnly {
		command = "extract"
	}
	if opts.Command != "" {
		command = opts.Command
	}
	r := &runner{hard: ctx, soft: soft, w: w, opts: opts, log: opts.logger(), sessions: sessions, runID: res.RunID}
	if err := r.begin(command, started); err != nil {
		return res, err
	}
	err = opts.scrub().Wrap(stopped(r.run(res), opts.Stop))
	res.Duration = time.Since(start)
	return res, errors.Join(err, r.finish(err, res.Totals()))
}

// runner is one run's or sync command's state.
type runner struct {
	// hard is canceled only by ctx; soft by a stop too. Sends run on
	// hard, so that a stop finishes the batch in flight.
	hard, soft context.Context
	w          *warehouse.Warehouse
	opts       Options
	log        *slog.Logger
	sessions   map[string]connector.Session
	runID      string
	// recomputed are, per incrementally built model, the predicate of the
	// rows its build recomputed (with PlanRecomputed).
	recomputed map[string]string
}

// begin records the run as running.
func (r *runner) begin(command string, started time.Time) error {
	if _, err := r.w.DB().ExecContext(r.hard, `INSERT INTO backflow.runs (run_id, command, started_at, status) VALUES (?, ?, ?, 'running')`,
		r.runID, command, started); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return nil
}

// finish records how the run ended: as a sync does (load.Result.Status),
// from its error and the rows its syncs failed.
func (r *runner) finish(err error, t load.Result) error {
	var msg any
	if err != nil {
		msg = err.Error()
	}
	if _, uerr := r.w.DB().ExecContext(context.WithoutCancel(r.hard), `UPDATE backflow.runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?`,
		r.opts.now()(), t.Status(err), msg, r.runID); uerr != nil {
		return fmt.Errorf("record run: %w", uerr)
	}
	return nil
}

// run extracts, builds, tests and syncs, on soft (a stop cancels it);
// only sends run on hard.
func (r *runner) run(res *Result) error {
	err := r.extract(res)
	r.opts.phase()
	if err != nil || r.opts.ExtractOnly {
		return err
	}
	p := r.opts.Project
	ordered, err := Models(r.soft, r.w, p, r.opts.Select)
	if err != nil {
		return err
	}
	res.Models, err = models.RunWith(r.soft, r.w, ordered, models.RunOptions{FullRefresh: r.opts.FullRefresh || r.opts.RebuildModels})
	for _, m := range res.Models {
		if r.opts.PlanRecomputed && m.Recomputed != "" {
			if r.recomputed == nil {
				r.recomputed = map[string]string{}
			}
			r.recomputed[m.Model] = m.Recomputed
		}
		switch m.Materialized {
		case "view":
			r.log.Info("model built", "model", m.Model, "materialized", "view", "duration", m.Duration.Round(time.Millisecond))
		case "incremental":
			r.log.Info("model built", "model", m.Model, "materialized", "incremental", "merged", m.Merged, "rows", m.Rows, "duration", m.Duration.Round(time.Millisecond))
		default:
			r.log.Info("model built", "model", m.Model, "materialized", "table", "rows", m.Rows, "duration", m.Duration.Round(time.Millisecond))
		}
	}
	if err != nil {
		return err
	}
	// Data tests guard the syncs: a sync whose model (or a model upstream
	// of it) fails a test is not run, as dbt build skips what a failing
	// test feeds.
	var blocked map[string]string
	res.Tests, blocked, err = testModels(r.soft, r.w, p, ordered, len(r.opts.Select) == 0, r.log)
	if err != nil {
		return err
	}
	return r.eachSync(SyncOptions{Apply: true}, blocked, func(ps PlannedSync) error {
		s := *ps.Result
		res.Syncs = append(res.Syncs, s)
		r.log.Info("synced", "sync", s.Sync, "added", s.Added, "changed", s.Changed, "applied", s.Applied,
			"skipped", s.Skipped, "failed", s.Failed, "rejected", s.Rejected, "duration", s.Duration.Round(time.Millisecond))
		return nil
	})
}

// extract runs the connectors' sources.
func (r *runner) extract(res *Result) error {
	var sources []extract.Source
	for _, c := range r.opts.Project.Connectors {
		if src := r.sessions[c.Name].Source(); src != nil && !r.opts.SkipExtract {
			sources = append(sources, src)
		}
	}
	var err error
	res.Extract, err = extract.Run(r.soft, r.w, r.runID, sources, extract.Options{FullRefresh: r.opts.FullRefresh, Only: r.opts.Only, Keys: r.opts.Keys, Logger: r.log,
		Progress: r.opts.Progress, Now: r.opts.now(), MaxRemoval: r.opts.Project.MaxRemoval, AllowMassRemoval: r.opts.AllowMassRemoval})
	return err
}

// OpenWarehouse opens the project's DuckDB file for a process that keeps
// it open across runs (backflow serve; see Options.Warehouse): no fixed
// run_started_at, so each run's models see that run's start. note is
// shown to a command the lock keeps out (warehouse.Options.HolderNote).
func (o Options) OpenWarehouse(ctx context.Context, note string) (*warehouse.Warehouse, error) {
	return warehouse.Open(ctx, o.WarehousePath, warehouse.Options{LockTimeout: o.LockTimeout, HolderNote: note,
		Constants: o.Project.Constants, FileMode: o.Project.FileMode, MemoryLimit: o.Project.MemoryLimit})
}

// Receivers are the connectors that take webhook deliveries, by name:
// those whose session is a connector.Receiver and whose block configures
// webhooks.
func (o Options) Receivers() (map[string]connector.Receiver, error) {
	sessions, err := o.sessions()
	if err != nil {
		return nil, err
	}
	out := map[string]connector.Receiver{}
	for name, s := range sessions {
		if r, ok := s.(connector.Receiver); ok && r.Receives() {
			out[name] = r
		}
	}
	return out, nil
}

// Sources opens the connectors and returns the sources they extract, for
// a poller that keeps them across runs (backflow serve's probes).
func (o Options) Sources() ([]extract.Source, error) {
	sessions, err := o.sessions()
	if err != nil {
		return nil, err
	}
	var out []extract.Source
	for _, c := range o.Project.Connectors {
		if src := sessions[c.Name].Source(); src != nil {
			out = append(out, src)
		}
	}
	return out, nil
}
