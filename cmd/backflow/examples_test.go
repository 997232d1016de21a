package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
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
	line := regexp.MustCompile(`backflow ((?:run|serve|extract|sync|plan|models|test|report|status|runs|query|init)\b[^"'>&|;\n)]*)`)
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

// TestKubernetesManifest: the example Deployment's args are a backflow
// command whose flags parse, its probes are serve's endpoints, and it
// runs one replica.
func TestKubernetesManifest(t *testing.T) {
	raw, err := os.ReadFile("../../examples/kubernetes/backflow-serve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	checked := false
	for {
		var doc struct {
			Kind string
			Spec struct {
				Replicas int
				Template struct {
					Spec struct {
						Containers []struct{ Args []string }
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind != "Deployment" {
			continue
		}
		checked = true
		if doc.Spec.Replicas != 1 {
			t.Errorf("replicas %d, want 1: serve owns the file", doc.Spec.Replicas)
		}
		args := doc.Spec.Template.Spec.Containers[0].Args
		var out bytes.Buffer
		root := newRoot(&globals{}, IO{Out: &out, ErrOut: &out}, func(string) (string, bool) { return "", false })
		cmd, rest, err := root.Find(args)
		if err != nil || cmd.Name() != "serve" {
			t.Fatalf("args %v: not backflow serve: %v", args, err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("args %v: %v", args, err)
		}
	}
	if !checked {
		t.Fatal("no Deployment in the manifest")
	}
	for _, path := range []string{"path: /healthz", "path: /readyz", "path: /hooks/"} {
		if !bytes.Contains(raw, []byte(path)) {
			t.Errorf("the manifest has no %s", path)
		}
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

// TestAirflowDAG imports the example DAG under stand-ins for Airflow 3
// (BashOperator in the standard provider) and Airflow 2 (airflow.operators),
// which record the tasks (Airflow itself is not installable here: no
// PyPI), and checks what the DAG does with each exit code against the
// CLI's real codes.
func TestAirflowDAG(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	dag, _ := filepath.Abs("../../examples/airflow/backflow_dag.py")
	operator := `
import airflow
class BashOperator:
    def __init__(self, task_id, bash_command, **kw):
        self.kw = dict(kw, task_id=task_id, bash_command=bash_command)
        airflow.current.tasks.append(self)
    def __rshift__(self, other):
        self.kw.setdefault("downstream", []).append(other.kw["task_id"])
        return other
`
	for layout, opPath := range map[string]string{
		"airflow3": "airflow/providers/standard/operators/bash.py",
		"airflow2": "airflow/operators/bash.py",
	} {
		t.Run(layout, func(t *testing.T) {
			stubs := t.TempDir()
			write := func(rel, body string) {
				os.MkdirAll(filepath.Join(stubs, filepath.Dir(rel)), 0o755)
				if err := os.WriteFile(filepath.Join(stubs, rel), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("airflow/__init__.py", `
current = None
class DAG:
    def __init__(self, **kw):
        self.kw, self.tasks = kw, []
    def __enter__(self):
        global current
        current = self
        return self
    def __exit__(self, *a):
        return False
`)
			for dir := filepath.Dir(opPath); dir != "airflow"; dir = filepath.Dir(dir) {
				write(filepath.Join(dir, "__init__.py"), "")
			}
			write(opPath, operator)
			script := `import json, runpy, sys
sys.path.insert(0, sys.argv[1])
g = runpy.run_path(sys.argv[2])
import airflow
print(json.dumps({"tasks": [t.kw for t in airflow.current.tasks], "doc": g.get("__doc__") or ""}, default=str))`
			out, err := exec.Command(py, "-c", script, stubs, dag).CombinedOutput()
			if err != nil {
				t.Fatalf("the DAG does not import under %s: %v\n%s", layout, err, out)
			}
			var got struct {
				Tasks []map[string]any
				Doc   string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			syncs := 0
			for _, task := range got.Tasks {
				cmd, _ := task["bash_command"].(string)
				if strings.Contains(cmd, "--notify-webhook") || strings.Contains(cmd, "TOKEN") {
					t.Errorf("task %v passes a secret on the command line: %s", task["task_id"], cmd)
				}
				env, _ := task["env"].(map[string]any)
				if _, ok := env[webhookEnv]; !ok {
					t.Errorf("task %v: no %s in its environment", task["task_id"], webhookEnv)
				}
				if strings.HasPrefix(fmt.Sprint(task["task_id"]), "sync_") {
					syncs++
					if fmt.Sprint(task["skip_on_exit_code"]) != fmt.Sprint(exitRowsFailed) {
						t.Errorf("task %v skips on %v, want %d (rows failed)", task["task_id"], task["skip_on_exit_code"], exitRowsFailed)
					}
				}
			}
			if syncs == 0 {
				t.Fatalf("no sync tasks: %s", out)
			}
			// The docstring's table names each code as the CLI means it.
			for code, word := range map[int]string{exitOK: "success", exitFailed: "retried", exitRowsFailed: "rows failed",
				exitConfig: "credentials", exitLocked: "--lock-timeout", exitStopped: "signal"} {
				line := regexp.MustCompile(fmt.Sprintf(`(?m)^  %d  .*`, code)).FindString(got.Doc)
				if !strings.Contains(line, word) {
					t.Errorf("the DAG's docstring says of exit %d %q, want it to mention %q", code, line, word)
				}
			}
		})
	}
}
