package hubspot_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

// TestHubSpot_Lists: every list is staged with its members; a later run
// reads the members of the lists that changed and of DYNAMIC lists only,
// replacing their rows, and keeps the others'; a list emptied keeps no
// rows.
func TestHubSpot_Lists(t *testing.T) {
	e := newHSEnv(t, "contacts", "lists")
	var ids []string
	for i := range 12 {
		id, _ := e.emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("l%d@acme.io", i), "hubspotscore": fmt.Sprint(i * 10)})
		ids = append(ids, id)
	}
	pql, _ := e.emu.CreateList("PQLs", "contacts", "MANUAL")
	churn, _ := e.emu.CreateList("Churn risk", "contacts", "MANUAL")
	quiet, _ := e.emu.CreateList("Quiet", "contacts", "MANUAL")
	e.emu.AddDynamicList("High score", "contacts", func(o hubspottest.Object) bool {
		return o.Properties["hubspotscore"] >= "50" && len(o.Properties["hubspotscore"]) == 2
	})
	e.emu.AddToList(pql, ids[:3]...)
	e.emu.AddToList(churn, ids[5:7]...)
	e.emu.AddToList(quiet, ids[9])
	e.clock = e.clock.Add(time.Hour) // the lists are an hour old at the first run
	var memberReads atomic.Int32
	e.hook = func(r *http.Request) {
		if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/memberships") {
			memberReads.Add(1)
		}
	}
	e.run()
	members := func(list string) string {
		return e.query(`SELECT coalesce(string_agg(record_id, ',' ORDER BY record_id::BIGINT), '') FROM raw_hubspot.list_memberships WHERE list_id = ?`, list)
	}
	if got := e.query(`SELECT string_agg(name || ':' || processing_type || ':' || size, ',' ORDER BY id) FROM raw_hubspot.lists`); got != "PQLs:MANUAL:3,Churn risk:MANUAL:2,Quiet:MANUAL:1,High score:DYNAMIC:5" {
		t.Fatalf("lists: %s", got)
	}
	if got, want := members(pql), strings.Join(ids[:3], ","); got != want {
		t.Fatalf("PQL members %s, want %s", got, want)
	}
	if memberReads.Load() != 4 {
		t.Fatalf("%d member reads on the first run, want one per list", memberReads.Load())
	}
	// An hour on: one joins the PQLs, churn empties, a score moves a
	// contact into the dynamic list; Quiet does not change.
	e.clock = e.clock.Add(time.Hour)
	e.emu.AddToList(pql, ids[3])
	e.emu.RemoveFromList(churn, ids[5:7]...)
	e.emu.UpdateObject("contacts", ids[4], map[string]string{"hubspotscore": "55"})
	e.clock = e.clock.Add(time.Minute)
	memberReads.Store(0)
	res := e.run()
	if r := result(res, "hubspot/list_memberships"); !r.Merged {
		t.Fatalf("memberships were not merged: %+v", r)
	}
	if memberReads.Load() != 3 {
		t.Errorf("%d member reads, want 3: the two lists that changed and the dynamic one", memberReads.Load())
	}
	if got, want := members(pql), strings.Join(ids[:4], ","); got != want {
		t.Errorf("PQL members %s, want %s", got, want)
	}
	if got := members(churn); got != "" {
		t.Errorf("the emptied list kept %s", got)
	}
	if got := members(quiet); got != ids[9] {
		t.Errorf("the unchanged list has %q, want %s", got, ids[9])
	}
	if got := e.query(`SELECT count(*)::VARCHAR FROM raw_hubspot.list_memberships WHERE list_id = (SELECT id FROM raw_hubspot.lists WHERE name = 'High score')`); got != "6" {
		t.Errorf("dynamic list: %s members, want 6", got)
	}
}
