package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

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
//	sandbox                start the emulators; sets HUBSPOT_URL, PENDO_URL
//	hold FILE              hold a DuckDB file open from another process;
//	                       sets HOLDER_PID
//	exitcode N ARGS...     run backflow ARGS and require exit code N
//	stopmidbatch SIG ARGS... run backflow ARGS (a sync) while Pendo holds
//	                       its metadata writes; once the first batch is
//	                       at Pendo, send SIG (TERM, as Airflow, systemd
//	                       and Kubernetes stop a task, or INT, Ctrl-C); when
//	                       the process says it is stopping, let Pendo
//	                       answer. Requires exit code 5; the output goes to
//	                       stop.stdout and stop.stderr. No timing decides
//	                       the outcome: the batch waits for the signal.
//	servebg ARGS...        start backflow serve ARGS on a free port, wait
//	                       until /readyz answers 200; sets SERVE_URL
//	stopserve              send SIGTERM to it, require exit 0; its output
//	                       goes to serve.stdout and serve.stderr
//	killmidcycle ARGS...   start backflow serve ARGS while Pendo holds its
//	                       metadata writes; once the first batch is at
//	                       Pendo, SIGKILL it, then let Pendo answer
//	tracked N              Pendo's data host has received exactly N track
//	                       events (one request each: a resent one counts)
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Values[sandboxKey{}] = &scriptSandbox{}
			env.Values[serveKey{}] = &serveSlot{}
			env.Setenv(testNowEnv, testNow.Format(time.RFC3339))
			env.Setenv("HUBSPOT_TOKEN", sandbox.HubSpotToken)
			env.Setenv("PENDO_INTEGRATION_KEY", sandbox.PendoIntegrationKey)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sandbox":      cmdSandbox,
			"hold":         cmdHold,
			"exitcode":     cmdExitCode,
			"stopmidbatch": cmdStopMidBatch,
			"writes":       cmdWrites,
			"servebg":      cmdServeBG,
			"stopserve":    cmdStopServe,
			"killmidcycle": cmdKillMidCycle,
			"tracked":      cmdTracked,
		},
	})
}

type sandboxKey struct{}

type scriptSandbox struct {
	sb *sandbox.Sandbox
}

// pendoWrites counts the metadata bulk writes Pendo has admitted.
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

// writes counts the requests that change something at either emulator:
// HubSpot calls other than reads and searches, Pendo metadata writes,
// field creations and track events.
func (s *scriptSandbox) writes() int {
	n := 0
	hs, _ := s.sb.HubSpot.Requests()
	for pattern, c := range hs {
		method, path, _ := strings.Cut(pattern, " ")
		if method != "GET" && !strings.HasSuffix(path, "/search") && !strings.HasSuffix(path, "/batch/read") && !strings.HasPrefix(path, "/oauth") {
			n += c
		}
	}
	pd, _ := s.sb.Pendo.Requests()
	for route, c := range pd {
		if route == "track" || (strings.HasPrefix(route, "metadata/") && (strings.HasSuffix(route, "/value") || strings.HasSuffix(route, "/field"))) {
			n += c
		}
	}
	return n
}

// cmdWrites asserts how many writes the emulators have served: writes 0
// after commands that must send nothing.
func cmdWrites(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: writes N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got := ts.Value(sandboxKey{}).(*scriptSandbox).writes(); (got == want) == neg {
		ts.Fatalf("the emulators served %d writes, want %d", got, want)
	}
}

func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) > 0 {
		ts.Fatalf("usage: sandbox")
	}
	sb, err := testSandbox(sandbox.Options{Contacts: 300})
	ts.Check(err)
	ts.Defer(sb.Close)
	ts.Value(sandboxKey{}).(*scriptSandbox).sb = sb
	ts.Setenv("HUBSPOT_URL", sb.HubSpotURL)
	ts.Setenv("PENDO_URL", sb.PendoURL)
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

func cmdStopMidBatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || (args[0] != "TERM" && args[0] != "INT") {
		ts.Fatalf("usage: stopmidbatch TERM|INT ARGS...")
	}
	s := ts.Value(sandboxKey{}).(*scriptSandbox)
	if s.sb == nil {
		ts.Fatalf("stopmidbatch: no sandbox started")
	}
	sig := os.Signal(syscall.SIGTERM)
	if args[0] == "INT" {
		sig = os.Interrupt
	}
	before := s.pendoWrites()
	release := s.sb.Pendo.HoldWrites()
	defer release()

	cmd := exec.Command(os.Args[0], args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "BACKFLOW_AS_CLI=1")
	for _, k := range []string{"HUBSPOT_TOKEN", "PENDO_INTEGRATION_KEY", "PENDO_TRACK_SECRET", testNowEnv} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	// The first batch reaches Pendo and waits there: from then on nothing
	// moves until the signal is handled.
	deadline := time.Now().Add(time.Minute)
	for s.pendoWrites() == before {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			ts.Fatalf("stopmidbatch: no batch reached Pendo in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.Check(cmd.Process.Signal(sig))
	lines := bufio.NewScanner(pipe)
	for lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "stopping;") {
			break
		}
	}
	release()
	io.Copy(&stderr, pipe)
	err = cmd.Wait()
	ts.Check(os.WriteFile(ts.MkAbs("stop.stdout"), stdout.Bytes(), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs("stop.stderr"), stderr.Bytes(), 0o644))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitStopped {
		ts.Fatalf("stopmidbatch: %v, want exit %d\nstdout:\n%s\nstderr:\n%s", err, exitStopped, &stdout, &stderr)
	}
	if n := s.pendoWrites() - before; n != 1 {
		ts.Fatalf("stopmidbatch: %d batches reached Pendo, want 1", n)
	}
}

type serveKey struct{}

// serveSlot holds the script's serve process.
type serveSlot struct{ s *scriptServe }

type scriptServe struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan error // receives Wait's error once
	err            error
}

func cmdServeBG(ts *testscript.TestScript, neg bool, args []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ln.Close()
	s := &scriptServe{cmd: exec.Command(os.Args[0], append([]string{"serve", "--addr", addr}, args...)...)}
	s.cmd.Dir = ts.MkAbs(".")
	s.cmd.Env = append(os.Environ(), "BACKFLOW_AS_CLI=1")
	for _, k := range []string{"HUBSPOT_TOKEN", "PENDO_INTEGRATION_KEY", "PENDO_TRACK_SECRET", "HUBSPOT_CLIENT_SECRET", testNowEnv} {
		s.cmd.Env = append(s.cmd.Env, k+"="+ts.Getenv(k))
	}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	ts.Check(s.cmd.Start())
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	ts.Defer(func() {
		if s.exited != nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-s.exited:
			s.exited = nil
			ts.Fatalf("servebg: serve exited (%v) before it was ready\nstderr:\n%s", err, &s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("servebg: not ready within 2 minutes\nstderr:\n%s", &s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Value(serveKey{}).(*serveSlot).s = s
	ts.Setenv("SERVE_URL", url)
}

func cmdStopServe(ts *testscript.TestScript, neg bool, args []string) {
	s := ts.Value(serveKey{}).(*serveSlot).s
	if s == nil {
		ts.Fatalf("stopserve: no serve started")
	}
	ts.Check(s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case s.err = <-s.exited:
		s.exited = nil
	case <-time.After(time.Minute):
		ts.Fatalf("stopserve: serve did not exit within a minute of SIGTERM")
	}
	ts.Check(os.WriteFile(ts.MkAbs("serve.stdout"), s.stdout.Bytes(), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs("serve.stderr"), s.stderr.Bytes(), 0o644))
	if s.err != nil {
		ts.Fatalf("stopserve: serve exited with %v after SIGTERM, want 0\nstderr:\n%s", s.err, &s.stderr)
	}
}

func cmdKillMidCycle(ts *testscript.TestScript, neg bool, args []string) {
	sb := ts.Value(sandboxKey{}).(*scriptSandbox)
	if sb.sb == nil {
		ts.Fatalf("killmidcycle: no sandbox started")
	}
	before := sb.pendoWrites()
	release := sb.sb.Pendo.HoldWrites()
	defer release()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "BACKFLOW_AS_CLI=1")
	for _, k := range []string{"HUBSPOT_TOKEN", "PENDO_INTEGRATION_KEY", "PENDO_TRACK_SECRET", testNowEnv} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ts.Check(cmd.Start())
	// The first cycle's batch reaches Pendo and waits there: the process
	// is killed in the middle of a cycle, not between two.
	for deadline := time.Now().Add(2 * time.Minute); sb.pendoWrites() == before; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			ts.Fatalf("killmidcycle: no batch reached Pendo in 2 minutes\n%s", &stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.Check(cmd.Process.Kill())
	cmd.Wait()
	release()
	ts.Check(os.WriteFile(ts.MkAbs("killed.stderr"), stderr.Bytes(), 0o644))
}

func cmdTracked(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: tracked N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	// One request per event: a resent one is counted again.
	if got := ts.Value(sandboxKey{}).(*scriptSandbox).sb.Pendo.TrackReceived(); got != want {
		ts.Fatalf("Pendo received %d track events, want %d", got, want)
	}
}
