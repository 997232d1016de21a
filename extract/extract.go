// Package extract stages source APIs into the raw_* schemas of the
// warehouse. Each source (hubspot.go, pendo.go) implements Source; Run
// drives them and owns the DuckDB side: Arrow ingest into a staging table,
// replacing or merging into the stream's table, schema drift, and the
// stream's row in backflow.extract_state, all in one transaction.
package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/backflow-dev/backflow/warehouse"
)

// Stream is one table a source fills.
type Stream struct {
	// Name identifies the stream in state and messages: "hubspot/contacts".
	Name string
	// Schema and Table locate it in the warehouse: raw_hubspot.contacts.
	Schema, Table string
	// Arrow is the schema of every batch Read emits.
	Arrow *arrow.Schema
	// Key lists the columns that identify a row; a merging read replaces
	// the rows whose key it emits. Streams without a key are always
	// replaced whole.
	Key []string
	// Grouped says Key names a group of rows, not one (a record's
	// associations, one row per target and type): a merge replaces each
	// group it emits whole, and only rows equal in every column count as
	// duplicates. Otherwise a key read twice keeps its last row.
	Grouped bool
	// Phase orders streams of one source: all streams of phase 0 run
	// (concurrently) before any of phase 1. Association streams read the
	// ids their object streams saw.
	Phase int
	// Prune, when set, is a predicate of rows deleted after every load:
	// markers a merge needed (an association row with no target) but
	// readers must not see.
	Prune string
	// After, when set, is SQL run in the load's transaction once the table
	// is loaded: derived tables such as raw_pendo.nps_responses.
	After string
	// Derived names the tables After creates, in the stream's schema
	// ("nps_responses"): preflight knows them as extracted.
	Derived []string
	// Windowed streams read a window even without a cursor (events of the
	// last history_days): a whole read may hold fewer rows than the table
	// has gathered, so the mass-removal guard leaves them alone.
	Windowed bool
}

// ReadResult is what a read did.
type ReadResult struct {
	// Cursor is where the next run resumes; "" forgets it (full refresh
	// next time).
	Cursor string
	// Merge says the rows are changes to merge on Stream.Key, not the whole
	// table.
	Merge bool
	// Watermark, when the source knows it, is the newest modification
	// time among every row the table now holds as read: a Prober asks
	// for what changed after it. Zero keeps the one recorded.
	Watermark time.Time
}

// Prober is a Source that can tell, in a call per stream or less,
// which of its streams changed after their watermarks (a serve poll
// then reads only those). Probe looks at the streams the Source's last
// Streams call described (none before one), so a poller calls Streams
// once and Probe many times. It gets each stream's watermark (absent:
// none recorded) and returns the streams to read; streams it cannot
// probe it leaves out (full runs read them). ProbeResult says what the
// probe cost and, where the API says, the budget left.
type Prober interface {
	Probe(ctx context.Context, marks map[string]time.Time) (ProbeResult, error)
}

// ProbeResult is what a probe found.
type ProbeResult struct {
	// Changed are the streams with rows changed after their watermarks,
	// and those (associations) that follow them.
	Changed []string
	// Probed are the streams it looked at.
	Probed []string
	// Calls is the API calls the probe made.
	Calls int
	// DailyLimit and DailyLeft are the API's daily budget and what is
	// left of it (-1 when the API does not say).
	DailyLimit, DailyLeft int64
}

