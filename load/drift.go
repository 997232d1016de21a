package load

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/warehouse"
)

// Observed is where extraction stages a destination's records in the
// file, so that what the destination holds now can be compared with what
// backflow last sent it: drift (docs/drift.md). Every SQL fragment reads
// the staged row as r; ObservedField.Found may read the snapshot row as s
// too (s.key, s.payload), for a value staged in another table (a list's
// members).
type Observed struct {
	// Schema and Table are the staged table ("raw_hubspot", "contacts").
	Schema, Table string
	// Also are other staged tables the fragments read ("raw_hubspot.list_memberships");
	// drift is not checked until each exists.
	Also []string
	// Record is the SQL value a snapshot row is matched on; Key turns the
	// snapshot's key (its dest_id with ByDestID), a VARCHAR expression,
	// into the same form (nil keeps it).
	Record   string
	Key      func(expr string) string
	ByDestID bool
	// ID is the record's id in the destination: recorded with a drift and
	// handed to Explain.
	ID string
	// Modified is when the destination last changed the record, on its
	// own clock. A staged record last modified before a push predates the
	// write and is not compared: it cannot tell who changed what after.
	Modified string
	// Where keeps the staged rows that are live records ("" keeps all).
	Where string
	// Columns are the staged columns the fragments above read.
	Columns []string
	// Fields are the mapped fields the table stages. A mapped field not
	// here is not compared; Unobserved may say why.
	Fields     map[string]ObservedField
	Unobserved map[string]string
}

// ObservedField compares one field: Found is the staged value as the
// destination holds it, and Sent turns the JSON value backflow sent (a
// SQL expression of type JSON) into the same form. Both are normalised
// the way the destination normalises what it is sent (an email's case, a
// number's trailing zeros, a date's format), and NULL when empty, so that
// only a change someone made differs.
type ObservedField struct {
	// Column is the staged column Found reads.
	Column string
	Found  string
	Sent   func(sent string) string
}

// Explainer is a Destination that can say who changed a drifted value
// (HubSpot's property history). Explain returns one Origin per drift, in
// order; an Origin left zero is a change the API does not explain. It is
// called after Describe, with at most MaxExplain drifts.
type Explainer interface {
	Explain(ctx context.Context, drifts []Drift) ([]Origin, error)
}

// MaxExplain is the most drifts one plan asks Explain about; the others
// are explained by the next runs.
const MaxExplain = 500

// Drift is one field of one record whose destination value differs from
// what backflow last sent it.
type Drift struct {
	Key, RecordID, Field string
	// Sent is the JSON sent; Found the destination's value, normalised
	// ("" when empty).
	Sent, Found string
	Modified    time.Time
	// Pushed is when backflow's last write of the record went out (zero
	// when unknown): a latest change older than it is a write the
	// destination did not take, not an edit made after it.
	Pushed time.Time
}

// Origin is who or what last changed a field, as the destination tells.
type Origin struct {
	// Source is the API's kind of change: CRM_UI, AUTOMATION_PLATFORM
	// (a workflow), INTEGRATION (an app), IMPORT, …
	Source, SourceID, Label string
	// UserID is the user who changed it, when one did.
	UserID string
	At     time.Time
}

// DriftSummary is what a plan found of drift.
type DriftSummary struct {
	// Checked reports whether the sync's destination values were compared
	// with its snapshot; Reason says why not.
	Checked bool
	Reason  string
	// Unchecked are mapped fields not compared, with why.
	Unchecked map[string]string
	// Fields counts the drifted fields this plan found, by field;
	// Records the records holding one.
	Fields  map[string]int64
	Records int64
	// Kept counts the fields on_drift keep leaves unwritten.
	Kept int64
	// Explained counts the drifts Explain was asked about and answered;
	// ExplainError is why it failed (the drifts are recorded without a
	// source, explained by a later run).
	Explained    int64
	ExplainError error
}

// Found is the number of drifted fields.
func (d DriftSummary) Found() int64 {
	var n int64
	for _, c := range d.Fields {
		n += c
	}
	return n
}

