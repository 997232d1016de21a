package load_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/connector/memfile"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// observedDest is a memfile destination whose records are staged in
// raw_test.people (id, a, modified), as extraction would stage them, and
// which remembers every row it was sent.
type observedDest struct {
	*memfile.Destination
	sent []load.Row
}

func (d *observedDest) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	desc, err := d.Destination.Describe(ctx, req)
	if err != nil {
		return nil, err
	}
	desc.Observed = &load.Observed{Schema: "raw_test", Table: "people", Record: "r.id", ID: "r.id", Modified: "r.modified",
		Columns: []string{"id", "modified"}, Fields: map[string]load.ObservedField{"a": {Column: "a", Found: "nullif(lower(r.a), '')",
			Sent: func(j string) string { return "nullif(lower(json_extract_string(" + j + ", '$')), '')" }}}}
	return desc, nil
}

func (d *observedDest) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	d.sent = append(d.sent, rows...)
	return d.Destination.Apply(ctx, rows)
}

// sentKeys lists the keys sent since the last call, with their values.
func (d *observedDest) sentKeys() []string {
	var out []string
	for _, r := range d.sent {
		var vals []string
		for _, f := range load.SortedFields(r.Values) {
			vals = append(vals, f+"="+string(r.Values[f]))
		}
		out = append(out, r.Key+":"+strings.Join(vals, ","))
	}
	d.sent = nil
	slices.Sort(out)
	return out
}

type driftRow struct {
	key, field, sent, found, policy, resolution string
	open                                        bool
}

