// Package warehousetest holds a DuckDB file open from another process, as
// an analyst's session or a second run would, for tests of the file lock.
package warehousetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/warehouse"
)

const holdEnv = "BACKFLOW_HOLD_DUCKDB"

// MaybeHold must be called first in the TestMain of a package that uses
// Hold: in the holder process it opens the file, says so, keeps it until
// its stdin closes, and exits; elsewhere it returns at once.
func MaybeHold() {
	path := os.Getenv(holdEnv)
	if path == "" {
		return
	}
	w, err := warehouse.Open(context.Background(), path, warehouse.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	w.Close()
	os.Exit(0)
}

// Hold opens path for writing in another process (the test binary run
// again) and returns its PID and a function that lets go; the test's
// cleanup lets go too.
func Hold(t *testing.T, path string) (pid int, release func()) {
	t.Helper()
	pid, release, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return pid, release
}

// Start is Hold for callers without a *testing.T (testscript commands):
// the caller must call release.
func Start(path string) (pid int, release func(), err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "held" {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, nil, fmt.Errorf("the holder did not open %s: %q", path, line)
	}
	released := false
	release = func() {
		if !released {
			released = true
			stdin.Close()
			cmd.Wait()
		}
	}
	return cmd.Process.Pid, release, nil
}
