// Package load diffs a model against the snapshot of what was last pushed
// and sends only the changes to a destination (pendo.go, …), recording a
// result for every row and advancing the snapshot only for rows the
// destination accepted.
package load

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// Destination pushes rows to one object of one API.
type Destination interface {
	// Name describes the target in messages: "pendo visitor custom".
	Name() string
	// FieldTypes returns the destination's type for each field. A field the
	// destination does not have is an error naming it.
	FieldTypes(ctx context.Context, fields []string) (map[string]string, error)
	// ValueSQL returns the SQL expression that turns a model column of
	// DuckDB type colType into the JSON value the destination takes for a
	// field of type fieldType, or an error if the types cannot meet.
	ValueSQL(column, colType, fieldType string) (string, error)
	// BatchSize is the most rows one Apply call takes.
	BatchSize() int
	// Apply sends one batch and returns one Outcome per row, in order. A
	// non-nil error means the batch's fate is unknown; none of its rows may
	// be recorded as applied.
	Apply(ctx context.Context, rows []Row) ([]Outcome, error)
}

// Row is one record to send: its key, the operation, and the destination
// fields to set (JSON values; null clears).
type Row struct {
	Key    string
	Op     string // add | change | remove
	Values map[string]json.RawMessage
	// DestID is the destination's id for the record, when a previous push
	// created it (create mode).
	DestID string
}

// Status is a row's outcome.
type Status string

const (
	Applied         Status = "applied"
	Failed          Status = "failed"            // retried next run
	Rejected        Status = "rejected"          // the destination refused the value; retried when it changes
	SkippedNotFound Status = "skipped_not_found" // no such record; retried when the row changes

	// unchanged is internal: the payload changed but no sent value did; the
	// snapshot is refreshed and no sync_rows line is written.
	unchanged Status = "unchanged"
)

// isolate sends items with send. When send reports that the destination
// refused the whole batch for a bad item (refused, the destination's
// reason), the batch is split in halves until each bad item is alone and
// rejected with that reason; the good items still go through.
//
// A refusal that is not about the rows is not a rejection: when every row
// of a batch of four or more was refused, alone, for one same reason,
// nothing in the batch got through and the rows are not rejected (parked
// until they change) but left pending, and the error stops the sync: it
// is an outage, a proxy or a setting, and the next run sends them again.
// (Destinations send answers that are not the API's own, a gateway's HTML
// page, as errors, never as refusals: those are not split at all.)
func isolate[T any](items []T, send func([]T) (out []Outcome, refused string, err error)) ([]Outcome, error) {
	out, err := split(items, send)
	if err != nil {
		return nil, err
	}
	if err := refusedAlike(out); err != nil {
		return nil, err
	}
	return out, nil
}

// refusedAlike is the error for a batch of four or more rows that were all
// rejected for one same reason (see isolate), nil otherwise.
func refusedAlike(out []Outcome) error {
	if len(out) < 4 {
		return nil
	}
	reason := ""
	for _, o := range out {
		if o.Status != Rejected || (reason != "" && o.Error != reason) {
			return nil
		}
		reason = o.Error
	}
	return fmt.Errorf("%w: the destination refused all %d rows of the batch alike (%s); that is not about the rows, which stay pending for the next run", ErrRefusedAlike, len(out), reason)
}

// ErrRefusedAlike is wrapped by the error of a batch whose every row the
// destination refused for one same reason.
var ErrRefusedAlike = errors.New("every row refused alike")

