package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
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
		RunE: func(cmd *cobra.Command, args []string) error {
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
			prog := newProgress(stdio, isTerminal(stdio.ErrOut), log.Info)
			defer prog.done()
			res, err := pipeline.Run(g.hard, pipeline.Options{Stop: g.stop,
				Project: p.Pipeline(), Secrets: secrets, WarehousePath: p.Path(p.Config.Warehouse), Logger: log, LockTimeout: g.lockTimeout,
				FullRefresh: opts.fullRefresh, Only: only, ExtractOnly: true, Progress: prog.update, Now: g.clockFn,
				AllowMassRemoval: opts.allowMass,
			})
			prog.done()
			if opts.json {
				if jerr := printJSON(stdio.Out, runSummary(res, g.redactor().Wrap(err))); jerr != nil && err == nil {
					err = jerr
				}
			} else if res != nil {
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

// progress shows rows per stream: a redrawn line on a terminal, a log
// line every few seconds otherwise.
type progress struct {
	mu       sync.Mutex
	stdio    IO
	terminal bool
	logf     func(msg string, args ...any)
	rows     map[string]int64
	last     time.Time
	drawn    bool
}

func newProgress(stdio IO, terminal bool, logf func(string, ...any)) *progress {
	return &progress{stdio: stdio, terminal: terminal, logf: logf, rows: map[string]int64{}}
}

func (p *progress) update(stream string, rows int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows[stream] = rows
	every := 5 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	names := make([]string, 0, len(p.rows))
	for n := range p.rows {
		names = append(names, n)
	}
	slices.Sort(names)
	if !p.terminal {
		for _, n := range names {
			p.logf("extracting", "stream", n, "rows", p.rows[n])
		}
		return
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, p.rows[n])
	}
	fmt.Fprintf(p.stdio.ErrOut, "\r\033[K%s", strings.Join(parts, "  "))
	p.drawn = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.stdio.ErrOut, "\r\033[K")
		p.drawn = false
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// orList is "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
