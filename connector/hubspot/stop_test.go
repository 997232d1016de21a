package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestApplyStopFinishesTheBatchInFlight closes Stop while the second batch
// is at the API: that batch must be finished and recorded, no third batch
// sent, and the next run must send exactly the rest.
func TestApplyStopFinishesTheBatchInFlight(t *testing.T) {
	ctx := context.Background()
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000})
	const n = 500
	for i := range n {
		emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%03d@x.com", i), "jobtitle": "old"})
	}
	stop := make(chan struct{})
	var once sync.Once
	var writes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/batch/update") {
			if writes.Add(1) == 2 {
				// The signal arrives while this batch is at the API.
				once.Do(func() { close(stop) })
				time.Sleep(100 * time.Millisecond)
			}
		}
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := api.New(api.Config{BaseURL: srv.URL, Token: "t", BurstLimit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.DB().Exec(`CREATE TABLE models.m AS SELECT printf('c%03d@x.com', i) AS email, 'new' AS title FROM range(500) r(i)`); err != nil {
		t.Fatal(err)
	}
	s := load.Spec{Name: "titles", File: "syncs/titles.yml", Model: "m", Key: "email", Mode: "update", OnRemove: "ignore", Fields: []load.Field{{Column: "title", Field: "jobtitle"}}}
	dest := &objects{client: c, target: target{object: "contacts", match: "email", size: 100, mode: load.Update}}

	plan, err := load.NewPlan(ctx, w, s, dest, load.PlanOptions{Stop: stop})
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Apply(ctx, w, "r1", 0)
	plan.Close()
	if !errors.Is(err, load.ErrStopped) {
		t.Fatalf("Apply = %v, want ErrStopped", err)
	}
	if got := writes.Load(); got != 2 {
		t.Errorf("batch calls = %d, want 2 (no batch after the stop)", got)
	}
	if res.Applied != 200 {
		t.Errorf("applied = %d, want 200: the batch in flight is finished and counted", res.Applied)
	}
	var status string
	var recorded, snap int
	w.DB().QueryRow(`SELECT status FROM backflow.sync_runs WHERE run_id = 'r1'`).Scan(&status)
	w.DB().QueryRow(`SELECT count(*) FROM backflow.sync_rows WHERE run_id = 'r1' AND status = 'applied'`).Scan(&recorded)
	w.DB().QueryRow(`SELECT count(*) FROM backflow.snapshot_titles`).Scan(&snap)
	if status != "stopped" || recorded != 200 || snap != 200 {
		t.Errorf("after stop: sync_runs status %q, %d rows recorded, %d in snapshot; want stopped, 200, 200", status, recorded, snap)
	}
	updated := 0
	for _, id := range emu.ObjectIDs("contacts") {
		if o, _ := emu.Object("contacts", id); o.Properties["jobtitle"] == "new" {
			updated++
		}
	}
	if updated != 200 {
		t.Errorf("emulator has %d updated contacts, want 200", updated)
	}

	res, err = load.Sync(ctx, w, "r2", s, dest)
	if err != nil || res.Added != 300 || res.Applied != 300 || writes.Load() != 5 {
		t.Errorf("rerun: %+v, %v, %d batch calls in all; want the other 300 in 3 more calls", res, err, writes.Load())
	}
}
