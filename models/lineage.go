package models

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Ref names one column of a table or view: raw_hubspot.contacts.email.
// Column "*" stands for the table's rows (what count(*) counts).
type Ref struct{ Schema, Table, Column string }

func (r Ref) String() string {
	if r.Schema == "" {
		return r.Table + "." + r.Column
	}
	return r.Schema + "." + r.Table + "." + r.Column
}

// RefNames are refs as strings, in order.
func RefNames(rs []Ref) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func compareRefs(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Table, b.Table), cmp.Compare(a.Column, b.Column))
}

// ColumnLineage is where one model column's value comes from.
type ColumnLineage struct {
	Column string
	// From are the columns of the tables and models the model reads that
	// the value is computed from, sorted; empty for a constant (a
	// literal, run_started_at()).
	From []Ref
	// Unknown says why the value's origin could not be resolved; From is
	// then incomplete and not to be trusted.
	Unknown string
}

// ModelLineage is one model's column-level lineage: each column's
// sources, one level up (a column of another model is named as such, not
// followed; LineageGraph follows it).
type ModelLineage struct {
	Model, File string
	Columns     []ColumnLineage
	// Rows are the columns that decide which rows the model holds rather
	// than their values: WHERE, JOIN conditions, GROUP BY, HAVING,
	// QUALIFY, DISTINCT ON, the right side of EXCEPT and INTERSECT.
	Rows []Ref
	// RowsUnknown says why Rows is incomplete ("" when it is not).
	RowsUnknown string
	// Unknown says why the model as a whole could not be resolved (its
	// columns are then all Unknown).
	Unknown string
}

// Lineage resolves every column of every model to the columns it is
// computed from, from DuckDB's parse of the SQL (json_serialize_sql). The
// models must be in dependency order and bound in db (views will do:
// Bind), with every table they read present, so that DESCRIBE names the
// columns of each table and of each model; the resolver's own column list
// is checked against DuckDB's, and a model they disagree on is reported
// Unknown as a whole, never guessed.
//
// What each form contributes: a function call, an operator, CAST and CASE
// are the union of their arguments; a macro too (normalize_email(email)
// is email), unless its body reads a table, itself or through another
// macro: then it is expanded, each parameter standing for its argument
// (is_free_email_domain(d) is d and backflow.free_email_domains.domain);
// an aggregate or window function is its
// arguments, PARTITION BY and ORDER BY, and one with no column argument
// (count(*)) is the rows it counts: its query's Rows and the tables' "*";
// a subquery used as a value is everything it reads; SELECT * (with
// EXCLUDE, REPLACE, RENAME, COLUMNS('regex')) and UNION are positional;
// VALUES are constants; range, generate_series and unnest are their
// arguments. A table function that reads outside the file (read_csv, a
// table macro) and PIVOT make what reads them Unknown.
func Lineage(ctx context.Context, db *sqlx.DB, ordered []Model) ([]ModelLineage, error) {
	r := &resolver{ctx: ctx, db: db, aggregates: map[string]bool{}}
	var aggregates []string
	if err := db.SelectContext(ctx, &aggregates, `SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'aggregate'`); err != nil {
		return nil, fmt.Errorf("lineage: list aggregate functions: %w", err)
	}
	for _, f := range aggregates {
		r.aggregates[strings.ToLower(f)] = true
	}
	if err := r.loadMacros(); err != nil {
		return nil, err
	}
	out := make([]ModelLineage, 0, len(ordered))
	for _, m := range ordered {
		ml, err := r.model(m)
		if err != nil {
			return nil, err
		}
		out = append(out, ml)
	}
	return out, nil
}

// resolver holds what one Lineage call learned from the database.
type resolver struct {
	ctx        context.Context
	db         *sqlx.DB
	tables     map[string][]string // "schema.table" → columns, in order
	aggregates map[string]bool
	macros     map[string]*macro // by lower-cased name
	depth      int               // macros being expanded
	err        error             // the first database error; resolution stops at it
}

