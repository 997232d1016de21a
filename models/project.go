package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/jmoiron/sqlx"
	"go.yaml.in/yaml/v3"

	embedded "github.com/backflow-dev/backflow/sql"
)

// Identity configures the shipped identity models.
type Identity struct {
	// ContactIDProperty is a HubSpot contact property holding the Pendo
	// visitor id; it adds the shared_id rule.
	ContactIDProperty string
	// CompanyAccountIDProperty is a HubSpot company property holding the
	// Pendo account id.
	CompanyAccountIDProperty string
}

// Shipped renders the models backflow ships (identity matching).
func Shipped(id Identity) ([]Model, error) {
	fsys := embedded.Models()
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Model
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		tpl, err := template.New(f).Parse(string(raw))
		if err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", f, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, id); err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", f, err)
		}
		m := Model{Name: strings.TrimSuffix(f, ".sql"), File: "(shipped) " + f, SQL: b.String(), Materialized: "view", Shipped: true}
		if mm := materialized.FindStringSubmatch(m.SQL); mm != nil {
			m.Materialized = mm[1]
		}
		out = append(out, m)
	}
	return out, nil
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

// modelYAML is models/<name>.yml.
type modelYAML struct {
	Materialized string                `yaml:"materialized"`
	Description  string                `yaml:"description"`
	Columns      map[string]columnYAML `yaml:"columns"`
}

type columnYAML struct {
	Description string      `yaml:"description"`
	Tests       []yaml.Node `yaml:"tests"`
}

func readYAML(fsys fs.FS, m *Model) error {
	file := strings.TrimSuffix(m.File, ".sql") + ".yml"
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil // optional
	}
	var y modelYAML
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&y); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
		return &FileError{File: file, Err: errors.New(msg)}
	}
	if y.Materialized != "" {
		if y.Materialized != "view" && y.Materialized != "table" {
			return &FileError{File: file, Err: fmt.Errorf("materialized: must be view or table, not %q", y.Materialized)}
		}
		m.Materialized = y.Materialized
	}
	cols := make([]string, 0, len(y.Columns))
	for c := range y.Columns {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	for _, col := range cols {
		for _, n := range y.Columns[col].Tests {
			t, err := columnTest(file, m.Name, col, &n)
			if err != nil {
				return err
			}
			m.Tests = append(m.Tests, t)
		}
	}
	return nil
}

// columnTest builds the SQL of a declared test: it returns failing rows.
func columnTest(file, model, col string, n *yaml.Node) (Test, error) {
	table := "models." + quote(model)
	c := quote(col)
	bad := func(format string, args ...any) (Test, error) {
		return Test{}, &FileError{File: file, Line: n.Line, Err: fmt.Errorf("columns.%s.tests: %s", col, fmt.Sprintf(format, args...))}
	}
	name, arg := n.Value, (*yaml.Node)(nil)
	if n.Kind == yaml.MappingNode {
		if len(n.Content) != 2 {
			return bad("a test is a name, or a mapping of one name to its arguments")
		}
		name, arg = n.Content[0].Value, n.Content[1]
	}
	t := Test{Name: fmt.Sprintf("%s.%s.%s", model, col, name), Model: model, File: fmt.Sprintf("%s:%d", file, n.Line)}
	switch name {
	case "unique":
		t.SQL = fmt.Sprintf("SELECT %s, count(*) AS occurrences FROM %s WHERE %s IS NOT NULL GROUP BY %s HAVING count(*) > 1 ORDER BY 2 DESC", c, table, c, c)
	case "not_null":
		t.SQL = fmt.Sprintf("SELECT * FROM %s WHERE %s IS NULL", table, c)
	case "accepted_values":
		var vals []string
		if arg == nil || arg.Decode(&vals) != nil || len(vals) == 0 {
			return bad("accepted_values takes a list of values")
		}
		lits := make([]string, len(vals))
		for i, v := range vals {
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		t.SQL = fmt.Sprintf("SELECT %s, count(*) AS occurrences FROM %s WHERE %s IS NOT NULL AND CAST(%s AS VARCHAR) NOT IN (%s) GROUP BY %s ORDER BY 2 DESC",
			c, table, c, c, strings.Join(lits, ", "), c)
	case "relationships":
		var rel struct {
			To    string `yaml:"to"`
			Field string `yaml:"field"`
		}
		if arg == nil || arg.Decode(&rel) != nil || rel.To == "" || rel.Field == "" {
			return bad("relationships takes {to: schema.table, field: column}")
		}
		schema, tbl, ok := strings.Cut(rel.To, ".")
		if !ok || !identifier.MatchString(schema) || !identifier.MatchString(tbl) {
			return bad("relationships: to %q must be schema.table (letters, digits and underscores)", rel.To)
		}
		t.SQL = fmt.Sprintf("SELECT m.%s FROM %s m WHERE m.%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s.%s t WHERE t.%s = m.%s)",
			c, table, c, quote(schema), quote(tbl), quote(rel.Field), c)
	default:
		return bad("unknown test %q (want unique, not_null, accepted_values, relationships)", name)
	}
	return t, nil
}

// identifier is a plain SQL name, as a YAML test argument may give one.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

// Test is a data test: SQL that returns the rows that fail it.
type Test struct {
	Name  string
	Model string // the model it checks; "" for a SQL test
	File  string // where it is declared, for messages
	SQL   string
}

// SQLTests reads dir/*.sql from fsys: each is a query returning failing rows.
func SQLTests(fsys fs.FS, dir string) ([]Test, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Test
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		out = append(out, Test{Name: strings.TrimSuffix(path.Base(f), ".sql"), File: f, SQL: string(raw)})
	}
	return out, nil
}

