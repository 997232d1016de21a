package pipeline

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/backflow-dev/backflow/models"
)

// Lineage is a project's column-level lineage, as preflight resolved it
// against the staged schema: every bound model's columns, and every
// checked sync's fields, back to the raw columns extraction stages.
type Lineage struct {
	Models []models.ModelLineage
	Syncs  []SyncLineage
	// Produced are, per raw table a source defines ("raw_hubspot.contacts"),
	// the columns extraction produces today. A schema whose source was
	// described has an entry of its own ("raw_hubspot", nil): a table of
	// it with no entry is no longer extracted.
	Produced map[string]map[string]bool
	// Duration is how long resolving took (parsing and walking every
	// model, tracing every sync field), for people and benchmarks.
	Duration time.Duration
	graph    *models.ColumnGraph
}

// SyncLineage is one sync's fields back to their sources.
type SyncLineage struct {
	Sync, File, Model string
	// Destination names the connector and what the sync writes there
	// (hubspot contacts).
	Destination string
	// Key is the model column that matches a destination record; Fields
	// are the destination fields it writes.
	Key    FieldLineage
	Fields []FieldLineage
}

// FieldLineage is one destination field's lineage.
type FieldLineage struct {
	// Field is the destination field ("" for the key), Column the model
	// column it is written from.
	Field, Column string
	models.Trace
}

// Graph follows columns through the project's models.
func (l *Lineage) Graph() *models.ColumnGraph {
	if l.graph == nil {
		l.graph = models.NewColumnGraph(l.Models)
	}
	return l.graph
}

// Columns counts the model columns resolved or not.
func (l *Lineage) Columns() int {
	n := 0
	for _, m := range l.Models {
		n += len(m.Columns)
	}
	return n
}

// Fields counts the sync fields (keys included) traced.
func (l *Lineage) Fields() int {
	n := 0
	for _, s := range l.Syncs {
		n += len(s.Fields)
		if s.Key.Column != "" {
			n++
		}
	}
	return n
}

// Unknown counts the model columns whose lineage could not be resolved.
func (l *Lineage) Unknown() int {
	n := 0
	for _, m := range l.Models {
		for _, c := range m.Columns {
			if c.Unknown != "" {
				n++
			}
		}
	}
	return n
}

// FileLineage resolves the project's column lineage against the raw
// tables the DuckDB file holds (read-only), asking no API: no
// credentials, no network (backflow lineage --offline). Models reading a
// table the file does not hold yet are not bound, and said so in the
// warnings; nothing is known of what extraction produces now, so the
// check's warning about vanished columns is not made. It returns
// *CheckError when the models have problems.
func FileLineage(ctx context.Context, opts Options) (*CheckResult, error) {
	start := time.Now() // for Duration only, as Check's

	res := &CheckResult{}
	if _, err := os.Stat(opts.WarehousePath); err != nil {
		return res, fmt.Errorf("lineage: %w: run backflow extract first (or leave out --offline, to read the shapes from the APIs)", err)
	}
	scratch, closeScratch, err := openScratch(ctx, opts)
	if err != nil {
		return res, err
	}
	defer closeScratch()
	db := scratch.DB()
	n, err := copyStagedShapes(ctx, db, opts.WarehousePath, opts.LockTimeout)
	if err != nil {
		return res, fmt.Errorf("lineage: read the staged tables of %s: %w", opts.WarehousePath, err)
	}
	res.Checks = append(res.Checks, fmt.Sprintf("staged schema: %d tables, from the DuckDB file", n))
	if _, ordered, bound, ok := bindModels(ctx, db, opts.Project, opts.Select, nil, res); ok {
		lin, err := lineage(ctx, db, opts.Project, opts.Syncs, ordered, bound, nil)
		if err != nil {
			return res, err
		}
		res.Lineage = lin
		res.Checks = append(res.Checks, fmt.Sprintf("lineage: %d sync fields traced through %d model columns, %d unknown", lin.Fields(), lin.Columns(), lin.Unknown()))
	}
	res.Duration = time.Since(start)
	if len(res.Problems) > 0 {
		return res, &CheckError{Problems: res.Problems}
	}
	return res, nil
}

