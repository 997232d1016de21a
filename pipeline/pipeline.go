// Package pipeline runs one backflow run against a project: extract every
// configured source, build the models, then run every sync, recording the
// run in backflow.runs.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// Options configure a run.
type Options struct {
	Project *project.Project
	Secrets project.Secrets
	// WarehousePath is the DuckDB file; the CLI resolves it against the
	// project folder.
	WarehousePath string
	// HTTPClient is used for every API call; nil uses each client's default.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// FullRefresh ignores extraction cursors; Only limits extraction to
	// sources or streams ("hubspot", "pendo/visitors").
	FullRefresh bool
	Only        []string
	// ExtractOnly stops after extraction; SkipExtract skips it.
	ExtractOnly, SkipExtract bool
	// Progress receives extraction progress (rows so far per stream).
	Progress func(stream string, rows int64)
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
}

// scrub redacts the project's secrets, and anything credential-shaped,
// from every error text the run records or returns.
func (o Options) scrub() *redact.Redactor { return redact.New(o.Secrets.Values()...) }

// now is the run's clock.
func (o Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// Constants are the project settings models read as macros: the Pendo
// subscription's time zone, pendo_timezone(), which pendo_day_end() uses.
func Constants(p *project.Project) map[string]string {
	zone := "UTC"
	if c := p.Config.Pendo; c != nil && c.TimeZone != "" {
		zone = c.TimeZone
	}
	return map[string]string{"pendo_timezone": warehouse.Literal(zone)}
}

// checkSyncModels refuses a sync whose model has no file (project or
// shipped): a view of that name left in the DuckDB file by an earlier run
// would otherwise go on feeding the destination after its SQL was deleted.
func checkSyncModels(p *project.Project) error {
	id := models.Identity{ContactIDProperty: p.Config.Identity.ContactVisitorIDProperty, CompanyAccountIDProperty: p.Config.Identity.CompanyAccountIDProperty}
	ms, err := models.Load(p.FS, "models", id)
	if err != nil {
		return err
	}
	for _, s := range p.Syncs {
		if !slices.ContainsFunc(ms, func(m models.Model) bool { return m.Name == s.Model }) {
			return &project.Error{File: s.File, Field: "model", Err: fmt.Errorf("no model %q: there is no models/%s.sql (a table or view of that name left in the DuckDB file is not used)", s.Model, s.Model)}
		}
	}
	return nil
}

// checkSyncs refuses --sync names the project does not have.
func checkSyncs(p *project.Project, names []string) error {
	var have []string
	for _, s := range p.Syncs {
		have = append(have, s.Name)
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			return &project.Error{File: "syncs/" + n + ".yml", Err: fmt.Errorf("no such sync (the project has: %s)", strings.Join(have, ", "))}
		}
	}
	return nil
}

// stopping returns a context canceled when opts.Stop closes (or ctx is
// done), for the work that can be dropped and redone: reads, builds and
// plans.
func stopping(ctx context.Context, stop <-chan struct{}) (context.Context, context.CancelFunc) {
	soft, cancel := context.WithCancel(ctx)
	if stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-soft.Done():
			}
		}()
	}
	return soft, cancel
}

// stopped turns the cancellation a Stop caused into load.ErrStopped.
func stopped(err error, stop <-chan struct{}) error {
	if err == nil || errors.Is(err, load.ErrStopped) || !errors.Is(err, context.Canceled) {
		return err
	}
	select {
	case <-stop:
		return fmt.Errorf("%w (%v)", load.ErrStopped, err)
	default:
		return err
	}
}

