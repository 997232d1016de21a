// Package demo runs the example project end to end against the seeded
// emulators, three times: a first load, a second pass that must send
// nothing, and a third after 25 contacts change in HubSpot that must send
// exactly those 25. Then it runs every recipe of examples/recipes together
// until a run sends nothing.
//
// The demo keeps its own clock: it starts at Options.Now and moves one
// second before each run, whatever the runs take, so the same starting
// instant always gives the same counts.
package demo

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse"
)

// Options configure the demo.
type Options struct {
	// Dir receives the project and its DuckDB file; it is created, and a
	// DuckDB file from an earlier demo is replaced.
	Dir string
	// Contacts seeded in HubSpot; default 2,000.
	Contacts int
	// Changed is how many matched contacts change before the third pass;
	// default 25.
	Changed int
	// SkipRecipes leaves out the recipes (examples/recipes) the demo runs
	// after its three passes.
	SkipRecipes bool
	// MaxRecipeRuns bounds how many times the recipes run while each run
	// may still send the consequences of the one before; default 6.
	MaxRecipeRuns int
	// Now is the demo's starting instant: the emulators' history ends
	// there. Default the system clock's present.
	Now    time.Time
	Logger *slog.Logger
}

// runGap is how far the demo's clock moves before each run: past
// HubSpot search's lag (3 s in the emulator, as on HubSpot), so each run
// sees the writes before it, as runs a scheduler starts minutes apart do.
const runGap = 5 * time.Second

// Pass is one run's counts.
type Pass struct {
	At        time.Time `json:"at"`
	Staged    int64     `json:"staged"`
	ModelRows int64     `json:"model_rows"`
	Pushed    int64     `json:"pushed"`
	Skipped   int64     `json:"skipped"`
	Failed    int64     `json:"failed"`
	Seconds   float64   `json:"seconds"`
}

// Summary is what the demo did.
type Summary struct {
	// Now is the instant the demo started at.
	Now             time.Time `json:"now"`
	DuckDB          string    `json:"duckdb"`
	Project         string    `json:"project"`
	ChangedContacts int       `json:"changed_contacts"`
	// Checks is what preflight (backflow check) checked before the first
	// pass, and CheckSeconds how long it took.
	Checks       []string `json:"checks"`
	CheckSeconds float64  `json:"check_seconds"`
	Passes       []Pass   `json:"passes"`
	// Verified is how many visitors' Pendo metadata was checked against the
	// snapshot after the last pass.
	Verified int `json:"verified"`
	// Recipes is what each recipe's syncs pushed in every run of all the
	// recipes together (examples/recipes), in RecipesProject.
	Recipes    []RecipeSync `json:"recipes,omitempty"`
	RecipeRuns []RecipeRun  `json:"recipe_runs,omitempty"`
	// RecipesSettled is the recipes run that sent nothing (1-based), the
	// fixed point; 0 when MaxRecipeRuns runs all sent something.
	RecipesSettled int     `json:"recipes_settled"`
	RecipesProject string  `json:"recipes_project,omitempty"`
	RecipesSeconds float64 `json:"recipes_seconds,omitempty"`
	// Lineage is what preflight traced of the demo project's columns, and
	// RecipesLineage of the recipes project's.
	Lineage        LineageFigures  `json:"lineage"`
	RecipesLineage *LineageFigures `json:"recipes_lineage,omitempty"`
}

// LineageFigures sum up one project's column lineage (backflow lineage).
type LineageFigures struct {
	Models  int     `json:"models"`
	Columns int     `json:"columns"`
	Fields  int     `json:"sync_fields"`
	Unknown int     `json:"unknown"`
	Seconds float64 `json:"seconds"`
}

func lineageFigures(l *pipeline.Lineage) LineageFigures {
	if l == nil {
		return LineageFigures{}
	}
	return LineageFigures{Models: len(l.Models), Columns: l.Columns(), Fields: l.Fields(), Unknown: l.Unknown(), Seconds: l.Duration.Seconds()}
}

