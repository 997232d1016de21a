package hubspot_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

// TestClient_Lists: every list is found across search pages (500 a
// page), with its size; a list is found by name in any case or reported
// absent; a created list is MANUAL; members are read across pages of 250
// and changed in calls the client checks against what it sent.
func TestClient_Lists(t *testing.T) {
	emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	ctx := context.Background()
	for i := range 520 {
		if _, err := emu.CreateList(fmt.Sprintf("List %03d", i), "contacts", "MANUAL"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := emu.AddDynamicList("Everyone", "contacts", func(hubspottest.Object) bool { return true }); err != nil {
		t.Fatal(err)
	}
	lists, err := c.Lists(ctx, "0-1")
	if err != nil || len(lists) != 521 {
		t.Fatalf("%d lists, err %v; want 521 over two pages", len(lists), err)
	}
	if _, ok, err := c.ListByName(ctx, "0-1", "no such list"); ok || err != nil {
		t.Fatalf("a missing list: found %v, err %v", ok, err)
	}
	dyn, ok, err := c.ListByName(ctx, "0-1", "everyone")
	if !ok || err != nil || dyn.Writable() {
		t.Fatalf("the dynamic list by name: %+v %v %v", dyn, ok, err)
	}
	l, err := c.CreateList(ctx, "0-1", "Product qualified")
	if err != nil || l.ProcessingType != "MANUAL" || !l.Writable() {
		t.Fatalf("create: %+v %v", l, err)
	}
	if _, err := c.CreateList(ctx, "0-1", "product QUALIFIED"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a taken name: %v, want the 409", err)
	}
	var ids []string
	for i := range 600 {
		id, _ := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("m%d@example.com", i)})
		ids = append(ids, id)
	}
	ch, err := c.AddToList(ctx, l.ListID, append(ids, "777777777"))
	if err != nil || len(ch.Changed) != 600 || len(ch.Missing) != 1 {
		t.Fatalf("add: %d changed, missing %v, err %v", len(ch.Changed), ch.Missing, err)
	}
	if ch, err := c.RemoveFromList(ctx, l.ListID, ids[:10]); err != nil || len(ch.Changed) != 10 {
		t.Fatalf("remove: %+v %v", ch, err)
	}
	if _, err := c.AddToList(ctx, l.ListID, make([]string, hubspot.MaxListMembershipIDs+1)); err == nil {
		t.Fatal("a call over the limit was sent")
	}
	got, pages := 0, 0
	err = c.ListMembers(ctx, l.ListID, func(ms []hubspot.Member) error {
		pages++
		got += len(ms)
		return nil
	})
	if err != nil || got != 590 || pages != 3 {
		t.Fatalf("members: %d in %d pages, err %v; want 590 in 3", got, pages, err)
	}
	if _, err := c.AddToList(ctx, dyn.ListID, ids[:1]); err == nil || !strings.Contains(err.Error(), "DYNAMIC") {
		t.Fatalf("a write to a DYNAMIC list: %v", err)
	}
}

// TestClient_ListAnswersChecked: an add whose answer names an id that was
// not sent, and a members page whose cursor does not move, are refused.
func TestClient_ListAnswersChecked(t *testing.T) {
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "PUT":
			w.Write([]byte(`{"recordsIdsAdded":["1","2"],"recordIdsRemoved":[],"recordIdsMissing":[]}`))
		default:
			w.Write([]byte(`{"results":[{"recordId":"5","membershipTimestamp":"2026-01-01T00:00:00Z"}],"paging":{"next":{"after":"5"}}}`))
		}
	}))
	c, err := hubspot.New(hubspot.Config{BaseURL: url, Token: token, BurstLimit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddToList(context.Background(), "9", []string{"1"}); err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("an answer naming an id not sent: %v", err)
	}
	pages := 0
	err = c.ListMembers(context.Background(), "9", func([]hubspot.Member) error { pages++; return nil })
	if err == nil || pages > 2 {
		t.Fatalf("a cursor that does not move: %d pages, err %v", pages, err)
	}
}
