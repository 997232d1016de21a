package sandbox_test

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/sandbox"
)

// TestLive_Reproducible: the same seed, start and steps make the same
// world, and every kind of change happens over a simulated day.
func TestLive_Reproducible(t *testing.T) {
	world := func(seed uint64) (string, map[string]int) {
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		sb, err := sandbox.Start(sandbox.Options{Contacts: 60, ExtraVisitors: 5, Anonymous: 2, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		life := sb.Live(sandbox.LiveOptions{Seed: seed})
		for range 24 {
			from := now
			now = now.Add(time.Hour)
			if err := life.Step(from, now); err != nil {
				t.Fatal(err)
			}
		}
		h := fnv.New64a()
		ids := sb.HubSpot.ObjectIDs("contacts")
		slices.Sort(ids)
		for _, id := range ids {
			o, _ := sb.HubSpot.Object("contacts", id)
			fmt.Fprintln(h, id, o.Archived, o.Properties["hubspotscore"], o.Properties["lifecyclestage"], o.Properties["hubspot_owner_id"], o.Properties["firstname"])
		}
		vs := sb.Pendo.VisitorIDs()
		slices.Sort(vs)
		for _, id := range vs {
			md, _ := sb.Pendo.Visitor(id)
			fmt.Fprintln(h, id, md["agent"]["language"])
		}
		for _, id := range sb.Pendo.AccountIDs() {
			md, _ := sb.Pendo.Account(id)
			fmt.Fprintln(h, id, md["agent"]["name"])
		}
		for _, id := range ids {
			fmt.Fprintln(h, id, sb.HubSpot.Associations("contacts", id, "companies"))
		}
		fmt.Fprintln(h, len(sb.HubSpot.ObjectIDs("deals")), len(sb.HubSpot.ObjectIDs("companies")))
		news, _ := sb.HubSpot.ListByName(sandbox.ListNewsletter)
		pql, _ := sb.Pendo.SegmentByName(sandbox.SegmentPQL)
		fmt.Fprintln(h, sb.HubSpot.ListMembers(news), sb.Pendo.SegmentMembers(pql))
		for _, kind := range []string{"page", "feature", "track", "poll"} {
			fmt.Fprintln(h, kind, len(sb.Pendo.Activities(kind)))
		}
		return fmt.Sprintf("%x", h.Sum64()), life.Changes
	}
	a, changes := world(7)
	b, _ := world(7)
	c, _ := world(8)
	if a != b {
		t.Fatalf("seed 7 made two worlds: %s and %s", a, b)
	}
	if a == c {
		t.Fatal("seeds 7 and 8 made the same world")
	}
	for _, kind := range []string{"contact_edit", "stage_move", "owner_change", "new_contact", "archive", "reassociation", "new_deal",
		"activity", "visitor_edit", "new_account", "account_edit", "list_move", "segment_move"} {
		if changes[kind] == 0 {
			t.Errorf("no %s in a simulated day: %v", kind, changes)
		}
	}
}
