package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
)

type checkOptions struct {
	project string
	syncs   []string
	json    bool
}

func newCmdCheck(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Find every mistake in the project before any data moves",
		Long: `check is preflight: everything that can be known before data moves, every
problem at once, each with its file and line. It checks the configuration;
each connector's credentials (one cheap call each); the staged schema (each
source's tables as its API defines them, with the columns the DuckDB file
holds); every model, parsed and bound against that schema in a throwaway
database; each sync's model, key and columns, and its destination's fields
and their types (from the APIs' schema endpoints); and the data tests.
It sends nothing, and never creates or changes the project's DuckDB file.
run, plan and sync run the same checks first.`,
		Example: `  backflow check
  backflow check --json   # one object: status, exit_code, problems, checks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := g.preflight(cmd, stdio, opts.project, lookupEnv, opts.syncs)
			if opts.json {
				return printOutcome(stdio, g, checkSummary(res), err)
			}
			if res != nil && err == nil {
				fmt.Fprintf(stdio.Out, "no problems: %d checks in %.1fs\n", len(res.Checks), res.Duration.Seconds())
				for _, c := range res.Checks {
					fmt.Fprintln(stdio.Out, "  "+c)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringSliceVar(&opts.syncs, "sync", nil, "check only these syncs (and everything they need)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object on stdout")
	return cmd
}

// preflight loads the project and checks it (see check).
func (g *globals) preflight(cmd *cobra.Command, stdio IO, dir string, lookupEnv func(string) (string, bool), syncs []string) (*pipeline.CheckResult, error) {
	log, p, secrets, err := g.setup(stdio, dir, lookupEnv)
	if err != nil {
		return nil, err
	}
	return g.check(cmd, log, p, secrets, syncs)
}

// check runs pipeline.Check on a loaded project, logging its warnings and
// how long it took: the first step of check, run, plan and sync.
func (g *globals) check(cmd *cobra.Command, log *slog.Logger, p *project.Project, secrets project.Secrets, syncs []string) (*pipeline.CheckResult, error) {
	res, err := pipeline.Check(cmd.Context(), pipeline.Options{
		Project:       p.Pipeline(),
		Secrets:       secrets,
		WarehousePath: p.Path(p.Config.Warehouse),
		Logger:        log,
		Syncs:         syncs,
		Now:           g.clockFn,
		LockTimeout:   g.lockTimeout,
		ReachTimeout:  g.reachTimeout,
	})
	for _, w := range res.Warnings {
		log.Warn("preflight: " + w)
	}
	if err == nil {
		log.Info("preflight passed", "checks", len(res.Checks), "duration", res.Duration.Round(time.Millisecond))
	}
	return res, err
}

// checkJSON is check's --json object, beside status and exit_code.
type checkJSON struct {
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
	Checks   []string `json:"checks"`
	Seconds  float64  `json:"seconds"`
}

func checkSummary(res *pipeline.CheckResult) checkJSON {
	out := checkJSON{Problems: []string{}, Warnings: []string{}, Checks: []string{}}
	if res == nil {
		return out
	}
	for _, p := range res.Problems {
		out.Problems = append(out.Problems, p.Error())
	}
	for _, u := range res.Unreachable {
		out.Problems = append(out.Problems, u.Error())
	}
	out.Warnings = append(out.Warnings, res.Warnings...)
	out.Checks = append(out.Checks, res.Checks...)
	out.Seconds = res.Duration.Seconds()
	return out
}