// Watermarks are the streams' recorded watermarks.
func Watermarks(ctx context.Context, w *warehouse.Warehouse) (map[string]time.Time, error) {
	rows, err := w.DB().QueryContext(ctx, `SELECT stream, watermark FROM backflow.extract_state WHERE watermark IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("extract: read watermarks: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var s string
		var t time.Time
		if err := rows.Scan(&s, &t); err != nil {
			return nil, fmt.Errorf("extract: read watermarks: %w", err)
		}
		out[s] = t
	}
	return out, rows.Err()
}

// Source stages one API. Streams is called once per run; Read may be
// called concurrently for different streams of the same phase.
type Source interface {
	// Name is the source's name: "hubspot", "pendo".
	Name() string
	// Streams describes the configured streams, reading the definitions
	// (HubSpot properties, the Pendo metadata schema) their columns come
	// from.
	Streams(ctx context.Context) ([]Stream, error)
	// Read sends rows of stream to emit as record batches with schema
	// stream.Arrow. With an empty cursor it sends every row; with a cursor
	// it may send only what changed since, and says so in Merge. emit owns
	// each batch passed to it; Read stops at emit's first error and
	// returns it.
	Read(ctx context.Context, stream Stream, cursor string, emit func(arrow.RecordBatch) error) (ReadResult, error)
}

// KeyedReader is a Source that can read chosen records of a stream by
// key (the records a serve cycle's webhook changes name), without a
// search: what a record is now, whatever an index's lag.
type KeyedReader interface {
	// ReadKeys sends the rows of stream whose Key is one of keys, as Read
	// does; a key the source no longer has at all is not sent. It returns
	// false, reading nothing, for a stream it cannot read by key.
	ReadKeys(ctx context.Context, stream Stream, keys []string, emit func(arrow.RecordBatch) error) (bool, error)
}

// Options tune a run.
type Options struct {
	// Keys, per stream, are the records to read instead of what changed
	// since the cursor (a serve cycle's changes): the rows read are
	// merged, and the cursor stays where it was, so the next read from it
	// still covers its whole window. A stream not yet staged, or whose
	// source is no KeyedReader, is read as usual.
	Keys map[string][]string
	// FullRefresh ignores stored cursors: every stream is read whole.
	FullRefresh bool
	// Only limits the run to these streams ("hubspot/contacts") or
	// sources ("hubspot"); empty runs all.
	Only   []string
	Logger *slog.Logger
	// Progress, when set, is called as rows arrive (from several
	// goroutines); the CLI draws it.
	Progress func(stream string, rows int64)
	// Now is the present extractions are recorded at
	// (extract_state.extracted_at); default the system clock. Sources
	// take their own clock for their windows.
	Now func() time.Time
	// MaxRemoval is the share of a table's rows a whole read may lose
	// before the stream fails and keeps its table (0: no guard). A short
	// read (an upstream answering short pages, a filter gone wrong) must
	// not become the truth that syncs then clear or archive from.
	MaxRemoval float64
	// AllowMassRemoval takes the whole read as it is, however short.
	AllowMassRemoval bool
}

// minGuarded is the smallest table the mass-removal guard looks at: a
// table of a few rows loses a large share to one deletion.
const minGuarded = 100

// ErrMassRemoval is wrapped by the error of a read or a plan that would
// remove more than the share allowed (see Options.MaxRemoval).
var ErrMassRemoval = errors.New("mass removal refused")

// Result is what one stream's extraction did.
type Result struct {
	Stream   string
	Rows     int64
	Merged   bool
	Changes  []SchemaChange
	Duration time.Duration
}

func (r Result) String() string {
	how := "replaced"
	if r.Merged {
		how = "merged"
	}
	return fmt.Sprintf("%s: %d rows %s in %s", r.Stream, r.Rows, how, r.Duration.Round(time.Millisecond))
}

// SchemaChange is a column that appeared, or whose type changed.
type SchemaChange struct {
	Column, OldType, NewType, Action string
}

// Run extracts every selected stream. Streams of one source and phase run
// concurrently; a stream's rows, schema changes and cursor commit together,
// so a killed run leaves each table as its last complete run left it.
func Run(ctx context.Context, w *warehouse.Warehouse, runID string, sources []Source, opts Options) ([]Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		mu      sync.Mutex
		results []Result
		errs    []error
	)
	for _, src := range sources {
		if !selected(opts.Only, src.Name(), "") {
			continue
		}
		streams, err := src.Streams(ctx)
		if err != nil {
			return results, fmt.Errorf("extract %s: %w", src.Name(), err)
		}
		maxPhase := 0
		for _, st := range streams {
			maxPhase = max(maxPhase, st.Phase)
		}
		for phase := 0; phase <= maxPhase; phase++ {
			var wg sync.WaitGroup
			for _, st := range streams {
				if st.Phase != phase || !selected(opts.Only, src.Name(), st.Name) {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := runStream(ctx, w, runID, src, st, opts)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, fmt.Errorf("extract %s: %w", st.Name, err))
						return
					}
					for _, c := range res.Changes {
						log.Warn("schema change", "stream", st.Name, "column", c.Column, "old_type", c.OldType, "new_type", c.NewType, "action", c.Action)
					}
					log.Info("extracted", "stream", res.Stream, "rows", res.Rows, "merged", res.Merged, "duration", res.Duration.Round(time.Millisecond))
					results = append(results, res)
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				return results, errors.Join(errs...)
			}
		}
	}
	return results, nil
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func selected(only []string, source, stream string) bool {
	if len(only) == 0 {
		return true
	}
	for _, o := range only {
		if o == source || (stream != "" && o == stream) || (stream == "" && strings.HasPrefix(o, source+"/")) {
			return true
		}
	}
	return false
}

// runStream reads one stream and loads it: whole into the table, or
// through a staging table to merge or replace it.
func runStream(ctx context.Context, w *warehouse.Warehouse, runID string, src Source, st Stream, opts Options) (Result, error) {
	start := time.Now()
	cursor, err := readCursor(ctx, w, st, opts)
	if err != nil {
		return Result{}, err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &streamRun{ctx: ctx, cancel: cancel, runID: runID, st: st, opts: opts, cursor: cursor, rdr: newChanReader(st.Arrow)}
	if kr, ok := src.(KeyedReader); ok && cursor != "" && len(opts.Keys[st.Name]) > 0 && len(st.Key) > 0 && !st.Grouped {
		r.keyed, r.keys = kr, opts.Keys[st.Name]
	}
	r.startRead(src)
	// Decoding (the read goroutine) and ingest (DuckDB's scan of the
	// reader) overlap; the channel holds a few batches between them.
	err = w.WithArrow(ctx, r.rdr, func(conn *sql.Conn, view string) error {
		if cursor == "" {
			return r.loadWhole(conn, view)
		}
		return r.loadStaged(conn, view)
	})
	cancel()
	r.wg.Wait()
	r.rdr.drain()
	if err != nil && parent.Err() != nil && !errors.Is(err, parent.Err()) {
		// DuckDB reports a cancelled statement as its own INTERRUPT error:
		// the cause is the caller's cancellation, and callers test for it.
		err = fmt.Errorf("%w (%w)", context.Cause(parent), err)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Stream: st.Name, Rows: r.rows.Load(), Merged: r.read.Merge, Changes: r.changes, Duration: time.Since(start)}, nil
}

// readCursor is where the stream resumes: "" for a whole read (a full
// refresh, no cursor, or no table for the cursor to describe).
func readCursor(ctx context.Context, w *warehouse.Warehouse, st Stream, opts Options) (string, error) {
	if opts.FullRefresh {
		return "", nil
	}
	var c sql.NullString
	err := w.DB().QueryRowContext(ctx, `SELECT cursor FROM backflow.extract_state WHERE stream = ?`, st.Name).Scan(&c)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read cursor: %w", err)
	}
	if !c.Valid {
		return "", nil
	}
	exists, err := tableExists(ctx, w.DB(), st.Schema, st.Table)
	if err != nil {
		return "", fmt.Errorf("look for table %s.%s: %w", st.Schema, st.Table, err)
	}
	if !exists {
		return "", nil
	}
	return c.String, nil
}

// streamRun is one stream's read and load.
type streamRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	runID  string
	st     Stream
	opts   Options
	cursor string
	rdr    *chanReader
	// keyed reads keys instead of what changed since the cursor.
	keyed KeyedReader
	keys  []string

	wg      sync.WaitGroup
	read    ReadResult // set when wg is done
	readErr error
	rows    atomic.Int64
	changes []SchemaChange
}

// startRead reads the stream into the reader, in a goroutine.
func (r *streamRun) startRead(src Source) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		emit := func(rec arrow.RecordBatch) error {
			n := r.rows.Add(rec.NumRows())
			if r.opts.Progress != nil {
				r.opts.Progress(r.st.Name, n)
			}
			return r.rdr.send(r.ctx, rec)
		}
		if r.keyed != nil {
			var ok bool
			if ok, r.readErr = r.keyed.ReadKeys(r.ctx, r.st, r.keys, emit); ok || r.readErr != nil {
				r.read = ReadResult{Cursor: r.cursor, Merge: true}
				r.rdr.finish(r.readErr)
				return
			}
		}
		r.read, r.readErr = src.Read(r.ctx, r.st, r.cursor, emit)
		r.rdr.finish(r.readErr)
	}()
}

// readDone waits for the read and returns its error.
func (r *streamRun) readDone() error {
	r.wg.Wait()
	return r.readErr
}

// ingestErr is the error of a failed ingest: the read's own, when the
// read failed first.
func (r *streamRun) ingestErr(err error) error {
	r.cancel()
	if rerr := r.readDone(); rerr != nil {
		return rerr
	}
	return fmt.Errorf("ingest: %w", err)
}

// loadWhole loads a read without a cursor, which is whole, never a
// merge: straight into the table, inside the transaction, with no
// staging copy (first loads are the big ones).
func (r *streamRun) loadWhole(conn *sql.Conn, view string) error {
	tx, err := beginTx(r.ctx, conn)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	before, err := countRows(r.ctx, tx, r.st)
	if err != nil {
		return err
	}
	if r.changes, err = replaceFrom(r.ctx, tx, r.st, view); err != nil {
		return r.ingestErr(err)
	}
	if err := r.readDone(); err != nil {
		return err
	}
	if err := checkShrink(r.ctx, tx, r.st, before, r.opts); err != nil {
		return err
	}
	return commit(r.ctx, tx, r.runID, r.st, r.read, r.rows.Load(), r.changes, r.opts.now())
}

// loadStaged stages a read from a cursor, then merges it into the table
// (or replaces the table, when the source read it whole after all).
func (r *streamRun) loadStaged(conn *sql.Conn, view string) error {
	name := "__staging_" + strings.NewReplacer("/", "_", "-", "_").Replace(r.st.Name)
	staging := warehouse.Ident(name)
	if _, err := conn.ExecContext(r.ctx, "CREATE OR REPLACE TEMP TABLE "+staging+" AS SELECT * FROM "+view); err != nil {
		return r.ingestErr(err)
	}
	defer conn.ExecContext(context.WithoutCancel(r.ctx), "DROP TABLE IF EXISTS "+staging)
	if err := r.readDone(); err != nil {
		return err
	}
	tx, err := beginTx(r.ctx, conn)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	before, err := countRows(r.ctx, tx, r.st)
	if err != nil {
		return err
	}
	if r.changes, err = apply(r.ctx, tx, r.st, name, r.read.Merge); err != nil {
		return err
	}
	if !r.read.Merge {
		if err := checkShrink(r.ctx, tx, r.st, before, r.opts); err != nil {
			return err
		}
	}
	return commit(r.ctx, tx, r.runID, r.st, r.read, r.rows.Load(), r.changes, r.opts.now())
}

// beginTx begins a transaction on conn whose statements are canceled
// with ctx but which is not rolled back behind the caller's back: a Tx
// watching a canceled context rolls back and discards the connection in a
// goroutine of its own, racing the caller's next statement on the same
// connection (database/sql then hands out a closed one). The caller's
// deferred Rollback ends it instead.
func beginTx(ctx context.Context, conn *sql.Conn) (*sql.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return conn.BeginTx(context.WithoutCancel(ctx), nil)
}

// countRows is how many rows the stream's table holds (-1: no table yet).
// A table that exists but cannot be read is an error, never "no table":
// that would replace it with what this read found.
func countRows(ctx context.Context, tx *sql.Tx, st Stream) (int64, error) {
	exists, err := tableExists(ctx, tx, st.Schema, st.Table)
	if err != nil {
		return 0, fmt.Errorf("look for table %s.%s: %w", st.Schema, st.Table, err)
	}
	if !exists {
		return -1, nil
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+warehouse.Table(st.Schema, st.Table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s.%s: %w", st.Schema, st.Table, err)
	}
	return n, nil
}

// checkShrink refuses a whole read that left the table with far fewer rows
// than it held (see Options.MaxRemoval); the transaction then rolls back.
func checkShrink(ctx context.Context, tx *sql.Tx, st Stream, before int64, opts Options) error {
	if opts.MaxRemoval <= 0 || opts.MaxRemoval >= 1 || opts.AllowMassRemoval || st.Windowed || before < minGuarded {
		return nil
	}
	after, err := countRows(ctx, tx, st)
	if err != nil {
		return err
	}
	if lost := before - after; float64(lost) > opts.MaxRemoval*float64(before) {
		return fmt.Errorf("%w: the whole read found %d rows, the table holds %d: %.0f%% would go, more than max_removal (%.0f%%). "+
			"The table is kept as it was. If they really are gone at the source, rerun with --allow-mass-removal",
			ErrMassRemoval, after, before, 100*float64(lost)/float64(before), 100*opts.MaxRemoval)
	}
	return nil
}

// commit prunes, derives, records schema changes and the cursor, and
// commits the stream's transaction.
func commit(ctx context.Context, tx *sql.Tx, runID string, st Stream, read ReadResult, rows int64, changes []SchemaChange, at time.Time) error {
	if st.Prune != "" {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+warehouse.Table(st.Schema, st.Table)+" WHERE "+st.Prune); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	if st.After != "" {
		if _, err := tx.ExecContext(ctx, st.After); err != nil {
			return fmt.Errorf("derive tables: %w", err)
		}
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backflow.schema_changes (run_id, stream, column_name, old_type, new_type, action, changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, runID, st.Name, c.Column, c.OldType, c.NewType, c.Action, at); err != nil {
			return fmt.Errorf("record schema change: %w", err)
		}
	}
	var mark any
	if !read.Watermark.IsZero() {
		mark = read.Watermark.UTC()
	}
	// A merge keeps the newer of the two watermarks; a whole read sets it.
	if _, err := tx.ExecContext(ctx, `INSERT INTO backflow.extract_state (stream, cursor, rows, extracted_at, run_id, watermark)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor, rows = excluded.rows,
		extracted_at = excluded.extracted_at, run_id = excluded.run_id,
		watermark = CASE WHEN ? THEN greatest(extract_state.watermark, excluded.watermark) ELSE coalesce(excluded.watermark, extract_state.watermark) END`,
		st.Name, nullIfEmpty(read.Cursor), rows, at, runID, mark, read.Merge); err != nil {
		return fmt.Errorf("save cursor: %w", err)
	}
	return tx.Commit()
}

// replaceFrom replaces the stream's table with the rows of an Arrow view,
// applying the same drift rules as apply (a column whose type changed is
// loaded as VARCHAR), then removes duplicate keys if there are any.
func replaceFrom(ctx context.Context, tx *sql.Tx, st Stream, view string) ([]SchemaChange, error) {
	target := warehouse.Table(st.Schema, st.Table)
	old, err := existing(ctx, tx, st)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+warehouse.Ident(st.Schema)); err != nil {
		return nil, err
	}
	staged := make([]column, len(st.Arrow.Fields()))
	for i, f := range st.Arrow.Fields() {
		staged[i] = column{name: f.Name, typ: DuckType(f.Type)}
	}
	changes := drift(old, staged)
	if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TABLE "+target+" AS SELECT "+selectList(staged, changes)+" FROM "+view); err != nil {
		return nil, err
	}
	if count, keep := duplicates(st, target); count != "" {
		var dups int64
		if err := tx.QueryRowContext(ctx, count).Scan(&dups); err != nil {
			return nil, fmt.Errorf("count duplicate keys: %w", err)
		}
		if dups > 0 {
			for _, q := range []string{
				"CREATE OR REPLACE TEMP TABLE __dedup AS " + keep,
				"DELETE FROM " + target,
				"INSERT INTO " + target + " SELECT * FROM __dedup",
				"DROP TABLE __dedup",
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return nil, fmt.Errorf("remove duplicate keys: %w", err)
				}
			}
		}
	}
	return changes, nil
}

// duplicates returns SQL that counts the rows of table a load must drop
// (a key read twice: the last read stays; in a grouped stream, rows equal
// in every column) and SQL that selects the rows to keep; "" when the
// stream has no key.
func duplicates(st Stream, table string) (count, keep string) {
	switch {
	case st.Grouped:
		return "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM " + table + ")) FROM " + table,
			"SELECT DISTINCT * FROM " + table
	case len(st.Key) > 0:
		list := keyList(st.Key)
		return "SELECT count(*) - count(DISTINCT (" + list + ")) FROM " + table,
			"SELECT * FROM " + table + " QUALIFY row_number() OVER (PARTITION BY " + list + " ORDER BY rowid DESC) = 1"
	}
	return "", ""
}

// drift compares a table's columns with incoming ones: new columns are
// added, columns whose type changed are widened to VARCHAR.
func drift(old, incoming []column) []SchemaChange {
	if old == nil {
		return nil
	}
	oldType := map[string]string{}
	for _, c := range old {
		oldType[c.name] = c.typ
	}
	var changes []SchemaChange
	for _, c := range incoming {
		prev, ok := oldType[c.name]
		switch {
		case !ok:
			changes = append(changes, SchemaChange{Column: c.name, NewType: c.typ, Action: "added"})
		case prev != c.typ && prev != "VARCHAR":
			changes = append(changes, SchemaChange{Column: c.name, OldType: prev, NewType: c.typ, Action: "widened to VARCHAR"})
		}
	}
	return changes
}

// selectList selects the incoming columns, casting widened ones to VARCHAR.
func selectList(cols []column, changes []SchemaChange) string {
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = warehouse.Ident(c.name)
		for _, ch := range changes {
			if ch.Column == c.name && ch.OldType != "" {
				sel[i] = "CAST(" + warehouse.Ident(c.name) + " AS VARCHAR) AS " + warehouse.Ident(c.name)
			}
		}
	}
	return strings.Join(sel, ", ")
}

func keyList(key []string) string {
	keys := make([]string, len(key))
	for i, k := range key {
		keys[i] = warehouse.Ident(k)
	}
	return strings.Join(keys, ", ")
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// querier is a *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tableExists reports whether schema.table exists (a table or a view).
func tableExists(ctx context.Context, q querier, schema, table string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database()
		AND table_schema = ? AND table_name = ?`, schema, table).Scan(&n)
	return n > 0, err
}

