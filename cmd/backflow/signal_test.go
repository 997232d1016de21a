package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/sandbox"
)

// TestSIGTERMFinishesTheBatch sends SIGTERM, as Airflow and systemd stop a
// task, to a real `backflow sync` process while Pendo holds its first
// batch: it must exit 5 after recording that batch, and send no other.
func TestSIGTERMFinishesTheBatch(t *testing.T) {
	sb, err := testSandbox(sandbox.Options{Contacts: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	if _, err := examples.Init(dir, examples.InitOptions{Name: "sig", HubSpotURL: sb.HubSpotURL, PendoURL: sb.PendoURL}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "syncs", "account_traits.yml"))
	os.WriteFile(filepath.Join(dir, "syncs", "visitor_traits.yml"), []byte(`model: visitor_traits
destination: pendo
object: visitors
key: visitor_id
group: custom
batch_size: 50
fields:
  lifecyclestage: lifecyclestage
`), 0o644)
	env := append(os.Environ(), "BACKFLOW_AS_CLI=1", "HUBSPOT_TOKEN="+sandbox.HubSpotToken, "PENDO_INTEGRATION_KEY="+sandbox.PendoIntegrationKey)
	prep := exec.Command(os.Args[0], "extract", "--project", dir)
	prep.Env = env
	if out, err := prep.CombinedOutput(); err != nil {
		t.Fatalf("extract: %v\n%s", err, out)
	}
	models := exec.Command(os.Args[0], "models", "run", "--project", dir)
	models.Env = env
	if out, err := models.CombinedOutput(); err != nil {
		t.Fatalf("models run: %v\n%s", err, out)
	}

	// Pendo holds the first batch until the process has taken the signal:
	// no timing decides what is sent.
	release := sb.Pendo.HoldWrites()
	defer release()
	cmd := exec.Command(os.Args[0], "sync", "--project", dir)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	writes := func() int {
		byRoute, _ := sb.Pendo.Requests()
		return byRoute["metadata/visitor/custom/value"]
	}
	deadline := time.Now().Add(time.Minute)
	for writes() == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no batch reached Pendo in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
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
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitStopped {
		t.Fatalf("exit: %v, want code %d\nstdout:\n%s\nstderr:\n%s", err, exitStopped, &stdout, &stderr)
	}
	if n := writes(); n != 1 {
		t.Errorf("%d batches reached Pendo, want 1", n)
	}
	if !strings.Contains(stdout.String(), "pushed 50,") || !strings.Contains(stderr.String(), "terminated: stopping; a batch already at the API is finished") {
		t.Errorf("output:\n%s\n%s", &stdout, &stderr)
	}
}
