package memfile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
)

// New is the connector over store, named memfile.
func New(store *Store) connector.Connector { return &memConnector{store: store} }

type memConnector struct{ store *Store }

func (c *memConnector) Name() string { return "memfile" }

// Config is the memfile block of backflow.yml.
type Config struct {
	// Tables are extracted into raw_memfile.
	Tables []string `yaml:"tables"`
	// Lookback re-reads records updated this long before the cursor.
	Lookback connector.Duration `yaml:"lookback"`
	// BatchRows is the rows of one batch a read emits. Default 1000.
	BatchRows int `yaml:"batch_rows"`

	store *Store
}

func (c *memConnector) Configure(b connector.Block) (connector.Config, error) {
	cfg := &Config{store: c.store}
	if err := b.Decode(cfg); err != nil {
		return nil, err
	}
	for i, t := range cfg.Tables {
		if !connector.Identifier.MatchString(t) {
			return nil, b.Errorf(fmt.Sprintf("tables[%d]", i), "%q is not a table name", t)
		}
	}
	if cfg.BatchRows < 0 {
		return nil, b.Errorf("batch_rows", "must be positive")
	}
	if cfg.BatchRows == 0 {
		cfg.BatchRows = 1000
	}
	return cfg, nil
}

func (c *Config) Secrets() []connector.Secret  { return nil }
func (c *Config) Constants() map[string]string { return nil }

type target struct {
	table   string
	mode    load.Mode
	archive bool
	size    int
}

func (t *target) String() string { return "memfile " + t.table }

// Sync implements connector.Config: object is a table; mode update
// (default) or events; 100 rows a batch.
func (c *Config) Sync(s *connector.Sync) (connector.Target, error) {
	if s.Spec.Mode == "" {
		s.Spec.Mode = load.Update
	}
	if s.Spec.Mode != load.Update && s.Spec.Mode != load.Events {
		return nil, s.File.Errorf("mode", "memfile syncs use mode update or events, not %q", s.Spec.Mode)
	}
	if s.BatchSize == 0 {
		s.BatchSize = 100
	}
	return &target{table: s.Object, mode: s.Spec.Mode, archive: s.Spec.OnRemove == load.Archive, size: s.BatchSize}, nil
}

// SyncKeys implements connector.Config: memfile syncs have no keys of
// their own.
func (c *Config) SyncKeys() any { return &struct{}{} }

func (c *Config) Open(env connector.Env) (connector.Session, error) { return &session{cfg: c}, nil }

type session struct{ cfg *Config }

func (s *session) Source() extract.Source {
	if len(s.cfg.Tables) == 0 {
		return nil
	}
	return &Source{Store: s.cfg.store, Tables: s.cfg.Tables, Lookback: s.cfg.Lookback.Duration, BatchRows: s.cfg.BatchRows}
}

func (s *session) Destination(t connector.Target, _ float64) (load.Destination, error) {
	tg, ok := t.(*target)
	if !ok {
		return nil, fmt.Errorf("memfile: %v is not a memfile target", t)
	}
	return &Destination{Store: s.cfg.store, Table: tg.table, Events: tg.mode == load.Events, Archive: tg.archive, Size: tg.size}, nil
}

// Source reads tables of the store into raw_memfile, incrementally by
// each record's update time.
type Source struct {
	Store     *Store
	Tables    []string
	Lookback  time.Duration
	BatchRows int
}

var _ extract.Source = (*Source)(nil)

func (s *Source) Name() string { return "memfile" }

// arrowType is a declared field's staged type.
func arrowType(typ string) arrow.DataType {
	switch typ {
	case "number":
		return extract.TypeDouble
	case "bool":
		return extract.TypeBool
	case "time":
		return extract.TypeTimestamp
	}
	return extract.TypeString
}

