package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
)

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
	Sync Sync
	Plan *load.Plan
	// Result is set when the plan was applied.
	Result *load.Result
}

// Syncs plans (and with Apply, runs) the selected syncs against the models
// already built, without extracting or rebuilding anything. fn sees each
// plan, after it was applied when so.Apply; the plan is closed after. An
// applied run is recorded in backflow.runs as Run records one.
func Syncs(hard context.Context, opts Options, so SyncOptions, fn func(PlannedSync) error) error {
	p := opts.Project
	if err := checkSyncs(p, opts.Syncs); err != nil {
		return err
	}
	if err := checkSyncModels(p); err != nil {
		return err
	}
	sessions, err := opts.sessions()
	if err != nil {
		return err
	}
	ctx, cancel := stopping(hard, opts.Stop)
	defer cancel()
	started := opts.now()()
	w, err := opts.open(ctx, started)
	if err != nil {
		return stopped(err, opts.Stop)
	}
	defer w.Close()
	r := &runner{hard: hard, soft: ctx, w: w, opts: opts, log: opts.logger(), sessions: sessions, runID: uuid.Must(uuid.NewV7()).String()}
	if so.Apply {
		if err := r.begin("sync", started); err != nil {
			return err
		}
	}
	var results []load.Result
	err = opts.scrub().Wrap(stopped(r.syncs(so, func(ps PlannedSync) error {
		if ps.Result != nil {
			results = append(results, *ps.Result)
		}
		return fn(ps)
	}), opts.Stop))
	if so.Apply {
		err = errors.Join(err, r.finish(err, total(results)))
	}
	return err
}

// syncs runs the data tests, which hold syncs here too (so plan shows
// what run would do, and sync never sends a model that fails one), then
// each sync.
func (r *runner) syncs(so SyncOptions, fn func(PlannedSync) error) error {
	p := r.opts.Project
	ordered, err := Models(r.soft, r.w, p, nil)
	if err != nil {
		return err
	}
	_, blocked, err := testModels(r.soft, r.w, p, ordered, true, r.log)
	if err != nil {
		return err
	}
	return r.eachSync(so, blocked, fn)
}

// eachSync plans the selected syncs one at a time, skipping those blocked
// holds, applies each plan (with so.Apply) on hard so that a stop finishes
// the batch in flight, and hands it to fn before closing it. Every sync
// runs even if one fails; the errors are returned together. Plans are made
// on soft, which a stop cancels: no sync starts after one.
func (r *runner) eachSync(so SyncOptions, blocked map[string]string, fn func(PlannedSync) error) error {
	var errs []error
	for _, s := range r.opts.Project.Syncs {
		if len(r.opts.Syncs) > 0 && !slices.Contains(r.opts.Syncs, s.Spec.Name) {
			continue
		}
		if why, ok := models.Held(blocked, s.Spec.Model); ok {
			errs = append(errs, fmt.Errorf("sync %s: not run: %s", s.Spec.Name, why))
			r.log.Error("sync not run", "sync", s.Spec.Name, "reason", why)
			if so.Apply {
				if err := load.RecordNotRun(r.hard, r.w, r.runID, s.Spec.Name, "held", why, r.opts.now()()); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if r.soft.Err() != nil {
			break
		}
		ps, err := r.plan(s, so)
		if err != nil {
			errs = append(errs, err)
			if so.Apply && r.soft.Err() == nil {
				if rerr := load.RecordNotRun(r.hard, r.w, r.runID, s.Spec.Name, "failed", r.opts.scrub().Error(err), r.opts.now()()); rerr != nil {
					errs = append(errs, rerr)
				}
			}
			continue
		}
		if so.Apply {
			res, err := ps.Plan.Apply(r.hard, r.w, r.runID, so.Limit)
			ps.Result = &res
			if err != nil {
				errs = append(errs, err)
			}
			if d := ps.Plan.Drift; d.Found() > 0 {
				r.log.Warn("drift: destination values changed since backflow sent them", "sync", s.Spec.Name, "fields", d.Found(), "records", d.Records, "on_drift", s.Spec.OnDrift)
			}
			// Who made a change decides nothing sent: said, not fatal.
			if d := ps.Plan.Drift; d.ExplainError != nil {
				r.log.Warn("drift recorded without its source", "sync", s.Spec.Name, "error", r.opts.scrub().Error(d.ExplainError))
			}
		}
		err = fn(ps)
		ps.Plan.Close()
		if err != nil {
			return err
		}
	}
	if err := r.soft.Err(); err != nil && !slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, load.ErrStopped) }) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// plan builds a sync's destination and plans it.
func (r *runner) plan(s Sync, so SyncOptions) (PlannedSync, error) {
	session, ok := r.sessions[s.Destination]
	if !ok {
		return PlannedSync{}, fmt.Errorf("%s: destination %s is not configured in backflow.yml", s.Spec.File, s.Destination)
	}
	dest, err := session.Destination(s.Target, s.RateLimitShare)
	if err != nil {
		return PlannedSync{}, fmt.Errorf("%s: %w", s.Spec.File, err)
	}
	p := r.opts.Project
	var progress func(done, total int64)
	var plan *load.Plan
	if report := r.opts.SyncProgress; report != nil {
		progress = func(done, total int64) {
			report(SyncProgress{Sync: s.Spec.Name, Done: done, Total: total, Estimate: plan.Estimate().Duration})
		}
	}
	plan, err = load.NewPlan(r.soft, r.w, s.Spec, dest, load.PlanOptions{FullResync: so.FullResync, RetrySkipped: so.RetrySkipped, Stop: r.opts.Stop,
		Now: r.opts.now(), Redact: r.opts.scrub(), MaxRemoval: p.MaxRemoval, AllowMassRemoval: r.opts.AllowMassRemoval, Progress: progress,
		Only: r.recomputed[s.Spec.Model]})
	if err != nil {
		return PlannedSync{}, err
	}
	return PlannedSync{Sync: s, Plan: plan}, nil
}
