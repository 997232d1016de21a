// Package extracttest is the conformance suite every source passes: a
// full read, an incremental read merged, a look-back overlap read twice
// and kept once, schema drift, a read cancelled halfway that leaves the
// table as it was, an empty source, and a source error that names its
// stream. A connector's test calls Run with a Source describing one of
// its streams over its emulator.
package extracttest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/warehouse"
)

// Source is one source under test.
type Source struct {
	Name string
	// New builds a fresh source over a fresh emulator holding no records.
	New func(t *testing.T) *Fixture
}

// Fixture is one source, ready.
type Fixture struct {
	Source extract.Source
	// Stream is the stream under test ("hubspot/contacts"); its table
	// holds a row per record, identified by KeyColumn, and ValueColumn
	// holds the value Put writes.
	Stream                 string
	Schema, Table          string
	KeyColumn, ValueColumn string
	// Put creates the record ref names (the suite's own name for it), or
	// changes it, at the source's present, with value; it returns the
	// record's id as KeyColumn holds it. A read a minute later sees the
	// change (an API's index may lag its writes by less).
	Put func(ref, value string) string
	// Advance moves the source's (and its emulator's) clock forward.
	Advance func(d time.Duration)
	// Now is the source's clock, for extract.Options.Now.
	Now func() time.Time
	// Lookback is how far before its cursor an incremental read starts.
	Lookback time.Duration
	// Many is a number of records whose read takes more than one batch.
	Many int
	// AddColumn makes the source send one more column (a new property,
	// a new metadata field) and returns its name in the table; Set gives
	// a record a value in it.
	AddColumn func() string
	Set       func(ref, column, value string)
	// Fail makes every read of the stream fail (true), or work again.
	Fail func(bool)

	// Whole marks a stream read whole every run (no cursor, no look-back):
	// a second read replaces the table and is not merged.
	Whole bool
	// With are streams read with it, whose tables it reads from (a
	// membership stream's lists).
	With []string
	// Value is how the table holds a value Put wrote (a list's id for
	// the list named value); nil when it holds it as written.
	Value func(value string) string
	// Keyed: the source reads this stream by key (extract.KeyedReader).
	Keyed bool
	// Probed: the source's Probe (extract.Prober) looks at this stream.
	Probed bool
}

// Run runs the suite against src. A case a stream cannot have is left
// out, by what the fixture declares: the look-back overlap for a Whole
// stream, schema drift without AddColumn (fixed columns), a read
// cancelled halfway when Many is 0 (one batch holds any read).
func Run(t *testing.T, src Source) {
	f := src.New(t)
	t.Run("full_read", func(t *testing.T) { fullRead(t, src) })
	t.Run("incremental_read", func(t *testing.T) { incremental(t, src) })
	if !f.Whole {
		t.Run("lookback_overlap_deduplicated", func(t *testing.T) { overlap(t, src) })
	}
	if f.AddColumn != nil {
		t.Run("schema_drift", func(t *testing.T) { drift(t, src) })
	}
	if f.Many > 0 {
		t.Run("cancel_halfway_keeps_table", func(t *testing.T) { cancelHalfway(t, src) })
	}
	t.Run("empty_source", func(t *testing.T) { empty(t, src) })
	t.Run("error_names_stream", func(t *testing.T) { failing(t, src) })
	if f.Keyed {
		t.Run("keyed_read", func(t *testing.T) { keyed(t, src) })
	}
	if f.Probed {
		t.Run("probe", func(t *testing.T) { probe(t, src) })
	}
}

// probe: a stream never staged is changed; once read, it is not, until
// a record changes; the read after that leaves it unchanged again.
func probe(t *testing.T, src Source) {
	r := newRun(t, src)
	p, ok := r.Source.(extract.Prober)
	if !ok {
		t.Fatal("the fixture says Probed, but the source is no extract.Prober")
	}
	if _, err := r.Source.Streams(context.Background()); err != nil {
		t.Fatal(err)
	}
	changed := func() bool {
		t.Helper()
		marks, err := extract.Watermarks(context.Background(), r.w)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Probe(context.Background(), marks)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.Probed, r.Stream) {
			t.Fatalf("the probe did not look at %s: %+v", r.Stream, res)
		}
		return slices.Contains(res.Changed, r.Stream)
	}
	r.put("a", "alpha")
	r.Advance(time.Minute)
	if !changed() {
		t.Fatal("a stream never staged is not changed")
	}
	r.mustExtract()
	r.Advance(time.Minute)
	if changed() {
		t.Fatal("changed right after a read, with nothing new")
	}
	r.put("a", "alpha2")
	r.Advance(time.Minute)
	if !changed() {
		t.Fatal("a changed record was not seen")
	}
	r.mustExtract()
	r.Advance(time.Minute)
	if changed() {
		t.Fatal("still changed after the read")
	}
}