// status is how a run or sync ended, for backflow.runs.
func status(err error, t load.Result) (string, any) {
	switch {
	case errors.Is(err, load.ErrStopped):
		return "stopped", err.Error()
	case err != nil:
		return "failed", err.Error()
	case t.Failed+t.Rejected > 0:
		return "partial", nil
	}
	return "succeeded", nil
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
	var t load.Result
	for _, s := range r.Syncs {
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
	log := logger(opts)
	res := &Result{RunID: uuid.Must(uuid.NewV7()).String(), Warehouse: opts.WarehousePath}
	if err := checkSyncs(opts.Project, opts.Syncs); err != nil {
		return res, err
	}
	if !opts.ExtractOnly {
		if err := checkSyncModels(opts.Project); err != nil {
			return res, err
		}
	}
	soft, cancel := stopping(ctx, opts.Stop)
	defer cancel()
	now := opts.now()
	started := now()
	w, err := warehouse.Open(soft, opts.WarehousePath, warehouse.Options{LockTimeout: opts.LockTimeout, RunStartedAt: started, Constants: Constants(opts.Project), FileMode: opts.Project.Config.Mode()})
	if err != nil {
		return res, stopped(err, opts.Stop)
	}
	defer w.Close()
	command := "run"
	if opts.ExtractOnly {
		command = "extract"
	}
	if _, err := w.DB().ExecContext(ctx, `INSERT INTO backflow.runs (run_id, command, started_at, status) VALUES (?, ?, ?, 'running')`, res.RunID, command, started); err != nil {
		return res, fmt.Errorf("record run: %w", err)
	}
	err = opts.scrub().Wrap(stopped(run(ctx, soft, w, opts, res, log), opts.Stop))
	res.Duration = time.Since(start)
	st, msg := status(err, res.Totals())
	_, uerr := w.DB().ExecContext(context.WithoutCancel(ctx), `UPDATE backflow.runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?`, now(), st, msg, res.RunID)
	return res, errors.Join(err, uerr)
}

// run does the work on ctx, canceled by a stop; only sends run on hard.
func run(hard, ctx context.Context, w *warehouse.Warehouse, opts Options, res *Result, log *slog.Logger) error {
	p := opts.Project
	hs, pd, err := clients(p, opts, 1)
	if err != nil {
		return err
	}

	// Sources, wired explicitly.
	var sources []extract.Source
	if hs != nil && len(p.Config.HubSpot.Extract.Objects) > 0 {
		x := p.Config.HubSpot.Extract
		sources = append(sources, &extract.HubSpot{Client: hs, Objects: x.Objects, Properties: x.Properties,
			Incremental: project.On(x.Incremental), Lookback: x.Lookback.Duration, Associations: project.On(x.Associations), Now: opts.now()})
	}
	if pd != nil && len(p.Config.Pendo.Extract.Streams) > 0 {
		x := p.Config.Pendo.Extract
		sources = append(sources, &extract.Pendo{Client: pd, Tables: x.Streams, IncludeAnonymous: x.IncludeAnonymous,
			Incremental: project.On(x.Incremental), EventLookback: x.EventLookback.Duration, HistoryDays: x.HistoryDays, AllApps: x.AllApps, Now: opts.now()})
	}
	if opts.SkipExtract {
		sources = nil
	}
	res.Extract, err = extract.Run(ctx, w, res.RunID, sources, extract.Options{FullRefresh: opts.FullRefresh, Only: opts.Only, Logger: log, Progress: opts.Progress, Now: opts.now(),
		MaxRemoval: p.Config.MaxRemoval, AllowMassRemoval: opts.AllowMassRemoval})
	if err != nil {
		return err
	}
	if opts.ExtractOnly {
		return nil
	}

	ordered, err := Models(ctx, w, p, opts.Select)
	if err != nil {
		return err
	}
	res.Models, err = models.Run(ctx, w, ordered)
	for _, m := range res.Models {
		log.Info("model built", "model", m.Model, "rows", m.Rows, "duration", m.Duration.Round(time.Millisecond))
	}
	if err != nil {
		return err
	}

	// Data tests guard the syncs: a sync whose model (or a model upstream
	// of it) fails a test is not run, as dbt build skips what a failing
	// test feeds.
	var blocked map[string]string
	res.Tests, blocked, err = testModels(ctx, w, p, ordered, len(opts.Select) == 0, log)
	if err != nil {
		return err
	}
	return eachSync(hard, ctx, w, res.RunID, opts, SyncOptions{Apply: true}, blocked, hs, pd, log, func(ps PlannedSync) error {
		r := *ps.Result
		res.Syncs = append(res.Syncs, r)
		log.Info("synced", "sync", r.Sync, "added", r.Added, "changed", r.Changed, "applied", r.Applied,
			"skipped", r.Skipped, "failed", r.Failed, "rejected", r.Rejected, "duration", r.Duration.Round(time.Millisecond))
		return nil
	})
}

// testModels runs the data tests of the ordered models (and, with withSQL,
// tests/*.sql) and returns their results and the models they make unfit to
// sync, with the reason (see models.Blocked).
func testModels(ctx context.Context, w *warehouse.Warehouse, p *project.Project, ordered []models.Model, withSQL bool, log *slog.Logger) ([]models.TestResult, map[string]string, error) {
	tests, err := DataTests(p, ordered, withSQL)
	if err != nil {
		return nil, nil, err
	}
	results := models.RunTests(ctx, w.DB(), tests)
	for _, t := range results {
		if t.Err != nil || t.Failures > 0 {
			log.Warn("data test failed", "test", t.Test.Name, "file", t.Test.File, "rows", t.Failures, "err", t.Err)
		}
	}
	blocked, err := models.Blocked(ctx, w.DB(), ordered, results)
	return results, blocked, err
}

// eachSync plans the selected syncs one at a time, skipping those blocked
// holds, applies each plan (with so.Apply) on hard so that a stop finishes
// the batch in flight, and hands it to fn before closing it. Every sync
// runs even if one fails; the errors are returned together. Plans are made
// on ctx, which a stop cancels: no sync starts after one.
func eachSync(hard, ctx context.Context, w *warehouse.Warehouse, runID string, opts Options, so SyncOptions, blocked map[string]string,
	hs *hubspot.Client, pd *pendo.Client, log *slog.Logger, fn func(PlannedSync) error) error {
	p := opts.Project
	var errs []error
	for _, s := range p.Syncs {
		if len(opts.Syncs) > 0 && !slices.Contains(opts.Syncs, s.Name) {
			continue
		}
		if why, ok := models.Held(blocked, s.Model); ok {
			errs = append(errs, fmt.Errorf("sync %s: not run: %s", s.Name, why))
			log.Error("sync not run", "sync", s.Name, "reason", why)
			continue
		}
		dest, err := syncDestination(p, opts, s, hs, pd)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ctx.Err() != nil {
			break
		}
		plan, err := load.NewPlan(ctx, w, s, dest, load.PlanOptions{FullResync: so.FullResync, RetrySkipped: so.RetrySkipped, Stop: opts.Stop, Now: opts.now(), Redact: opts.scrub(),
			MaxRemoval: p.Config.MaxRemoval, AllowMassRemoval: opts.AllowMassRemoval})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps := PlannedSync{Plan: plan, Rate: rate(p, s)}
		if so.Apply {
			res, err := plan.Apply(hard, w, runID, so.Limit)
			ps.Result = &res
			if err != nil {
				errs = append(errs, err)
			}
		}
		err = fn(ps)
		plan.Close()
		if err != nil {
			return err
		}
	}
	if ctx.Err() != nil && !slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, load.ErrStopped) }) {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// syncDestination builds a sync's destination, on clients of its own when
// the sync may use only a share of the APIs' rate limits. Syncs run one
// at a time, so the share holds while the sync runs.
func syncDestination(p *project.Project, opts Options, s project.Sync, hs *hubspot.Client, pd *pendo.Client) (load.Destination, error) {
	if s.RateLimitShare > 0 && s.RateLimitShare < 1 {
		var err error
		if hs, pd, err = clients(p, opts, s.RateLimitShare); err != nil {
			return nil, err
		}
	}
	return destination(p, opts.Secrets, s, hs, pd, opts.now())
}

// destination builds the Destination a sync names.
func destination(p *project.Project, secrets project.Secrets, s project.Sync, hs *hubspot.Client, pd *pendo.Client, now func() time.Time) (load.Destination, error) {
	switch {
	case s.Destination == "hubspot" && hs == nil, s.Destination == "pendo" && pd == nil:
		return nil, fmt.Errorf("%s: destination %s is not configured in backflow.yml", s.File, s.Destination)
	case s.Destination == "pendo" && s.Object == "track_events":
		if secrets.PendoTrackSecret == "" {
			return nil, fmt.Errorf("%s: track events need Pendo's track event secret: set %s", s.File, p.Config.Pendo.TrackSecretEnv)
		}
		return &load.PendoTrack{Client: pd, Size: s.BatchSize, Now: now}, nil
	case s.Destination == "hubspot" && s.Object == "events":
		return &load.HubSpotEvents{Client: hs, Event: s.Event, Size: s.BatchSize}, nil
	}
	switch s.Destination {
	case "hubspot":
		return &load.HubSpot{Client: hs, Object: s.Object, Match: s.Match, Upsert: s.Mode == "upsert", Archive: s.OnRemove == "archive",
			Create: s.Mode == "create", KeyProperty: s.KeyProperty, Size: s.BatchSize}, nil
	case "pendo":
		kind := pendo.Visitor
		if s.Object == "accounts" {
			kind = pendo.Account
		}
		return &load.Pendo{Client: pd, Kind: kind, Group: s.Group, Size: s.BatchSize}, nil
	}
	return nil, fmt.Errorf("%s: destination %s is not supported", s.File, s.Destination)
}

// HubSpotClient builds the project's HubSpot client: with the private-app
// token, or with OAuth from the token file `backflow auth hubspot` wrote.
func HubSpotClient(p *project.Project, secrets project.Secrets, httpClient *http.Client) (*hubspot.Client, error) {
	return hubspotClient(p, secrets, httpClient, 1, nil)
}

func hubspotClient(p *project.Project, secrets project.Secrets, httpClient *http.Client, share float64, log *slog.Logger) (*hubspot.Client, error) {
	c := p.Config.HubSpot
	cfg := hubspot.Config{BaseURL: c.BaseURL, HTTPClient: httpClient, Token: secrets.HubSpotToken, BurstLimit: c.BurstLimit, APIVersion: c.APIVersion, RateShare: share, Logger: log}
	if o := c.OAuth; o != nil {
		src, err := hubspot.NewOAuthTokenSource(OAuthConfig(p, secrets, httpClient), hubspot.FileStore{Path: p.Path(o.TokenFile)})
		if err != nil {
			return nil, err
		}
		cfg.TokenSource = src
	}
	return hubspot.New(cfg)
}

// OAuthConfig is the project's HubSpot OAuth app. Its token endpoint
// follows the configured base URL, so the emulator's serves in tests.
func OAuthConfig(p *project.Project, secrets project.Secrets, httpClient *http.Client) hubspot.OAuthConfig {
	o := p.Config.HubSpot.OAuth
	cfg := hubspot.OAuthConfig{ClientID: o.ClientID, ClientSecret: secrets.HubSpotClientSecret, Scopes: o.Scopes, RedirectURL: o.RedirectURL, HTTPClient: httpClient}
	if base := p.Config.HubSpot.BaseURL; base != "" {
		cfg.TokenURL = base + "/oauth/v1/token"
		cfg.AuthURL = base + "/oauth/authorize"
	}
	return cfg
}

// Models loads the project's models (and the shipped ones they read),
// orders them by dependency and applies the selectors.
func Models(ctx context.Context, w *warehouse.Warehouse, p *project.Project, selectors []string) ([]models.Model, error) {
	id := models.Identity{ContactIDProperty: p.Config.Identity.ContactVisitorIDProperty, CompanyAccountIDProperty: p.Config.Identity.CompanyAccountIDProperty}
	ms, err := models.Load(p.FS, "models", id)
	if err != nil {
		return nil, err
	}
	ordered, err := models.Resolve(ctx, w.DB(), ms)
	if err != nil {
		return nil, err
	}
	return models.Select(ordered, selectors)
}

// DataTests are the tests declared beside the ordered models and, with
// withSQL, the project's tests/*.sql.
func DataTests(p *project.Project, ordered []models.Model, withSQL bool) ([]models.Test, error) {
	var tests []models.Test
	for _, m := range ordered {
		tests = append(tests, m.Tests...)
	}
	if !withSQL {
		return tests, nil
	}
	sqlTests, err := models.SQLTests(p.FS, "tests")
	if err != nil {
		return nil, err
	}
	return append(tests, sqlTests...), nil
}

// clients builds the project's API clients; share (0 < share ≤ 1) is the
// part of each API's rate limit they may use.
func clients(p *project.Project, opts Options, share float64) (*hubspot.Client, *pendo.Client, error) {
	var hs *hubspot.Client
	var pd *pendo.Client
	var err error
	if c := p.Config.HubSpot; c != nil {
		if hs, err = hubspotClient(p, opts.Secrets, opts.HTTPClient, share, opts.Logger); err != nil {
			return nil, nil, err
		}
	}
	if c := p.Config.Pendo; c != nil {
		var loc *time.Location
		if c.TimeZone != "" {
			if loc, err = time.LoadLocation(c.TimeZone); err != nil {
				return nil, nil, fmt.Errorf("pendo.timezone: %w", err)
			}
		}
		rps := c.RequestsPerSecond
		if share < 1 {
			rps = max(1, int(float64(cmp.Or(rps, 100))*share))
		}
		pd, err = pendo.New(pendo.Config{Region: c.Region, BaseURL: c.BaseURL, HTTPClient: opts.HTTPClient, IntegrationKey: opts.Secrets.PendoIntegrationKey, TrackSecret: opts.Secrets.PendoTrackSecret,
			RequestsPerSecond: rps, TimeZone: loc, Now: opts.now(), Logger: opts.Logger})
		if err != nil {
			return nil, nil, err
		}
	}
	return hs, pd, nil
}

// SyncOptions tune Syncs.
type SyncOptions struct {
	// Apply sends the plans; otherwise they are only made (backflow plan).
	Apply bool
	// Limit sends at most this many rows per sync (a test sample).
	Limit int64
	// FullResync ignores the snapshots.
	FullResync bool
	// RetrySkipped resends rows last skipped or rejected.
	RetrySkipped bool
}

// PlannedSync is one sync's plan and, when applied, its result.
type PlannedSync struct {
	Plan   *load.Plan
	Result *load.Result
	// Rate is the destination's sustained requests per second, for
	// estimates.
	Rate float64
}

// Syncs plans (and with Apply, runs) the selected syncs against the models
// already built, without extracting or rebuilding anything. fn sees each
// plan before it is applied; the plan is closed after.
func Syncs(hard context.Context, opts Options, so SyncOptions, fn func(PlannedSync) error) error {
	ctx, cancel := stopping(hard, opts.Stop)
	defer cancel()
	p := opts.Project
	if err := checkSyncs(p, opts.Syncs); err != nil {
		return err
	}
	if err := checkSyncModels(p); err != nil {
		return err
	}
	hs, pd, err := clients(p, opts, 1)
	if err != nil {
		return err
	}
	now := opts.now()
	started := now()
	w, err := warehouse.Open(ctx, opts.WarehousePath, warehouse.Options{LockTimeout: opts.LockTimeout, RunStartedAt: started, Constants: Constants(opts.Project), FileMode: opts.Project.Config.Mode()})
	if err != nil {
		return stopped(err, opts.Stop)
	}
	defer w.Close()
	runID := uuid.Must(uuid.NewV7()).String()
	if so.Apply {
		if _, err := w.DB().ExecContext(ctx, `INSERT INTO backflow.runs (run_id, command, started_at, status) VALUES (?, 'sync', ?, 'running')`, runID, started); err != nil {
			return fmt.Errorf("record run: %w", err)
		}
	}
	// The data tests hold syncs here too, so plan shows what run would
	// do and sync never sends a model that fails one.
	log := logger(opts)
	ordered, err := Models(ctx, w, p, nil)
	if err != nil {
		return stopped(err, opts.Stop)
	}
	_, blocked, err := testModels(ctx, w, p, ordered, true, log)
	if err != nil {
		return stopped(err, opts.Stop)
	}
	err = opts.scrub().Wrap(stopped(eachSync(hard, ctx, w, runID, opts, so, blocked, hs, pd, log, fn), opts.Stop))
	if so.Apply {
		st, msg := status(err, load.Result{})
		if _, uerr := w.DB().ExecContext(context.WithoutCancel(hard), `UPDATE backflow.runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?`, now(), st, msg, runID); uerr != nil {
			err = errors.Join(err, fmt.Errorf("record run: %w", uerr))
		}
	}
	return err
}

// logger is opts.Logger, or one that discards.
func logger(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

// rate is a destination's sustained requests per second.
func rate(p *project.Project, s project.Sync) float64 {
	if s.Destination == "hubspot" {
		burst := 100
		if c := p.Config.HubSpot; c != nil && c.BurstLimit > 0 {
			burst = c.BurstLimit
		}
		return s.RateLimitShare * float64(burst-1) / 10
	}
	rps := 100
	if c := p.Config.Pendo; c != nil && c.RequestsPerSecond > 0 {
		rps = c.RequestsPerSecond
	}
	return s.RateLimitShare * float64(rps-1)
}