func (r *resolver) model(m Model) (ml ModelLineage, err error) {
	ml = ModelLineage{Model: m.Name, File: m.File}
	// DuckDB's JSON is walked by shape; a shape this code does not know
	// must not take a run's preflight down with it.
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%s: lineage: unexpected parse tree: %v", m.File, v)
		}
	}()
	names, err := r.columns("models", m.Name)
	if err != nil {
		return ml, err
	}
	if names == nil {
		return ml, fmt.Errorf("%s: lineage: models.%s is not bound", m.File, m.Name)
	}
	_, ast, err := parseSelect(r.ctx, r.db, m.File, m.SQL)
	if err != nil {
		return ml, err
	}
	stmt := obj(list(obj(ast)["statements"])[0])
	rel := r.query(obj(stmt["node"]), nil, nil)
	if r.err != nil {
		return ml, fmt.Errorf("%s: lineage: %w", m.File, r.err)
	}
	switch {
	case rel.unknown != "":
		ml.Unknown = rel.unknown
	case len(rel.cols) != len(names):
		ml.Unknown = fmt.Sprintf("backflow resolved %d columns where DuckDB has %d", len(rel.cols), len(names))
	}
	for i, name := range names {
		if ml.Unknown == "" && rel.cols[i].name != "" && !strings.EqualFold(rel.cols[i].name, name) && !strings.EqualFold(strings.TrimRight(strings.TrimRight(name, "0123456789"), "_"), rel.cols[i].name) {
			ml.Unknown = fmt.Sprintf("column %d is %s to DuckDB and %s to backflow", i+1, name, rel.cols[i].name)
		}
	}
	for i, name := range names {
		cl := ColumnLineage{Column: name}
		if ml.Unknown != "" {
			cl.Unknown = ml.Unknown
		} else {
			cl.From = rel.cols[i].from.sorted()
			cl.Unknown = rel.cols[i].unknown
		}
		ml.Columns = append(ml.Columns, cl)
	}
	ml.Rows = rel.rows.sorted()
	ml.RowsUnknown = rel.rowsUnknown
	return ml, nil
}

// columns are a table's or view's columns in order; nil when there is no
// such table. The first call reads every table's columns at once
// (duckdb_columns(), views included).
func (r *resolver) columns(schema, table string) ([]string, error) {
	if r.tables == nil {
		var rows []struct {
			Schema string `db:"schema_name"`
			Table  string `db:"table_name"`
			Column string `db:"column_name"`
		}
		if err := r.db.SelectContext(r.ctx, &rows, `SELECT schema_name, table_name, column_name FROM duckdb_columns()
			WHERE database_name = current_database() ORDER BY schema_name, table_name, column_index`); err != nil {
			return nil, fmt.Errorf("list columns: %w", err)
		}
		r.tables = map[string][]string{}
		for _, c := range rows {
			key := strings.ToLower(c.Schema + "." + c.Table)
			r.tables[key] = append(r.tables[key], c.Column)
		}
	}
	if schema == "" {
		// An unqualified name outside the CTEs: the search path's main.
		schema = "main"
	}
	return r.tables[strings.ToLower(schema+"."+table)], nil
}

// refSet is a set of source columns.
type refSet map[Ref]bool

func (s refSet) add(o refSet) refSet {
	if len(o) == 0 {
		return s
	}
	if s == nil {
		s = refSet{}
	}
	for k := range o {
		s[k] = true
	}
	return s
}

