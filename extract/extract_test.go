package extract_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/backflow-dev/backflow/connector/memfile"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestRun_UnreadableTableIsAnError: a stream's table that exists but
// cannot be read (here a view an analyst left over a table since
// dropped) is an error naming it, on a merge and on a whole read alike;
// read as "no table yet", it would be replaced by what this read found.
func TestRun_UnreadableTableIsAnError(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts extract.Options
	}{
		{"merge", extract.Options{}},
		{"full_refresh", extract.Options{FullRefresh: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewManual(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
			store := memfile.NewStore(clk.Now)
			store.Declare("people", "a", "string")
			for _, id := range []string{"p1", "p2", "p3"} {
				store.Put("people", id, map[string]any{"a": "old"})
			}
			src := []extract.Source{&memfile.Source{Store: store, Tables: []string{"people"}, Lookback: time.Minute}}
			w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := extract.Run(ctx, w, "r1", src, extract.Options{Now: clk.Now}); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`CREATE TABLE raw_memfile.people_base AS SELECT * FROM raw_memfile.people`,
				`DROP TABLE raw_memfile.people`,
				`CREATE VIEW raw_memfile.people AS SELECT * FROM raw_memfile.people_base`,
				`DROP TABLE raw_memfile.people_base`,
			} {
				if _, err := w.DB().Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			clk.Advance(time.Hour)
			store.Put("people", "p1", map[string]any{"a": "new"})
			clk.Advance(time.Minute)
			opts := tt.opts
			opts.Now = clk.Now
			_, err = extract.Run(ctx, w, "r2", src, opts)
			if err == nil || !strings.Contains(err.Error(), "memfile/people") || !strings.Contains(err.Error(), "raw_memfile.people") {
				t.Fatalf("err = %v; want an error naming the stream and its table", err)
			}
			var kind, run string
			if err := w.DB().QueryRow(`SELECT table_type FROM information_schema.tables WHERE table_schema = 'raw_memfile' AND table_name = 'people'`).Scan(&kind); err != nil || kind != "VIEW" {
				t.Fatalf("raw_memfile.people is a %q (%v) after the failed read; want the view left as it was", kind, err)
			}
			if err := w.DB().QueryRow(`SELECT run_id FROM backflow.extract_state WHERE stream = 'memfile/people'`).Scan(&run); err != nil || run != "r1" {
				t.Fatalf("extract_state from %q (%v), want r1's", run, err)
			}
		})
	}
}

// groupSource serves one grouped stream (a record's associations): a
// whole read first, then the changes of the reads after it.
type groupSource struct{ reads [][][2]string }

func (g *groupSource) Name() string { return "groups" }

func (g *groupSource) Streams(context.Context) ([]extract.Stream, error) {
	return []extract.Stream{{Name: "groups/links", Schema: "raw_groups", Table: "links", Key: []string{"from_id"}, Grouped: true,
		Arrow: arrow.NewSchema([]arrow.Field{{Name: "from_id", Type: extract.TypeString}, {Name: "to_id", Type: extract.TypeString}}, nil)}}, nil
}

func (g *groupSource) Read(_ context.Context, st extract.Stream, cursor string, emit func(arrow.RecordBatch) error) (extract.ReadResult, error) {
	n, _ := strconv.Atoi(cursor)
	b := array.NewRecordBuilder(memory.DefaultAllocator, st.Arrow)
	defer b.Release()
	for _, r := range g.reads[n] {
		b.Field(0).(*array.StringBuilder).Append(r[0])
		b.Field(1).(*array.StringBuilder).Append(r[1])
	}
	if err := emit(b.NewRecordBatch()); err != nil {
		return extract.ReadResult{}, err
	}
	return extract.ReadResult{Cursor: strconv.Itoa(n + 1), Merge: cursor != ""}, nil
}

// TestRun_GroupedStreamKeepsEveryRowOfAKey: a grouped stream keeps every
// row of a key on a whole read and on a merge (which replaces the groups
// it emits whole and leaves the others), and drops only exact duplicates.
func TestRun_GroupedStreamKeepsEveryRowOfAKey(t *testing.T) {
	ctx := context.Background()
	src := &groupSource{reads: [][][2]string{
		{{"a", "x"}, {"a", "y"}, {"b", "x"}, {"b", "z"}, {"c", "x"}},
		{{"a", "w"}, {"a", "w"}, {"a", "y"}, {"c", "v"}},
	}}
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rows := func() string {
		t.Helper()
		var s string
		if err := w.DB().QueryRow(`SELECT string_agg(from_id || to_id, ' ' ORDER BY from_id, to_id) FROM raw_groups.links`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for i, want := range []string{"ax ay bx bz cx", "aw ay bx bz cv"} {
		if _, err := extract.Run(ctx, w, fmt.Sprint("r", i), []extract.Source{src}, extract.Options{Now: func() time.Time { return time.Date(2026, 11, 1, 12, i, 0, 0, time.UTC) }}); err != nil {
			t.Fatal(err)
		}
		if got := rows(); got != want {
			t.Errorf("after read %d: %q, want %q", i, got, want)
		}
	}
}
