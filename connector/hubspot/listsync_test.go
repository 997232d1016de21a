package hubspot

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestListSync keeps a manual list equal to a model: the first run makes
// the list (create_fields) and adds every row, a record HubSpot lacks is
// skipped; the second sends nothing; a row leaving and one joining send
// exactly one remove and one add. A DYNAMIC list, or a missing one without
// create_fields, stops the plan before anything is sent.
func TestListSync(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	emu, ids := fiveContacts(&now)
	c, w := served(t, emu)
	model := func(members ...string) {
		t.Helper()
		if _, err := w.DB().Exec(`CREATE OR REPLACE TABLE models.pql AS SELECT unnest(?::VARCHAR[]) AS contact_id`, members); err != nil {
			t.Fatal(err)
		}
	}
	spec := load.Spec{Name: "pql_list", File: "syncs/pql_list.yml", Model: "pql", Key: "contact_id", Mode: load.Update, OnRemove: load.Clear,
		CreateFields: true, Fields: []load.Field{{Column: "contact_id", Field: listRecordField}}}
	dest := func(list string) *listDest {
		return &listDest{client: c, target: target{object: "lists", list: list, listObject: "contacts", mode: load.Update, size: 1000}}
	}
	sync := func(run string, d *listDest, s load.Spec) (load.Result, error) {
		now = now.Add(time.Minute)
		return load.Sync(ctx, w, run, s, d)
	}
	model(ids[0], ids[1], ids[2], "999999")
	r, err := sync("r1", dest("Product qualified"), spec)
	if err != nil || r.Applied != 3 || r.Skipped != 1 {
		t.Fatalf("first run: %+v %v; want 3 added, the missing contact skipped", r, err)
	}
	listID, ok := emu.ListByName("product qualified")
	if !ok {
		t.Fatal("the list was not created")
	}
	if got := emu.ListMembers(listID); !slices.Equal(got, ids[:3]) {
		t.Fatalf("members %v, want %v", got, ids[:3])
	}
	if r, err := sync("r2", dest("Product qualified"), spec); err != nil || r.Applied != 0 {
		t.Fatalf("second run: %+v %v, want nothing sent", r, err)
	}
	model(ids[0], ids[2], ids[3], "999999")
	before, _ := emu.Requests()
	r, err = sync("r3", dest("Product qualified"), spec)
	after, _ := emu.Requests()
	if err != nil || r.Applied != 2 {
		t.Fatalf("third run: %+v %v, want one add and one remove", r, err)
	}
	if got, want := emu.ListMembers(listID), []string{ids[0], ids[2], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	for _, p := range []string{"PUT /crm/v3/lists/{listId}/memberships/add", "PUT /crm/v3/lists/{listId}/memberships/remove"} {
		if n := after[p] - before[p]; n != 1 {
			t.Errorf("%s: %d calls, want 1", p, n)
		}
	}

	emu.AddDynamicList("Everyone", "contacts", func(hubspottest.Object) bool { return true })
	calls, _ := emu.Requests()
	noCreate := spec
	noCreate.CreateFields = false
	for _, tt := range []struct{ list, want string }{{"Everyone", "DYNAMIC"}, {"Nobody made this", "create_fields"}} {
		s := noCreate
		s.Name = "other_" + strings.ReplaceAll(strings.ToLower(tt.list), " ", "_")
		if _, err := sync("r4", dest(tt.list), s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("list %q: %v, want an error saying %s", tt.list, err, tt.want)
		}
	}
	now2, _ := emu.Requests()
	for p, n := range now2 {
		if strings.HasPrefix(p, "PUT") && n != calls[p] {
			t.Errorf("%s was called after a refused plan", p)
		}
	}
}

// TestListSync_Pairs keeps many lists from (list, record) pairs: a list
// create_fields makes, a pair naming a DYNAMIC list rejected at plan time
// and a missing record skipped; a pair whose list changes under its key
// leaves the old list and joins the new one.
func TestListSync_Pairs(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	emu, ids := fiveContacts(&now)
	news, _ := emu.CreateList("Newsletter", "contacts", "MANUAL")
	emu.AddDynamicList("Everyone", "contacts", func(hubspottest.Object) bool { return true })
	c, w := served(t, emu)
	model := func(pairs ...[3]string) {
		t.Helper()
		var keys, lists, recs []string
		for _, p := range pairs {
			keys, lists, recs = append(keys, p[0]), append(lists, p[1]), append(recs, p[2])
		}
		if _, err := w.DB().Exec(`CREATE OR REPLACE TABLE models.memberships AS
			SELECT unnest(?::VARCHAR[]) AS membership, unnest(?::VARCHAR[]) AS list_name, unnest(?::VARCHAR[]) AS contact_id`, keys, lists, recs); err != nil {
			t.Fatal(err)
		}
	}
	spec := load.Spec{Name: "memberships", File: "syncs/memberships.yml", Model: "memberships", Key: "membership", Mode: load.Update, OnRemove: load.Clear,
		CreateFields: true, Fields: []load.Field{{Column: "list_name", Field: listNameField}, {Column: "contact_id", Field: listRecordField}}}
	sync := func(run string) load.Result {
		t.Helper()
		now = now.Add(time.Minute)
		d := &listDest{client: c, target: target{object: "lists", pairs: true, listObject: "contacts", mode: load.Update, size: 1000}}
		r, err := load.Sync(ctx, w, run, spec, d)
		if err != nil {
			t.Fatalf("%s: %v", run, err)
		}
		return r
	}
	members := func(name string) []string {
		id, ok := emu.ListByName(name)
		if !ok {
			t.Fatalf("no list %q", name)
		}
		return emu.ListMembers(id)
	}
	model([3]string{"m0", "Newsletter", ids[0]}, [3]string{"m1", "newsletter", ids[1]}, [3]string{"m2", "Beta", ids[1]},
		[3]string{"m3", "Everyone", ids[2]}, [3]string{"m4", "Beta", "999999"})
	if r := sync("r1"); r.Applied != 3 || r.Rejected != 1 || r.Skipped != 1 {
		t.Fatalf("first run: %+v; want 3 applied, the DYNAMIC list's pair rejected, the missing contact skipped", r)
	}
	if got := members("Newsletter"); !slices.Equal(got, ids[:2]) {
		t.Errorf("Newsletter %v, want %v", got, ids[:2])
	}
	if got := members("Beta"); !slices.Equal(got, ids[1:2]) {
		t.Errorf("Beta (created) %v, want %v", got, ids[1:2])
	}
	if r := sync("r2"); r.Applied != 0 {
		t.Fatalf("second run: %+v, want nothing sent", r)
	}
	model([3]string{"m1", "Newsletter", ids[1]}, [3]string{"m2", "Newsletter", ids[3]}, [3]string{"m3", "Everyone", ids[2]},
		[3]string{"m4", "Beta", "999999"}, [3]string{"m5", "Beta", ids[4]})
	before, _ := emu.Requests()
	if r := sync("r3"); r.Applied != 4 {
		t.Fatalf("third run: %+v, want a removal, a renamed list (no call), a moved pair and an add", r)
	}
	after, _ := emu.Requests()
	if got, want := members("Newsletter"), []string{ids[1], ids[3]}; !slices.Equal(got, want) || news == "" {
		t.Errorf("Newsletter %v, want %v", got, want)
	}
	if got := members("Beta"); !slices.Equal(got, ids[4:5]) {
		t.Errorf("Beta %v, want %v", got, ids[4:5])
	}
	for p, want := range map[string]int{"PUT /crm/v3/lists/{listId}/memberships/add": 2, "PUT /crm/v3/lists/{listId}/memberships/remove": 2} {
		if n := after[p] - before[p]; n != want {
			t.Errorf("%s: %d calls, want %d (one per list)", p, n, want)
		}
	}
}

// served is emu behind a test server, a client of it, and an empty
// DuckDB file, all closed when the test ends.
func served(t *testing.T, emu *hubspottest.Server) (*api.Client, *warehouse.Warehouse) {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: "t", BurstLimit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return c, w
}

// fiveContacts is an emulator on the clock *now holding five contacts.
func fiveContacts(now *time.Time) (*hubspottest.Server, []string) {
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000, Now: func() time.Time { return *now }})
	var ids []string
	for i := range 5 {
		id, _ := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("p%d@x.com", i)})
		ids = append(ids, id)
	}
	return emu, ids
}