func (s refSet) sorted() []Ref {
	out := make([]Ref, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.SortFunc(out, compareRefs)
	return out
}

// deps is what an expression reads.
type deps struct {
	from    refSet
	unknown string
	// aggregate marks an aggregate with no column argument: it reads its
	// query's rows, known only once the whole query is resolved.
	aggregate bool
}

func (d *deps) add(o deps) {
	d.from = d.from.add(o.from)
	if d.unknown == "" {
		d.unknown = o.unknown
	}
	d.aggregate = d.aggregate || o.aggregate
}

// col is one column of a relation.
type col struct {
	name    string // "" when DuckDB derives it from the expression
	from    refSet
	unknown string
	rowsOf  bool // computed from the rows of its query (count(*))
}

// relation is a table, view, CTE, subquery or table function as a query
// sees it.
type relation struct {
	alias, schema, table string
	cols                 []col
	hidden               map[int]bool // a USING or NATURAL join's right-side copy
	rows                 refSet       // what decided the relation's rows
	rowsUnknown          string       // why rows is incomplete
	tables               refSet       // the base tables read, as Ref{Column: "*"}
	unknown              string       // columns not known at all
}

func (rel *relation) copy(alias string) *relation {
	c := *rel
	c.alias = alias
	c.cols = slices.Clone(rel.cols)
	c.hidden = nil
	return &c
}

// ctes are the common table expressions a query sees.
type ctes struct {
	parent *ctes
	defs   map[string]map[string]any // lower(name) → map entry value (query, aliases)
	done   map[string]*relation
	busy   map[string]bool
}

func (c *ctes) lookup(name string) (*ctes, map[string]any) {
	for e := c; e != nil; e = e.parent {
		if d, ok := e.defs[strings.ToLower(name)]; ok {
			return e, d
		}
	}
	return nil, nil
}

// scope is one query level: its relations, the query around it (for
// correlated references) and what it has resolved so far.
type scope struct {
	parent  *scope
	ctes    *ctes
	rels    []*relation
	aliases []col // select-list items resolved so far, for references to them
	lambda  map[string]bool
	// bound are a macro's parameters, each what its argument reads.
	bound map[string]deps
	rows  refSet
	// rowsUnknown says why rows is incomplete.
	rowsUnknown string
}

func (sc *scope) tables() refSet {
	var out refSet
	for _, rel := range sc.rels {
		out = out.add(rel.tables)
	}
	return out
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string         { s, _ := v.(string); return s }

func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, str(x))
	}
	return out
}

// query resolves a query node to the relation it produces.
func (r *resolver) query(n map[string]any, outer *scope, env *ctes) *relation {
	env = r.withCTEs(n, env)
	switch str(n["type"]) {
	case "SELECT_NODE":
		return r.selectNode(n, outer, env)
	case "SET_OPERATION_NODE":
		children := list(n["children"])
		if len(children) == 0 {
			children = []any{n["left"], n["right"]}
		}
		var rels []*relation
		for _, c := range children {
			rels = append(rels, r.query(obj(c), outer, env))
		}
		return setOperation(str(n["setop_type"]), rels)
	case "RECURSIVE_CTE_NODE":
		return r.recursive(n, outer, env)
	case "CTE_NODE":
		return r.query(obj(n["child"]), outer, env)
	}
	return &relation{unknown: fmt.Sprintf("%s is not understood", strings.ToLower(str(n["type"])))}
}

func (r *resolver) withCTEs(n map[string]any, env *ctes) *ctes {
	entries := list(obj(n["cte_map"])["map"])
	if len(entries) == 0 {
		return env
	}
	e := &ctes{parent: env, defs: map[string]map[string]any{}, done: map[string]*relation{}, busy: map[string]bool{}}
	for _, entry := range entries {
		e.defs[strings.ToLower(str(obj(entry)["key"]))] = obj(obj(entry)["value"])
	}
	return e
}

// setOperation combines a UNION, EXCEPT or INTERSECT's sides: positional
// (UNION BY NAME: by name), names from the first.
func setOperation(kind string, rels []*relation) *relation {
	out := &relation{}
	for _, rel := range rels {
		if rel.unknown != "" {
			return &relation{unknown: rel.unknown}
		}
		out.rows = out.rows.add(rel.rows)
		out.tables = out.tables.add(rel.tables)
		out.rowsUnknown = cmp.Or(out.rowsUnknown, rel.rowsUnknown)
	}
	first := rels[0]
	out.cols = slices.Clone(first.cols)
	for _, rel := range rels[1:] {
		if kind == "UNION_BY_NAME" {
			for _, c := range rel.cols {
				i := slices.IndexFunc(out.cols, func(o col) bool { return strings.EqualFold(o.name, c.name) })
				if i < 0 {
					out.cols = append(out.cols, c)
					continue
				}
				out.cols[i] = mergeCol(out.cols[i], c)
			}
			continue
		}
		if len(rel.cols) != len(out.cols) {
			return &relation{unknown: "set operation sides differ in width"}
		}
		for i, c := range rel.cols {
			if kind == "EXCEPT" || kind == "INTERSECT" {
				// The right side decides which rows remain, not their values.
				out.rows = out.rows.add(c.from)
				continue
			}
			out.cols[i] = mergeCol(out.cols[i], c)
		}
	}
	return out
}

