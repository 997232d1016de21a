package load_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/connector/memfile"
	"github.com/backflow-dev/backflow/load"
)

// TestApply_RecordFailuresAreReturned: when the outcomes of the batches
// in flight cannot be recorded (here backflow.sync_rows is moved away
// while the second batch is at the destination), Apply returns both
// failures, the one it was handling and the one of the batch it waited
// for on the way out, and the sync is recorded failed. The rows whose
// outcomes were not recorded are sent again by the next run, not lost.
func TestApply_RecordFailuresAreReturned(t *testing.T) {
	ctx := context.Background()
	_, store, w := memfileFixture(t, 6)
	if _, err := w.DB().Exec(`CREATE TABLE models.m AS SELECT 'k' || i AS k, 'v' || i AS a FROM range(1, 7) t(i)`); err != nil {
		t.Fatal(err)
	}
	spec := load.Spec{Name: "people", File: "syncs/people.yml", Model: "m", Key: "k", Mode: load.Update, OnRemove: load.Ignore,
		Fields: []load.Field{{Column: "a", Field: "a"}}}
	dest := &memfile.Destination{Store: store, Table: "people", Size: 2}
	recorded := func(run string) int {
		var n int
		w.DB().QueryRow(`SELECT count(*) FROM backflow.sync_rows WHERE run_id = ?`, run).Scan(&n)
		return n
	}
	store.OnApply(func(call int64) {
		if call != 2 {
			return
		}
		// The first batch is recorded while the second is out; then the
		// table goes.
		for i := 0; recorded("r1") < 2; i++ {
			if i == 1000 {
				t.Error("the first batch was never recorded")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := w.DB().Exec(`ALTER TABLE backflow.sync_rows RENAME TO sync_rows_moved`); err != nil {
			t.Error(err)
		}
	})
	_, err := load.Sync(ctx, w, "r1", spec, dest)
	if err == nil || strings.Count(err.Error(), "record results") != 2 {
		t.Fatalf("Apply = %v; want the two batches' record failures", err)
	}
	var status string
	w.DB().QueryRow(`SELECT status FROM backflow.sync_runs WHERE run_id = 'r1'`).Scan(&status)
	if status != "failed" {
		t.Fatalf("the sync was recorded %q, want failed", status)
	}
	store.OnApply(nil)
	if _, err := w.DB().Exec(`ALTER TABLE backflow.sync_rows_moved RENAME TO sync_rows`); err != nil {
		t.Fatal(err)
	}
	before := store.Calls()
	res, err := load.Sync(ctx, w, "r2", spec, dest)
	if err != nil || res.Added != 4 || res.Applied != 4 || store.Calls()-before != 2 {
		t.Fatalf("rerun: %v %v in %d calls; want the 4 unrecorded rows sent again in 2", res, err, store.Calls()-before)
	}
	for i := 1; i <= 6; i++ {
		if v, _ := store.Get("people", fmt.Sprintf("k%d", i)); v["a"] != fmt.Sprintf("v%d", i) {
			t.Errorf("k%d holds %v", i, v["a"])
		}
	}
}
