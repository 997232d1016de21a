package load

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/warehouse"
)

// Spec is what the engine needs of a sync: which model, keyed how, mapped
// onto which fields, written how. A connector reads the sync file's
// destination settings; the engine reads only these.
type Spec struct {
	// Name names the sync in the file: snapshot_<name>, sync_rows.sync.
	Name string
	// File is where the sync is defined, for messages.
	File string
	// Model is the model read, in the models schema.
	Model string
	// Key is the model column identifying a record.
	Key    string
	Fields []Field
	Mode   Mode
	// OnRemove is what a row leaving the model does.
	OnRemove OnRemove
	// OnDrift is what a field someone changed in the destination after
	// backflow wrote it does (docs/drift.md).
	OnDrift OnDrift
	// CreateFields creates mapped fields the destination lacks.
	CreateFields bool
}

// Field maps a model column to a destination field.
type Field struct {
	Column string
	Field  string
	// Type overrides the destination's type for the field.
	Type string
}

// Mode is how a sync writes.
type Mode string

const (
	// Update changes records that exist; the others are skipped.
	Update Mode = "update"
	// Upsert creates the records that do not exist.
	Upsert Mode = "upsert"
	// Create creates a record per new row and keeps its id.
	Create Mode = "create"
	// Events sends append-only events: a key is sent once, ever.
	Events Mode = "events"
)

// OnRemove is what a row that leaves the model does.
type OnRemove string

const (
	// Ignore forgets it; the destination keeps its values.
	Ignore OnRemove = "ignore"
	// Clear empties the fields the sync wrote.
	Clear OnRemove = "clear"
	// Archive archives the record (destinations that can).
	Archive OnRemove = "archive"
)

// OnDrift is what drift does: a destination value that differs from the
// one backflow last sent, changed after it was sent.
type OnDrift string

const (
	// DriftReport records the drift and sends nothing extra (the default).
	DriftReport OnDrift = "report"
	// DriftOverwrite sends the model's value again.
	DriftOverwrite OnDrift = "overwrite"
	// DriftKeep leaves the edit: the field of that record is not written
	// again (not by a full resync, not cleared on removal) until the
	// model's value changes.
	DriftKeep OnDrift = "keep"
)

// Op is what the diff planned for a row.
type Op string

const (
	Add    Op = "add"
	Change Op = "change"
	Remove Op = "remove"
)

// Row is one record to send: its key, the operation, and the destination
// fields to set (JSON values; null clears).
type Row struct {
	Key    string
	Op     Op
	Values map[string]json.RawMessage
	// Sent holds, for a change or a removal, every field's value as last
	// sent (the snapshot): what a destination that writes pairs, not
	// fields, needs to undo.
	Sent map[string]json.RawMessage
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

// Outcome is what happened to one row.
type Outcome struct {
	Status Status
	Error  string
	// DestID is the id of a record the destination created (create mode);
	// it is kept in the snapshot so the record is updated, not created, next.
	DestID string
}

// All is n outcomes alike.
func All(o Outcome, n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
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

// Status is how the sync ended, as backflow.sync_runs records it: failed
// or stopped when err says so, partial when rows failed or were rejected,
// succeeded otherwise. A run records its status the same way.
func (r Result) Status(err error) string {
	switch {
	case isStopped(err):
		return "stopped"
	case err != nil:
		return "failed"
	case r.Failed+r.Rejected > 0:
		return "partial"
	}
	return "succeeded"
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
