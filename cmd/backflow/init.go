package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/examples"
)

// The addresses `backflow sandbox` listens on by default, which
// `backflow init --sandbox` writes into backflow.yml.
const (
	sandboxHubSpotAddr = "127.0.0.1:8081"
	sandboxPendoAddr   = "127.0.0.1:8082"
)

func newCmdInit(stdio IO) *cobra.Command {
	var opts examples.InitOptions
	var toSandbox bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a new project: backflow.yml, example models, tests and syncs",
		Long: `init writes a working project into DIR (default: the current folder):
backflow.yml, models that match HubSpot contacts and companies to Pendo
visitors and accounts, their data tests, two syncs onto Pendo metadata, a
.gitignore that keeps the DuckDB file and tokens out of git, and a README.
It overwrites nothing: if a file it would write exists, it writes none.`,
		Example: `  backflow init acme-sync
  # a project that talks to the emulators; then run backflow sandbox
  backflow init acme-sync --sandbox`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if opts.Name == "" {
				opts.Name = projectName(filepath.Base(abs))
			}
			if toSandbox {
				opts.HubSpotURL, opts.PendoURL = "http://"+sandboxHubSpotAddr, "http://"+sandboxPendoAddr
			}
			files, err := examples.Init(dir, opts)
			if err != nil {
				return &usageError{err}
			}
			for _, f := range files {
				fmt.Fprintln(stdio.Out, "wrote", filepath.Join(dir, f))
			}
			fmt.Fprintf(stdio.Out, "\nNext: cd %s, export HUBSPOT_TOKEN and PENDO_INTEGRATION_KEY, then backflow check (it finds every mistake before data moves) and backflow run (README.md has the rest).\n", dir)
			if opts.HubSpotURL != "" {
				fmt.Fprintln(stdio.Out, "The project points at emulators: run backflow sandbox in another terminal first.")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "project name (default: the folder's name)")
	cmd.Flags().BoolVar(&toSandbox, "sandbox", false, "point the project at backflow sandbox's default addresses ("+sandboxHubSpotAddr+", "+sandboxPendoAddr+")")
	cmd.Flags().StringVar(&opts.HubSpotURL, "hubspot-url", "", "HubSpot API base URL to write (an emulator); default: the real API")
	cmd.Flags().StringVar(&opts.PendoURL, "pendo-url", "", "Pendo API base URL to write (an emulator); default: the region's real host")
	return cmd
}

var notName = regexp.MustCompile(`[^a-z0-9_]+`)

// projectName makes a folder name a project name: lower case, with
// underscores for anything else.
func projectName(folder string) string {
	n := strings.Trim(notName.ReplaceAllString(strings.ToLower(folder), "_"), "_")
	if n == "" {
		return "backflow"
	}
	return n
}
