// Package extract stages source APIs into the raw_* schemas of the
// warehouse. Each source (hubspot.go, pendo.go) implements Source; Run
// drives them and owns the DuckDB side: Arrow ingest, the atomic swap of
// each stream's table, and its row in backflow.extract_state.
package extract

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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
}

// Source stages one API. Implementations are not required to be safe for
// concurrent use; Run calls one method at a time.
type Source interface {
	// Name is the source's name: "hubspot", "pendo".
	Name() string
	// Streams describes the configured streams, reading the definitions
	// (HubSpot properties, the Pendo metadata schema) their columns come
	// from.
	Streams(ctx context.Context) ([]Stream, error)
	// Read sends every row of stream to emit as record batches with schema
	// stream.Arrow, and returns the cursor a later incremental run would
	// resume from. emit owns each batch passed to it. Read stops at emit's
	// first error and returns it.
	Read(ctx context.Context, stream Stream, emit func(arrow.RecordBatch) error) (cursor string, err error)
}

// Result is what one stream's extraction did.
type Result struct {
	Stream   string
	Rows     int64
	Duration time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%s: %d rows in %s", r.Stream, r.Rows, r.Duration.Round(time.Millisecond))
}

// Run extracts every stream of every source in order. Each stream's table
// is replaced and its extract_state row written in one transaction, so a
// killed run leaves the previous, complete table in place.
func Run(ctx context.Context, w *warehouse.Warehouse, runID string, sources []Source) ([]Result, error) {
	var results []Result
	for _, src := range sources {
		streams, err := src.Streams(ctx)
		if err != nil {
			return results, fmt.Errorf("extract %s: %w", src.Name(), err)
		}
		for _, st := range streams {
			res, err := runStream(ctx, w, runID, src, st)
			if err != nil {
				return results, fmt.Errorf("extract %s: %w", st.Name, err)
			}
			results = append(results, res)
		}
	}
	return results, nil
}

func runStream(ctx context.Context, w *warehouse.Warehouse, runID string, src Source, st Stream) (Result, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	rdr := newChanReader(st.Arrow)
	var (
		wg      sync.WaitGroup
		cursor  string
		readErr error
		rows    int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cursor, readErr = src.Read(ctx, st, func(rec arrow.RecordBatch) error {
			rows += rec.NumRows()
			return rdr.send(ctx, rec)
		})
		rdr.finish(readErr)
	}()
	// Decoding (the goroutine above) and ingest (DuckDB's scan of the
	// reader) overlap; the channel holds a few batches between them.
	err := w.WithArrow(ctx, rdr, func(conn *sql.Conn, view string) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		table := warehouse.Table(st.Schema, st.Table)
		if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TABLE "+table+" AS SELECT * FROM "+view); err != nil {
			cancel()
			wg.Wait()
			if readErr != nil {
				return readErr
			}
			return fmt.Errorf("ingest into %s: %w", table, err)
		}
		wg.Wait()
		if readErr != nil {
			return readErr
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO backflow.extract_state (stream, cursor, rows, extracted_at, run_id)
			VALUES (?, ?, ?, now(), ?)`, st.Name, cursor, rows, runID); err != nil {
			return fmt.Errorf("save cursor: %w", err)
		}
		return tx.Commit()
	})
	cancel()
	wg.Wait()
	rdr.drain()
	if err != nil {
		return Result{}, err
	}
	return Result{Stream: st.Name, Rows: rows, Duration: time.Since(start)}, nil
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
