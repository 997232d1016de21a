package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backflow-dev/backflow/warehouse"
)

// Apply sends the plan, recording every row's outcome; limit > 0 sends at
// most that many rows (a test sample). It records the sync in
// backflow.sync_runs, its status as Result.Status gives it.
func (p *Plan) Apply(ctx context.Context, w *warehouse.Warehouse, runID string, limit int64) (Result, error) {
	start := time.Now()
	res := p.Counts
	s := p.Spec
	if _, err := p.conn.ExecContext(ctx, `INSERT INTO backflow.sync_runs (run_id, sync, started_at, status) VALUES (?, ?, ?, 'running')`, runID, s.Name, p.now()); err != nil {
		return res, fmt.Errorf("sync %s: record start: %w", s.Name, err)
	}
	err := p.apply(ctx, w, runID, limit, &res)
	res.Duration = time.Since(start)
	msg := ""
	if err != nil {
		msg = p.opts.Redact.Error(err)
	}
	_, uerr := p.conn.ExecContext(context.WithoutCancel(ctx), `UPDATE backflow.sync_runs SET finished_at = ?, status = ?, error = ?,
		model_rows = ?, added = ?, changed = ?, removed = ?, unchanged = ?, applied = ?, failed = ?, rejected = ?, skipped = ?
		WHERE run_id = ? AND sync = ?`, p.now(), res.Status(err), nullIfEmpty(msg), res.ModelRows, res.Added, res.Changed, res.Removed,
		res.Unchanged, res.Applied, res.Failed, res.Rejected, res.Skipped, runID, s.Name)
	if uerr != nil {
		uerr = fmt.Errorf("sync %s: record the outcome: %w", s.Name, uerr)
	}
	return res, errors.Join(err, uerr)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// prepare creates the fields the plan creates and the snapshot table, and
// forgets the keys that left the model when nothing is sent for them.
func (p *Plan) prepare(ctx context.Context, runID string, limit int64) error {
	s := p.Spec
	snapshot := SnapshotTable(s.Name)
	for _, f := range p.Creates {
		if err := p.Target.Creator.Create(ctx, f.Field, f.Type); err != nil {
			return fmt.Errorf("sync %s: create field %s: %w", s.Name, f.Field, err)
		}
	}
	if _, err := p.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+snapshot+` (
		key VARCHAR PRIMARY KEY, row_hash VARCHAR, payload JSON, pushed_at TIMESTAMPTZ, run_id VARCHAR, skipped_hash VARCHAR, dest_id VARCHAR)`); err != nil {
		return fmt.Errorf("sync %s: create snapshot: %w", s.Name, err)
	}
	if err := p.recordDrift(ctx, runID); err != nil {
		return err
	}
	// on_remove: ignore forgets removed keys without touching the
	// destination; clear and archive send them, and forget at once only
	// the keys that were never pushed. A test sample (limit) removes
	// nothing; events are never forgotten.
	if limit > 0 || p.opts.FullResync || p.events() {
		return nil
	}
	forget := `DELETE FROM ` + snapshot + ` WHERE key IN (SELECT key FROM __plan WHERE op = 'remove')`
	if p.sendsRemovals() {
		forget = `DELETE FROM ` + snapshot + ` WHERE key IN (SELECT key FROM __plan WHERE op = 'remove' AND old_payload IS NULL)`
	}
	if _, err := p.conn.ExecContext(ctx, forget); err != nil {
		return fmt.Errorf("sync %s: forget removed rows: %w", s.Name, err)
	}
	return nil
}

// apply sends the plan in batches. One call at a time, but the next batch
// goes out as soon as the previous call answers, while that one's results
// are recorded: the API, not the file, sets the pace. At most two batches
// are unrecorded at any moment.
func (p *Plan) apply(ctx context.Context, w *warehouse.Warehouse, runID string, limit int64, res *Result) (err error) {
	if err := p.prepare(ctx, runID, limit); err != nil {
		return err
	}
	s := p.Spec
	size := int64(p.Target.BatchSize)
	var after, sent int64
	var prev *flight
	total := p.Pending()
	if limit > 0 {
		total = min(total, limit)
	}
	progress := func() {
		if p.opts.Progress != nil {
			p.opts.Progress(min(sent, total), total)
		}
	}
	progress()
	landPrev := func() error {
		if prev == nil {
			return nil
		}
		f := prev
		prev = nil
		return p.land(ctx, w, runID, f, res)
	}
	// An error leaves a batch in flight: wait for it, so nothing writes
	// to the destination after apply returns, and record what it did.
	defer func() {
		if prev != nil {
			err = errors.Join(err, p.land(context.WithoutCancel(ctx), w, runID, prev, res))
		}
	}()
	for limit == 0 || sent < limit {
		if p.stopped() {
			return errors.Join(landPrev(), fmt.Errorf("sync %s: %w", s.Name, ErrStopped))
		}
		n := size
		if limit > 0 {
			n = min(size, limit-sent)
		}
		batch, last, err := readBatch(ctx, p.conn, after, n, p.sendsRemovals() && limit == 0)
		if err != nil {
			return fmt.Errorf("sync %s: read plan: %w", s.Name, err)
		}
		if len(batch) == 0 {
			break
		}
		after = last
		sent += int64(len(batch))
		progress()
		send, err := p.triage(ctx, w, runID, batch, res)
		if err != nil || len(send) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		if prev != nil {
			<-prev.done
		}
		// A stop that came while the previous batch was out sends
		// nothing more.
		if p.stopped() {
			return errors.Join(landPrev(), fmt.Errorf("sync %s: %w", s.Name, ErrStopped))
		}
		// Events are recorded before the next batch goes out: a crash then
		// resends at most one batch.
		if prev != nil && (prev.err != nil || p.events()) {
			if err := landPrev(); err != nil {
				return err
			}
		}
		next := p.send(ctx, send)
		err = landPrev()
		prev = next
		if err != nil {
			return err
		}
	}
	return landPrev()
}

