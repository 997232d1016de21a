package examples_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// recipe is one recipe run against its own sandbox, on a clock of its
// own: the sandbox's history ends at the clock's start, and each run
// happens a second after the one before.
type recipe struct {
	t     *testing.T
	sb    *sandbox.Sandbox
	clock *clock.Manual
	fsys  fstest.MapFS
	db    string
	runs  int
}

func newRecipe(t *testing.T, name string, now time.Time) *recipe {
	t.Helper()
	clk := clock.NewManual(now)
	sb, err := sandbox.Start(sandbox.Options{Contacts: 300, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	fsys := fstest.MapFS{}
	err = fs.WalkDir(examples.Recipe(name), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(examples.Recipe(name), p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return &recipe{t: t, sb: sb, clock: clk, fsys: fsys, db: filepath.Join(t.TempDir(), "w.duckdb")}
}

func (r *recipe) options() pipeline.Options {
	r.t.Helper()
	p, err := project.LoadWith(r.fsys, "recipe", builtin.Connectors(), project.Options{Set: r.sb.Settings()})
	if err != nil {
		r.t.Fatal(err)
	}
	secrets, err := p.Secrets(r.sb.Lookup)
	if err != nil {
		r.t.Fatal(err)
	}
	return pipeline.Options{Project: p.Pipeline(), WarehousePath: r.db, Now: r.clock.Now, Secrets: secrets}
}

// run runs the recipe and returns what each sync pushed.
func (r *recipe) run() map[string]int64 {
	r.t.Helper()
	if r.runs > 0 {
		// Runs come a few seconds apart, past search's lag (3 s), so each
		// sees the one before; still short of the next day at every instant.
		r.clock.Advance(5 * time.Second)
	}
	r.runs++
	res, err := pipeline.Run(context.Background(), r.options())
	if err != nil {
		r.t.Fatalf("run %d: %v", r.runs, err)
	}
	pushed := map[string]int64{}
	for _, s := range res.Syncs {
		if s.Failed+s.Rejected+s.Skipped > 0 {
			r.t.Errorf("run %d: %s: %d failed, %d rejected, %d skipped", r.runs, s.Sync, s.Failed, s.Rejected, s.Skipped)
		}
		pushed[s.Sync] = s.Applied
	}
	return pushed
}

// rows queries the DuckDB file (read-only) as strings, at the recipe's
// present (run_started_at()).
func (r *recipe) rows(q string, args ...any) [][]string {
	r.t.Helper()
	w, err := warehouse.Open(context.Background(), r.db, warehouse.Options{ReadOnly: true, RunStartedAt: r.clock.Now()})
	if err != nil {
		r.t.Fatal(err)
	}
	defer w.Close()
	rs, err := w.DB().Query(q, args...)
	if err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			r.t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	return out
}

func (r *recipe) one(q string, args ...any) []string {
	r.t.Helper()
	rows := r.rows(q, args...)
	if len(rows) == 0 {
		r.t.Fatalf("no row: %s", q)
	}
	return rows[0]
}

func (r *recipe) count(q string, args ...any) int {
	r.t.Helper()
	n, err := strconv.Atoi(r.one(q, args...)[0])
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *recipe) hubspot(objectType, id string) map[string]string {
	r.t.Helper()
	o, ok := r.sb.HubSpot.Object(objectType, id)
	if !ok {
		r.t.Fatalf("HubSpot has no %s %s", objectType, id)
	}
	return o.Properties
}

// record adds product activity a visitor did at t, as Pendo would
// collect it.
func (r *recipe) record(a pendotest.Activity) {
	if a.AppID == 0 {
		a.AppID = pendotest.DefaultAppID
	}
	r.sb.Pendo.Record(a)
}

// recipeCase drives one recipe: a check after the first run, then a change
// to the emulators returning what the third run must push per sync, and a
// check after it.
type recipeCase struct {
	name   string
	first  func(r *recipe, pushed map[string]int64)
	change func(r *recipe) map[string]int64
	third  func(r *recipe)
}

func recipeCases() []recipeCase {
	return []recipeCase{hubspotToPendo(), npsToHubSpot(), churnRiskTasks(), pqlLifecycleStage(), trialMilestones(),
		featureAdoption(), expansionDeals(), pendoEventsToHubSpot(), warehouseEventsToPendo(), segmentToList(), listsToPendo(), pendoIDs(), segmentsToProperty()}
}

// TestRecipes runs each recipe three times against a sandbox of its own,
// at every instant of clocktest.Instants (midnights, DST days, a month and
// a year end): the first run sends, the second sends nothing, and after a
// change to the emulators the third sends exactly its consequences.
func TestRecipes(t *testing.T) {
	var names []string
	for _, c := range recipeCases() {
		names = append(names, c.name)
	}
	if got := examples.Recipes(); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Fatalf("recipes %v, tested %v: every recipe needs a case", got, names)
	}
	for _, in := range clocktest.Instants {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range recipeCases() {
				t.Run(c.name, func(t *testing.T) { testRecipe(t, c, in.Time) })
			}
		})
	}
}

func testRecipe(t *testing.T, c recipeCase, now time.Time) {
	r := newRecipe(t, c.name, now)
	first := r.run()
	for sync, n := range first {
		if n == 0 {
			t.Errorf("first run: %s pushed nothing", sync)
		}
	}
	c.first(r, first)
	for sync, n := range r.run() {
		if n != 0 {
			t.Errorf("second run: %s pushed %d, want 0", sync, n)
		}
	}
	want := c.change(r)
	got := r.run()
	for sync := range got {
		if got[sync] != want[sync] {
			t.Errorf("third run: %s pushed %d, want %d", sync, got[sync], want[sync])
		}
	}
	c.third(r)
}

func hubspotToPendo() recipeCase {
	var visitor, contact, phone string
	return recipeCase{
		name: "hubspot-to-pendo-metadata",
		first: func(r *recipe, _ map[string]int64) {
			row := r.one(`SELECT visitor_id, CAST(epoch_ms(CAST(trial_started AS TIMESTAMP)) AS VARCHAR), beta_opt_in, hubspotscore FROM models.hp_contact_traits
				WHERE trial_started IS NOT NULL AND beta_opt_in IS NOT NULL ORDER BY visitor_id LIMIT 1`)
			md, ok := r.sb.Pendo.Visitor(row[0])
			if !ok {
				r.t.Fatalf("Pendo has no visitor %s", row[0])
			}
			c := md["custom"]
			// Pendo holds each value in its own type, as its integration would.
			if ms, _ := strconv.ParseInt(row[1], 10, 64); fmt.Sprint(c["hubspot_trial_started"]) != fmt.Sprint(ms) {
				r.t.Errorf("date -> time: %v (%T), want %d (midnight UTC in ms)", c["hubspot_trial_started"], c["hubspot_trial_started"], ms)
			}
			if b, ok := c["hubspot_beta_opt_in"].(bool); !ok || strconv.FormatBool(b) != row[2] {
				r.t.Errorf("checkbox -> boolean: %v (%T), want %s", c["hubspot_beta_opt_in"], c["hubspot_beta_opt_in"], row[2])
			}
			if f, ok := c["hubspot_score"].(float64); !ok || strconv.FormatFloat(f, 'f', -1, 64) != strings.TrimSuffix(row[3], ".0") {
				r.t.Errorf("number -> float: %v (%T), want %s", c["hubspot_score"], c["hubspot_score"], row[3])
			}
			for _, f := range []string{"hubspot_lifecyclestage", "hubspot_created_at", "hubspot_firstname"} {
				if _, ok := c[f]; !ok {
					r.t.Errorf("visitor %s lacks %s", row[0], f)
				}
			}
		},
		change: func(r *recipe) map[string]int64 {
			row := r.one(`SELECT visitor_id, contact_id FROM models.identity_contacts_visitors WHERE status = 'matched' ORDER BY visitor_id LIMIT 1`)
			visitor, contact, phone = row[0], row[1], "+1 555 010 9999"
			if err := r.sb.HubSpot.UpdateObject("contacts", contact, map[string]string{"phone": phone}); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"hp_visitor_traits": 1, "hp_account_traits": 0}
		},
		third: func(r *recipe) {
			md, _ := r.sb.Pendo.Visitor(visitor)
			if got := md["custom"]["hubspot_phone"]; got != phone {
				r.t.Errorf("phone in Pendo: %v, want %s", got, phone)
			}
			// A file property is refused before anything is sent.
			sqlText := string(r.fsys["models/hp_contact_traits.sql"].Data)
			r.fsys["models/hp_contact_traits.sql"] = &fstest.MapFile{Data: []byte(strings.Replace(sqlText, "    c.createdate ", "    c.signed_contract,\n    c.createdate ", 1))}
			res, err := pipeline.Run(context.Background(), r.options())
			if err == nil || !strings.Contains(err.Error(), "sync hp_visitor_traits: not run: data test hp_no_file_properties failed") {
				r.t.Errorf("a file property mapped: %v", err)
			}
			for _, s := range res.Syncs {
				if s.Applied > 0 {
					r.t.Errorf("a file property mapped, yet %s pushed %d", s.Sync, s.Applied)
				}
			}
		},
	}
}

