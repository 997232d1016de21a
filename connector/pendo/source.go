package pendo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/api/jsonscan"
	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/extract"
)

// Source stages visitors, accounts (every metadata field of the schema
// flattened to a typed column named <group>__<field>), the metadata schema,
// and event streams into raw_pendo.
type Source struct {
	Client *api.Client
	// Streams to extract: visitors, accounts, events, feature_events,
	// page_events, track_events, guide_events, poll_events.
	Tables []string
	// IncludeAnonymous keeps anonymous (_PENDO_T_…) visitors.
	IncludeAnonymous bool
	// Incremental reads visitors and accounts changed since the last run
	// (metadata.auto.lastupdated), and events from the cursor minus
	// EventLookback; otherwise every run reads everything (events: the
	// last HistoryDays).
	Incremental bool
	// EventLookback re-reads recent events, which Pendo keeps aggregating
	// for hours. Default 8 hours.
	EventLookback time.Duration
	// MetadataLookback re-reads recently updated visitors. Default 1 hour.
	MetadataLookback time.Duration
	// HistoryDays is how far back the first run reads events. Default 30.
	HistoryDays int
	// AllApps reads every app of a multi-app subscription.
	AllApps bool
	// PageSize is the visitors or accounts one aggregation call reads;
	// default the client's (10,000).
	PageSize int
	// Segments names the segments the segments stream stages; empty
	// stages every shared one.
	Segments []string
	Now      func() time.Time

	entities map[string][]pendoColumn // by stream name
	schemas  map[api.Kind]api.Schema

	mu       sync.Mutex
	segments []api.Segment // what the segments stream read this run
}

var _ extract.Source = (*Source)(nil)

type pendoColumn struct {
	group, field, typ string
}

// StreamNames are the streams the Pendo source knows.
func StreamNames() []string {
	return []string{"visitors", "accounts", "events", "feature_events", "page_events", "track_events", "guide_events", "poll_events", "segments"}
}

// eventTables maps event streams to client streams and their columns.
var eventTables = map[string]struct {
	stream string
	cols   []eventColumn
	key    []string
}{
	"events":         {"events", rolled(""), []string{"day", "visitor_id", "account_id", "app_id"}},
	"feature_events": {"featureEvents", rolled("feature_id:featureId"), []string{"day", "visitor_id", "account_id", "app_id", "feature_id"}},
	"page_events":    {"pageEvents", rolled("page_id:pageId"), []string{"day", "visitor_id", "account_id", "app_id", "page_id"}},
	"track_events": {"trackEvents", append(rolled("track_type_id:trackTypeId"), eventColumn{"properties", "properties", extract.TypeString, true}),
		[]string{"day", "visitor_id", "account_id", "app_id", "track_type_id"}},
	"guide_events": {"guideEvents", []eventColumn{
		{"browser_time", "browserTime", extract.TypeTimestamp, false}, {"visitor_id", "visitorId", extract.TypeString, false}, {"account_id", "accountId", extract.TypeString, false},
		{"app_id", "appId", extract.TypeBigint, false}, {"type", "type", extract.TypeString, false}, {"guide_id", "guideId", extract.TypeString, false},
		{"guide_step_id", "guideStepId", extract.TypeString, false}, {"url", "url", extract.TypeString, false}, {"remote_ip", "remoteIp", extract.TypeString, false},
		{"server_name", "serverName", extract.TypeString, false}, {"user_agent", "userAgent", extract.TypeString, false}, {"properties", "properties", extract.TypeString, true},
	}, []string{"browser_time", "visitor_id", "guide_id", "guide_step_id", "type"}},
	"poll_events": {"pollEvents", []eventColumn{
		{"browser_time", "browserTime", extract.TypeTimestamp, false}, {"visitor_id", "visitorId", extract.TypeString, false}, {"account_id", "accountId", extract.TypeString, false},
		{"app_id", "appId", extract.TypeBigint, false}, {"guide_id", "guideId", extract.TypeString, false}, {"guide_step_id", "guideStepId", extract.TypeString, false},
		{"poll_id", "pollId", extract.TypeString, false}, {"poll_type", "pollType", extract.TypeString, false},
		{"response", "pollResponse", extract.TypeString, true}, {"response_number", "pollResponse", extract.TypeDouble, false},
	}, []string{"browser_time", "visitor_id", "guide_id", "poll_id"}},
}