func mergeCol(a, b col) col {
	a.from = refSet{}.add(a.from).add(b.from)
	if a.unknown == "" {
		a.unknown = b.unknown
	}
	return a
}

// recursive resolves WITH RECURSIVE: the anchor, then the recursive part
// reading the union so far, until nothing new is found.
func (r *resolver) recursive(n map[string]any, outer *scope, env *ctes) *relation {
	name := strings.ToLower(str(n["cte_name"]))
	anchor := r.query(obj(n["left"]), outer, env)
	if anchor.unknown != "" {
		return anchor
	}
	cur := anchor
	if a := strs(n["aliases"]); len(a) > 0 {
		cur = renamed(anchor, a)
	}
	for range 16 {
		self := &ctes{parent: env, defs: map[string]map[string]any{}, done: map[string]*relation{name: cur}, busy: map[string]bool{}}
		self.defs[name] = map[string]any{}
		step := r.query(obj(n["right"]), outer, self)
		next := setOperation("UNION", []*relation{cur, step})
		if next.unknown != "" || sameLineage(cur, next) {
			return next
		}
		cur = next
	}
	return &relation{unknown: "recursive CTE " + name + " did not settle"}
}

func sameLineage(a, b *relation) bool {
	if len(a.cols) != len(b.cols) || len(a.rows) != len(b.rows) {
		return false
	}
	for i := range a.cols {
		if len(a.cols[i].from) != len(b.cols[i].from) {
			return false
		}
	}
	return true
}

func renamed(rel *relation, names []string) *relation {
	out := rel.copy(rel.alias)
	for i := range out.cols {
		if i < len(names) {
			out.cols[i].name = names[i]
		}
	}
	return out
}

func (r *resolver) selectNode(n map[string]any, outer *scope, env *ctes) *relation {
	sc := &scope{parent: outer, ctes: env}
	if from := obj(n["from_table"]); from != nil {
		rels, unknown := r.from(from, sc)
		if unknown != "" {
			return &relation{unknown: unknown}
		}
		sc.rels = rels
	}
	var out []col
	for _, item := range list(n["select_list"]) {
		it := obj(item)
		if str(it["class"]) == "STAR" {
			cols, unknown := r.star(it, sc)
			if unknown != "" {
				return &relation{unknown: unknown}
			}
			out = append(out, cols...)
			sc.aliases = append(sc.aliases, cols...)
			continue
		}
		d := r.expr(it, sc)
		c := col{name: outputName(it), from: d.from, unknown: d.unknown, rowsOf: d.aggregate && len(d.from) == 0}
		out = append(out, c)
		sc.aliases = append(sc.aliases, c)
	}
	// WHERE after the select list: DuckDB lets it name the list's aliases.
	if w := n["where_clause"]; w != nil {
		r.addRows(sc, w)
	}
	for _, g := range list(n["group_expressions"]) {
		// GROUP BY 2 groups by the second select-list item.
		if ge := obj(g); str(ge["class"]) == "CONSTANT" {
			if i, ok := obj(ge["value"])["value"].(float64); ok && int(i) >= 1 && int(i) <= len(out) {
				sc.rows = sc.rows.add(out[int(i)-1].from)
			}
			continue
		}
		r.addRows(sc, g)
	}
	for _, k := range []string{"having", "qualify"} {
		if v := n[k]; v != nil {
			r.addRows(sc, v)
		}
	}
	limited := slices.ContainsFunc(list(n["modifiers"]), func(m any) bool { return str(obj(m)["type"]) == "LIMIT_MODIFIER" })
	for _, m := range list(n["modifiers"]) {
		mod := obj(m)
		switch str(mod["type"]) {
		case "DISTINCT_MODIFIER":
			r.addRows(sc, mod["distinct_on_targets"])
		case "ORDER_MODIFIER":
			if limited {
				r.addRows(sc, mod["orders"])
			}
		case "LIMIT_MODIFIER", "LIMIT_PERCENT_MODIFIER":
			r.addRows(sc, mod)
		}
	}
	rel := &relation{cols: out, rows: sc.rows, tables: sc.tables(), rowsUnknown: sc.rowsUnknown}
	for _, x := range sc.rels {
		rel.rows = rel.rows.add(x.rows)
		rel.rowsUnknown = cmp.Or(rel.rowsUnknown, x.rowsUnknown)
	}
	for i := range rel.cols {
		if rel.cols[i].rowsOf {
			rel.cols[i].from = refSet{}.add(rel.rows).add(rel.tables)
		}
	}
	return rel
}