func npsToHubSpot() recipeCase {
	var contact string
	return recipeCase{
		name: "nps-to-hubspot",
		first: func(r *recipe, pushed map[string]int64) {
			for _, row := range r.rows(`SELECT contact_id, nps_category, CAST(nps_score AS INT) FROM models.nps_latest`) {
				p := r.hubspot("contacts", row[0])
				if p["pendo_nps_category"] != row[1] || strings.TrimSuffix(p["pendo_nps_score"], ".0") != row[2] {
					r.t.Fatalf("contact %s: category %q score %q, want %s %s", row[0], p["pendo_nps_category"], p["pendo_nps_score"], row[1], row[2])
				}
			}
		},
		change: func(r *recipe) map[string]int64 {
			// A promoter answers again, three hours ago, with a 2.
			row := r.one(`SELECT l.visitor_id, i.contact_id FROM raw_pendo.nps_responses l
				JOIN models.identity_contacts_visitors i ON i.visitor_id = l.visitor_id AND i.status = 'matched'
				GROUP BY ALL HAVING max(l.responded_at) < run_started_at() - INTERVAL 4 HOUR AND arg_max(l.score, l.responded_at) >= 9
				ORDER BY 1 LIMIT 1`)
			contact = row[1]
			r.record(pendotest.Activity{Kind: "poll", GuideType: "pollResponse", GuideID: pendotest.NPSGuideID, GuideStepID: "step-1",
				PollID: pendotest.NPSScorePollID, Response: 2.0, VisitorID: row[0], Time: r.clock.Now().Add(-3 * time.Hour)})
			return map[string]int64{"nps_to_contacts": 1}
		},
		third: func(r *recipe) {
			if p := r.hubspot("contacts", contact); p["pendo_nps_category"] != "detractor" || strings.TrimSuffix(p["pendo_nps_score"], ".0") != "2" {
				r.t.Errorf("contact %s after a new answer: %q %q, want detractor 2", contact, p["pendo_nps_category"], p["pendo_nps_score"])
			}
		},
	}
}

