package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/warehouse"
)

// PlanOptions change how a plan is made.
type PlanOptions struct {
	// FullResync ignores the snapshot: every model row is sent whole.
	FullResync bool
	// Progress, when set, is called as Apply hands rows to the
	// destination: done of total (the rows it will send), from the
	// goroutine that called Apply.
	Progress func(done, total int64)
	// RetrySkipped sends again the rows last skipped (no such record) or
	// rejected, even if they did not change.
	RetrySkipped bool
	// Stop, once closed, makes Apply stop before its next batch: the batch
	// in flight is finished and recorded, and Apply returns ErrStopped.
	// The rows not sent stay pending for the next run.
	Stop <-chan struct{}
	// Now is the present rows are recorded at (sync_runs, sync_rows,
	// snapshot pushed_at); default the system clock.
	Now func() time.Time
	// MaxRemoval is the share of the records a sync has pushed that one
	// plan may clear or archive (on_remove clear or archive) before it
	// stops, sending nothing, with an error wrapping ErrMassRemoval
	// (0: no guard). AllowMassRemoval lifts it for one run.
	MaxRemoval       float64
	AllowMassRemoval bool
	// Only, when set, is a SQL predicate on the model's columns: the plan
	// diffs only the model rows it holds (a serve cycle after an
	// incremental build: the rows it recomputed) against their snapshot
	// rows; keys outside it are neither sent nor removed, and ModelRows
	// counts the rows it holds. Removals wait for a plan without it.
	Only string
	// Redact scrubs every error text recorded (sync_runs, sync_rows): the
	// project's secrets, and anything credential-shaped a destination's
	// answer echoed. Nil scrubs credential-shaped text only.
	Redact *redact.Redactor
}

// ErrStopped is returned by Apply when PlanOptions.Stop closed before the
// plan was sent whole.
var ErrStopped = errors.New("stopped after the batch in flight; the next run sends the rest")

func isStopped(err error) bool { return errors.Is(err, ErrStopped) }

// ErrMassRemoval is wrapped by the error of a plan that would clear or
// archive more than PlanOptions.MaxRemoval of what the sync pushed.
var ErrMassRemoval = errors.New("mass removal refused")

// minRemovalGuard is the fewest removals the guard stops: clearing a
// handful of records is an ordinary day.
const minRemovalGuard = 10

// Plan is one sync's diff of model against snapshot. It is made without
// writing anything to the file (a temp table on its own connection holds
// it) and is applied, or closed, once.
type Plan struct {
	Spec Spec
	// Counts holds the model's rows and the operations of the diff.
	Counts Result
	// Rejected counts rows no destination, or this one, would take; they
	// are recorded, never sent.
	Rejected int64
	// Creates lists the fields created before the first batch is sent.
	Creates []NewField
	// Target is what the destination declared for this plan.
	Target *Description
	// Drift is what the plan found of drift: destination values changed
	// after backflow sent them (docs/drift.md).
	Drift DriftSummary

	dest Destination
	conn *sql.Conn
	opts PlanOptions
	now  func() time.Time
}

// NewPlan checks the sync (key present, unique and not null; mapped columns
// present; types compatible with the destination's fields) and diffs the
// model against the snapshot. It writes nothing to the file.
func NewPlan(ctx context.Context, w *warehouse.Warehouse, s Spec, dest Destination, opts PlanOptions) (*Plan, error) {
	conn, err := w.DB().Conn(ctx)
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: s, dest: dest, conn: conn, opts: opts, now: opts.Now}
	if p.now == nil {
		p.now = time.Now
	}
	p.Counts.Sync = s.Name
	if err := p.make(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

// Sync plans and applies one sync: it checks keys, diffs the model
// against the snapshot, sends adds and changes in batches, and records
// every outcome.
func Sync(ctx context.Context, w *warehouse.Warehouse, runID string, s Spec, dest Destination) (Result, error) {
	p, err := NewPlan(ctx, w, s, dest, PlanOptions{})
	if err != nil {
		return Result{Sync: s.Name}, err
	}
	defer p.Close()
	return p.Apply(ctx, w, runID, 0)
}

// Close releases the plan's connection and temp table.
func (p *Plan) Close() {
	for _, t := range []string{"__plan", "__drift", "__kept"} {
		p.conn.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+t)
	}
	p.conn.Close()
}

