package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Destination sends rows to one object of one API. A connector builds one
// per sync; it serves one plan at a time.
type Destination interface {
	// Describe reads what a plan needs from the API (field definitions,
	// what is left of a daily budget) and declares, for the fields a sync
	// maps, what the destination is and can do. It is called once per
	// plan, before any Apply. A field the destination lacks is an error
	// naming it, unless req.CreateFields is set and the destination can
	// create fields: then it is listed in Description.Missing.
	Describe(ctx context.Context, req Request) (*Description, error)
	// Apply sends one batch, at most Description.BatchSize rows of the
	// plan Describe was called for, and returns one Outcome per row, in
	// order. A non-nil error means the batch's fate is unknown: none of
	// its rows may be recorded as applied, and they are sent again by the
	// next run. A refusal that is about no row in particular is an error,
	// not a batch of rejections (see Isolate). Apply may be called again
	// before a previous call's outcomes are recorded, never concurrently.
	Apply(ctx context.Context, rows []Row) ([]Outcome, error)
}

// Request is what a plan asks Describe about.
type Request struct {
	// Fields are the destination fields the sync maps.
	Fields []string
	// CreateFields asks for the fields the destination lacks to be
	// created before the first batch.
	CreateFields bool
}

// Description is what a destination declares for one plan.
type Description struct {
	// Name describes the target in messages: "hubspot contacts".
	Name string
	// Types holds the destination's type of each mapped field it has.
	Types map[string]string
	// Missing lists mapped fields it lacks and will create (see Request).
	Missing []string
	// BatchSize is the most rows one Apply takes.
	BatchSize int
	// RowsPerCall is how many rows one API call carries: BatchSize when
	// zero; 1 for an API that takes one row per call.
	RowsPerCall int
	Pace        Pace
	// Value returns the SQL expression turning a model column of DuckDB
	// type colType into the JSON value a field of fieldType takes, or an
	// error when the types cannot meet. Required.
	Value func(column, colType, fieldType string) (string, error)
	// Check tells, before sending, why the destination would refuse a
	// row's values ("" when it would not); the row is then recorded as
	// rejected. Nil when the destination refuses nothing up front.
	Check func(values map[string]json.RawMessage) string
	// Creator creates the Missing fields; required when Missing is not
	// empty.
	Creator FieldCreator
	// Observed is where extraction stages the destination's records, so
	// that drift can be checked; nil when it does not, and NotObserved
	// then says why ("hubspot deals are not extracted").
	Observed    *Observed
	NotObserved string
}

// Pace is how fast a destination takes calls, for estimates.
type Pace struct {
	// PerSecond is the sustained calls per second.
	PerSecond float64
	// DailyLeft is what is left of the API's daily budget: -1 when the
	// API has none or did not say.
	DailyLeft int64
	// RowsPerSecond bounds the rows the API processes per second whatever
	// the call rate (Pendo's bulk metadata); 0 when there is no such bound.
	RowsPerSecond float64
}

// FieldCreator creates fields a sync maps and the destination lacks.
type FieldCreator interface {
	// TypeFor is the field type to create for a model column of DuckDB
	// type colType, or an error if there is none.
	TypeFor(colType string) (string, error)
	// Create creates one field; a field that exists already is not an
	// error.
	Create(ctx context.Context, field, fieldType string) error
}

// NewField is a field a plan creates before sending (create_fields).
type NewField struct{ Field, Type string }

// Isolate sends items with send. When send reports that the destination
// refused the whole batch for a bad item (refused, the destination's
// reason), the batch is split in halves until each bad item is alone and
// rejected with that reason; the good items still go through.
//
// A refusal that is not about the rows is not a rejection: when every row
// of a batch of four or more was refused, alone, for one same reason,
// nothing in the batch got through and the rows are not rejected (kept
// out until they change) but left pending, and the error stops the sync:
// it is an outage, a proxy or a setting, and the next run sends them
// again. Destinations report answers that are not the API's own (a
// gateway's HTML page) as errors, never as refusals: those are not split.
func Isolate[T any](items []T, send func([]T) (out []Outcome, refused string, err error)) ([]Outcome, error) {
	out, err := split(items, send)
	if err != nil {
		return nil, err
	}
	if err := RefusedAlike(out); err != nil {
		return nil, err
	}
	return out, nil
}

// RefusedAlike is the error for a batch of four or more rows that were all
// rejected for one same reason (see Isolate), nil otherwise.
func RefusedAlike(out []Outcome) error {
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

// IsInteger reports a DuckDB integer type, for Description.Value.
func IsInteger(colType string) bool {
	switch colType {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT":
		return true
	}
	return false
}

// IsNumeric reports a DuckDB number type.
func IsNumeric(colType string) bool {
	return IsInteger(colType) || colType == "FLOAT" || colType == "DOUBLE" || strings.HasPrefix(colType, "DECIMAL")
}

// SortedFields is a row's field names in order.
func SortedFields(m map[string]json.RawMessage) []string {
	return sortedFields(m)
}
