package pipeline_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestDrift_Sandbox runs the feature-adoption recipe (text, number,
// datetime and boolean contact properties) against the living sandbox:
// backflow's own writes, read back in HubSpot's forms, are no drift; two
// properties edited afterwards, one by a user in the UI and one by a
// workflow, are found on the next run with who changed them, and (on_drift
// report) not written back.
func TestDrift_Sandbox(t *testing.T) {
	ctx := context.Background()
	now := clocktest.Named("afternoon")
	clock := func() time.Time { return now }
	sb, err := sandbox.Start(sandbox.Options{Contacts: 120, ExtraVisitors: 10, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	p, secrets := sandboxed(t, sb, examples.Recipe("feature-adoption"), "examples/recipes/feature-adoption")
	db := filepath.Join(t.TempDir(), "w.duckdb")
	opts := pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Secrets: secrets, Now: clock}
	run := func(name string) {
		t.Helper()
		now = now.Add(time.Hour)
		if _, err := pipeline.Run(ctx, opts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	query := queryFile(t, db)
	run("first")  // creates the properties and sends
	run("second") // extraction stages the new properties and reads the writes back
	run("third")
	var drifted, pushed int
	query(`SELECT (SELECT count(*) FROM backflow.drift), (SELECT count(*) FROM backflow.snapshot_feature_adoption WHERE payload IS NOT NULL)`, &drifted, &pushed)
	if pushed == 0 || drifted != 0 {
		t.Fatalf("%d drift rows after backflow's own writes (of %d records pushed), want none", drifted, pushed)
	}

	var a, b, countA, integrationsB string
	query(`SELECT min(key), max(key) FROM backflow.snapshot_feature_adoption WHERE payload IS NOT NULL`, &a, &b)
	query(`SELECT (SELECT payload->>'pendo_feature_count' FROM backflow.snapshot_feature_adoption WHERE key = '`+a+`'),
		(SELECT payload->>'pendo_used_integrations' FROM backflow.snapshot_feature_adoption WHERE key = '`+b+`')`, &countA, &integrationsB)
	flipped := map[string]string{"true": "false", "false": "true", "": "true"}[integrationsB]
	now = now.Add(10 * time.Minute)
	if err := sb.HubSpot.UpdateObject("contacts", a, map[string]string{"pendo_feature_count": "99"}); err != nil {
		t.Fatal(err)
	}
	workflow := hubspottest.ChangeSource{Type: "AUTOMATION_PLATFORM", ID: "enrollmentId:771;actionExecutionIndex:0", Label: "Reset integrations flag"}
	if err := sb.HubSpot.UpdateObjectAs("contacts", b, map[string]string{"pendo_used_integrations": flipped}, workflow); err != nil {
		t.Fatal(err)
	}
	run("after the edits")

	type found struct{ key, field, sent, found, source, sourceID, by string }
	var got [2]found
	for i, key := range []string{a, b} {
		query(`SELECT key, field, sent, found, coalesce(source, ''), coalesce(source_id, ''), coalesce(changed_by, '') FROM backflow.drift
			WHERE resolved_at IS NULL AND key = '`+key+`'`, &got[i].key, &got[i].field, &got[i].sent, &got[i].found, &got[i].source, &got[i].sourceID, &got[i].by)
	}
	want := [2]found{
		{a, "pendo_feature_count", `"` + countA + `"`, "99.0", "CRM_UI", "", "9100001"},
		{b, "pendo_used_integrations", `"` + integrationsB + `"`, flipped, "AUTOMATION_PLATFORM", workflow.ID, ""},
	}
	if got != want {
		t.Fatalf("drift\n got %+v\nwant %+v", got, want)
	}
	query(`SELECT count(*) FROM backflow.drift`, &drifted)
	if drifted != 2 {
		t.Fatalf("%d drift rows, want the 2 edits", drifted)
	}
	if o, _ := sb.HubSpot.Object("contacts", a); o.Properties["pendo_feature_count"] != "99" {
		t.Fatalf("on_drift report wrote back: %s holds %q", a, o.Properties["pendo_feature_count"])
	}
}

// TestDrift_ListMembership: with lists extracted, a member a list sync
// added and someone then removed from the list in HubSpot is drift on the
// next run (field record, found empty): on_drift report leaves it out,
// overwrite adds it back, and the drift is resolved once it is back.
func TestDrift_ListMembership(t *testing.T) {
	for _, policy := range []string{"report", "overwrite"} {
		t.Run(policy, func(t *testing.T) {
			ctx := context.Background()
			now := clocktest.Named("afternoon")
			clock := func() time.Time { return now }
			sb, err := sandbox.Start(sandbox.Options{Contacts: 120, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			fsys := copyFS(t, examples.Recipe("pendo-segment-to-hubspot-list"))
			replaceIn(t, fsys, "objects: [contacts]", "objects: [contacts, lists]")
			syncFile := "syncs/pql_list.yml"
			fsys[syncFile].Data = []byte(strings.Replace(string(fsys[syncFile].Data), "\non_remove: clear\n", "\non_remove: clear\non_drift: "+policy+"\n", 1))
			p, secrets := sandboxed(t, sb, fsys, "recipe")
			db := filepath.Join(t.TempDir(), "w.duckdb")
			opts := pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Secrets: secrets, Now: clock}
			run := func(name string) {
				t.Helper()
				now = now.Add(time.Hour)
				if _, err := pipeline.Run(ctx, opts); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			query := queryFile(t, db)
			run("first")  // creates the list and adds the members
			run("second") // stages the list as backflow left it
			var drifted int
			query(`SELECT count(*) FROM backflow.drift`, &drifted)
			if drifted != 0 {
				t.Fatalf("%d drift rows after backflow's own adds, want none", drifted)
			}
			list, ok := sb.HubSpot.ListByName(sandbox.ListPQL)
			if !ok {
				t.Fatal("no Product qualified list")
			}
			members := sb.HubSpot.ListMembers(list)
			gone := members[0]
			now = now.Add(10 * time.Minute)
			if err := sb.HubSpot.RemoveFromList(list, gone); err != nil {
				t.Fatal(err)
			}
			run("after the removal")
			var key, field, sent, found string
			var open bool
			query(`SELECT key, field, sent, coalesce(found, ''), resolved_at IS NULL FROM backflow.drift`, &key, &field, &sent, &found, &open)
			back := slices.Contains(sb.HubSpot.ListMembers(list), gone)
			switch {
			case key != gone || field != "record" || sent != `"`+gone+`"` || found != "":
				t.Fatalf("drift %s.%s sent %s found %q, want %s's membership", key, field, sent, found, gone)
			case policy == "report" && (back || !open):
				t.Fatalf("report: back in the list %v, drift open %v; want left out, open", back, open)
			case policy == "overwrite" && (!back || open):
				t.Fatalf("overwrite: back in the list %v, drift open %v; want added back, resolved", back, open)
			}
			if policy == "report" {
				// Added back by hand: resolved as matching once staged.
				if err := sb.HubSpot.AddToList(list, gone); err != nil {
					t.Fatal(err)
				}
				run("after the re-add")
				var resolution string
				query(`SELECT coalesce(resolution, '') FROM backflow.drift`, &resolution)
				if resolution != "matches" {
					t.Fatalf("resolution %q after the member was added back, want matches", resolution)
				}
			}
		})
	}
}

func copyFS(t *testing.T, src fs.FS) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDrift_NotTaken: HubSpot answers 200 to a lifecycle stage that would
// move a contact backwards and keeps the stage it had. The next run finds
// the difference (another property of the same write moved the record's
// updatedAt) and says so: source NOT_TAKEN, not the user who set the
// stage before backflow's write.
func TestDrift_NotTaken(t *testing.T) {
	ctx := context.Background()
	now := clocktest.Named("afternoon")
	// A clock that moves a millisecond a reading, as HubSpot's does
	// between backflow sending a batch and HubSpot writing it (a frozen
	// one would stamp the write at the instant it was sent, which no
	// comparison can call later).
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	sb, err := sandbox.Start(sandbox.Options{Contacts: 60, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	fsys := fstest.MapFS{
		"backflow.yml": {Data: []byte(`name: not_taken
warehouse: warehouse.duckdb
hubspot:
  token_env: HUBSPOT_TOKEN
  extract:
    objects: [contacts]
pendo:
  integration_key_env: PENDO_INTEGRATION_KEY
  extract:
    streams: [visitors]
`)},
		"models/demote.sql": {Data: []byte(`SELECT id AS contact_id, 'subscriber' AS lifecyclestage, 'Demoted' AS jobtitle
FROM raw_hubspot.contacts WHERE lifecyclestage = 'customer' AND NOT archived ORDER BY id LIMIT 2
`)},
		"syncs/demote.yml": {Data: []byte(`model: demote
destination: hubspot
object: contacts
key: contact_id
mode: update
fields:
  lifecyclestage: lifecyclestage
  jobtitle: jobtitle
`)},
	}
	p, secrets := sandboxed(t, sb, fsys, "not_taken")
	db := filepath.Join(t.TempDir(), "w.duckdb")
	opts := pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Secrets: secrets, Now: clock}
	for _, name := range []string{"first", "second"} {
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		if _, err := pipeline.Run(ctx, opts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	w, err := warehouse.Open(ctx, db, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rows, err := w.DB().QueryContext(ctx, `SELECT key, field, found, coalesce(source, ''), coalesce(source_label, '') FROM backflow.drift ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key, field, found, source, label string
		if err := rows.Scan(&key, &field, &found, &source, &label); err != nil {
			t.Fatal(err)
		}
		n++
		if field != "lifecyclestage" || found != "customer" || source != "NOT_TAKEN" || !strings.Contains(label, "only moves forward") {
			t.Errorf("drift %s.%s found %q, source %q (%s); want lifecyclestage kept at customer, NOT_TAKEN", key, field, found, source, label)
		}
		if o, _ := sb.HubSpot.Object("contacts", key); o.Properties["jobtitle"] != "Demoted" {
			t.Errorf("contact %s: jobtitle %q, want the write's other property taken", key, o.Properties["jobtitle"])
		}
	}
	if n != 2 {
		t.Fatalf("%d drift rows, want the 2 demoted contacts' stages", n)
	}
}

// queryFile scans one row of a query of the DuckDB file at db, opened
// read-only for the query alone.
func queryFile(t *testing.T, db string) func(q string, dest ...any) {
	return func(q string, dest ...any) {
		t.Helper()
		w, err := warehouse.Open(context.Background(), db, warehouse.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.DB().QueryRow(q).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
