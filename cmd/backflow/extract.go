package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/pipeline"
)

type extractOptions struct {
	project     string
	fullRefresh bool
	json        bool
	timeout     time.Duration
	allowMass   bool
}

func newCmdExtract(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &extractOptions{}
	cmd := &cobra.Command{
		Use:   "extract [source[.stream]]...",
		Short: "Stage HubSpot and Pendo data into the DuckDB file",
		Long: `extract reads the sources configured in backflow.yml into raw_hubspot and
raw_pendo. Later runs read only what changed since the last one (HubSpot
search windows, Pendo's lastupdated and event windows, each with a
look-back) and merge it; --full-refresh reads everything again and
replaces each table.`,
		Example: `  backflow extract                       # everything configured
  backflow extract hubspot               # one source
  backflow extract hubspot.contacts pendo.visitors --full-refresh`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			var res *pipeline.Result
			if opts.json {
				defer func() { err = printOutcome(stdio, g, runSummary(res), err) }()
			}
			if err := g.limit(opts.timeout); err != nil {
				return err
			}
			log, p, secrets, err := g.setup(stdio, opts.project, lookupEnv)
			if err != nil {
				return err
			}
			var only, names []string
			for _, c := range g.table() {
				names = append(names, c.Name())
			}
			for _, a := range args {
				src, stream, _ := strings.Cut(a, ".")
				if !slices.Contains(names, src) {
					return &usageError{fmt.Errorf("unknown source %q (want %s, optionally .stream)", src, orList(names))}
				}
				if stream != "" {
					only = append(only, src+"/"+stream)
				} else {
					only = append(only, src)
				}
			}
			res, err = pipeline.Run(g.hard, pipeline.Options{Stop: g.stop,
				Project: p.Pipeline(), Secrets: secrets, WarehousePath: p.Path(p.Config.Warehouse), Logger: log, LockTimeout: g.lockTimeout,
				FullRefresh: opts.fullRefresh, Only: only, ExtractOnly: true, Progress: g.disp.extracting, Now: g.clockFn,
				AllowMassRemoval: opts.allowMass,
			})
			g.disp.end()
			if !opts.json && res != nil {
				for _, e := range res.Extract {
					fmt.Fprintln(stdio.Out, e)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().BoolVar(&opts.fullRefresh, "full-refresh", false, "ignore cursors: read everything and replace each table")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON summary on stdout")
	addTimeout(cmd, &opts.timeout)
	addAllowMassRemoval(cmd, &opts.allowMass)
	return cmd
}

// orList is "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
