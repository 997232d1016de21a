package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/api/pendo"
)

// Pendo stages visitors and accounts into raw_pendo, with every metadata
// field of the schema flattened to a typed column named <group>__<field>.
type Pendo struct {
	Client           *pendo.Client
	Objects          []string // "visitors", "accounts"
	IncludeAnonymous bool

	columns map[string][]pendoColumn // by stream name
}

var _ Source = (*Pendo)(nil)

type pendoColumn struct {
	group, field, typ string
}

// Name implements Source.
func (p *Pendo) Name() string { return "pendo" }

// Streams implements Source.
func (p *Pendo) Streams(ctx context.Context) ([]Stream, error) {
	p.columns = map[string][]pendoColumn{}
	var out []Stream
	for _, name := range p.Objects {
		kind, idCol := pendo.Visitor, "visitor_id"
		if name == "accounts" {
			kind, idCol = pendo.Account, "account_id"
		}
		schema, err := p.Client.Schema(ctx, kind)
		if err != nil {
			return nil, fmt.Errorf("read %s metadata schema: %w", kind, err)
		}
		fields := []arrow.Field{{Name: idCol, Type: typeString}}
		var cols []pendoColumn
		for _, group := range sortedKeys(schema) {
			for _, field := range sortedKeys(schema[group]) {
				f := schema[group][field]
				if f.IsDeleted {
					continue
				}
				cols = append(cols, pendoColumn{group: group, field: field, typ: f.Type})
				fields = append(fields, arrow.Field{Name: group + "__" + field, Type: PendoColumnType(f.Type), Nullable: true})
			}
		}
		stream := "pendo/" + name
		p.columns[stream] = cols
		out = append(out, Stream{Name: stream, Schema: "raw_pendo", Table: name, Arrow: arrow.NewSchema(fields, nil)})
	}
	return out, nil
}

// PendoColumnType maps a Pendo metadata type to its staged Arrow type:
// string → VARCHAR, boolean → BOOLEAN, integer → BIGINT, float → DOUBLE,
// time → TIMESTAMPTZ, list → VARCHAR[], untyped ("") → VARCHAR holding the
// value's JSON.
func PendoColumnType(t string) arrow.DataType {
	switch t {
	case "boolean":
		return typeBool
	case "integer":
		return typeBigint
	case "float":
		return typeDouble
	case "time":
		return typeTimestamp
	case "list":
		return typeList
	}
	return typeString
}

// Read implements Source. The cursor is the latest auto.lastupdated seen,
// in epoch milliseconds.
func (p *Pendo) Read(ctx context.Context, st Stream, emit func(arrow.RecordBatch) error) (string, error) {
	cols, ok := p.columns[st.Name]
	if !ok {
		return "", fmt.Errorf("stream %s was not described by Streams", st.Name)
	}
	list := p.Client.Visitors
	if st.Table == "accounts" {
		list = p.Client.Accounts
	}
	var latest int64
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	err := list(ctx, pendo.ListOptions{IncludeAnonymous: p.IncludeAnonymous}, func(page []pendo.Entity) error {
		for _, e := range page {
			b.Field(0).(*array.StringBuilder).Append(e.ID)
			for i, c := range cols {
				raw := e.Metadata[c.group][c.field]
				if err := appendJSON(b.Field(i+1), c.typ, raw); err != nil {
					return fmt.Errorf("%s %s: %s.%s (%s): %w", st.Table, e.ID, c.group, c.field, c.typ, err)
				}
			}
			var lu int64
			if json.Unmarshal(e.Metadata["auto"]["lastupdated"], &lu) == nil && lu > latest {
				latest = lu
			}
		}
		return emit(b.NewRecordBatch())
	})
	if err != nil {
		return "", err
	}
	if latest == 0 {
		return "", nil
	}
	return strconv.FormatInt(latest, 10), nil
}

// appendJSON appends one metadata value, typed by the schema.
func appendJSON(b array.Builder, typ string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		var s string
		if typ != "" && json.Unmarshal(raw, &s) == nil {
			b.Append(s)
		} else {
			b.Append(string(raw)) // untyped or not a string: keep the JSON text
		}
	case *array.BooleanBuilder:
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s is not a boolean", raw)
		}
		b.Append(v)
	case *array.Int64Builder:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || f != float64(int64(f)) {
			return fmt.Errorf("%s is not an integer", raw)
		}
		b.Append(int64(f))
	case *array.Float64Builder:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return fmt.Errorf("%s is not a number", raw)
		}
		b.Append(f)
	case *array.TimestampBuilder:
		var ms float64
		if json.Unmarshal(raw, &ms) == nil {
			b.Append(arrow.Timestamp(int64(ms)))
			return nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%s is not a time", raw)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%s is not a time", raw)
		}
		b.Append(arrow.Timestamp(t.UnixMilli()))
	case *array.ListBuilder:
		var items []any
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("%s is not a list", raw)
		}
		vb := b.ValueBuilder().(*array.StringBuilder)
		b.Append(true)
		for _, it := range items {
			if s, ok := it.(string); ok {
				vb.Append(s)
			} else {
				j, _ := json.Marshal(it)
				vb.Append(string(j))
			}
		}
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