// addRows adds what an expression reads to the scope's row deciders.
func (r *resolver) addRows(sc *scope, e any) {
	d := r.expr(e, sc)
	sc.rows = sc.rows.add(d.from)
	sc.rowsUnknown = cmp.Or(sc.rowsUnknown, d.unknown)
}

// outputName is the name DuckDB gives a select-list item when backflow can
// know it: its alias, or the column a bare reference names.
func outputName(e map[string]any) string {
	if a := str(e["alias"]); a != "" {
		return a
	}
	if names := strs(e["column_names"]); str(e["class"]) == "COLUMN_REF" && len(names) > 0 {
		return names[len(names)-1]
	}
	return ""
}

// star expands *, rel.*, COLUMNS(*) and COLUMNS('regex') with EXCLUDE,
// REPLACE and RENAME.
func (r *resolver) star(it map[string]any, sc *scope) ([]col, string) {
	var pattern *regexp.Regexp
	if it["columns"] == true {
		e := obj(it["expr"])
		switch {
		case e == nil:
		case str(e["class"]) == "CONSTANT" && str(obj(obj(e["value"])["type"])["id"]) == "VARCHAR":
			p, err := regexp.Compile(str(obj(e["value"])["value"]))
			if err != nil {
				return nil, "COLUMNS regex: " + err.Error()
			}
			pattern = p
		default:
			return nil, "COLUMNS with an expression or lambda is not resolved"
		}
	}
	if it["unpacked"] == true {
		return nil, "*COLUMNS(...) is not resolved"
	}
	relName := str(it["relation_name"])
	exclude := map[string]bool{}
	for _, x := range list(it["exclude_list"]) {
		switch x := x.(type) {
		case string:
			exclude["."+strings.ToLower(x)] = true
		case map[string]any:
			exclude[strings.ToLower(str(x["table"]))+"."+strings.ToLower(str(x["column"]))] = true
		}
	}
	for _, x := range list(it["qualified_exclude_list"]) {
		exclude[strings.ToLower(str(obj(x)["table"]))+"."+strings.ToLower(str(obj(x)["column"]))] = true
	}
	replace := map[string]any{}
	for _, x := range list(it["replace_list"]) {
		replace[strings.ToLower(str(obj(x)["key"]))] = obj(x)["value"]
	}
	rename := map[string]string{}
	for _, x := range list(it["rename_list"]) {
		k := obj(obj(x)["key"])
		rename[strings.ToLower(str(k["column"]))] = str(obj(x)["value"])
	}
	var out []col
	matched := false
	for _, rel := range sc.rels {
		if relName != "" && !strings.EqualFold(rel.alias, relName) {
			continue
		}
		matched = true
		if rel.unknown != "" {
			return nil, rel.unknown
		}
		for i, c := range rel.cols {
			if rel.hidden[i] && relName == "" {
				continue
			}
			lname := strings.ToLower(c.name)
			if exclude["."+lname] || exclude[strings.ToLower(rel.alias)+"."+lname] {
				continue
			}
			if pattern != nil && !pattern.MatchString(c.name) {
				continue
			}
			if e, ok := replace[lname]; ok {
				d := r.expr(e, sc)
				c = col{name: c.name, from: d.from, unknown: d.unknown}
			}
			if to, ok := rename[lname]; ok {
				c.name = to
			}
			out = append(out, c)
		}
	}
	if relName != "" && !matched {
		return nil, relName + ".* names no relation of the query"
	}
	return out, ""
}

