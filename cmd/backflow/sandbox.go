package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/sandbox"
)

type sandboxOptions struct {
	hubspotAddr, pendoAddr string
	token                  string
	seed                   uint64
	contacts               int
	live                   bool
}

func newCmdSandbox(g *globals, stdio IO) *cobra.Command {
	opts := &sandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve HubSpot and Pendo emulators seeded with realistic data",
		Long: `sandbox serves in-memory emulators of the HubSpot and Pendo APIs on loopback
addresses, seeded with a deterministic CRM (owners, companies, contacts,
deals, a custom object, associations) and matching Pendo visitors and
accounts, so models and syncs can be developed without touching production.
Point a project's base_url settings at the printed URLs (backflow init
--sandbox writes the default ones). It serves until interrupted.

With --now, the emulators treat that instant as the present: the seeded
history ends there and time moves on from it. Runs against them take
--now too, at the emulators' present (the instant given plus the time since
the sandbox started); a few seconds' difference is covered by the
look-backs, but a run whose present is behind the emulators' misses what
changed in between.`,
		Example: `  backflow sandbox --hubspot-addr 127.0.0.1:8081 --pendo-addr 127.0.0.1:8082 --token dev-token
  # a sandbox where it is 30 s before midnight in New York, DST starting that day
  backflow sandbox --now 2027-03-14T23:59:30-04:00`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sb, err := sandbox.Start(sandbox.Options{Seed: opts.seed, Contacts: opts.contacts, Token: opts.token,
				HubSpotAddr: opts.hubspotAddr, PendoAddr: opts.pendoAddr, Now: g.clockFn})
			if err != nil {
				return err
			}
			defer sb.Close()
			fmt.Fprintf(stdio.Out, "hubspot: %s\npendo: %s\n", sb.HubSpotURL, sb.PendoURL)
			if g.now != "" {
				fmt.Fprintf(stdio.ErrOut, "The emulators' present started at %s and moves on from there; give runs against them --now at that present.\n", g.now)
			}
			fmt.Fprintf(stdio.ErrOut, "HubSpot token %q; Pendo integration key %q, track secret %q (data host: the pendo URL); OAuth app client id %q, secret %q. Ctrl-C to stop.\n",
				sb.HubSpotToken, sb.PendoKey, sb.PendoTrackSecret, sandbox.OAuthClientID, sandbox.OAuthClientSecret)
			if !opts.live {
				<-cmd.Context().Done()
				return nil
			}
			fmt.Fprintln(stdio.ErrOut, "Live: people keep using the product and editing the CRM, at the emulators' present.")
			return liveSandbox(cmd.Context(), sb, opts.seed, g.clockFn)
		},
	}
	cmd.Flags().StringVar(&opts.hubspotAddr, "hubspot-addr", sandboxHubSpotAddr, "HubSpot emulator listen address (127.0.0.1:0 picks a free port)")
	cmd.Flags().StringVar(&opts.pendoAddr, "pendo-addr", sandboxPendoAddr, "Pendo emulator listen address (127.0.0.1:0 picks a free port)")
	cmd.Flags().StringVar(&opts.token, "token", "", "accept this as the HubSpot token, the Pendo integration key and the track secret (default: fixed sandbox credentials)")
	cmd.Flags().Uint64Var(&opts.seed, "seed", 1, "seed of the generated data")
	cmd.Flags().IntVar(&opts.contacts, "contacts", 2000, "HubSpot contacts to generate")
	cmd.Flags().BoolVar(&opts.live, "live", false, "keep the world moving: contacts edited, created and archived, product activity, every few seconds of the emulators' clock")
	return cmd
}

// liveSandbox steps the sandbox's world every 5 s until ctx ends.
func liveSandbox(ctx context.Context, sb *sandbox.Sandbox, seed uint64, now func() time.Time) error {
	life := sb.Live(sandbox.LiveOptions{Seed: seed})
	last := now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			at := now()
			if err := life.Step(last, at); err != nil {
				return err
			}
			last = at
		}
	}
}
