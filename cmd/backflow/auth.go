package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/connector/hubspot"
	"github.com/backflow-dev/backflow/project"
)

func newCmdAuth(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Authorize backflow with an API that uses OAuth",
	}
	cmd.AddCommand(newCmdAuthHubSpot(g, stdio, lookupEnv))
	return cmd
}

type authHubSpotOptions struct {
	project   string
	noBrowser bool
	timeout   time.Duration
}

func newCmdAuthHubSpot(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &authHubSpotOptions{}
	cmd := &cobra.Command{
		Use:   "hubspot",
		Short: "Run HubSpot's OAuth flow in a browser and store the refresh token",
		Long: `hubspot authorizes the project's HubSpot public app (hubspot.oauth in
backflow.yml) through HubSpot's consent page: it listens on the app's
loopback redirect URL, opens the consent URL, checks the state parameter of
the redirect, exchanges the code (with PKCE) and stores the refresh token in
hubspot.oauth.token_file with mode 0600. Later runs refresh access tokens
from it. Run it again when HubSpot refuses the refresh token.`,
		Example: `  HUBSPOT_CLIENT_SECRET=... backflow auth hubspot --project .`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(opts.project)
			if err != nil {
				return err
			}
			p, err := g.loadProject(dir)
			if err != nil {
				return err
			}
			hs, _ := p.Connector("hubspot").(*hubspot.Config)
			if hs == nil || hs.OAuth == nil {
				return &usageError{fmt.Errorf("%s: hubspot.oauth is not configured; add client_id (and client_secret_env) under hubspot.oauth", project.ConfigFile)}
			}
			secrets, err := p.Secrets(lookupEnv)
			if err != nil && secrets[hs.OAuth.ClientSecretEnv] == "" {
				return &usageError{err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			path, err := hs.Authorize(ctx, secrets[hs.OAuth.ClientSecretEnv], dir, func(url string) error {
				fmt.Fprintf(stdio.ErrOut, "Open this URL to authorize backflow with HubSpot:\n\n  %s\n\n", url)
				if !opts.noBrowser {
					openBrowser(url)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "authorized; refresh token stored in %s (mode 0600)\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().BoolVar(&opts.noBrowser, "no-browser", false, "print the URL without opening a browser")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 5*time.Minute, "how long to wait for the browser")
	return cmd
}

// openBrowser tries the desktop's URL opener; the URL is printed anyway.
func openBrowser(url string) {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	if path, err := exec.LookPath(name); err == nil {
		exec.Command(path, url).Start()
	}
}
