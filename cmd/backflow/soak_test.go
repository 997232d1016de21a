package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// The soak's size: simulated hours of scheduled runs. make test runs the
// short soak; make soak sets BACKFLOW_SOAK_HOURS to a simulated week.
const (
	soakHoursEnv   = "BACKFLOW_SOAK_HOURS"
	soakSeedEnv    = "BACKFLOW_SOAK_SEED"
	soakShortHours = 8
)

// soakProject is a project of seven syncs, both directions, over a living
// sandbox: HubSpot traits and each contact's primary company to Pendo
// visitors, Pendo usage to HubSpot contacts, Pendo account names to HubSpot
// companies, Pendo track events per active day, HubSpot follow-up tasks
// (create mode) and HubSpot custom events per feature used.
var soakProject = map[string]string{
	"backflow.yml": `hubspot:
  base_url: {{HUBSPOT}}
  burst_limit: 190
  extract:
    objects: [contacts, companies]
    associations: true
pendo:
  base_url: {{PENDO}}
  timezone: America/New_York
  extract:
    streams: [visitors, accounts, feature_events]
    history_days: 3
`,
	"models/people.sql": `SELECT v.visitor_id, c.id AS contact_id, c.hubspotscore, c.lifecyclestage, c.firstname
FROM raw_pendo.visitors v JOIN raw_hubspot.contacts c ON lower(trim(v.agent__email)) = lower(c.email)
WHERE NOT c.archived
QUALIFY row_number() OVER (PARTITION BY v.visitor_id ORDER BY c.id) = 1
`,
	"models/scores.sql": `SELECT visitor_id, hubspotscore AS score, lifecyclestage AS stage FROM models.people WHERE hubspotscore IS NOT NULL
`,
	"syncs/scores.yml": "model: scores\ndestination: pendo\nobject: visitors\nkey: visitor_id\nbatch_size: 40\nfields:\n  score: hubspot_score\n  stage: lifecyclestage\n",
	"models/employers.sql": `SELECT p.visitor_id, co.name AS company FROM models.people p
JOIN raw_hubspot.contact_company a ON a.from_id = p.contact_id AND a.label = 'Primary'
JOIN raw_hubspot.companies co ON co.id = a.to_id
`,
	"syncs/employers.yml": "model: employers\ndestination: pendo\nobject: visitors\nkey: visitor_id\nbatch_size: 40\nfields:\n  company: company_name\n",
	"models/account_names.sql": `SELECT c.id, a.agent__name AS pendo_name FROM raw_hubspot.companies c
JOIN raw_pendo.accounts a ON a.account_id = lower(c.domain) WHERE NOT c.archived
`,
	"syncs/account_names.yml": "model: account_names\ndestination: hubspot\nobject: companies\nkey: id\nbatch_size: 25\ncreate_fields: true\nfields:\n  pendo_name: pendo_account_name\n",
	"models/usage.sql": `SELECT p.contact_id AS id, CAST(count(e.visitor_id) AS VARCHAR) || ' feature rows' AS usage
FROM models.people p LEFT JOIN raw_pendo.feature_events e ON e.visitor_id = p.visitor_id GROUP BY 1
`,
	"syncs/usage.yml": "model: usage\ndestination: hubspot\nobject: contacts\nkey: id\nbatch_size: 25\nfields:\n  usage: jobtitle\n",
	"models/active_days.sql": `SELECT event_key(visitor_id, CAST(day AS VARCHAR)) AS event_key, 'Soak Active Day' AS name, visitor_id,
	least(day + INTERVAL 12 HOUR, run_started_at() - INTERVAL 1 MINUTE) AS at
FROM (SELECT DISTINCT visitor_id, day FROM raw_pendo.feature_events WHERE day > run_started_at() - INTERVAL 4 DAY)
`,
	"syncs/active_days.yml": "model: active_days\ndestination: pendo\nobject: track_events\nkey: event_key\nbatch_size: 10\nfields:\n  name: event\n  visitor_id: visitorId\n  at: timestamp\n  event_key: ek\n",
	"models/followups.sql": `SELECT 'followup:' || contact_id AS task_key, contact_id, 'Call ' || coalesce(firstname, 'them') AS subject,
	TIMESTAMPTZ '2027-01-15 09:00:00+00' AS due
FROM models.people WHERE lifecyclestage IN ('salesqualifiedlead', 'opportunity')
`,
	"syncs/followups.yml": "model: followups\ndestination: hubspot\nobject: tasks\nmode: create\nkey: task_key\nkey_property: backflow_key\n" +
		"create_fields: true\nbatch_size: 10\nassociations:\n  - {column: contact_id, to: contacts}\nfields:\n  subject: hs_task_subject\n  due: hs_timestamp\n",
	"models/adoption.sql": `SELECT event_key(p.contact_id, e.feature_id, CAST(e.day AS VARCHAR)) AS event_key, p.contact_id, e.feature_id AS feature
FROM raw_pendo.feature_events e JOIN models.people p ON p.visitor_id = e.visitor_id
`,
	"syncs/adoption.yml": "model: adoption\ndestination: hubspot\nobject: events\nevent: soak_feature_used\nkey: event_key\nbatch_size: 50\n" +
		"fields:\n  contact_id: objectId\n  feature: feature\n",
}