// recordsByKey is every HubSpot record of object carrying a backflow_key.
func recordsByKey(r *recipe, object string) map[string]string {
	out := map[string]string{}
	for _, id := range r.sb.HubSpot.ObjectIDs(object) {
		if k := r.hubspot(object, id)["backflow_key"]; k != "" {
			if _, dup := out[k]; dup {
				r.t.Errorf("two %s carry key %s", object, k)
			}
			out[k] = id
		}
	}
	return out
}

// checkCreated checks that HubSpot holds one record of object per row of
// query (key, company id, owner id), associated to that company and owned
// by that owner, and returns the records by key.
func checkCreated(r *recipe, object, query string) map[string]string {
	r.t.Helper()
	records := recordsByKey(r, object)
	rows := r.rows(query)
	if len(records) != len(rows) {
		r.t.Fatalf("%d %s carry a backflow key, the model has %d rows", len(records), object, len(rows))
	}
	for _, row := range rows {
		id := records[row[0]]
		if got := r.sb.HubSpot.Associations(object, id, "companies"); !slices.Equal(got, []string{row[1]}) {
			r.t.Errorf("%s %s is associated to companies %v, want %s", object, row[0], got, row[1])
		}
		if got := r.hubspot(object, id)["hubspot_owner_id"]; got != row[2] {
			r.t.Errorf("%s %s is owned by %s, want the company owner %s", object, row[0], got, row[2])
		}
	}
	return records
}

