// Package loadtest is the conformance suite every destination passes: the
// same sync semantics (diffs, removals, key checks, missing records,
// per-row rejections, convergence under server errors and rate-limit
// storms, plans that change nothing) run against it over its emulator.
// A connector's test calls Run with a Target describing its destination.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// Target is one destination under test.
//
// The suite's model, models.conf, has a key k and two columns: a (text
// the destination constrains) and n (a number), plus the Extra columns;
// Fixture.Spec maps them onto the destination's fields.
type Target struct {
	Name string
	// Events marks a destination of append-only events (mode events):
	// a key is sent once, ever; there are no removals and no missing
	// records.
	Events bool
	// OnRemove lists the on_remove settings it supports besides ignore.
	OnRemove []load.OnRemove
	// CreateFields: it creates the fields a sync maps and it lacks.
	CreateFields bool
	// Membership marks a destination of memberships (a list's members):
	// the spec maps a (the list a key's record is in) and no number, so a
	// change moves the record to another list and Get's n is always "".
	Membership bool
	// New builds a fresh destination over a fresh emulator in the
	// weather env describes.
	New func(t *testing.T, env Env) *Fixture
}

// Env is the weather a target's emulator runs in.
type Env struct {
	// ServerErrors is the share of write calls answered 5xx.
	ServerErrors float64
	// Storm sets the API's rate limit far below what the client assumes.
	Storm bool
}

// Fixture is one target, ready.
type Fixture struct {
	// Destination builds the destination for a spec (its OnRemove and
	// CreateFields set by the case).
	Destination func(s load.Spec) load.Destination
	// Spec is a sync of models.conf keyed k, mapping a and n.
	Spec load.Spec
	// Extra are more model columns, as SQL select items (the ids and
	// times an event needs).
	Extra string
	// Keys are four records that exist (events: four fresh event keys);
	// Missing is a key with no record.
	Keys    []string
	Missing string
	// Good are values of a the destination takes; Bad one it refuses.
	Good []string
	Bad  string
	// Get returns a record's (or an event's) a and n as strings ("" when
	// unset), and false when it does not exist (or is archived).
	Get func(key string) (a, n string, ok bool)
	// Field returns any field's value as a string ("" when unset).
	Field func(key, name string) string
	// NewField is a field the destination lacks, for create_fields.
	NewField string
	// Calls counts the write calls that reached the emulator; Limited
	// the 429s it answered (nil: the destination has no rate limit).
	Calls   func() int64
	Limited func() int
	// Storm, when set, spends the rate limit as other traffic would.
	Storm func()
}

// Run runs the suite against target.
func Run(t *testing.T, target Target) {
	t.Run("add_change_unchanged", func(t *testing.T) { addChangeUnchanged(t, target) })
	if !target.Events {
		for _, mode := range append([]load.OnRemove{load.Ignore}, target.OnRemove...) {
			t.Run("remove_"+string(mode), func(t *testing.T) { removal(t, target, mode) })
		}
	}
	t.Run("duplicate_and_null_keys", func(t *testing.T) { badKeys(t, target) })
	if !target.Events {
		t.Run("missing_record", func(t *testing.T) { missingRecord(t, target) })
	}
	t.Run("rejected_value_isolated", func(t *testing.T) { rejectedValue(t, target) })
	t.Run("server_errors_converge", func(t *testing.T) { serverErrors(t, target) })
	t.Run("rate_limit_storm", func(t *testing.T) { storm(t, target) })
	if target.CreateFields {
		t.Run("create_fields", func(t *testing.T) { createFields(t, target) })
	}
	t.Run("plan_changes_nothing", func(t *testing.T) { planChangesNothing(t, target) })
}

// run is one target under test with its own file.
type run struct {
	*Fixture
	target Target
	t      *testing.T
	w      *warehouse.Warehouse
	spec   load.Spec
	runs   int
}

// Present is the suite's clock: the file's run_started_at(), which the
// Extra columns may compute times from.
func Present() time.Time { return time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC) }

