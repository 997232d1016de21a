package serve

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/warehouse"
)

func openFile(t *testing.T, path string) *warehouse.Warehouse {
	t.Helper()
	w, err := warehouse.Open(context.Background(), path, warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func change(key, stream, record string) connector.Change {
	return connector.Change{Key: key, Kind: "contact.propertyChange", Stream: stream, RecordID: record,
		OccurredAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Payload: []byte(`{"k":"` + key + `"}`)}
}

// TestQueue stores each key once, hands a cycle every change not done, a
// killed cycle's changes again after a restart, and none once done.
func TestQueue(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w := openFile(t, path)
	q, err := NewQueue(ctx, w, QueueOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := q.Add(ctx, "hubspot", []connector.Change{change("a", "hubspot/contacts", "1"), change("b", "hubspot/contacts", "2"), change("a", "hubspot/contacts", "1")})
	if err != nil || n != 2 {
		t.Fatalf("Add = %d, %v; want 2 (a twice in one delivery)", n, err)
	}
	if n, err := q.Add(ctx, "hubspot", []connector.Change{change("b", "hubspot/contacts", "2"), change("c", "", "")}); err != nil || n != 1 {
		t.Fatalf("the retry: Add = %d, %v; want 1 (b was stored)", n, err)
	}
	if n, err := q.Add(ctx, "pendo", []connector.Change{change("a", "pendo/visitors", "v1")}); err != nil || n != 1 {
		t.Fatalf("another source's key a: Add = %d, %v; want 1", n, err)
	}
	if q.Queued() != 4 {
		t.Fatalf("Queued = %d, want 4", q.Queued())
	}
	taken, err := q.Take(ctx, "cycle-1")
	if err != nil {
		t.Fatal(err)
	}
	if taken.Changes != 4 || !slices.Equal(taken.Records["hubspot/contacts"], []string{"1", "2"}) || !slices.Equal(taken.Records["pendo/visitors"], []string{"v1"}) {
		t.Fatalf("Take = %+v", taken)
	}
	// The process dies in cycle-1: on reopening, its changes are taken again.
	q.Close()
	w.Close()
	w = openFile(t, path)
	defer w.Close()
	q, err = NewQueue(ctx, w, QueueOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Queued() != 4 {
		t.Fatalf("after a restart Queued = %d, want 4", q.Queued())
	}
	taken, err = q.Take(ctx, "cycle-2")
	if err != nil || taken.Changes != 4 {
		t.Fatalf("after a restart Take = %+v, %v; want the 4 changes again", taken, err)
	}
	if err := q.Done(ctx, "cycle-2"); err != nil {
		t.Fatal(err)
	}
	if taken, _ := q.Take(ctx, "cycle-3"); taken.Changes != 0 || q.Queued() != 0 {
		t.Fatalf("after Done: Take = %+v, Queued %d", taken, q.Queued())
	}
	// Done changes still deduplicate, until pruned.
	if n, _ := q.Add(ctx, "hubspot", []connector.Change{change("a", "hubspot/contacts", "1")}); n != 0 {
		t.Fatalf("a replay of a done change was stored again")
	}
	clk.Advance(49 * time.Hour)
	if n, err := q.Prune(ctx, clk.Now().Add(-48*time.Hour)); err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4", n, err)
	}
}

// TestQueue_Burst: 10,000 single-change deliveries from 50 senders are
// all stored, in far fewer commits than deliveries; past MaxQueued a
// delivery is refused with ErrFull, not held in memory.
func TestQueue_Burst(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 5, 0, time.UTC))
	w := openFile(t, filepath.Join(t.TempDir(), "w.duckdb"))
	defer w.Close()
	q, err := NewQueue(ctx, w, QueueOptions{Now: clk.Now, MaxQueued: 10_000, Waiting: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, full := 0, 0
	for s := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; {
				n, err := q.Add(ctx, "hubspot", []connector.Change{change(fmt.Sprintf("s%d-%d", s, i), "hubspot/contacts", fmt.Sprint(i))})
				mu.Lock()
				switch {
				case errors.Is(err, ErrFull):
					full++ // the sender retries later
					mu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				case err != nil:
					mu.Unlock()
					t.Error(err)
					return
				}
				stored += n
				mu.Unlock()
				i++
			}
		}()
	}
	wg.Wait()
	if stored != 10_000 || q.Queued() != 10_000 {
		t.Fatalf("stored %d (queued %d), want 10000", stored, q.Queued())
	}
	if _, err := q.Add(ctx, "hubspot", []connector.Change{change("one-more", "hubspot/contacts", "1")}); !errors.Is(err, ErrFull) {
		t.Fatalf("past MaxQueued: %v, want ErrFull", err)
	}
	var rows int
	if err := w.DB().QueryRow(`SELECT count(*) FROM backflow.changes`).Scan(&rows); err != nil || rows != 10_000 {
		t.Fatalf("backflow.changes holds %d (%v)", rows, err)
	}
	t.Logf("%d deliveries refused while the writer was busy (retried)", full)
}
