package hubspot

import (
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// appendText parses a property's text into a column builder; an error
// says the text does not fit the column's type.
func appendText(b array.Builder, text []byte) error {
	switch b := b.(type) {
	case *array.StringBuilder:
		b.BinaryBuilder.Append(text)
		return nil
	case *array.Float64Builder:
		// strconv takes the bytes as a string without a copy here.
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", text)
		}
		b.Append(f)
		return nil
	}
	return appendString(b, string(text))
}

func appendString(b array.Builder, v string) error {
	switch b := b.(type) {
	case *array.Float64Builder:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		b.Append(f)
	case *array.Int64Builder:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		b.Append(n)
	case *array.BooleanBuilder:
		switch v {
		case "true":
			b.Append(true)
		case "false":
			b.Append(false)
		default:
			return fmt.Errorf("%q is not a boolean", v)
		}
	case *array.Date32Builder:
		t, err := parseTime(v)
		if err != nil {
			return err
		}
		b.Append(arrow.Date32FromTime(t))
	case *array.TimestampBuilder:
		t, err := parseTime(v)
		if err != nil {
			return err
		}
		b.Append(arrow.Timestamp(t.UnixMilli()))
	default:
		return fmt.Errorf("unsupported column builder %T", b)
	}
	return nil
}

// parseTime reads the encodings HubSpot uses for dates and datetimes:
// epoch milliseconds, YYYY-MM-DD and ISO 8601.
func parseTime(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time", v)
}
