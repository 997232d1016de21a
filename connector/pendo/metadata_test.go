package pendo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

const key = "k"

type harness struct {
	t     *testing.T
	w     *warehouse.Warehouse
	emu   *pendotest.Server
	dest  *metadata
	posts atomic.Int32 // bulk update requests that reached the emulator
	sync  load.Spec
	runs  int
}

// newHarness serves a Pendo emulator with visitors v1..v4 and fields
// plan (string), score (float), active (boolean), behind a handler that
// refuses with 400 any bulk request naming visitor "poison".
func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t}
	h.emu = pendotest.New(pendotest.Options{IntegrationKey: key})
	for _, f := range [][2]string{{"plan", "string"}, {"score", "float"}, {"active", "boolean"}} {
		if err := h.emu.AddField("visitor", "custom", f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"v1", "v2", "v3", "v4", "poison"} {
		h.emu.PutVisitor(id, nil)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/value") {
			h.posts.Add(1)
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"poison"`)) {
				http.Error(w, "Bad Request: value rejected", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, IntegrationKey: key})
	if err != nil {
		t.Fatal(err)
	}
	h.dest = &metadata{client: c, kind: api.Visitor, group: "custom", size: 2}
	h.w, err = warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.w.Close() })
	h.sync = load.Spec{Name: "traits", File: "syncs/traits.yml", Model: "traits", Key: "id", Mode: "update", OnRemove: "ignore", Fields: []load.Field{{Column: "plan", Field: "plan"}, {Column: "score", Field: "score"}, {Column: "active", Field: "active"}}}
	return h
}

func (h *harness) model(sql string) {
	h.t.Helper()
	if _, err := h.w.DB().Exec("CREATE OR REPLACE TABLE models.traits AS " + sql); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) run() (load.Result, error) {
	h.runs++
	return load.Sync(context.Background(), h.w, "run"+string(rune('0'+h.runs)), h.sync, h.dest)
}

func (h *harness) mustRun() load.Result {
	h.t.Helper()
	res, err := h.run()
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

const base = `SELECT * FROM (VALUES ('v1', 'pro', 1.5, true), ('v2', 'free', 2.0, false), ('v3', 'pro', NULL, true)) t(id, plan, score, active)`

func TestSync_AddChangeUnchanged(t *testing.T) {
	h := newHarness(t)
	h.model(base)
	if r := h.mustRun(); r.Added != 3 || r.Applied != 3 || h.posts.Load() != 2 {
		t.Fatalf("first: %v, %d posts (batch size 2)", r, h.posts.Load())
	}
	md, _ := h.emu.Visitor("v1")
	if md["custom"]["plan"] != "pro" || md["custom"]["score"] != 1.5 || md["custom"]["active"] != true {
		t.Fatalf("v1 custom = %v", md["custom"])
	}
	before := h.posts.Load()
	if r := h.mustRun(); r.Unchanged != 3 || r.Applied != 0 || h.posts.Load() != before {
		t.Fatalf("rerun sent something: %v", r)
	}
	// One field of one row changes: one row, one field is sent.
	h.model(strings.Replace(base, "('v2', 'free', 2.0, false)", "('v2', 'team', 2.0, false)", 1))
	if r := h.mustRun(); r.Changed != 1 || r.Applied != 1 || r.Unchanged != 2 {
		t.Fatalf("change: %v", r)
	}
	var fields []any
	if err := h.w.DB().QueryRow(`SELECT fields FROM backflow.sync_rows WHERE key = 'v2' AND operation = 'change'`).Scan(&fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 1 || fields[0] != "plan" {
		t.Fatalf("fields sent = %v, want [plan]", fields)
	}
	// Clearing a value sends null, which clears it in Pendo.
	h.model(strings.Replace(base, "('v1', 'pro', 1.5, true)", "('v1', NULL, 1.5, true)", 1))
	h.mustRun()
	if md, _ := h.emu.Visitor("v1"); md["custom"]["plan"] != nil {
		t.Fatalf("v1 plan = %v, want cleared", md["custom"]["plan"])
	}
}

func TestSync_ReorderedFieldsSendNothing(t *testing.T) {
	h := newHarness(t)
	h.model(base)
	h.mustRun()
	before := h.posts.Load()
	slices.Reverse(h.sync.Fields)
	if r := h.mustRun(); r.Applied != 0 || h.posts.Load() != before {
		t.Fatalf("reordered mapping sent rows: %v", r)
	}
	// Dropping a field from the mapping sends nothing either.
	h.sync.Fields = h.sync.Fields[1:]
	if r := h.mustRun(); r.Applied != 0 || r.Unchanged != 3 || h.posts.Load() != before {
		t.Fatalf("dropped field sent rows: %v", r)
	}
}

func TestSync_KeysCheckedBeforeSending(t *testing.T) {
	tests := []struct {
		name  string
		model string
		want  string
	}{
		{"duplicate", base + ` UNION ALL SELECT 'v1', 'x', 0, false UNION ALL SELECT 'v2', 'y', 0, false`, "2 duplicated id values (e.g. v1, v2)"},
		{"null", base + ` UNION ALL SELECT NULL, 'x', 0, false`, "1 rows with a null id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.model(tt.model)
			_, err := h.run()
			var ke *load.KeyError
			if !errors.As(err, &ke) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was sent") {
				t.Fatalf("err = %v, want a KeyError containing %q", err, tt.want)
			}
			if h.posts.Load() != 0 {
				t.Fatalf("%d requests sent", h.posts.Load())
			}
		})
	}
}

func TestSync_PlanErrors(t *testing.T) {
	tests := []struct {
		name   string
		model  string
		fields []load.Field
		want   string
	}{
		{"undeclared_field", base, []load.Field{{Column: "plan", Field: "tier"}}, `syncs/traits.yml: fields: pendo visitor custom field "tier" is not declared`},
		{"missing_column", base, []load.Field{{Column: "nope", Field: "plan"}}, `syncs/traits.yml: fields.nope: model traits has no column "nope"`},
		{"incompatible_type", `SELECT 'v1' AS id, 'yes' AS active`, []load.Field{{Column: "active", Field: "active"}}, "fields.active: a VARCHAR column cannot feed pendo a boolean field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.model(tt.model)
			h.sync.Fields = tt.fields
			_, err := h.run()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if h.posts.Load() != 0 {
				t.Fatalf("%d requests sent", h.posts.Load())
			}
		})
	}
}

func TestSync_PartialFailures(t *testing.T) {
	h := newHarness(t)
	h.dest.size = 10
	// ghost is not in Pendo; poison makes Pendo refuse the whole request;
	// v4's score arrives as a string because the sync overrides the type.
	h.model(base + ` UNION ALL SELECT 'ghost', 'pro', 1, true UNION ALL SELECT 'poison', 'pro', 1, true`)
	r := h.mustRun()
	if r.Applied != 3 || r.Skipped != 1 || r.Rejected != 1 {
		t.Fatalf("result: %v", r)
	}
	status := func(k string) string {
		var s string
		h.w.DB().QueryRow(`SELECT status FROM backflow.sync_rows WHERE key = ? ORDER BY recorded_at DESC LIMIT 1`, k).Scan(&s)
		return s
	}
	if status("ghost") != "skipped_not_found" || status("poison") != "rejected" || status("v1") != "applied" {
		t.Fatalf("statuses: ghost %s, poison %s, v1 %s", status("ghost"), status("poison"), status("v1"))
	}
	// Neither is retried until its row changes.
	before := h.posts.Load()
	if r := h.mustRun(); r.Applied+r.Skipped+r.Rejected != 0 || h.posts.Load() != before {
		t.Fatalf("rerun retried unchanged skipped or rejected rows: %v", r)
	}
	// ghost appears in Pendo and its row changes: it is sent again, as an add.
	h.emu.PutVisitor("ghost", nil)
	h.model(base + ` UNION ALL SELECT 'ghost', 'team', 1, true UNION ALL SELECT 'poison', 'pro', 1, true`)
	if r := h.mustRun(); r.Added != 1 || r.Applied != 1 {
		t.Fatalf("changed ghost: %v", r)
	}
}

func TestSync_RowRejectedByPendo(t *testing.T) {
	h := newHarness(t)
	h.model(`SELECT 'v1' AS id, 'pro' AS plan, 'high' AS score`)
	h.sync.Fields = []load.Field{{Column: "plan", Field: "plan"}, {Column: "score", Field: "score", Type: "string"}}
	r := h.mustRun()
	if r.Rejected != 1 || r.Applied != 0 {
		t.Fatalf("result: %v", r)
	}
	var msg string
	h.w.DB().QueryRow(`SELECT error FROM backflow.sync_rows WHERE key = 'v1'`).Scan(&msg)
	if !strings.Contains(msg, "score") {
		t.Fatalf("error %q does not name the field", msg)
	}
}

// A plan writes nothing: no snapshot, no sync_runs row, and an existing
// snapshot is left as it was; nothing reaches the destination.
func TestPlan_NoSideEffects(t *testing.T) {
	h := newHarness(t)
	h.model(base)
	count := func(q string) int {
		var n int
		h.w.DB().QueryRow(q).Scan(&n)
		return n
	}
	p, err := load.NewPlan(context.Background(), h.w, h.sync, h.dest, load.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sample, err := p.Sample(context.Background(), 2)
	if err != nil || len(sample) != 2 || p.Counts.Added != 3 || p.Calls() != 2 {
		t.Fatalf("plan: %+v, sample %v, calls %d, %v", p.Counts, sample, p.Calls(), err)
	}
	p.Close()
	if n := count(`SELECT count(*) FROM information_schema.tables WHERE table_name = 'snapshot_traits'`); n != 0 {
		t.Fatal("planning created the snapshot")
	}
	if n := count(`SELECT count(*) FROM backflow.sync_runs`); n != 0 {
		t.Fatal("planning recorded a run")
	}
	if h.posts.Load() != 0 {
		t.Fatal("planning sent something")
	}
	h.mustRun()
	h.model(strings.Replace(base, "'free'", "'team'", 1))
	before := count(`SELECT count(*) FROM backflow.snapshot_traits WHERE payload->>'plan' = 'free'`)
	p, err = load.NewPlan(context.Background(), h.w, h.sync, h.dest, load.PlanOptions{})
	if err != nil || p.Counts.Changed != 1 {
		t.Fatalf("second plan: %+v %v", p.Counts, err)
	}
	p.Close()
	if after := count(`SELECT count(*) FROM backflow.snapshot_traits WHERE payload->>'plan' = 'free'`); after != before || before != 1 {
		t.Fatalf("planning changed the snapshot: %d → %d", before, after)
	}
}

func TestPlan_LimitAndFullResync(t *testing.T) {
	h := newHarness(t)
	h.model(base)
	ctx := context.Background()
	p, _ := load.NewPlan(ctx, h.w, h.sync, h.dest, load.PlanOptions{})
	res, err := p.Apply(ctx, h.w, "sample", 1)
	p.Close()
	if err != nil || res.Applied != 1 {
		t.Fatalf("--limit 1: %v %v", res, err)
	}
	if r := h.mustRun(); r.Added != 2 || r.Applied != 2 {
		t.Fatalf("after the sample, the rest: %v", r)
	}
	before := h.posts.Load()
	p, _ = load.NewPlan(ctx, h.w, h.sync, h.dest, load.PlanOptions{FullResync: true})
	res, err = p.Apply(ctx, h.w, "resync", 0)
	p.Close()
	if err != nil || res.Added != 3 || res.Applied != 3 || h.posts.Load() == before {
		t.Fatalf("--full-resync: %v %v", res, err)
	}
}
