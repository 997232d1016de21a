// Package models runs a project's SQL models: it discovers models/*.sql,
// orders them by the models.* tables each one reads (found by DuckDB's own
// parser, not by pattern matching), and materializes each into the models
// schema as a view or a table.
package models

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/backflow-dev/backflow/warehouse"
)

// Model is one models/*.sql file.
type Model struct {
	// Name is the file name without .sql; it materializes as models.<Name>.
	Name string
	// File is the path within the project, for messages.
	File string
	// SQL is the file's text: one SELECT (comments allowed).
	SQL string
	// Materialized is "view" (default) or "table", from a header comment
	// `-- materialized: table`.
	Materialized string
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
}

func (r Result) String() string {
	if r.Rows < 0 {
		return fmt.Sprintf("%s: view in %s", r.Model, r.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: %d rows in %s", r.Model, r.Rows, r.Duration.Round(time.Millisecond))
}

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
			if m.Materialized != "view" && m.Materialized != "table" {
				return nil, fmt.Errorf("%s: materialized: must be view or table, not %q", f, mm[1])
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

// Resolve fills each model's Depends using DuckDB's parser and returns the
// models in dependency order (ties by name). A reference to a missing model
// and a cycle are errors naming the files.
func Resolve(ctx context.Context, db *sqlx.DB, ms []Model) ([]Model, error) {
	byName := map[string]int{}
	for i, m := range ms {
		byName[m.Name] = i
	}
	for i := range ms {
		refs, err := tableRefs(ctx, db, ms[i])
		if err != nil {
			return nil, err
		}
		deps := map[string]bool{}
		for _, r := range refs {
			if r.schema != "models" {
				continue
			}
			if _, ok := byName[r.table]; !ok {
				return nil, fmt.Errorf("%s: reads models.%s, but there is no models/%s.sql", ms[i].File, r.table, r.table)
			}
			if r.table == ms[i].Name {
				return nil, fmt.Errorf("%s: model reads itself (models.%s)", ms[i].File, r.table)
			}
			deps[r.table] = true
		}
		ms[i].Depends = sortedKeys(deps)
	}
	// Kahn's algorithm, smallest name first for a stable order.
	indeg := map[string]int{}
	children := map[string][]string{}
	for _, m := range ms {
		indeg[m.Name] += 0
		for _, d := range m.Depends {
			indeg[m.Name]++
			children[d] = append(children[d], m.Name)
		}
	}
	var ready, order []string
	for name, n := range indeg {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		name := ready[0]
		ready = ready[1:]
		order = append(order, name)
		for _, c := range children[name] {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(order) < len(ms) {
		var cyc []string
		for _, m := range ms {
			if indeg[m.Name] > 0 {
				cyc = append(cyc, m.File)
			}
		}
		return nil, fmt.Errorf("models form a dependency cycle: %s", strings.Join(cyc, ", "))
	}
	out := make([]Model, len(order))
	for i, name := range order {
		out[i] = ms[byName[name]]
	}
	return out, nil
}

type tableRef struct{ schema, table string }

// tableRefs asks DuckDB to parse the model and walks the JSON AST for base
// table references.
func tableRefs(ctx context.Context, db *sqlx.DB, m Model) ([]tableRef, error) {
	_, ast, err := parseSelect(ctx, db, m.File, m.SQL)
	if err != nil {
		return nil, err
	}
	var refs []tableRef
	var walk func(any)
	walk = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			if n["type"] == "BASE_TABLE" {
				s, _ := n["schema_name"].(string)
				t, _ := n["table_name"].(string)
				refs = append(refs, tableRef{strings.ToLower(s), t})
			}
			for _, v := range n {
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	walk(ast)
	return refs, nil
}

// parseSelect asks DuckDB to parse text, which must be exactly one SELECT
// statement (DuckDB serializes only SELECTs), and returns its JSON and AST.
// Anything else, a second statement after a semicolon included, is an
// error naming file and line: SQL from a project never runs more than the
// one query it is meant to be.
func parseSelect(ctx context.Context, db *sqlx.DB, file, text string) (string, any, error) {
	var raw string
	if err := db.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", text).Scan(&raw); err != nil {
		return "", nil, fmt.Errorf("%s: parse: %w", file, err)
	}
	var ast any
	if err := json.Unmarshal([]byte(raw), &ast); err != nil {
		return "", nil, fmt.Errorf("%s: parse: %w", file, err)
	}
	if obj, ok := ast.(map[string]any); ok && obj["error"] == true {
		msg := fmt.Sprintf("%v", obj["error_message"])
		if obj["error_type"] == "parser" {
			msg = "Parser Error: " + msg
		}
		if pos, err := strconv.Atoi(fmt.Sprint(obj["position"])); err == nil && pos <= len(text) {
			return "", nil, fmt.Errorf("%s: line %d: %s", file, strings.Count(text[:pos], "\n")+1, msg)
		}
		return "", nil, fmt.Errorf("%s: %s (one SELECT statement is expected)", file, msg)
	}
	if stmts, _ := ast.(map[string]any)["statements"].([]any); len(stmts) != 1 {
		return "", nil, fmt.Errorf("%s: must hold exactly one SELECT statement, found %d", file, len(stmts))
	}
	return raw, ast, nil
}

// CanonicalSelect checks that text is exactly one SELECT statement (see
// parseSelect) and returns it as DuckDB writes it back: no comment, no
// semicolon, safe to nest in another query.
func CanonicalSelect(ctx context.Context, db *sqlx.DB, file, text string) (string, error) {
	raw, _, err := parseSelect(ctx, db, file, text)
	if err != nil {
		return "", err
	}
	var out string
	if err := db.QueryRowContext(ctx, "SELECT json_deserialize_sql(?::JSON)", raw).Scan(&out); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// Run materializes the models in order, each in its own statement. It stops
// at the first failure; models already built stay built.
func Run(ctx context.Context, w *warehouse.Warehouse, ordered []Model) ([]Result, error) {
	var results []Result
	for _, m := range ordered {
		start := time.Now()
		kind := "VIEW"
		if m.Materialized == "table" {
			kind = "TABLE"
		}
		// No newline after AS: DuckDB's "LINE n" then matches the file.
		stmt := "CREATE OR REPLACE " + kind + " " + warehouse.Table("models", m.Name) + " AS " + m.SQL
		if _, err := w.DB().ExecContext(ctx, stmt); err != nil {
			return results, fmt.Errorf("%s: %s", m.File, sqlErrorAt(m, err.Error()))
		}
		res := Result{Model: m.Name, Rows: -1, Duration: time.Since(start)}
		if kind == "TABLE" {
			if err := w.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+warehouse.Table("models", m.Name)).Scan(&res.Rows); err != nil {
				return results, fmt.Errorf("%s: count rows: %w", m.File, err)
			}
		}
		results = append(results, res)
	}
	return results, nil
}

var lineRef = regexp.MustCompile(`LINE (\d+):`)

// sqlErrorAt rewrites a DuckDB error so it starts with the model file's
// line number: "models/x.sql:3: Binder Error: …".
func sqlErrorAt(m Model, msg string) string {
	msg = strings.TrimSpace(msg)
	if mm := lineRef.FindStringSubmatch(msg); mm != nil {
		if n, err := strconv.Atoi(mm[1]); err == nil {
			first, _, _ := strings.Cut(msg, "\n")
			return fmt.Sprintf("line %d: %s", n, strings.TrimSpace(first))
		}
	}
	return msg
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Reads lists the tables outside the models schema that m reads
// ("raw_hubspot.contacts"), sorted, for lineage.
func Reads(ctx context.Context, db *sqlx.DB, m Model) ([]string, error) {
	refs, err := tableRefs(ctx, db, m)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range refs {
		if r.schema != "models" && r.schema != "" {
			seen[r.schema+"."+r.table] = true
		}
	}
	return sortedKeys(seen), nil
}