// soakStats are the soak's figures.
type soakStats struct {
	runs, faultyRuns, kills, rowsChecked, violations int
	faults                                           int
	notes                                            []string
}

func (s *soakStats) violate(hour int, seed uint64, format string, args ...any) {
	s.violations++
	if len(s.notes) < 20 {
		s.notes = append(s.notes, fmt.Sprintf("hour %d (seed %d): ", hour, seed)+fmt.Sprintf(format, args...))
	}
}

// TestSoak runs backflow every simulated hour against a living sandbox
// (people editing the CRM and using the product between runs), under
// fault storms (429s at every policy, 5xx before and after the work,
// resets, locks, cut streams) and SIGKILLs of the run at a random request, and checks after
// every clean run that the destinations hold what the models say, nothing
// was created or sent twice beyond the documented bound, and the staged
// tables are the emulators' state.
func TestSoak(t *testing.T) {
	hours, seed := soakHours(t), soakSeed(t)
	start := testNow.Add(-time.Duration(hours+1) * time.Hour).Truncate(time.Hour)
	var nowNanos atomic.Int64
	nowNanos.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, nowNanos.Load()).UTC() }
	sb, err := sandbox.Start(sandbox.Options{Seed: seed, Contacts: 120, ExtraVisitors: 15, Anonymous: 3, Now: now,
		HubSpot: hubspottest.Options{BurstLimit: 190, Window: time.Second, SearchLag: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := sb.Pendo.AddField("visitor", "custom", "company_name", "string"); err != nil {
		t.Fatal(err)
	}
	life := sb.Live(sandbox.LiveOptions{Seed: seed})
	dir := t.TempDir()
	for name, body := range soakProject {
		body = strings.NewReplacer("{{HUBSPOT}}", sb.HubSpotURL, "{{PENDO}}", sb.PendoURL).Replace(body)
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hc, err := hubspot.New(hubspot.Config{BaseURL: sb.HubSpotURL, Token: sb.HubSpotToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.CreateEventDefinition(context.Background(), hubspot.EventDefinition{Name: "soak_feature_used", Label: "Feature used", PrimaryObject: "CONTACT",
		PropertyDefinitions: []hubspot.EventProperty{{Name: "feature", Label: "Feature", Type: "string"}}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUBSPOT_TOKEN": sb.HubSpotToken, "PENDO_INTEGRATION_KEY": sb.PendoKey, "PENDO_TRACK_SECRET": sb.PendoTrackSecret}
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	st := &soakStats{}
	at := func() string { return now().Format(time.RFC3339Nano) }
	for hour := 1; hour <= hours; hour++ {
		// People work through the hour: their CRM edits are stamped a
		// minute before the run, which search's 3 s lag then shows.
		from := now()
		nowNanos.Add(int64(time.Hour - time.Minute))
		if err := life.Step(from, now()); err != nil {
			t.Fatal(err)
		}
		nowNanos.Add(int64(time.Minute))
		storm, kill := rng.Float64() < 0.35, rng.Float64() < 0.3
		if storm {
			st.faults++
			sb.HubSpot.SetFaults(hubspottest.Faults{ServerErrorRate: 0.04, ResetRate: 0.02, AfterRate: 0.03, LockedRate: 0.02, MigrationRate: 0.01, RateLimitRate: 0.04, Seed: rng.Uint64()})
			sb.Pendo.SetFaults(pendotest.Faults{ServerErrorRate: 0.04, ResetRate: 0.02, AfterRate: 0.03, CutRate: 0.2, RateLimitRate: 0.04, Seed: rng.Uint64()})
		}
		st.runs++
		if kill {
			if soakKill(t, env, dir, at(), sb, rng.IntN(30)) {
				st.kills++
			}
		} else if code, _, stderr := run(t, env, "run", "--project", dir, "--now", at(), "--log-level", "error"); code != 0 && !storm {
			st.violate(hour, seed, "a run without faults failed: exit %d: %s", code, firstLine(stderr))
			continue
		}
		if storm || kill {
			st.faultyRuns++
			sb.HubSpot.SetFaults(hubspottest.Faults{})
			sb.Pendo.SetFaults(pendotest.Faults{})
			// The scheduler's retry comes minutes later, past search's lag.
			nowNanos.Add(int64(5 * time.Minute))
			st.runs++
			if code, _, stderr := run(t, env, "run", "--project", dir, "--now", at(), "--log-level", "error"); code != 0 {
				st.violate(hour, seed, "the clean run after faults failed: exit %d: %s", code, firstLine(stderr))
				continue
			}
		}
		soakCheck(t, st, sb, dir, hour, seed)
	}
	fmt.Printf("bench: soak_runs %d runs\n", st.runs)
	faults := sb.HubSpot.Faulted() + sb.HubSpot.FailedAfter() + sb.Pendo.Faulted() + sb.Pendo.FailedAfter() + sb.Pendo.Cuts()
	fmt.Printf("bench: soak_faults %d faults\n", faults)
	fmt.Printf("bench: soak_kills %d kills\n", st.kills)
	fmt.Printf("bench: soak_rows_checked %d rows\n", st.rowsChecked)
	fmt.Printf("bench: soak_violations %d violations\n", st.violations)
	t.Logf("%d simulated hours, seed %d: %d runs (%d under faults or killed), %d storms, %d faults, %d kills, %d rows checked; world changes %v",
		hours, seed, st.runs, st.faultyRuns, st.faults, faults, st.kills, st.rowsChecked, life.Changes)
	if st.violations > 0 {
		t.Fatalf("%d violations (rerun with %s=%d):\n%s", st.violations, soakSeedEnv, seed, strings.Join(st.notes, "\n"))
	}
	if st.rowsChecked == 0 {
		t.Fatal("the soak checked no rows")
	}
}

func soakHours(t *testing.T) int {
	if v := os.Getenv(soakHoursEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q is not a number of hours", soakHoursEnv, v)
		}
		return n
	}
	return soakShortHours
}

func soakSeed(t *testing.T) uint64 {
	if v := os.Getenv(soakSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q is not a seed", soakSeedEnv, v)
		}
		return n
	}
	return 1
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// soakKill runs `backflow run` in a subprocess and SIGKILLs it after the
// emulators admitted k requests; it reports whether the kill landed
// before the run ended.
func soakKill(t *testing.T, env map[string]string, dir, now string, sb *sandbox.Sandbox, k int) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "run", "--project", dir, "--now", now, "--log-level", "error")
	cmd.Env = append(os.Environ(), "BACKFLOW_AS_CLI=1")
	for name, v := range env {
		cmd.Env = append(cmd.Env, name+"="+v)
	}
	base := requests(sb)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for requests(sb)-base < k {
		select {
		case <-done:
			return false
		case <-time.After(time.Millisecond):
		}
	}
	cmd.Process.Kill()
	<-done
	return true
}

// soakCheck holds the invariants after a clean run.
func soakCheck(t *testing.T, st *soakStats, sb *sandbox.Sandbox, dir string, hour int, seed uint64) {
	t.Helper()
	w, err := warehouse.Open(context.Background(), filepath.Join(dir, "warehouse.duckdb"), warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	db := w.DB().DB
	settled := func(sync, key string) bool {
		var status string
		db.QueryRow(`SELECT status FROM backflow.sync_rows WHERE sync = ? AND key = ? ORDER BY recorded_at DESC LIMIT 1`, sync, key).Scan(&status)
		return status == "rejected" || status == "skipped_not_found"
	}
	each := func(q string, fn func(rows *sql.Rows)) {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			st.rowsChecked++
			fn(rows)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Pendo visitors hold the model's HubSpot traits.
	each(`SELECT visitor_id, score, stage FROM models.scores`, func(rows *sql.Rows) {
		var id, stage string
		var score float64
		rows.Scan(&id, &score, &stage)
		md, _ := sb.Pendo.Visitor(id)
		if (fmt.Sprint(md["custom"]["hubspot_score"]) != fmt.Sprint(score) || md["custom"]["lifecyclestage"] != stage) && !settled("scores", id) {
			st.violate(hour, seed, "visitor %s holds score %v stage %v, the model %v %v", id, md["custom"]["hubspot_score"], md["custom"]["lifecyclestage"], score, stage)
		}
	})
	// Pendo visitors hold their primary company's name; HubSpot companies
	// their Pendo account's.
	each(`SELECT visitor_id, company FROM models.employers`, func(rows *sql.Rows) {
		var id, company string
		rows.Scan(&id, &company)
		if md, _ := sb.Pendo.Visitor(id); md["custom"]["company_name"] != company && !settled("employers", id) {
			st.violate(hour, seed, "visitor %s company_name %v, the model %q", id, md["custom"]["company_name"], company)
		}
	})
	each(`SELECT id, pendo_name FROM models.account_names`, func(rows *sql.Rows) {
		var id, name string
		rows.Scan(&id, &name)
		if o, _ := sb.HubSpot.Object("companies", id); o.Properties["pendo_account_name"] != name && !settled("account_names", id) {
			st.violate(hour, seed, "company %s pendo_account_name %q, the model %q", id, o.Properties["pendo_account_name"], name)
		}
	})
	// HubSpot contacts hold the model's Pendo usage.
	each(`SELECT id, usage FROM models.usage`, func(rows *sql.Rows) {
		var id, usage string
		rows.Scan(&id, &usage)
		if o, _ := sb.HubSpot.Object("contacts", id); o.Properties["jobtitle"] != usage && !settled("usage", id) {
			st.violate(hour, seed, "contact %s jobtitle %q, the model %q", id, o.Properties["jobtitle"], usage)
		}
	})
	// One task per key, ever, with the model's subject.
	tasks := map[string][]string{}
	for _, id := range sb.HubSpot.ObjectIDs("tasks") {
		o, _ := sb.HubSpot.Object("tasks", id)
		tasks[o.Properties["backflow_key"]] = append(tasks[o.Properties["backflow_key"]], o.Properties["hs_task_subject"])
	}
	for key, subjects := range tasks {
		if len(subjects) > 1 {
			st.violate(hour, seed, "%d tasks for %s", len(subjects), key)
		}
	}
	each(`SELECT task_key, subject FROM models.followups`, func(rows *sql.Rows) {
		var key, subject string
		rows.Scan(&key, &subject)
		if got := tasks[key]; (len(got) != 1 || got[0] != subject) && !settled("followups", key) {
			st.violate(hour, seed, "task %s: %v, the model %q", key, got, subject)
		}
	})
	// Every HubSpot event once (HubSpot keeps the first of each uuid).
	events := map[string]int{}
	for _, e := range sb.HubSpot.Events() {
		events[e.UUID]++
	}
	each(`SELECT event_key FROM models.adoption`, func(rows *sql.Rows) {
		var key string
		rows.Scan(&key)
		if events[key] != 1 && !settled("adoption", key) {
			st.violate(hour, seed, "HubSpot event %s stored %d times", key, events[key])
		}
	})
	// Pendo track events: each arrived, twice at most (Pendo has no
	// idempotency key: a kill or a lost answer may resend one batch).
	tracked := map[string]int{}
	for _, a := range sb.Pendo.Tracked() {
		tracked[fmt.Sprint(a.Properties["ek"])]++
	}
	each(`SELECT event_key FROM models.active_days`, func(rows *sql.Rows) {
		var key string
		rows.Scan(&key)
		if n := tracked[key]; (n == 0 || n > 2) && !settled("active_days", key) {
			st.violate(hour, seed, "track event %s arrived %d times", key, n)
		}
	})
	// The staged tables are the emulators' state as of the read (the world
	// stands still during a run).
	staged := map[string]string{}
	each(`SELECT id, archived, hubspotscore, coalesce(lifecyclestage, ''), coalesce(firstname, '') FROM raw_hubspot.contacts`, func(rows *sql.Rows) {
		var id, stage, first string
		var archived bool
		var score sql.NullFloat64
		rows.Scan(&id, &archived, &score, &stage, &first)
		s := ""
		if score.Valid {
			s = fmt.Sprint(score.Float64)
		}
		staged[id] = fmt.Sprint(archived, stage, first, s)
	})
	for _, id := range sb.HubSpot.ObjectIDs("contacts") {
		o, _ := sb.HubSpot.Object("contacts", id)
		score := o.Properties["hubspotscore"]
		if f, err := strconv.ParseFloat(score, 64); err == nil {
			score = fmt.Sprint(f)
		}
		if want := fmt.Sprint(o.Archived, o.Properties["lifecyclestage"], o.Properties["firstname"], score); staged[id] != want && !(o.Archived && staged[id] == "") {
			st.violate(hour, seed, "raw_hubspot.contacts %s is %q, HubSpot holds %q", id, staged[id], want)
		}
	}
	pairs := map[string][]string{}
	each(`SELECT DISTINCT from_id, to_id FROM raw_hubspot.contact_company WHERE to_id IS NOT NULL ORDER BY 1, 2`, func(rows *sql.Rows) {
		var from, to string
		rows.Scan(&from, &to)
		pairs[from] = append(pairs[from], to)
	})
	for _, id := range sb.HubSpot.ObjectIDs("contacts") {
		if o, _ := sb.HubSpot.Object("contacts", id); o.Archived {
			continue
		}
		want := sb.HubSpot.Associations("contacts", id, "companies")
		slices.Sort(want)
		if got := pairs[id]; !slices.Equal(got, want) {
			st.violate(hour, seed, "raw_hubspot.contact_company for %s is %v, HubSpot holds %v", id, got, want)
		}
	}
	names := map[string]string{}
	each(`SELECT account_id, coalesce(agent__name, '') FROM raw_pendo.accounts`, func(rows *sql.Rows) {
		var id, name string
		rows.Scan(&id, &name)
		names[id] = name
	})
	for _, id := range sb.Pendo.AccountIDs() {
		md, _ := sb.Pendo.Account(id)
		if want, _ := md["agent"]["name"].(string); names[id] != want {
			st.violate(hour, seed, "raw_pendo.accounts %s name %q, Pendo holds %q", id, names[id], want)
		}
	}
	langs := map[string]string{}
	each(`SELECT visitor_id, coalesce(agent__language, '') FROM raw_pendo.visitors`, func(rows *sql.Rows) {
		var id, lang string
		rows.Scan(&id, &lang)
		langs[id] = lang
	})
	for _, id := range sb.Pendo.VisitorIDs() {
		if strings.HasPrefix(id, "_PENDO_T_") {
			continue
		}
		md, _ := sb.Pendo.Visitor(id)
		want, _ := md["agent"]["language"].(string)
		if got, ok := langs[id]; !ok || got != want {
			st.violate(hour, seed, "raw_pendo.visitors %s language %q (staged %v), Pendo holds %q", id, got, ok, want)
		}
	}
}
