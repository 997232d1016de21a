package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(cliArgs(args), IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	return code, out.String(), errOut.String()
}

func TestDemoJSON(t *testing.T) {
	code, out, stderr := run(t, nil, "demo", "--json", "--contacts", "300", "--dir", t.TempDir(), "--log-level", "warn")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum struct {
		DuckDB string `json:"duckdb"`
		Passes []struct {
			Pushed, Skipped, Failed int
		} `json:"passes"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if _, err := os.Stat(sum.DuckDB); err != nil || len(sum.Passes) != 3 || sum.Passes[1].Pushed != 0 || sum.Passes[2].Pushed != 25 {
		t.Fatalf("summary = %+v (stat err %v)", sum, err)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte("hubspot:\n  extract:\n    objects: [contacts]\n"), 0o644)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "backflow.yml"), []byte("hubspot:\n  tokn_env: X\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no_project", []string{"run", "--project", t.TempDir()}, exitConfig, "no backflow.yml here"},
		{"bad_yaml_field", []string{"run", "--project", bad}, exitConfig, "backflow.yml: line 2: unknown field tokn_env"},
		{"missing_credentials", []string{"run", "--project", dir}, exitConfig, "missing credentials: set HUBSPOT_TOKEN"},
		{"unknown_flag", []string{"run", "--nope"}, exitConfig, "unknown flag"},
		{"bad_log_level", []string{"run", "--log-level", "loud", "--project", dir}, exitConfig, "--log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, nil, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	sb, err := testSandbox(sandbox.Options{Contacts: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte(`hubspot:
  base_url: `+sb.HubSpotURL+`
  extract:
    objects: [contacts, companies, deals, owners, custom]
pendo:
  base_url: `+sb.PendoURL+`
  timezone: America/New_York
  extract:
    streams: [visitors, accounts, feature_events, poll_events]
`), 0o644)
	env := map[string]string{"HUBSPOT_TOKEN": sb.HubSpotToken, "PENDO_INTEGRATION_KEY": sb.PendoKey}
	code, out, stderr := run(t, env, "extract", "--project", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"hubspot/contacts: 80 rows replaced", "hubspot/subscription:", "hubspot/contact_company:", "hubspot/owners:",
		"pendo/visitors:", "pendo/poll_events:", "pendo/metadata_schema:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The second run of one stream is incremental: a merge.
	code, out, stderr = run(t, env, "extract", "--project", dir, "hubspot.contacts")
	if code != 0 || !strings.Contains(out, "hubspot/contacts:") || !strings.Contains(out, "merged") || strings.Contains(out, "pendo/") {
		t.Fatalf("exit %d:\n%s\n%s", code, out, stderr)
	}
	code, _, stderr = run(t, env, "extract", "--project", dir, "salesforce")
	if code != exitConfig || !strings.Contains(stderr, "unknown source") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestModelsTestAndQuery(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.MkdirAll(filepath.Join(dir, "tests"), 0o755)
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte("name: t\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "models", "a.sql"), []byte("SELECT * FROM (VALUES (1, 'x'), (1, 'y')) t(id, kind)"), 0o644)
	os.WriteFile(filepath.Join(dir, "models", "a.yml"), []byte("columns:\n  id:\n    tests: [unique]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "models", "b.sql"), []byte("SELECT count(*) AS n FROM models.a"), 0o644)
	os.WriteFile(filepath.Join(dir, "tests", "positive.sql"), []byte("SELECT * FROM models.b WHERE n < 0"), 0o644)

	code, out, stderr := run(t, nil, "models", "run", "--project", dir)
	if code != 0 || !strings.Contains(out, "a: view") || !strings.Contains(out, "b: view") {
		t.Fatalf("models run: %d\n%s%s", code, out, stderr)
	}
	if code, out, _ = run(t, nil, "models", "graph", "--project", dir); code != 0 || !strings.Contains(out, "└── reads models.a") {
		t.Fatalf("graph: %d %s", code, out)
	}
	code, out, _ = run(t, nil, "test", "--project", dir)
	if code != exitFailed || !strings.Contains(out, "FAIL  a.id.unique") || !strings.Contains(out, "1 passed, 1 failed") {
		t.Fatalf("test: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, nil, "query", "--project", dir, "--format", "json", "SELECT n FROM models.b")
	if code != 0 || !strings.Contains(out, `"n": 2`) {
		t.Fatalf("query: %d %s", code, out)
	}
	code, _, stderr = run(t, nil, "query", "--project", dir, "DROP TABLE backflow.runs")
	if code == 0 || !strings.Contains(strings.ToLower(stderr), "read-only") {
		t.Fatalf("a write through query: exit %d %s", code, stderr)
	}
	os.WriteFile(filepath.Join(dir, "models", "c.sql"), []byte("SELECT nope FROM models.a"), 0o644)
	if code, _, stderr = run(t, nil, "models", "run", "--project", dir); code == 0 || !strings.Contains(stderr, "models/c.sql") {
		t.Fatalf("broken model: exit %d %s", code, stderr)
	}
}

func TestPlanAndSync(t *testing.T) {
	sb, err := testSandbox(sandbox.Options{Contacts: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.MkdirAll(filepath.Join(dir, "syncs"), 0o755)
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte(`hubspot:
  base_url: `+sb.HubSpotURL+`
  extract:
    objects: [contacts]
pendo:
  base_url: `+sb.PendoURL+`
  timezone: America/New_York
  extract:
    streams: [visitors, feature_events]
`), 0o644)
	// Pendo usage onto the contact: a product-engagement score.
	os.WriteFile(filepath.Join(dir, "models", "contact_engagement.sql"), []byte(`SELECT c.email, least(100, coalesce(sum(f.num_events), 0)) AS engagement
FROM models.identity_contacts_visitors i
JOIN raw_hubspot.contacts c ON c.id = i.contact_id
LEFT JOIN raw_pendo.feature_events f ON f.visitor_id = i.visitor_id
WHERE i.status = 'matched'
GROUP BY c.email`), 0o644)
	os.WriteFile(filepath.Join(dir, "syncs", "engagement.yml"), []byte(`model: contact_engagement
destination: hubspot
object: contacts
key: email
match: email
rate_limit_share: 0.5
fields:
  engagement: hubspotscore
`), 0o644)
	env := map[string]string{"HUBSPOT_TOKEN": sb.HubSpotToken, "PENDO_INTEGRATION_KEY": sb.PendoKey}
	for _, args := range [][]string{{"extract"}, {"models", "run"}} {
		if code, out, stderr := run(t, env, append(args, "--project", dir, "--log-level", "warn")...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, stderr)
		}
	}
	code, out, stderr := run(t, env, "plan", "--project", dir, "--show", "2")
	if code != 0 || !strings.Contains(out, "engagement → hubspot contacts") || !strings.Contains(out, "to add") || !strings.Contains(out, `{"hubspotscore":`) ||
		!strings.Contains(out, "calls left in today's budget") || !strings.Contains(out, "at 5.0 requests/s") { // half of 99 per 10 s
		t.Fatalf("plan: %d\n%s%s", code, out, stderr)
	}
	code, out, _ = run(t, env, "query", "--project", dir, "--format", "csv", "SELECT count(*) FROM backflow.sync_runs")
	if code != 0 || !strings.Contains(out, "\n0\n") {
		t.Fatalf("plan recorded a run: %s", out)
	}
	code, out, stderr = run(t, env, "sync", "--project", dir, "--limit", "5", "--json", "--log-level", "warn")
	if code != 0 || !strings.Contains(out, `"pushed": 5`) {
		t.Fatalf("sync --limit: %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(t, env, "sync", "--project", dir, "--json", "--log-level", "warn")
	var sum struct {
		Status string
		Syncs  []struct {
			Added, Pushed int
		}
	}
	json.Unmarshal([]byte(out), &sum)
	res := sum.Syncs
	if code != 0 || sum.Status != "ok" || len(res) != 1 || res[0].Pushed == 0 || res[0].Pushed != res[0].Added {
		t.Fatalf("sync: %d\n%s%s", code, out, stderr)
	}
	code, out, _ = run(t, env, "plan", "--project", dir)
	if code != 0 || !strings.Contains(out, "0 to add, 0 to change") {
		t.Fatalf("plan after sync: %s", out)
	}
	// History, newest first: the two syncs (the rest, then the sample) and
	// the extraction.
	code, out, stderr = run(t, env, "runs", "--project", dir, "--format", "json")
	var runs []struct {
		Command string
		Status  string
		Pushed  int64
	}
	json.Unmarshal([]byte(out), &runs)
	if code != 0 || len(runs) != 3 || runs[0].Command != "sync" || runs[1].Pushed != 5 || runs[2].Command != "extract" || runs[0].Pushed != int64(res[0].Pushed) {
		t.Fatalf("runs: %d %+v\n%s%s", code, runs, out, stderr)
	}
	code, out, stderr = run(t, env, "status", "--project", dir)
	if code != 0 || !strings.Contains(out, "last runs:") || !strings.Contains(out, "engagement") || !strings.Contains(out, "top row errors") {
		t.Fatalf("status: %d\n%s%s", code, out, stderr)
	}
}

// TestTrackEventSync sends Pendo track events from a model through the
// CLI: the secret is required, events go out once, reruns send nothing.
func TestTrackEventSync(t *testing.T) {
	sb, err := testSandbox(sandbox.Options{Contacts: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.MkdirAll(filepath.Join(dir, "syncs"), 0o755)
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte("pendo:\n  base_url: "+sb.PendoURL+"\n  extract:\n    streams: [visitors]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "models", "synced.sql"), []byte(`SELECT event_key(visitor_id, 'Warehouse Synced') AS event_key,
	'Warehouse Synced' AS name, visitor_id, run_started_at() - INTERVAL 5 MINUTE AS at, 'backflow' AS source
FROM raw_pendo.visitors ORDER BY visitor_id LIMIT 12`), 0o644)
	os.WriteFile(filepath.Join(dir, "syncs", "synced.yml"), []byte(`model: synced
destination: pendo
object: track_events
key: event_key
fields:
  name: event
  visitor_id: visitorId
  at: timestamp
  source: source
`), 0o644)
	env := map[string]string{"PENDO_INTEGRATION_KEY": sb.PendoKey}
	for _, args := range [][]string{{"extract"}, {"models", "run"}} {
		if code, out, stderr := run(t, env, append(args, "--project", dir, "--log-level", "warn")...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, stderr)
		}
	}
	if code, _, stderr := run(t, env, "sync", "--project", dir, "--log-level", "warn"); code == 0 || !strings.Contains(stderr, "syncs/synced.yml: track events need Pendo's track event secret: set PENDO_TRACK_SECRET") {
		t.Fatalf("sync without the track secret: exit %d\n%s", code, stderr)
	}
	env["PENDO_TRACK_SECRET"] = sb.PendoTrackSecret
	code, out, stderr := run(t, env, "plan", "--project", dir)
	if code != 0 || !strings.Contains(out, "12 to add") || !strings.Contains(out, "12 API calls") {
		t.Fatalf("plan: %d\n%s%s", code, out, stderr)
	}
	for i, want := range []string{`"pushed": 12`, `"pushed": 0`} {
		code, out, stderr = run(t, env, "sync", "--project", dir, "--json", "--log-level", "warn")
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("sync %d: %d\n%s%s", i+1, code, out, stderr)
		}
	}
	if n := sb.Pendo.TrackReceived(); n != 12 {
		t.Fatalf("the data host received %d events, want 12", n)
	}
}

// TestRunPublish leaves analysts a copy of the file after a run.
func TestRunPublish(t *testing.T) {
	sb, err := testSandbox(sandbox.Options{Contacts: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte("pendo:\n  base_url: "+sb.PendoURL+"\n  extract:\n    streams: [visitors]\n"), 0o644)
	pub := filepath.Join(t.TempDir(), "analytics.duckdb")
	env := map[string]string{"PENDO_INTEGRATION_KEY": sb.PendoKey}
	if code, out, stderr := run(t, env, "run", "--project", dir, "--publish", pub, "--log-level", "warn"); code != 0 {
		t.Fatalf("run --publish: %d\n%s%s", code, out, stderr)
	}
	// A second run on the staged data extracts nothing.
	code, out, stderr := run(t, env, "run", "--project", dir, "--skip-extract", "--json", "--publish", pub, "--log-level", "warn")
	if code != 0 || !strings.Contains(out, `"staged": 0`) {
		t.Fatalf("run --skip-extract: %d\n%s%s", code, out, stderr)
	}
	w, err := warehouse.Open(context.Background(), pub, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var visitors, runs int
	w.DB().QueryRow(`SELECT count(*) FROM raw_pendo.visitors`).Scan(&visitors)
	w.DB().QueryRow(`SELECT count(*) FROM backflow.runs WHERE status = 'succeeded'`).Scan(&runs)
	if visitors == 0 || runs != 2 {
		t.Fatalf("the published copy holds %d visitors and %d finished runs", visitors, runs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if code, out, _ := run(t, nil, args...); code != 0 || !strings.Contains(out, "backflow") || !strings.Contains(out, version) {
			t.Fatalf("%v: %d %q", args, code, out)
		}
	}
}

// TestRunNotifyWebhook: a failed run posts a Slack-shaped summary; a clean
// run posts nothing; an unreachable webhook never prints its secret URL.
func TestRunNotifyWebhook(t *testing.T) {
	var posts []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		posts = append(posts, m)
	}))
	defer hook.Close()
	sb, err := testSandbox(sandbox.Options{Contacts: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	write := func(base string) {
		os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte("name: acme\npendo:\n  base_url: "+base+"\n  extract:\n    streams: [visitors]\n"), 0o644)
	}
	env := map[string]string{"PENDO_INTEGRATION_KEY": sb.PendoKey}

	write(sb.PendoURL)
	if code, _, stderr := run(t, env, "run", "--project", dir, "--notify-webhook", hook.URL+"/T000/B000/s3cr3t", "--log-level", "warn"); code != 0 || len(posts) != 0 {
		t.Fatalf("a clean run: exit %d, %d posts\n%s", code, len(posts), stderr)
	}
	env["PENDO_INTEGRATION_KEY"] = "wrong-key"
	code, _, _ := run(t, env, "run", "--project", dir, "--notify-webhook", hook.URL+"/T000/B000/s3cr3t", "--log-level", "warn")
	if code != exitConfig || len(posts) != 1 {
		t.Fatalf("a failed run: exit %d, %d posts", code, len(posts))
	}
	text, _ := posts[0]["text"].(string)
	if !strings.Contains(text, "failed") || !strings.Contains(text, "acme") || posts[0]["run"] == nil {
		t.Fatalf("post: %v", posts[0])
	}
	// The URL from the environment, where ps cannot see it.
	env[webhookEnv] = hook.URL + "/T000/B000/s3cr3t"
	if code, _, _ := run(t, env, "run", "--project", dir, "--log-level", "warn"); code != exitConfig || len(posts) != 2 {
		t.Fatalf("a failed run with %s set: exit %d, %d posts", webhookEnv, code, len(posts))
	}
	delete(env, webhookEnv)
	hook.Close()
	_, _, stderr := run(t, env, "run", "--project", dir, "--notify-webhook", hook.URL+"/T000/B000/s3cr3t", "--log-level", "warn")
	if !strings.Contains(stderr, "notify") || strings.Contains(stderr, "s3cr3t") {
		t.Fatalf("an unreachable webhook: the log should say so without the URL:\n%s", stderr)
	}
}
