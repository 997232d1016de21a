package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/pipeline"
)

type lineageOptions struct {
	project string
	impact  bool
	json    bool
	offline bool
}

func newCmdLineage(g *globals, stdio IO, lookupEnv func(string) (string, bool)) *cobra.Command {
	opts := &lineageOptions{}
	cmd := &cobra.Command{
		Use:   "lineage [COLUMN_OR_FIELD]",
		Short: "Show which raw columns feed which model columns and destination fields",
		Long: `lineage shows column-level lineage, resolved from DuckDB's own parse of every
model against the staged schema (the checks of backflow check run first).

With no argument it lists every sync's fields back to the raw columns
(HubSpot properties, Pendo fields) they are computed from. With a column
it prints where that column comes from and what it feeds:

  models.MODEL.COLUMN (or MODEL.COLUMN)   a model column
  SYNC.FIELD                              a sync's destination field
  raw_hubspot.contacts.lifecyclestage     a raw column: what it feeds

--offline resolves against the raw tables the DuckDB file holds, without
credentials or any API call (models reading a table not extracted yet are
left out, and said so).

--impact lists everything a change to the column would change: the model
columns computed from it, the models whose rows it decides (a filter, a
join or a group on it), and the sync fields either reaches. A column whose
lineage cannot be resolved (a table function reading a file, COLUMNS with
a lambda) is shown as unknown, never guessed.`,
		Example: `  backflow lineage
  backflow lineage models.pql_contacts.lifecyclestage
  backflow lineage pql_lifecycle_stage.lifecyclestage
  backflow lineage --impact raw_hubspot.contacts.lifecyclestage
  backflow lineage --json
  backflow lineage --offline   # from the DuckDB file alone: no credentials needed`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.impact && len(args) == 0 {
				return &usageError{errors.New("--impact needs a column: backflow lineage --impact raw_hubspot.contacts.lifecyclestage")}
			}
			var res *pipeline.CheckResult
			var err error
			if opts.offline {
				res, err = g.fileLineage(cmd, stdio, opts.project)
			} else {
				res, err = g.preflight(cmd, stdio, opts.project, lookupEnv, nil)
			}
			if res == nil || res.Lineage == nil {
				if err == nil {
					err = errors.New("lineage: the models could not be resolved (see the warnings)")
				}
				return err
			}
			l := res.Lineage
			if len(args) == 0 {
				if opts.json {
					return printOutcome(stdio, g, lineageJSON(l), err)
				}
				printSyncLineage(stdio.Out, l)
				return err
			}
			ref, what, lerr := lookupColumn(l, args[0])
			if lerr != nil {
				return &usageError{lerr}
			}
			if opts.impact || ref.Schema != "models" && what == "" {
				imp := l.Impact(ref)
				if opts.json {
					return printOutcome(stdio, g, impactJSON(ref, imp), err)
				}
				printImpact(stdio.Out, ref, imp)
				return err
			}
			if opts.json {
				return printOutcome(stdio, g, columnJSON(l, ref, what), err)
			}
			printColumn(stdio.Out, l, ref, what)
			return err
		},
	}
	cmd.Flags().StringVar(&opts.project, "project", ".", "project folder (holds backflow.yml)")
	cmd.Flags().BoolVar(&opts.impact, "impact", false, "list every model column, sync and destination field a change to the column would change")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object on stdout")
	cmd.Flags().BoolVar(&opts.offline, "offline", false, "resolve against the tables the DuckDB file holds: no credentials, no API call")
	return cmd
}

// fileLineage loads the project without its credentials and resolves its
// lineage against the DuckDB file alone (--offline).
func (g *globals) fileLineage(cmd *cobra.Command, stdio IO, dir string) (*pipeline.CheckResult, error) {
	g.disp = newDisplay(stdio.ErrOut)
	log, err := g.logger(g.disp)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p, err := g.loadProject(abs)
	if err != nil {
		return nil, err
	}
	res, err := pipeline.FileLineage(cmd.Context(), pipeline.Options{Project: p.Pipeline(), WarehousePath: p.Path(p.Config.Warehouse),
		Logger: log, Now: g.clockFn, LockTimeout: g.lockTimeout})
	if errors.Is(err, fs.ErrNotExist) {
		// No file yet: the project's state, not a failure a rerun fixes.
		err = &usageError{err}
	}
	for _, w := range res.Warnings {
		log.Warn("lineage: " + w)
	}
	return res, err
}

