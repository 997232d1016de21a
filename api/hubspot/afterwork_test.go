package hubspot_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

// TestClient_FaultsAfterTheWork: HubSpot applies a write and a gateway
// loses the answer (502, 504, a closed connection). A create is not sent
// again, since it would create twice: the caller hears the error and
// adopts by key later. Updates and upserts are sent again, which is safe:
// the second write sets what the first did.
func TestClient_FaultsAfterTheWork(t *testing.T) {
	tests := []struct {
		name   string
		status int // 0: the connection is closed
		op     string
	}{
		{"create_502", 502, "create"},
		{"create_504", 504, "create"},
		{"create_reset", 0, "create"},
		{"update_502", 502, "update"},
		{"update_reset", 0, "update"},
		{"upsert_504", 504, "upsert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{RetryBaseDelay: time.Millisecond})
			ids := seedContacts(t, emu, 2)
			ctx := context.Background()
			emu.FailNextAfter(tt.status)
			var err error
			var res []hubspot.Result
			switch tt.op {
			case "create":
				res, err = c.BatchCreate(ctx, "contacts", []hubspot.Input{
					{Properties: map[string]string{"email": "new1@example.com"}}, {Properties: map[string]string{"email": "new2@example.com"}}})
			case "update":
				res, err = c.BatchUpdate(ctx, "contacts", []hubspot.Input{{ID: ids[0], Properties: map[string]string{"firstname": "Ada"}}, {ID: ids[1], Properties: map[string]string{"firstname": "Bo"}}})
			case "upsert":
				res, err = c.BatchUpsert(ctx, "contacts", []hubspot.Input{
					{ID: "c0@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "Ada"}},
					{ID: "up@example.com", IDProperty: "email", Properties: map[string]string{"firstname": "New"}}})
			}
			if emu.FailedAfter() != 1 {
				t.Fatalf("the emulator failed %d requests after the work, want 1", emu.FailedAfter())
			}
			contacts := len(emu.ObjectIDs("contacts"))
			switch tt.op {
			case "create":
				if err == nil {
					t.Fatalf("a create whose answer was lost reported success: %v", res)
				}
				if contacts != 4 {
					t.Fatalf("%d contacts, want 4: the create ran once and was not sent again", contacts)
				}
			case "update", "upsert":
				if err != nil {
					t.Fatalf("an %s whose answer was lost was not sent again: %v", tt.op, err)
				}
				for _, r := range res {
					if r.Err != nil {
						t.Fatalf("row error after the retry: %v", r.Err)
					}
				}
				want := map[string]int{"update": 2, "upsert": 3}[tt.op]
				if contacts != want {
					t.Fatalf("%d contacts, want %d", contacts, want)
				}
				o, _ := emu.Object("contacts", ids[0])
				if o.Properties["firstname"] != "Ada" {
					t.Fatalf("firstname %q after the retried %s", o.Properties["firstname"], tt.op)
				}
			}
		})
	}
}

// TestEmulator_FailNextAfter: the write is applied, the answer is the
// failure, and reads are never applied-then-failed by AfterRate.
func TestEmulator_FailNextAfter(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{Faults: hubspottest.Faults{AfterRate: 1}}, hubspot.Config{MaxRetries: -1})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Create(ctx, "contacts", map[string]string{"email": fmt.Sprintf("x%d@example.com", i)}, nil); err == nil {
			t.Fatal("a create under AfterRate 1 answered success")
		}
	}
	if n := len(emu.ObjectIDs("contacts")); n != 3 {
		t.Fatalf("%d contacts, want the 3 creates applied", n)
	}
	if _, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, ""); err != nil {
		t.Fatalf("a read under AfterRate: %v", err)
	}
	if emu.FailedAfter() != 3 {
		t.Fatalf("FailedAfter %d, want 3", emu.FailedAfter())
	}
}