// npsResponses joins each NPS score with the free-text answer the same
// visitor gave to the same guide within the hour after it.
const npsResponses = `CREATE OR REPLACE TABLE raw_pendo.nps_responses AS
SELECT s.visitor_id, s.account_id, s.guide_id, s.browser_time AS responded_at, s.response_number AS score, t.response AS text
FROM raw_pendo.poll_events s
LEFT JOIN raw_pendo.poll_events t
  ON t.poll_type = 'FreeForm' AND t.visitor_id = s.visitor_id AND t.guide_id = s.guide_id
 AND t.browser_time BETWEEN s.browser_time AND s.browser_time + INTERVAL 1 HOUR
WHERE s.poll_type = 'NPSRating'
QUALIFY row_number() OVER (PARTITION BY s.visitor_id, s.guide_id, s.browser_time ORDER BY t.browser_time) = 1`

type eventColumn struct {
	name, field string
	typ         arrow.DataType
	json        bool // keep the value's JSON text
}

func rolled(idCol string) []eventColumn {
	cols := []eventColumn{{"day", "day", extract.TypeTimestamp, false}, {"visitor_id", "visitorId", extract.TypeString, false},
		{"account_id", "accountId", extract.TypeString, false}, {"app_id", "appId", extract.TypeBigint, false}}
	if name, field, ok := strings.Cut(idCol, ":"); ok {
		cols = append(cols, eventColumn{name, field, extract.TypeString, false})
	}
	return append(cols, eventColumn{"num_events", "numEvents", extract.TypeBigint, false}, eventColumn{"num_minutes", "numMinutes", extract.TypeBigint, false},
		eventColumn{"first_time", "firstTime", extract.TypeTimestamp, false}, eventColumn{"last_time", "lastTime", extract.TypeTimestamp, false},
		eventColumn{"remote_ip", "remoteIp", extract.TypeString, false}, eventColumn{"server", "server", extract.TypeString, false},
		eventColumn{"user_agent", "userAgent", extract.TypeString, false})
}

var schemaSchema = arrow.NewSchema([]arrow.Field{
	{Name: "kind", Type: extract.TypeString}, {Name: "group_name", Type: extract.TypeString}, {Name: "field", Type: extract.TypeString},
	{Name: "type", Type: extract.TypeString}, {Name: "display_name", Type: extract.TypeString, Nullable: true}, {Name: "element_type", Type: extract.TypeString, Nullable: true},
	{Name: "is_deleted", Type: extract.TypeBool}, {Name: "column_name", Type: extract.TypeString}, {Name: "column_type", Type: extract.TypeString},
}, nil)

