package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

func TestHubSpotEvents(t *testing.T) {
	ctx := context.Background()
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000})
	var ids []string
	for i := 0; i < 3; i++ {
		id, _ := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("p%d@x.com", i)})
		ids = append(ids, id)
	}
	var sends atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/events/v3/send") {
			sends.Add(1)
		}
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: "t", BurstLimit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEventDefinition(ctx, api.EventDefinition{Name: "feature_adopted", Label: "Feature adopted", PrimaryObject: "CONTACT",
		PropertyDefinitions: []api.EventProperty{{Name: "feature", Label: "Feature", Type: "string"}, {Name: "uses", Label: "Uses", Type: "number"}}}); err != nil {
		t.Fatal(err)
	}
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dest := &events{client: c, event: "feature_adopted", size: 2}
	s := load.Spec{Name: "adoption", File: "syncs/adoption.yml", Model: "adoption", Key: "event_key", Mode: "events", OnRemove: "ignore", Fields: []load.Field{{Column: "contact_id", Field: "objectId"}, {Column: "occurred", Field: "occurredAt"}, {Column: "feature", Field: "feature"}, {Column: "uses", Field: "uses"}}}
	model := func(extra string) {
		t.Helper()
		q := fmt.Sprintf(`CREATE OR REPLACE TABLE models.adoption AS SELECT event_key(contact_id, feature) AS event_key, * FROM (VALUES
			('%s', TIMESTAMPTZ '2026-11-20 10:00:00+00', 'Reports', 3),
			('%s', TIMESTAMPTZ '2026-11-21 11:30:00+00', 'Exports', 1),
			('%s', TIMESTAMPTZ '2026-11-22 09:15:00+00', 'Reports', 7) %s) t(contact_id, occurred, feature, uses)`, ids[0], ids[1], ids[2], extra)
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	model(fmt.Sprintf(`, ('%s', TIMESTAMPTZ '2026-11-22 09:00:00+00', repeat('x', 300), 1), ('999999', TIMESTAMPTZ '2026-11-22 09:00:00+00', 'Ghost', 1)`, ids[0]))
	r, err := load.Sync(ctx, w, "r1", s, dest)
	if err != nil {
		t.Fatal(err)
	}
	// The 300-character value is refused before sending; the unknown
	// record fails its batch with a 400, which is split to isolate it.
	if r.Added != 5 || r.Applied != 3 || r.Rejected != 2 {
		t.Fatalf("sync: %v", r)
	}
	evs := emu.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events stored, want 3", len(evs))
	}
	for _, e := range evs {
		if e.UUID == "" || !strings.HasPrefix(e.EventName, "pe") || e.Properties["feature"] == "" {
			t.Fatalf("event %+v", e)
		}
		if e.ObjectID == ids[1] && (e.OccurredAt.UTC().Format("2006-01-02 15:04") != "2026-11-21 11:30" || e.Properties["uses"] != "1") {
			t.Fatalf("event %+v: occurredAt or properties lost", e)
		}
	}
	// A rerun sends nothing; a full resync does not either.
	before := sends.Load()
	if r, err := load.Sync(ctx, w, "r2", s, dest); err != nil || r.Applied+r.Rejected != 0 || sends.Load() != before {
		t.Fatalf("rerun: %v %v", r, err)
	}
	// Even if a batch is sent again (a crash between send and record),
	// HubSpot keeps one occurrence per uuid.
	if _, err := w.DB().Exec(`DROP TABLE backflow.snapshot_adoption`); err != nil {
		t.Fatal(err)
	}
	if r, err := load.Sync(ctx, w, "r3", s, dest); err != nil || r.Applied != 3 {
		t.Fatalf("resend: %v %v", r, err)
	}
	if n := len(emu.Events()); n != 3 {
		t.Fatalf("a resent batch was stored twice: %d events", n)
	}
}
