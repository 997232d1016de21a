package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/serve"
)

type serveOptions struct {
	project   string
	addr      string
	publicURL string
	poll      time.Duration
	full      time.Duration
	debounce  time.Duration
	budget    float64
	publish   string
	pubEvery  time.Duration
}

func newCmdServe(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Keep the destinations current within seconds: webhooks, polling and scheduled runs in one process",
		Long: `serve keeps the project's DuckDB file open and runs cycles: a run of the
records webhook deliveries said changed (read by id), a poll each --poll
(a probe of one search per object; a run of what changed), and a full
run each --full-every (and at start, which also redoes
what a stopped serve left queued). Each cycle is a run with every
guarantee of backflow run: the same preflight, diff, batches and rate
limits, recorded in backflow.runs as command serve.

It serves, on --addr:
  POST /hooks/hubspot  HubSpot webhook deliveries (v3 signature, checked
                       with hubspot.webhooks.client_secret_env)
  POST /hooks/pendo    Pendo URL webhooks (?token=, pendo.webhooks)
  GET  /healthz        200 while the process runs
  GET  /readyz         200 once a full cycle has succeeded
  GET  /metrics        Prometheus metrics
  POST /run            a full cycle next

A delivery is stored in backflow.changes before it is answered 200; a
retry or duplicate is stored once; a burst beyond the queue's capacity is
answered 503 with Retry-After. SIGINT or SIGTERM stops taking deliveries,
finishes the batch in flight and exits 0. Put it behind a TLS proxy to
expose the hooks (docs/serve.md).`,
		Example: `  # polling every 30 s, webhooks when configured, a full run hourly
  backflow serve --addr 0.0.0.0:8080 --public-url https://backflow.example.com --poll 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, p, secrets, err := g.setup(stdio, opts.project, lookupEnv)
			if err != nil {
				return err
			}
			if _, err := g.check(cmd, log, p, secrets, nil); err != nil {
				return err
			}
			g.disp.end() // serve logs lines; it draws no progress bars
			ln, err := net.Listen("tcp", opts.addr)
			if err != nil {
				return &usageError{fmt.Errorf("serve: listen on %s: %w", opts.addr, err)}
			}
			return serve.Run(g.hard, serve.Options{
				Pipeline: pipeline.Options{Project: p.Pipeline(), Secrets: secrets, WarehousePath: p.Path(p.Config.Warehouse),
					LockTimeout: g.lockTimeout, Logger: log, Now: g.clockFn},
				Listener: ln, PublicURL: opts.publicURL, Poll: opts.poll, PollBudget: opts.budget, Publish: opts.publish, PublishEvery: opts.pubEvery, PublishMode: p.Config.Mode(), Full: opts.full, Debounce: opts.debounce,
				Stop: g.stop, Now: g.clockFn,
			})
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().StringVar(&opts.addr, "addr", "127.0.0.1:8080", "address to serve hooks, health and metrics on (0.0.0.0:8080 in a container)")
	cmd.Flags().StringVar(&opts.publicURL, "public-url", "", "the URL webhook senders call, scheme and host (HubSpot signs it); default http:// and the request's Host")
	cmd.Flags().DurationVar(&opts.poll, "poll", 0, "read every stream for changes this often (e.g. 30s); 0 relies on webhooks and full runs")
	cmd.Flags().Float64Var(&opts.budget, "poll-budget", 0.015, "the share of the API's daily budget idle polling may spend; --poll stretches to fit it")
	cmd.Flags().DurationVar(&opts.full, "full-every", time.Hour, "run every stream and sync this often, catching up what webhooks missed")
	cmd.Flags().StringVar(&opts.publish, "publish", "", "write a read-only copy of the DuckDB file here for analysts, after the first cycle and then at most every --publish-every")
	cmd.Flags().DurationVar(&opts.pubEvery, "publish-every", 15*time.Minute, "how often the --publish copy is refreshed (after a cycle)")
	cmd.Flags().DurationVar(&opts.debounce, "debounce", time.Second, "after a delivery, wait this long for the ones that come with it")
	return cmd
}