func churnRiskTasks() recipeCase {
	var taskID, owner string
	return recipeCase{
		name: "churn-risk-tasks",
		first: func(r *recipe, pushed map[string]int64) {
			checkCreated(r, "tasks", `SELECT task_key, company_id, owner_id FROM models.churn_risk_tasks`)
		},
		change: func(r *recipe) map[string]int64 {
			// The at-risk company gets a new owner: its open task follows.
			row := r.one(`SELECT t.task_key, t.company_id, t.owner_id, (SELECT min(c.hubspot_owner_id) FROM raw_hubspot.companies c WHERE c.hubspot_owner_id <> t.owner_id)
				FROM models.churn_risk_tasks t ORDER BY 1 LIMIT 1`)
			taskID, owner = recordsByKey(r, "tasks")[row[0]], row[3]
			if err := r.sb.HubSpot.UpdateObject("companies", row[1], map[string]string{"hubspot_owner_id": owner}); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"churn_risk_tasks": 1}
		},
		third: func(r *recipe) {
			if got := r.hubspot("tasks", taskID)["hubspot_owner_id"]; got != owner {
				r.t.Errorf("task owner %s, want the new company owner %s", got, owner)
			}
			if n, want := len(recordsByKey(r, "tasks")), r.count(`SELECT count(*) FROM models.churn_risk_tasks`); n != want {
				r.t.Errorf("%d tasks, want %d (one per episode)", n, want)
			}
		},
	}
}

// pendoIDs: matched contacts and companies carry their Pendo ids; a new
// contact that matches a visitor HubSpot did not have sends exactly that
// contact.
func pendoIDs() recipeCase {
	var visitor, contact string
	return recipeCase{
		name: "pendo-ids-to-hubspot",
		first: func(r *recipe, _ map[string]int64) {
			row := r.one(`SELECT id, pendo_visitor_id FROM models.pendo_visitor_ids ORDER BY id LIMIT 1`)
			if got := r.hubspot("contacts", row[0])["pendo_visitor_id"]; got != row[1] {
				r.t.Errorf("contact %s: pendo_visitor_id %q, want %q", row[0], got, row[1])
			}
			row = r.one(`SELECT id, pendo_account_id FROM models.pendo_account_ids ORDER BY id LIMIT 1`)
			if got := r.hubspot("companies", row[0])["pendo_account_id"]; got != row[1] {
				r.t.Errorf("company %s: pendo_account_id %q, want %q", row[0], got, row[1])
			}
		},
		change: func(r *recipe) map[string]int64 {
			// A visitor HubSpot has no contact for signs up in the CRM.
			row := r.one(`SELECT visitor_id, lower(trim(agent__email)) FROM raw_pendo.visitors WHERE visitor_id LIKE 'user-x%' AND
				agent__email IS NOT NULL AND lower(trim(agent__email)) NOT IN (SELECT lower(email) FROM raw_hubspot.contacts WHERE email IS NOT NULL)
				ORDER BY visitor_id LIMIT 1`)
			visitor = row[0]
			id, err := r.sb.HubSpot.CreateObject("contacts", map[string]string{"email": row[1], "firstname": "New"})
			if err != nil {
				r.t.Fatal(err)
			}
			contact = id
			return map[string]int64{"pendo_visitor_ids": 1, "pendo_account_ids": 0}
		},
		third: func(r *recipe) {
			if got := r.hubspot("contacts", contact)["pendo_visitor_id"]; got != visitor {
				r.t.Errorf("the new contact %s: pendo_visitor_id %q, want %q", contact, got, visitor)
			}
		},
	}
}

