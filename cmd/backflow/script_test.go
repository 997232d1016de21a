package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/warehouse/warehousetest"
)

// TestMain lets the test binary stand in for the backflow command: as
// "backflow" on testscript's PATH, or with BACKFLOW_AS_CLI=1 (the crash
// test), it runs Main on its arguments; with warehousetest's variable it
// holds a DuckDB file open.
func TestMain(m *testing.M) {
	if os.Getenv("BACKFLOW_AS_CLI") == "1" {
		os.Exit(Main(os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.LookupEnv))
	}
	warehousetest.MaybeHold()
	testscript.Main(m, map[string]func(){
		"backflow": func() { os.Exit(Main(os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.LookupEnv)) },
	})
}

// TestScripts runs testdata/script/*.txtar: each command's happy path and
// its errors, as a user types them.
//
// Commands beyond testscript's own:
//
//	sandbox [-slow]        start the emulators; sets HUBSPOT_URL, PENDO_URL
//	                       (-slow: Pendo processes 100 metadata rows/s)
//	waitfor pendo-writes N wait until Pendo got N metadata bulk writes
//	hold FILE              hold a DuckDB file open from another process;
//	                       sets HOLDER_PID
//	exitcode N ARGS...     run backflow ARGS and require exit code N
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Values[sandboxKey{}] = &scriptSandbox{}
			env.Setenv("HUBSPOT_TOKEN", sandbox.HubSpotToken)
			env.Setenv("PENDO_INTEGRATION_KEY", sandbox.PendoIntegrationKey)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sandbox":  cmdSandbox,
			"waitfor":  cmdWaitFor,
			"hold":     cmdHold,
			"exitcode": cmdExitCode,
		},
	})
}

type sandboxKey struct{}

type scriptSandbox struct{ sb *sandbox.Sandbox }

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
	sb, err := sandbox.Start(opts)
	ts.Check(err)
	ts.Defer(sb.Close)
	ts.Value(sandboxKey{}).(*scriptSandbox).sb = sb
	ts.Setenv("HUBSPOT_URL", sb.HubSpotURL)
	ts.Setenv("PENDO_URL", sb.PendoURL)
}

func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || args[0] != "pendo-writes" {
		ts.Fatalf("usage: waitfor pendo-writes N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	sb := ts.Value(sandboxKey{}).(*scriptSandbox).sb
	if sb == nil {
		ts.Fatalf("waitfor: no sandbox started")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := 0
		byRoute, _ := sb.Pendo.Requests()
		for route, c := range byRoute {
			if strings.HasPrefix(route, "metadata/") && strings.HasSuffix(route, "/value") {
				got += c
			}
		}
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