// Streams implements extract.Source: a stream per table, its columns the
// fields declared now.
func (s *Source) Streams(ctx context.Context) ([]extract.Stream, error) {
	var out []extract.Stream
	for _, name := range s.Tables {
		fields := s.Store.fields(name)
		cols := []arrow.Field{{Name: "id", Type: extract.TypeString}, {Name: "updated_at", Type: extract.TypeTimestamp}, {Name: "archived", Type: extract.TypeBool}}
		for _, f := range sortedKeys(fields) {
			cols = append(cols, arrow.Field{Name: f, Type: arrowType(fields[f]), Nullable: true})
		}
		out = append(out, extract.Stream{Name: "memfile/" + name, Schema: "raw_memfile", Table: name, Arrow: arrow.NewSchema(cols, nil), Key: []string{"id"}})
	}
	return out, nil
}

// Read implements extract.Source: every record without a cursor; those
// updated since the cursor minus Lookback with one, to merge.
func (s *Source) Read(ctx context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	start := s.Store.now()
	since, incremental := extract.TimeCursor(cursor)
	if incremental {
		since = since.Add(-s.Lookback)
	}
	_, ids, rows, updated, deleted, err := s.Store.snapshot(st.Table, since)
	if err != nil {
		return extract.ReadResult{}, err
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return extract.ReadResult{}, err
		}
		if err := appendRow(b, st.Arrow, id, rows[i], updated[i], deleted[i]); err != nil {
			return extract.ReadResult{}, fmt.Errorf("record %s: %w", id, err)
		}
		if b.Field(0).Len() >= max(s.BatchRows, 1) {
			if err := emit(b.NewRecordBatch()); err != nil {
				return extract.ReadResult{}, err
			}
		}
	}
	if err := emit(b.NewRecordBatch()); err != nil {
		return extract.ReadResult{}, err
	}
	return extract.ReadResult{Cursor: start.UTC().Format(time.RFC3339Nano), Merge: incremental}, nil
}