// TestClient_EventsAnswerLost: a batch of events HubSpot stored behind a
// lost answer is sent again (every event has a uuid) and HubSpot keeps one
// of each.
func TestClient_EventsAnswerLost(t *testing.T) {
	for _, status := range []int{502, 504, 0} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{RetryBaseDelay: time.Millisecond})
			ids := seedContacts(t, emu, 1)
			ctx := context.Background()
			def, err := c.CreateEventDefinition(ctx, hubspot.EventDefinition{Label: "Feature used", Name: "feature_used",
				PropertyDefinitions: []hubspot.EventProperty{{Name: "feature", Label: "Feature", Type: "string"}}})
			if err != nil {
				t.Fatal(err)
			}
			emu.FailAfterOn("POST /events/v3/send/batch", status)
			batch := []hubspot.Event{
				{EventName: def.FullyQualifiedName, ObjectID: ids[0], UUID: "k1", Properties: map[string]string{"feature": "export"}},
				{EventName: def.FullyQualifiedName, ObjectID: ids[0], UUID: "k2", Properties: map[string]string{"feature": "import"}},
			}
			if err := c.SendEvents(ctx, batch); err != nil {
				t.Fatalf("the resend after a lost answer: %v", err)
			}
			if emu.FailedAfter() != 1 {
				t.Fatalf("%d answers lost, want 1", emu.FailedAfter())
			}
			if n := len(emu.Events()); n != 2 {
				t.Fatalf("%d events stored, want 2: the resend made duplicates", n)
			}
		})
	}
}

// TestClient_SlowAnswerAfterTheWork: HubSpot applies a write and answers
// after the client stopped waiting (its 60 s attempt timeout). A create is
// not sent again; an update is, and the second write changes nothing.
// In a synctest bubble, so the two minutes pass at once.
func TestClient_SlowAnswerAfterTheWork(t *testing.T) {
	for _, op := range []string{"create", "update"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				emu, _, srv := newMemPair(t, hubspottest.Options{BurstLimit: 100_000}, hubspot.Config{BurstLimit: 100_000})
				c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: token, BurstLimit: 100_000, RetryBaseDelay: time.Millisecond,
					HTTPClient: &http.Client{Transport: srv.Client.Transport, Timeout: 60 * time.Second}})
				if err != nil {
					t.Fatal(err)
				}
				id, _ := emu.CreateObject("contacts", map[string]string{"email": "slow@example.com"})
				ctx := context.Background()
				switch op {
				case "create":
					emu.SlowAfterOn("POST /crm/v3/objects/{objectType}/batch/create", 2*time.Minute)
					if _, err := c.BatchCreate(ctx, "contacts", []hubspot.Input{{Properties: map[string]string{"email": "late@example.com"}}}); err == nil {
						t.Fatal("a create answered after the timeout reported success")
					}
					if n := len(emu.ObjectIDs("contacts")); n != 2 {
						t.Fatalf("%d contacts, want 2: the create ran once and was not sent again", n)
					}
					if routes, _ := emu.Requests(); routes["POST /crm/v3/objects/{objectType}/batch/create"] != 1 {
						t.Fatalf("%d create calls, want 1", routes["POST /crm/v3/objects/{objectType}/batch/create"])
					}
				case "update":
					emu.SlowAfterOn("POST /crm/v3/objects/{objectType}/batch/update", 2*time.Minute)
					res, err := c.BatchUpdate(ctx, "contacts", []hubspot.Input{{ID: id, Properties: map[string]string{"firstname": "Late"}}})
					if err != nil || len(res) != 1 || res[0].Err != nil {
						t.Fatalf("update after a slow answer: %v %v", res, err)
					}
					if o, _ := emu.Object("contacts", id); o.Properties["firstname"] != "Late" {
						t.Fatalf("firstname %q", o.Properties["firstname"])
					}
					if routes, _ := emu.Requests(); routes["POST /crm/v3/objects/{objectType}/batch/update"] != 2 {
						t.Fatalf("%d update calls, want 2: the slow one and its retry", routes["POST /crm/v3/objects/{objectType}/batch/update"])
					}
				}
			})
		})
	}
}
