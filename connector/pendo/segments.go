package pendo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/extract"
)

// The segments stream stages raw_pendo.segments (the shared segments, or
// the ones extract.segments names) and raw_pendo.segment_members (one row
// per segment and visitor Pendo knows). Pendo says nothing of when a
// segment's members change (they follow the data), so both are read
// whole every run: one aggregation per segment and page.

var segmentSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: extract.TypeString}, {Name: "name", Type: extract.TypeString},
	{Name: "created_by_api", Type: extract.TypeBool}, {Name: "updated_at", Type: extract.TypeTimestamp, Nullable: true},
}, nil)

var segmentMemberSchema = arrow.NewSchema([]arrow.Field{
	{Name: "segment_id", Type: extract.TypeString}, {Name: "visitor_id", Type: extract.TypeString, Nullable: true},
}, nil)

// segmentStreams are the two segment tables. The members table is
// Windowed, which spares it the mass-removal guard: a segment can lose
// most of its members at once (its rule changed), and that is no lost read.
func segmentStreams() []extract.Stream {
	return []extract.Stream{
		{Name: "pendo/segments", Schema: "raw_pendo", Table: "segments", Arrow: segmentSchema, Key: []string{"id"}},
		{Name: "pendo/segment_members", Schema: "raw_pendo", Table: "segment_members", Arrow: segmentMemberSchema,
			Key: []string{"segment_id"}, Grouped: true, Phase: 1, Windowed: true},
	}
}

// readSegments stages the segments and keeps them for the members read.
// A segment the project names that Pendo does not share is an error.
func (p *Source) readSegments(ctx context.Context, st extract.Stream, emit func(arrow.RecordBatch) error) error {
	all, err := p.Client.Segments(ctx)
	if err != nil {
		return err
	}
	segs := all
	if len(p.Segments) > 0 {
		segs = nil
		for _, name := range p.Segments {
			i := slices.IndexFunc(all, func(s api.Segment) bool { return s.Name == name })
			if i < 0 {
				names := make([]string, len(all))
				for j, s := range all {
					names[j] = s.Name
				}
				return fmt.Errorf("extract.segments: Pendo shares no segment named %q (it shares: %s); a segment must be shared with Everyone", name, strings.Join(names, ", "))
			}
			segs = append(segs, all[i])
		}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, s := range segs {
		b.Field(0).(*array.StringBuilder).Append(s.ID)
		b.Field(1).(*array.StringBuilder).Append(s.Name)
		b.Field(2).(*array.BooleanBuilder).Append(s.CreatedByAPI)
		extract.AppendTime(b.Field(3).(*array.TimestampBuilder), s.UpdatedAt)
	}
	p.mu.Lock()
	p.segments = segs
	p.mu.Unlock()
	return emit(b.NewRecordBatch())
}

// readSegmentMembers stages every staged segment's members, whole.
func (p *Source) readSegmentMembers(ctx context.Context, st extract.Stream, emit func(arrow.RecordBatch) error) error {
	p.mu.Lock()
	segs := p.segments
	p.mu.Unlock()
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, s := range segs {
		err := p.Client.SegmentMembers(ctx, s.ID, p.PageSize, func(id string) error {
			b.Field(0).(*array.StringBuilder).Append(s.ID)
			b.Field(1).(*array.StringBuilder).Append(id)
			if b.Field(0).Len() >= 10_000 {
				return emit(b.NewRecordBatch())
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("segment %q: %w", s.Name, err)
		}
	}
	return emit(b.NewRecordBatch())
}