// events: rows are immutable events, sent once. A key in the snapshot is
// never sent again, whatever its payload, and keys leaving the model are
// kept so that they are not sent again if they return.
func (p *Plan) events() bool { return p.Spec.Mode == Events }

// sendsRemovals reports whether rows leaving the model are sent (on_remove
// clear or archive) rather than forgotten.
func (p *Plan) sendsRemovals() bool {
	return !p.events() && (p.Spec.OnRemove == Clear || p.Spec.OnRemove == Archive)
}

// Pending is the number of rows to send: adds and changes, and removals
// when on_remove sends them.
func (p *Plan) Pending() int64 {
	n := p.Counts.Added + p.Counts.Changed
	if p.sendsRemovals() {
		n += p.Counts.Removed
	}
	return n
}

// Calls estimates the API calls the plan takes.
func (p *Plan) Calls() int64 {
	per := int64(p.Target.RowsPerCall)
	if per <= 0 {
		per = int64(p.Target.BatchSize)
	}
	return (p.Pending() + per - 1) / per
}

// Estimate is how long a plan takes to send.
type Estimate struct {
	Calls     int64
	PerSecond float64
	Duration  time.Duration
	// DailyLeft is the calls left in the destination's daily budget, -1
	// when unknown; past it the API refuses calls until its day ends, and
	// the rows not sent are retried on the next run.
	DailyLeft int64
}

// Fits reports whether the calls fit in the remaining daily budget.
func (e Estimate) Fits() bool { return e.DailyLeft < 0 || e.Calls <= e.DailyLeft }

// Estimate returns the plan's calls and duration at the pace the
// destination declared.
func (p *Plan) Estimate() Estimate {
	pace := p.Target.Pace
	e := Estimate{Calls: p.Calls(), PerSecond: pace.PerSecond, DailyLeft: pace.DailyLeft}
	if e.PerSecond > 0 {
		e.Duration = time.Duration(float64(e.Calls) / e.PerSecond * float64(time.Second))
	}
	if pace.RowsPerSecond > 0 {
		e.Duration = max(e.Duration, time.Duration(float64(p.Pending())/pace.RowsPerSecond*float64(time.Second)))
	}
	return e
}

// make checks and diffs: the destination's description, the payload
// members, the keys, then the plan table and its counts.
func (p *Plan) make(ctx context.Context) error {
	s := p.Spec
	table := warehouse.Table("models", s.Model)
	colTypes, err := columnTypes(ctx, p.conn, table)
	if err != nil {
		return fmt.Errorf("sync %s: read model %s: %w", s.Name, s.Model, err)
	}
	if _, ok := colTypes[s.Key]; !ok {
		return fmt.Errorf("%s: key: model %s has no column %q", s.File, s.Model, s.Key)
	}
	model := table
	if p.opts.Only != "" {
		model = "(SELECT * FROM " + table + " WHERE " + p.opts.Only + ")"
	}
	if err := p.describe(ctx, colTypes); err != nil {
		return err
	}
	members, invalid, err := p.members(colTypes)
	if err != nil {
		return err
	}
	if err := p.checkKeys(ctx, model); err != nil {
		return err
	}
	if err := p.findDrift(ctx); err != nil {
		return err
	}
	if err := p.keptFields(ctx); err != nil {
		return err
	}
	if err := p.diff(ctx, model, members, invalid); err != nil {
		return err
	}
	if err := p.pruneDrift(ctx); err != nil {
		return err
	}
	if err := p.checkRemovals(ctx); err != nil {
		return err
	}
	return p.eachPlanned(ctx, 0, func(b planned) error {
		if p.refusal(b) != "" {
			p.Rejected++
		}
		return nil
	})
}

