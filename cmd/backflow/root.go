package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// IO is where commands read and write; tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Exit codes, documented in docs/operating.md.
const (
	exitOK         = 0
	exitFailed     = 1 // the run failed
	exitRowsFailed = 2 // the run finished, but some rows failed or were rejected
	exitConfig     = 3 // the project or the command line is wrong
	exitLocked     = 4 // another process held the DuckDB file past --lock-timeout
	exitStopped    = 5 // a signal stopped the run after the batch in flight
)

// errRowsFailed marks a run that completed with failed rows.
var errRowsFailed = errors.New("some rows failed")

// globals are flags every command shares.
type globals struct {
	logLevel    string
	logFormat   string
	lockTimeout time.Duration
	// reachTimeout bounds preflight's first call to each API.
	reachTimeout time.Duration
	// disp shows progress and carries log lines (see setup).
	disp *display
	// hard is canceled only by a second signal; work that must finish
	// once started (a batch at the API and its recording) runs on it.
	// stop closes on the first signal. Commands get a context canceled
	// by the first signal.
	hard context.Context
	stop <-chan struct{}

	// now is --now as given; clockFn is built from it once, and start is
	// the instant it starts at.
	now     string
	clockFn func() time.Time
	start   time.Time

	// timeout is --timeout; expired closes when it is reached, and
	// timedOut says it was.
	timeout  time.Duration
	expired  chan struct{}
	timedOut atomic.Bool

	// scrub redacts every text the CLI prints or logs: credential-shaped
	// strings always, the project's secrets once setup has read them.
	scrub atomic.Pointer[redact.Redactor]

	// connectors is the table projects are read with; nil is the
	// shipped one (tests add theirs).
	connectors []connector.Connector
}

// table is the connectors projects are read with.
func (g *globals) table() []connector.Connector {
	if g.connectors != nil {
		return g.connectors
	}
	return builtin.Connectors()
}

// loadProject reads the project in the folder abs.
func (g *globals) loadProject(abs string) (*project.Project, error) {
	return project.Load(os.DirFS(abs), abs, g.table())
}

// addTimeout gives a command that sends or reads data a --timeout.
func addTimeout(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "timeout", 12*time.Hour, "stop after this long as a signal would (the batch in flight is finished and recorded), and exit 1; 0 for no limit")
}

// limit starts the command's --timeout.
func (g *globals) limit(d time.Duration) error {
	if d < 0 {
		return &usageError{fmt.Errorf("--timeout must not be negative")}
	}
	g.timeout = d
	if d > 0 && g.expired != nil {
		time.AfterFunc(d, func() {
			g.timedOut.Store(true)
			close(g.expired)
		})
	}
	return nil
}

// redactor is the current redaction.
func (g *globals) redactor() *redact.Redactor {
	if r := g.scrub.Load(); r != nil {
		return r
	}
	return redact.New()
}

// clock is the present the command works in: the system clock, or --now
// and on from there.
func (g *globals) clock() (func() time.Time, error) {
	if g.clockFn != nil {
		return g.clockFn, nil
	}
	if g.now == "" {
		g.clockFn, g.start = clock.System, time.Now()
		return g.clockFn, nil
	}
	t, err := clock.Parse(g.now)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--now: %w", err)}
	}
	g.clockFn, g.start = clock.From(t), t
	return g.clockFn, nil
}

func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, &usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(redact.Handler(slog.NewTextHandler(w, opts), g.redactor)), nil
	case "json":
		return slog.New(redact.Handler(slog.NewJSONHandler(w, opts), g.redactor)), nil
	}
	return nil, &usageError{fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)}
}

type usageError struct{ error }

func (e *usageError) Unwrap() error { return e.error }