// from resolves a FROM clause to the relations it puts in scope, in order.
func (r *resolver) from(t map[string]any, sc *scope) ([]*relation, string) {
	switch str(t["type"]) {
	case "EMPTY":
		return nil, ""
	case "BASE_TABLE":
		rel := r.baseTable(str(t["schema_name"]), str(t["table_name"]), sc.ctes)
		alias := cmp.Or(str(t["alias"]), str(t["table_name"]))
		rel = rel.copy(alias)
		if a := strs(t["column_name_alias"]); len(a) > 0 {
			rel = renamed(rel, a)
		}
		return []*relation{rel}, ""
	case "JOIN":
		return r.join(t, sc)
	case "SUBQUERY":
		// sc holds the relations to its left: in scope for LATERAL.
		rel := r.query(obj(obj(t["subquery"])["node"]), sc, sc.ctes).copy(str(t["alias"]))
		if a := strs(t["column_name_alias"]); len(a) > 0 {
			rel = renamed(rel, a)
		}
		return []*relation{rel}, ""
	case "TABLE_FUNCTION":
		fn := obj(t["function"])
		name := strings.ToLower(str(fn["function_name"]))
		alias := cmp.Or(str(t["alias"]), name)
		switch name {
		case "range", "generate_series", "unnest":
			d := deps{}
			for _, c := range list(fn["children"]) {
				d.add(r.expr(c, sc))
			}
			rel := &relation{alias: alias, cols: []col{{name: name, from: d.from, unknown: d.unknown}}}
			if a := strs(t["column_name_alias"]); len(a) > 0 {
				rel = renamed(rel, a)
			}
			return []*relation{rel}, ""
		}
		return []*relation{{alias: alias, unknown: "table function " + name + " reads outside the models"}}, ""
	case "EXPRESSION_LIST":
		rows := list(t["values"])
		rel := &relation{alias: cmp.Or(str(t["alias"]), "valueslist")}
		for _, row := range rows {
			for i, v := range list(row) {
				if i >= len(rel.cols) {
					rel.cols = append(rel.cols, col{name: fmt.Sprintf("col%d", i)})
				}
				d := r.expr(v, sc)
				rel.cols[i] = mergeCol(rel.cols[i], col{from: d.from, unknown: d.unknown})
			}
		}
		if a := strs(t["column_name_alias"]); len(a) > 0 {
			rel = renamed(rel, a)
		}
		return []*relation{rel}, ""
	}
	return []*relation{{alias: str(t["alias"]), unknown: strings.ToLower(str(t["type"])) + " is not resolved"}}, ""
}

