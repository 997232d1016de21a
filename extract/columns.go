package extract

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Arrow types of staged columns, the vocabulary sources build their
// schemas from; DuckDB holds them as VARCHAR, DOUBLE, BIGINT, BOOLEAN,
// DATE, TIMESTAMPTZ and VARCHAR[] (see DuckType).
var (
	TypeString    arrow.DataType = arrow.BinaryTypes.String
	TypeDouble    arrow.DataType = arrow.PrimitiveTypes.Float64
	TypeBigint    arrow.DataType = arrow.PrimitiveTypes.Int64
	TypeBool      arrow.DataType = arrow.FixedWidthTypes.Boolean
	TypeDate      arrow.DataType = arrow.FixedWidthTypes.Date32
	TypeTimestamp arrow.DataType = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	TypeList      arrow.DataType = arrow.ListOf(arrow.BinaryTypes.String)
)

// DuckType is the DuckDB type a staged column of Arrow type t gets.
func DuckType(t arrow.DataType) string {
	switch t.ID() {
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.DATE32:
		return "DATE"
	case arrow.TIMESTAMP:
		return "TIMESTAMP WITH TIME ZONE"
	case arrow.INT64:
		return "BIGINT"
	case arrow.LIST:
		return "VARCHAR[]"
	}
	return "VARCHAR"
}

// AppendString appends v to a string column, "" as NULL.
func AppendString(b array.Builder, v string) {
	if v == "" {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(v)
}

// AppendTime appends t to a TypeTimestamp column, the zero time as NULL.
func AppendTime(b *array.TimestampBuilder, t time.Time) {
	if t.IsZero() {
		b.AppendNull()
		return
	}
	b.Append(arrow.Timestamp(t.UnixMilli()))
}

// TimeCursor reads a cursor that is an RFC 3339 instant, as sources that
// resume from a time write it; false for no cursor, or one that is not an
// instant (then the stream is read whole, which replaces its table).
func TimeCursor(c string) (time.Time, bool) {
	if c == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, c)
	return t, err == nil
}
