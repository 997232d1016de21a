package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse/warehousetest"
)

// TestMain lets the test binary stand in for the backflow command: as
// "backflow" on testscript's PATH, or with BACKFLOW_AS_CLI=1 (the crash
// test), it runs Main on its arguments; with warehousetest's variable it
// holds a DuckDB file open.
func TestMain(m *testing.M) {
	if os.Getenv("BACKFLOW_AS_CLI") == "1" {
		os.Exit(Main(cliArgs(os.Args[1:]), IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.LookupEnv))
	}
	warehousetest.MaybeHold()
	// Subprocesses (the crash and signal tests) inherit the pinned present.
	os.Setenv(testNowEnv, testNow.Format(time.RFC3339))
	testscript.Main(m, map[string]func(){
		"backflow": func() {
			os.Exit(Main(cliArgs(os.Args[1:]), IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.LookupEnv))
		},
	})
}

// testNow is the present every command of these tests runs in, and the
// sandboxes they start: nothing they check depends on the hour they run.
var testNow = clocktest.Named("afternoon")

// testNowEnv carries testNow to the test binary when it stands in for the
// backflow command; only the tests set it.
const testNowEnv = "BACKFLOW_TEST_NOW"

// cliArgs gives a command line run by the tests the pinned present.
func cliArgs(args []string) []string {
	if now := os.Getenv(testNowEnv); now != "" {
		return append([]string{"--now", now}, args...)
	}
	return args
}

// testSandbox starts a sandbox whose clock stands at testNow.
func testSandbox(opts sandbox.Options) (*sandbox.Sandbox, error) {
	opts.Now = clock.NewManual(testNow).Now
	return sandbox.Start(opts)
}

// TestScripts runs testdata/script/*.txtar: each command's happy path and
// its errors, as a user types them.
//
// Commands beyond testscript's own:
//
//	sandbox [-slow]        start the emulators; sets HUBSPOT_URL, PENDO_URL
//	                       (-slow: Pendo processes 100 metadata rows/s)
//	waitfor pendo-writes N wait until Pendo got N metadata bulk writes
//	                       (+N: N more than at the last mark)
//	mark pendo-writes      remember how many Pendo has got
//	hold FILE              hold a DuckDB file open from another process;
//	                       sets HOLDER_PID
//	exitcode N ARGS...     run backflow ARGS and require exit code N
//	sigterm                send SIGTERM to the background commands, as
//	                       Airflow, systemd and Kubernetes stop a task
//	                       (testscript's kill sends only INT and KILL)
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Values[sandboxKey{}] = &scriptSandbox{}
			env.Setenv(testNowEnv, testNow.Format(time.RFC3339))
			env.Setenv("HUBSPOT_TOKEN", sandbox.HubSpotToken)
			env.Setenv("PENDO_INTEGRATION_KEY", sandbox.PendoIntegrationKey)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sandbox":  cmdSandbox,
			"waitfor":  cmdWaitFor,
			"hold":     cmdHold,
			"exitcode": cmdExitCode,
			"sigterm":  cmdSigterm,
			"mark":     cmdMark,
		},
	})
}

type sandboxKey struct{}

type scriptSandbox struct {
	sb   *sandbox.Sandbox
	mark int
}

// pendoWrites counts the metadata bulk writes Pendo has answered.
func (s *scriptSandbox) pendoWrites() int {
	got := 0
	byRoute, _ := s.sb.Pendo.Requests()
	for route, c := range byRoute {
		if strings.HasPrefix(route, "metadata/") && strings.HasSuffix(route, "/value") {
			got += c
		}
	}
	return got
}

func cmdMark(ts *testscript.TestScript, neg bool, args []string) {
	s := ts.Value(sandboxKey{}).(*scriptSandbox)
	if len(args) != 1 || args[0] != "pendo-writes" || s.sb == nil {
		ts.Fatalf("usage: mark pendo-writes (after sandbox)")
	}
	s.mark = s.pendoWrites()
}

func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	opts := sandbox.Options{Contacts: 300}
	for _, a := range args {
		switch a {
		case "-slow":
			opts.Pendo = pendotest.Options{BulkRowsPerSecond: 100}
		default:
			ts.Fatalf("usage: sandbox [-slow]")
		}
	}
	sb, err := testSandbox(opts)
	ts.Check(err)
	ts.Defer(sb.Close)
	ts.Value(sandboxKey{}).(*scriptSandbox).sb = sb
	ts.Setenv("HUBSPOT_URL", sb.HubSpotURL)
	ts.Setenv("PENDO_URL", sb.PendoURL)
}

func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || args[0] != "pendo-writes" {
		ts.Fatalf("usage: waitfor pendo-writes [+]N")
	}
	s := ts.Value(sandboxKey{}).(*scriptSandbox)
	if s.sb == nil {
		ts.Fatalf("waitfor: no sandbox started")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(args[1], "+"))
	ts.Check(err)
	if strings.HasPrefix(args[1], "+") {
		n += s.mark
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := s.pendoWrites()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: %d Pendo metadata writes after 30s, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cmdHold(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: hold FILE")
	}
	pid, release, err := warehousetest.Start(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Defer(release)
	ts.Setenv("HOLDER_PID", strconv.Itoa(pid))
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: exitcode N [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec("backflow", args[1:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("backflow %s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

func cmdSigterm(ts *testscript.TestScript, neg bool, args []string) {
	cmds := ts.BackgroundCmds()
	if len(cmds) == 0 {
		ts.Fatalf("sigterm: no background command")
	}
	for _, c := range cmds {
		ts.Check(c.Process.Signal(syscall.SIGTERM))
	}
}
