package models

import (
	"encoding/json"
	"fmt"
	"strings"
)

// macro is a scalar macro of the file (backflow's, the project's, or one
// of DuckDB's own): its parameters and its body, parsed when first needed.
type macro struct {
	params []string
	text   string
	body   any // the body expression's parse tree; nil when it does not parse alone
	parsed bool
	// reads says whether the body reads a table, itself or through a
	// macro it calls; nil while unknown.
	reads *bool
}

// maxMacroDepth bounds macros expanded inside macros.
const maxMacroDepth = 16

// loadMacros lists the scalar macros that have one definition. A name
// defined twice (an overload, or backflow's temporary run_started_at()
// over the file's) is not expanded: it is taken as its arguments.
func (r *resolver) loadMacros() error {
	var rows []struct {
		Name   string `db:"function_name"`
		Params string `db:"params"`
		Body   string `db:"body"`
	}
	if err := r.db.SelectContext(r.ctx, &rows, `SELECT function_name, to_json(parameters)::VARCHAR AS params, coalesce(macro_definition, '') AS body
		FROM duckdb_functions() WHERE function_type = 'macro'
		QUALIFY count(*) OVER (PARTITION BY lower(function_name)) = 1`); err != nil {
		return fmt.Errorf("lineage: list macros: %w", err)
	}
	r.macros = map[string]*macro{}
	for _, row := range rows {
		m := &macro{text: row.Body}
		if err := json.Unmarshal([]byte(row.Params), &m.params); err != nil {
			return fmt.Errorf("lineage: macro %s: parameters %s: %w", row.Name, row.Params, err)
		}
		r.macros[strings.ToLower(row.Name)] = m
	}
	return nil
}

// parse parses a macro's body once; a body that does not parse as an
// expression on its own leaves body nil.
func (r *resolver) parse(m *macro) {
	if m.parsed {
		return
	}
	m.parsed = true
	if m.text == "" {
		return
	}
	_, ast, err := parseSelect(r.ctx, r.db, "macro", "SELECT "+m.text)
	if err != nil {
		return
	}
	node := obj(obj(list(obj(ast)["statements"])[0])["node"])
	if items := list(node["select_list"]); str(node["type"]) == "SELECT_NODE" && len(items) == 1 && node["from_table"] != nil && str(obj(node["from_table"])["type"]) == "EMPTY" {
		m.body = items[0]
	}
}

// readsTables reports whether a macro's body reads a table, directly or
// through another macro: only then is it expanded, since a macro that
// reads none is exactly what it is given.
func (r *resolver) readsTables(m *macro) bool {
	if m.reads != nil {
		return *m.reads
	}
	no := false
	m.reads = &no // a macro calling itself reads nothing more through that call
	r.parse(m)
	found := false
	var walk func(any)
	walk = func(n any) {
		if found {
			return
		}
		switch n := n.(type) {
		case map[string]any:
			if n["type"] == "BASE_TABLE" || n["class"] == "SUBQUERY" {
				found = true
				return
			}
			if n["class"] == "FUNCTION" {
				if callee := r.macros[strings.ToLower(str(n["function_name"]))]; callee != nil && callee != m && r.readsTables(callee) {
					found = true
					return
				}
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
	walk(m.body)
	m.reads = &found
	return found
}

// runConstant reports backflow's macros that hold one value for a whole
// run (docs/macros.md): constants, whatever the file's fallback body
// reads.
func runConstant(name string) bool {
	switch strings.ToLower(name) {
	case "run_started_at", "incremental_since", "pendo_timezone":
		return true
	}
	return false
}

// expandable is the macro a function call names when it is one to expand.
func (r *resolver) expandable(call map[string]any) *macro {
	if str(call["schema"]) != "" || runConstant(str(call["function_name"])) {
		return nil
	}
	m := r.macros[strings.ToLower(str(call["function_name"]))]
	if m == nil || !r.readsTables(m) || m.body == nil {
		return nil
	}
	return m
}

// expand resolves a macro call through its body: each parameter stands
// for what its argument reads, and the tables the body reads are its own.
func (r *resolver) expand(m *macro, call map[string]any, sc *scope) deps {
	if r.depth >= maxMacroDepth {
		return deps{unknown: fmt.Sprintf("macros nested deeper than %d", maxMacroDepth)}
	}
	r.depth++
	defer func() { r.depth-- }()
	ms := &scope{bound: map[string]deps{}}
	args := list(call["children"])
	for i, p := range m.params {
		if i < len(args) {
			ms.bound[strings.ToLower(p)] = r.expr(args[i], sc)
		} else {
			ms.bound[strings.ToLower(p)] = deps{} // a default: a constant
		}
	}
	return r.expr(m.body, ms)
}