// TestResult is what one test found.
type TestResult struct {
	Test     Test
	Failures int64
	// Columns and Sample hold up to five failing rows.
	Columns []string
	Sample  [][]any
	Err     error
}

// RunTests runs tests against the warehouse.
func RunTests(ctx context.Context, db *sqlx.DB, tests []Test) []TestResult {
	out := make([]TestResult, len(tests))
	for i, t := range tests {
		r := TestResult{Test: t}
		// One SELECT, nested as DuckDB writes it back: a test file cannot
		// close the wrapping query and run a statement of its own.
		q, err := CanonicalSelect(ctx, db, t.File, t.SQL)
		if err != nil {
			r.Err = err
			out[i] = r
			continue
		}
		t.SQL = q
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+t.SQL+")").Scan(&r.Failures); err != nil {
			r.Err = fmt.Errorf("%s: %s", t.File, strings.TrimSpace(err.Error()))
			out[i] = r
			continue
		}
		if r.Failures > 0 {
			rows, err := db.QueryContext(ctx, "SELECT * FROM ("+t.SQL+") LIMIT 5")
			if err == nil {
				r.Columns, _ = rows.Columns()
				for rows.Next() {
					vals := make([]any, len(r.Columns))
					ptrs := make([]any, len(vals))
					for k := range vals {
						ptrs[k] = &vals[k]
					}
					rows.Scan(ptrs...)
					r.Sample = append(r.Sample, vals)
				}
				rows.Close()
			}
		}
		out[i] = r
	}
	return out
}

// Select picks models from the ordered list: "name", "+name" (with its
// upstream), "name+" (with its downstream), "+name+". With no selectors it
// picks every project model and the shipped models they read. The result
// keeps dependency order.
func Select(ordered []Model, selectors []string) ([]Model, error) {
	byName := map[string]Model{}
	children := map[string][]string{}
	for _, m := range ordered {
		byName[m.Name] = m
		for _, d := range m.Depends {
			children[d] = append(children[d], m.Name)
		}
	}
	pick := map[string]bool{}
	var walk func(name string, next func(string) []string)
	walk = func(name string, next func(string) []string) {
		for _, n := range next(name) {
			if !pick[n] {
				pick[n] = true
				walk(n, next)
			}
		}
	}
	up := func(n string) []string { return byName[n].Depends }
	down := func(n string) []string { return children[n] }
	if len(selectors) == 0 {
		for _, m := range ordered {
			if !m.Shipped {
				pick[m.Name] = true
				walk(m.Name, up)
			}
		}
	}
	for _, sel := range selectors {
		name := strings.TrimSuffix(strings.TrimPrefix(sel, "+"), "+")
		if _, ok := byName[name]; !ok {
			return nil, fmt.Errorf("--select %s: no model named %q", sel, name)
		}
		pick[name] = true
		if strings.HasPrefix(sel, "+") {
			walk(name, up)
		}
		if strings.HasSuffix(sel, "+") {
			walk(name, down)
		}
	}
	var out []Model
	for _, m := range ordered {
		if pick[m.Name] {
			out = append(out, m)
		}
	}
	return out, nil
}

