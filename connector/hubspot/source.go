package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/extract"
)

// Source stages CRM objects into raw_hubspot: one table per object type
// with a typed column per property, owners, property definitions, and
// association tables.
type Source struct {
	Client *api.Client
	// Objects to extract: contacts, companies, deals, tickets, tasks,
	// owners, custom object names, or "custom" for every custom object.
	Objects []string
	// Properties limits the properties read per object; absent objects
	// read every property.
	Properties map[string][]string
	// Incremental reads only what changed since the last run, through
	// search windows; otherwise every run lists everything.
	Incremental bool
	// Lookback re-reads this much before the cursor, because search lags
	// writes. Default 5 minutes.
	Lookback time.Duration
	// Associations adds association tables between extracted objects.
	Associations bool
	// Now is the clock; default time.Now.
	Now func() time.Time

	objects map[string]*hsObject // by stream name

	mu   sync.Mutex
	seen map[string][]string // object type → live ids read this run
	full map[string]bool     // object type → read whole this run
	// since and started are an incremental read's window this run, by
	// object type.
	since, started map[string]time.Time
	// lists are the lists the lists stream read this run.
	lists []api.List
}

var _ extract.Source = (*Source)(nil)

type hsObject struct {
	apiType string // what the API takes: contacts, or 2-1234 for a custom object
	table   string
	props   []api.Property
}

// Name implements Source.
func (h *Source) Name() string { return "hubspot" }

// fixedColumns come first in every object table.
var fixedColumns = []arrow.Field{
	{Name: "id", Type: extract.TypeString},
	{Name: "created_at", Type: extract.TypeTimestamp, Nullable: true},
	{Name: "updated_at", Type: extract.TypeTimestamp, Nullable: true},
	{Name: "archived", Type: extract.TypeBool},
}

// association tables: from and to object types and the table name.
var assocTables = []struct{ from, to, table string }{
	{"contacts", "companies", "contact_company"},
	{"deals", "companies", "deal_company"},
	{"deals", "contacts", "deal_contact"},
	{"tickets", "contacts", "ticket_contact"},
	{"tickets", "companies", "ticket_company"},
}

var assocSchema = arrow.NewSchema([]arrow.Field{
	{Name: "from_id", Type: extract.TypeString},
	{Name: "to_id", Type: extract.TypeString, Nullable: true},
	{Name: "type_id", Type: extract.TypeBigint, Nullable: true},
	{Name: "category", Type: extract.TypeString, Nullable: true},
	{Name: "label", Type: extract.TypeString, Nullable: true},
}, nil)

var ownerSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: extract.TypeString}, {Name: "email", Type: extract.TypeString, Nullable: true},
	{Name: "first_name", Type: extract.TypeString, Nullable: true}, {Name: "last_name", Type: extract.TypeString, Nullable: true},
	{Name: "user_id", Type: extract.TypeBigint, Nullable: true}, {Name: "archived", Type: extract.TypeBool},
}, nil)

var propertySchema = arrow.NewSchema([]arrow.Field{
	{Name: "object_type", Type: extract.TypeString}, {Name: "name", Type: extract.TypeString}, {Name: "label", Type: extract.TypeString, Nullable: true},
	{Name: "type", Type: extract.TypeString}, {Name: "field_type", Type: extract.TypeString, Nullable: true}, {Name: "group_name", Type: extract.TypeString, Nullable: true},
	{Name: "description", Type: extract.TypeString, Nullable: true}, {Name: "options", Type: extract.TypeString, Nullable: true},
	{Name: "read_only", Type: extract.TypeBool}, {Name: "calculated", Type: extract.TypeBool}, {Name: "has_unique_value", Type: extract.TypeBool},
	{Name: "hubspot_defined", Type: extract.TypeBool}, {Name: "column_type", Type: extract.TypeString},
}, nil)