// findDrift compares the snapshot's sent values with the destination's
// staged records and leaves the differences in the plan's __drift table.
// It runs before the diff: overwrite and keep change what is planned.
func (p *Plan) findDrift(ctx context.Context) error {
	s, d := p.Spec, &p.Drift
	o := p.Target.Observed
	if _, err := p.conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE __drift (key VARCHAR, record_id VARCHAR, modified_at TIMESTAMPTZ, field VARCHAR, sent VARCHAR, found VARCHAR)`); err != nil {
		return fmt.Errorf("sync %s: drift: %w", s.Name, err)
	}
	switch {
	case p.events():
		d.Reason = "events are sent once; there is no value to drift"
		return nil
	case o == nil:
		d.Reason = cmp.Or(p.Target.NotObserved, p.Target.Name+" is not extracted, so drift cannot be checked")
		return nil
	}
	staged, err := tableExists(ctx, p.conn, o.Schema, o.Table)
	if err != nil {
		return fmt.Errorf("sync %s: drift: look for %s.%s: %w", s.Name, o.Schema, o.Table, err)
	}
	if !staged {
		d.Reason = fmt.Sprintf("%s.%s is not staged yet (run backflow extract)", o.Schema, o.Table)
		return nil
	}
	for _, t := range o.Also {
		schema, table, _ := strings.Cut(t, ".")
		ok, err := tableExists(ctx, p.conn, schema, table)
		if err != nil {
			return fmt.Errorf("sync %s: drift: look for %s: %w", s.Name, t, err)
		}
		if !ok {
			d.Reason = fmt.Sprintf("%s is not staged yet (run backflow extract)", t)
			return nil
		}
	}
	cols, err := columnTypes(ctx, p.conn, warehouse.Table(o.Schema, o.Table))
	if err != nil {
		return fmt.Errorf("sync %s: drift: read %s.%s: %w", s.Name, o.Schema, o.Table, err)
	}
	for _, c := range o.Columns {
		if _, ok := cols[c]; !ok {
			d.Reason = fmt.Sprintf("%s.%s has no column %s (extract it to check drift)", o.Schema, o.Table, c)
			return nil
		}
	}
	d.Unchecked, d.Fields = map[string]string{}, map[string]int64{}
	var fields []string
	for _, f := range s.Fields {
		of, ok := o.Fields[f.Field]
		switch {
		case !ok:
			d.Unchecked[f.Field] = cmp.Or(o.Unobserved[f.Field], "not staged by extraction")
		case cols[of.Column] == "":
			d.Unchecked[f.Field] = fmt.Sprintf("%s.%s has no column %s yet (extract again)", o.Schema, o.Table, of.Column)
		default:
			fields = append(fields, f.Field)
		}
	}
	slices.Sort(fields)
	d.Checked = true
	exists, err := tableExists(ctx, p.conn, "backflow", "snapshot_"+s.Name)
	if err != nil {
		return fmt.Errorf("sync %s: drift: look for the snapshot: %w", s.Name, err)
	}
	if !exists || len(fields) == 0 {
		return nil
	}
	if _, err := p.conn.ExecContext(ctx, p.driftSQL(o, fields)); err != nil {
		return fmt.Errorf("sync %s: drift: compare %s with %s.%s: %w", s.Name, SnapshotTable(s.Name), o.Schema, o.Table, err)
	}
	return nil
}

// driftSQL fills __drift: one join of snapshot and staged table, then one
// comparison per field.
func (p *Plan) driftSQL(o *Observed, fields []string) string {
	key := "s.key"
	if o.ByDestID {
		key = "s.dest_id"
	}
	if o.Key != nil {
		key = o.Key(key)
	}
	where := ""
	if o.Where != "" {
		where = " AND (" + o.Where + ")"
	}
	// One pass over the join: the payload parsed once, every field
	// compared; only the rows that differ are unpivoted.
	var found, paths, conds, branches []string
	for i, f := range fields {
		of := o.Fields[f]
		col, sv := fmt.Sprintf("f%d", i), fmt.Sprintf("sv[%d]", i+1)
		found = append(found, of.Found+" AS "+col)
		paths = append(paths, warehouse.Literal(`$."`+f+`"`))
		cond := fmt.Sprintf("(%s IS NOT NULL AND (%s) IS DISTINCT FROM %s)", sv, of.Sent(sv), col)
		conds = append(conds, cond)
		branches = append(branches, fmt.Sprintf(`SELECT key, record_id, modified_at, %s AS field, %s::VARCHAR AS sent, %s AS found FROM d WHERE %s`,
			warehouse.Literal(f), sv, col, cond))
	}
	return fmt.Sprintf(`INSERT INTO __drift
		WITH j AS (
			SELECT s.key, CAST(%s AS VARCHAR) AS record_id, CAST(%s AS TIMESTAMPTZ) AS modified_at, json_extract(s.payload, [%s]) AS sv, %s
			FROM %s s JOIN %s r ON (%s) = (%s)
			WHERE s.payload IS NOT NULL AND s.pushed_at IS NOT NULL AND CAST(%s AS TIMESTAMPTZ) > s.pushed_at%s
		), d AS MATERIALIZED (SELECT * FROM j WHERE %s)
		SELECT * FROM (%s)
		QUALIFY row_number() OVER (PARTITION BY key, field ORDER BY modified_at DESC, record_id) = 1`,
		o.ID, o.Modified, strings.Join(paths, ", "), strings.Join(found, ", "), p.onlyPlanned(SnapshotTable(p.Spec.Name)), warehouse.Table(o.Schema, o.Table), o.Record, key,
		o.Modified, where, strings.Join(conds, " OR "), strings.Join(branches, "\n UNION ALL "))
}

// pruneDrift drops the drift whose destination value is what the model
// holds now: a change the plan sends anyway (a batch whose answer was
// lost after HubSpot did the work), not an edit to report. It then counts
// what is left.
func (p *Plan) pruneDrift(ctx context.Context) error {
	d := &p.Drift
	if !d.Checked {
		return nil
	}
	o := p.Target.Observed
	var cases []string
	for f, of := range o.Fields {
		path := warehouse.Literal(`$."` + f + `"`)
		cases = append(cases, "WHEN "+warehouse.Literal(f)+" THEN "+of.Sent("json_extract(pl.payload, "+path+")"))
	}
	if len(cases) > 0 {
		slices.Sort(cases)
		if _, err := p.conn.ExecContext(ctx, `DELETE FROM __drift WHERE EXISTS (SELECT 1 FROM __plan pl WHERE pl.key = __drift.key AND pl.payload IS NOT NULL
			AND (CASE __drift.field `+strings.Join(cases, " ")+` END) IS NOT DISTINCT FROM __drift.found)`); err != nil {
			return fmt.Errorf("sync %s: drift: %w", p.Spec.Name, err)
		}
	}
	rows, err := p.conn.QueryContext(ctx, `SELECT field, count(*), (SELECT count(DISTINCT key) FROM __drift) FROM __drift GROUP BY field`)
	if err != nil {
		return fmt.Errorf("sync %s: count drift: %w", p.Spec.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f string
		var n int64
		if err := rows.Scan(&f, &n, &d.Records); err != nil {
			return fmt.Errorf("sync %s: count drift: %w", p.Spec.Name, err)
		}
		d.Fields[f] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sync %s: count drift: %w", p.Spec.Name, err)
	}
	if p.Spec.OnDrift == DriftKeep {
		if err := p.conn.QueryRowContext(ctx, `SELECT count(*) FROM __kept`).Scan(&d.Kept); err != nil {
			return fmt.Errorf("sync %s: count kept fields: %w", p.Spec.Name, err)
		}
	}
	return nil
}

// keptFields fills __kept, the fields on_drift keep leaves as the
// destination holds them: the drift found now and the drift recorded
// before and not resolved, each with the value last sent.
func (p *Plan) keptFields(ctx context.Context) error {
	q := `CREATE OR REPLACE TEMP TABLE __kept AS SELECT key, field, sent FROM __drift WHERE false`
	// A file only read by this version (backflow plan) may not have
	// backflow.drift yet: then nothing was kept before.
	recorded, err := tableExists(ctx, p.conn, "backflow", "drift")
	if err != nil {
		return fmt.Errorf("sync %s: kept fields: %w", p.Spec.Name, err)
	}
	if p.Spec.OnDrift == DriftKeep && !p.events() && !recorded {
		q = `CREATE OR REPLACE TEMP TABLE __kept AS SELECT DISTINCT ON (key, field) key, field, sent FROM __drift`
	} else if p.Spec.OnDrift == DriftKeep && !p.events() {
		q = `CREATE OR REPLACE TEMP TABLE __kept AS
			SELECT DISTINCT ON (key, field) key, field, sent FROM (
				SELECT key, field, sent FROM __drift
				UNION ALL SELECT key, field, sent FROM backflow.drift WHERE sync = ` + warehouse.Literal(p.Spec.Name) + ` AND resolved_at IS NULL)`
	}
	if _, err := p.conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("sync %s: kept fields: %w", p.Spec.Name, err)
	}
	return nil
}

// driftedSnapshot is the snapshot the diff reads under on_drift
// overwrite: a drifted field reads as never sent, so the model's value is
// sent again.
func (p *Plan) driftedSnapshot(snap string) string {
	if p.Spec.OnDrift != DriftOverwrite || !p.Drift.Checked {
		return snap
	}
	return `(SELECT s.key, CASE WHEN d.key IS NULL THEN s.row_hash END AS row_hash,
			CASE WHEN d.key IS NULL THEN s.payload ELSE json_merge_patch(s.payload, d.patch) END AS payload, s.skipped_hash, s.dest_id
		FROM ` + snap + ` s LEFT JOIN (SELECT key, json_group_object(field, NULL::JSON) AS patch FROM __drift GROUP BY key) d ON d.key = s.key)`
}

// recordDrift writes what the plan found into backflow.drift: new drift
// opened, drift whose value changed again updated, and open drift whose
// record was read again and no longer differs resolved ("matches"). Then
// it asks the destination who made the changes not yet explained.
func (p *Plan) recordDrift(ctx context.Context, runID string) error {
	d := &p.Drift
	if !d.Checked {
		return nil
	}
	s, o := p.Spec, p.Target.Observed
	name, at, policy := warehouse.Literal(s.Name), warehouse.TimeLiteral(p.now()), warehouse.Literal(string(cmp.Or(s.OnDrift, DriftReport)))
	// A change cycle (Only) compared only its keys: drift on the others
	// was not looked at, so it is not found gone.
	scope := ""
	if p.opts.Only != "" {
		scope = " AND d.key IN (SELECT key FROM " + p.onlyPlanned(SnapshotTable(s.Name)) + ")"
	}
	stmts := []string{
		`UPDATE backflow.drift d SET resolved_at = ` + at + `, resolution = 'matches'
			WHERE d.sync = ` + name + ` AND d.resolved_at IS NULL` + scope + `
			AND NOT EXISTS (SELECT 1 FROM __drift n WHERE n.key = d.key AND n.field = d.field)
			AND EXISTS (SELECT 1 FROM ` + warehouse.Table(o.Schema, o.Table) + ` r WHERE CAST(` + o.ID + ` AS VARCHAR) = d.record_id
				AND CAST(` + o.Modified + ` AS TIMESTAMPTZ) > d.modified_at)`,
		`UPDATE backflow.drift d SET found = n.found, sent = n.sent, record_id = n.record_id, modified_at = n.modified_at,
				explained = d.explained AND d.found IS NOT DISTINCT FROM n.found, policy = ` + policy + `
			FROM __drift n WHERE d.sync = ` + name + ` AND d.resolved_at IS NULL AND n.key = d.key AND n.field = d.field`,
		`INSERT INTO backflow.drift (sync, key, record_id, field, sent, found, modified_at, found_at, run_id, policy)
			SELECT ` + name + `, key, record_id, field, sent, found, modified_at, ` + at + `, ` + warehouse.Literal(runID) + `, ` + policy + ` FROM __drift n
			WHERE NOT EXISTS (SELECT 1 FROM backflow.drift d WHERE d.sync = ` + name + ` AND d.resolved_at IS NULL AND d.key = n.key AND d.field = n.field)`,
	}
	if err := p.inTx(ctx, stmts); err != nil {
		return fmt.Errorf("sync %s: record drift: %w", s.Name, err)
	}
	if ex, ok := p.dest.(Explainer); ok {
		p.explain(ctx, ex)
	}
	return nil
}

// inTx runs statements in one transaction on the plan's connection.
func (p *Plan) inTx(ctx context.Context, stmts []string) error {
	tx, err := p.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// explain asks the destination who changed the open drift not explained
// yet, at most MaxExplain of it, and records the answers. A failure is
// kept in the summary, not returned: who made a change decides nothing
// that is sent.
func (p *Plan) explain(ctx context.Context, ex Explainer) {
	d := &p.Drift
	name := warehouse.Literal(p.Spec.Name)
	rows, err := p.conn.QueryContext(ctx, `SELECT d.key, coalesce(d.record_id, ''), d.field, coalesce(d.sent, ''), coalesce(d.found, ''), d.modified_at, s.pushed_at
		FROM backflow.drift d LEFT JOIN `+SnapshotTable(p.Spec.Name)+` s ON s.key = d.key
		WHERE d.sync = `+name+` AND d.resolved_at IS NULL AND NOT d.explained ORDER BY d.found_at, d.key, d.field LIMIT `+fmt.Sprint(MaxExplain))
	if err != nil {
		d.ExplainError = err
		return
	}
	var pending []Drift
	for rows.Next() {
		var x Drift
		var mod, pushed sql.NullTime
		if err := rows.Scan(&x.Key, &x.RecordID, &x.Field, &x.Sent, &x.Found, &mod, &pushed); err != nil {
			rows.Close()
			d.ExplainError = err
			return
		}
		x.Modified, x.Pushed = mod.Time, pushed.Time
		pending = append(pending, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(pending) == 0 {
		d.ExplainError = err
		return
	}
	origins, err := ex.Explain(ctx, pending)
	if err == nil && len(origins) != len(pending) {
		err = fmt.Errorf("%s explained %d drifts of %d", p.Target.Name, len(origins), len(pending))
	}
	if err != nil {
		d.ExplainError = fmt.Errorf("sync %s: who changed the drifted fields: %w", p.Spec.Name, err)
		return
	}
	tx, err := p.conn.BeginTx(ctx, nil)
	if err != nil {
		d.ExplainError = err
		return
	}
	defer tx.Rollback()
	for i, x := range pending {
		o := origins[i]
		var changed any
		if !o.At.IsZero() {
			changed = o.At
		}
		if _, err := tx.ExecContext(ctx, `UPDATE backflow.drift SET explained = true, source = ?, source_id = ?, source_label = ?, changed_by = ?, changed_at = ?
			WHERE sync = ? AND key = ? AND field = ? AND resolved_at IS NULL`, nullIfEmpty(o.Source), nullIfEmpty(o.SourceID), nullIfEmpty(o.Label),
			nullIfEmpty(o.UserID), changed, p.Spec.Name, x.Key, x.Field); err != nil {
			d.ExplainError = err
			return
		}
	}
	if err := tx.Commit(); err != nil {
		d.ExplainError = err
		return
	}
	d.Explained = int64(len(pending))
}

// resolveSentDrift is the statement record runs in its transaction: drift
// on a field backflow has just written (the model's value, sent again by
// overwrite or because it changed) or on a record it removed is resolved.
func resolveSentDrift(sync, at string) string {
	return `UPDATE backflow.drift d SET resolved_at = ` + at + `,
			resolution = CASE WHEN r.operation = 'remove' THEN 'removed' WHEN d.policy = 'overwrite' THEN 'overwritten' ELSE 'sent' END
		FROM __results r
		WHERE r.status = 'applied' AND d.sync = ` + sync + ` AND d.resolved_at IS NULL AND d.key = r.key
			AND (r.operation = 'remove' OR list_contains(r.fields, d.field))`
}