// triage records the rows of a batch that are not sent and returns the
// others. A change whose fields all equal the snapshot's (a field dropped
// from the mapping changes the payload, not any sent value) is not sent:
// the snapshot just takes the new payload. A row the destination would
// refuse is recorded as rejected.
func (p *Plan) triage(ctx context.Context, w *warehouse.Warehouse, runID string, batch []planned, res *Result) ([]planned, error) {
	var send, quiet, refused, gone []planned
	var reasons []Outcome
	for _, b := range batch {
		why := p.refusal(b)
		switch {
		case len(b.row.Values) == 0 && (b.row.Op == Change || (b.kept && b.row.Op == Add)):
			quiet = append(quiet, b)
		case len(b.row.Values) == 0 && b.kept && b.row.Op == Remove && p.Spec.OnRemove == Clear:
			// Every field it would clear is one on_drift keep leaves.
			gone = append(gone, b)
		case why != "":
			refused = append(refused, b)
			reasons = append(reasons, Outcome{Status: Rejected, Error: why})
		default:
			send = append(send, b)
		}
	}
	if len(quiet) > 0 {
		res.Changed -= int64(len(quiet))
		res.Unchanged += int64(len(quiet))
		if err := record(ctx, w, p.opts.Redact, runID, p.Spec.Name, p.now(), quiet, All(Outcome{Status: unchanged}, len(quiet))); err != nil {
			return nil, fmt.Errorf("sync %s: record results: %w", p.Spec.Name, err)
		}
	}
	if len(gone) > 0 {
		res.Applied += int64(len(gone))
		if err := record(ctx, w, p.opts.Redact, runID, p.Spec.Name, p.now(), gone, All(Outcome{Status: Applied}, len(gone))); err != nil {
			return nil, fmt.Errorf("sync %s: record results: %w", p.Spec.Name, err)
		}
	}
	if len(refused) > 0 {
		res.Rejected += int64(len(refused))
		if err := record(ctx, w, p.opts.Redact, runID, p.Spec.Name, p.now(), refused, reasons); err != nil {
			return nil, fmt.Errorf("sync %s: record results: %w", p.Spec.Name, err)
		}
	}
	return send, nil
}

// stopped reports whether PlanOptions.Stop has closed.
func (p *Plan) stopped() bool {
	select {
	case <-p.opts.Stop:
		return true
	default:
		return false
	}
}

// flight is one batch sent to the destination, its outcomes arriving on
// done.
type flight struct {
	// sent is when the batch went out: its rows' pushed_at, so that a
	// record the destination changed after the write reads as changed
	// after the push (drift).
	sent     time.Time
	rows     []planned
	done     chan struct{}
	outcomes []Outcome
	err      error
}

// send calls the destination for a batch in its own goroutine.
func (p *Plan) send(ctx context.Context, batch []planned) *flight {
	f := &flight{rows: batch, done: make(chan struct{}), sent: p.now()}
	rows := make([]Row, len(batch))
	for i, b := range batch {
		rows[i] = b.row
	}
	go func() {
		defer close(f.done)
		f.outcomes, f.err = p.dest.Apply(ctx, rows)
	}()
	return f
}

// land waits for a batch's outcomes and records them.
func (p *Plan) land(ctx context.Context, w *warehouse.Warehouse, runID string, f *flight, res *Result) error {
	s := p.Spec
	<-f.done
	if f.err != nil {
		return fmt.Errorf("sync %s: %s: %w", s.Name, p.Target.Name, f.err)
	}
	if len(f.outcomes) != len(f.rows) {
		return fmt.Errorf("sync %s: %s returned %d outcomes for %d rows", s.Name, p.Target.Name, len(f.outcomes), len(f.rows))
	}
	if err := record(ctx, w, p.opts.Redact, runID, s.Name, f.sent, f.rows, f.outcomes); err != nil {
		return fmt.Errorf("sync %s: record results: %w", s.Name, err)
	}
	for _, o := range f.outcomes {
		switch o.Status {
		case Applied:
			res.Applied++
		case Failed:
			res.Failed++
		case Rejected:
			res.Rejected++
		case SkippedNotFound:
			res.Skipped++
		}
	}
	return nil
}