// lookupColumn reads a lineage argument: a model column, a sync field
// (what names it) or a column outside the models.
func lookupColumn(l *pipeline.Lineage, arg string) (ref models.Ref, what string, err error) {
	parts := strings.Split(arg, ".")
	if len(parts) == 2 {
		for _, s := range l.Syncs {
			if !strings.EqualFold(s.Sync, parts[0]) {
				continue
			}
			for _, f := range append([]pipeline.FieldLineage{s.Key}, s.Fields...) {
				if f.Column != "" && (strings.EqualFold(f.Field, parts[1]) || f.Field == "" && strings.EqualFold(f.Column, parts[1])) {
					return models.Ref{Schema: "models", Table: s.Model, Column: f.Column}, fieldName(s, f), nil
				}
			}
			// A sync and its model often share a name: MODEL.COLUMN then,
			// when the model has that column.
			ml := l.Graph().Model(parts[0])
			if ml == nil || !slices.ContainsFunc(ml.Columns, func(c models.ColumnLineage) bool { return strings.EqualFold(c.Column, parts[1]) }) {
				return ref, "", fmt.Errorf("sync %s writes no field %q (backflow lineage lists them)", s.Sync, parts[1])
			}
		}
		parts = append([]string{"models"}, parts...)
	}
	if len(parts) != 3 {
		return ref, "", fmt.Errorf("%q: name a column as models.MODEL.COLUMN, SYNC.FIELD or raw_SOURCE.TABLE.COLUMN", arg)
	}
	ref = models.Ref{Schema: strings.ToLower(parts[0]), Table: parts[1], Column: parts[2]}
	if ref.Schema != "models" {
		return ref, "", nil
	}
	ml := l.Graph().Model(ref.Table)
	if ml == nil {
		return ref, "", fmt.Errorf("%q: no model %s (or it could not be bound: see backflow check)", arg, ref.Table)
	}
	i := slices.IndexFunc(ml.Columns, func(c models.ColumnLineage) bool { return strings.EqualFold(c.Column, ref.Column) })
	if i < 0 {
		return ref, "", fmt.Errorf("%q: models.%s has no column %s", arg, ml.Model, ref.Column)
	}
	ref.Table, ref.Column = ml.Model, ml.Columns[i].Column
	return ref, "", nil
}

func fieldName(s pipeline.SyncLineage, f pipeline.FieldLineage) string {
	if f.Field == "" {
		return fmt.Sprintf("sync %s: key %s (matches %s records)", s.Sync, f.Column, s.Destination)
	}
	return fmt.Sprintf("sync %s: %s field %s", s.Sync, s.Destination, f.Field)
}

func refList(rs []models.Ref) string {
	if len(rs) == 0 {
		return "(a constant)"
	}
	return strings.Join(models.RefNames(rs), ", ")
}

func printSyncLineage(w io.Writer, l *pipeline.Lineage) {
	if len(l.Syncs) == 0 {
		fmt.Fprintln(w, "no syncs to trace")
	}
	for _, s := range l.Syncs {
		fmt.Fprintf(w, "%s (models.%s -> %s)\n", s.Sync, s.Model, s.Destination)
		for _, f := range append([]pipeline.FieldLineage{s.Key}, s.Fields...) {
			if f.Column == "" {
				continue
			}
			name := f.Field
			if name == "" {
				name = "key"
			}
			fmt.Fprintf(w, "  %-28s <- %s\n", name, refList(f.From))
			for _, u := range f.Unknown {
				fmt.Fprintf(w, "  %-28s    unknown: %s\n", "", u)
			}
		}
		if len(s.Key.Rows) > 0 {
			fmt.Fprintf(w, "  %-28s <- %s\n", "(which records)", refList(s.Key.Rows))
		}
	}
	if n := l.Unknown(); n > 0 {
		fmt.Fprintf(w, "%d model columns could not be resolved: backflow lineage --json lists them\n", n)
	}
}

func printColumn(w io.Writer, l *pipeline.Lineage, ref models.Ref, what string) {
	if what != "" {
		fmt.Fprintf(w, "%s\n  written from %s\n", what, ref)
	} else {
		fmt.Fprintln(w, ref)
	}
	ml := l.Graph().Model(ref.Table)
	for _, c := range ml.Columns {
		if c.Column == ref.Column {
			fmt.Fprintf(w, "  reads:        %s\n", refList(c.From))
			if c.Unknown != "" {
				fmt.Fprintf(w, "  unknown:      %s\n", c.Unknown)
			}
		}
	}
	t := l.Graph().Upstream(ref)
	fmt.Fprintf(w, "  sources:      %s\n", refList(t.From))
	if len(t.Rows) > 0 {
		fmt.Fprintf(w, "  rows decided by: %s\n", refList(t.Rows))
	}
	for _, u := range t.Unknown {
		fmt.Fprintf(w, "  unknown:      %s\n", u)
	}
	imp := l.Impact(ref)
	if len(imp.Values)+len(imp.Fields) == 0 {
		fmt.Fprintln(w, "  feeds:        nothing")
		return
	}
	fmt.Fprintln(w, "  feeds:")
	for _, v := range imp.Values {
		fmt.Fprintf(w, "    %s\n", v)
	}
	for _, f := range imp.Fields {
		how := ""
		if !f.Value {
			how = " (which records get it)"
		}
		fmt.Fprintf(w, "    sync %s: %s %s%s\n", f.Sync, f.Destination, orKey(f.Field, f.Column), how)
	}
}