// listsToPendo: Pendo visitors carry their contact's lists; a contact
// joining the Newsletter list sends exactly its visitor.
func listsToPendo() recipeCase {
	var visitor string
	return recipeCase{
		name: "hubspot-lists-to-pendo",
		first: func(r *recipe, _ map[string]int64) {
			row := r.one(`SELECT visitor_id, hubspot_lists FROM models.hubspot_list_traits WHERE in_newsletter ORDER BY visitor_id LIMIT 1`)
			md, _ := r.sb.Pendo.Visitor(row[0])
			if md["custom"]["in_newsletter"] != true || md["custom"]["hubspot_lists"] != row[1] {
				r.t.Fatalf("visitor %s: %v, want in_newsletter and lists %q", row[0], md["custom"], row[1])
			}
		},
		change: func(r *recipe) map[string]int64 {
			row := r.one(`SELECT i.visitor_id, i.contact_id FROM models.identity_contacts_visitors i JOIN models.hubspot_list_traits t USING (visitor_id)
				WHERE i.status = 'matched' AND NOT t.in_newsletter ORDER BY i.contact_id LIMIT 1`)
			visitor = row[0]
			list, _ := r.sb.HubSpot.ListByName(sandbox.ListNewsletter)
			if err := r.sb.HubSpot.AddToList(list, row[1]); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"hubspot_list_traits": 1}
		},
		third: func(r *recipe) {
			if md, _ := r.sb.Pendo.Visitor(visitor); md["custom"]["in_newsletter"] != true || !strings.Contains(fmt.Sprint(md["custom"]["hubspot_lists"]), "Newsletter") {
				r.t.Errorf("visitor %s after joining the list: %v", visitor, md["custom"])
			}
		},
	}
}

// segmentToList: the list holds the segment's matched contacts; a visitor
// leaving the segment and another joining send exactly one remove and one
// add.
func segmentToList() recipeCase {
	var list, leaving, joining string
	var members []string
	return recipeCase{
		name: "pendo-segment-to-hubspot-list",
		first: func(r *recipe, _ map[string]int64) {
			id, ok := r.sb.HubSpot.ListByName(sandbox.ListPQL)
			if !ok {
				r.t.Fatal("no Product qualified list")
			}
			list = id
			for _, row := range r.rows(`SELECT contact_id FROM models.segment_pql_contacts ORDER BY contact_id::BIGINT`) {
				members = append(members, row[0])
			}
			if got := r.sb.HubSpot.ListMembers(list); !slices.Equal(got, members) {
				r.t.Fatalf("list members %v, want the model's %v", got, members)
			}
		},
		change: func(r *recipe) map[string]int64 {
			seg, _ := r.sb.Pendo.SegmentByName(sandbox.SegmentPQL)
			in := r.rows(`SELECT i.visitor_id, i.contact_id FROM models.identity_contacts_visitors i
				JOIN raw_pendo.segment_members m ON m.visitor_id = i.visitor_id WHERE i.status = 'matched' ORDER BY 2 LIMIT 1`)
			out := r.rows(`SELECT visitor_id, contact_id FROM models.identity_contacts_visitors WHERE status = 'matched'
				AND visitor_id NOT IN (SELECT visitor_id FROM raw_pendo.segment_members) ORDER BY 2 LIMIT 1`)
			leaving, joining = in[0][1], out[0][1]
			if err := r.sb.Pendo.RemoveFromSegment(seg, in[0][0]); err != nil {
				r.t.Fatal(err)
			}
			if err := r.sb.Pendo.AddToSegment(seg, out[0][0]); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"pql_list": 2}
		},
		third: func(r *recipe) {
			got := r.sb.HubSpot.ListMembers(list)
			if slices.Contains(got, leaving) || !slices.Contains(got, joining) || len(got) != len(members) {
				r.t.Errorf("after the change the list holds %d members (leaving %s in: %v, joining %s in: %v), want %d",
					len(got), leaving, slices.Contains(got, leaving), joining, slices.Contains(got, joining), len(members))
			}
		},
	}
}