func newRun(t *testing.T, target Target, env Env) *run {
	t.Helper()
	f := target.New(t, env)
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{RunStartedAt: Present()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &run{Fixture: f, target: target, t: t, w: w, spec: f.Spec}
}

// row is a model row: key (nil is NULL), a, n.
type row struct {
	k any
	a string
	n float64
}

// model replaces the model with rows.
func (c *run) model(rows ...row) {
	c.t.Helper()
	extra := ""
	if c.Extra != "" {
		extra = ", " + c.Extra
	}
	var vals []string
	for _, r := range rows {
		k := "NULL"
		if r.k != nil {
			k = warehouse.Literal(r.k.(string))
		}
		vals = append(vals, fmt.Sprintf("(%s, %s, %v::DOUBLE)", k, warehouse.Literal(r.a), r.n))
	}
	q := `CREATE OR REPLACE TABLE models.conf AS SELECT *` + extra + ` FROM (VALUES ` + strings.Join(vals, ", ") + `) t(k, a, n)`
	if len(rows) == 0 {
		q = `CREATE OR REPLACE TABLE models.conf AS SELECT *` + extra + ` FROM (SELECT NULL::VARCHAR AS k, NULL::VARCHAR AS a, NULL::DOUBLE AS n WHERE false)`
	}
	if _, err := c.w.DB().Exec(q); err != nil {
		c.t.Fatal(err)
	}
}

func (c *run) dest() load.Destination { return c.Destination(c.spec) }

func (c *run) push() (load.Result, error) {
	c.runs++
	return load.Sync(context.Background(), c.w, fmt.Sprint("run", c.runs), c.spec, c.dest())
}

func (c *run) mustPush() load.Result {
	c.t.Helper()
	r, err := c.push()
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// want checks a record's values (a membership destination has no n).
func (c *run) want(key, a, n string) {
	c.t.Helper()
	if c.target.Membership {
		n = ""
	}
	ga, gn, ok := c.Get(key)
	if !ok || ga != a || gn != n {
		c.t.Fatalf("record %s: a=%q n=%q exists=%v; want a=%q n=%q", key, ga, gn, ok, a, n)
	}
}

// quiet syncs and checks that nothing was sent.
func (c *run) quiet() {
	c.t.Helper()
	before := c.Calls()
	if r := c.mustPush(); r.Applied+r.Failed+r.Rejected+r.Skipped != 0 || c.Calls() != before {
		c.t.Fatalf("a rerun with nothing changed sent %d calls: %v", c.Calls()-before, r)
	}
}

func (c *run) plan(opts load.PlanOptions) *load.Plan {
	c.t.Helper()
	p, err := load.NewPlan(context.Background(), c.w, c.spec, c.dest(), opts)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func addChangeUnchanged(t *testing.T, target Target) {
	c := newRun(t, target, Env{})
	k := c.Keys
	c.model(row{k[0], c.Good[0], 1.5}, row{k[1], c.Good[1], 2.25}, row{k[2], c.Good[0], 3.5})
	if r := c.mustPush(); r.Added != 3 || r.Applied != 3 {
		t.Fatalf("first sync: %v", r)
	}
	c.want(k[1], c.Good[1], "2.25")
	c.quiet()
	changed := c.Good[1] // a change of n, or a move to another list
	if target.Membership {
		changed = c.Good[2]
	}
	c.model(row{k[0], c.Good[0], 1.5}, row{k[1], changed, 7.5}, row{k[2], c.Good[0], 3.5})
	r := c.mustPush()
	if target.Events {
		// An event sent is never sent again, whatever its columns do.
		if r.Applied != 0 || r.Added != 0 {
			t.Fatalf("a changed event was sent again: %v", r)
		}
		c.want(k[1], c.Good[1], "2.25")
		c.model(row{k[0], c.Good[0], 1.5}, row{k[1], c.Good[1], 7.5}, row{k[2], c.Good[0], 3.5}, row{k[3], c.Good[2], 4.5})
		if r := c.mustPush(); r.Added != 1 || r.Applied != 1 {
			t.Fatalf("a new event: %v", r)
		}
		c.want(k[3], c.Good[2], "4.5")
		return
	}
	if r.Changed != 1 || r.Applied != 1 || r.Unchanged != 2 {
		t.Fatalf("change: %v", r)
	}
	c.want(k[1], changed, "7.5")
	var fields string
	c.w.DB().QueryRow(`SELECT fields::VARCHAR FROM backflow.sync_rows WHERE run_id = 'run3' AND key = ?`, k[1]).Scan(&fields)
	if strings.Count(fields, ",") != 0 {
		t.Fatalf("a change of one field sent %s", fields)
	}
}

func removal(t *testing.T, target Target, mode load.OnRemove) {
	c := newRun(t, target, Env{})
	c.spec.OnRemove = mode
	k := c.Keys
	c.model(row{k[0], c.Good[0], 1.5}, row{k[1], c.Good[1], 2.25})
	c.mustPush()
	c.model(row{k[0], c.Good[0], 1.5})
	if r := c.mustPush(); r.Removed != 1 {
		t.Fatalf("remove: %v", r)
	}
	switch mode {
	case load.Ignore:
		c.want(k[1], c.Good[1], "2.25")
	case load.Clear:
		c.want(k[1], "", "")
	case load.Archive:
		if _, _, ok := c.Get(k[1]); ok {
			t.Fatal("the removed record was not archived")
		}
	}
	c.want(k[0], c.Good[0], "1.5")
	c.quiet()
	if mode == load.Archive {
		return
	}
	// The row comes back: it is sent whole again.
	c.model(row{k[0], c.Good[0], 1.5}, row{k[1], c.Good[1], 2.25})
	r := c.mustPush()
	if mode == load.Clear && (r.Added != 1 || r.Applied != 1) {
		t.Fatalf("the returning row: %v", r)
	}
	c.want(k[1], c.Good[1], "2.25")
}

func badKeys(t *testing.T, target Target) {
	for _, rows := range [][]row{
		{{"K0", "x", 1}, {"K0", "y", 2}},
		{{nil, "x", 1}, {"z", "y", 2}},
	} {
		c := newRun(t, target, Env{})
		for i := range rows { // K0: the first record's key
			if rows[i].k == "K0" {
				rows[i].k = c.Keys[0]
			}
		}
		c.model(rows...)
		_, err := c.push()
		var ke *load.KeyError
		if !errors.As(err, &ke) || !strings.Contains(err.Error(), "nothing was sent") || c.Calls() != 0 {
			t.Fatalf("err = %v after %d calls; want a KeyError before any call", err, c.Calls())
		}
	}
}

func missingRecord(t *testing.T, target Target) {
	c := newRun(t, target, Env{})
	c.model(row{c.Keys[0], c.Good[0], 1.5}, row{c.Missing, c.Good[0], 2.5})
	if r := c.mustPush(); r.Applied != 1 || r.Skipped != 1 {
		t.Fatalf("sync: %v", r)
	}
	if _, _, ok := c.Get(c.Missing); ok {
		t.Fatal("update mode created the missing record")
	}
	c.quiet() // skipped rows wait for a change, or --retry-skipped
	p := c.plan(load.PlanOptions{RetrySkipped: true})
	before := c.Calls()
	r, err := p.Apply(context.Background(), c.w, "retry", 0)
	p.Close()
	if err != nil || r.Skipped != 1 || r.Applied != 0 || c.Calls() != before+1 {
		t.Fatalf("retry-skipped: %v %v, %d calls", r, err, c.Calls()-before)
	}
	c.model(row{c.Keys[0], c.Good[0], 1.5}, row{c.Missing, c.Good[1], 2.5})
	if r := c.mustPush(); r.Skipped != 1 {
		t.Fatalf("a changed skipped row was not retried: %v", r)
	}
}

func rejectedValue(t *testing.T, target Target) {
	c := newRun(t, target, Env{})
	k := c.Keys
	c.model(row{k[0], c.Good[0], 1.5}, row{k[1], c.Bad, 2.5}, row{k[2], c.Good[1], 3.5})
	if r := c.mustPush(); r.Applied != 2 || r.Rejected != 1 {
		t.Fatalf("sync: %v", r)
	}
	c.want(k[0], c.Good[0], "1.5")
	c.want(k[2], c.Good[1], "3.5")
	var status, msg string
	c.w.DB().QueryRow(`SELECT status, error FROM backflow.sync_rows WHERE key = ?`, k[1]).Scan(&status, &msg)
	if status != "rejected" || msg == "" {
		t.Fatalf("the bad row: status %q error %q", status, msg)
	}
	if _, _, ok := c.Get(k[1]); ok && target.Events {
		t.Fatal("the refused event was delivered")
	}
	c.quiet()
	c.model(row{k[0], c.Good[0], 1.5}, row{k[1], c.Good[2], 2.5}, row{k[2], c.Good[1], 3.5})
	if r := c.mustPush(); r.Applied != 1 {
		t.Fatalf("the fixed row: %v", r)
	}
	c.want(k[1], c.Good[2], "2.5")
}

func serverErrors(t *testing.T, target Target) {
	c := newRun(t, target, Env{ServerErrors: 0.4})
	var rows []row
	for i, k := range c.Keys {
		rows = append(rows, row{k, c.Good[i%3], float64(i) + 0.5})
	}
	c.model(rows...)
	for n := 0; ; n++ {
		r, err := c.push()
		if err == nil && r.Failed == 0 && r.Added+r.Changed == 0 {
			break
		}
		if n == 20 {
			t.Fatalf("no convergence after 20 runs: %v %v", r, err)
		}
	}
	for i, k := range c.Keys {
		c.want(k, c.Good[i%3], fmt.Sprint(float64(i)+0.5))
	}
}

func storm(t *testing.T, target Target) {
	c := newRun(t, target, Env{Storm: true})
	var rows []row
	for i, k := range c.Keys {
		rows = append(rows, row{k, c.Good[i%3], float64(i) + 0.5})
	}
	c.model(rows...)
	if c.Storm != nil {
		c.Storm()
	}
	if r := c.mustPush(); r.Applied != 4 {
		t.Fatalf("sync: %v", r)
	}
	if c.Limited != nil && c.Limited() == 0 {
		t.Fatal("no 429 was answered: the storm did not happen")
	}
}

func createFields(t *testing.T, target Target) {
	c := newRun(t, target, Env{})
	c.spec.CreateFields = true
	c.spec.Fields = append(slices.Clone(c.spec.Fields), load.Field{Column: "n", Field: c.NewField})
	c.model(row{c.Keys[0], c.Good[0], 1.5})
	p := c.plan(load.PlanOptions{})
	p.Close()
	if len(p.Creates) != 1 || p.Creates[0].Field != c.NewField {
		t.Fatalf("plan creates %v", p.Creates)
	}
	if r := c.mustPush(); r.Applied != 1 {
		t.Fatalf("sync: %v", r)
	}
	if got := c.Field(c.Keys[0], c.NewField); got != "1.5" {
		t.Fatalf("the created field holds %q, want 1.5", got)
	}
	// The field exists now: nothing more to create.
	p = c.plan(load.PlanOptions{})
	p.Close()
	if len(p.Creates) != 0 {
		t.Fatalf("second plan creates %v", p.Creates)
	}
}

func planChangesNothing(t *testing.T, target Target) {
	c := newRun(t, target, Env{})
	c.model(row{c.Keys[0], c.Good[0], 1.5}, row{c.Keys[1], c.Good[1], 2.5})
	p := c.plan(load.PlanOptions{})
	sample, err := p.Sample(context.Background(), 5)
	p.Close()
	if err != nil || len(sample) != 2 {
		t.Fatalf("sample: %v %v", sample, err)
	}
	var tables, runs int
	c.w.DB().QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'backflow' AND table_name LIKE 'snapshot_%'`).Scan(&tables)
	c.w.DB().QueryRow(`SELECT count(*) FROM backflow.sync_runs`).Scan(&runs)
	if c.Calls() != 0 || tables != 0 || runs != 0 {
		t.Fatalf("the plan wrote: %d calls, %d snapshot tables, %d sync runs", c.Calls(), tables, runs)
	}
	a, _, ok := c.Get(c.Keys[0])
	if !target.Events && !ok {
		t.Fatal("record gone")
	}
	if ok && a == c.Good[0] {
		t.Fatal("the plan changed the destination")
	}
	if r := c.mustPush(); r.Applied != 2 {
		t.Fatalf("the sync after the plan: %v", r)
	}
}