// existing is the columns of the stream's table, nil when there is none
// yet. A table that exists but cannot be described is an error.
func existing(ctx context.Context, tx *sql.Tx, st Stream) ([]column, error) {
	exists, err := tableExists(ctx, tx, st.Schema, st.Table)
	if err != nil {
		return nil, fmt.Errorf("look for table %s.%s: %w", st.Schema, st.Table, err)
	}
	if !exists {
		return nil, nil
	}
	cols, err := columns(ctx, tx, "SELECT * FROM "+warehouse.Table(st.Schema, st.Table))
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", st.Schema, st.Table, err)
	}
	return cols, nil
}

// apply moves the staged rows into the stream's table. A full read
// replaces the table; a merge first evolves the table's columns, then
// deletes the rows whose key was staged and inserts the staged rows.
//
// Schema drift, in both cases: a new column is added; a column whose type
// changed becomes VARCHAR holding the old values as text and the new ones
// cast to text, so no value is dropped, and the change is reported. A
// column the source no longer sends is kept (its old values stay) on a
// merge, and dropped on a full refresh, which reads the source whole.
func apply(ctx context.Context, tx *sql.Tx, st Stream, staging string, merge bool) ([]SchemaChange, error) {
	target := warehouse.Table(st.Schema, st.Table)
	old, err := existing(ctx, tx, st)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+warehouse.Ident(st.Schema)); err != nil {
		return nil, err
	}
	staged, err := columns(ctx, tx, "SELECT * FROM "+warehouse.Ident(staging))
	if err != nil {
		return nil, err
	}
	// Sources may deliver a row twice (HubSpot's search windows overlap at
	// their boundaries); keep the last one read of each key. Counting is
	// cheap; the window over wide rows is not, so it only runs when needed.
	from := warehouse.Ident(staging)
	if count, keep := duplicates(st, from); count != "" {
		var dups int64
		if err := tx.QueryRowContext(ctx, count).Scan(&dups); err != nil {
			return nil, fmt.Errorf("count duplicate keys: %w", err)
		}
		if dups > 0 {
			from = "(" + keep + ")"
		}
	}
	changes := drift(old, staged)
	if !merge || old == nil {
		_, err := tx.ExecContext(ctx, "CREATE OR REPLACE TABLE "+target+" AS SELECT "+selectList(staged, changes)+" FROM "+from)
		return changes, err
	}
	for _, ch := range changes {
		col := warehouse.Ident(ch.Column)
		q := "ALTER TABLE " + target + " ADD COLUMN " + col + " " + ch.NewType
		if ch.OldType != "" {
			q = "ALTER TABLE " + target + " ALTER COLUMN " + col + " TYPE VARCHAR USING CAST(" + col + " AS VARCHAR)"
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("evolve %s: %s: %w", target, ch.Column, err)
		}
	}
	if len(st.Key) == 0 {
		return nil, fmt.Errorf("stream %s has no key to merge on", st.Name)
	}
	list := keyList(st.Key)
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+target+" WHERE ("+list+") IN (SELECT "+list+" FROM "+warehouse.Ident(staging)+")"); err != nil {
		return nil, fmt.Errorf("merge into %s: %w", target, err)
	}
	// Widened columns arrive with their new type; cast them on the way in.
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+target+" BY NAME SELECT "+selectList(staged, changes)+" FROM "+from); err != nil {
		return nil, fmt.Errorf("merge into %s: %w", target, err)
	}
	return changes, nil
}