func (r *resolver) join(t map[string]any, sc *scope) ([]*relation, string) {
	left, unknown := r.from(obj(t["left"]), sc)
	if unknown != "" {
		return nil, unknown
	}
	// The right side sees the left (LATERAL) through a scope of its own.
	rs := &scope{parent: sc.parent, ctes: sc.ctes, rels: append(slices.Clone(sc.rels), left...)}
	right, unknown := r.from(obj(t["right"]), rs)
	if unknown != "" {
		return nil, unknown
	}
	switch str(t["join_type"]) {
	case "SEMI", "ANTI":
		js := &scope{parent: sc.parent, ctes: sc.ctes, rels: append(slices.Clone(left), right...)}
		if c := t["condition"]; c != nil {
			r.addRows(js, c)
		}
		for _, rel := range right {
			js.rows = js.rows.add(rel.rows)
		}
		out := slices.Clone(left)
		if len(out) > 0 {
			out[0] = out[0].copy(out[0].alias)
			out[0].hidden = left[0].hidden
			out[0].rows = refSet{}.add(out[0].rows).add(js.rows)
		}
		return out, ""
	}
	all := append(slices.Clone(left), right...)
	js := &scope{parent: sc.parent, ctes: sc.ctes, rels: all}
	if c := t["condition"]; c != nil {
		r.addRows(js, c)
	}
	using := strs(t["using_columns"])
	if str(t["ref_type"]) == "NATURAL" {
		using = nil
		for _, l := range left {
			for _, c := range l.cols {
				for _, rr := range right {
					if slices.ContainsFunc(rr.cols, func(o col) bool { return strings.EqualFold(o.name, c.name) }) {
						using = append(using, c.name)
					}
				}
			}
		}
	}
	for _, u := range using {
		li, lc := findCol(left, u)
		ri, rc := findCol(right, u)
		if li == nil || ri == nil {
			return nil, "USING column " + u + " not found on both sides"
		}
		if li.unknown != "" || ri.unknown != "" {
			// A side of unknown columns: what the query names through it
			// is unknown, the rest still resolves.
			for _, side := range []struct {
				rel *relation
				i   int
			}{{li, lc}, {ri, rc}} {
				if side.rel.unknown == "" {
					js.rows = js.rows.add(side.rel.cols[side.i].from)
				}
			}
			continue
		}
		// One column, equal on both sides (or either, for an outer join).
		merged := mergeCol(li.cols[lc], ri.cols[rc])
		merged.name = li.cols[lc].name
		js.rows = js.rows.add(merged.from)
		li.cols[lc] = merged
		if ri.hidden == nil {
			ri.hidden = map[int]bool{}
		}
		ri.hidden[rc] = true
	}
	if len(all) > 0 && len(js.rows) > 0 {
		// Copy before adding: the relation may be a CTE's, shared.
		last := all[len(all)-1]
		hidden := last.hidden
		all[len(all)-1] = last.copy(last.alias)
		all[len(all)-1].hidden = hidden
		all[len(all)-1].rows = refSet{}.add(last.rows).add(js.rows)
	}
	return all, ""
}

// findCol finds an unhidden column by name among relations.
func findCol(rels []*relation, name string) (*relation, int) {
	for _, rel := range rels {
		if rel.unknown != "" {
			return rel, -1
		}
		for i, c := range rel.cols {
			if !rel.hidden[i] && strings.EqualFold(c.name, name) {
				return rel, i
			}
		}
	}
	return nil, -1
}

// baseTable resolves a table name: a CTE in scope, else a table or view
// of the file (a model, a raw table, backflow's state).
func (r *resolver) baseTable(schema, table string, env *ctes) *relation {
	if schema == "" {
		if owner, def := env.lookup(table); def != nil {
			key := strings.ToLower(table)
			if rel, ok := owner.done[key]; ok {
				return rel
			}
			if owner.busy[key] {
				return &relation{unknown: "CTE " + table + " reads itself without RECURSIVE"}
			}
			owner.busy[key] = true
			q := obj(obj(def["query"])["node"])
			// A CTE sees the CTEs before it: the same map, itself excluded
			// unless recursive (handled by its RECURSIVE_CTE_NODE).
			rel := r.query(q, nil, owner)
			if a := strs(def["aliases"]); len(a) > 0 && str(q["type"]) != "RECURSIVE_CTE_NODE" {
				rel = renamed(rel, a)
			}
			owner.done[key] = rel
			delete(owner.busy, key)
			return rel
		}
	}
	cols, err := r.columns(schema, table)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return &relation{unknown: err.Error()}
	}
	if cols == nil {
		return &relation{unknown: "no table " + strings.TrimPrefix(schema+"."+table, ".")}
	}
	s := strings.ToLower(cmp.Or(schema, "main"))
	rel := &relation{schema: s, table: table, tables: refSet{{Schema: s, Table: table, Column: "*"}: true}}
	for _, c := range cols {
		rel.cols = append(rel.cols, col{name: c, from: refSet{{Schema: s, Table: table, Column: c}: true}})
	}
	return rel
}