// keyed reads two chosen records at once after they changed (no clock
// moves: an index's lag cannot hide them), one of them gone at the
// source's end; the others stay as staged, and the cursor does not move.
func keyed(t *testing.T, src Source) {
	r := newRun(t, src)
	r.put("a", "alpha")
	r.put("b", "beta")
	r.put("c", "gamma")
	r.Advance(time.Minute)
	r.mustExtract()
	before := r.state()
	r.put("b", "beta2")
	r.put("c", "gamma2")
	res, err := r.extract(context.Background(), extract.Options{Keys: map[string][]string{r.Stream: {r.ids["b"], "no-such-record-42"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Merged || res.Rows != 1 {
		t.Fatalf("keyed read: %v; want 1 row merged", res)
	}
	r.want(map[string]string{"a": "alpha", "b": "beta2", "c": "gamma"})
	cursor := func(s string) string { return strings.SplitN(s, "/", 2)[0] }
	if after := r.state(); cursor(after) != cursor(before) {
		t.Fatalf("the keyed read moved the cursor: %s → %s", before, after)
	}
	// The next read from the cursor still sees c.
	r.Advance(time.Minute)
	r.mustExtract()
	r.want(map[string]string{"a": "alpha", "b": "beta2", "c": "gamma2"})
}

type run struct {
	*Fixture
	t    *testing.T
	w    *warehouse.Warehouse
	ids  map[string]string
	runs int
}

func newRun(t *testing.T, src Source) *run {
	t.Helper()
	f := src.New(t)
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &run{Fixture: f, t: t, w: w, ids: map[string]string{}}
}

func (r *run) put(ref, value string) {
	r.ids[ref] = r.Put(ref, value)
}

// extract runs the stream alone.
func (r *run) extract(ctx context.Context, opts extract.Options) (extract.Result, error) {
	r.runs++
	opts.Only = append([]string{r.Stream}, r.With...)
	opts.Now = r.Now
	res, err := extract.Run(ctx, r.w, fmt.Sprint("r", r.runs), []extract.Source{r.Source}, opts)
	for _, x := range res {
		if x.Stream == r.Stream {
			return x, err
		}
	}
	return extract.Result{}, err
}

func (r *run) mustExtract() extract.Result {
	r.t.Helper()
	res, err := r.extract(context.Background(), extract.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// table is the stream's table: key → value.
func (r *run) table() map[string]string {
	r.t.Helper()
	rows, err := r.w.DB().Query(fmt.Sprintf(`SELECT CAST(%s AS VARCHAR), coalesce(CAST(%s AS VARCHAR), '') FROM %s`,
		warehouse.Ident(r.KeyColumn), warehouse.Ident(r.ValueColumn), warehouse.Table(r.Schema, r.Table)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			r.t.Fatal(err)
		}
		if _, dup := out[k]; dup {
			r.t.Fatalf("%s.%s holds key %s twice", r.Schema, r.Table, k)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// want checks the table holds exactly refs → values.
func (r *run) want(values map[string]string) {
	r.t.Helper()
	got := r.table()
	if len(got) != len(values) {
		r.t.Fatalf("%s holds %d rows, want %d: %v", r.Table, len(got), len(values), got)
	}
	for ref, v := range values {
		if r.Value != nil {
			v = r.Value(v)
		}
		if g, ok := got[r.ids[ref]]; !ok || g != v {
			r.t.Fatalf("%s %s (id %s) = %q (present %v), want %q", r.Table, ref, r.ids[ref], g, ok, v)
		}
	}
}

// state is the stream's row in backflow.extract_state.
func (r *run) state() string {
	r.t.Helper()
	var s string
	if err := r.w.DB().QueryRow(`SELECT coalesce(cursor, '') || '/' || rows || '/' || run_id FROM backflow.extract_state WHERE stream = ?`, r.Stream).Scan(&s); err != nil {
		r.t.Fatal(err)
	}
	return s
}

func fullRead(t *testing.T, src Source) {
	r := newRun(t, src)
	r.put("a", "alpha")
	r.put("b", "beta")
	r.put("c", "gamma")
	r.Advance(time.Minute)
	if res := r.mustExtract(); res.Rows < 3 || res.Merged {
		t.Fatalf("first read: %v; want 3 rows or more, replaced", res)
	}
	r.want(map[string]string{"a": "alpha", "b": "beta", "c": "gamma"})
}

func incremental(t *testing.T, src Source) {
	r := newRun(t, src)
	r.put("a", "alpha")
	r.put("b", "beta")
	r.Advance(time.Minute)
	r.mustExtract()
	r.Advance(time.Hour)
	r.put("b", "beta2")
	r.put("c", "gamma")
	r.Advance(time.Minute)
	res := r.mustExtract()
	if res.Merged == r.Whole {
		t.Fatalf("second read: %v; want it merged (read whole: %v)", res, r.Whole)
	}
	r.want(map[string]string{"a": "alpha", "b": "beta2", "c": "gamma"})
}

func overlap(t *testing.T, src Source) {
	r := newRun(t, src)
	r.put("a", "alpha")
	r.put("b", "beta")
	r.Advance(time.Minute)
	r.mustExtract()
	r.Advance(time.Hour)
	r.put("b", "beta2")
	r.Advance(time.Minute)
	r.mustExtract()
	// The next read starts Lookback before the cursor: the change to b
	// is inside it and read again, and the table keeps it once.
	r.Advance(min(time.Minute, r.Lookback/2))
	res := r.mustExtract()
	if res.Rows == 0 {
		t.Fatalf("the read within the look-back read nothing again: %v (look-back %s)", res, r.Lookback)
	}
	r.want(map[string]string{"a": "alpha", "b": "beta2"})
}

func drift(t *testing.T, src Source) {
	r := newRun(t, src)
	r.put("a", "alpha")
	r.Advance(time.Minute)
	r.mustExtract()
	col := r.AddColumn()
	r.Advance(time.Hour)
	r.Set("a", col, "new")
	r.put("b", "beta")
	r.Advance(time.Minute)
	res := r.mustExtract()
	if len(res.Changes) == 0 {
		t.Fatalf("the new column %s was not reported: %v", col, res)
	}
	var got string
	if err := r.w.DB().QueryRow(fmt.Sprintf(`SELECT CAST(%s AS VARCHAR) FROM %s WHERE CAST(%s AS VARCHAR) = ?`, warehouse.Ident(col),
		warehouse.Table(r.Schema, r.Table), warehouse.Ident(r.KeyColumn)), r.ids["a"]).Scan(&got); err != nil || got != "new" {
		t.Fatalf("the new column holds %q (%v), want new", got, err)
	}
	var recorded int
	if err := r.w.DB().QueryRow(`SELECT count(*) FROM backflow.schema_changes WHERE stream = ? AND column_name = ? AND action = 'added'`, r.Stream, col).Scan(&recorded); err != nil || recorded != 1 {
		t.Fatalf("backflow.schema_changes has %d rows for %s (%v), want 1", recorded, col, err)
	}
	r.want(map[string]string{"a": "alpha", "b": "beta"})
}

func cancelHalfway(t *testing.T, src Source) {
	r := newRun(t, src)
	want := map[string]string{}
	for i := range r.Many {
		ref := fmt.Sprintf("r%04d", i)
		r.put(ref, "old")
		want[ref] = "old"
	}
	r.Advance(time.Minute)
	r.mustExtract()
	before := r.state()
	r.Advance(time.Hour)
	for i := range r.Many {
		r.put(fmt.Sprintf("r%04d", i), "new")
	}
	r.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := r.extract(ctx, extract.Options{FullRefresh: true, Progress: func(_ string, rows int64) {
		if rows > 0 {
			cancel() // after the first batch arrived
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled read returned %v, want context.Canceled", err)
	}
	r.want(want)
	if after := r.state(); after != before {
		t.Fatalf("the cancelled read moved the stream's state from %s to %s", before, after)
	}
	// The next read completes.
	r.mustExtract()
	for ref := range want {
		want[ref] = "new"
	}
	r.want(want)
}

func empty(t *testing.T, src Source) {
	r := newRun(t, src)
	if res := r.mustExtract(); res.Rows != 0 {
		t.Fatalf("an empty source read %d rows", res.Rows)
	}
	r.want(map[string]string{})
	var cols int
	if err := r.w.DB().QueryRow(`SELECT count(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name IN (?, ?)`,
		r.Schema, r.Table, r.KeyColumn, r.ValueColumn).Scan(&cols); err != nil || cols != 2 {
		t.Fatalf("the empty table has %d of its key and value columns (%v)", cols, err)
	}
}

func failing(t *testing.T, src Source) {
	r := newRun(t, src)
	r.put("a", "alpha")
	r.Advance(time.Minute)
	r.mustExtract()
	before := r.state()
	r.Advance(time.Hour)
	r.put("a", "alpha2")
	r.Advance(time.Minute)
	r.Fail(true)
	_, err := r.extract(context.Background(), extract.Options{})
	if err == nil || !strings.Contains(err.Error(), r.Stream) {
		t.Fatalf("a failing read returned %v, want an error naming %s", err, r.Stream)
	}
	r.want(map[string]string{"a": "alpha"})
	if after := r.state(); after != before {
		t.Fatalf("the failed read moved the stream's state from %s to %s", before, after)
	}
	r.Fail(false)
	r.mustExtract()
	r.want(map[string]string{"a": "alpha2"})
}