type column struct{ name, typ string }

func columns(ctx context.Context, tx *sql.Tx, query string) ([]column, error) {
	rows, err := tx.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE "+query+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// chanReader is an array.RecordReader fed by a producer goroutine.
type chanReader struct {
	schema *arrow.Schema
	ch     chan arrow.RecordBatch
	cur    arrow.RecordBatch
	err    error // set by finish before ch is closed
}

func newChanReader(schema *arrow.Schema) *chanReader {
	return &chanReader{schema: schema, ch: make(chan arrow.RecordBatch, 4)}
}

func (r *chanReader) send(ctx context.Context, rec arrow.RecordBatch) error {
	select {
	case r.ch <- rec:
		return nil
	case <-ctx.Done():
		rec.Release()
		return ctx.Err()
	}
}

func (r *chanReader) finish(err error) {
	r.err = err
	close(r.ch)
}

// drain releases batches nobody consumed (after a failed ingest).
func (r *chanReader) drain() {
	for rec := range r.ch {
		rec.Release()
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *chanReader) Retain()                        {}
func (r *chanReader) Release()                       {}
func (r *chanReader) Schema() *arrow.Schema          { return r.schema }
func (r *chanReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *chanReader) Record() arrow.RecordBatch      { return r.cur }
func (r *chanReader) Err() error                     { return r.err }

func (r *chanReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	rec, ok := <-r.ch
	if !ok {
		return false
	}
	r.cur = rec
	return true
}
