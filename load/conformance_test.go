package load_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// The conformance suite runs the same sync semantics against every
// destination. A model has a key k and two columns, a (text the
// destination constrains) and n (a number); each target maps them to its
// own fields and serves an emulator with four records.

// confEnv is the weather a target's emulator runs in.
type confEnv struct {
	serverErrors float64 // share of requests answered 5xx
	storm        bool    // the API's rate limit far below what the client assumes
}

// confDest is one target, ready: a destination over an emulator.
type confDest struct {
	dest    load.Destination
	sync    project.Sync
	keys    []string // four records that exist
	missing string   // a key with no record
	good    []string // values of a the destination takes
	bad     string   // a value of a it refuses
	// get returns a record's a and n as strings ("" when unset), and
	// false when the record does not exist (or is archived).
	get func(key string) (a, n string, ok bool)
	// field returns any field's value as a string ("" when unset).
	field func(key, name string) string
	// calls counts write requests that reached the emulator; limited the
	// 429s it answered.
	calls   func() int64
	limited func() int
	// storm, when set, spends the rate limit as other traffic would.
	storm func()
}

type confTarget struct {
	name     string
	onRemove []string
	new      func(t *testing.T, env confEnv) *confDest
}

var confTargets = []confTarget{
	{"hubspot_contacts", []string{"ignore", "clear", "archive"}, newHubSpotConf},
	{"pendo_visitors", []string{"ignore", "clear"}, newPendoConf},
}