// Main runs the CLI and returns the exit code.
func Main(args []string, stdio IO, lookupEnv func(string) (string, bool)) int {
	hard, abort := context.WithCancel(context.Background())
	defer abort()
	soft, stopAll := context.WithCancel(hard)
	defer stopAll()
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	g := &globals{hard: hard, stop: stop, expired: make(chan struct{})}
	go func() {
		select {
		case sig := <-sigs:
			// Stopped first, then said: once the line is out, no batch
			// starts (the signal tests wait for it).
			close(stop)
			stopAll()
			fmt.Fprintf(stdio.ErrOut, "backflow: %v: stopping; a batch already at the API is finished and recorded first (signal again to abort now)\n", sig)
		case <-g.expired:
			close(stop)
			stopAll()
			fmt.Fprintf(stdio.ErrOut, "backflow: --timeout %s reached: stopping; a batch already at the API is finished and recorded first\n", g.timeout)
		case <-hard.Done():
			return
		}
		select {
		case sig := <-sigs:
			fmt.Fprintf(stdio.ErrOut, "backflow: %v: aborting\n", sig)
			abort()
		case <-hard.Done():
		}
	}()
	privateFiles()
	root := newRoot(g, stdio, lookupEnv)
	root.SetArgs(args)
	err := root.ExecuteContext(soft)
	if g.timedOut.Load() && errors.Is(err, load.ErrStopped) {
		// A run that hit its time limit failed; it was not stopped on
		// purpose (exit 5 means a signal).
		err = fmt.Errorf("%w: %w", errTimedOut, err)
	}
	return exitCode(g.redactor().Wrap(err), stdio.ErrOut)
}

// errTimedOut marks a command stopped by --timeout.
var errTimedOut = errors.New("the command ran past --timeout")

// newRoot builds the command tree.
func newRoot(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	root := &cobra.Command{
		Use:           "backflow",
		Short:         "Reverse ETL between HubSpot and Pendo through a DuckDB file you own",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bad --now is a usage error before anything runs.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			_, err := g.clock()
			return err
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")
	root.PersistentFlags().StringVar(&g.now, "now", "", "treat this RFC 3339 time as the present, moving on from it (for runs against a sandbox started with --now); default the system clock")
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.ErrOut)
	root.AddCommand(
		newCmdInit(stdio),
		newCmdCheck(g, stdio, lookupEnv),
		newCmdRun(g, stdio, lookupEnv),
		newCmdServe(g, stdio, lookupEnv),
		newCmdExtract(g, stdio, lookupEnv),
		newCmdModels(g, stdio),
		newCmdPlan(g, stdio, lookupEnv),
		newCmdSync(g, stdio, lookupEnv),
		newCmdTest(g, stdio),
		newCmdQuery(g, stdio),
		newCmdRuns(g, stdio),
		newCmdDrift(g, stdio),
		newCmdLineage(g, stdio, lookupEnv),
		&cobra.Command{
			Use:     "version",
			Short:   "Print backflow's version",
			Example: "  backflow version",
			Args:    cobra.NoArgs,
			Run: func(*cobra.Command, []string) {
				fmt.Fprintf(stdio.Out, "backflow %s (staging through DuckDB's %s)\n", version, warehouse.ArrowIngest)
			},
		},
		newCmdStatus(g, stdio),
		newCmdReport(g, stdio),
		newCmdDemo(g, stdio),
		newCmdSandbox(g, stdio),
		newCmdAuth(g, stdio, lookupEnv),
	)
	root.Long = root.Short + ".\n\nEvery command's help lists the exit codes it uses:\n" + exitHelp(exitOK, exitFailed, exitRowsFailed, exitConfig, exitLocked, exitStopped)
	for _, c := range root.Commands() {
		addExitHelp(c)
	}
	// Flags only the commands that use them show.
	for _, c := range root.Commands() {
		switch c.Name() {
		case "check", "run", "serve", "extract", "models", "plan", "sync", "test", "query", "runs", "status", "report", "lineage":
			c.PersistentFlags().DurationVar(&g.lockTimeout, "lock-timeout", time.Minute, "how long to wait while another process holds the DuckDB file")
		}
		switch c.Name() {
		case "check", "run", "serve", "extract", "plan", "sync", "lineage":
			c.Flags().DurationVar(&g.reachTimeout, "reach-timeout", 20*time.Second, "how long preflight waits for each API's first answer before calling it unreachable")
		}
	}
	return root
}

