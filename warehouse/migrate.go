package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	embedded "github.com/backflow-dev/backflow/sql"
)

// Version is the layout of the state tables (backflow.*) this build
// writes. backflow.schema_version records each migration a file went
// through; a file without it was written before versions were recorded
// (version 1), or is new.
const Version = 4

// migration moves a file from version-1 to version.
type migration struct {
	version int
	what    string
	apply   func(ctx context.Context, tx *sql.Tx) error
}

// migrations are applied in order, each in a transaction of its own with
// its row in backflow.schema_version. Each is written for the layout the
// one before leaves, and never changed once released: a change is a new
// migration.
var migrations = []migration{
	{1, "the state tables: runs, extract_state, sync_runs, sync_rows, schema_changes", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, embedded.Schema)
		return err
	}},
	{2, "schema_version; every snapshot keeps the destination's record id (dest_id)", migrateSnapshotDestID},
	{3, "changes: the change feed backflow serve queues webhook deliveries in; extract_state.watermark", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, changesSchema); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `ALTER TABLE backflow.extract_state ADD COLUMN IF NOT EXISTS watermark TIMESTAMPTZ`)
		return err
	}},
	{4, "drift: destination values changed after backflow sent them", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, driftSchema)
		return err
	}},
}

// driftSchema is backflow.drift (docs/drift.md): one row per field of a
// record whose destination value changed after backflow sent it. A row is
// open while resolved_at is NULL; at most one open row per sync, key and
// field. sent is the JSON backflow sent, found the destination's value as
// extraction staged it (normalised text, NULL when empty), modified_at the
// destination's own time of the record's last change; source … changed_at
// say who changed it, where the API tells (HubSpot's property history).
const driftSchema = `
CREATE TABLE IF NOT EXISTS backflow.drift (
	sync VARCHAR NOT NULL,
	key VARCHAR NOT NULL,
	record_id VARCHAR,
	field VARCHAR NOT NULL,
	sent VARCHAR,
	found VARCHAR,
	modified_at TIMESTAMPTZ,
	found_at TIMESTAMPTZ NOT NULL,
	run_id VARCHAR,
	policy VARCHAR NOT NULL,
	source VARCHAR,
	source_id VARCHAR,
	source_label VARCHAR,
	changed_by VARCHAR,
	changed_at TIMESTAMPTZ,
	explained BOOLEAN NOT NULL DEFAULT false,
	resolved_at TIMESTAMPTZ,
	resolution VARCHAR
);`

// changesSchema is backflow.changes (docs/state.md): one row per change a
// webhook delivery reported, stored before the delivery is acknowledged.
// change_key is the source's own dedupe key, so a retried or duplicated
// delivery is stored once; cycle_id is the serve cycle that took the
// change, done_at when that cycle finished.
const changesSchema = `
CREATE SEQUENCE IF NOT EXISTS backflow.change_seq;
CREATE TABLE IF NOT EXISTS backflow.changes (
	seq BIGINT PRIMARY KEY DEFAULT nextval('backflow.change_seq'),
	source VARCHAR NOT NULL,
	change_key VARCHAR NOT NULL UNIQUE,
	kind VARCHAR NOT NULL,
	stream VARCHAR,
	record_id VARCHAR,
	occurred_at TIMESTAMPTZ,
	received_at TIMESTAMPTZ NOT NULL,
	payload JSON,
	cycle_id VARCHAR,
	done_at TIMESTAMPTZ
);`

// migrateSnapshotDestID adds dest_id to the snapshots written before
// create mode, which lack it. It first creates the version-1 tables a
// file older still may lack (the statements are idempotent).
func migrateSnapshotDestID(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, embedded.Schema); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT table_name FROM information_schema.tables t
		WHERE table_catalog = current_database() AND table_schema = 'backflow' AND table_name LIKE 'snapshot\_%' ESCAPE '\'
		AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_catalog = t.table_catalog
			AND c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'dest_id')
		ORDER BY table_name`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+Table("backflow", t)+` ADD COLUMN dest_id VARCHAR`); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// ErrNewerFile is wrapped by the error of opening a file a newer backflow
// migrated.
var ErrNewerFile = fmt.Errorf("the DuckDB file was written by a newer backflow")

// version is the file's layout: 0 for a new file, 1 for one written
// before versions were recorded.
func (w *Warehouse) version(ctx context.Context) (int, error) {
	var has, runs int
	if err := w.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE table_name = 'schema_version'), count(*) FILTER (WHERE table_name = 'runs')
		FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = 'backflow'`).Scan(&has, &runs); err != nil {
		return 0, fmt.Errorf("warehouse: read the state schema version of %s: %w", displayPath(w.path), err)
	}
	if has == 0 {
		if runs > 0 {
			return 1, nil
		}
		return 0, nil
	}
	var v int
	if err := w.db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM backflow.schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("warehouse: read the state schema version of %s: %w", displayPath(w.path), err)
	}
	return v, nil
}

// migrate brings the file to Version, one migration at a time.
func (w *Warehouse) migrate(ctx context.Context, at time.Time) error {
	from, err := w.version(ctx)
	if err != nil {
		return err
	}
	if from > Version {
		return fmt.Errorf("warehouse: %s: %w (state schema version %d; this backflow knows up to %d): upgrade backflow", displayPath(w.path), ErrNewerFile, from, Version)
	}
	for _, m := range migrations {
		if m.version <= from {
			continue
		}
		if err := w.step(ctx, m, at); err != nil {
			return fmt.Errorf("warehouse: migrate %s to state schema version %d (%s): %w", displayPath(w.path), m.version, m.what, err)
		}
	}
	return nil
}

// step applies one migration and records it, in one transaction.
func (w *Warehouse) step(ctx context.Context, m migration, at time.Time) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := m.apply(ctx, tx); err != nil {
		return err
	}
	when := "current_timestamp"
	if !at.IsZero() {
		when = TimeLiteral(at)
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS backflow.schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, migrated_at TIMESTAMPTZ NOT NULL)`,
		`INSERT INTO backflow.schema_version VALUES (` + fmt.Sprint(m.version) + `, ` + Literal(m.what) + `, ` + when + `)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}