// Streams implements Source.
func (h *Source) Streams(ctx context.Context) ([]extract.Stream, error) {
	h.objects = map[string]*hsObject{}
	h.seen, h.full = map[string][]string{}, map[string]bool{}
	h.since, h.started = map[string]time.Time{}, map[string]time.Time{}
	var names []string
	custom := map[string]api.ObjectSchema{}
	wantCustom := false
	for _, o := range h.Objects {
		if o == "custom" {
			wantCustom = true
			continue
		}
		if o != "owners" && o != "lists" && !api.IsStandardObject(o) {
			wantCustom = true
		}
		names = append(names, o)
	}
	if wantCustom {
		schemas, err := h.Client.Schemas(ctx)
		if err != nil {
			return nil, fmt.Errorf("discover custom objects: %w", err)
		}
		for _, sc := range schemas {
			custom[sc.Name] = sc
			if slices.Contains(h.Objects, "custom") && !slices.Contains(names, sc.Name) {
				names = append(names, sc.Name)
			}
		}
	}
	var out []extract.Stream
	for _, name := range names {
		switch name {
		case "owners":
			out = append(out, extract.Stream{Name: "hubspot/owners", Schema: "raw_hubspot", Table: "owners", Arrow: ownerSchema})
			continue
		case "lists":
			out = append(out, listStreams()...)
			continue
		}
		apiType := name
		if sc, ok := custom[name]; ok {
			apiType = sc.ObjectTypeID
		} else if !api.IsStandardObject(name) {
			return nil, fmt.Errorf("object %q is neither a standard object nor a custom object of this account", name)
		}
		props, err := h.Client.Properties(ctx, apiType)
		if err != nil {
			return nil, fmt.Errorf("read %s properties: %w", name, err)
		}
		if want := h.Properties[name]; len(want) > 0 {
			props = slices.DeleteFunc(props, func(p api.Property) bool {
				// The last-modified property is always kept: cursors need it.
				return !slices.Contains(want, p.Name) && p.Name != api.LastModifiedProperty(name) && p.Name != "hs_object_id"
			})
			for _, w := range want {
				if !slices.ContainsFunc(props, func(p api.Property) bool { return p.Name == w }) {
					return nil, fmt.Errorf("%s has no property %q", name, w)
				}
			}
		}
		slices.SortFunc(props, func(a, b api.Property) int { return strings.Compare(a.Name, b.Name) })
		fields := slices.Clone(fixedColumns)
		for _, p := range props {
			if slices.ContainsFunc(fixedColumns, func(f arrow.Field) bool { return f.Name == p.Name }) {
				return nil, fmt.Errorf("%s property %q collides with a column backflow adds", name, p.Name)
			}
			fields = append(fields, arrow.Field{Name: p.Name, Type: ColumnType(p.Type), Nullable: true})
		}
		st := extract.Stream{Name: "hubspot/" + name, Schema: "raw_hubspot", Table: name, Arrow: arrow.NewSchema(fields, nil), Key: []string{"id"}}
		h.objects[st.Name] = &hsObject{apiType: apiType, table: name, props: props}
		out = append(out, st)
	}
	if len(h.objects) > 0 {
		out = append(out, extract.Stream{Name: "hubspot/properties", Schema: "raw_hubspot", Table: "properties", Arrow: propertySchema})
	}
	if h.Associations {
		pairs := slices.Clone(assocTables)
		for name := range custom {
			if _, ok := h.objects["hubspot/"+name]; ok {
				for _, to := range []string{"contacts", "companies", "deals"} {
					pairs = append(pairs, struct{ from, to, table string }{name, to, name + "_" + singular[to]})
				}
			}
		}
		for _, p := range pairs {
			if h.objects["hubspot/"+p.from] == nil || h.objects["hubspot/"+p.to] == nil {
				continue
			}
			out = append(out, extract.Stream{Name: "hubspot/" + p.table, Schema: "raw_hubspot", Table: p.table, Arrow: assocSchema,
				Key: []string{"from_id"}, Grouped: true, Phase: 1, Prune: "to_id IS NULL"})
			h.objects["hubspot/"+p.table] = &hsObject{apiType: p.from + ">" + p.to, table: p.table}
		}
	}
	return out, nil
}

var singular = map[string]string{"contacts": "contact", "companies": "company", "deals": "deal"}

// batchRows is about how many rows a read emits at once.
const batchRows = 2000

// ColumnType maps a HubSpot property type to its staged Arrow type:
// number → DOUBLE, bool → BOOLEAN, date → DATE, datetime → TIMESTAMPTZ,
// everything else (string, enumeration, phone_number, …) → VARCHAR.
func ColumnType(propertyType string) arrow.DataType {
	switch propertyType {
	case "number":
		return extract.TypeDouble
	case "bool":
		return extract.TypeBool
	case "date":
		return extract.TypeDate
	case "datetime":
		return extract.TypeTimestamp
	}
	return extract.TypeString
}