// exitCodes are the codes a command can exit with besides 0 and 1.
func exitCodes(command string) []int {
	switch command {
	case "run", "sync":
		return []int{exitRowsFailed, exitConfig, exitLocked, exitStopped}
	case "extract", "plan":
		return []int{exitConfig, exitLocked, exitStopped}
	case "serve":
		return []int{exitConfig, exitLocked}
	case "check", "models", "test", "query", "runs", "status", "report", "lineage":
		return []int{exitConfig, exitLocked}
	case "init", "auth", "demo", "sandbox":
		return []int{exitConfig}
	}
	return nil
}

// exitHelp describes exit codes, one per line.
func exitHelp(codes ...int) string {
	what := map[int]string{
		exitOK:         "done",
		exitFailed:     "failed: an API, the network or the file; a rerun may succeed (nothing recorded is lost)",
		exitRowsFailed: "done, but some rows failed or were rejected: see backflow status",
		exitConfig:     "the project, its credentials or the command line must be fixed; nothing was sent",
		exitLocked:     "another process held the DuckDB file past --lock-timeout",
		exitStopped:    "stopped by a signal after the batch in flight was recorded",
	}
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "  %d  %s\n", c, what[c])
	}
	return strings.TrimRight(b.String(), "\n")
}

// addExitHelp appends a command's exit codes to its help (and to its
// subcommands').
func addExitHelp(c *cobra.Command) {
	codes := append([]int{exitOK, exitFailed}, exitCodes(c.Name())...)
	var add func(*cobra.Command)
	add = func(c *cobra.Command) {
		long := c.Long
		if long == "" {
			long = c.Short + "."
		}
		c.Long = long + "\n\nExit codes:\n" + exitHelp(codes...)
		for _, sub := range c.Commands() {
			add(sub)
		}
	}
	add(c)
}

// exitCode maps errors to exit codes in one place, and says the error.
func exitCode(err error, errOut io.Writer) int {
	code := codeOf(err)
	if code == exitOK || code == exitRowsFailed {
		return code
	}
	fmt.Fprintln(errOut, "Error:", err)
	var ke *load.KeyError
	if errors.As(err, &ke) {
		fmt.Fprintln(errOut, "Try: fix the model so the key is unique and not null; `backflow query` shows the duplicates.")
	}
	return code
}

// codeOf is the exit code of a command's error.
func codeOf(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errRowsFailed) {
		return exitRowsFailed
	}
	if errors.Is(err, errTimedOut) {
		return exitFailed
	}
	if errors.Is(err, load.ErrStopped) {
		return exitStopped
	}
	var pe *project.Error
	var me *models.FileError
	var ue *usageError
	var ce *pipeline.CheckError
	switch {
	case errors.As(err, &pe), errors.As(err, &me), errors.As(err, &ue), errors.As(err, &ce), errors.Is(err, project.ErrNoProject):
		return exitConfig
	case errors.Is(err, warehouse.ErrLocked):
		return exitLocked
	}
	if isFlagError(err) {
		return exitConfig
	}
	return exitFailed
}

// statusOf names an exit code in --json output.
func statusOf(code int) string {
	switch code {
	case exitOK:
		return "ok"
	case exitRowsFailed:
		return "rows_failed"
	case exitConfig:
		return "project_error"
	case exitLocked:
		return "locked"
	case exitStopped:
		return "stopped"
	}
	return "failed"
}

// printOutcome prints a command's --json object: fields (a struct or map
// of the command's own keys), with status, exit_code and, on failure,
// error, for every outcome. err is returned as it was, for Main to exit
// with.
func printOutcome(stdio IO, g *globals, fields any, err error) error {
	out := map[string]any{}
	if fields != nil {
		b, jerr := json.Marshal(fields)
		if jerr == nil {
			jerr = json.Unmarshal(b, &out)
		}
		if jerr != nil && err == nil {
			err = jerr
		}
	}
	code := codeOf(err)
	out["status"], out["exit_code"] = statusOf(code), code
	if err != nil && code != exitRowsFailed {
		out["error"] = g.redactor().Wrap(err).Error()
	}
	if perr := printJSON(stdio.Out, out); perr != nil && err == nil {
		return perr
	}
	return err
}

func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "unknown shorthand", "invalid argument", "accepts "} {
		if len(msg) >= len(p) && contains(msg, p) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
