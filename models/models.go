// Package models runs a project's SQL models: it discovers models/*.sql,
// orders them by the models.* tables each one reads (found by DuckDB's own
// parser, not by pattern matching), and materializes each into the models
// schema as a view or a table.
//
// By concern: models.go (what a model is, and finding them), identity.go
// (the shipped identity models), yaml.go (models/<name>.yml: settings and
// column tests), resolve.go (dependencies through DuckDB's parser),
// build.go (materializing), tests.go (data tests and the syncs they
// hold), select.go (selectors and the graph), match.go (the identity
// match report), lineage.go (each column's sources, from the same parse)
// and trace.go (following columns through models, up and down).
package models

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Model is one models/*.sql file.
type Model struct {
	// Name is the file name without .sql; it materializes as models.<Name>.
	Name string
	// File is the path within the project, for messages.
	File string
	// SQL is the file's text: one SELECT (comments allowed).
	SQL string
	// Materialized is "view" (default), "table" or "incremental", from a
	// header comment `-- materialized: table` or the model's YAML.
	Materialized string
	// UniqueKey and Watermark, for an incremental model (YAML
	// unique_key, watermark): the column rows are merged on, and the
	// column whose greatest value in the table is incremental_since() on
	// the next build.
	UniqueKey, Watermark string
	// Depends lists the models this one reads, sorted.
	Depends []string
	// Shipped models come with backflow (identity matching); a project
	// model of the same name replaces one.
	Shipped bool
	// Tests are the data tests declared in the model's YAML.
	Tests []Test
}

// Result is what running one model did.
type Result struct {
	Model    string
	Rows     int64 // for tables; -1 for views
	Duration time.Duration
	// Materialized is how it was built: view, table, incremental (rows
	// merged), or table for an incremental model built whole.
	Materialized string
	// Merged is how many rows an incremental build recomputed, and
	// Recomputed a SQL predicate on the model's columns holding exactly
	// them ("" for any other build).
	Merged     int64
	Recomputed string
}

func (r Result) String() string {
	if r.Rows < 0 {
		return fmt.Sprintf("%s: view in %s", r.Model, r.Duration.Round(time.Millisecond))
	}
	if r.Materialized == "incremental" {
		return fmt.Sprintf("%s: %d rows recomputed, %d in all, in %s", r.Model, r.Merged, r.Rows, r.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: %d rows in %s", r.Model, r.Rows, r.Duration.Round(time.Millisecond))
}

// materializations are what a model may be built as.
var materializations = []string{"view", "table", "incremental"}

var (
	validName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	materialized = regexp.MustCompile(`(?m)^\s*--\s*materialized\s*:\s*(\w+)\s*$`)
)

// Discover reads dir/*.sql from fsys. It does not touch the database.
func Discover(fsys fs.FS, dir string) ([]Model, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Model
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		m := Model{Name: strings.TrimSuffix(path.Base(f), ".sql"), File: f, SQL: string(raw), Materialized: "view"}
		if !validName.MatchString(m.Name) {
			return nil, fmt.Errorf("%s: model name %q (from the file name) must be letters, digits and underscores", f, m.Name)
		}
		if mm := materialized.FindStringSubmatch(m.SQL); mm != nil {
			m.Materialized = strings.ToLower(mm[1])
			if !slices.Contains(materializations, m.Materialized) {
				return nil, fmt.Errorf("%s: materialized: must be view, table or incremental, not %q", f, mm[1])
			}
		}
		if strings.TrimSpace(stripComments(m.SQL)) == "" {
			return nil, fmt.Errorf("%s: file has no SQL", f)
		}
		out = append(out, m)
	}
	return out, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Load discovers a project's models (dir/*.sql with optional dir/<name>.yml
// beside each) and adds the shipped models the project does not define
// itself. The result still needs Resolve.
func Load(fsys fs.FS, dir string, id Identity) ([]Model, error) {
	ms, err := Discover(fsys, dir)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		if err := readYAML(fsys, &ms[i]); err != nil {
			return nil, err
		}
	}
	shipped, err := Shipped(id)
	if err != nil {
		return nil, err
	}
	for _, s := range shipped {
		if !slices.ContainsFunc(ms, func(m Model) bool { return m.Name == s.Name }) {
			ms = append(ms, s)
		}
	}
	return ms, nil
}

// AllModels is Blocked's key for a failing SQL test that reads no model:
// it holds every sync.
const AllModels = "*"