// segmentsToProperty: each matched contact's segments in a multiple
// checkboxes property; a visitor leaving its only segment clears its
// contact, one whose language turns French joins the rule segment too and
// its contact holds both.
func segmentsToProperty() recipeCase {
	var leaving, joining string
	return recipeCase{
		name: "pendo-segments-to-hubspot-property",
		first: func(r *recipe, _ map[string]int64) {
			for _, row := range r.rows(`SELECT id, pendo_segments FROM models.contact_segments ORDER BY pendo_segments DESC, id LIMIT 3`) {
				if got := r.hubspot("contacts", row[0])[sandbox.PropertySegments]; got != row[1] {
					r.t.Errorf("contact %s: %s %q, want %q", row[0], sandbox.PropertySegments, got, row[1])
				}
			}
		},
		change: func(r *recipe) map[string]int64 {
			seg, _ := r.sb.Pendo.SegmentByName(sandbox.SegmentPQL)
			only := r.rows(`SELECT i.visitor_id, i.contact_id FROM models.identity_contacts_visitors i JOIN models.contact_segments c ON c.id = i.contact_id
				WHERE i.status = 'matched' AND c.pendo_segments = 'Product qualified' ORDER BY 2 LIMIT 2`)
			leaving, joining = only[0][1], only[1][1]
			if err := r.sb.Pendo.RemoveFromSegment(seg, only[0][0]); err != nil {
				r.t.Fatal(err)
			}
			md, ok := r.sb.Pendo.Visitor(only[1][0])
			if !ok {
				r.t.Fatalf("no visitor %s", only[1][0])
			}
			if md["agent"] == nil {
				md["agent"] = map[string]any{}
			}
			md["agent"]["language"] = "fr_FR"
			r.sb.Pendo.PutVisitor(only[1][0], md)
			return map[string]int64{"contact_segments": 2}
		},
		third: func(r *recipe) {
			if got := r.hubspot("contacts", leaving)[sandbox.PropertySegments]; got != "" {
				r.t.Errorf("contact %s left its only segment: %s %q, want it cleared", leaving, sandbox.PropertySegments, got)
			}
			want := sandbox.SegmentFrench + ";" + sandbox.SegmentPQL
			if got := r.hubspot("contacts", joining)[sandbox.PropertySegments]; got != want {
				r.t.Errorf("contact %s joined %s: %s %q, want %q", joining, sandbox.SegmentFrench, sandbox.PropertySegments, got, want)
			}
		},
	}
}

func pqlLifecycleStage() recipeCase {
	var promoted []string
	var back string
	return recipeCase{
		name: "pql-lifecycle-stage",
		first: func(r *recipe, pushed map[string]int64) {
			for _, row := range r.rows(`SELECT key FROM backflow.sync_rows WHERE sync = 'pql_lifecycle_stage' AND status = 'applied'`) {
				promoted = append(promoted, row[0])
				if got := r.hubspot("contacts", row[0])["lifecyclestage"]; got != "salesqualifiedlead" {
					r.t.Errorf("contact %s: stage %s, want salesqualifiedlead", row[0], got)
				}
			}
		},
		change: func(r *recipe) map[string]int64 {
			// A rep moves one back to lead; it still qualifies.
			slices.Sort(promoted)
			back = promoted[0]
			if err := r.sb.HubSpot.UpdateObject("contacts", back, map[string]string{"lifecyclestage": "lead"}); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"pql_lifecycle_stage": 1}
		},
		third: func(r *recipe) {
			if got := r.hubspot("contacts", back)["lifecyclestage"]; got != "salesqualifiedlead" {
				r.t.Errorf("contact %s: stage %s, want salesqualifiedlead again", back, got)
			}
		},
	}
}

func trialMilestones() recipeCase {
	var deal, stage string
	return recipeCase{
		name: "trial-milestones-deal-stage",
		first: func(r *recipe, pushed map[string]int64) {
			for _, row := range r.rows(`SELECT key FROM backflow.sync_rows WHERE sync = 'trial_deal_stages' AND status = 'applied'`) {
				if got := r.hubspot("deals", row[0])["dealstage"]; got == "appointmentscheduled" || got == "closedwon" || got == "closedlost" {
					r.t.Errorf("deal %s: stage %s after advancing", row[0], got)
				}
				deal = row[0]
			}
		},
		change: func(r *recipe) map[string]int64 {
			stage = r.hubspot("deals", deal)["dealstage"]
			if err := r.sb.HubSpot.UpdateObject("deals", deal, map[string]string{"dealstage": "appointmentscheduled"}); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"trial_deal_stages": 1}
		},
		third: func(r *recipe) {
			if got := r.hubspot("deals", deal)["dealstage"]; got != stage {
				r.t.Errorf("deal %s: stage %s, want %s again", deal, got, stage)
			}
		},
	}
}