func driftRows(t *testing.T, w *warehouse.Warehouse) []driftRow {
	t.Helper()
	rows, err := w.DB().Query(`SELECT key, field, sent, coalesce(found, ''), policy, coalesce(resolution, ''), resolved_at IS NULL FROM backflow.drift ORDER BY key, field, found_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []driftRow
	for rows.Next() {
		var r driftRow
		if err := rows.Scan(&r.key, &r.field, &r.sent, &r.found, &r.policy, &r.resolution, &r.open); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestDrift: after a push, someone edits k1's field in the destination.
// The next plan finds it (and only it: not a staged copy older than the
// push, not a value equal but for case, not a change the destination
// made of the model's new value when the answer was lost, not a row the
// destination rejected), records it, and sends what its policy says.
func TestDrift(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	for _, policy := range []load.OnDrift{load.DriftReport, load.DriftOverwrite, load.DriftKeep} {
		t.Run(string(policy), func(t *testing.T) {
			ctx := context.Background()
			_, store, w := memfileFixture(t, 5)
			store.Declare("people", "a", "string", "v1", "v2", "v3", "v4", "v5", "edit1", "new3", "v1b")
			exec := func(q string) {
				t.Helper()
				if _, err := w.DB().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			exec(`CREATE TABLE models.m AS SELECT 'k' || i AS k, 'v' || i AS a FROM range(1, 6) r(i)`)
			spec := load.Spec{Name: "people", File: "syncs/people.yml", Model: "m", Key: "k", Mode: load.Update, OnRemove: load.Clear,
				OnDrift: policy, Fields: []load.Field{{Column: "a", Field: "a"}}}
			dest := &observedDest{Destination: &memfile.Destination{Store: store, Table: "people", Size: 10}}
			at := t0
			plan := func(opts load.PlanOptions) (*load.Plan, load.Result) {
				t.Helper()
				opts.Now = func() time.Time { return at }
				p, err := load.NewPlan(ctx, w, spec, dest, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				res, err := p.Apply(ctx, w, fmt.Sprint("r", at.Unix()), 0)
				if err != nil {
					t.Fatal(err)
				}
				return p, res
			}
			first, _ := plan(load.PlanOptions{})
			if first.Drift.Checked || !strings.Contains(first.Drift.Reason, "not staged yet") {
				t.Fatalf("first plan drift %+v, want not checked: nothing staged", first.Drift)
			}
			dest.sentKeys()

			// Extraction, an hour later: k1 edited by hand after the push;
			// k2's copy predates the push; k3's holds the model's new value
			// (a write whose answer was lost); k4 the same value in upper
			// case (the destination's normalisation); k5 as sent, while the
			// model's new value for it will be rejected.
			exec(`CREATE SCHEMA raw_test; CREATE TABLE raw_test.people (id VARCHAR, a VARCHAR, modified TIMESTAMPTZ)`)
			exec(fmt.Sprintf(`INSERT INTO raw_test.people VALUES ('k1', 'edit1', %[1]s), ('k2', 'old2', %[2]s), ('k3', 'new3', %[1]s),
				('k4', 'V4', %[1]s), ('k5', 'v5', %[1]s)`, warehouse.TimeLiteral(t0.Add(time.Minute)), warehouse.TimeLiteral(t0.Add(-time.Hour))))
			store.Put("people", "k1", map[string]any{"a": "edit1"})
			exec(`UPDATE models.m SET a = 'new3' WHERE k = 'k3'; UPDATE models.m SET a = 'bad' WHERE k = 'k5'`)
			at = t0.Add(time.Hour)
			p, res := plan(load.PlanOptions{})
			if got := p.Drift.Fields; p.Drift.Found() != 1 || got["a"] != 1 || p.Drift.Records != 1 {
				t.Fatalf("drift %+v, want k1.a only", p.Drift)
			}
			if res.Rejected != 1 {
				t.Fatalf("result %v, want k5 rejected", res)
			}
			sent := dest.sentKeys()
			want := []string{`k3:a="new3"`, `k5:a="bad"`} // k5 sent and refused
			wantDrift := driftRow{key: "k1", field: "a", sent: `"v1"`, found: "edit1", policy: string(policy), open: true}
			switch policy {
			case load.DriftOverwrite:
				want = []string{`k1:a="v1"`, `k3:a="new3"`, `k5:a="bad"`}
				wantDrift.open, wantDrift.resolution = false, "overwritten"
			}
			if !slices.Equal(sent, want) {
				t.Fatalf("sent %v, want %v", sent, want)
			}
			if got := driftRows(t, w); len(got) != 1 || got[0] != wantDrift {
				t.Fatalf("backflow.drift %+v, want %+v", got, wantDrift)
			}
			v, _ := store.Get("people", "k1")
			if wantV := map[load.OnDrift]string{load.DriftReport: "edit1", load.DriftOverwrite: "v1", load.DriftKeep: "edit1"}[policy]; v["a"] != wantV {
				t.Fatalf("k1 holds %v, want %s", v["a"], wantV)
			}

			switch policy {
			case load.DriftReport:
				// Found again, not twice; then reverted by hand: resolved.
				at = t0.Add(2 * time.Hour)
				if p, _ := plan(load.PlanOptions{}); p.Drift.Found() != 1 || len(driftRows(t, w)) != 1 {
					t.Fatalf("second look: %+v, %+v", p.Drift, driftRows(t, w))
				}
				exec(`UPDATE raw_test.people SET a = 'v1', modified = ` + warehouse.TimeLiteral(t0.Add(90*time.Minute)) + ` WHERE id = 'k1'`)
				at = t0.Add(3 * time.Hour)
				p, _ := plan(load.PlanOptions{})
				if got := driftRows(t, w); p.Drift.Found() != 0 || len(got) != 1 || got[0].open || got[0].resolution != "matches" {
					t.Fatalf("after the revert: %+v, %+v", p.Drift, got)
				}
			case load.DriftKeep:
				// A full resync sends every row but k1's kept field.
				at = t0.Add(2 * time.Hour)
				p, _ := plan(load.PlanOptions{FullResync: true})
				if p.Drift.Kept != 1 {
					t.Fatalf("kept %d, want 1", p.Drift.Kept)
				}
				if sent := dest.sentKeys(); slices.ContainsFunc(sent, func(s string) bool { return strings.HasPrefix(s, "k1:") }) || len(sent) != 4 {
					t.Fatalf("full resync sent %v, want k2…k5 and not k1", sent)
				}
				if v, _ := store.Get("people", "k1"); v["a"] != "edit1" {
					t.Fatalf("k1 holds %v after a full resync, want the edit kept", v["a"])
				}
				// The model's value changes: written again, drift resolved.
				exec(`UPDATE models.m SET a = 'v1b' WHERE k = 'k1'`)
				at = t0.Add(3 * time.Hour)
				plan(load.PlanOptions{})
				if sent := dest.sentKeys(); !slices.Equal(sent, []string{`k1:a="v1b"`}) {
					t.Fatalf("sent %v once the model changed, want k1's new value", sent)
				}
				if got := driftRows(t, w); len(got) != 1 || got[0].open || got[0].resolution != "sent" {
					t.Fatalf("drift %+v, want resolved by the send", got)
				}
			}
		})
	}
}

// TestDrift_KeepSurvivesRemoval: a row leaving the model under on_remove
// clear clears the fields the sync wrote, but not one on_drift keep left
// as someone edited it.
func TestDrift_KeepSurvivesRemoval(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	_, store, w := memfileFixture(t, 2)
	for _, q := range []string{
		`CREATE TABLE models.m AS SELECT 'k' || i AS k, 'v' || i AS a, 'w' || i AS b FROM range(1, 3) r(i)`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	store.Declare("people", "b", "string")
	spec := load.Spec{Name: "people", File: "syncs/people.yml", Model: "m", Key: "k", Mode: load.Update, OnRemove: load.Clear,
		OnDrift: load.DriftKeep, Fields: []load.Field{{Column: "a", Field: "a"}, {Column: "b", Field: "b"}}}
	dest := &observedDest{Destination: &memfile.Destination{Store: store, Table: "people", Size: 10}}
	at := t0
	apply := func() {
		t.Helper()
		p, err := load.NewPlan(ctx, w, spec, dest, load.PlanOptions{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Apply(ctx, w, fmt.Sprint("r", at.Unix()), 0); err != nil {
			t.Fatal(err)
		}
	}
	apply()
	for _, q := range []string{
		`CREATE SCHEMA raw_test; CREATE TABLE raw_test.people (id VARCHAR, a VARCHAR, modified TIMESTAMPTZ)`,
		`INSERT INTO raw_test.people VALUES ('k1', 'mine', ` + warehouse.TimeLiteral(t0.Add(time.Minute)) + `)`,
		`DELETE FROM models.m WHERE k = 'k1'`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	store.Put("people", "k1", map[string]any{"a": "mine", "b": "w1"})
	dest.sentKeys()
	at = t0.Add(time.Hour)
	apply()
	if sent := dest.sentKeys(); !slices.Equal(sent, []string{"k1:b=null"}) {
		t.Fatalf("removal sent %v, want only b cleared", sent)
	}
	if v, _ := store.Get("people", "k1"); v["a"] != "mine" {
		t.Fatalf("k1 %v, want a kept", v)
	}
	var raw string
	if err := w.DB().QueryRow(`SELECT resolution FROM backflow.drift`).Scan(&raw); err != nil || raw != "removed" {
		t.Fatalf("drift resolution %q (%v), want removed", raw, err)
	}
}

// TestDrift_ChangeCycle: a change cycle's plan (Only, as backflow serve
// runs after a webhook) checks the drift of the keys it holds, within
// seconds of the edit, and leaves the drift of the others as it is.
func TestDrift_ChangeCycle(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	_, store, w := memfileFixture(t, 3)
	store.Declare("people", "a", "string", "v1", "v2", "v3")
	exec := func(q string) {
		t.Helper()
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE models.m AS SELECT 'k' || i AS k, 'v' || i AS a FROM range(1, 4) r(i)`)
	spec := load.Spec{Name: "people", File: "syncs/people.yml", Model: "m", Key: "k", Mode: load.Update, OnRemove: load.Clear,
		Fields: []load.Field{{Column: "a", Field: "a"}}}
	dest := &observedDest{Destination: &memfile.Destination{Store: store, Table: "people", Size: 10}}
	at := t0
	plan := func(only string) *load.Plan {
		t.Helper()
		p, err := load.NewPlan(ctx, w, spec, dest, load.PlanOptions{Now: func() time.Time { return at }, Only: only})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Apply(ctx, w, fmt.Sprint("r", at.Unix()), 0); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := func() []string {
		t.Helper()
		var out []string
		for _, r := range driftRows(t, w) {
			if r.open {
				out = append(out, r.key+"="+r.found)
			}
		}
		return out
	}
	plan("")
	// k1 and k2 edited after the push; a webhook brings k1's cycle.
	exec(`CREATE SCHEMA raw_test; CREATE TABLE raw_test.people (id VARCHAR, a VARCHAR, modified TIMESTAMPTZ)`)
	exec(fmt.Sprintf(`INSERT INTO raw_test.people VALUES ('k1', 'e1', %[1]s), ('k2', 'e2', %[1]s), ('k3', 'v3', %[1]s)`, warehouse.TimeLiteral(t0.Add(time.Second))))
	at = t0.Add(5 * time.Second)
	if p := plan("k = 'k1'"); !p.Drift.Checked || p.Drift.Found() != 1 {
		t.Fatalf("change cycle drift %+v, want k1's", p.Drift)
	}
	if got := open(); !slices.Equal(got, []string{"k1=e1"}) {
		t.Fatalf("open drift %v after k1's cycle, want k1 only", got)
	}
	at = t0.Add(time.Hour)
	plan("")
	if got := open(); !slices.Equal(got, []string{"k1=e1", "k2=e2"}) {
		t.Fatalf("open drift %v after a full plan, want k1 and k2", got)
	}
	// k2 reverted by hand; a cycle for k1 does not look at k2.
	exec(`UPDATE raw_test.people SET a = 'v2', modified = ` + warehouse.TimeLiteral(t0.Add(2*time.Hour)) + ` WHERE id = 'k2'`)
	at = t0.Add(3 * time.Hour)
	plan("k = 'k1'")
	if got := open(); !slices.Equal(got, []string{"k1=e1", "k2=e2"}) {
		t.Fatalf("open drift %v after k1's cycle, want k2's left for a plan that reads it", got)
	}
	at = t0.Add(4 * time.Hour)
	plan("k = 'k2'")
	if got := open(); !slices.Equal(got, []string{"k1=e1"}) {
		t.Fatalf("open drift %v after k2's cycle, want k2 resolved", got)
	}
}
