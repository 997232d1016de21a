package extract

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/api/hubspot"
)

// HubSpot stages CRM objects into raw_hubspot, one table per object type,
// with a typed column per property.
type HubSpot struct {
	Client  *hubspot.Client
	Objects []string

	props map[string][]hubspot.Property // by stream name, from Streams
}

var _ Source = (*HubSpot)(nil)

// Name implements Source.
func (h *HubSpot) Name() string { return "hubspot" }

// fixedColumns come first in every object table.
var fixedColumns = []arrow.Field{
	{Name: "id", Type: typeString},
	{Name: "created_at", Type: typeTimestamp, Nullable: true},
	{Name: "updated_at", Type: typeTimestamp, Nullable: true},
	{Name: "archived", Type: typeBool},
}

// Streams implements Source: one stream per object, its columns from the
// object's property definitions.
func (h *HubSpot) Streams(ctx context.Context) ([]Stream, error) {
	h.props = map[string][]hubspot.Property{}
	var out []Stream
	for _, obj := range h.Objects {
		props, err := h.Client.Properties(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("read %s properties: %w", obj, err)
		}
		slices.SortFunc(props, func(a, b hubspot.Property) int { return cmpString(a.Name, b.Name) })
		fields := slices.Clone(fixedColumns)
		var kept []hubspot.Property
		for _, p := range props {
			if slices.ContainsFunc(fixedColumns, func(f arrow.Field) bool { return f.Name == p.Name }) {
				return nil, fmt.Errorf("%s property %q collides with a column backflow adds", obj, p.Name)
			}
			fields = append(fields, arrow.Field{Name: p.Name, Type: HubSpotColumnType(p.Type), Nullable: true})
			kept = append(kept, p)
		}
		name := "hubspot/" + obj
		h.props[name] = kept
		out = append(out, Stream{Name: name, Schema: "raw_hubspot", Table: obj, Arrow: arrow.NewSchema(fields, nil)})
	}
	return out, nil
}

// HubSpotColumnType maps a HubSpot property type to its staged Arrow type:
// number → DOUBLE, bool → BOOLEAN, date → DATE, datetime → TIMESTAMPTZ,
// everything else (string, enumeration, phone_number, …) → VARCHAR.
func HubSpotColumnType(propertyType string) arrow.DataType {
	switch propertyType {
	case "number":
		return typeDouble
	case "bool":
		return typeBool
	case "date":
		return typeDate
	case "datetime":
		return typeTimestamp
	}
	return typeString
}

// Read implements Source: pages through the list API, one record batch per
// page. The cursor is the latest updatedAt seen.
func (h *HubSpot) Read(ctx context.Context, st Stream, emit func(arrow.RecordBatch) error) (string, error) {
	props, ok := h.props[st.Name]
	if !ok {
		return "", fmt.Errorf("stream %s was not described by Streams", st.Name)
	}
	obj := st.Table
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p.Name
	}
	var latest time.Time
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	err := h.Client.List(ctx, obj, hubspot.ListOptions{Properties: names}, func(objs []hubspot.Object) error {
		for _, o := range objs {
			b.Field(0).(*array.StringBuilder).Append(o.ID)
			appendTime(b.Field(1).(*array.TimestampBuilder), o.CreatedAt)
			appendTime(b.Field(2).(*array.TimestampBuilder), o.UpdatedAt)
			b.Field(3).(*array.BooleanBuilder).Append(o.Archived)
			for i, p := range props {
				col := b.Field(len(fixedColumns) + i)
				v := o.Properties[p.Name]
				if v == nil || (*v == "" && p.Type != "string") {
					col.AppendNull()
					continue
				}
				if err := appendText(col, *v); err != nil {
					return fmt.Errorf("%s %s: property %s (%s): %w", obj, o.ID, p.Name, p.Type, err)
				}
			}
			if o.UpdatedAt.After(latest) {
				latest = o.UpdatedAt
			}
		}
		return emit(b.NewRecordBatch())
	})
	if err != nil {
		return "", err
	}
	if latest.IsZero() {
		return "", nil
	}
	return latest.UTC().Format(time.RFC3339Nano), nil
}

func appendTime(b *array.TimestampBuilder, t time.Time) {
	if t.IsZero() {
		b.AppendNull()
		return
	}
	b.Append(arrow.Timestamp(t.UnixMilli()))
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
