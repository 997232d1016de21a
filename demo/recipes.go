package demo

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/sandbox"
)

// RecipeSync is what one recipe's sync pushed in each recipes run.
type RecipeSync struct {
	Recipe string  `json:"recipe"`
	Sync   string  `json:"sync"`
	Pushed []int64 `json:"pushed"`
	Failed int64   `json:"failed"`
}

// RecipeRun is one run of all the recipes together.
type RecipeRun struct {
	At     time.Time `json:"at"`
	Pushed int64     `json:"pushed"`
	Failed int64     `json:"failed"`
	// Syncs lists the syncs that pushed something, by name.
	Syncs map[string]int64 `json:"syncs"`
}

// writeRecipes writes every recipe into one project in dir: their models,
// syncs and tests side by side (their names do not clash) and a
// backflow.yml extracting what any of them reads, so one extraction feeds
// them all. It returns the recipe each sync came from.
func writeRecipes(dir string) (map[string]string, error) {
	objects, streams := map[string]bool{}, map[string]bool{}
	from := map[string]string{}
	history := 0
	zone := ""
	for _, name := range examples.Recipes() {
		fsys := examples.Recipe(name)
		p, err := project.Load(fsys, name, builtin.Connectors())
		if err != nil {
			return nil, fmt.Errorf("demo: recipe %s: %w", name, err)
		}
		c, err := readRecipeConfig(fsys)
		if err != nil {
			return nil, fmt.Errorf("demo: recipe %s: %w", name, err)
		}
		for _, o := range c.HubSpot.Extract.Objects {
			objects[o] = true
		}
		for _, s := range c.Pendo.Extract.Streams {
			streams[s] = true
		}
		history = max(history, c.Pendo.Extract.HistoryDays)
		if zone != "" && c.Pendo.TimeZone != zone {
			return nil, fmt.Errorf("demo: recipe %s: pendo.timezone %q, another recipe has %q", name, c.Pendo.TimeZone, zone)
		}
		zone = c.Pendo.TimeZone
		for _, s := range p.Syncs {
			from[s.Name] = name
		}
		err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || p == project.ConfigFile {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			target := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		})
		if err != nil {
			return nil, err
		}
	}
	cfg := map[string]any{
		"name":      "recipes",
		"warehouse": "warehouse.duckdb",
		"hubspot":   map[string]any{"token_env": "HUBSPOT_TOKEN", "extract": map[string]any{"objects": slices.Sorted(maps.Keys(objects))}},
		"pendo": map[string]any{"integration_key_env": "PENDO_INTEGRATION_KEY", "track_secret_env": "PENDO_TRACK_SECRET", "timezone": zone,
			"extract": map[string]any{"streams": slices.Sorted(maps.Keys(streams)), "history_days": history, "event_lookback": "48h"}},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	head := "# Every recipe of examples/recipes in one project (written by backflow demo).\n"
	return from, os.WriteFile(filepath.Join(dir, project.ConfigFile), append([]byte(head), raw...), 0o644)
}

// recipeConfig is what writeRecipes merges of a recipe's backflow.yml,
// which project.Load has checked.
type recipeConfig struct {
	HubSpot struct {
		Extract struct {
			Objects []string `yaml:"objects"`
		} `yaml:"extract"`
	} `yaml:"hubspot"`
	Pendo struct {
		TimeZone string `yaml:"timezone"`
		Extract  struct {
			Streams     []string `yaml:"streams"`
			HistoryDays int      `yaml:"history_days"`
		} `yaml:"extract"`
	} `yaml:"pendo"`
}

func readRecipeConfig(fsys fs.FS) (*recipeConfig, error) {
	raw, err := fs.ReadFile(fsys, project.ConfigFile)
	if err != nil {
		return nil, err
	}
	var c recipeConfig
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", project.ConfigFile, err)
	}
	return &c, nil
}

// runRecipes runs the recipes project against the sandbox until a run
// sends nothing: a run may send the consequences of the one before (a
// lifecycle stage one recipe set in HubSpot goes on to Pendo through
// another), and a run that sends nothing is the fixed point. It stops
// there, or after opts.MaxRecipeRuns runs.
func runRecipes(ctx context.Context, sb *sandbox.Sandbox, clk *clock.Manual, sum *Summary, opts Options) error {
	dir := sum.RecipesProject
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	from, err := writeRecipes(dir)
	if err != nil {
		return err
	}
	p, secrets, err := loadSandboxed(dir, sb)
	if err != nil {
		return err
	}
	run := pipeline.Options{Project: p.Pipeline(), WarehousePath: filepath.Join(dir, p.Config.Warehouse), Logger: opts.Logger, Now: clk.Now, Secrets: secrets}
	// Preflight alone first, for the recipes' column lineage.
	chk, err := pipeline.Check(ctx, run)
	if err != nil {
		return fmt.Errorf("demo: recipes preflight: %w", err)
	}
	figures := lineageFigures(chk.Lineage)
	sum.RecipesLineage = &figures
	bySync := map[string]*RecipeSync{}
	for n := 1; n <= opts.MaxRecipeRuns; n++ {
		clk.Advance(runGap)
		rr := RecipeRun{At: clk.Now(), Syncs: map[string]int64{}}
		res, err := pipeline.Run(ctx, run)
		if err != nil {
			return fmt.Errorf("demo: recipes run %d: %w", n, err)
		}
		for _, s := range res.Syncs {
			r := bySync[s.Sync]
			if r == nil {
				r = &RecipeSync{Recipe: from[s.Sync], Sync: s.Sync}
				bySync[s.Sync] = r
			}
			r.Pushed = append(r.Pushed, s.Applied)
			r.Failed += s.Failed + s.Rejected
			rr.Pushed += s.Applied
			rr.Failed += s.Failed + s.Rejected
			if s.Applied > 0 {
				rr.Syncs[s.Sync] = s.Applied
			}
		}
		sum.RecipeRuns = append(sum.RecipeRuns, rr)
		if rr.Pushed == 0 {
			sum.RecipesSettled = n
			break
		}
	}
	for _, r := range bySync {
		sum.Recipes = append(sum.Recipes, *r)
	}
	sort.Slice(sum.Recipes, func(i, j int) bool {
		return sum.Recipes[i].Recipe+sum.Recipes[i].Sync < sum.Recipes[j].Recipe+sum.Recipes[j].Sync
	})
	return nil
}