// expr resolves what an expression reads.
func (r *resolver) expr(e any, sc *scope) deps {
	var d deps
	switch e := e.(type) {
	case []any:
		for _, x := range e {
			d.add(r.expr(x, sc))
		}
		return d
	case map[string]any:
		switch str(e["class"]) {
		case "CONSTANT", "PARAMETER", "DEFAULT":
			return d
		case "COLUMN_REF":
			names := strs(e["column_names"])
			if len(names) == 0 {
				return deps{unknown: "a column reference without a name"}
			}
			return sc.column(names)
		case "SUBQUERY":
			// A subquery used as a value is decided by all it reads.
			inner := r.query(obj(obj(e["subquery"])["node"]), sc, sc.ctes)
			if inner.unknown != "" {
				d.unknown = inner.unknown
			}
			for _, c := range inner.cols {
				d.add(deps{from: c.from, unknown: c.unknown})
			}
			d.from = d.from.add(inner.rows)
			if c := e["child"]; c != nil {
				d.add(r.expr(c, sc))
			}
			return d
		case "LAMBDA":
			ls := &scope{parent: sc, ctes: sc.ctes, lambda: map[string]bool{}}
			lhs := obj(e["lhs"])
			var params func(map[string]any)
			params = func(p map[string]any) {
				if names := strs(p["column_names"]); str(p["class"]) == "COLUMN_REF" && len(names) > 0 {
					ls.lambda[strings.ToLower(names[0])] = true
				}
				for _, c := range list(p["children"]) {
					params(obj(c))
				}
			}
			params(lhs)
			for _, p := range strs(e["parameters"]) {
				ls.lambda[strings.ToLower(p)] = true
			}
			return r.expr(e["expr"], ls)
		case "STAR":
			return deps{unknown: "COLUMNS(...) inside an expression is not resolved"}
		case "FUNCTION":
			if m := r.expandable(e); m != nil {
				return r.expand(m, e, sc)
			}
		}
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch e[k].(type) {
			case map[string]any, []any:
				d.add(r.expr(e[k], sc))
			}
		}
		if class := str(e["class"]); (class == "FUNCTION" && r.aggregates[strings.ToLower(str(e["function_name"]))]) || class == "WINDOW" {
			d.aggregate = true
		}
		return d
	}
	return d
}

// column resolves a column reference: a lambda's parameter, a column of
// the query's relations, a select-list alias, then the queries around it.
func (sc *scope) column(names []string) deps {
	for s := sc; s != nil; s = s.parent {
		if s.bound != nil {
			if d, ok := s.bound[strings.ToLower(names[0])]; ok {
				return d
			}
			continue
		}
		if s.lambda != nil {
			if s.lambda[strings.ToLower(names[0])] {
				return deps{}
			}
			continue
		}
		if c, ok := s.find(names); ok {
			return deps{from: c.from, unknown: c.unknown}
		}
	}
	return deps{unknown: "column " + strings.Join(names, ".") + " not found"}
}

func (sc *scope) find(names []string) (col, bool) {
	if len(names) >= 3 {
		for _, rel := range sc.rels {
			if strings.EqualFold(rel.schema, names[0]) && strings.EqualFold(rel.table, names[1]) {
				if c, ok := rel.named(names[2], true); ok {
					return c, true
				}
			}
		}
	}
	if len(names) >= 2 {
		for _, rel := range sc.rels {
			if strings.EqualFold(rel.alias, names[0]) {
				if c, ok := rel.named(names[1], true); ok {
					return c, true
				}
			}
		}
	}
	// An unqualified name, or a struct field path from a column.
	var found []col
	for _, rel := range sc.rels {
		if c, ok := rel.named(names[0], false); ok {
			found = append(found, c)
		}
	}
	if len(found) == 0 && len(names) == 1 {
		for i := len(sc.aliases) - 1; i >= 0; i-- {
			if strings.EqualFold(sc.aliases[i].name, names[0]) {
				return sc.aliases[i], true
			}
		}
	}
	if len(found) == 0 {
		return col{}, false
	}
	out := found[0]
	for _, c := range found[1:] {
		out = mergeCol(out, c)
	}
	return out, true
}

// named finds a column by name; qualified references see a join's hidden
// right-side copies, unqualified ones do not.
func (rel *relation) named(name string, qualified bool) (col, bool) {
	if rel.unknown != "" {
		return col{unknown: rel.unknown}, true
	}
	for i, c := range rel.cols {
		if strings.EqualFold(c.name, name) && (qualified || !rel.hidden[i]) {
			return c, true
		}
	}
	return col{}, false
}
