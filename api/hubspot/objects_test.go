package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

func seedContacts(t *testing.T, emu *hubspottest.Server, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%d@example.com", i), "firstname": "C"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func TestClient_BatchUpdate_Reconciled(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ids := seedContacts(t, emu, 3)
	inputs := []hubspot.Input{
		{ID: ids[0], Properties: map[string]string{"firstname": "Ada"}},
		{ID: "999999", Properties: map[string]string{"firstname": "Ghost"}},
		{ID: ids[1], Properties: map[string]string{"hubspotscore": "not a number"}},
		{ID: ids[2], Properties: map[string]string{"lifecyclestage": "customer"}},
		{ID: "jon@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "Jon"}},
	}
	res, err := c.BatchUpdate(context.Background(), "contacts", inputs)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		ok       bool
		category string
	}
	wants := []want{{true, ""}, {false, "OBJECT_NOT_FOUND"}, {false, "VALIDATION_ERROR"}, {true, ""}, {false, "OBJECT_NOT_FOUND"}}
	for i, w := range wants {
		r := res[i]
		switch {
		case w.ok && (r.Object == nil || r.Object.ID != inputs[i].ID):
			t.Errorf("input %d: %+v, want success on id %s", i, r, inputs[i].ID)
		case !w.ok && (r.Err == nil || r.Err.Category != w.category || r.Err.Index != i):
			t.Errorf("input %d: %+v, want %s", i, r.Err, w.category)
		}
	}
	if o, _ := emu.Object("contacts", ids[0]); o.Properties["firstname"] != "Ada" {
		t.Errorf("update not applied: %v", o.Properties)
	}
	if o, _ := emu.Object("contacts", ids[1]); o.Properties["hubspotscore"] != "" {
		t.Errorf("invalid value stored: %v", o.Properties)
	}
}

// One duplicate email makes HubSpot refuse the whole create batch with
// 409; the client splits until the culprit is alone and creates the rest.
func TestClient_BatchCreate_WholeBatchConflictIsolated(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	existing := seedContacts(t, emu, 1)[0]
	var inputs []hubspot.Input
	for i := 0; i < 7; i++ {
		inputs = append(inputs, hubspot.Input{Properties: map[string]string{"email": fmt.Sprintf("new%d@example.com", i)}})
	}
	inputs[4].Properties["email"] = "C0@example.com" // already exists, case differs
	res, err := c.BatchCreate(context.Background(), "contacts", inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i == 4 {
			if r.Err == nil || r.Err.Category != "CONFLICT" || !strings.Contains(r.Err.Message, existing) {
				t.Errorf("input 4: %+v, want CONFLICT naming %s", r.Err, existing)
			}
			continue
		}
		if r.Object == nil || r.Object.Property("email") != inputs[i].Properties["email"] {
			t.Errorf("input %d: %+v %+v", i, r.Object, r.Err)
		}
	}
	if n := len(emu.ObjectIDs("contacts")); n != 7 {
		t.Errorf("%d contacts stored, want 7", n)
	}
}

