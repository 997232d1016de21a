package models

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// modelYAML is models/<name>.yml.
type modelYAML struct {
	Materialized string                `yaml:"materialized"`
	UniqueKey    string                `yaml:"unique_key"`
	Watermark    string                `yaml:"watermark"`
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
		if !slices.Contains(materializations, y.Materialized) {
			return &FileError{File: file, Err: fmt.Errorf("materialized: must be view, table or incremental, not %q", y.Materialized)}
		}
		m.Materialized = y.Materialized
	}
	m.UniqueKey, m.Watermark = y.UniqueKey, y.Watermark
	switch {
	case m.Materialized == "incremental" && (m.UniqueKey == "" || m.Watermark == ""):
		return &FileError{File: file, Err: errors.New("materialized: incremental needs unique_key (the column rows merge on) and watermark (the column incremental_since() reads, e.g. updated_at)")}
	case m.Materialized != "incremental" && (m.UniqueKey != "" || m.Watermark != ""):
		return &FileError{File: file, Err: fmt.Errorf("unique_key and watermark are for materialized: incremental, not %s", m.Materialized)}
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
