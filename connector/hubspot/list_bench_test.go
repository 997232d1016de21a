package hubspot

import (
	"fmt"
	"strings"
	"testing"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/load"
)

// BenchmarkApplyLists fills a manual list with 200,000 contacts at the
// Professional tier's 190 calls per 10 s and reports the membership
// changes per second as a share of what the limits allow (19 calls/s of
// 1,000 ids: 19,000 changes/s); then 1% of the members leave and as many
// join, and it reports the calls per membership change.
func BenchmarkApplyLists(b *testing.B) {
	const n, moved = 200_000, 2_000
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: hsBurst})
	ids := make([]string, n+moved)
	for k := range ids {
		id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("l%d@example.com", k)})
		if err != nil {
			b.Fatal(err)
		}
		ids[k] = id
	}
	c, calls := countingClient(b, emu, hsBurst, "/memberships/")
	ceiling := float64(hsBurst) / 10 * api.MaxListMembershipIDs
	s := load.Spec{Name: "bench_list", File: "syncs/bench_list.yml", Model: "members", Key: "id", Mode: load.Update, OnRemove: load.Clear,
		CreateFields: true, Fields: []load.Field{{Column: "id", Field: listRecordField}}}
	for i := 0; i < b.N; i++ {
		list := fmt.Sprintf("Bench %d", i)
		dest := func() *listDest {
			return &listDest{client: c, target: target{object: "lists", list: list, listObject: "contacts", mode: load.Update, size: api.MaxListMembershipIDs}}
		}
		w := benchWarehouse(b)
		quoted := make([]string, len(ids))
		for k, id := range ids {
			quoted[k] = "'" + id + "'"
		}
		exec(b, w, `CREATE TABLE models.all_ids AS SELECT unnest([`+strings.Join(quoted, ",")+`]) AS id, generate_subscripts([`+strings.Join(quoted, ",")+`], 1) - 1 AS i`,
			fmt.Sprintf(`CREATE VIEW models.members AS SELECT id FROM models.all_ids WHERE i < %d`, n))
		res, elapsed, total := timedSync(b, w, "first", s, dest())
		if res.Applied != n {
			b.Fatalf("first sync: %v", res)
		}
		ratio := float64(n) / elapsed / ceiling
		listID, _ := emu.ListByName(list)
		lost := n - len(emu.ListMembers(listID))

		// 1% leave, as many join.
		exec(b, w, fmt.Sprintf(`CREATE OR REPLACE VIEW models.members AS SELECT id FROM models.all_ids WHERE i >= %d`, moved))
		before := calls.Load()
		res, _, _ = timedSync(b, w, "second", s, dest())
		if res.Applied != 2*moved {
			b.Fatalf("second sync: %v", res)
		}
		perChange := float64(calls.Load()-before) / float64(res.Applied)
		if got := len(emu.ListMembers(listID)); got != n {
			b.Fatalf("after the moves the list holds %d, want %d", got, n)
		}
		_, limited := emu.Requests()
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: apply_lists_ratio %.3f ratio\n", ratio)
		fmt.Printf("bench: apply_lists_seconds %.1f s\n", elapsed)
		fmt.Printf("bench: apply_lists_sync_seconds %.1f s\n", total)
		fmt.Printf("bench: apply_lists_lost %d members\n", lost)
		fmt.Printf("bench: apply_lists_429s %d responses\n", limited)
		fmt.Printf("bench: calls_per_membership_change %.4f calls\n", perChange)
	}
}