// describe asks the destination about the mapped fields and works out the
// fields to create (create_fields), typed from their columns.
func (p *Plan) describe(ctx context.Context, colTypes map[string]string) error {
	s := p.Spec
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Field
	}
	d, err := p.dest.Describe(ctx, Request{Fields: names, CreateFields: s.CreateFields})
	if err != nil {
		return fmt.Errorf("%s: %w", s.File, err)
	}
	if d.Value == nil || d.BatchSize < 1 {
		return fmt.Errorf("%s: destination %s declared no value rendering or batch size", s.File, d.Name)
	}
	if len(d.Missing) > 0 && (d.Creator == nil || !s.CreateFields) {
		return fmt.Errorf("%s: fields: %s has no field %s", s.File, d.Name, strings.Join(d.Missing, ", "))
	}
	for _, f := range s.Fields {
		if !slices.Contains(d.Missing, f.Field) {
			continue
		}
		ct, ok := colTypes[f.Column]
		if !ok {
			return fmt.Errorf("%s: fields.%s: model %s has no column %q", s.File, f.Column, s.Model, f.Column)
		}
		typ, err := d.Creator.TypeFor(ct)
		if err != nil {
			return fmt.Errorf("%s: fields.%s: create_fields: %w", s.File, f.Column, err)
		}
		if d.Types == nil {
			d.Types = map[string]string{}
		}
		d.Types[f.Field] = typ
		p.Creates = append(p.Creates, NewField{Field: f.Field, Type: typ})
	}
	p.Target = d
	return nil
}

// members are the payload's struct members, sorted by destination field
// (reordering the YAML must not change a payload's hash), and the SQL of
// the first value no destination takes, per row.
func (p *Plan) members(colTypes map[string]string) ([]string, string, error) {
	s := p.Spec
	fields := slices.Clone(s.Fields)
	slices.SortFunc(fields, func(a, b Field) int { return strings.Compare(a.Field, b.Field) })
	var members, checks []string
	for _, f := range fields {
		ct, ok := colTypes[f.Column]
		if !ok {
			return nil, "", fmt.Errorf("%s: fields.%s: model %s has no column %q", s.File, f.Column, s.Model, f.Column)
		}
		ft := p.Target.Types[f.Field]
		if f.Type != "" {
			ft = f.Type
		}
		expr, err := p.Target.Value(warehouse.Ident(f.Column), ct, ft)
		if err != nil {
			return nil, "", fmt.Errorf("%s: fields.%s: %w", s.File, f.Column, err)
		}
		// A value no destination can take (NaN or infinite, a year out of
		// 1–9999) rejects its row with the field named; in the payload it
		// is NULL, so the row's JSON stays valid (it is never sent).
		if bad := badValue(warehouse.Ident(f.Column), ct); bad != "" {
			checks = append(checks, "WHEN "+bad+" THEN "+warehouse.Literal(f.Field+": "+badValueReason(ct)))
			expr = "CASE WHEN NOT (" + bad + ") THEN " + expr + " END"
		}
		members = append(members, warehouse.Ident(f.Field)+" := "+expr)
	}
	invalid := "NULL::VARCHAR"
	if len(checks) > 0 {
		invalid = "CASE " + strings.Join(checks, " ") + " END"
	}
	return members, invalid, nil
}

// keyExpr is the key as the plan and the snapshot hold it.
func (p *Plan) keyExpr() string { return "CAST(" + warehouse.Ident(p.Spec.Key) + " AS VARCHAR)" }

