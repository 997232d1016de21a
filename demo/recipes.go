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

	"go.yaml.in/yaml/v3"

	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/sandbox"
)

// RecipeSync is what one recipe's sync pushed in each recipes pass.
type RecipeSync struct {
	Recipe string  `json:"recipe"`
	Sync   string  `json:"sync"`
	Pushed []int64 `json:"pushed"`
	Failed int64   `json:"failed"`
}

// writeRecipes writes every recipe into one project in dir: their models,
// syncs and tests side by side (their names do not clash) and a
// backflow.yml extracting what any of them reads, so one extraction feeds
// them all. It returns the recipe each sync came from.
func writeRecipes(dir string) (map[string]string, error) {
	objects, streams := map[string]bool{}, map[string]bool{}
	from := map[string]string{}
	history := 0
	for _, name := range examples.Recipes() {
		fsys := examples.Recipe(name)
		p, err := project.Load(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("demo: recipe %s: %w", name, err)
		}
		for _, o := range p.Config.HubSpot.Extract.Objects {
			objects[o] = true
		}
		for _, s := range p.Config.Pendo.Extract.Streams {
			streams[s] = true
		}
		history = max(history, p.Config.Pendo.Extract.HistoryDays)
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
		"pendo": map[string]any{"integration_key_env": "PENDO_INTEGRATION_KEY", "track_secret_env": "PENDO_TRACK_SECRET",
			"extract": map[string]any{"streams": slices.Sorted(maps.Keys(streams)), "history_days": history, "event_lookback": "48h"}},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	head := "# Every recipe of examples/recipes in one project (written by backflow demo).\n"
	return from, os.WriteFile(filepath.Join(dir, project.ConfigFile), append([]byte(head), raw...), 0o644)
}

// runRecipes runs the recipes project twice against the sandbox.
func runRecipes(ctx context.Context, sb *sandbox.Sandbox, dir string, opts Options) ([]RecipeSync, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	from, err := writeRecipes(dir)
	if err != nil {
		return nil, err
	}
	p, err := project.Load(os.DirFS(dir), dir)
	if err != nil {
		return nil, err
	}
	p.Config.HubSpot.BaseURL = sb.HubSpotURL
	p.Config.Pendo.BaseURL = sb.PendoURL
	run := pipeline.Options{Project: p, WarehousePath: filepath.Join(dir, p.Config.Warehouse), Logger: opts.Logger,
		Secrets: project.Secrets{HubSpotToken: sb.HubSpotToken, PendoIntegrationKey: sb.PendoKey, PendoTrackSecret: sb.PendoTrackSecret}}
	bySync := map[string]*RecipeSync{}
	var out []RecipeSync
	for pass := 0; pass < 2; pass++ {
		res, err := pipeline.Run(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("demo: recipes pass %d: %w", pass+1, err)
		}
		for _, s := range res.Syncs {
			r := bySync[s.Sync]
			if r == nil {
				r = &RecipeSync{Recipe: from[s.Sync], Sync: s.Sync}
				bySync[s.Sync] = r
			}
			r.Pushed = append(r.Pushed, s.Applied)
			r.Failed += s.Failed + s.Rejected
		}
	}
	for _, r := range bySync {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Recipe+out[i].Sync < out[j].Recipe+out[j].Sync })
	return out, nil
}
