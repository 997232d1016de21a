package extract_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/warehouse"
)

// narrowSource emits n rows of (id, n, amount, at) in batches of 10,000.
type narrowSource struct{ n int }

var narrowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64}, {Name: "at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
}, nil)

func (s narrowSource) Name() string { return "bench" }

func (s narrowSource) Streams(context.Context) ([]extract.Stream, error) {
	return []extract.Stream{{Name: "bench/narrow", Schema: "raw_pendo", Table: "narrow", Arrow: narrowSchema}}, nil
}

func (s narrowSource) Read(ctx context.Context, st extract.Stream, _ string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, narrowSchema)
	defer b.Release()
	ids := b.Field(0).(*array.StringBuilder)
	for i := 0; i < s.n; i++ {
		ids.Append("row-" + strconv.Itoa(i))
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		b.Field(2).(*array.Float64Builder).Append(float64(i) * 1.5)
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(1_795_000_000_000 + int64(i)))
		if (i+1)%10_000 == 0 {
			if err := emit(b.NewRecordBatch()); err != nil {
				return extract.ReadResult{}, err
			}
		}
	}
	return extract.ReadResult{}, emit(b.NewRecordBatch())
}

// BenchmarkIngestNarrow stages 1,000,000 narrow rows into a file-backed
// table through the extraction runner.
func BenchmarkIngestNarrow(b *testing.B) {
	for i := 0; i < b.N; i++ {
		w, err := warehouse.Open(context.Background(), filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := extract.Run(context.Background(), w, "bench", []extract.Source{narrowSource{1_000_000}}, extract.Options{})
		if err != nil || res[0].Rows != 1_000_000 {
			b.Fatalf("%v %v", res, err)
		}
		rate := 1_000_000 / time.Since(start).Seconds()
		w.Close()
		b.ReportMetric(rate, "rows/s")
		fmt.Printf("bench: ingest_narrow_rows_per_s %.0f rows/s\n", rate)
	}
}