// Graph renders the dependency graph as text: each model with what it
// reads, in build order.
func Graph(ordered []Model) string {
	var b strings.Builder
	for _, m := range ordered {
		kind := m.Materialized
		if m.Shipped {
			kind += ", shipped"
		}
		fmt.Fprintf(&b, "%s (%s)\n", m.Name, kind)
		for i, d := range m.Depends {
			branch := "├── "
			if i == len(m.Depends)-1 {
				branch = "└── "
			}
			fmt.Fprintf(&b, "  %sreads models.%s\n", branch, d)
		}
	}
	return b.String()
}

// MatchCount is one line of a match report.
type MatchCount struct {
	Model, Rule, Status string
	Count               int64
}

// MatchReport counts an identity model's rows by rule and status.
func MatchReport(ctx context.Context, db *sqlx.DB, model string) ([]MatchCount, error) {
	rows, err := db.QueryContext(ctx, `SELECT coalesce(rule, '-'), status, count(*) FROM models.`+quote(model)+` GROUP BY ALL ORDER BY 2, 1`)
	if err != nil {
		return nil, fmt.Errorf("match report of %s: %w", model, err)
	}
	defer rows.Close()
	var out []MatchCount
	for rows.Next() {
		c := MatchCount{Model: model}
		if err := rows.Scan(&c.Rule, &c.Status, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AllModels is Blocked's key for a failing SQL test that reads no model:
// it holds every sync.
const AllModels = "*"

// Held reports whether blocked (from Blocked) holds a sync of model, and why.
func Held(blocked map[string]string, model string) (string, bool) {
	if why, ok := blocked[model]; ok {
		return why, true
	}
	why, ok := blocked[AllModels]
	return why, ok
}

// Blocked names the models that failing tests make unfit to sync, each
// with the reason: a model with a failing (or erroring) test, and every
// model downstream of it. A failing SQL test blocks the models it reads
// (found by DuckDB's parser) and their downstream, or, reading none,
// every model (AllModels).
func Blocked(ctx context.Context, db *sqlx.DB, ordered []Model, results []TestResult) (map[string]string, error) {
	blocked := map[string]string{}
	for _, r := range results {
		if r.Err == nil && r.Failures == 0 {
			continue
		}
		why := fmt.Sprintf("data test %s failed (%d rows)", r.Test.Name, r.Failures)
		if r.Err != nil {
			why = fmt.Sprintf("data test %s could not run: %v", r.Test.Name, r.Err)
		}
		read := []string{r.Test.Model}
		if r.Test.Model == "" {
			refs, err := tableRefs(ctx, db, Model{File: r.Test.File, SQL: r.Test.SQL})
			if err != nil {
				return nil, err
			}
			read = read[:0]
			for _, ref := range refs {
				if ref.schema == "models" {
					read = append(read, ref.table)
				}
			}
			if len(read) == 0 {
				// A project-wide assertion (information_schema, raw
				// tables): nothing is fit to sync while it fails.
				read = []string{AllModels}
			}
		}
		for _, m := range read {
			if _, ok := blocked[m]; !ok {
				blocked[m] = why
			}
		}
	}
	// ordered is in dependency order, so one pass carries a block down.
	for _, m := range ordered {
		if _, ok := blocked[m.Name]; ok {
			continue
		}
		for _, d := range m.Depends {
			if why, ok := blocked[d]; ok {
				blocked[m.Name] = why + " upstream in models." + d
				break
			}
		}
	}
	return blocked, nil
}
