package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/sandbox"
)

// TestTerminal_ProgressNeverSharesALineWithLogs runs backflow run on a
// real pseudo-terminal (tmux) and reads the screen as it goes: progress
// bars are drawn, and no log line ever starts anywhere but at the start
// of a line (the old hand-drawn progress left "…contacts 27time=…").
func TestTerminal_ProgressNeverSharesALineWithLogs(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed; apt-get install tmux runs this test")
	}
	// Slow answers, so the bars are on screen long enough to be seen.
	sb, err := testSandbox(sandbox.Options{Contacts: 300, HubSpot: hubspottest.Options{Faults: hubspottest.Faults{Latency: 40 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := filepath.Join(t.TempDir(), "p")
	if code, _, stderr := run(t, nil, "init", dir, "--hubspot-url", sb.HubSpotURL, "--pendo-url", sb.PendoURL); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	socket := "backflow-tty-" + fmt.Sprint(os.Getpid())
	env := fmt.Sprintf("BACKFLOW_AS_CLI=1 %s=%s HUBSPOT_TOKEN=%s PENDO_INTEGRATION_KEY=%s", testNowEnv, testNow.Format(time.RFC3339), sb.HubSpotToken, sb.PendoKey)
	script := fmt.Sprintf("env %s %s run --project %s --log-level info; echo EXIT=$?; sleep 60", env, os.Args[0], dir)
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := tm("new-session", "-d", "-x", "150", "-y", "50", "-s", "bf", script); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	defer tm("kill-server")
	bar := regexp.MustCompile(`(?m)^(hubspot|pendo)/\w+ .*\d+ rows`)
	sawBar := false
	var screen string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		screen, err = tm("capture-pane", "-p", "-J", "-S", "-", "-t", "bf")
		if err != nil {
			t.Fatalf("capture-pane: %v: %s", err, screen)
		}
		sawBar = sawBar || bar.MatchString(screen)
		checkLines(t, screen)
		if strings.Contains(screen, "EXIT=") {
			break
		}
	}
	if !strings.Contains(screen, "EXIT=0") {
		t.Fatalf("the run did not finish cleanly:\n%s", screen)
	}
	if !sawBar {
		t.Errorf("no progress bar was ever on screen:\n%s", screen)
	}
	if !strings.Contains(screen, "level=INFO msg=extracted stream=hubspot/contacts") {
		t.Errorf("the log lines are missing:\n%s", screen)
	}
}

// checkLines fails on a line where a log line does not start the line.
func checkLines(t *testing.T, screen string) {
	t.Helper()
	for _, line := range strings.Split(screen, "\n") {
		if i := strings.Index(line, "time="); i > 0 || strings.Count(line, "time=") > 1 {
			t.Fatalf("a log line shares a line with something else: %q\n%s", line, screen)
		}
	}
}