func featureAdoption() recipeCase {
	var contact string
	return recipeCase{
		name: "feature-adoption",
		first: func(r *recipe, pushed map[string]int64) {
			for _, row := range r.rows(`SELECT contact_id, features_used, feature_count FROM models.feature_adoption ORDER BY 1 LIMIT 20`) {
				p := r.hubspot("contacts", row[0])
				if p["pendo_features_used"] != row[1] || strings.TrimSuffix(p["pendo_feature_count"], ".0") != row[2] {
					r.t.Errorf("contact %s: %q (%s), want %q (%s)", row[0], p["pendo_features_used"], p["pendo_feature_count"], row[1], row[2])
				}
			}
		},
		change: func(r *recipe) map[string]int64 {
			// The visitor with the fewest features tries one more.
			row := r.one(`SELECT a.contact_id, i.visitor_id, (SELECT min(c.id) FROM raw_pendo.catalog c WHERE c.kind = 'feature'
					AND NOT list_contains(string_split(a.features_used, ';'), c.name))
				FROM models.feature_adoption a JOIN models.identity_contacts_visitors i ON i.contact_id = a.contact_id AND i.status = 'matched'
				ORDER BY a.feature_count, a.contact_id LIMIT 1`)
			contact = row[0]
			r.record(pendotest.Activity{Kind: "feature", FeatureID: row[2], VisitorID: row[1], Time: r.clock.Now().Add(-2 * time.Hour)})
			return map[string]int64{"feature_adoption": 1}
		},
		third: func(r *recipe) {
			want := r.one(`SELECT features_used FROM models.feature_adoption WHERE contact_id = ?`, contact)[0]
			if got := r.hubspot("contacts", contact)["pendo_features_used"]; got != want {
				r.t.Errorf("contact %s: %q, want %q", contact, got, want)
			}
		},
	}
}

func expansionDeals() recipeCase {
	var company string
	return recipeCase{
		name: "expansion-deals",
		first: func(r *recipe, pushed map[string]int64) {
			for key, id := range checkCreated(r, "deals", `SELECT deal_key, company_id, owner_id FROM models.expansion_deals`) {
				if ctx := r.hubspot("deals", id)["backflow_usage_context"]; !strings.Contains(ctx, "seats") {
					r.t.Errorf("deal %s: usage context %q", key, ctx)
				}
			}
		},
		change: func(r *recipe) map[string]int64 {
			// A customer under its threshold downgrades: fewer seats than
			// people now using the product.
			row := r.one(`WITH active AS (
					SELECT account_id, count(DISTINCT visitor_id) AS people FROM raw_pendo.events
					WHERE CAST(day AT TIME ZONE 'UTC' AS DATE) > CAST(run_started_at() AT TIME ZONE 'UTC' AS DATE) - 30 GROUP BY 1)
				SELECT m.company_id, string_agg(sc.from_id, ','), any_value(a.people) FROM active a
				JOIN models.identity_companies_accounts m ON m.account_id = a.account_id AND m.status = 'matched'
				JOIN raw_hubspot.subscription_company sc ON sc.to_id = m.company_id
				WHERE m.company_id NOT IN (SELECT company_id FROM models.expansion_deals) AND a.people >= 2
				GROUP BY 1 ORDER BY 1 LIMIT 1`)
			company = row[0]
			people, _ := strconv.Atoi(row[2])
			for _, sub := range strings.Split(row[1], ",") {
				if err := r.sb.HubSpot.UpdateObject("subscription", sub, map[string]string{"seats": strconv.Itoa(people - 1)}); err != nil {
					r.t.Fatal(err)
				}
			}
			return map[string]int64{"expansion_deals": 1}
		},
		third: func(r *recipe) {
			deals := recordsByKey(r, "deals")
			id, ok := deals["expansion:"+company]
			if !ok {
				r.t.Fatalf("no expansion deal for company %s", company)
			}
			if got := r.sb.HubSpot.Associations("deals", id, "companies"); !slices.Equal(got, []string{company}) {
				r.t.Errorf("new deal: companies %v, want %s", got, company)
			}
			if n, want := len(deals), r.count(`SELECT count(*) FROM models.expansion_deals`); n != want {
				r.t.Errorf("%d expansion deals, want %d (one per company)", n, want)
			}
		},
	}
}

