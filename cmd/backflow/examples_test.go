package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestExampleCommandLines checks that every backflow command line in
// examples/ (cron, systemd, Airflow) names a real command and flags that
// parse, so the examples cannot drift from the CLI.
func TestExampleCommandLines(t *testing.T) {
	var files []string
	for _, dir := range []string{"airflow", "cron", "systemd"} {
		fs, _ := filepath.Glob(filepath.Join("../../examples", dir, "*"))
		files = append(files, fs...)
	}
	line := regexp.MustCompile(`backflow ((?:run|extract|sync|plan|models|test|report|status|runs|query|init)\b[^"'>&|;\n)]*)`)
	vars := regexp.MustCompile(`"?\$\{?\w+\}?"?|\{\w+\}`)
	found := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range line.FindAllStringSubmatch(vars.ReplaceAllString(string(raw), "x"), -1) {
			args := strings.Fields(m[1])
			if len(args) == 0 {
				continue
			}
			found++
			var out bytes.Buffer
			root := newRoot(&globals{}, IO{Out: &out, ErrOut: &out}, func(string) (string, bool) { return "", false })
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == root {
				t.Errorf("%s: backflow %s: no such command: %v", f, m[1], err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: backflow %s: %v", f, m[1], err)
			}
		}
	}
	if found < 4 {
		t.Fatalf("found %d command lines in examples/, want the cron, systemd and Airflow ones", found)
	}
}

// TestAirflowDAGCompiles byte-compiles the example DAG (Airflow itself is
// not installable here: no PyPI).
func TestAirflowDAGCompiles(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	out, err := exec.Command(py, "-c", `import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])`, "../../examples/airflow/backflow_dag.py").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestHelpHasExamples: every command a user runs shows examples in --help.
func TestHelpHasExamples(t *testing.T) {
	root := newRoot(&globals{}, IO{}, func(string) (string, bool) { return "", false })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" || strings.HasPrefix(sub.CommandPath(), "backflow completion") {
				continue
			}
			if sub.Runnable() && strings.TrimSpace(sub.Example) == "" {
				t.Errorf("%s has no examples in --help", sub.CommandPath())
			}
			walk(sub)
		}
	}
	walk(root)
}
