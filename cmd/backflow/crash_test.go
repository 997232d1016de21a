package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
	"github.com/backflow-dev/backflow/warehouse/warehousetest"
)

// TestLockTimeout: while another process holds the file, a command waits
// --lock-timeout, then exits 4 naming the holder and the fix.
func TestLockTimeout(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte("name: locked\n"), 0o644)
	pid, _ := warehousetest.Hold(t, filepath.Join(dir, "warehouse.duckdb"))
	start := time.Now()
	code, _, stderr := run(t, nil, "query", "--project", dir, "--lock-timeout", "500ms", "SELECT 1")
	if code != exitLocked || time.Since(start) < 500*time.Millisecond ||
		!strings.Contains(stderr, fmt.Sprintf("(PID %d)", pid)) || !strings.Contains(stderr, "--lock-timeout") {
		t.Fatalf("exit %d after %s:\n%s", code, time.Since(start), stderr)
	}
}

const crashTrials = 20

// TestCrashConverges kills a `backflow sync` subprocess with SIGKILL at a
// random point of its work, crashTrials times, each time after changing every model,
// then reruns the sync to completion. After every rerun the emulators must
// hold exactly what the models say (Pendo visitor metadata, HubSpot contact
// properties), each track event must have arrived at least once and no
// more than one batch (10) of a trial's events twice, and a plan must find
// nothing left to send.
func TestCrashConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: 20 subprocesses")
	}
	sb, err := testSandbox(sandbox.Options{Contacts: 200, HubSpot: hubspottest.Options{BurstLimit: 190}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	for _, d := range []string{"models", "syncs"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("backflow.yml", "hubspot:\n  base_url: "+sb.HubSpotURL+"\n  burst_limit: 190\n  extract:\n    objects: [contacts]\n"+
		"pendo:\n  base_url: "+sb.PendoURL+"\n  extract:\n    streams: [visitors]\n")
	write("syncs/scores.yml", "model: scores\ndestination: pendo\nobject: visitors\nkey: visitor_id\nbatch_size: 25\nfields:\n  score: hubspot_score\n  stage: lifecyclestage\n")
	write("syncs/titles.yml", "model: titles\ndestination: hubspot\nobject: contacts\nkey: id\nbatch_size: 20\nfields:\n  title: jobtitle\n")
	write("syncs/pings.yml", "model: pings\ndestination: pendo\nobject: track_events\nkey: event_key\nbatch_size: 10\n"+
		"fields:\n  name: event\n  visitor_id: visitorId\n  at: timestamp\n  event_key: ek\n")
	write("syncs/followups.yml", "model: followups\ndestination: hubspot\nobject: tasks\nmode: create\nkey: task_key\nkey_property: backflow_key\n"+
		"create_fields: true\nbatch_size: 10\nassociations:\n  - {column: contact_id, to: contacts}\nfields:\n  subject: hs_task_subject\n  due: hs_timestamp\n")
	write("syncs/adoption.yml", "model: adoption\ndestination: hubspot\nobject: events\nevent: crash_feature_used\nkey: event_key\nbatch_size: 10\n"+
		"fields:\n  contact_id: objectId\n  feature: feature\n")
	hc, err := hubspot.New(hubspot.Config{BaseURL: sb.HubSpotURL, Token: sb.HubSpotToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.CreateEventDefinition(context.Background(), hubspot.EventDefinition{Name: "crash_feature_used", Label: "Feature used", PrimaryObject: "CONTACT",
		PropertyDefinitions: []hubspot.EventProperty{{Name: "feature", Label: "Feature", Type: "string"}}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUBSPOT_TOKEN": sb.HubSpotToken, "PENDO_INTEGRATION_KEY": sb.PendoKey, "PENDO_TRACK_SECRET": sb.PendoTrackSecret}
	if code, out, stderr := run(t, env, "extract", "--project", dir, "--log-level", "warn"); code != 0 {
		t.Fatalf("extract: %d\n%s%s", code, out, stderr)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	killed, withDups := 0, 0
	for trial := 1; trial <= crashTrials; trial++ {
		// Every trial changes every metadata row and adds 30 events.
		write("models/scores.sql", fmt.Sprintf(`SELECT visitor_id, (hash(visitor_id) %% 1000) / 10.0 + %d AS score,
	['lead', 'customer', 'evangelist'][1 + %d %% 3] AS stage FROM raw_pendo.visitors`, trial, trial))
		write("models/titles.sql", fmt.Sprintf(`SELECT id, 'Title ' || id || ' v%d' AS title FROM raw_hubspot.contacts`, trial))
		write("models/pings.sql", fmt.Sprintf(`SELECT event_key(visitor_id, t.n) AS event_key, 'Crash Ping' AS name, visitor_id,
	run_started_at() - INTERVAL 1 MINUTE AS at FROM (SELECT visitor_id FROM raw_pendo.visitors ORDER BY visitor_id LIMIT 30) v, (SELECT %d AS n) t`, trial))
		// 20 new follow-up tasks per trial (the previous ones leave the
		// model and stay in HubSpot); 20 new HubSpot events per trial.
		write("models/followups.sql", fmt.Sprintf(`SELECT 'followup:' || id || ':%d' AS task_key, id AS contact_id, 'Follow up v%d' AS subject,
	TIMESTAMPTZ '2026-12-01 09:00:00+00' AS due FROM raw_hubspot.contacts ORDER BY id LIMIT 20`, trial, trial))
		write("models/adoption.sql", fmt.Sprintf(`SELECT event_key(id, %d) AS event_key, id AS contact_id, 'Reports' AS feature
	FROM raw_hubspot.contacts ORDER BY id LIMIT 20`, trial))
		if code, out, stderr := run(t, env, "models", "run", "--project", dir, "--log-level", "warn"); code != 0 {
			t.Fatalf("trial %d: models run: %d\n%s%s", trial, code, out, stderr)
		}

		cmd := exec.Command(os.Args[0], "sync", "--project", dir, "--log-level", "error")
		cmd.Env = append(os.Environ(), "BACKFLOW_AS_CLI=1")
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		// The kill lands after the k-th request the emulators admit (k = 0:
		// while the sync plans), not after a time, which a loaded machine
		// would stretch: a trial makes some 70 requests, so every kill
		// lands mid-run.
		base, k := requests(sb), rng.IntN(41)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		finished := false
		for !finished && requests(sb)-base < k {
			select {
			case <-done:
				finished = true // before the kill: still a valid trial
			case <-time.After(time.Millisecond):
			}
		}
		if !finished {
			cmd.Process.Kill()
			<-done
			killed++
		}

		if code, out, stderr := run(t, env, "sync", "--project", dir, "--log-level", "warn"); code != 0 {
			t.Fatalf("trial %d: rerun after the kill: %d\n%s%s", trial, code, out, stderr)
		}
		if checkConverged(t, sb, dir, trial) > 0 {
			withDups++
		}
		code, out, stderr := run(t, env, "plan", "--project", dir)
		if code != 0 || strings.Count(out, "0 to add, 0 to change") != 5 {
			t.Fatalf("trial %d: plan after the rerun still has work: %d\n%s%s", trial, code, out, stderr)
		}
	}
	if killed < crashTrials/2 {
		t.Fatalf("only %d of %d syncs were killed mid-run", killed, crashTrials)
	}
	t.Logf("%d of %d trials killed mid-sync; %d left duplicated track events (within the bound)", killed, crashTrials, withDups)
}

// requests counts what the emulators have admitted.
func requests(sb *sandbox.Sandbox) int {
	n := 0
	hs, _ := sb.HubSpot.Requests()
	pd, _ := sb.Pendo.Requests()
	for _, m := range []map[string]int{hs, pd} {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// checkConverged compares the emulators with the models in the file.
// It returns how many of the trial's track events arrived twice.
func checkConverged(t *testing.T, sb *sandbox.Sandbox, dir string, trial int) int {
	t.Helper()
	w, err := warehouse.Open(context.Background(), filepath.Join(dir, "warehouse.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rows, err := w.DB().Query(`SELECT visitor_id, score, stage FROM models.scores`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, stage string
		var score float64
		rows.Scan(&id, &score, &stage)
		md, _ := sb.Pendo.Visitor(id)
		if got := md["custom"]["hubspot_score"]; fmt.Sprint(got) != fmt.Sprint(score) || md["custom"]["lifecyclestage"] != stage {
			t.Fatalf("trial %d: visitor %s has score %v stage %v, the model %v %v", trial, id, got, md["custom"]["lifecyclestage"], score, stage)
		}
	}
	rows.Close()
	rows, err = w.DB().Query(`SELECT id, title FROM models.titles`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, title string
		rows.Scan(&id, &title)
		if o, _ := sb.HubSpot.Object("contacts", id); o.Properties["jobtitle"] != title {
			t.Fatalf("trial %d: contact %s has jobtitle %q, the model %q", trial, id, o.Properties["jobtitle"], title)
		}
	}
	rows.Close()
	var keys []string
	rows, err = w.DB().Query(`SELECT event_key FROM models.pings`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	rows.Close()
	seen := map[string]int{}
	for _, a := range sb.Pendo.Tracked() {
		seen[fmt.Sprint(a.Properties["ek"])]++
	}
	dups := 0
	for _, k := range keys {
		switch n := seen[k]; {
		case n == 0:
			t.Fatalf("trial %d: event %s never arrived", trial, k)
		case n > 2:
			t.Fatalf("trial %d: event %s arrived %d times", trial, k, n)
		case n == 2:
			dups++
		}
	}
	if dups > 10 {
		t.Fatalf("trial %d: %d events arrived twice; at most one batch (10) may", trial, dups)
	}
	// HubSpot: one task per key, ever, each associated with its contact;
	// each event stored exactly once (HubSpot deduplicates by uuid).
	tasks := map[string]int{}
	for _, id := range sb.HubSpot.ObjectIDs("tasks") {
		o, _ := sb.HubSpot.Object("tasks", id)
		tasks[o.Properties["backflow_key"]]++
		if len(sb.HubSpot.Associations("tasks", id, "contacts")) != 1 {
			t.Fatalf("trial %d: task %s is not associated with its contact", trial, id)
		}
	}
	if len(tasks) != 20*trial {
		t.Fatalf("trial %d: tasks for %d keys, want %d", trial, len(tasks), 20*trial)
	}
	for k, n := range tasks {
		if n != 1 {
			t.Fatalf("trial %d: %d tasks for %s", trial, n, k)
		}
	}
	if n := len(sb.HubSpot.Events()); n != 20*trial {
		t.Fatalf("trial %d: HubSpot holds %d events, want %d", trial, n, 20*trial)
	}
	return dups
}
