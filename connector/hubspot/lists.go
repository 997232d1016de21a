package hubspot

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/extract"
)

// Lists are staged when extract.objects names "lists": raw_hubspot.lists
// (every list, read whole each run: one search call per 500 lists) and
// raw_hubspot.list_memberships (one row per list and member). A run reads
// the members of the lists that changed since the table's cursor (less
// the look-back), by their last-added, last-removed and updated times,
// and of every DYNAMIC list (their filters move members without HubSpot
// saying when), replacing those lists' rows; members of a list that is
// gone are pruned.

var listSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: extract.TypeString}, {Name: "name", Type: extract.TypeString},
	{Name: "object_type_id", Type: extract.TypeString}, {Name: "processing_type", Type: extract.TypeString},
	{Name: "processing_status", Type: extract.TypeString, Nullable: true}, {Name: "size", Type: extract.TypeBigint, Nullable: true},
	{Name: "updated_at", Type: extract.TypeTimestamp, Nullable: true},
	{Name: "last_added_at", Type: extract.TypeTimestamp, Nullable: true}, {Name: "last_removed_at", Type: extract.TypeTimestamp, Nullable: true},
}, nil)

var listMemberSchema = arrow.NewSchema([]arrow.Field{
	{Name: "list_id", Type: extract.TypeString}, {Name: "record_id", Type: extract.TypeString, Nullable: true},
	{Name: "added_at", Type: extract.TypeTimestamp, Nullable: true},
}, nil)

// listStreams are the two list tables.
func listStreams() []extract.Stream {
	return []extract.Stream{
		{Name: "hubspot/lists", Schema: "raw_hubspot", Table: "lists", Arrow: listSchema, Key: []string{"id"}},
		{Name: "hubspot/list_memberships", Schema: "raw_hubspot", Table: "list_memberships", Arrow: listMemberSchema,
			Key: []string{"list_id"}, Grouped: true, Phase: 1,
			Prune: "record_id IS NULL OR list_id NOT IN (SELECT id FROM raw_hubspot.lists)"},
	}
}

// readLists stages every list and keeps them for the memberships read.
func (h *Source) readLists(ctx context.Context, st extract.Stream, emit func(arrow.RecordBatch) error) error {
	lists, err := h.Client.Lists(ctx, "")
	if err != nil {
		return err
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, l := range lists {
		b.Field(0).(*array.StringBuilder).Append(l.ListID)
		b.Field(1).(*array.StringBuilder).Append(l.Name)
		b.Field(2).(*array.StringBuilder).Append(l.ObjectTypeID)
		b.Field(3).(*array.StringBuilder).Append(l.ProcessingType)
		extract.AppendString(b.Field(4), l.ProcessingStatus)
		b.Field(5).(*array.Int64Builder).Append(l.Size)
		extract.AppendTime(b.Field(6).(*array.TimestampBuilder), l.UpdatedAt)
		extract.AppendTime(b.Field(7).(*array.TimestampBuilder), l.LastAdded)
		extract.AppendTime(b.Field(8).(*array.TimestampBuilder), l.LastRemoved)
	}
	h.mu.Lock()
	h.lists = lists
	h.mu.Unlock()
	return emit(b.NewRecordBatch())
}

// readListMembers stages the members of the lists that changed (every
// list on a first read), merged by list.
func (h *Source) readListMembers(ctx context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	started := h.now()
	h.mu.Lock()
	lists := h.lists
	h.mu.Unlock()
	since, incremental := extract.TimeCursor(cursor)
	incremental = incremental && h.Incremental
	since = since.Add(-h.lookback())
	changed := func(l api.List) bool {
		if !incremental || !l.Writable() {
			return true
		}
		for _, t := range []time.Time{l.UpdatedAt, l.LastAdded, l.LastRemoved} {
			if !t.Before(since) {
				return true
			}
		}
		return false
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, l := range lists {
		if !changed(l) {
			continue
		}
		n := 0
		err := h.Client.ListMembers(ctx, l.ListID, func(ms []api.Member) error {
			for _, m := range ms {
				b.Field(0).(*array.StringBuilder).Append(l.ListID)
				b.Field(1).(*array.StringBuilder).Append(m.RecordID)
				extract.AppendTime(b.Field(2).(*array.TimestampBuilder), m.Joined)
				n++
			}
			if b.Field(0).Len() >= batchRows {
				return emit(b.NewRecordBatch())
			}
			return nil
		})
		if err != nil {
			return extract.ReadResult{}, err
		}
		if n == 0 {
			// No members: a marker row, so the merge clears what the list
			// had (pruned after the load).
			b.Field(0).(*array.StringBuilder).Append(l.ListID)
			b.Field(1).AppendNull()
			b.Field(2).AppendNull()
		}
	}
	if err := emit(b.NewRecordBatch()); err != nil {
		return extract.ReadResult{}, err
	}
	next := ""
	if h.Incremental {
		next = started.UTC().Format(time.RFC3339Nano)
	}
	return extract.ReadResult{Cursor: next, Merge: incremental}, nil
}