func TestClient_BatchUpsert(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ids := seedContacts(t, emu, 2)
	ctx := context.Background()
	res, err := c.BatchUpsert(ctx, "contacts", []hubspot.Input{
		{ID: "c1@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "Updated"}},
		{ID: "fresh@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "Fresh"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Object == nil || res[0].Object.New || res[0].Object.ID != ids[1] {
		t.Errorf("existing: %+v %+v", res[0].Object, res[0].Err)
	}
	if res[1].Object == nil || !res[1].Object.New {
		t.Errorf("new: %+v %+v", res[1].Object, res[1].Err)
	}
	// Email upserts cannot partially succeed: one bad value fails the
	// batch whole, and the split isolates it.
	res, err = c.BatchUpsert(ctx, "contacts", []hubspot.Input{
		{ID: "a@example.com", IDProperty: "email", Properties: map[string]string{"lifecyclestage": "not-a-stage"}},
		{ID: "b@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "B"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || res[0].Err.Category != "VALIDATION_ERROR" || res[1].Object == nil {
		t.Errorf("split: %+v / %+v", res[0], res[1])
	}
	if _, err := c.BatchUpsert(ctx, "contacts", []hubspot.Input{{ID: ids[0], IDProperty: "hs_object_id"}}); err == nil {
		t.Error("hs_object_id accepted as upsert key")
	}
}

func TestClient_BatchRead_Missing(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ids := seedContacts(t, emu, 2)
	objs, missing, err := c.BatchRead(context.Background(), "contacts", []string{ids[0], "424242", ids[1]}, hubspot.ReadOptions{Properties: []string{"email"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || len(missing) != 1 || missing[0] != "424242" {
		t.Fatalf("found %d, missing %v", len(objs), missing)
	}
	objs, missing, err = c.BatchRead(context.Background(), "contacts", []string{"C1@example.com", "nobody@example.com"}, hubspot.ReadOptions{IDProperty: "email"})
	if err != nil || len(objs) != 1 || objs[0].ID != ids[1] || len(missing) != 1 {
		t.Fatalf("by email: %v %v %v", objs, missing, err)
	}
}

func TestClient_SingleRecordAndArchive(t *testing.T) {
	for _, version := range []string{"", "2026-03"} {
		t.Run("version_"+version, func(t *testing.T) {
			emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{APIVersion: version})
			ctx := context.Background()
			o, err := c.Create(ctx, "deals", map[string]string{"dealname": "Big", "pipeline": "default", "dealstage": "qualifiedtobuy", "amount": "1200"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, "deals", map[string]string{"dealname": "No stage"}, nil); err == nil || !strings.Contains(err.Error(), "dealstage") {
				t.Errorf("deal without required properties: %v", err)
			}
			if _, err := c.Update(ctx, "deals", o.ID, "", map[string]string{"amount": ""}); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx, "deals", o.ID, "", []string{"amount", "dealname"})
			if err != nil || got.Properties["amount"] != nil || got.Property("dealname") != "Big" {
				t.Fatalf("get: %+v, %v", got, err)
			}
			if err := c.Archive(ctx, "deals", o.ID); err != nil {
				t.Fatal(err)
			}
			if err := c.Archive(ctx, "deals", "9999999"); err != nil {
				t.Errorf("archiving a missing id: %v (HubSpot answers 204)", err)
			}
			var apiErr *hubspot.Error
			if _, err := c.Get(ctx, "deals", o.ID, "", nil); !errors.As(err, &apiErr) || apiErr.Status != 404 {
				t.Errorf("get archived: %v", err)
			}
			var archived []hubspot.Object
			c.List(ctx, "deals", hubspot.ListOptions{Archived: true}, func(p []hubspot.Object) error { archived = append(archived, p...); return nil })
			if len(archived) != 1 || !archived[0].Archived {
				t.Errorf("archived list: %+v", archived)
			}
			_ = emu
		})
	}
}

// A property list too long for a URL is split between the list call and
// one batch read, instead of drawing a 414.
func TestClient_ListLongPropertyList(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	var names []string
	for i := 0; i < 400; i++ {
		name := fmt.Sprintf("custom_property_with_a_rather_long_internal_name_%03d", i)
		if err := emu.AddProperty("contacts", hubspottest.Property{Name: name, Label: name, Type: "string", FieldType: "text", GroupName: "contactinformation"}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if _, err := emu.CreateObject("contacts", map[string]string{"email": "x@example.com", names[399]: "last", names[0]: "first"}); err != nil {
		t.Fatal(err)
	}
	objs, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{Properties: names}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Property(names[0]) != "first" || objs[0].Property(names[399]) != "last" {
		t.Fatalf("objects: %+v", objs)
	}
}

func TestClient_Search(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{SearchPerSecond: 1000, SearchLag: -1}, hubspot.Config{SearchPerSecond: 1000}) // not a lag test
	for i := 0; i < 30; i++ {
		emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("s%d@example.com", i), "hubspotscore": fmt.Sprint(i)})
	}
	page, err := c.Search(context.Background(), "contacts", hubspot.SearchRequest{
		FilterGroups: [][]hubspot.Filter{{{PropertyName: "hubspotscore", Operator: "GTE", Value: "10"}, {PropertyName: "hubspotscore", Operator: "LT", Value: "20"}}},
		Sort:         &hubspot.Sort{PropertyName: "hubspotscore", Direction: "DESCENDING"},
		Properties:   []string{"hubspotscore"},
		Limit:        4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 10 || len(page.Results) != 4 || page.Results[0].Property("hubspotscore") != "19" || page.After != "4" {
		t.Fatalf("page: total %d, %d results, first %q, after %q", page.Total, len(page.Results), page.Results[0].Property("hubspotscore"), page.After)
	}
	_, err = c.Search(context.Background(), "contacts", hubspot.SearchRequest{After: "10000"})
	var apiErr *hubspot.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("past the cap: %v", err)
	}
}

// More than 10,000 records modified in the same millisecond (a HubSpot bulk
// job) plus more around them: every one is delivered.
func TestClient_ModifiedBetween_AcrossTheCap(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{SearchPerSecond: 100000}, hubspot.Config{SearchPerSecond: 100000})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := base
	emu.SetClock(func() time.Time { return clock })
	for i := 0; i < 300; i++ { // before the bulk job, 3 per millisecond
		clock = base.Add(time.Duration(i/3) * time.Millisecond)
		emu.CreateObject("contacts", map[string]string{"firstname": "early"})
	}
	clock = base.Add(time.Second)
	for i := 0; i < 10_250; i++ {
		emu.CreateObject("contacts", map[string]string{"firstname": "bulk"})
	}
	for i := 0; i < 300; i++ {
		clock = base.Add(2*time.Second + time.Duration(i)*time.Millisecond)
		emu.CreateObject("contacts", map[string]string{"firstname": "late"})
	}
	clock = base.Add(time.Hour)
	seen := map[string]int{}
	err := c.ModifiedBetween(context.Background(), "contacts", base, base.Add(time.Minute), []string{"firstname"}, func(objs []hubspot.Object) error {
		for _, o := range objs {
			seen[o.ID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 10_850 {
		t.Fatalf("saw %d distinct records, want 10850", len(seen))
	}
}

func TestClient_Associations(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{AssociationsPageSize: 2}, hubspot.Config{})
	ids := seedContacts(t, emu, 2)
	var companies []string
	for i := 0; i < 5; i++ {
		id, _ := emu.CreateObject("companies", map[string]string{"name": fmt.Sprint("co", i), "domain": fmt.Sprintf("co%d.com", i)})
		companies = append(companies, id)
	}
	ctx := context.Background()
	for _, co := range companies {
		if err := c.AssociateDefault(ctx, "contacts", ids[0], "companies", co); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.AssociationsBatch(ctx, "contacts", "companies", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got[ids[0]]) != 5 || len(got[ids[1]]) != 0 {
		t.Fatalf("associations: %v", got)
	}
	// The first company is the contact's primary one: HubSpot answers the
	// pair with the labelled type beside the unlabelled one.
	if ts := got[ids[0]][0].AssociationTypes; len(ts) != 2 || ts[0].TypeID != 1 || ts[0].Label == nil || *ts[0].Label != "Primary" || ts[1].TypeID != 279 || ts[1].Label != nil {
		t.Errorf("primary pair types = %+v, want 1 (Primary) and 279 (unlabelled)", ts)
	}
	if ts := got[ids[0]][1].AssociationTypes; len(ts) != 1 || ts[0].TypeID != 279 {
		t.Errorf("second company's types = %+v, want 279 only", ts)
	}
	failed, err := c.AssociateDefaultBatch(ctx, "contacts", "companies", []hubspot.Pair{{ids[1], companies[0]}, {ids[1], "404404"}})
	if err != nil || len(failed) != 1 {
		t.Fatalf("batch associate: %v, %v", failed, err)
	}
	if back := emu.Associations("companies", companies[0], "contacts"); len(back) != 2 {
		t.Errorf("company %s has contacts %v, want both", companies[0], back)
	}
}

func TestClient_TaskWithAssociationsAndOwner(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	owner := emu.AddOwner("ae@example.com", "Ann", "Exec")
	company, _ := emu.CreateObject("companies", map[string]string{"name": "Acme"})
	ctx := context.Background()
	owners, err := c.Owners(ctx)
	if err != nil || len(owners) != 1 || owners[0].ID != owner {
		t.Fatalf("owners: %v %v", owners, err)
	}
	res, err := c.BatchCreate(ctx, "tasks", []hubspot.Input{
		{Properties: map[string]string{"hs_task_subject": "Churn risk: Acme", "hs_timestamp": "2026-12-01T00:00:00Z", "hubspot_owner_id": owner},
			Associations: []hubspot.Association{{ToID: company, TypeID: 192}}},
		{Properties: map[string]string{"hs_task_subject": "Bad owner", "hs_timestamp": "2026-12-01T00:00:00Z", "hubspot_owner_id": "12"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Object == nil || res[1].Err == nil || res[1].Err.Category != "VALIDATION_ERROR" {
		t.Fatalf("results: %+v / %+v", res[0], res[1].Err)
	}
	if tasks := emu.Associations("companies", company, "tasks"); len(tasks) != 1 || tasks[0] != res[0].Object.ID {
		t.Errorf("company tasks = %v", tasks)
	}
}

func TestClient_Events(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ids := seedContacts(t, emu, 1)
	ctx := context.Background()
	def, err := c.CreateEventDefinition(ctx, hubspot.EventDefinition{Label: "Feature used", Name: "feature_used",
		PropertyDefinitions: []hubspot.EventProperty{{Name: "feature", Label: "Feature", Type: "string"}}})
	if err != nil {
		t.Fatal(err)
	}
	if def.FullyQualifiedName != "pe4242_feature_used" {
		t.Fatalf("fqn = %q", def.FullyQualifiedName)
	}
	batch := []hubspot.Event{
		{EventName: def.FullyQualifiedName, ObjectID: ids[0], UUID: "k1", Properties: map[string]string{"feature": "export"}},
		{EventName: def.FullyQualifiedName, Email: "c0@example.com", UUID: "k2", Properties: map[string]string{"feature": "import"}},
	}
	for i := 0; i < 2; i++ { // a resent batch is deduplicated by uuid
		if err := c.SendEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(emu.Events()); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
	bad := []hubspot.Event{{EventName: def.FullyQualifiedName, ObjectID: ids[0], UUID: "k3", Properties: map[string]string{"feature": strings.Repeat("x", 300)}}}
	var apiErr *hubspot.Error
	if err := c.SendEvents(ctx, bad); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("over-long value: %v", err)
	}
}

func TestClient_Faults(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		write    bool
		wantErr  bool
	}{
		{"locked_then_ok", []int{423}, false, false},
		{"migration_then_ok", []int{477}, false, false},
		{"reset_then_ok", []int{0}, false, false},
		{"5xx_storm_then_ok", []int{500, 503, 502}, false, false},
		{"gateway_timeout_on_create_not_retried", []int{504}, true, true},
		{"rate_limited_create_retried", []int{429}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				emu, c, _ := newMemPair(t, hubspottest.Options{}, hubspot.Config{})
				emu.FailNext(tt.statuses...)
				var err error
				if tt.write {
					_, err = c.BatchCreate(context.Background(), "contacts", []hubspot.Input{{Properties: map[string]string{"firstname": "x"}}})
				} else {
					_, _, err = c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("err = %v, want error %v", err, tt.wantErr)
				}
			})
		})
	}
}

func TestClient_MissingScope(t *testing.T) {
	emu, _ := newPair(t, hubspottest.Options{}, hubspot.Config{})
	emu.AddToken("pat-na1-readonly", "crm.objects.contacts.read")
	srvURL := startServer(t, emu)
	c, _ := hubspot.New(hubspot.Config{BaseURL: srvURL, Token: "pat-na1-readonly"})
	ctx := context.Background()
	if _, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	_, err := c.BatchUpdate(ctx, "contacts", []hubspot.Input{{ID: "1", Properties: map[string]string{"firstname": "x"}}})
	var apiErr *hubspot.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Category != "MISSING_SCOPES" || apiErr.Details[0].Context["requiredGranularScopes"][0] != "crm.objects.contacts.write" {
		t.Fatalf("err = %#v", err)
	}
}

func TestClient_TimelineEvents(t *testing.T) {
	for _, lastWins := range []bool{false, true} {
		t.Run(fmt.Sprintf("last_wins_%v", lastWins), func(t *testing.T) {
			emu, c := newPair(t, hubspottest.Options{AppID: 77, DeveloperAPIKey: "dev-key", TimelineLastWins: lastWins}, hubspot.Config{})
			ids := seedContacts(t, emu, 2)
			ctx := context.Background()
			if _, err := c.CreateTimelineTemplate(ctx, 77, "wrong", hubspot.TimelineTemplate{Name: "x", ObjectType: "contacts"}); err == nil {
				t.Fatal("a wrong developer key was accepted")
			}
			tpl, err := c.CreateTimelineTemplate(ctx, 77, "dev-key", hubspot.TimelineTemplate{Name: "NPS response", ObjectType: "contacts",
				Tokens: []hubspot.TimelineToken{{Name: "score", Label: "Score", Type: "number", ObjectPropertyName: "hubspotscore"}}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.CreateTimelineEvents(ctx, []hubspot.TimelineEvent{
				{ID: "nps-1", EventTemplateID: tpl.ID, ObjectID: ids[0], Tokens: map[string]string{"score": "9"}},
				{ID: "nps-2", EventTemplateID: tpl.ID, ObjectID: ids[1], Tokens: map[string]string{"nope": "1"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Object == nil || res[1].Err == nil {
				t.Fatalf("results: %+v %+v", res[0], res[1])
			}
			if o, _ := emu.Object("contacts", ids[0]); o.Properties["hubspotscore"] != "9" {
				t.Errorf("objectPropertyName token did not write the property: %v", o.Properties)
			}
			// Resending the same id for the same record is refused (409), for
			// another record 400 or moved, by configuration.
			res, _ = c.CreateTimelineEvents(ctx, []hubspot.TimelineEvent{{ID: "nps-1", EventTemplateID: tpl.ID, ObjectID: ids[0], Tokens: map[string]string{"score": "9"}}})
			if res[0].Err == nil || res[0].Err.Category != "CONFLICT" {
				t.Errorf("same record replay: %+v", res[0])
			}
			res, _ = c.CreateTimelineEvents(ctx, []hubspot.TimelineEvent{{ID: "nps-1", EventTemplateID: tpl.ID, ObjectID: ids[1], Tokens: map[string]string{"score": "3"}}})
			if lastWins != (res[0].Err == nil) {
				t.Errorf("id reused for another record: %+v %+v", res[0].Object, res[0].Err)
			}
		})
	}
}

// Two processes searching at once exceed the account's 5/s search limit
// together; each retries the SECONDLY 429s and every search succeeds.
func TestClient_SearchSecondly429Retried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emu, c1, srv := newMemPair(t, hubspottest.Options{SearchPerSecond: 5, BurstLimit: 100_000}, hubspot.Config{RetryBaseDelay: 100 * time.Millisecond, BurstLimit: 100_000})
		c2, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, HTTPClient: srv.Client, Token: token, RetryBaseDelay: 100 * time.Millisecond, BurstLimit: 100_000})
		errs := make(chan error, 2)
		for _, c := range []*hubspot.Client{c1, c2} {
			go func() {
				for i := 0; i < 8; i++ {
					if _, err := c.Search(context.Background(), "contacts", hubspot.SearchRequest{}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for i := 0; i < 2; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if _, limited := emu.Requests(); limited == 0 {
			t.Error("expected SECONDLY 429s")
		}
	})
}

// A caller's deadline ends a call that is waiting out a 429, at the
// deadline.
func TestClient_CanceledWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emu, c, _ := newMemPair(t, hubspottest.Options{BurstLimit: 100_000}, hubspot.Config{BurstLimit: 100_000})
		emu.FailNext(429, 429, 429)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline", err)
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Fatalf("returned after %v, want at the 200ms deadline", d)
		}
	})
}

func TestClient_BatchArchive(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ids := seedContacts(t, emu, 3)
	if err := c.BatchArchive(context.Background(), "contacts", []string{ids[0], ids[2], "888888"}); err != nil {
		t.Fatal(err)
	}
	if got := emu.ObjectIDs("contacts"); len(got) != 1 || got[0] != ids[1] {
		t.Fatalf("live contacts = %v", got)
	}
}

// TestClient_ValuesReadBackNormalised: what the client reads is HubSpot's
// form of a value, whatever form it was written in.
func TestClient_ValuesReadBackNormalised(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	emu.AddProperty("contacts", hubspottest.Property{Name: "trial_end", Label: "Trial end", Type: "date", FieldType: "date", GroupName: "contactinformation"})
	ctx := context.Background()
	o, err := c.Create(ctx, "contacts", map[string]string{"email": "Grace@Example.com", "trial_end": "1767225600000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "contacts", o.ID, "", []string{"email", "trial_end"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Property("email") != "grace@example.com" || got.Property("trial_end") != "2026-01-01" {
		t.Fatalf("read back email %q, trial_end %q", got.Property("email"), got.Property("trial_end"))
	}
}

// TestClient_EventDefinitionsPaged: the list is paged (at most 100 a
// page); the client reads every page.
func TestClient_EventDefinitionsPaged(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	for i := 0; i < 230; i++ {
		emu.DefineEvent(fmt.Sprintf("event_%03d", i), fmt.Sprint("Event ", i), "CONTACT", nil)
	}
	defs, err := c.EventDefinitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range defs {
		names[d.Name] = true
	}
	if len(defs) != 230 || len(names) != 230 {
		t.Fatalf("%d definitions (%d names), want 230", len(defs), len(names))
	}
	if routes, _ := emu.Requests(); routes["GET /events/v3/event-definitions"] != 3 {
		t.Fatalf("%d list calls, want 3 pages of 100", routes["GET /events/v3/event-definitions"])
	}
}

// TestClient_UpsertAfterArchive: an upsert by the email of an archived
// contact creates a new contact (the client reports New), never writes
// into the archived one.
func TestClient_UpsertAfterArchive(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ids := seedContacts(t, emu, 1)
	ctx := context.Background()
	if err := c.Archive(ctx, "contacts", ids[0]); err != nil {
		t.Fatal(err)
	}
	res, err := c.BatchUpsert(ctx, "contacts", []hubspot.Input{{ID: "c0@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "Again"}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("upsert: %v %v", res, err)
	}
	if !res[0].Object.New || res[0].Object.ID == ids[0] {
		t.Fatalf("upsert result %+v, want a new contact", res[0].Object)
	}
}
