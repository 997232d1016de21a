package serve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/warehouse"
)

// ErrFull is a delivery the queue cannot take now: too many deliveries
// waiting to be written, or too many changes no cycle has taken. The
// sender is told to retry later (503 with Retry-After), so memory stays
// bounded whatever the burst.
var ErrFull = errors.New("the change queue is full")

// Queue stores webhook changes in backflow.changes before their delivery
// is acknowledged. One writer commits every waiting delivery in one
// transaction (a group commit), so a burst costs a few commits, not one
// per request.
type Queue struct {
	db        *sql.DB
	now       func() time.Time
	reqs      chan *addReq
	maxQueued int64
	queued    atomic.Int64 // changes stored that no cycle has finished
	notify    chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type addReq struct {
	source  string
	changes []connector.Change
	stored  int
	err     error
	done    chan struct{}
}

// QueueOptions bounds a queue.
type QueueOptions struct {
	// Waiting is how many deliveries may wait for the writer; one more
	// is ErrFull. Default 1,024.
	Waiting int
	// MaxQueued is how many changes may be queued and not yet done
	// before deliveries are refused. Default 1,000,000.
	MaxQueued int64
	Now       func() time.Time
}

// NewQueue opens the queue of w's backflow.changes and starts its writer;
// Close stops it.
func NewQueue(ctx context.Context, w *warehouse.Warehouse, o QueueOptions) (*Queue, error) {
	if o.Waiting <= 0 {
		o.Waiting = 1024
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 1_000_000
	}
	q := &Queue{db: w.DB().DB, now: o.Now, reqs: make(chan *addReq, o.Waiting), maxQueued: o.MaxQueued,
		notify: make(chan struct{}, 1), done: make(chan struct{})}
	var n int64
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM backflow.changes WHERE done_at IS NULL`).Scan(&n); err != nil {
		return nil, fmt.Errorf("serve: count the queued changes: %w", err)
	}
	q.queued.Store(n)
	go q.write()
	return q, nil
}

// Close stops the writer after the deliveries already waiting.
func (q *Queue) Close() {
	q.closeOnce.Do(func() { close(q.reqs) })
	<-q.done
}

// Notify receives a value after a commit that stored new changes.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// Queued is how many changes are stored and not yet done.
func (q *Queue) Queued() int64 { return q.queued.Load() }

// Add stores a delivery's changes of source and returns how many were new
// (the rest were stored before: a retry or a duplicate). It returns once
// they are committed, or ErrFull at once.
func (q *Queue) Add(ctx context.Context, source string, changes []connector.Change) (int, error) {
	if q.queued.Load()+int64(len(changes)) > q.maxQueued {
		return 0, fmt.Errorf("%w: %d changes are queued (at most %d)", ErrFull, q.queued.Load(), q.maxQueued)
	}
	r := &addReq{source: source, changes: changes, done: make(chan struct{})}
	select {
	case q.reqs <- r:
	default:
		return 0, fmt.Errorf("%w: %d deliveries are waiting to be written", ErrFull, cap(q.reqs))
	}
	select {
	case <-r.done:
		return r.stored, r.err
	case <-ctx.Done():
		// The writer still commits it; the sender retries and is deduplicated.
		return 0, ctx.Err()
	}
}

// write is the one writer: it takes every request waiting and commits
// them together.
func (q *Queue) write() {
	defer close(q.done)
	for r := range q.reqs {
		batch := []*addReq{r}
	more:
		for len(batch) < 512 {
			select {
			case r, ok := <-q.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		stored, err := q.commit(batch)
		for i, r := range batch {
			r.stored, r.err = stored[i], err
			close(r.done)
		}
		if err == nil {
			select {
			case q.notify <- struct{}{}:
			default:
			}
		}
	}
}

// commit inserts a batch's new changes in one statement of one
// transaction; stored[i] is how many of request i's changes were new. The
// writer is the only one inserting, so the keys it finds absent stay so.
func (q *Queue) commit(batch []*addReq) ([]int, error) {
	ctx := context.Background()
	stored := make([]int, len(batch))
	fail := func(err error) ([]int, error) { return make([]int, len(batch)), fmt.Errorf("serve: queue: %w", err) }
	type pending struct {
		req int
		key string
		c   connector.Change
	}
	var all []pending
	var keys []string
	seen := map[string]bool{}
	for i, r := range batch {
		for _, c := range r.changes {
			key := r.source + ":" + c.Key
			if !seen[key] {
				seen[key] = true
				all, keys = append(all, pending{i, key, c}), append(keys, key)
			}
		}
	}
	if len(all) == 0 {
		return stored, nil
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT change_key FROM backflow.changes WHERE change_key IN (SELECT unnest(?::VARCHAR[]))`, keys)
	if err != nil {
		return fail(err)
	}
	had := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fail(err)
		}
		had[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	received := q.now().UTC()
	var vals []string
	var args []any
	for _, p := range all {
		if had[p.key] {
			continue
		}
		var occurred any
		if !p.c.OccurredAt.IsZero() {
			occurred = p.c.OccurredAt.UTC()
		}
		vals = append(vals, "(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, batch[p.req].source, p.key, p.c.Kind, nullIfEmpty(p.c.Stream), nullIfEmpty(p.c.RecordID), occurred, received, nullIfEmpty(string(p.c.Payload)))
		stored[p.req]++
	}
	if len(vals) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backflow.changes (source, change_key, kind, stream, record_id, occurred_at, received_at, payload)
			VALUES `+strings.Join(vals, ", "), args...); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	q.queued.Add(int64(len(vals)))
	return stored, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Taken is what a cycle took from the queue: the streams its changes
// touch, the record ids per stream, and the oldest change's time.
type Taken struct {
	Changes int64
	Records map[string][]string // stream → record ids
	Oldest  time.Time
}

// Take claims for cycle every change not done: those no cycle took, and
// those of a cycle that did not finish (the process was killed), which
// are redone.
func (q *Queue) Take(ctx context.Context, cycle string) (Taken, error) {
	t := Taken{Records: map[string][]string{}}
	if _, err := q.db.ExecContext(ctx, `UPDATE backflow.changes SET cycle_id = ? WHERE done_at IS NULL`, cycle); err != nil {
		return t, fmt.Errorf("serve: take changes: %w", err)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT coalesce(stream, ''), coalesce(list(DISTINCT record_id ORDER BY record_id) FILTER (WHERE record_id IS NOT NULL), []),
		count(*), min(coalesce(occurred_at, received_at)) FROM backflow.changes WHERE cycle_id = ? AND done_at IS NULL GROUP BY ALL ORDER BY 1`, cycle)
	if err != nil {
		return t, fmt.Errorf("serve: take changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var stream string
		var ids []any
		var n int64
		var oldest time.Time
		if err := rows.Scan(&stream, &ids, &n, &oldest); err != nil {
			return t, fmt.Errorf("serve: take changes: %w", err)
		}
		t.Changes += n
		if t.Oldest.IsZero() || oldest.Before(t.Oldest) {
			t.Oldest = oldest
		}
		if stream == "" {
			continue
		}
		for _, id := range ids {
			t.Records[stream] = append(t.Records[stream], fmt.Sprint(id))
		}
	}
	return t, rows.Err()
}

// Done marks cycle's changes done.
func (q *Queue) Done(ctx context.Context, cycle string) error {
	res, err := q.db.ExecContext(ctx, `UPDATE backflow.changes SET done_at = ? WHERE cycle_id = ? AND done_at IS NULL`, q.now().UTC(), cycle)
	if err != nil {
		return fmt.Errorf("serve: finish changes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("serve: finish changes: %w", err)
	}
	q.queued.Add(-n)
	return nil
}

// Prune deletes changes done before before: a delivery retried after
// that is queued again (HubSpot retries for 24 hours; serve keeps done
// changes for 48).
func (q *Queue) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM backflow.changes WHERE done_at < ?`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("serve: prune changes: %w", err)
	}
	return res.RowsAffected()
}