func (h *Source) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Read implements Source.
func (h *Source) Read(ctx context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	switch st.Table {
	case "owners":
		return extract.ReadResult{}, h.readOwners(ctx, st, emit)
	case "lists":
		return extract.ReadResult{}, h.readLists(ctx, st, emit)
	case "list_memberships":
		return h.readListMembers(ctx, st, cursor, emit)
	case "properties":
		return extract.ReadResult{}, h.readProperties(ctx, st, emit)
	}
	obj := h.objects[st.Name]
	if obj == nil {
		return extract.ReadResult{}, fmt.Errorf("stream %s was not described by Streams", st.Name)
	}
	if st.Phase == 1 {
		return h.readAssociations(ctx, st, obj, cursor, emit)
	}
	return h.readObjects(ctx, st, obj, cursor, emit)
}

// readObjects lists everything on a first or full run, and walks search
// windows from cursor − Lookback otherwise. Both then list the archived
// records, which search never returns, so deletions are marked. The new
// cursor is when the read started: a record changed during the read is
// read again next time, never skipped.
func (h *Source) readObjects(ctx context.Context, st extract.Stream, obj *hsObject, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	started := h.now()
	names := make([]string, len(obj.props))
	for i, p := range obj.props {
		names[i] = p.Name
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	var live []string
	var mark time.Time
	set := make([]bool, len(obj.props))
	page := func(p *api.Page) error {
		for i := range p.Len() {
			if err := appendRecord(b, obj, p, i, set); err != nil {
				return err
			}
			if !p.Archived(i) {
				live = append(live, p.ID(i))
				if u := p.UpdatedAt(i); u.After(mark) {
					mark = u
				}
			}
		}
		// Pages of 100 are small batches for DuckDB's ingest, which costs
		// per batch and per column: emit every batchRows.
		if b.Field(0).Len() >= batchRows {
			return emit(b.NewRecordBatch())
		}
		return nil
	}
	incremental := false
	var since time.Time
	if c, ok := extract.TimeCursor(cursor); ok && h.Incremental {
		incremental, since = true, c.Add(-h.lookback())
		if err := h.Client.ModifiedBetweenPages(ctx, obj.apiType, since, started, names, page); err != nil {
			return extract.ReadResult{}, err
		}
	} else if err := h.Client.ListPages(ctx, obj.apiType, api.ListOptions{Properties: names}, page); err != nil {
		return extract.ReadResult{}, err
	}
	if err := h.Client.ListPages(ctx, obj.apiType, api.ListOptions{Properties: names, Archived: true}, page); err != nil {
		return extract.ReadResult{}, err
	}
	if err := emit(b.NewRecordBatch()); err != nil {
		return extract.ReadResult{}, err
	}
	h.mu.Lock()
	h.seen[obj.table] = live
	h.full[obj.table] = !incremental
	h.since[obj.table], h.started[obj.table] = since, started
	h.mu.Unlock()
	next := ""
	if h.Incremental {
		next = started.UTC().Format(time.RFC3339Nano)
	}
	return extract.ReadResult{Cursor: next, Merge: incremental, Watermark: mark}, nil
}

// appendRecord appends record i of a page: the fixed columns, then one
// column per property asked for, in order (the page numbers them so);
// properties the answer added unasked are not columns. set is scratch,
// one flag per property.
func appendRecord(b *array.RecordBuilder, obj *hsObject, p *api.Page, i int, set []bool) error {
	b.Field(0).(*array.StringBuilder).Append(p.ID(i))
	extract.AppendTime(b.Field(1).(*array.TimestampBuilder), p.CreatedAt(i))
	extract.AppendTime(b.Field(2).(*array.TimestampBuilder), p.UpdatedAt(i))
	b.Field(3).(*array.BooleanBuilder).Append(p.Archived(i))
	clear(set)
	var err error
	p.Values(i, func(k int, text []byte, null bool) {
		if k >= len(obj.props) || err != nil {
			return
		}
		set[k] = true
		col, prop := b.Field(len(fixedColumns)+k), obj.props[k]
		if null || (len(text) == 0 && prop.Type != "string") {
			col.AppendNull()
			return
		}
		if e := appendText(col, text); e != nil {
			err = fmt.Errorf("%s %s: property %s (%s): %w", obj.table, p.ID(i), prop.Name, prop.Type, e)
		}
	})
	if err != nil {
		return err
	}
	for k, ok := range set {
		if !ok {
			b.Field(len(fixedColumns) + k).AppendNull()
		}
	}
	return nil
}

func (h *Source) lookback() time.Duration {
	if h.Lookback == 0 {
		return 5 * time.Minute
	}
	return h.Lookback
}

// readAssociations reads the associations of the records the object stream
// read this run: all of them after a full read (the table is replaced),
// the changed ones after an incremental read (merged on from_id). A record
// with none gets a row with a null to_id, so a merge clears what it had;
// those rows are removed after the merge (Stream.Prune).
//
// The table keeps its own cursor: when it is older than the object
// stream's window (a run killed between the two loads), the records
// changed in the gap are found by search too, so no change is skipped.
func (h *Source) readAssociations(ctx context.Context, st extract.Stream, obj *hsObject, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	from, to, _ := strings.Cut(obj.apiType, ">")
	fromType, toType := h.objects["hubspot/"+from].apiType, h.objects["hubspot/"+to].apiType
	h.mu.Lock()
	ids, full := h.seen[from], h.full[from]
	since, started := h.since[from], h.started[from]
	h.mu.Unlock()
	if c, ok := extract.TimeCursor(cursor); ok && !full && !started.IsZero() {
		if gap := c.Add(-h.lookback()); gap.Before(since) {
			seen := map[string]bool{}
			for _, id := range ids {
				seen[id] = true
			}
			err := h.Client.ModifiedBetweenPages(ctx, fromType, gap, since, nil, func(p *api.Page) error {
				for i := range p.Len() {
					if id := p.ID(i); !seen[id] && !p.Archived(i) {
						seen[id] = true
						ids = append(ids, id)
					}
				}
				return nil
			})
			if err != nil {
				return extract.ReadResult{}, err
			}
		}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for start := 0; start < len(ids); start += api.MaxAssociationBatch {
		chunk := ids[start:min(start+api.MaxAssociationBatch, len(ids))]
		got, err := h.Client.AssociationsBatch(ctx, fromType, toType, chunk)
		if err != nil {
			return extract.ReadResult{}, err
		}
		for _, id := range chunk {
			links := got[id]
			if len(links) == 0 && !full {
				b.Field(0).(*array.StringBuilder).Append(id)
				for i := 1; i < 5; i++ {
					b.Field(i).AppendNull()
				}
				continue
			}
			for _, l := range links {
				for _, t := range l.AssociationTypes {
					b.Field(0).(*array.StringBuilder).Append(id)
					b.Field(1).(*array.StringBuilder).Append(l.ToObjectID)
					b.Field(2).(*array.Int64Builder).Append(int64(t.TypeID))
					b.Field(3).(*array.StringBuilder).Append(t.Category)
					if t.Label != nil {
						b.Field(4).(*array.StringBuilder).Append(*t.Label)
					} else {
						b.Field(4).AppendNull()
					}
				}
			}
		}
		if err := emit(b.NewRecordBatch()); err != nil {
			return extract.ReadResult{}, err
		}
	}
	// The engine loads a read without a cursor whole: a merge needs one.
	next := ""
	if h.Incremental && !started.IsZero() {
		next = started.UTC().Format(time.RFC3339Nano)
	}
	return extract.ReadResult{Cursor: next, Merge: !full}, nil
}

func (h *Source) readOwners(ctx context.Context, st extract.Stream, emit func(arrow.RecordBatch) error) error {
	owners, err := h.Client.Owners(ctx)
	if err != nil {
		return err
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, o := range owners {
		b.Field(0).(*array.StringBuilder).Append(o.ID)
		extract.AppendString(b.Field(1), o.Email)
		extract.AppendString(b.Field(2), o.FirstName)
		extract.AppendString(b.Field(3), o.LastName)
		b.Field(4).(*array.Int64Builder).Append(int64(o.UserID))
		b.Field(5).(*array.BooleanBuilder).Append(o.Archived)
	}
	return emit(b.NewRecordBatch())
}

// readProperties stages the definitions of every extracted object's
// properties, with the column type each maps to.
func (h *Source) readProperties(ctx context.Context, st extract.Stream, emit func(arrow.RecordBatch) error) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	var names []string
	for name, o := range h.objects {
		if o.props != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		o := h.objects[name]
		for _, p := range o.props {
			opts, _ := json.Marshal(p.Options)
			b.Field(0).(*array.StringBuilder).Append(o.table)
			b.Field(1).(*array.StringBuilder).Append(p.Name)
			extract.AppendString(b.Field(2), p.Label)
			b.Field(3).(*array.StringBuilder).Append(p.Type)
			extract.AppendString(b.Field(4), p.FieldType)
			extract.AppendString(b.Field(5), p.GroupName)
			extract.AppendString(b.Field(6), p.Description)
			extract.AppendString(b.Field(7), string(opts))
			b.Field(8).(*array.BooleanBuilder).Append(p.ReadOnly())
			b.Field(9).(*array.BooleanBuilder).Append(p.Calculated)
			b.Field(10).(*array.BooleanBuilder).Append(p.HasUniqueValue)
			b.Field(11).(*array.BooleanBuilder).Append(p.HubspotDefined)
			b.Field(12).(*array.StringBuilder).Append(extract.DuckType(ColumnType(p.Type)))
		}
	}
	return emit(b.NewRecordBatch())
}

var _ extract.KeyedReader = (*Source)(nil)

// ReadKeys implements extract.KeyedReader for object streams: a batch
// read of the ids (live, then archived), which sees a change at once,
// where search trails it by seconds. An id HubSpot has neither live nor
// archived is not sent: its row stays as last staged, and the next full
// read marks it.
func (h *Source) ReadKeys(ctx context.Context, st extract.Stream, keys []string, emit func(arrow.RecordBatch) error) (bool, error) {
	obj := h.objects[st.Name]
	if obj == nil || st.Phase != 0 {
		return false, nil
	}
	names := make([]string, len(obj.props))
	for i, p := range obj.props {
		names[i] = p.Name
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	set := make([]bool, len(obj.props))
	_, err := h.Client.ReadByIDPages(ctx, obj.apiType, keys, names, func(p *api.Page) error {
		for i := range p.Len() {
			if err := appendRecord(b, obj, p, i, set); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return true, err
	}
	return true, emit(b.NewRecordBatch())
}

var _ extract.Prober = (*Source)(nil)

// Probe implements extract.Prober for object streams: one search per
// object, for a record modified after the stream's watermark (limit 1:
// only its total matters). A stream never staged is changed. Association
// streams follow their object. A change search does not see yet (it
// trails writes by seconds) is seen by the next probe; one modified in
// the watermark's own millisecond after the read waits for the next full
// run's look-back.
func (h *Source) Probe(ctx context.Context, marks map[string]time.Time) (extract.ProbeResult, error) {
	res := extract.ProbeResult{DailyLimit: -1, DailyLeft: -1}
	for _, name := range slices.Sorted(maps.Keys(h.objects)) {
		obj := h.objects[name]
		if strings.Contains(obj.apiType, ">") {
			continue // an association stream: it follows its object
		}
		res.Probed = append(res.Probed, name)
		changed := true
		if mark, ok := marks[name]; ok {
			prop := api.LastModifiedProperty(obj.apiType)
			page, err := h.Client.Search(ctx, obj.apiType, api.SearchRequest{Limit: 1, Properties: []string{prop},
				FilterGroups: [][]api.Filter{{{PropertyName: prop, Operator: "GT", Value: strconv.FormatInt(mark.UnixMilli(), 10)}}}})
			res.Calls++
			if err != nil {
				return res, fmt.Errorf("probe %s: %w", name, err)
			}
			changed = page.Total > 0
		}
		if changed {
			res.Changed = append(res.Changed, name)
			for _, other := range slices.Sorted(maps.Keys(h.objects)) {
				if from, _, ok := strings.Cut(h.objects[other].apiType, ">"); ok && from == obj.apiType {
					res.Changed = append(res.Changed, other)
				}
			}
		}
	}
	if limit, left, ok := h.Client.Limiter().Daily(); ok {
		res.DailyLimit, res.DailyLeft = int64(limit), int64(left)
	}
	return res, nil
}