func pendoEventsToHubSpot() recipeCase {
	var before int
	return recipeCase{
		name: "pendo-events-to-hubspot",
		first: func(r *recipe, pushed map[string]int64) {
			events := r.sb.HubSpot.Events()
			keys := map[string]bool{}
			for _, e := range events {
				keys[e.UUID] = true
			}
			rows := r.rows(`SELECT event_key FROM models.pendo_feature_events`)
			if len(events) != len(rows) || len(keys) != len(rows) {
				r.t.Fatalf("HubSpot holds %d events (%d uuids), the model %d", len(events), len(keys), len(rows))
			}
			for _, row := range rows {
				if !keys[row[0]] {
					r.t.Fatalf("event %s is not in HubSpot", row[0])
				}
			}
			before = len(events)
		},
		change: func(r *recipe) map[string]int64 {
			// A late event lands in yesterday's bucket: a feature the visitor
			// did not use that day.
			row := r.one(`WITH y AS (SELECT max(day) - INTERVAL 1 DAY AS day FROM raw_pendo.feature_events)
				SELECT i.visitor_id, c.id FROM models.identity_contacts_visitors i, raw_pendo.catalog c, y
				WHERE i.status = 'matched' AND c.kind = 'feature' AND NOT EXISTS (
					SELECT 1 FROM raw_pendo.feature_events f WHERE f.visitor_id = i.visitor_id AND f.feature_id = c.id AND f.day = y.day)
				ORDER BY 1, 2 LIMIT 1`)
			at := r.one(`SELECT strftime(max(day) - INTERVAL 12 HOUR, '%Y-%m-%dT%H:%M:%SZ') FROM raw_pendo.feature_events`)[0]
			ts, err := time.Parse(time.RFC3339, at)
			if err != nil {
				r.t.Fatal(err)
			}
			r.record(pendotest.Activity{Kind: "feature", FeatureID: row[1], VisitorID: row[0], Time: ts})
			return map[string]int64{"pendo_feature_events": 1}
		},
		third: func(r *recipe) {
			if n := len(r.sb.HubSpot.Events()); n != before+1 {
				r.t.Errorf("HubSpot holds %d events, want %d", n, before+1)
			}
		},
	}
}

func warehouseEventsToPendo() recipeCase {
	var before, want int
	return recipeCase{
		name: "warehouse-events-to-pendo",
		first: func(r *recipe, pushed map[string]int64) {
			before = r.sb.Pendo.TrackReceived()
			if int64(before) != pushed["deal_won_events"] {
				r.t.Errorf("Pendo received %d track events, pushed %d", before, pushed["deal_won_events"])
			}
		},
		change: func(r *recipe) map[string]int64 {
			// A deal with people who use the product is won.
			row := r.one(`SELECT d.id, count(DISTINCT i.visitor_id) FROM raw_hubspot.deals d
				JOIN raw_hubspot.deal_contact dc ON dc.from_id = d.id
				JOIN models.identity_contacts_visitors i ON i.contact_id = dc.to_id AND i.status = 'matched'
				WHERE d.dealstage NOT IN ('closedwon', 'closedlost') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1`)
			want, _ = strconv.Atoi(row[1])
			if err := r.sb.HubSpot.UpdateObject("deals", row[0], map[string]string{"dealstage": "closedwon"}); err != nil {
				r.t.Fatal(err)
			}
			return map[string]int64{"deal_won_events": int64(want)}
		},
		third: func(r *recipe) {
			if n := r.sb.Pendo.TrackReceived(); n != before+want {
				r.t.Errorf("Pendo received %d track events, want %d", n, before+want)
			}
		},
	}
}
