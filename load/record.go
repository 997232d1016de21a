package load

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/warehouse"
)

// tableExists reports whether schema.table exists in the file.
func tableExists(ctx context.Context, conn *sql.Conn, schema, table string) (bool, error) {
	return warehouse.HasTable(ctx, conn, schema, table)
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
	kept    bool   // on_drift keep left fields out of the row
}

// readBatch reads the next batch of adds and changes (and removals that
// were pushed, with removals) after plan row `after`, computing for a
// change only the fields whose value changed, and for a removal every
// pushed field set to null.
func readBatch(ctx context.Context, conn *sql.Conn, after, size int64, removals bool) ([]planned, int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT rn, key, op, payload, hash, old_payload, coalesce(dest_id, ''), coalesce(invalid, ''), kept FROM __plan
		WHERE (op <> 'remove' OR (? AND old_payload IS NOT NULL)) AND rn > ? ORDER BY rn LIMIT ?`, removals, after, size)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []planned
	last := after
	for rows.Next() {
		var p planned
		var op string
		var payload, hash, old, kept sql.NullString
		if err := rows.Scan(&last, &p.row.Key, &op, &payload, &hash, &old, &p.row.DestID, &p.invalid, &kept); err != nil {
			return nil, 0, err
		}
		var keep map[string]json.RawMessage
		if kept.Valid {
			if err := json.Unmarshal([]byte(kept.String), &keep); err != nil {
				return nil, 0, fmt.Errorf("row %s: kept fields: %w", p.row.Key, err)
			}
			p.kept = len(keep) > 0
		}
		p.row.Op = Op(op)
		p.full, p.hash = payload.String, hash.String
		var newVals, oldVals map[string]json.RawMessage
		if p.row.Op == Remove {
			if err := json.Unmarshal([]byte(old.String), &oldVals); err != nil {
				return nil, 0, fmt.Errorf("row %s: snapshot payload: %w", p.row.Key, err)
			}
			p.row.Values, p.row.Sent = map[string]json.RawMessage{}, oldVals
			for k := range oldVals {
				// A field on_drift keep leaves is not cleared either.
				if _, kept := keep[k]; !kept {
					p.row.Values[k] = json.RawMessage("null")
				}
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
			p.row.Sent = maps.Clone(oldVals)
			for k, v := range newVals {
				if ov, ok := oldVals[k]; ok && string(ov) == string(v) {
					delete(newVals, k)
				}
			}
		}
		// A kept field is written again only once the model's value is no
		// longer the one the destination's edit replaced.
		for k, v := range keep {
			if nv, ok := newVals[k]; ok && sameJSON(nv, v) {
				delete(newVals, k)
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
		b.Field(1).(*array.StringBuilder).Append(string(p.row.Op))
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
		// Not rolled back by ctx in a goroutine of its own (it would close
		// the connection under the next statement): statements still stop
		// with ctx, and the deferred Rollback ends it.
		if err := ctx.Err(); err != nil {
			return err
		}
		tx, err := rc.BeginTx(context.WithoutCancel(ctx), nil)
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
			resolveSentDrift(warehouse.Literal(sync), warehouse.TimeLiteral(at)),
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

// sameJSON compares two JSON values by their compact text.
func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return string(a) == string(b)
	}
	return ca.String() == cb.String()
}

func sortedFields(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RecordNotRun records in backflow.sync_runs a sync the run did not send:
// "held" (a data test upstream failed) or "failed" (its plan failed, so
// nothing was sent), with the reason, so that status shows the run's
// verdict rather than an older run's.
func RecordNotRun(ctx context.Context, w *warehouse.Warehouse, runID, sync, status, reason string, at time.Time) error {
	_, err := w.DB().ExecContext(ctx, `INSERT INTO backflow.sync_runs (run_id, sync, started_at, finished_at, status, error) VALUES (?, ?, ?, ?, ?, ?)`,
		runID, sync, at, at, status, reason)
	if err != nil {
		return fmt.Errorf("sync %s: record %s: %w", sync, status, err)
	}
	return nil
}