func appendRow(b *array.RecordBuilder, schema *arrow.Schema, id string, vals map[string]any, updated time.Time, deleted bool) error {
	b.Field(0).(*array.StringBuilder).Append(id)
	extract.AppendTime(b.Field(1).(*array.TimestampBuilder), updated)
	b.Field(2).(*array.BooleanBuilder).Append(deleted)
	for i := 3; i < len(schema.Fields()); i++ {
		v, ok := vals[schema.Field(i).Name]
		if !ok {
			b.Field(i).AppendNull()
			continue
		}
		switch fb := b.Field(i).(type) {
		case *array.StringBuilder:
			fb.Append(fmt.Sprint(v))
		case *array.Float64Builder:
			f, ok := v.(float64)
			if !ok {
				return fmt.Errorf("%s: %v is not a number", schema.Field(i).Name, v)
			}
			fb.Append(f)
		case *array.BooleanBuilder:
			bv, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%s: %v is not a bool", schema.Field(i).Name, v)
			}
			fb.Append(bv)
		case *array.TimestampBuilder:
			tv, ok := v.(time.Time)
			if !ok {
				return fmt.Errorf("%s: %v is not a time", schema.Field(i).Name, v)
			}
			extract.AppendTime(fb, tv)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Destination writes records of one table (update mode: records must
// exist), or appends events (events mode: one per key, ever). A call
// holding a value outside a field's allowed set is refused whole.
type Destination struct {
	Store  *Store
	Table  string
	Events bool
	// Archive archives the records of rows that leave the model
	// (on_remove archive); otherwise a removal clears the fields.
	Archive bool
	Size    int
}

var (
	_ load.Destination  = (*Destination)(nil)
	_ load.FieldCreator = (*Destination)(nil)
)

// Describe implements load.Destination.
func (d *Destination) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	fields := d.Store.fields(d.Table)
	out := &load.Description{Name: "memfile " + d.Table, Types: map[string]string{}, BatchSize: max(d.Size, 1),
		Pace: load.Pace{PerSecond: 1000, DailyLeft: -1}, Value: valueSQL, Creator: d}
	for _, f := range req.Fields {
		typ, ok := fields[f]
		switch {
		case !ok && req.CreateFields:
			out.Missing = append(out.Missing, f)
		case !ok:
			return nil, fmt.Errorf("fields: memfile %s has no field %q", d.Table, f)
		default:
			out.Types[f] = typ
		}
	}
	return out, nil
}

func valueSQL(col, colType, fieldType string) (string, error) {
	switch fieldType {
	case "string":
		return "CAST(" + col + " AS VARCHAR)", nil
	case "number":
		if load.IsNumeric(colType) {
			return "CAST(" + col + " AS DOUBLE)", nil
		}
	case "bool":
		if colType == "BOOLEAN" {
			return col, nil
		}
	case "time":
		if colType == "DATE" || strings.HasPrefix(colType, "TIMESTAMP") {
			return "strftime(CAST(" + col + " AS TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S.%fZ')", nil
		}
	}
	return "", fmt.Errorf("a %s column cannot feed a memfile %s field", colType, fieldType)
}

// TypeFor implements load.FieldCreator.
func (d *Destination) TypeFor(colType string) (string, error) {
	switch {
	case colType == "VARCHAR":
		return "string", nil
	case load.IsNumeric(colType):
		return "number", nil
	case colType == "BOOLEAN":
		return "bool", nil
	case colType == "DATE" || strings.HasPrefix(colType, "TIMESTAMP"):
		return "time", nil
	}
	return "", fmt.Errorf("no memfile field type holds a %s column", colType)
}

// Create implements load.FieldCreator.
func (d *Destination) Create(_ context.Context, field, fieldType string) error {
	d.Store.Declare(d.Table, field, fieldType)
	return nil
}

// Apply implements load.Destination.
func (d *Destination) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	return load.Isolate(rows, func(rows []load.Row) ([]load.Outcome, string, error) {
		return d.call(ctx, rows)
	})
}

// call is one call: refused whole for one bad value; done, then maybe
// failed (a fault after the work).
func (d *Destination) call(ctx context.Context, rows []load.Row) ([]load.Outcome, string, error) {
	s := d.Store
	s.mu.Lock()
	s.calls++
	n, hook := s.calls, s.onApply
	s.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(d.Table)
	for _, r := range rows {
		if why := t.refuse(r.Values); why != "" {
			return nil, why, nil
		}
	}
	out := make([]load.Outcome, len(rows))
	for i, r := range rows {
		out[i] = d.write(t, r)
	}
	if s.errRate > 0 && s.rng.Float64() < s.errRate {
		return nil, "", errServer
	}
	return out, "", nil
}

// refuse is why the table refuses a row's values, "" when it takes them.
func (t *table) refuse(values map[string]json.RawMessage) string {
	for _, f := range load.SortedFields(values) {
		var v string
		if allowed := t.allowed[f]; len(allowed) > 0 && json.Unmarshal(values[f], &v) == nil && v != "" && !slices.Contains(allowed, v) {
			return fmt.Sprintf("%s: %q is not one of the field's values", f, v)
		}
	}
	return ""
}

// write applies one row, the store locked.
func (d *Destination) write(t *table, r load.Row) load.Outcome {
	vals := map[string]any{}
	for k, raw := range r.Values {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return load.Outcome{Status: load.Rejected, Error: fmt.Sprintf("%s: %v", k, err)}
		}
		vals[k] = v
	}
	if d.Events {
		if slices.ContainsFunc(t.events, func(e Event) bool { return e.Key == r.Key }) {
			return load.Outcome{Status: load.Applied} // one per key, as HubSpot keeps one per uuid
		}
		t.events = append(t.events, Event{Key: r.Key, Values: vals})
		return load.Outcome{Status: load.Applied}
	}
	rec := t.records[r.Key]
	if rec == nil || rec.archived {
		return load.Outcome{Status: load.SkippedNotFound, Error: fmt.Sprintf("no record %q", r.Key)}
	}
	if d.Archive && r.Op == load.Remove {
		rec.archived = true
		return load.Outcome{Status: load.Applied}
	}
	d.Store.put(t, r.Key, vals)
	return load.Outcome{Status: load.Applied}
}
