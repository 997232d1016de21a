package report_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/report"
	"github.com/backflow-dev/backflow/warehouse"
)

// fixture is a DuckDB file with three runs of one sync (the last with row
// errors, one of them carrying markup) and a never-run sync.
func fixture(t *testing.T) *report.Data {
	t.Helper()
	ctx := context.Background()
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range []string{
		`CREATE TABLE raw_hubspot.contacts (id VARCHAR, email VARCHAR)`,
		`CREATE TABLE raw_pendo.visitors (visitor_id VARCHAR)`,
		`INSERT INTO backflow.sync_runs (run_id, sync, started_at, status, applied, skipped, failed, rejected) VALUES
			('r1', 'traits', TIMESTAMPTZ '2026-11-01 02:00:00+00', 'succeeded', 1700, 0, 0, 0),
			('r2', 'traits', TIMESTAMPTZ '2026-11-02 02:00:00+00', 'succeeded', 0, 0, 0, 0),
			('r3', 'traits', TIMESTAMPTZ '2026-11-03 02:00:00+00', 'partial', 25, 3, 2, 1)`,
		`INSERT INTO backflow.sync_rows (run_id, sync, key, operation, status, error, recorded_at) VALUES
			('r3', 'traits', 'v1', 'change', 'failed', 'INVALID_EMAIL <script>alert(1)</script>', now()),
			('r3', 'traits', 'v2', 'change', 'failed', 'INVALID_EMAIL <script>alert(1)</script>', now()),
			('r3', 'traits', 'v3', 'add', 'skipped_not_found', 'visitor not found', now()),
			('r2', 'traits', 'v9', 'add', 'failed', 'an old error', now())`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// identity is built in the file; traits never was (its lineage is
	// left out, and the page says so).
	if _, err := w.DB().Exec(`CREATE VIEW models.identity AS SELECT c.id, v.visitor_id, lower(c.email) AS email FROM raw_hubspot.contacts c JOIN raw_pendo.visitors v ON v.visitor_id = c.email`); err != nil {
		t.Fatal(err)
	}
	ordered := []models.Model{
		{Name: "identity", File: "models/identity.sql", Shipped: true, SQL: `SELECT c.id, v.visitor_id, lower(c.email) AS email FROM raw_hubspot.contacts c JOIN raw_pendo.visitors v ON v.visitor_id = c.email`},
		{Name: "traits", File: "models/traits.sql", Depends: []string{"identity"}, SQL: `SELECT * FROM models.identity`},
	}
	p := &project.Project{Dir: "/srv/p", Config: project.Config{Name: "acme", Warehouse: "warehouse.duckdb"},
		Syncs: []project.Sync{{Spec: load.Spec{Name: "traits", Model: "traits"}, Destination: "pendo", Object: "visitors"},
			{Spec: load.Spec{Name: "later", Model: "traits"}, Destination: "hubspot", Object: "contacts"},
			{Spec: load.Spec{Name: "ids", Model: "identity", Key: "id", Fields: []load.Field{{Column: "visitor_id", Field: "pendo_visitor_id"}, {Column: "email", Field: "work_email"}}},
				Destination: "hubspot", Object: "contacts"}}}
	d, err := report.Collect(ctx, w.DB(), p, ordered, 30, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCollect(t *testing.T) {
	d := fixture(t)
	var edges []string
	for _, e := range d.Edges {
		edges = append(edges, e.From+" -> "+e.To)
	}
	want := []string{
		"raw_hubspot.contacts -> models.identity", "raw_pendo.visitors -> models.identity",
		"models.identity -> models.traits", "models.traits -> sync:traits", "sync:traits -> dest:pendo visitors",
		"models.traits -> sync:later", "sync:later -> dest:hubspot contacts",
		"models.identity -> sync:ids", "sync:ids -> dest:hubspot contacts",
	}
	if strings.Join(edges, "\n") != strings.Join(want, "\n") {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(edges, "\n"), strings.Join(want, "\n"))
	}
	if len(d.Syncs) != 3 || len(d.Syncs[0].Runs) != 3 || d.Syncs[0].Runs[0].RunID != "r1" || d.Syncs[0].Runs[2].Failed != 2 || len(d.Syncs[1].Runs) != 0 {
		t.Errorf("syncs: %+v", d.Syncs)
	}
	// Only the latest run's errors, most rows first; r2's is history.
	if len(d.Errors) != 2 || d.Errors[0].Rows != 2 || d.Errors[0].ExampleKey != "v1" || d.Errors[1].Status != "skipped_not_found" {
		t.Errorf("errors: %+v", d.Errors)
	}
	// Column lineage: the built model's sync fields back to raw columns;
	// the syncs on the model never built are left out, and said so.
	var cols []string
	for _, c := range d.Columns {
		cols = append(cols, fmt.Sprintf("%s.%s <- %s", c.Sync, cmp.Or(c.Field, "key"), strings.Join(c.Sources, ", ")))
	}
	wantCols := []string{
		"ids.key <- raw_hubspot.contacts.id",
		"ids.pendo_visitor_id <- raw_pendo.visitors.visitor_id",
		"ids.work_email <- raw_hubspot.contacts.email",
	}
	if strings.Join(cols, "\n") != strings.Join(wantCols, "\n") || !strings.Contains(d.ColumnsNote, "models.traits") {
		t.Errorf("column lineage:\n%s\nwant:\n%s\nnote %q", strings.Join(cols, "\n"), strings.Join(wantCols, "\n"), d.ColumnsNote)
	}
}

// TestPageRendersInChromium opens the page in headless Chromium and checks
// that the script drew every part without an error.
func TestPageRendersInChromium(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Skip("headless Chromium not found: install Debian's chromium package (apt-get install chromium); .ci/run installs it")
	}
	var page bytes.Buffer
	if err := report.Write(&page, fixture(t)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script>alert(1)") {
		t.Fatal("an error message reached the page unescaped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The flags keep Chromium off the network this machine does not have.
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", "file://"+file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := stdout.String()
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("script error: %s", line)
		}
	}
	checks := []struct {
		name  string
		re    string
		count int
	}{
		{"the script finished", `<body data-rendered="ok">`, 1},
		{"a box per lineage node", `<g class="node `, 9},
		{"source nodes", `<g class="node source"`, 2},
		{"an edge per edge", `<path class="edge"`, 9},
		{"a chart per sync", `<svg [^>]*class="chart"`, 3},
		{"a bar per run", `<g class="bar"`, 3},
		{"the never-run syncs say so", `<text [^>]*>no runs yet</text>`, 2},
		{"a row per traced sync field", `<tr class="column">`, 3},
		{"an error row per kind", `<td class="err">INVALID_EMAIL &lt;script&gt;`, 1},
	}
	for _, c := range checks {
		if got := len(regexp.MustCompile(c.re).FindAllStringIndex(dom, -1)); got != c.count {
			t.Errorf("%s: %d matches of %s, want %d", c.name, got, c.re, c.count)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