func orKey(field, _ string) string {
	if field == "" {
		return "record key"
	}
	return "field " + field
}

func printImpact(w io.Writer, ref models.Ref, imp pipeline.LineageImpact) {
	fmt.Fprintf(w, "a change to %s changes:\n", ref)
	if len(imp.Values)+len(imp.Rows)+len(imp.Fields) == 0 {
		fmt.Fprintln(w, "  nothing: no model reads it")
		return
	}
	if len(imp.Values) > 0 {
		fmt.Fprintln(w, "  model columns computed from it:")
		for _, v := range imp.Values {
			fmt.Fprintf(w, "    %s\n", v)
		}
	}
	if len(imp.Rows) > 0 {
		fmt.Fprintln(w, "  models whose rows it decides:")
		for _, m := range imp.Rows {
			fmt.Fprintf(w, "    models.%s\n", m)
		}
	}
	if len(imp.Fields) > 0 {
		fmt.Fprintln(w, "  destination fields:")
		for _, f := range imp.Fields {
			how := "its value"
			if !f.Value {
				how = "which records get it"
			}
			fmt.Fprintf(w, "    sync %s: %s %s (%s, from column %s)\n", f.Sync, f.Destination, orKey(f.Field, f.Column), how, f.Column)
		}
	}
}

// The --json shapes: refs as "schema.table.column" strings.

type fieldJSON struct {
	Field   string   `json:"field,omitempty"`
	Column  string   `json:"column"`
	Sources []string `json:"sources"`
	Rows    []string `json:"rows"`
	Via     []string `json:"via"`
	Unknown []string `json:"unknown"`
}

type syncLineageJSON struct {
	Sync        string      `json:"sync"`
	Model       string      `json:"model"`
	Destination string      `json:"destination"`
	Key         fieldJSON   `json:"key"`
	Fields      []fieldJSON `json:"fields"`
}

type modelColumnJSON struct {
	Column  string   `json:"column"`
	Reads   []string `json:"reads"`
	Unknown string   `json:"unknown,omitempty"`
}

type modelLineageJSON struct {
	Model   string            `json:"model"`
	File    string            `json:"file"`
	Columns []modelColumnJSON `json:"columns"`
	Rows    []string          `json:"rows"`
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func traceJSON(f pipeline.FieldLineage) fieldJSON {
	return fieldJSON{Field: f.Field, Column: f.Column, Sources: models.RefNames(f.From), Rows: models.RefNames(f.Rows), Via: models.RefNames(f.Via), Unknown: orEmpty(f.Unknown)}
}

func lineageJSON(l *pipeline.Lineage) any {
	out := struct {
		Syncs   []syncLineageJSON  `json:"syncs"`
		Models  []modelLineageJSON `json:"models"`
		Unknown int                `json:"unknown_columns"`
	}{Syncs: []syncLineageJSON{}, Models: []modelLineageJSON{}, Unknown: l.Unknown()}
	for _, s := range l.Syncs {
		sj := syncLineageJSON{Sync: s.Sync, Model: s.Model, Destination: s.Destination, Key: traceJSON(s.Key), Fields: []fieldJSON{}}
		for _, f := range s.Fields {
			sj.Fields = append(sj.Fields, traceJSON(f))
		}
		out.Syncs = append(out.Syncs, sj)
	}
	for _, m := range l.Models {
		mj := modelLineageJSON{Model: m.Model, File: m.File, Rows: models.RefNames(m.Rows), Columns: []modelColumnJSON{}}
		for _, c := range m.Columns {
			mj.Columns = append(mj.Columns, modelColumnJSON{Column: c.Column, Reads: models.RefNames(c.From), Unknown: c.Unknown})
		}
		out.Models = append(out.Models, mj)
	}
	return out
}

func impactJSON(ref models.Ref, imp pipeline.LineageImpact) any {
	type field struct {
		Sync        string `json:"sync"`
		Destination string `json:"destination"`
		Field       string `json:"field"`
		Column      string `json:"column"`
		Value       bool   `json:"value"`
	}
	out := struct {
		Column string   `json:"column"`
		Values []string `json:"values"`
		Rows   []string `json:"rows"`
		Fields []field  `json:"fields"`
	}{Column: ref.String(), Values: models.RefNames(imp.Values), Rows: orEmpty(imp.Rows), Fields: []field{}}
	for _, f := range imp.Fields {
		out.Fields = append(out.Fields, field{f.Sync, f.Destination, f.Field, f.Column, f.Value})
	}
	return out
}

func columnJSON(l *pipeline.Lineage, ref models.Ref, what string) any {
	t := l.Graph().Upstream(ref)
	return struct {
		Column string    `json:"column"`
		What   string    `json:"what,omitempty"`
		Trace  fieldJSON `json:"upstream"`
		Impact any       `json:"downstream"`
	}{Column: ref.String(), What: what, Trace: traceJSON(pipeline.FieldLineage{Column: ref.Column, Trace: t}), Impact: impactJSON(ref, l.Impact(ref))}
}