// Run runs the demo.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if opts.Changed == 0 {
		opts.Changed = 25
	}
	if opts.MaxRecipeRuns == 0 {
		opts.MaxRecipeRuns = 6
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	clk := clock.NewManual(opts.Now)
	sb, err := sandbox.Start(sandbox.Options{Contacts: opts.Contacts, Now: clk.Now})
	if err != nil {
		return nil, err
	}
	defer sb.Close()

	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := writeProject(dir); err != nil {
		return nil, err
	}
	p, secrets, err := loadSandboxed(dir, sb)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, p.Config.Warehouse)
	for _, f := range []string{dbPath, dbPath + ".wal"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	run := pipeline.Options{
		Project:       p.Pipeline(),
		Secrets:       secrets,
		WarehousePath: dbPath,
		Logger:        opts.Logger,
		Now:           clk.Now,
	}
	sum := &Summary{Now: opts.Now, DuckDB: dbPath, Project: dir, ChangedContacts: opts.Changed}
	// What backflow run does first: every check, before any data moves.
	chk, err := pipeline.Check(ctx, run)
	if err != nil {
		return sum, fmt.Errorf("demo preflight: %w", err)
	}
	sum.Checks, sum.CheckSeconds = chk.Checks, chk.Duration.Seconds()
	sum.Lineage = lineageFigures(chk.Lineage)
	pass := func() error {
		if len(sum.Passes) > 0 {
			clk.Advance(runGap)
		}
		at := clk.Now()
		res, err := pipeline.Run(ctx, run)
		if err != nil {
			return err
		}
		t := res.Totals()
		sum.Passes = append(sum.Passes, Pass{At: at, Staged: res.Staged(), ModelRows: t.ModelRows, Pushed: t.Applied,
			Skipped: t.Skipped, Failed: t.Failed + t.Rejected, Seconds: res.Duration.Seconds()})
		return nil
	}
	if err := pass(); err != nil {
		return sum, fmt.Errorf("demo pass 1: %w", err)
	}
	if err := pass(); err != nil {
		return sum, fmt.Errorf("demo pass 2: %w", err)
	}
	if err := changeContacts(ctx, sb, dbPath, opts.Changed); err != nil {
		return sum, err
	}
	if err := pass(); err != nil {
		return sum, fmt.Errorf("demo pass 3: %w", err)
	}
	if sum.Verified, err = Verify(ctx, dbPath, p.Syncs[0].Name, sb.Pendo); err != nil {
		return sum, err
	}
	if opts.SkipRecipes {
		return sum, nil
	}
	start := time.Now()
	sum.RecipesProject = filepath.Join(dir, "recipes")
	if err := runRecipes(ctx, sb, clk, sum, opts); err != nil {
		return sum, err
	}
	sum.RecipesSeconds = time.Since(start).Seconds()
	return sum, nil
}

func writeProject(dir string) error {
	return fs.WalkDir(examples.Demo(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(examples.Demo(), path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// changeContacts edits the HubSpot score of n matched contacts in the
// emulator, as a HubSpot user (or workflow) would.
func changeContacts(ctx context.Context, sb *sandbox.Sandbox, dbPath string, n int) error {
	w, err := warehouse.Open(ctx, dbPath, warehouse.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer w.Close()
	var rows []struct {
		ID    string  `db:"contact_id"`
		Score float64 `db:"hubspotscore"`
	}
	if err := w.DB().SelectContext(ctx, &rows, `SELECT i.contact_id, coalesce(c.hubspotscore, 0) AS hubspotscore
		FROM models.identity_contacts_visitors i JOIN raw_hubspot.contacts c ON c.id = i.contact_id
		WHERE i.status = 'matched' ORDER BY i.contact_id LIMIT ?`, n); err != nil {
		return fmt.Errorf("demo: pick contacts to change: %w", err)
	}
	if len(rows) < n {
		return fmt.Errorf("demo: only %d matched contacts, need %d", len(rows), n)
	}
	for _, r := range rows {
		next := strconv.Itoa((int(r.Score) + 7) % 100)
		if err := sb.HubSpot.UpdateObject("contacts", r.ID, map[string]string{"hubspotscore": next}); err != nil {
			return err
		}
	}
	return nil
}

// loadSandboxed loads the project in dir pointed at the sandbox, with the
// sandbox's credentials under the variables the project names.
func loadSandboxed(dir string, sb *sandbox.Sandbox) (*project.Project, project.Secrets, error) {
	p, err := project.LoadWith(os.DirFS(dir), dir, builtin.Connectors(), project.Options{Set: sb.Settings()})
	if err != nil {
		return nil, nil, err
	}
	secrets, err := p.Secrets(sb.Lookup)
	if err != nil {
		return nil, nil, err
	}
	return p, secrets, nil
}
