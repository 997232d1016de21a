package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

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
				return nil, &FileError{File: ms[i].File, Err: fmt.Errorf("reads models.%s, but there is no models/%s.sql", r.table, r.table)}
			}
			if r.table == ms[i].Name {
				return nil, &FileError{File: ms[i].File, Err: fmt.Errorf("model reads itself (models.%s)", r.table)}
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
		return nil, &FileError{File: cyc[0], Err: fmt.Errorf("models form a dependency cycle: %s", strings.Join(cyc, ", "))}
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
			return "", nil, &FileError{File: file, Line: strings.Count(text[:pos], "\n") + 1, Err: errors.New(msg)}
		}
		return "", nil, &FileError{File: file, Err: fmt.Errorf("%s (one SELECT statement is expected)", msg)}
	}
	if stmts, _ := ast.(map[string]any)["statements"].([]any); len(stmts) != 1 {
		return "", nil, &FileError{File: file, Err: fmt.Errorf("must hold exactly one SELECT statement, found %d", len(stmts))}
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

// ReadsModels lists the models a query reads (models.<name>), sorted; the
// query is one SELECT, as a model's or a test's.
func ReadsModels(ctx context.Context, db *sqlx.DB, file, query string) ([]string, error) {
	refs, err := tableRefs(ctx, db, Model{File: file, SQL: query})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range refs {
		if r.schema == "models" {
			seen[r.table] = true
		}
	}
	return sortedKeys(seen), nil
}
