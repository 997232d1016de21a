package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backflow-dev/backflow/api/faultproxy"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// hostileSecret is every credential of these tests: it must never appear
// in an output, a table or a file, whatever the proxy echoes.
const hostileSecret = "pat-na1-0badc0de-1234-5678-9abc-def012345678"

// hostileEnv is a project whose HubSpot and Pendo sit behind fault
// proxies in front of a sandbox.
type hostileEnv struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	hs, pd *faultproxy.Proxy
	dir    string
	env    map[string]string
	outs   []string // everything the commands printed
}

func newHostileEnv(t *testing.T) *hostileEnv {
	t.Helper()
	sb, err := testSandbox(sandbox.Options{Contacts: 120, Token: hostileSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	e := &hostileEnv{t: t, sb: sb, hs: faultproxy.New(sb.HubSpot), pd: faultproxy.New(sb.Pendo), dir: t.TempDir(),
		env: map[string]string{"HUBSPOT_TOKEN": hostileSecret, "PENDO_INTEGRATION_KEY": hostileSecret, "PENDO_TRACK_SECRET": hostileSecret}}
	hs, pd := httptest.NewServer(e.hs), httptest.NewServer(e.pd)
	t.Cleanup(hs.Close)
	t.Cleanup(pd.Close)
	if _, err := examples.Init(e.dir, examples.InitOptions{Name: "hostile", HubSpotURL: hs.URL, PendoURL: pd.URL}); err != nil {
		t.Fatal(err)
	}
	e.write("syncs/visitor_traits.yml", strings.Replace(e.read("syncs/visitor_traits.yml"), "batch_size: 500", "batch_size: 25", 1))
	// HubSpot as a destination too, and track events, which go once.
	e.write("models/titles.sql", "SELECT id, 'Title ' || id AS title FROM raw_hubspot.contacts")
	e.write("syncs/titles.yml", "model: titles\ndestination: hubspot\nobject: contacts\nkey: id\nbatch_size: 20\nfields:\n  title: jobtitle\n")
	e.write("models/pings.sql", `SELECT event_key(visitor_id, 'ping') AS event_key, 'Ping' AS name, visitor_id, run_started_at() - INTERVAL 1 MINUTE AS at
FROM raw_pendo.visitors ORDER BY visitor_id LIMIT 12`)
	e.write("syncs/pings.yml", "model: pings\ndestination: pendo\nobject: track_events\nkey: event_key\nfields:\n  name: event\n  visitor_id: visitorId\n  at: timestamp\n")
	return e
}

func (e *hostileEnv) path(rel string) string { return filepath.Join(e.dir, filepath.FromSlash(rel)) }

func (e *hostileEnv) write(rel, body string) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Dir(e.path(rel)), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.path(rel), []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *hostileEnv) read(rel string) string {
	e.t.Helper()
	b, err := os.ReadFile(e.path(rel))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// cli runs a backflow command in the project.
func (e *hostileEnv) cli(args ...string) (int, string, string) {
	e.t.Helper()
	code, out, errOut := run(e.t, e.env, append(args, "--project", e.dir)...)
	e.outs = append(e.outs, out, errOut)
	return code, out, errOut
}

// want runs a command and requires its exit code.
func (e *hostileEnv) want(code int, args ...string) (string, string) {
	e.t.Helper()
	got, out, errOut := e.cli(args...)
	if got != code {
		e.t.Fatalf("backflow %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out, errOut
}

// query reads one value from the DuckDB file.
func (e *hostileEnv) query(q string) string {
	e.t.Helper()
	code, out, errOut := run(e.t, nil, "query", "--project", e.dir, "--format", "csv", q)
	if code != 0 {
		e.t.Fatalf("%s: %s", q, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func (e *hostileEnv) pendoWrites() int {
	byRoute, _ := e.sb.Pendo.Requests()
	return byRoute["metadata/visitor/custom/value"]
}

// converges clears the faults and requires the next run to finish cleanly
// and leave nothing to send, every track event sent exactly once, and no
// secret anywhere.
func (e *hostileEnv) converges() {
	e.t.Helper()
	e.hs.Clear()
	e.pd.Clear()
	e.want(0, "run", "--log-level", "warn", "--report", e.path("report.html"), "--publish", e.path("published.duckdb"))
	out, _ := e.want(0, "plan", "--json")
	var plan struct {
		Syncs []struct {
			Sync           string
			Added, Changed int
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		e.t.Fatalf("plan --json: %v\n%s", err, out)
	}
	plans := plan.Syncs
	for _, p := range plans {
		if p.Added+p.Changed != 0 {
			e.t.Errorf("after a clean run, %s still has %d to add and %d to change", p.Sync, p.Added, p.Changed)
		}
	}
	if n := e.sb.Pendo.TrackReceived(); n != 12 {
		e.t.Errorf("Pendo received %d track events, want each of the 12 once", n)
	}
	e.noSecret()
}

// noSecret looks for the secret in every output so far, the DuckDB file
// (its bytes, and every text its state tables hold), the published copy
// and the report, and checks those files are private.
func (e *hostileEnv) noSecret() {
	e.t.Helper()
	for _, o := range e.outs {
		if strings.Contains(o, hostileSecret) || strings.Contains(o, "0badc0de") {
			e.t.Fatalf("the secret was printed:\n%s", o)
		}
	}
	for _, f := range []string{"warehouse.duckdb", "published.duckdb", "report.html"} {
		raw, err := os.ReadFile(e.path(f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if strings.Contains(string(raw), "0badc0de") {
			e.t.Errorf("the secret is in %s", f)
		}
		st, _ := os.Stat(e.path(f))
		if st.Mode().Perm() != 0o600 {
			e.t.Errorf("%s is %v, want 0600", f, st.Mode().Perm())
		}
	}
	for _, f := range []string{"warehouse.duckdb", "published.duckdb"} {
		if _, err := os.Stat(e.path(f)); err != nil {
			continue
		}
		w, err := warehouse.Open(e.t.Context(), e.path(f), warehouse.Options{ReadOnly: true})
		if err != nil {
			e.t.Fatal(err)
		}
		var n int
		err = w.DB().QueryRow(`SELECT (SELECT count(*) FROM backflow.runs WHERE error LIKE '%0badc0de%')
			+ (SELECT count(*) FROM backflow.sync_runs WHERE error LIKE '%0badc0de%')
			+ (SELECT count(*) FROM backflow.sync_rows WHERE error LIKE '%0badc0de%')`).Scan(&n)
		w.Close()
		if err != nil || n > 0 {
			e.t.Errorf("%s: %d state rows hold the secret (%v)", f, n, err)
		}
	}
}

var (
	pendoBulk     = faultproxy.Path("POST", "/metadata/visitor/custom/value")
	hubspotList   = faultproxy.Path("GET", "/crm/v3/objects/contacts")
	hubspotWrites = faultproxy.Path("POST", "/crm/v3/objects/contacts/batch/")
)

// TestHostileAnswers runs a project through proxies that misbehave as
// gateways, WAFs, caches and outages do. Each case checks the exit code
// and what reached the APIs; then, the faults cleared, the next run
// converges (nothing left to send, every track event once) and no secret
// is anywhere.
func TestHostileAnswers(t *testing.T) {
	tests := []struct {
		name string
		// prime runs before the fault (a first clean run) when set.
		prime bool
		fault func(e *hostileEnv)
		check func(e *hostileEnv)
	}{
		{name: "pendo_write_200_empty", fault: func(e *hostileEnv) {
			e.pd.Add(faultproxy.Answer("empty", pendoBulk, 200, "application/json", `{}`))
		}, check: func(e *hostileEnv) {
			_, stderr := e.want(exitFailed, "run")
			if !strings.Contains(stderr, "does not account for the rows sent") {
				t.Errorf("stderr: %s", stderr)
			}
			if n := e.query("SELECT count(*) FROM backflow.sync_rows WHERE sync = 'visitor_traits' AND status = 'applied'"); n != "0" {
				t.Errorf("%s rows recorded as applied that Pendo never got", n)
			}
		}},
		{name: "pendo_write_200_null", fault: func(e *hostileEnv) {
			e.pd.Add(faultproxy.Answer("null", pendoBulk, 200, "application/json", `null`))
		}, check: func(e *hostileEnv) {
			e.want(exitFailed, "run")
		}},
		{name: "pendo_writes_gateway_400", fault: func(e *hostileEnv) {
			e.pd.Add(faultproxy.GatewayPage("gw", pendoBulk, 400))
		}, check: func(e *hostileEnv) {
			e.want(exitFailed, "run")
			// No batch split row by row, no row parked as rejected.
			if n := e.pd.Hits("gw"); n > 2 {
				t.Errorf("%d bulk calls for a gateway refusal, want the first batch only", n)
			}
			if n := e.query("SELECT count(*) FROM backflow.sync_rows WHERE status = 'rejected'"); n != "0" {
				t.Errorf("%s rows rejected for a gateway's refusal", n)
			}
		}},
		{name: "pendo_rows_refused_alike", fault: func(e *hostileEnv) {
			e.pd.Add(faultproxy.Answer("alike", pendoBulk, 400, "text/plain", "Bad Request: service unavailable for this subscription"))
		}, check: func(e *hostileEnv) {
			_, stderr := e.want(exitFailed, "run")
			if !strings.Contains(stderr, "refused all") {
				t.Errorf("stderr: %s", stderr)
			}
			if n := e.query("SELECT count(*) FROM backflow.sync_rows WHERE status = 'rejected'"); n != "0" {
				t.Errorf("%s rows parked as rejected by an endpoint-wide refusal", n)
			}
		}},
		{name: "hubspot_list_null_results_with_next", fault: func(e *hostileEnv) {
			e.hs.Add(faultproxy.Rewrite("null", faultproxy.After(1, hubspotList), func(b map[string]any) { b["results"] = nil }))
		}, check: func(e *hostileEnv) {
			_, stderr := e.want(exitFailed, "run")
			if !strings.Contains(stderr, "no results array") {
				t.Errorf("stderr: %s", stderr)
			}
		}},
		{name: "hubspot_list_page_one_again", fault: func(e *hostileEnv) {
			e.hs.Add(faultproxy.Replay("replay", hubspotList))
		}, check: func(e *hostileEnv) {
			e.want(exitFailed, "run")
		}},
		{name: "hubspot_records_without_id", fault: func(e *hostileEnv) {
			e.hs.Add(faultproxy.Rewrite("noid", hubspotList, func(b map[string]any) {
				for _, r := range b["results"].([]any) {
					delete(r.(map[string]any), "id")
				}
			}))
		}, check: func(e *hostileEnv) {
			e.want(exitFailed, "run")
		}},
		{name: "hubspot_full_refresh_short", prime: true, fault: func(e *hostileEnv) {
			// The listing ends after its first page: a third of the contacts.
			e.hs.Add(faultproxy.Rewrite("short", hubspotList, func(b map[string]any) { delete(b, "paging") }))
		}, check: func(e *hostileEnv) {
			before := e.query("SELECT count(*) FROM raw_hubspot.contacts")
			_, stderr := e.want(exitFailed, "extract", "hubspot.contacts", "--full-refresh")
			if !strings.Contains(stderr, "--allow-mass-removal") {
				t.Errorf("stderr: %s", stderr)
			}
			if after := e.query("SELECT count(*) FROM raw_hubspot.contacts"); after != before {
				t.Errorf("the table went from %s to %s rows", before, after)
			}
			e.want(exitOK, "extract", "hubspot.contacts", "--full-refresh", "--allow-mass-removal")
			if after := e.query("SELECT count(*) FROM raw_hubspot.contacts"); after != "100" {
				t.Errorf("with --allow-mass-removal the table has %s rows, want the 100 read", after)
			}
			e.hs.Clear()
			e.want(exitOK, "extract", "hubspot.contacts", "--full-refresh", "--allow-mass-removal")
		}},
		{name: "sync_mass_clear", prime: true, fault: func(e *hostileEnv) {
			e.write("syncs/visitor_traits.yml", e.read("syncs/visitor_traits.yml")+"on_remove: clear\n")
			e.want(exitOK, "run", "--log-level", "warn") // a clean run with the new setting
			// The model loses most of its rows (a bad join, say).
			e.write("models/visitor_traits.sql", e.read("models/visitor_traits.sql")+"\nLIMIT 5")
		}, check: func(e *hostileEnv) {
			writes := e.pendoWrites()
			_, stderr := e.want(exitFailed, "run")
			if !strings.Contains(stderr, "mass removal refused") || !strings.Contains(stderr, "--allow-mass-removal") {
				t.Errorf("stderr: %s", stderr)
			}
			if e.pendoWrites() != writes {
				t.Errorf("%d metadata writes after the refusal", e.pendoWrites()-writes)
			}
			e.write("models/visitor_traits.sql", strings.TrimSuffix(e.read("models/visitor_traits.sql"), "\nLIMIT 5"))
		}},
		{name: "hubspot_redirect_to_another_port", fault: func(e *hostileEnv) {
			e.hs.Add(faultproxy.Redirect("307", func(*http.Request) bool { return true }, evilURL(e)))
		}, check: func(e *hostileEnv) {
			_, stderr := e.want(exitFailed, "run")
			if !strings.Contains(stderr, "redirect not followed") {
				t.Errorf("stderr: %s", stderr)
			}
		}},
		{name: "pendo_redirect_to_another_host", fault: func(e *hostileEnv) {
			e.pd.Add(faultproxy.Redirect("307", func(*http.Request) bool { return true }, strings.Replace(evilURL(e), "127.0.0.1", "localhost", 1)))
		}, check: func(e *hostileEnv) {
			e.want(exitFailed, "run")
		}},
		{name: "echoed_credentials", prime: true, fault: func(e *hostileEnv) {
			e.write("models/titles.sql", "SELECT id, 'Retitled ' || id AS title FROM raw_hubspot.contacts")
			e.hs.Add(faultproxy.EchoRequest("echo-hs", hubspotWrites, 400, "application/json"))
			e.pd.Add(faultproxy.EchoRequest("echo-pd", faultproxy.Path("GET", "/metadata/schema"), 403, "text/plain"))
		}, check: func(e *hostileEnv) {
			// Pendo's 403 is a refusal of the key: preflight stops the run
			// as a project mistake, and the echoed key is never shown.
			e.want(exitConfig, "run", "--json", "--report", e.path("report.html"))
			e.noSecret()
		}},
		{name: "gzip_bomb", fault: func(e *hostileEnv) {
			e.hs.Add(faultproxy.GzipBomb("bomb", hubspotList, 8<<30))
		}, check: func(e *hostileEnv) {
			_, stderr := e.want(exitFailed, "run")
			if !strings.Contains(stderr, "over the limit") {
				t.Errorf("stderr: %s", stderr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHostileEnv(t)
			if tt.prime {
				e.want(exitOK, "run", "--log-level", "warn")
			}
			tt.fault(e)
			tt.check(e)
			e.converges()
		})
	}
}

// evilURL is a server on another port that counts what reaches it: a
// redirect must send it nothing, and surely no credential.
func evilURL(e *hostileEnv) string {
	var reached atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	e.t.Cleanup(func() {
		evil.Close()
		if n := reached.Load(); n > 0 {
			e.t.Errorf("the redirect target was reached %d times", n)
		}
	})
	return evil.URL
}

// TestHostileProjects: values no destination takes, and project SQL that
// reaches for backflow's own state, are refused without losing anything.
func TestHostileProjects(t *testing.T) {
	t.Run("values_no_destination_takes", func(t *testing.T) {
		e := newHostileEnv(t)
		e.write("models/scores.sql", `SELECT visitor_id,
	CASE WHEN visitor_id = (SELECT min(visitor_id) FROM raw_pendo.visitors) THEN 1 / 0.0
	     WHEN visitor_id = (SELECT max(visitor_id) FROM raw_pendo.visitors) THEN -1 / 0.0 ELSE 1.5 END AS score,
	CASE WHEN visitor_id IN (SELECT visitor_id FROM raw_pendo.visitors ORDER BY visitor_id LIMIT 1 OFFSET 1) THEN 'infinity'::TIMESTAMPTZ ELSE TIMESTAMPTZ '2026-11-01 00:00:00Z' END AS seen,
	CASE WHEN visitor_id IN (SELECT visitor_id FROM raw_pendo.visitors ORDER BY visitor_id LIMIT 1 OFFSET 2) THEN repeat('x', 10000000) ELSE 'ok' END AS note
FROM raw_pendo.visitors`)
		e.write("syncs/scores.yml", "model: scores\ndestination: pendo\nobject: visitors\nkey: visitor_id\ncreate_fields: true\nfields:\n  score: bf_score\n  seen: bf_seen\n  note: bf_note\n")
		out, _ := e.want(exitOK, "run", "--sync", "visitor_traits", "--log-level", "warn") // stage first
		_ = out
		planOut, _ := e.want(exitOK, "plan", "--sync", "scores", "--show", "200")
		if strings.Contains(planOut, strings.Repeat("x", 300)) {
			t.Error("plan --show printed a 10 MB value whole")
		}
		_, stderr := e.want(exitRowsFailed, "sync", "--sync", "scores", "--log-level", "warn")
		_ = stderr
		for field, n := range map[string]string{"bf_score: NaN or an infinite": "2", "bf_seen: an infinite date": "1", "bf_note: the value is 10000000 characters": "1"} {
			if got := e.query(fmt.Sprintf("SELECT count(*) FROM backflow.sync_rows WHERE sync = 'scores' AND status = 'rejected' AND error LIKE '%s%%'", field)); got != n {
				t.Errorf("%q: %s rows rejected, want %s", field, got, n)
			}
		}
		if got := e.query("SELECT count(*) FROM backflow.sync_rows WHERE sync = 'scores' AND status = 'applied'"); got == "0" {
			t.Error("the good rows were not sent")
		}
	})
	t.Run("test_sql_cannot_run_a_statement_of_its_own", func(t *testing.T) {
		e := newHostileEnv(t)
		e.want(exitOK, "run", "--log-level", "warn")
		e.write("tests/evil.sql", "SELECT 1 WHERE false) ; DROP TABLE backflow.sync_rows; SELECT * FROM (SELECT 1 WHERE false")
		_, stderr := e.want(exitConfig, "run")
		if !strings.Contains(stderr, "tests/evil.sql") {
			t.Errorf("stderr: %s", stderr)
		}
		if n := e.query("SELECT count(*) FROM backflow.sync_rows"); n == "0" {
			t.Error("sync_rows was emptied")
		}
		os.Remove(e.path("tests/evil.sql"))
		e.converges()
	})
	t.Run("yaml_test_argument_is_a_name", func(t *testing.T) {
		e := newHostileEnv(t)
		e.write("models/visitor_traits.yml", e.read("models/visitor_traits.yml")+`
  lead_status:
    tests:
      - relationships: {to: "backflow.runs t WHERE false); DROP TABLE backflow.schema_changes; SELECT 1 FROM (SELECT 1", field: x}
`)
		_, stderr := e.want(exitConfig, "run")
		if !strings.Contains(stderr, "models/visitor_traits.yml") {
			t.Errorf("stderr: %s", stderr)
		}
	})
	t.Run("query_writes_no_file", func(t *testing.T) {
		e := newHostileEnv(t)
		e.want(exitOK, "run", "--log-level", "warn")
		target := filepath.Join(t.TempDir(), "stolen.csv")
		code, _, stderr := e.cli("query", "COPY backflow.runs TO '"+target+"'")
		if code == 0 || !strings.Contains(stderr, "file system operations are disabled") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(target); err == nil {
			t.Error("backflow query wrote a file")
		}
	})
	t.Run("deleted_model_file", func(t *testing.T) {
		e := newHostileEnv(t)
		e.want(exitOK, "run", "--log-level", "warn")
		writes := e.pendoWrites()
		os.Remove(e.path("models/visitor_traits.sql"))
		os.Remove(e.path("models/visitor_traits.yml"))
		_, stderr := e.want(exitConfig, "run")
		if !strings.Contains(stderr, "syncs/visitor_traits.yml") || !strings.Contains(stderr, "no models/visitor_traits.sql") {
			t.Errorf("stderr: %s", stderr)
		}
		if e.pendoWrites() != writes {
			t.Error("a sync whose model file is gone sent something")
		}
	})
	t.Run("interrupted_run_recorded_as_failed", func(t *testing.T) {
		e := newHostileEnv(t)
		e.want(exitOK, "run", "--log-level", "warn")
		w, err := warehouse.Open(t.Context(), e.path("warehouse.duckdb"), warehouse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// What a process that ran out of disk leaves behind.
		w.DB().Exec(`INSERT INTO backflow.runs (run_id, command, started_at, status) VALUES ('00000000-dead', 'run', now(), 'running')`)
		w.Close()
		e.want(exitOK, "run", "--log-level", "warn")
		if st := e.query("SELECT status || ':' || (error LIKE 'interrupted%') FROM backflow.runs WHERE run_id = '00000000-dead'"); st != "failed:true" {
			t.Errorf("the interrupted run is %s", st)
		}
	})
	t.Run("plain_http_to_another_host", func(t *testing.T) {
		e := newHostileEnv(t)
		cfg := e.read("backflow.yml")
		i := strings.Index(cfg, "base_url: http://127.0.0.1")
		e.write("backflow.yml", cfg[:i]+"base_url: http://hubspot.example.com"+cfg[strings.Index(cfg[i:], "   #")+i:])
		_, stderr := e.want(exitConfig, "run")
		if !strings.Contains(stderr, "backflow.yml:") || !strings.Contains(stderr, "hubspot.base_url") || !strings.Contains(stderr, "plain http") {
			t.Errorf("stderr: %s", stderr)
		}
	})
}