// checkKeys stops the sync, before anything is sent, when the key has
// nulls or duplicates.
func (p *Plan) checkKeys(ctx context.Context, model string) error {
	s := p.Spec
	var nulls, total, distinct int64
	if err := p.conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FILTER (WHERE k IS NULL), count(*), count(DISTINCT k)
		FROM (SELECT %s AS k FROM %s)`, p.keyExpr(), model)).Scan(&nulls, &total, &distinct); err != nil {
		return fmt.Errorf("sync %s: check keys: %w", s.Name, err)
	}
	p.Counts.ModelRows = total
	dups := total - nulls - distinct
	if nulls == 0 && dups == 0 {
		return nil
	}
	ke := &KeyError{Sync: s.Name, Key: s.Key, Nulls: nulls}
	if dups > 0 {
		dupKeys := fmt.Sprintf(`SELECT k FROM (SELECT %s AS k FROM %s) WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1`, p.keyExpr(), model)
		rows, err := p.conn.QueryContext(ctx, dupKeys+` ORDER BY count(*) DESC, k LIMIT 5`)
		if err != nil {
			return fmt.Errorf("sync %s: read duplicate keys: %w", s.Name, err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fmt.Errorf("sync %s: read duplicate keys: %w", s.Name, err)
			}
			ke.Samples = append(ke.Samples, k)
		}
		rows.Close()
		if err := p.conn.QueryRowContext(ctx, `SELECT count(*) FROM (`+dupKeys+`)`).Scan(&ke.Duplicates); err != nil {
			return fmt.Errorf("sync %s: count duplicate keys: %w", s.Name, err)
		}
	}
	return ke
}

// snapshotSource is the snapshot to diff against, as a table expression:
// the sync's snapshot table, or an empty one for a first plan or a full
// resync. A failed lookup is an error: read as "no snapshot", it would
// plan every row as an add.
func (p *Plan) snapshotSource(ctx context.Context) (string, error) {
	s := p.Spec
	exists, err := tableExists(ctx, p.conn, "backflow", "snapshot_"+s.Name)
	if err != nil {
		return "", fmt.Errorf("sync %s: look for the snapshot: %w", s.Name, err)
	}
	// A full resync never resends events: Pendo cannot deduplicate them.
	if !exists || (p.opts.FullResync && !p.events()) {
		return `(SELECT NULL::VARCHAR AS key, NULL::VARCHAR AS row_hash, NULL::JSON AS payload, NULL::VARCHAR AS skipped_hash, NULL::VARCHAR AS dest_id WHERE false)`, nil
	}
	return SnapshotTable(s.Name), nil
}

// diff writes the plan table: a full outer join of model and snapshot on
// the key, one operation per row that needs one, and counts it.
func (p *Plan) diff(ctx context.Context, model string, members []string, invalid string) error {
	s := p.Spec
	snap, err := p.snapshotSource(ctx)
	if err != nil {
		return err
	}
	snap = p.driftedSnapshot(snap)
	// A row last skipped or rejected waits for a change, unless retried.
	notSkipped := `s.skipped_hash IS DISTINCT FROM mh.hash`
	if p.opts.RetrySkipped {
		notSkipped = `true`
	}
	cond := `(mh.key IS NULL AND s.key IS NOT NULL)
		   OR (mh.key IS NOT NULL AND s.row_hash IS DISTINCT FROM mh.hash AND ` + notSkipped + `)`
	if p.events() {
		// Only events never sent; a rejected one again only if it changed.
		cond = `mh.key IS NOT NULL AND s.row_hash IS NULL AND ` + notSkipped
	}
	plan := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE __plan AS
		WITH m AS (
			SELECT %s AS key, to_json(struct_pack(%s))::VARCHAR AS payload, %s AS invalid FROM %s
		), mh AS (SELECT key, payload, md5(payload) AS hash, invalid FROM m)
		SELECT row_number() OVER (ORDER BY coalesce(mh.key, s.key)) AS rn,
			coalesce(mh.key, s.key) AS key,
			CASE WHEN mh.key IS NULL THEN 'remove' WHEN s.payload IS NULL THEN 'add' ELSE 'change' END AS op,
			mh.payload, mh.hash, s.payload::VARCHAR AS old_payload, s.dest_id, mh.invalid, %s AS kept
		FROM mh FULL OUTER JOIN %s s ON mh.key = s.key
		WHERE %s`,
		p.keyExpr(), strings.Join(members, ", "), invalid, model, p.keptColumn(), p.onlyPlanned(snap), cond)
	if _, err := p.conn.ExecContext(ctx, plan); err != nil {
		return fmt.Errorf("sync %s: plan: %w", s.Name, err)
	}
	// A removed key that was never pushed (only skipped) is not a removal.
	if err := p.conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'change'),
		count(*) FILTER (WHERE op = 'remove' AND old_payload IS NOT NULL) FROM __plan`).Scan(&p.Counts.Added, &p.Counts.Changed, &p.Counts.Removed); err != nil {
		return fmt.Errorf("sync %s: count plan: %w", s.Name, err)
	}
	p.Counts.Unchanged = p.Counts.ModelRows - p.Counts.Added - p.Counts.Changed
	return nil
}

// keptColumn is the plan's kept column: the fields on_drift keep leaves
// as the destination holds them, as a JSON object of the values last
// sent.
func (p *Plan) keptColumn() string {
	if p.Spec.OnDrift != DriftKeep {
		return "NULL::VARCHAR"
	}
	return "(SELECT json_group_object(k.field, k.sent::JSON)::VARCHAR FROM __kept k WHERE k.key = coalesce(mh.key, s.key))"
}

// onlyPlanned restricts the snapshot to the keys an Only plan holds, so
// that the rest do not read as removed.
func (p *Plan) onlyPlanned(snap string) string {
	if p.opts.Only == "" {
		return snap
	}
	return fmt.Sprintf("(SELECT * FROM %s WHERE key IN (SELECT %s FROM %s WHERE %s))", snap, p.keyExpr(),
		warehouse.Table("models", p.Spec.Model), p.opts.Only)
}

// checkRemovals stops a plan that would clear or archive a large share of
// the records the sync pushed: a model emptied by a bad join, or a source
// read short, must not wipe a destination.
func (p *Plan) checkRemovals(ctx context.Context) error {
	o := p.opts
	if !p.sendsRemovals() || o.AllowMassRemoval || o.MaxRemoval <= 0 || o.MaxRemoval >= 1 || p.Counts.Removed < minRemovalGuard {
		return nil
	}
	var pushed int64
	if err := p.conn.QueryRowContext(ctx, `SELECT count(*) FROM `+SnapshotTable(p.Spec.Name)+` WHERE payload IS NOT NULL`).Scan(&pushed); err != nil {
		return fmt.Errorf("sync %s: count snapshot: %w", p.Spec.Name, err)
	}
	if float64(p.Counts.Removed) <= o.MaxRemoval*float64(pushed) {
		return nil
	}
	return fmt.Errorf("sync %s: %w: the plan would %s %d of the %d records the sync has pushed (%.0f%%, more than max_removal %.0f%%); nothing was sent. "+
		"If the model really lost them, rerun with --allow-mass-removal", p.Spec.Name, ErrMassRemoval, p.Spec.OnRemove, p.Counts.Removed, pushed,
		100*float64(p.Counts.Removed)/float64(max(pushed, 1)), 100*o.MaxRemoval)
}

// refusal is why a planned row is not sent: a value no destination takes,
// or one this destination would refuse; "" sends it.
func (p *Plan) refusal(b planned) string {
	switch {
	case b.row.Op == Remove:
		return ""
	case b.invalid != "":
		return b.invalid
	case p.Target.Check != nil:
		return p.Target.Check(b.row.Values)
	}
	return ""
}

// badValue is a SQL predicate true for a column value no destination can
// take, "" when the column's type has none.
func badValue(col, colType string) string {
	switch {
	case colType == "DOUBLE" || colType == "FLOAT":
		return "NOT isfinite(" + col + ")"
	case colType == "DATE" || strings.HasPrefix(colType, "TIMESTAMP"):
		return "(NOT isfinite(" + col + ") OR year(" + col + ") NOT BETWEEN 1 AND 9999)"
	}
	return ""
}

func badValueReason(colType string) string {
	if colType == "DOUBLE" || colType == "FLOAT" {
		return "NaN or an infinite number (a division by zero in the model?) cannot be sent"
	}
	return "an infinite date or one outside the years 1–9999 cannot be sent"
}

// each calls fn for the plan's rows to send, in key order, at most limit
// of them (0: all).
func (p *Plan) each(ctx context.Context, limit int64, fn func(Row) error) error {
	return p.eachPlanned(ctx, limit, func(b planned) error { return fn(b.row) })
}

func (p *Plan) eachPlanned(ctx context.Context, limit int64, fn func(planned) error) error {
	var after, seen int64
	for limit == 0 || seen < limit {
		batch, last, err := readBatch(ctx, p.conn, after, 1000, p.sendsRemovals())
		if err != nil || len(batch) == 0 {
			return err
		}
		after = last
		for _, b := range batch {
			if limit > 0 && seen >= limit {
				return nil
			}
			if err := fn(b); err != nil {
				return err
			}
			seen++
		}
	}
	return nil
}

// Sample returns up to n of the rows the plan would send, with only the
// fields it would send.
func (p *Plan) Sample(ctx context.Context, n int) ([]Row, error) {
	var out []Row
	err := p.each(ctx, int64(n), func(r Row) error {
		if r.Op == Change && len(r.Values) == 0 {
			return nil
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