// lineage resolves the bound models and the syncs on them.
func lineage(ctx context.Context, db *sqlx.DB, p *Project, syncs []string, ordered []models.Model, bound map[string]bool, produced map[string]map[string]bool) (*Lineage, error) {
	start := time.Now() // for Duration only: how long, never what
	var ms []models.Model
	for _, m := range ordered {
		if bound[m.Name] {
			ms = append(ms, m)
		}
	}
	ls, err := models.Lineage(ctx, db, ms)
	if err != nil {
		return nil, err
	}
	l := &Lineage{Models: ls, Produced: produced}
	g := l.Graph()
	for _, s := range p.Syncs {
		if len(syncs) > 0 && !slices.Contains(syncs, s.Spec.Name) || !bound[s.Spec.Model] {
			continue
		}
		sl := SyncLineage{Sync: s.Spec.Name, File: s.Spec.File, Model: s.Spec.Model, Destination: strings.TrimSpace(s.Destination + " " + s.Object)}
		trace := func(field, column string) FieldLineage {
			return FieldLineage{Field: field, Column: column, Trace: g.Upstream(models.Ref{Schema: "models", Table: s.Spec.Model, Column: column})}
		}
		if s.Spec.Key != "" {
			sl.Key = trace("", s.Spec.Key)
		}
		for _, f := range s.Spec.Fields {
			sl.Fields = append(sl.Fields, trace(f.Field, f.Column))
		}
		l.Syncs = append(l.Syncs, sl)
	}
	l.Duration = time.Since(start)
	return l, nil
}

// vanished are the warnings for sync fields computed from, or filtered
// on, a raw column the file still holds but extraction no longer
// produces (a property deleted in HubSpot or left out of
// extract.properties, a Pendo field deleted): a merging extraction keeps
// the column but writes NULL into every record it reads again, and a full
// refresh drops it.
func (l *Lineage) vanished() []string {
	var out []string
	// why says how extraction no longer produces r ("" when it does, or
	// when its source could not be asked).
	why := func(r models.Ref) string {
		if _, described := l.Produced[r.Schema]; !described {
			return ""
		}
		cols, ok := l.Produced[r.Schema+"."+r.Table]
		switch {
		case !ok:
			return fmt.Sprintf("%s, but no stream writes %s.%s any more (taken out of extract, or gone from the source): it stays as an earlier run left it", r, r.Schema, r.Table)
		case r.Column != "*" && !cols[r.Column]:
			return fmt.Sprintf("%s, which extraction no longer produces (the file holds it from earlier runs): each record extraction reads again gets NULL there, and a full refresh drops the column", r)
		}
		return ""
	}
	for _, s := range l.Syncs {
		for _, f := range append([]FieldLineage{s.Key}, s.Fields...) {
			if f.Column == "" {
				continue
			}
			what := "field " + f.Field
			if f.Field == "" {
				what = "key " + f.Column
			}
			for _, r := range f.From {
				if w := why(r); w != "" {
					out = append(out, fmt.Sprintf("%s: %s (column %s of models.%s) is computed from %s", s.File, what, f.Column, s.Model, w))
				}
			}
		}
		for _, r := range s.Key.Rows {
			if w := why(r); w != "" {
				out = append(out, fmt.Sprintf("%s: the records of models.%s are decided by %s", s.File, s.Model, w))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ImpactedField is a sync field a change would reach.
type ImpactedField struct {
	Sync, Destination, Field, Column string
	// Value says the field's value is computed from the change; otherwise
	// the change decides which records the sync holds (Rows).
	Value bool
}

// LineageImpact is everything a change to one column would change.
type LineageImpact struct {
	models.Impact
	Fields []ImpactedField
}

// Impact lists the model columns, models and sync fields a change to ref
// (a raw column, or a model column) would change.
func (l *Lineage) Impact(ref models.Ref) LineageImpact {
	imp := LineageImpact{Impact: l.Graph().Downstream(ref)}
	values := map[string]bool{models.RefKey(ref): true}
	for _, v := range imp.Values {
		values[models.RefKey(v)] = true
	}
	for _, s := range l.Syncs {
		rows := slices.ContainsFunc(imp.Rows, func(m string) bool { return strings.EqualFold(m, s.Model) })
		for _, f := range append([]FieldLineage{s.Key}, s.Fields...) {
			if f.Column == "" {
				continue
			}
			value := values[models.RefKey(models.Ref{Schema: "models", Table: s.Model, Column: f.Column})]
			if value || rows {
				imp.Fields = append(imp.Fields, ImpactedField{Sync: s.Sync, Destination: s.Destination, Field: f.Field, Column: f.Column, Value: value})
			}
		}
	}
	return imp
}
