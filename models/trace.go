package models

import (
	"slices"
	"strings"
)

// Trace is where a column comes from, followed through every model to
// the tables outside the models schema.
type Trace struct {
	// From are the columns outside the models schema (raw_*, backflow.*)
	// the value is computed from, sorted.
	From []Ref
	// Via are the model columns it passes through (itself not included),
	// sorted.
	Via []Ref
	// Rows are the columns outside the models schema that decide which
	// rows hold it: the Rows of its model and of every model it reads.
	Rows []Ref
	// Unknown says, per model column that could not be resolved, why:
	// From is then incomplete.
	Unknown []string
}

// ColumnGraph is the column lineage of a project's models, for following a
// column up to its sources or down to what it feeds.
type ColumnGraph struct {
	byModel map[string]*ModelLineage
	order   []string
}

// NewColumnGraph indexes models' lineage (as Lineage returns it).
func NewColumnGraph(ls []ModelLineage) *ColumnGraph {
	g := &ColumnGraph{byModel: map[string]*ModelLineage{}}
	for i := range ls {
		g.byModel[strings.ToLower(ls[i].Model)] = &ls[i]
		g.order = append(g.order, ls[i].Model)
	}
	return g
}

// Model is one model's lineage, or nil.
func (g *ColumnGraph) Model(name string) *ModelLineage { return g.byModel[strings.ToLower(name)] }

func (ml *ModelLineage) column(name string) *ColumnLineage {
	for i := range ml.Columns {
		if strings.EqualFold(ml.Columns[i].Column, name) {
			return &ml.Columns[i]
		}
	}
	return nil
}

// Upstream follows a model column (Ref{"models", model, column}) to its
// sources. A reference outside the models schema is its own source.
func (g *ColumnGraph) Upstream(ref Ref) Trace {
	from, via, rows := refSet{}, refSet{}, refSet{}
	var unknown []string
	seenRows := map[string]bool{}
	// A model's rows are decided by its own Rows and by the rows of every
	// model it reads.
	var rowsOf func(model string)
	rowsOf = func(model string) {
		if seenRows[strings.ToLower(model)] {
			return
		}
		seenRows[strings.ToLower(model)] = true
		ml := g.Model(model)
		if ml == nil {
			return
		}
		if ml.RowsUnknown != "" {
			unknown = append(unknown, "rows of models."+ml.Model+": "+ml.RowsUnknown)
		}
		for _, r := range ml.Rows {
			if r.Schema != "models" {
				rows[r] = true
				continue
			}
			t := g.Upstream(r)
			rows.add(setOf(t.From))
			rows.add(setOf(t.Rows))
			unknown = append(unknown, t.Unknown...)
		}
		for _, m := range ml.reads() {
			rowsOf(m)
		}
	}
	var walk func(r Ref)
	walk = func(r Ref) {
		if r.Schema != "models" {
			from[r] = true
			return
		}
		if via[r] {
			return
		}
		via[r] = true
		ml := g.Model(r.Table)
		if ml == nil {
			unknown = append(unknown, r.String()+": no such model")
			return
		}
		rowsOf(ml.Model)
		if r.Column == "*" {
			return
		}
		c := ml.column(r.Column)
		switch {
		case c == nil:
			unknown = append(unknown, r.String()+": no such column")
			return
		case c.Unknown != "":
			unknown = append(unknown, r.String()+": "+c.Unknown)
		}
		for _, s := range c.From {
			walk(s)
		}
	}
	walk(ref)
	delete(via, ref)
	slices.Sort(unknown)
	return Trace{From: from.sorted(), Via: via.sorted(), Rows: rows.sorted(), Unknown: slices.Compact(unknown)}
}

// RefKey is a ref as a case-insensitive key.
func RefKey(r Ref) string { return strings.ToLower(r.String()) }

func setOf(rs []Ref) refSet {
	s := refSet{}
	for _, r := range rs {
		s[r] = true
	}
	return s
}

// Impact is what a change to one column would change.
type Impact struct {
	// Values are the model columns computed from it, directly or
	// through other models, in build order.
	Values []Ref
	// Rows are the models whose rows it decides (a filter, join or group
	// on it, or a model read by one whose rows it decides), in build order.
	Rows []string
}

// Downstream is every model column and model a change to ref would
// change: ref may be a source column (raw_hubspot.contacts.email) or a
// model column.
func (g *ColumnGraph) Downstream(ref Ref) Impact {
	// SQL names are case-insensitive: so is the match.
	values := map[string]bool{RefKey(ref): true}
	hit := func(r Ref) bool { return values[RefKey(r)] }
	rowModels := map[string]bool{}
	var imp Impact
	// Build order means one pass sees every model's inputs first.
	for _, name := range g.order {
		ml := g.byModel[strings.ToLower(name)]
		for _, c := range ml.Columns {
			if slices.ContainsFunc(c.From, hit) {
				r := Ref{Schema: "models", Table: ml.Model, Column: c.Column}
				values[RefKey(r)] = true
				imp.Values = append(imp.Values, r)
			}
		}
		if slices.ContainsFunc(ml.Rows, hit) ||
			slices.ContainsFunc(ml.reads(), func(m string) bool { return rowModels[strings.ToLower(m)] }) {
			rowModels[strings.ToLower(ml.Model)] = true
			imp.Rows = append(imp.Rows, ml.Model)
		}
	}
	return imp
}

// reads are the models this one reads, sorted.
func (ml *ModelLineage) reads() []string {
	seen := map[string]bool{}
	note := func(r Ref) {
		if r.Schema == "models" {
			seen[r.Table] = true
		}
	}
	for _, c := range ml.Columns {
		for _, r := range c.From {
			note(r)
		}
	}
	for _, r := range ml.Rows {
		note(r)
	}
	return sortedKeys(seen)
}