// catalogSchema is raw_pendo.catalog: the names behind the ids event
// streams carry (features, pages, guides, track event types).
var catalogSchema = arrow.NewSchema([]arrow.Field{
	{Name: "kind", Type: extract.TypeString}, {Name: "id", Type: extract.TypeString}, {Name: "name", Type: extract.TypeString, Nullable: true},
	{Name: "app_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// catalogSources are Pendo's catalog sources, by the kind staged.
var catalogSources = []struct{ kind, source string }{
	{"feature", "features"}, {"page", "pages"}, {"guide", "guides"}, {"track_type", "trackTypes"},
}

// Name implements Source.
func (p *Source) Name() string { return "pendo" }

// Streams implements Source.
func (p *Source) Streams(ctx context.Context) ([]extract.Stream, error) {
	p.entities = map[string][]pendoColumn{}
	var out []extract.Stream
	schemas := map[api.Kind]api.Schema{}
	events := false
	for _, name := range p.Tables {
		switch name {
		case "segments":
			out = append(out, segmentStreams()...)
		case "visitors", "accounts":
			kind, idCol := api.Visitor, "visitor_id"
			if name == "accounts" {
				kind, idCol = api.Account, "account_id"
			}
			schema, err := p.Client.Schema(ctx, kind)
			if err != nil {
				return nil, fmt.Errorf("read %s metadata schema: %w", kind, err)
			}
			schemas[kind] = schema
			fields := []arrow.Field{{Name: idCol, Type: extract.TypeString}}
			var cols []pendoColumn
			for _, group := range sortedKeys(schema) {
				for _, field := range sortedKeys(schema[group]) {
					f := schema[group][field]
					if f.IsDeleted {
						continue
					}
					cols = append(cols, pendoColumn{group: group, field: field, typ: f.Type})
					fields = append(fields, arrow.Field{Name: group + "__" + field, Type: ColumnType(f.Type), Nullable: true})
				}
			}
			// Groups the schema does not list (per-app auto__<appId>, …)
			// are kept as JSON rather than dropped.
			fields = append(fields, arrow.Field{Name: "metadata_extra", Type: extract.TypeString, Nullable: true})
			st := "pendo/" + name
			p.entities[st] = cols
			out = append(out, extract.Stream{Name: st, Schema: "raw_pendo", Table: name, Arrow: arrow.NewSchema(fields, nil), Key: []string{idCol}})
		default:
			et, ok := eventTables[name]
			if !ok {
				return nil, fmt.Errorf("unknown stream %q", name)
			}
			fields := make([]arrow.Field, len(et.cols))
			for i, c := range et.cols {
				fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
			}
			st := extract.Stream{Name: "pendo/" + name, Schema: "raw_pendo", Table: name, Arrow: arrow.NewSchema(fields, nil), Key: et.key, Windowed: true}
			if name == "poll_events" {
				st.After, st.Derived = npsResponses, []string{"nps_responses"}
			}
			out = append(out, st)
			events = true
		}
	}
	if events {
		// Event streams carry ids; the catalog names them.
		out = append(out, extract.Stream{Name: "pendo/catalog", Schema: "raw_pendo", Table: "catalog", Arrow: catalogSchema})
	}
	if len(schemas) > 0 {
		p.entities["pendo/metadata_schema"] = nil
		out = append(out, extract.Stream{Name: "pendo/metadata_schema", Schema: "raw_pendo", Table: "metadata_schema", Arrow: schemaSchema})
		p.schemas = schemas
	}
	return out, nil
}

// ColumnType maps a Pendo metadata type to its staged Arrow type:
// string → VARCHAR, boolean → BOOLEAN, integer → BIGINT, float → DOUBLE,
// time → TIMESTAMPTZ, list → VARCHAR[], untyped ("") → VARCHAR holding the
// value's JSON.
func ColumnType(t string) arrow.DataType {
	switch t {
	case "boolean":
		return extract.TypeBool
	case "integer":
		return extract.TypeBigint
	case "float":
		return extract.TypeDouble
	case "time":
		return extract.TypeTimestamp
	case "list":
		return extract.TypeList
	}
	return extract.TypeString
}

func (p *Source) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Read implements Source.
func (p *Source) Read(ctx context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	switch st.Table {
	case "visitors", "accounts":
		return p.readEntities(ctx, st, cursor, emit)
	case "metadata_schema":
		return extract.ReadResult{}, p.readSchema(st, emit)
	case "catalog":
		return extract.ReadResult{}, p.readCatalog(ctx, st, emit)
	case "segments":
		return extract.ReadResult{}, p.readSegments(ctx, st, emit)
	case "segment_members":
		return extract.ReadResult{}, p.readSegmentMembers(ctx, st, emit)
	}
	return p.readEvents(ctx, st, cursor, emit)
}

// readEntities reads every visitor or account, or on incremental runs
// those whose metadata.auto.lastupdated is at or after the cursor minus
// MetadataLookback. The new cursor is when the read started.
func (p *Source) readEntities(ctx context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	started := p.now()
	cols := p.entities[st.Name]
	opts := api.ListOptions{IncludeAnonymous: p.IncludeAnonymous, PageSize: p.PageSize}
	since, incremental := extract.TimeCursor(cursor)
	incremental = incremental && p.Incremental
	if incremental {
		lb := p.MetadataLookback
		if lb == 0 {
			lb = time.Hour
		}
		opts.UpdatedSince = since.Add(-lb)
	}
	list := p.Client.Visitors
	if st.Table == "accounts" {
		list = p.Client.Accounts
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	r := newEntityReader(cols)
	n := 0
	var mark time.Time
	err := list(ctx, opts, func(e *api.Entity) error {
		if err := r.append(b, e); err != nil {
			return fmt.Errorf("%s %s: %w", st.Table, e.ID, err)
		}
		if at := lastUpdated(e); at.After(mark) {
			mark = at
		}
		if n++; n%batchRows == 0 {
			return emit(b.NewRecordBatch())
		}
		return nil
	})
	if err == nil {
		err = emit(b.NewRecordBatch())
	}
	if err != nil {
		return extract.ReadResult{}, err
	}
	next := ""
	if p.Incremental {
		next = started.UTC().Format(time.RFC3339Nano)
	}
	return extract.ReadResult{Cursor: next, Merge: incremental, Watermark: mark}, nil
}

// lastUpdated is a visitor's or account's metadata.auto.lastupdated (ms);
// zero when it has none.
func lastUpdated(e *api.Entity) time.Time {
	var at time.Time
	e.Fields(func(group, field []byte, v jsonscan.Value) error {
		if string(group) == "auto" && string(field) == "lastupdated" {
			if ms, ok := v.Int(); ok {
				at = time.UnixMilli(ms).UTC()
			}
		}
		return nil
	})
	return at
}

var _ extract.Prober = (*Source)(nil)

// errFound ends a probe's read at its first row.
var errFound = errors.New("found")

// Probe implements extract.Prober for visitors and accounts: one
// aggregation call each, for a row updated after the stream's watermark
// (a page of one). Event streams are not probed: Pendo processes events
// hourly, and full runs read them with their look-back.
func (p *Source) Probe(ctx context.Context, marks map[string]time.Time) (extract.ProbeResult, error) {
	res := extract.ProbeResult{DailyLimit: -1, DailyLeft: -1}
	for _, name := range slices.Sorted(maps.Keys(p.entities)) {
		table := strings.TrimPrefix(name, "pendo/")
		if table != "visitors" && table != "accounts" {
			continue
		}
		res.Probed = append(res.Probed, name)
		mark, ok := marks[name]
		if !ok {
			res.Changed = append(res.Changed, name)
			continue
		}
		list := p.Client.Visitors
		if table == "accounts" {
			list = p.Client.Accounts
		}
		err := list(ctx, api.ListOptions{IncludeAnonymous: p.IncludeAnonymous, PageSize: 1, UpdatedSince: mark.Add(time.Millisecond)},
			func(*api.Entity) error { return errFound })
		res.Calls++
		switch {
		case errors.Is(err, errFound):
			res.Changed = append(res.Changed, name)
		case err != nil:
			return res, fmt.Errorf("probe %s: %w", name, err)
		}
	}
	return res, nil
}

func (p *Source) readSchema(st extract.Stream, emit func(arrow.RecordBatch) error) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, kind := range []api.Kind{api.Visitor, api.Account} {
		schema := p.schemas[kind]
		for _, group := range sortedKeys(schema) {
			for _, field := range sortedKeys(schema[group]) {
				f := schema[group][field]
				b.Field(0).(*array.StringBuilder).Append(string(kind))
				b.Field(1).(*array.StringBuilder).Append(group)
				b.Field(2).(*array.StringBuilder).Append(field)
				b.Field(3).(*array.StringBuilder).Append(f.Type)
				extract.AppendString(b.Field(4), f.DisplayName)
				extract.AppendString(b.Field(5), f.ElementType)
				b.Field(6).(*array.BooleanBuilder).Append(f.IsDeleted)
				b.Field(7).(*array.StringBuilder).Append(group + "__" + field)
				b.Field(8).(*array.StringBuilder).Append(extract.DuckType(ColumnType(f.Type)))
			}
		}
	}
	return emit(b.NewRecordBatch())
}

// readCatalog reads every catalog source, whole, each run.
func (p *Source) readCatalog(ctx context.Context, st extract.Stream, emit func(arrow.RecordBatch) error) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, c := range catalogSources {
		rows, err := p.Client.Catalog(ctx, c.source, p.AllApps)
		if err != nil {
			return fmt.Errorf("read %s: %w", c.source, err)
		}
		for _, r := range rows {
			b.Field(0).(*array.StringBuilder).Append(c.kind)
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint(r["id"]))
			name, _ := r["name"].(string)
			extract.AppendString(b.Field(2), name)
			if app, ok := r["appId"].(float64); ok {
				b.Field(3).(*array.Int64Builder).Append(int64(app))
			} else {
				b.Field(3).AppendNull()
			}
		}
	}
	return emit(b.NewRecordBatch())
}

// readEvents reads an event stream from the cursor minus EventLookback (or
// HistoryDays back on a first or full run) to now. Re-read buckets replace
// the stored ones: a merge on the stream's natural key, so re-extraction
// is idempotent and late data lands.
func (p *Source) readEvents(ctx context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	et := eventTables[st.Table]
	to := p.now()
	days := p.HistoryDays
	if days == 0 {
		days = 30
	}
	from := to.AddDate(0, 0, -days)
	since, incremental := extract.TimeCursor(cursor)
	incremental = incremental && p.Incremental
	if incremental {
		lb := p.EventLookback
		if lb == 0 {
			lb = 8 * time.Hour
		}
		from = since.Add(-lb)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	n := 0
	q := api.EventQuery{Stream: api.Streams[et.stream], From: from, To: to, AllApps: p.AllApps}
	byField := map[string][]int{}
	for i, c := range et.cols {
		byField[c.field] = append(byField[c.field], i)
	}
	vals := make([]jsonscan.Value, len(et.cols))
	err := p.Client.EventRows(ctx, q, func(row jsonscan.Value) error {
		clear(vals)
		// A repeated member counts once, the last, as encoding/json has it.
		err := row.Members(func(key []byte, value jsonscan.Value) error {
			for _, i := range byField[string(key)] {
				vals[i] = value
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s row: %w", st.Table, err)
		}
		for i, c := range et.cols {
			if err := appendEvent(b.Field(i), c, vals[i]); err != nil {
				return fmt.Errorf("%s row: %s: %w", st.Table, c.field, err)
			}
		}
		if n++; n%batchRows == 0 {
			return emit(b.NewRecordBatch())
		}
		return nil
	})
	if err != nil {
		return extract.ReadResult{}, err
	}
	if err := emit(b.NewRecordBatch()); err != nil {
		return extract.ReadResult{}, err
	}
	next := ""
	if p.Incremental {
		next = to.UTC().Format(time.RFC3339Nano)
	}
	return extract.ReadResult{Cursor: next, Merge: incremental}, nil
}

// batchRows is how many rows a read emits at once.
const batchRows = 4096

// entityReader appends visitor or account rows to a record builder: the
// id, one column per schema field, and metadata_extra holding the groups
// the schema does not list.
type entityReader struct {
	cols  []pendoColumn
	index map[string]map[string]int // group → field → column
	vals  []jsonscan.Value
	extra map[string]json.RawMessage
}

func newEntityReader(cols []pendoColumn) *entityReader {
	r := &entityReader{cols: cols, index: map[string]map[string]int{}, vals: make([]jsonscan.Value, len(cols))}
	for i, c := range cols {
		if r.index[c.group] == nil {
			r.index[c.group] = map[string]int{}
		}
		r.index[c.group][c.field] = i
	}
	return r
}

func (r *entityReader) append(b *array.RecordBuilder, e *api.Entity) error {
	clear(r.vals)
	clear(r.extra)
	err := e.Groups(func(group []byte, fields jsonscan.Value) error {
		if fields.Kind() != jsonscan.Object {
			return fmt.Errorf("metadata group %s is %s, not an object", group, fields.Kind())
		}
		known, ok := r.index[string(group)]
		if !ok {
			if r.extra == nil {
				r.extra = map[string]json.RawMessage{}
			}
			r.extra[string(group)] = bytes.Clone(fields.Raw())
			return nil
		}
		return fields.Members(func(field []byte, value jsonscan.Value) error {
			if i, ok := known[string(field)]; ok {
				r.vals[i] = value
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	b.Field(0).(*array.StringBuilder).Append(e.ID)
	for i, c := range r.cols {
		if err := appendJSON(b.Field(i+1), c.typ, r.vals[i]); err != nil {
			return fmt.Errorf("%s.%s (%s): %w", c.group, c.field, c.typ, err)
		}
	}
	extra := b.Field(len(r.cols) + 1).(*array.StringBuilder)
	if len(r.extra) == 0 {
		extra.AppendNull()
		return nil
	}
	// Rare (per-app groups): kept as encoding/json writes it, groups and
	// fields sorted.
	others := map[string]map[string]json.RawMessage{}
	for g, raw := range r.extra {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return fmt.Errorf("metadata group %s: %w", g, err)
		}
		others[g] = fields
	}
	j, err := json.Marshal(others)
	if err != nil {
		return fmt.Errorf("metadata_extra: %w", err)
	}
	extra.Append(string(j))
	return nil
}

// appendEvent appends one event field: null when absent; JSON columns
// keep a string's text or any other value's JSON; a number column takes
// no text (a poll's free-form answer has none).
func appendEvent(col array.Builder, c eventColumn, v jsonscan.Value) error {
	switch kind := v.Kind(); {
	case kind == jsonscan.Invalid || kind == jsonscan.Null:
		col.AppendNull()
	case c.json:
		sb := col.(*array.StringBuilder)
		if kind == jsonscan.String {
			sb.BinaryBuilder.Append(v.Text(nil))
		} else {
			sb.BinaryBuilder.Append(v.Raw())
		}
	case c.typ == extract.TypeDouble:
		if f, ok := v.Float(); ok {
			col.(*array.Float64Builder).Append(f)
		} else {
			col.AppendNull()
		}
	case c.typ == extract.TypeTimestamp:
		return appendJSON(col, "time", v)
	case c.typ == extract.TypeBigint:
		return appendJSON(col, "integer", v)
	default:
		return appendJSON(col, "string", v)
	}
	return nil
}

// appendJSON appends one metadata value, typed by the schema; the zero
// Value (absent) and null append a null.
func appendJSON(b array.Builder, typ string, v jsonscan.Value) error {
	kind, raw := v.Kind(), v.Raw()
	if kind == jsonscan.Invalid || kind == jsonscan.Null {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		if typ != "" && kind == jsonscan.String {
			b.BinaryBuilder.Append(v.Text(nil))
		} else {
			b.BinaryBuilder.Append(raw) // untyped or not a string: keep the JSON text
		}
	case *array.BooleanBuilder:
		switch string(raw) {
		case "true":
			b.Append(true)
		case "false":
			b.Append(false)
		default:
			return fmt.Errorf("%s is not a boolean", raw)
		}
	case *array.Int64Builder:
		if n, ok := jsonscan.Int(raw); ok {
			b.Append(n)
			return nil
		}
		f, ok := jsonscan.Float(raw)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s is not an integer", raw)
		}
		b.Append(int64(f))
	case *array.Float64Builder:
		f, ok := jsonscan.Float(raw)
		if !ok {
			return fmt.Errorf("%s is not a number", raw)
		}
		b.Append(f)
	case *array.TimestampBuilder:
		if ms, ok := jsonscan.Float(raw); ok {
			b.Append(arrow.Timestamp(int64(ms)))
			return nil
		}
		if kind != jsonscan.String {
			return fmt.Errorf("%s is not a time", raw)
		}
		t, err := time.Parse(time.RFC3339Nano, string(v.Text(nil)))
		if err != nil {
			return fmt.Errorf("%s is not a time", raw)
		}
		b.Append(arrow.Timestamp(t.UnixMilli()))
	case *array.ListBuilder:
		if kind != jsonscan.Array {
			return fmt.Errorf("%s is not a list", raw)
		}
		vb := b.ValueBuilder().(*array.StringBuilder)
		b.Append(true)
		return v.Elements(func(it jsonscan.Value) error {
			switch it.Kind() {
			case jsonscan.String:
				vb.BinaryBuilder.Append(it.Text(nil))
			default:
				// As encoding/json writes a decoded value back.
				var v any
				if err := json.Unmarshal(it.Raw(), &v); err != nil {
					return err
				}
				j, _ := json.Marshal(v)
				vb.Append(string(j))
			}
			return nil
		})
	default:
		return fmt.Errorf("unsupported column builder %T", b)
	}
	return nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