func split[T any](items []T, send func([]T) (out []Outcome, refused string, err error)) ([]Outcome, error) {
	out, refused, err := send(items)
	if err != nil || refused == "" {
		return out, err
	}
	if len(items) == 1 {
		return []Outcome{{Status: Rejected, Error: refused}}, nil
	}
	mid := len(items) / 2
	left, err := split(items[:mid], send)
	if err != nil {
		return nil, err
	}
	right, err := split(items[mid:], send)
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

func repeat(o Outcome, n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// Outcome is what happened to one row.
type Outcome struct {
	Status Status
	Error  string
	// DestID is the id of a record the destination created (create mode);
	// it is kept in the snapshot so the record is updated, not created, next.
	DestID string
}

// Result counts what one sync did.
type Result struct {
	Sync      string
	ModelRows int64
	Added     int64
	Changed   int64
	Removed   int64
	Unchanged int64
	Applied   int64
	Failed    int64
	Rejected  int64
	Skipped   int64
	Duration  time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%s: %d model rows; %d added, %d changed, %d unchanged, %d removed; pushed %d, skipped %d, failed %d, rejected %d in %s",
		r.Sync, r.ModelRows, r.Added, r.Changed, r.Unchanged, r.Removed, r.Applied, r.Skipped, r.Failed, r.Rejected, r.Duration.Round(time.Millisecond))
}

// KeyError stops a sync before anything is sent: null or duplicate keys.
type KeyError struct {
	Sync       string
	Key        string
	Nulls      int64
	Duplicates int64 // keys that occur more than once
	Samples    []string
}

func (e *KeyError) Error() string {
	var parts []string
	if e.Nulls > 0 {
		parts = append(parts, fmt.Sprintf("%d rows with a null %s", e.Nulls, e.Key))
	}
	if e.Duplicates > 0 {
		parts = append(parts, fmt.Sprintf("%d duplicated %s values (e.g. %s)", e.Duplicates, e.Key, strings.Join(e.Samples, ", ")))
	}
	return fmt.Sprintf("sync %s: key %s must be unique and not null: %s; nothing was sent", e.Sync, e.Key, strings.Join(parts, "; "))
}

// SnapshotTable is the table holding a sync's last pushed values.
func SnapshotTable(sync string) string { return warehouse.Table("backflow", "snapshot_"+sync) }

// Sync plans and applies one sync: it checks keys, diffs the model
// against the snapshot, sends adds and changes in batches, and records
// every outcome.
func Sync(ctx context.Context, w *warehouse.Warehouse, runID string, s project.Sync, dest Destination) (Result, error) {
	p, err := NewPlan(ctx, w, s, dest, PlanOptions{})
	if err != nil {
		return Result{Sync: s.Name}, err
	}
	defer p.Close()
	return p.Apply(ctx, w, runID, 0)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PlanOptions change how a plan is made.
type PlanOptions struct {
	// FullResync ignores the snapshot: every model row is sent whole.
	FullResync bool
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
	// Redact scrubs every error text recorded (sync_runs, sync_rows): the
	// project's secrets, and anything credential-shaped a destination's
	// answer echoed. Nil scrubs credential-shaped text only.
	Redact *redact.Redactor
}

// ErrStopped is returned by Apply when PlanOptions.Stop closed before the
// plan was sent whole.
var ErrStopped = errors.New("stopped after the batch in flight; the next run sends the rest")

// Plan is one sync's diff of model against snapshot. It is made without
// writing anything to the file (a temp table on its own connection holds
// it) and is applied, or closed, once.
type Plan struct {
	Sync project.Sync
	// Counts holds the model's rows and the operations of the diff.
	Counts Result
	// Rejected counts rows the destination would refuse (Checker); they
	// are recorded, never sent.
	Rejected int64
	// Creates lists the fields created before the first batch is sent.
	Creates []NewField

	dest             Destination
	conn             *sql.Conn
	full             bool
	retrySkipped     bool
	stop             <-chan struct{}
	now              func() time.Time
	scrub            *redact.Redactor
	maxRemoval       float64
	allowMassRemoval bool
	// events: rows are immutable events, sent once. A key in the snapshot
	// is never sent again, whatever its payload, and keys leaving the
	// model are kept so that they are not sent again if they return.
	events bool
}

// FieldCreator is implemented by destinations that can create the fields
// a sync maps but the destination lacks (create_fields).
type FieldCreator interface {
	// Missing returns the fields the destination does not have. It
	// changes nothing.
	Missing(ctx context.Context, fields []string) ([]string, error)
	// TypeFor is the field type to create for a model column of DuckDB
	// type colType, or an error if there is none.
	TypeFor(colType string) (string, error)
	// CreateField creates one field; a field that already exists is not
	// an error.
	CreateField(ctx context.Context, field, fieldType string) error
}

// NewField is a field the plan creates before sending (create_fields).
type NewField struct{ Field, Type string }

// Checker is implemented by destinations that can tell before sending
// that the destination would refuse a row's values. Check returns why, or "".
type Checker interface {
	Check(values map[string]json.RawMessage) string
}

// NewPlan checks the sync (key present, unique and not null; mapped columns
// present; types compatible with the destination's fields) and diffs the
// model against the snapshot. It writes nothing to the file.
func NewPlan(ctx context.Context, w *warehouse.Warehouse, s project.Sync, dest Destination, opts PlanOptions) (*Plan, error) {
	conn, err := w.DB().Conn(ctx)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	p := &Plan{Sync: s, dest: dest, conn: conn, full: opts.FullResync, retrySkipped: opts.RetrySkipped, stop: opts.Stop, events: s.Mode == "events", now: now, scrub: opts.Redact,
		maxRemoval: opts.MaxRemoval, allowMassRemoval: opts.AllowMassRemoval}
	p.Counts.Sync = s.Name
	if err := p.make(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the plan's connection and temp table.
func (p *Plan) Close() {
	p.conn.ExecContext(context.Background(), "DROP TABLE IF EXISTS __plan")
	p.conn.Close()
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

// sendsRemovals reports whether rows leaving the model are sent (on_remove
// clear or archive) rather than forgotten.
func (p *Plan) sendsRemovals() bool {
	return !p.events && (p.Sync.OnRemove == "clear" || p.Sync.OnRemove == "archive")
}

// Calls estimates the API calls the plan takes.
func (p *Plan) Calls() int64 {
	if c, ok := p.dest.(interface{ Calls(rows int64) int64 }); ok {
		return c.Calls(p.Pending())
	}
	size := int64(p.dest.BatchSize())
	return (p.Pending() + size - 1) / size
}

// Paced is implemented by destinations that know their API's pace and
// daily allowance, read from the API's own answers during the plan.
type Paced interface {
	// Pace returns the sustained calls per second, and the calls left in
	// the API's daily budget (-1: the API has none, or did not say).
	Pace() (perSecond float64, dailyLeft int64)
}

// RowPaced is implemented by destinations whose API processes rows at a
// bounded rate whatever the call rate (Pendo's bulk metadata: about 2,500
// rows/s), so an estimate from calls alone would be short.
type RowPaced interface {
	RowsPerSecond() float64
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

// Estimate returns the plan's calls and duration at the destination's
// pace (perSecond when the destination does not say).
func (p *Plan) Estimate(perSecond float64) Estimate {
	e := Estimate{Calls: p.Calls(), PerSecond: perSecond, DailyLeft: -1}
	if pd, ok := p.dest.(Paced); ok {
		if ps, left := pd.Pace(); ps > 0 {
			e.PerSecond, e.DailyLeft = ps, left
		}
	}
	if e.PerSecond > 0 {
		e.Duration = time.Duration(float64(e.Calls) / e.PerSecond * float64(time.Second))
	}
	if rp, ok := p.dest.(RowPaced); ok && rp.RowsPerSecond() > 0 {
		e.Duration = max(e.Duration, time.Duration(float64(p.Pending())/rp.RowsPerSecond()*float64(time.Second)))
	}
	return e
}

func (p *Plan) make(ctx context.Context) error {
	s, conn, dest := p.Sync, p.conn, p.dest
	model := warehouse.Table("models", s.Model)
	snapshot := SnapshotTable(s.Name)

	// The model's columns and types, and the destination's field types.
	colTypes, err := columnTypes(ctx, conn, model)
	if err != nil {
		return fmt.Errorf("sync %s: read model %s: %w", s.Name, s.Model, err)
	}
	if _, ok := colTypes[s.Key]; !ok {
		return fmt.Errorf("%s: key: model %s has no column %q", s.File, s.Model, s.Key)
	}
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Field
	}
	// create_fields: missing fields get a type from their column and are
	// created at apply time; the plan itself creates nothing.
	created := map[string]string{}
	if fc, ok := dest.(FieldCreator); ok && s.CreateFields {
		missing, err := fc.Missing(ctx, names)
		if err != nil {
			return fmt.Errorf("%s: %w", s.File, err)
		}
		for _, f := range s.Fields {
			if !slices.Contains(missing, f.Field) {
				continue
			}
			ct, ok := colTypes[f.Column]
			if !ok {
				return fmt.Errorf("%s: fields.%s: model %s has no column %q", s.File, f.Column, s.Model, f.Column)
			}
			typ, err := fc.TypeFor(ct)
			if err != nil {
				return fmt.Errorf("%s: fields.%s: create_fields: %w", s.File, f.Column, err)
			}
			created[f.Field] = typ
			p.Creates = append(p.Creates, NewField{Field: f.Field, Type: typ})
		}
		names = slices.DeleteFunc(names, func(n string) bool { _, ok := created[n]; return ok })
	}
	fieldTypes, err := dest.FieldTypes(ctx, names)
	if err != nil {
		return fmt.Errorf("%s: %w", s.File, err)
	}
	for f, t := range created {
		fieldTypes[f] = t
	}
	// Members sorted by destination field: reordering the YAML must not
	// change the payload, its hash, and so every row's diff.
	fields := slices.Clone(s.Fields)
	slices.SortFunc(fields, func(a, b project.Field) int { return strings.Compare(a.Field, b.Field) })
	var members, checks []string
	for _, f := range fields {
		ct, ok := colTypes[f.Column]
		if !ok {
			return fmt.Errorf("%s: fields.%s: model %s has no column %q", s.File, f.Column, s.Model, f.Column)
		}
		ft := fieldTypes[f.Field]
		if f.Type != "" {
			ft = f.Type
		}
		expr, err := dest.ValueSQL(warehouse.Ident(f.Column), ct, ft)
		if err != nil {
			return fmt.Errorf("%s: fields.%s: %w", s.File, f.Column, err)
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

	// Keys: unique and not null, or nothing is sent.
	keyExpr := "CAST(" + warehouse.Ident(s.Key) + " AS VARCHAR)"
	var nulls, total, distinct int64
	if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FILTER (WHERE k IS NULL), count(*), count(DISTINCT k)
		FROM (SELECT %s AS k FROM %s)`, keyExpr, model)).Scan(&nulls, &total, &distinct); err != nil {
		return fmt.Errorf("sync %s: check keys: %w", s.Name, err)
	}
	p.Counts.ModelRows = total
	if dups := total - nulls - distinct; nulls > 0 || dups > 0 {
		ke := &KeyError{Sync: s.Name, Key: s.Key, Nulls: nulls}
		if dups > 0 {
			rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT k FROM (SELECT %s AS k FROM %s) WHERE k IS NOT NULL
				GROUP BY k HAVING count(*) > 1 ORDER BY count(*) DESC, k LIMIT 5`, keyExpr, model))
			if err != nil {
				return err
			}
			for rows.Next() {
				var k string
				rows.Scan(&k)
				ke.Samples = append(ke.Samples, k)
			}
			rows.Close()
			conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT %s AS k FROM %s WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1)`, keyExpr, model)).Scan(&ke.Duplicates)
		}
		return ke
	}

	// The plan: a full outer join of model and snapshot on the key. No
	// snapshot yet, or a full resync, joins an empty one.
	snap := snapshot
	var exists int
	conn.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database()
		AND table_schema = 'backflow' AND table_name = ?`, "snapshot_"+s.Name).Scan(&exists)
	// A full resync never resends events: Pendo cannot deduplicate them.
	if exists == 0 || (p.full && !p.events) {
		snap = `(SELECT NULL::VARCHAR AS key, NULL::VARCHAR AS row_hash, NULL::JSON AS payload, NULL::VARCHAR AS skipped_hash, NULL::VARCHAR AS dest_id WHERE false)`
	} else {
		// Snapshots written before create mode have no dest_id column (apply
		// adds it; the plan writes nothing).
		var has int
		conn.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_catalog = current_database()
			AND table_schema = 'backflow' AND table_name = ? AND column_name = 'dest_id'`, "snapshot_"+s.Name).Scan(&has)
		if has == 0 {
			snap = `(SELECT *, NULL::VARCHAR AS dest_id FROM ` + snapshot + `)`
		}
	}
	// A row last skipped or rejected waits for a change, unless retried.
	notSkipped := `s.skipped_hash IS DISTINCT FROM mh.hash`
	if p.retrySkipped {
		notSkipped = `true`
	}
	diff := `(mh.key IS NULL AND s.key IS NOT NULL)
		   OR (mh.key IS NOT NULL AND s.row_hash IS DISTINCT FROM mh.hash AND ` + notSkipped + `)`
	if p.events {
		// Only events never sent; a rejected one again only if it changed.
		diff = `mh.key IS NOT NULL AND s.row_hash IS NULL AND ` + notSkipped
	}
	plan := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE __plan AS
		WITH m AS (
			SELECT %s AS key, to_json(struct_pack(%s))::VARCHAR AS payload, %s AS invalid FROM %s
		), mh AS (SELECT key, payload, md5(payload) AS hash, invalid FROM m)
		SELECT row_number() OVER (ORDER BY coalesce(mh.key, s.key)) AS rn,
			coalesce(mh.key, s.key) AS key,
			CASE WHEN mh.key IS NULL THEN 'remove' WHEN s.payload IS NULL THEN 'add' ELSE 'change' END AS op,
			mh.payload, mh.hash, s.payload::VARCHAR AS old_payload, s.dest_id, mh.invalid
		FROM mh FULL OUTER JOIN %s s ON mh.key = s.key
		WHERE %s`,
		keyExpr, strings.Join(members, ", "), invalid, model, snap, diff)
	if _, err := conn.ExecContext(ctx, plan); err != nil {
		return fmt.Errorf("sync %s: plan: %w", s.Name, err)
	}
	// A removed key that was never pushed (only skipped) is not a removal.
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'change'),
		count(*) FILTER (WHERE op = 'remove' AND old_payload IS NOT NULL) FROM __plan`).Scan(&p.Counts.Added, &p.Counts.Changed, &p.Counts.Removed); err != nil {
		return fmt.Errorf("sync %s: count plan: %w", s.Name, err)
	}
	p.Counts.Unchanged = total - p.Counts.Added - p.Counts.Changed
	if err := p.checkRemovals(ctx); err != nil {
		return err
	}
	checker, _ := dest.(Checker)
	return p.eachPlanned(ctx, 0, func(b planned) error {
		if p.refusal(checker, b) != "" {
			p.Rejected++
		}
		return nil
	})
}

// ErrMassRemoval is wrapped by the error of a plan that would clear or
// archive more than PlanOptions.MaxRemoval of what the sync pushed.
var ErrMassRemoval = errors.New("mass removal refused")

// minRemovalGuard is the fewest removals the guard stops: clearing a
// handful of records is an ordinary day.
const minRemovalGuard = 10

// checkRemovals stops a plan that would clear or archive a large share of
// the records the sync pushed: a model emptied by a bad join, or a source
// read short, must not wipe a destination.
func (p *Plan) checkRemovals(ctx context.Context) error {
	if !p.sendsRemovals() || p.allowMassRemoval || p.maxRemoval <= 0 || p.maxRemoval >= 1 || p.Counts.Removed < minRemovalGuard {
		return nil
	}
	var pushed int64
	if err := p.conn.QueryRowContext(ctx, `SELECT count(*) FROM `+SnapshotTable(p.Sync.Name)+` WHERE payload IS NOT NULL`).Scan(&pushed); err != nil {
		return fmt.Errorf("sync %s: count snapshot: %w", p.Sync.Name, err)
	}
	if float64(p.Counts.Removed) > p.maxRemoval*float64(pushed) {
		verb := map[string]string{"clear": "clear", "archive": "archive"}[p.Sync.OnRemove]
		return fmt.Errorf("sync %s: %w: the plan would %s %d of the %d records the sync has pushed (%.0f%%, more than max_removal %.0f%%); nothing was sent. "+
			"If the model really lost them, rerun with --allow-mass-removal", p.Sync.Name, ErrMassRemoval, verb, p.Counts.Removed, pushed,
			100*float64(p.Counts.Removed)/float64(max(pushed, 1)), 100*p.maxRemoval)
	}
	return nil
}

// refusal is why a planned row is not sent: a value no destination takes,
// or one this destination would refuse (Checker); "" sends it.
func (p *Plan) refusal(checker Checker, b planned) string {
	if b.row.Op == "remove" {
		return ""
	}
	if b.invalid != "" {
		return b.invalid
	}
	if checker != nil {
		return checker.Check(b.row.Values)
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
		if r.Op == "change" && len(r.Values) == 0 {
			return nil
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Apply sends the plan, recording every row's outcome; limit > 0 sends at
// most that many rows (a test sample). It records the sync in
// backflow.sync_runs.
func (p *Plan) Apply(ctx context.Context, w *warehouse.Warehouse, runID string, limit int64) (Result, error) {
	start := time.Now()
	res := p.Counts
	s := p.Sync
	if _, err := p.conn.ExecContext(ctx, `INSERT INTO backflow.sync_runs (run_id, sync, started_at, status) VALUES (?, ?, ?, 'running')`, runID, s.Name, p.now()); err != nil {
		return res, fmt.Errorf("sync %s: record start: %w", s.Name, err)
	}
	err := p.apply(ctx, w, runID, limit, &res)
	res.Duration = time.Since(start)
	status, msg := "succeeded", ""
	switch {
	case errors.Is(err, ErrStopped):
		status, msg = "stopped", p.scrub.Error(err)
	case err != nil:
		status, msg = "failed", p.scrub.Error(err)
	case res.Failed+res.Rejected > 0:
		status = "partial"
	}
	_, uerr := p.conn.ExecContext(context.WithoutCancel(ctx), `UPDATE backflow.sync_runs SET finished_at = ?, status = ?, error = ?,
		model_rows = ?, added = ?, changed = ?, removed = ?, unchanged = ?, applied = ?, failed = ?, rejected = ?, skipped = ?
		WHERE run_id = ? AND sync = ?`, p.now(), status, nullIfEmpty(msg), res.ModelRows, res.Added, res.Changed, res.Removed,
		res.Unchanged, res.Applied, res.Failed, res.Rejected, res.Skipped, runID, s.Name)
	return res, errors.Join(err, uerr)
}

func (p *Plan) apply(ctx context.Context, w *warehouse.Warehouse, runID string, limit int64, res *Result) error {
	s, conn, dest := p.Sync, p.conn, p.dest
	snapshot := SnapshotTable(s.Name)
	if fc, ok := dest.(FieldCreator); ok {
		for _, f := range p.Creates {
			if err := fc.CreateField(ctx, f.Field, f.Type); err != nil {
				return fmt.Errorf("sync %s: create field %s: %w", s.Name, f.Field, err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+snapshot+` (
		key VARCHAR PRIMARY KEY, row_hash VARCHAR, payload JSON, pushed_at TIMESTAMPTZ, run_id VARCHAR, skipped_hash VARCHAR, dest_id VARCHAR)`); err != nil {
		return fmt.Errorf("sync %s: create snapshot: %w", s.Name, err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER TABLE `+snapshot+` ADD COLUMN IF NOT EXISTS dest_id VARCHAR`); err != nil {
		return fmt.Errorf("sync %s: snapshot: %w", s.Name, err)
	}
	// on_remove: ignore forgets removed keys without touching the
	// destination; clear and archive send them, and forget at once only
	// the keys that were never pushed. A test sample (limit) removes
	// nothing; events are never forgotten.
	if limit == 0 && !p.full && !p.events {
		forget := `DELETE FROM ` + snapshot + ` WHERE key IN (SELECT key FROM __plan WHERE op = 'remove')`
		if p.sendsRemovals() {
			forget = `DELETE FROM ` + snapshot + ` WHERE key IN (SELECT key FROM __plan WHERE op = 'remove' AND old_payload IS NULL)`
		}
		if _, err := conn.ExecContext(ctx, forget); err != nil {
			return fmt.Errorf("sync %s: forget removed rows: %w", s.Name, err)
		}
	}
	checker, _ := dest.(Checker)
	size := int64(dest.BatchSize())
	var after, sent int64
	var prev *flight
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
			p.land(context.WithoutCancel(ctx), w, runID, prev, res)
		}
	}()
	for limit == 0 || sent < limit {
		if p.stopped() {
			if err := landPrev(); err != nil {
				return err
			}
			return fmt.Errorf("sync %s: %w", s.Name, ErrStopped)
		}
		n := size
		if limit > 0 {
			n = min(size, limit-sent)
		}
		batch, last, err := readBatch(ctx, conn, after, n, p.sendsRemovals() && limit == 0)
		if err != nil {
			return fmt.Errorf("sync %s: read plan: %w", s.Name, err)
		}
		if len(batch) == 0 {
			break
		}
		after = last
		sent += int64(len(batch))
		// A change whose fields all equal the snapshot's (a field dropped
		// from the mapping changes the payload, not any sent value) is not
		// sent: the snapshot just takes the new payload. A row the
		// destination would refuse is recorded as rejected, not sent.
		var send, quiet, refused []planned
		var reasons []Outcome
		for _, b := range batch {
			why := p.refusal(checker, b)
			switch {
			case b.row.Op == "change" && len(b.row.Values) == 0:
				quiet = append(quiet, b)
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
			if err := record(ctx, w, p.scrub, runID, s.Name, p.now(), quiet, repeat(Outcome{Status: unchanged}, len(quiet))); err != nil {
				return fmt.Errorf("sync %s: record results: %w", s.Name, err)
			}
		}
		if len(refused) > 0 {
			res.Rejected += int64(len(refused))
			if err := record(ctx, w, p.scrub, runID, s.Name, p.now(), refused, reasons); err != nil {
				return fmt.Errorf("sync %s: record results: %w", s.Name, err)
			}
		}
		if len(send) == 0 {
			continue
		}
		// One call at a time, but the next batch goes out as soon as the
		// previous call answers, while that one's results are recorded:
		// the API, not the file, sets the pace. At most two batches are
		// unrecorded at any moment.
		if prev != nil {
			<-prev.done
		}
		// A stop that came while the previous batch was out sends
		// nothing more.
		if p.stopped() {
			if err := landPrev(); err != nil {
				return err
			}
			return fmt.Errorf("sync %s: %w", s.Name, ErrStopped)
		}
		if prev != nil {
			if prev.err != nil || p.events {
				// Events are recorded before the next batch goes out: a
				// crash then resends at most one batch.
				if err := landPrev(); err != nil {
					return err
				}
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

// stopped reports whether PlanOptions.Stop has closed.
func (p *Plan) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// flight is one batch sent to the destination, its outcomes arriving on
// done.
type flight struct {
	rows     []planned
	done     chan struct{}
	outcomes []Outcome
	err      error
}

// send calls the destination for a batch in its own goroutine.
func (p *Plan) send(ctx context.Context, batch []planned) *flight {
	f := &flight{rows: batch, done: make(chan struct{})}
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
	s, dest := p.Sync, p.dest
	<-f.done
	if f.err != nil {
		return fmt.Errorf("sync %s: %s: %w", s.Name, dest.Name(), f.err)
	}
	if len(f.outcomes) != len(f.rows) {
		return fmt.Errorf("sync %s: %s returned %d outcomes for %d rows", s.Name, dest.Name(), len(f.outcomes), len(f.rows))
	}
	if err := record(ctx, w, p.scrub, runID, s.Name, p.now(), f.rows, f.outcomes); err != nil {
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

func columnTypes(ctx context.Context, conn *sql.Conn, table string) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+table+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	return out, rows.Err()
}

type planned struct {
	row     Row
	hash    string
	full    string // the whole new payload, stored in the snapshot on success
	invalid string // a value no destination takes: the row is rejected
}

// readBatch reads the next batch of adds and changes (and removals that
// were pushed, with removals) after plan row `after`, computing for a
// change only the fields whose value changed, and for a removal every
// pushed field set to null.
func readBatch(ctx context.Context, conn *sql.Conn, after, size int64, removals bool) ([]planned, int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT rn, key, op, payload, hash, old_payload, coalesce(dest_id, ''), coalesce(invalid, '') FROM __plan
		WHERE (op <> 'remove' OR (? AND old_payload IS NOT NULL)) AND rn > ? ORDER BY rn LIMIT ?`, removals, after, size)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []planned
	last := after
	for rows.Next() {
		var p planned
		var payload, hash, old sql.NullString
		if err := rows.Scan(&last, &p.row.Key, &p.row.Op, &payload, &hash, &old, &p.row.DestID, &p.invalid); err != nil {
			return nil, 0, err
		}
		p.full, p.hash = payload.String, hash.String
		var newVals, oldVals map[string]json.RawMessage
		if p.row.Op == "remove" {
			if err := json.Unmarshal([]byte(old.String), &oldVals); err != nil {
				return nil, 0, fmt.Errorf("row %s: snapshot payload: %w", p.row.Key, err)
			}
			p.row.Values = map[string]json.RawMessage{}
			for k := range oldVals {
				p.row.Values[k] = json.RawMessage("null")
			}
			out = append(out, p)
			continue
		}
		if err := json.Unmarshal([]byte(p.full), &newVals); err != nil {
			return nil, 0, fmt.Errorf("row %s: payload: %w", p.row.Key, err)
		}
		if old.Valid {
			if err := json.Unmarshal([]byte(old.String), &oldVals); err != nil {
				return nil, 0, fmt.Errorf("row %s: snapshot payload: %w", p.row.Key, err)
			}
			for k, v := range newVals {
				if ov, ok := oldVals[k]; ok && string(ov) == string(v) {
					delete(newVals, k)
				}
			}
		}
		p.row.Values = newVals
		out = append(out, p)
	}
	return out, last, rows.Err()
}

var resultSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.BinaryTypes.String},
	{Name: "operation", Type: arrow.BinaryTypes.String},
	{Name: "status", Type: arrow.BinaryTypes.String},
	{Name: "error", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "fields", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	{Name: "payload", Type: arrow.BinaryTypes.String},
	{Name: "hash", Type: arrow.BinaryTypes.String},
	{Name: "dest_id", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// record writes a batch's outcomes in one transaction: a sync_rows line
// per row, the snapshot advanced for applied rows, and the hash of rows the
// destination did not have (or refused) kept so they are not resent until
// they change.
func record(ctx context.Context, w *warehouse.Warehouse, scrub *redact.Redactor, runID, sync string, at time.Time, batch []planned, outcomes []Outcome) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, resultSchema)
	defer b.Release()
	for i, p := range batch {
		b.Field(0).(*array.StringBuilder).Append(p.row.Key)
		b.Field(1).(*array.StringBuilder).Append(p.row.Op)
		b.Field(2).(*array.StringBuilder).Append(string(outcomes[i].Status))
		if outcomes[i].Error == "" {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.StringBuilder).Append(scrub.String(outcomes[i].Error))
		}
		lb := b.Field(4).(*array.ListBuilder)
		lb.Append(true)
		for _, f := range sortedFields(p.row.Values) {
			lb.ValueBuilder().(*array.StringBuilder).Append(f)
		}
		b.Field(5).(*array.StringBuilder).Append(p.full)
		b.Field(6).(*array.StringBuilder).Append(p.hash)
		if id := cmp.Or(outcomes[i].DestID, p.row.DestID); id != "" {
			b.Field(7).(*array.StringBuilder).Append(id)
		} else {
			b.Field(7).AppendNull()
		}
	}
	rec := b.NewRecordBatch()
	rdr, err := array.NewRecordReader(resultSchema, []arrow.RecordBatch{rec})
	rec.Release()
	if err != nil {
		return err
	}
	defer rdr.Release()
	snapshot := SnapshotTable(sync)
	// A connection of its own: the sync's connection is busy holding the
	// plan, and the Arrow view lives on the connection that registers it.
	return w.WithArrow(ctx, rdr, func(rc *sql.Conn, view string) error {
		tx, err := rc.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		stmts := []string{
			`CREATE OR REPLACE TEMP TABLE __results AS SELECT * FROM ` + view,
			`INSERT INTO backflow.sync_rows (run_id, sync, key, operation, status, error, fields, recorded_at)
				SELECT ` + warehouse.Literal(runID) + `, ` + warehouse.Literal(sync) + `, key, operation, status, error, fields, ` + warehouse.TimeLiteral(at) + `
				FROM __results WHERE status <> 'unchanged'`,
			// A removal the destination applied, or whose record is gone,
			// leaves the snapshot: if the row comes back it is an add.
			`DELETE FROM ` + snapshot + ` WHERE key IN (SELECT key FROM __results
				WHERE operation = 'remove' AND status IN ('applied', 'skipped_not_found'))`,
			`INSERT INTO ` + snapshot + ` (key, row_hash, payload, pushed_at, run_id, skipped_hash, dest_id)
				SELECT key, hash, payload::JSON, ` + warehouse.TimeLiteral(at) + `, ` + warehouse.Literal(runID) + `, NULL, dest_id FROM __results
				WHERE status = 'applied' AND operation <> 'remove'
				ON CONFLICT (key) DO UPDATE SET row_hash = excluded.row_hash, payload = excluded.payload,
					pushed_at = excluded.pushed_at, run_id = excluded.run_id, skipped_hash = NULL,
					dest_id = coalesce(excluded.dest_id, dest_id)`,
			`UPDATE ` + snapshot + ` s SET row_hash = r.hash, payload = r.payload::JSON
				FROM __results r WHERE r.status = 'unchanged' AND s.key = r.key`,
			`INSERT INTO ` + snapshot + ` (key, run_id, skipped_hash)
				SELECT key, ` + warehouse.Literal(runID) + `, hash FROM __results
				WHERE status IN ('skipped_not_found', 'rejected') AND operation <> 'remove'
				ON CONFLICT (key) DO UPDATE SET skipped_hash = excluded.skipped_hash`,
			`DROP TABLE __results`,
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
}

func sortedFields(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