func newHubSpotConf(t *testing.T, env confEnv) *confDest {
	opts := hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000, Faults: hubspottest.Faults{ServerErrorRate: env.serverErrors, Seed: 3}}
	if env.storm {
		opts.BurstLimit, opts.Window = 5, 300*time.Millisecond
	}
	emu := hubspottest.New(opts)
	emu.AddProperty("contacts", hubspottest.Property{Name: "usage_score", Label: "Usage", Type: "number", FieldType: "number", GroupName: "contactinformation"})
	d := &confDest{missing: "987654321", good: []string{"lead", "customer", "evangelist"}, bad: "NotAStage"}
	for i := 0; i < 4; i++ {
		id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%d@x.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		d.keys = append(d.keys, id)
	}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/batch/") {
			calls.Add(1)
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: "t", BurstLimit: 100_000, RetryBaseDelay: 5 * time.Millisecond, MaxRetries: 8})
	if err != nil {
		t.Fatal(err)
	}
	d.dest = &load.HubSpot{Client: c, Object: "contacts", Match: "id", Size: 2}
	d.sync = project.Sync{Name: "conf", File: "syncs/conf.yml", Model: "conf", Destination: "hubspot", Object: "contacts", Key: "k", Match: "id",
		Mode: "update", OnRemove: "ignore", BatchSize: 2,
		Fields: []project.Field{{Column: "a", Field: "lifecyclestage"}, {Column: "n", Field: "usage_score"}}}
	d.get = func(key string) (string, string, bool) {
		o, ok := emu.Object("contacts", key)
		if !ok || o.Archived {
			return "", "", false
		}
		return o.Properties["lifecyclestage"], o.Properties["usage_score"], true
	}
	d.field = func(key, name string) string { o, _ := emu.Object("contacts", key); return o.Properties[name] }
	d.calls = calls.Load
	d.limited = func() int { _, n := emu.Requests(); return n }
	if env.storm {
		// Another integration on the same app spends the whole window.
		d.storm = func() {
			for i := 0; i < opts.BurstLimit; i++ {
				req, _ := http.NewRequest("GET", srv.URL+"/crm/v3/objects/contacts?limit=1", nil)
				req.Header.Set("Authorization", "Bearer t")
				if resp, err := srv.Client().Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}
	return d
}

func newPendoConf(t *testing.T, env confEnv) *confDest {
	opts := pendotest.Options{IntegrationKey: key, Faults: pendotest.Faults{ServerErrorRate: env.serverErrors, Seed: 3}}
	if env.storm {
		opts.RequestsPerSecond = 1 // the client assumes 100
	}
	emu := pendotest.New(opts)
	emu.AddField("visitor", "custom", "stage", "string")
	emu.AddField("visitor", "custom", "score", "float")
	d := &confDest{missing: "nobody", good: []string{"lead", "customer", "evangelist"}, bad: "NotAStage"}
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("v%d", i)
		emu.PutVisitor(id, nil)
		d.keys = append(d.keys, id)
	}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/value") {
			calls.Add(1)
			// Pendo refuses a whole bulk request for one bad value.
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"NotAStage"`)) {
				http.Error(w, "Bad Request: stage: invalid value", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), IntegrationKey: key, RetryBaseDelay: 5 * time.Millisecond, MaxRetries: 8})
	if err != nil {
		t.Fatal(err)
	}
	d.dest = &load.Pendo{Client: c, Kind: pendo.Visitor, Group: "custom", Size: 2}
	d.sync = project.Sync{Name: "conf", File: "syncs/conf.yml", Model: "conf", Destination: "pendo", Object: "visitors", Key: "k",
		Mode: "update", Group: "custom", OnRemove: "ignore", BatchSize: 2,
		Fields: []project.Field{{Column: "a", Field: "stage"}, {Column: "n", Field: "score"}}}
	d.get = func(key string) (string, string, bool) {
		md, ok := emu.Visitor(key)
		if !ok {
			return "", "", false
		}
		str := func(v any) string {
			if v == nil {
				return ""
			}
			return fmt.Sprint(v)
		}
		return str(md["custom"]["stage"]), str(md["custom"]["score"]), true
	}
	d.field = func(key, name string) string {
		md, _ := emu.Visitor(key)
		if v := md["custom"][name]; v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	d.calls = calls.Load
	d.limited = func() int { _, n := emu.Requests(); return n }
	return d
}

// confRun is one target under test with its own file.
type confRun struct {
	*confDest
	t    *testing.T
	w    *warehouse.Warehouse
	runs int
}

func newConfRun(t *testing.T, target confTarget, env confEnv) *confRun {
	d := target.new(t, env)
	w, err := warehouse.Open(context.Background(), filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &confRun{confDest: d, t: t, w: w}
}

// model replaces the model with rows (key, a, n); a nil key is NULL.
func (c *confRun) model(rows ...[3]any) {
	c.t.Helper()
	var vals []string
	for _, r := range rows {
		k := "NULL"
		if r[0] != nil {
			k = "'" + r[0].(string) + "'"
		}
		vals = append(vals, fmt.Sprintf("(%s, '%s', %v::DOUBLE)", k, r[1], r[2]))
	}
	q := `CREATE OR REPLACE TABLE models.conf AS SELECT * FROM (VALUES ` + strings.Join(vals, ", ") + `) t(k, a, n)`
	if len(rows) == 0 {
		q = `CREATE OR REPLACE TABLE models.conf (k VARCHAR, a VARCHAR, n DOUBLE)`
	}
	if _, err := c.w.DB().Exec(q); err != nil {
		c.t.Fatal(err)
	}
}

func (c *confRun) push() (load.Result, error) {
	c.runs++
	return load.Sync(context.Background(), c.w, fmt.Sprint("run", c.runs), c.confDest.sync, c.dest)
}

func (c *confRun) mustPush() load.Result {
	c.t.Helper()
	r, err := c.push()
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// want checks a record's values.
func (c *confRun) want(key, a, n string) {
	c.t.Helper()
	ga, gn, ok := c.get(key)
	if !ok || ga != a || gn != n {
		c.t.Fatalf("record %s: a=%q n=%q exists=%v; want a=%q n=%q", key, ga, gn, ok, a, n)
	}
}

// quiet syncs and checks that nothing was sent.
func (c *confRun) quiet() {
	c.t.Helper()
	before := c.calls()
	if r := c.mustPush(); r.Applied+r.Failed+r.Rejected+r.Skipped != 0 || c.calls() != before {
		c.t.Fatalf("a rerun with nothing changed sent %d calls: %v", c.calls()-before, r)
	}
}

func TestConformance(t *testing.T) {
	for _, target := range confTargets {
		t.Run(target.name, func(t *testing.T) {
			t.Run("add_change_unchanged", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{})
				k := c.keys
				c.model([3]any{k[0], c.good[0], 1.5}, [3]any{k[1], c.good[1], 2.25}, [3]any{k[2], c.good[0], 3.5})
				if r := c.mustPush(); r.Added != 3 || r.Applied != 3 {
					t.Fatalf("first sync: %v", r)
				}
				c.want(k[1], c.good[1], "2.25")
				c.quiet()
				c.model([3]any{k[0], c.good[0], 1.5}, [3]any{k[1], c.good[1], 7.5}, [3]any{k[2], c.good[0], 3.5})
				if r := c.mustPush(); r.Changed != 1 || r.Applied != 1 || r.Unchanged != 2 {
					t.Fatalf("change: %v", r)
				}
				c.want(k[1], c.good[1], "7.5")
				var fields string
				c.w.DB().QueryRow(`SELECT fields::VARCHAR FROM backflow.sync_rows WHERE run_id = 'run3' AND key = ?`, k[1]).Scan(&fields)
				if strings.Count(fields, ",") != 0 {
					t.Fatalf("a change of one field sent %s", fields)
				}
			})
			for _, mode := range target.onRemove {
				t.Run("remove_"+mode, func(t *testing.T) {
					c := newConfRun(t, target, confEnv{})
					c.sync.OnRemove = mode
					if h, ok := c.dest.(*load.HubSpot); ok {
						h.Archive = mode == "archive"
					}
					k := c.keys
					c.model([3]any{k[0], c.good[0], 1.5}, [3]any{k[1], c.good[1], 2.25})
					c.mustPush()
					c.model([3]any{k[0], c.good[0], 1.5})
					if r := c.mustPush(); r.Removed != 1 {
						t.Fatalf("remove: %v", r)
					}
					switch mode {
					case "ignore":
						c.want(k[1], c.good[1], "2.25")
					case "clear":
						c.want(k[1], "", "")
					case "archive":
						if _, _, ok := c.get(k[1]); ok {
							t.Fatal("the removed record was not archived")
						}
					}
					c.want(k[0], c.good[0], "1.5")
					c.quiet()
					if mode == "archive" {
						return
					}
					// The row comes back: it is sent whole again.
					c.model([3]any{k[0], c.good[0], 1.5}, [3]any{k[1], c.good[1], 2.25})
					r := c.mustPush()
					if mode == "clear" && (r.Added != 1 || r.Applied != 1) {
						t.Fatalf("the returning row: %v", r)
					}
					c.want(k[1], c.good[1], "2.25")
				})
			}
			t.Run("duplicate_and_null_keys", func(t *testing.T) {
				for _, rows := range [][][3]any{
					{{"K0", "x", 1}, {"K0", "y", 2}},
					{{nil, "x", 1}, {"z", "y", 2}},
				} {
					c := newConfRun(t, target, confEnv{})
					for i := range rows { // K0: the first record's key
						if rows[i][0] == "K0" {
							rows[i][0] = c.keys[0]
						}
					}
					c.model(rows...)
					_, err := c.push()
					var ke *load.KeyError
					if !errors.As(err, &ke) || !strings.Contains(err.Error(), "nothing was sent") || c.calls() != 0 {
						t.Fatalf("err = %v after %d calls; want a KeyError before any call", err, c.calls())
					}
				}
			})
			t.Run("missing_record", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{})
				c.model([3]any{c.keys[0], c.good[0], 1.5}, [3]any{c.missing, c.good[0], 2.5})
				if r := c.mustPush(); r.Applied != 1 || r.Skipped != 1 {
					t.Fatalf("sync: %v", r)
				}
				if _, _, ok := c.get(c.missing); ok {
					t.Fatal("update mode created the missing record")
				}
				c.quiet() // skipped rows wait for a change, or --retry-skipped
				p, err := load.NewPlan(context.Background(), c.w, c.confDest.sync, c.dest, load.PlanOptions{RetrySkipped: true})
				if err != nil {
					t.Fatal(err)
				}
				before := c.calls()
				r, err := p.Apply(context.Background(), c.w, "retry", 0)
				p.Close()
				if err != nil || r.Skipped != 1 || r.Applied != 0 || c.calls() != before+1 {
					t.Fatalf("retry-skipped: %v %v, %d calls", r, err, c.calls()-before)
				}
				c.model([3]any{c.keys[0], c.good[0], 1.5}, [3]any{c.missing, c.good[1], 2.5})
				if r := c.mustPush(); r.Skipped != 1 {
					t.Fatalf("a changed skipped row was not retried: %v", r)
				}
			})
			t.Run("rejected_value_isolated", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{})
				k := c.keys
				c.model([3]any{k[0], c.good[0], 1.5}, [3]any{k[1], c.bad, 2.5}, [3]any{k[2], c.good[1], 3.5})
				if r := c.mustPush(); r.Applied != 2 || r.Rejected != 1 {
					t.Fatalf("sync: %v", r)
				}
				c.want(k[0], c.good[0], "1.5")
				c.want(k[2], c.good[1], "3.5")
				var status, msg string
				c.w.DB().QueryRow(`SELECT status, error FROM backflow.sync_rows WHERE key = ?`, k[1]).Scan(&status, &msg)
				if status != "rejected" || msg == "" {
					t.Fatalf("the bad row: status %q error %q", status, msg)
				}
				c.quiet()
				c.model([3]any{k[0], c.good[0], 1.5}, [3]any{k[1], c.good[2], 2.5}, [3]any{k[2], c.good[1], 3.5})
				if r := c.mustPush(); r.Applied != 1 {
					t.Fatalf("the fixed row: %v", r)
				}
				c.want(k[1], c.good[2], "2.5")
			})
			t.Run("server_errors_converge", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{serverErrors: 0.4})
				var rows [][3]any
				for i, k := range c.keys {
					rows = append(rows, [3]any{k, c.good[i%3], float64(i) + 0.5})
				}
				c.model(rows...)
				for run := 0; ; run++ {
					r, err := c.push()
					if err == nil && r.Failed == 0 && r.Added+r.Changed == 0 {
						break
					}
					if run == 20 {
						t.Fatalf("no convergence after 20 runs: %v %v", r, err)
					}
				}
				for i, k := range c.keys {
					c.want(k, c.good[i%3], fmt.Sprint(float64(i)+0.5))
				}
			})
			t.Run("rate_limit_storm", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{storm: true})
				var rows [][3]any
				for i, k := range c.keys {
					rows = append(rows, [3]any{k, c.good[i%3], float64(i) + 0.5})
				}
				c.model(rows...)
				if c.storm != nil {
					c.storm()
				}
				if r := c.mustPush(); r.Applied != 4 {
					t.Fatalf("sync: %v", r)
				}
				if c.limited() == 0 {
					t.Fatal("no 429 was answered: the storm did not happen")
				}
			})
			t.Run("create_fields", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{})
				c.confDest.sync.CreateFields = true
				c.confDest.sync.Fields = append(c.confDest.sync.Fields, project.Field{Column: "n", Field: "bf_usage_score"})
				c.model([3]any{c.keys[0], c.good[0], 1.5})
				p, err := load.NewPlan(context.Background(), c.w, c.confDest.sync, c.dest, load.PlanOptions{})
				if err != nil {
					t.Fatal(err)
				}
				p.Close()
				if len(p.Creates) != 1 || p.Creates[0].Field != "bf_usage_score" {
					t.Fatalf("plan creates %v", p.Creates)
				}
				if r := c.mustPush(); r.Applied != 1 {
					t.Fatalf("sync: %v", r)
				}
				if got := c.field(c.keys[0], "bf_usage_score"); got != "1.5" {
					t.Fatalf("the created field holds %q, want 1.5", got)
				}
				// The field exists now: nothing more to create.
				p, err = load.NewPlan(context.Background(), c.w, c.confDest.sync, c.dest, load.PlanOptions{})
				if err != nil {
					t.Fatal(err)
				}
				p.Close()
				if len(p.Creates) != 0 {
					t.Fatalf("second plan creates %v", p.Creates)
				}
			})
			t.Run("plan_changes_nothing", func(t *testing.T) {
				c := newConfRun(t, target, confEnv{})
				c.model([3]any{c.keys[0], c.good[0], 1.5}, [3]any{c.keys[1], c.good[1], 2.5})
				p, err := load.NewPlan(context.Background(), c.w, c.confDest.sync, c.dest, load.PlanOptions{})
				if err != nil {
					t.Fatal(err)
				}
				sample, err := p.Sample(context.Background(), 5)
				p.Close()
				if err != nil || len(sample) != 2 {
					t.Fatalf("sample: %v %v", sample, err)
				}
				var tables, runs int
				c.w.DB().QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'backflow' AND table_name LIKE 'snapshot_%'`).Scan(&tables)
				c.w.DB().QueryRow(`SELECT count(*) FROM backflow.sync_runs`).Scan(&runs)
				if c.calls() != 0 || tables != 0 || runs != 0 {
					t.Fatalf("the plan wrote: %d calls, %d snapshot tables, %d sync runs", c.calls(), tables, runs)
				}
				if _, _, ok := c.get(c.keys[0]); !ok {
					t.Fatal("record gone")
				}
				if a, _, _ := c.get(c.keys[0]); a == c.good[0] {
					t.Fatal("the plan changed the destination")
				}
				if r := c.mustPush(); r.Applied != 2 {
					t.Fatalf("the sync after the plan: %v", r)
				}
			})
		})
	}
}
