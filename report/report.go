// Package report writes one self-contained HTML page about a project's
// DuckDB file: model lineage as a graph and each sync field's column
// lineage, each sync's history as a chart, the top row errors and drift. The page embeds its data and script; it loads
// nothing from the network, so it can be mailed or archived as is.
package report

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/warehouse"
)

// Node is a box in the lineage graph.
type Node struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Kind is source (a raw table), model, shipped (a shipped model),
	// sync, or destination.
	Kind string `json:"kind"`
}

// Edge is data flowing From one node To another.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// SyncRun is one run of a sync.
type SyncRun struct {
	RunID     string `json:"run_id"`
	StartedAt string `json:"started_at"`
	Status    string `json:"status"`
	Pushed    int64  `json:"pushed"`
	Skipped   int64  `json:"skipped"`
	Failed    int64  `json:"failed"`
	Rejected  int64  `json:"rejected"`
	Error     string `json:"error,omitempty"`
}

// Sync is a sync and its recent runs, oldest first.
type Sync struct {
	Name        string    `json:"name"`
	Model       string    `json:"model"`
	Destination string    `json:"destination"`
	Runs        []SyncRun `json:"runs"`
}

// RowError is one kind of row error in a sync's latest run.
type RowError struct {
	Sync       string `db:"sync" json:"sync"`
	Status     string `db:"status" json:"status"`
	Error      string `db:"error" json:"error"`
	Rows       int64  `db:"rows" json:"rows"`
	ExampleKey string `db:"example_key" json:"example_key"`
}

// Drift is one drifted field of a sync: how many records hold an open
// drift on it, and an example (its key, what backflow sent, what the
// destination holds, who changed it).
type Drift struct {
	Sync      string `db:"sync" json:"sync"`
	Field     string `db:"field" json:"field"`
	Records   int64  `db:"records" json:"records"`
	Key       string `db:"example_key" json:"example_key"`
	Sent      string `db:"example_sent" json:"example_sent"`
	Found     string `db:"example_found" json:"example_found"`
	ChangedBy string `db:"changed_by" json:"changed_by"`
}

// FieldLineage is one sync field back to the columns outside the models
// (HubSpot properties in raw_hubspot.*, Pendo fields in raw_pendo.*) its
// value is computed from.
type FieldLineage struct {
	Sync   string `json:"sync"`
	Field  string `json:"field"` // "" for the key
	Model  string `json:"model"`
	Column string `json:"column"`
	// Sources are the raw columns, "schema.table.column"; empty for a
	// constant.
	Sources []string `json:"sources"`
	// Via are the model columns in between.
	Via []string `json:"via"`
	// Unknown says what could not be resolved ("" when nothing).
	Unknown string `json:"unknown,omitempty"`
}

// Data is everything the page shows.
type Data struct {
	Project   string     `json:"project"`
	Warehouse string     `json:"warehouse"`
	Generated string     `json:"generated"`
	Nodes     []Node     `json:"nodes"`
	Edges     []Edge     `json:"edges"`
	Syncs     []Sync     `json:"syncs"`
	Errors    []RowError `json:"errors"`
	Drift     []Drift    `json:"drift"`
	// Columns is column-level lineage, a row per sync field; ColumnsNote
	// says why some or all of it is missing.
	Columns     []FieldLineage `json:"columns"`
	ColumnsNote string         `json:"columns_note,omitempty"`
}

// Collect reads the report's data: lineage from the ordered models and
// the project's syncs, history from backflow.sync_runs (the last runs per
// sync), errors from backflow.sync_rows.
func Collect(ctx context.Context, db *sqlx.DB, p *project.Project, ordered []models.Model, runs int, now time.Time) (*Data, error) {
	d := &Data{Project: p.Config.Name, Warehouse: p.Path(p.Config.Warehouse), Generated: now.UTC().Format(time.RFC3339),
		Nodes: []Node{}, Edges: []Edge{}, Syncs: []Sync{}, Errors: []RowError{}}
	seen := map[string]bool{}
	add := func(n Node) {
		if !seen[n.ID] {
			seen[n.ID] = true
			d.Nodes = append(d.Nodes, n)
		}
	}
	for _, m := range ordered {
		kind := "model"
		if m.Shipped {
			kind = "shipped"
		}
		add(Node{ID: "models." + m.Name, Label: m.Name, Kind: kind})
		reads, err := models.Reads(ctx, db, m)
		if err != nil {
			return nil, err
		}
		for _, r := range reads {
			add(Node{ID: r, Label: r, Kind: "source"})
			d.Edges = append(d.Edges, Edge{From: r, To: "models." + m.Name})
		}
		for _, dep := range m.Depends {
			d.Edges = append(d.Edges, Edge{From: "models." + dep, To: "models." + m.Name})
		}
	}
	for _, s := range p.Syncs {
		dest := s.Destination + " " + s.Object
		add(Node{ID: "sync:" + s.Name, Label: s.Name, Kind: "sync"})
		add(Node{ID: "dest:" + dest, Label: dest, Kind: "destination"})
		if seen["models."+s.Model] {
			d.Edges = append(d.Edges, Edge{From: "models." + s.Model, To: "sync:" + s.Name})
		}
		d.Edges = append(d.Edges, Edge{From: "sync:" + s.Name, To: "dest:" + dest})
		sy := Sync{Name: s.Name, Model: s.Model, Destination: dest, Runs: []SyncRun{}}
		rows, err := db.QueryContext(ctx, `SELECT * FROM (
			SELECT run_id, strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S'), status, applied, skipped, failed, rejected, coalesce(error, '')
			FROM backflow.sync_runs WHERE sync = ? ORDER BY run_id DESC LIMIT ?) ORDER BY 1`, s.Name, runs)
		if err != nil {
			return nil, fmt.Errorf("report: history of %s: %w", s.Name, err)
		}
		for rows.Next() {
			var r SyncRun
			if err := rows.Scan(&r.RunID, &r.StartedAt, &r.Status, &r.Pushed, &r.Skipped, &r.Failed, &r.Rejected, &r.Error); err != nil {
				rows.Close()
				return nil, err
			}
			sy.Runs = append(sy.Runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		d.Syncs = append(d.Syncs, sy)
	}
	if err := db.SelectContext(ctx, &d.Errors, `WITH latest AS (
			SELECT sync, run_id FROM backflow.sync_runs
			QUALIFY row_number() OVER (PARTITION BY sync ORDER BY run_id DESC) = 1)
		SELECT r.sync, r.status, coalesce(r.error, '') AS error, count(*) AS rows, min(r.key) AS example_key
		FROM backflow.sync_rows r JOIN latest USING (sync, run_id)
		WHERE r.status NOT IN ('applied', 'unchanged')
		GROUP BY ALL ORDER BY rows DESC, r.sync, error LIMIT 20`); err != nil {
		return nil, fmt.Errorf("report: top errors: %w", err)
	}
	hasDrift, err := warehouse.HasTable(ctx, db, "backflow", "drift")
	if err != nil {
		return nil, fmt.Errorf("report: look for drift: %w", err)
	}
	if hasDrift {
		if err := db.SelectContext(ctx, &d.Drift, `SELECT sync, field, count(*) AS records,
				arg_min(key, found_at || key) AS example_key, arg_min(coalesce(sent, ''), found_at || key) AS example_sent,
				arg_min(coalesce(found, '(empty)'), found_at || key) AS example_found,
				arg_min(coalesce(source || coalesce(' ' || source_id, '') || coalesce(' user ' || changed_by, ''), ''), found_at || key) AS changed_by
			FROM backflow.drift WHERE resolved_at IS NULL GROUP BY ALL ORDER BY records DESC, sync, field LIMIT 20`); err != nil {
			return nil, fmt.Errorf("report: drift: %w", err)
		}
	}
	if err := columnLineage(ctx, db, p, ordered, d); err != nil {
		return nil, err
	}
	// backflow stores error texts redacted; a file written by an older
	// version, or edited by hand, is scrubbed again before it is shown.
	scrub := redact.New()
	for i := range d.Errors {
		d.Errors[i].Error = scrub.String(d.Errors[i].Error)
	}
	for i := range d.Syncs {
		for j := range d.Syncs[i].Runs {
			d.Syncs[i].Runs[j].Error = scrub.String(d.Syncs[i].Runs[j].Error)
		}
	}
	return d, nil
}

// columnLineage traces each sync field through the models the file has
// built (a model never built, or one that no longer binds, is left out
// and said so).
func columnLineage(ctx context.Context, db *sqlx.DB, p *project.Project, ordered []models.Model, d *Data) error {
	d.Columns = []FieldLineage{}
	var built []models.Model
	var missing []string
	for _, m := range ordered {
		ok, err := warehouse.HasTable(ctx, db, "models", m.Name)
		if err != nil {
			return fmt.Errorf("report: look for models.%s: %w", m.Name, err)
		}
		// A model whose input was never built is left out with it.
		if ok && !slices.ContainsFunc(m.Depends, func(dep string) bool { return slices.Contains(missing, dep) }) {
			built = append(built, m)
		} else {
			missing = append(missing, m.Name)
		}
	}
	ls, err := models.Lineage(ctx, db, built)
	if err != nil {
		d.ColumnsNote = "column lineage could not be resolved: " + err.Error()
		return nil
	}
	if len(missing) > 0 {
		d.ColumnsNote = "not built in this file yet (run backflow run): models." + strings.Join(missing, ", models.")
	}
	g := models.NewColumnGraph(ls)
	for _, s := range p.Syncs {
		if g.Model(s.Model) == nil {
			continue
		}
		fields := append([]load.Field{{Column: s.Key}}, s.Fields...)
		for _, f := range fields {
			if f.Column == "" {
				continue
			}
			t := g.Upstream(models.Ref{Schema: "models", Table: s.Model, Column: f.Column})
			fl := FieldLineage{Sync: s.Name, Field: f.Field, Model: s.Model, Column: f.Column, Sources: models.RefNames(t.From), Via: models.RefNames(t.Via), Unknown: strings.Join(t.Unknown, "; ")}
			d.Columns = append(d.Columns, fl)
		}
	}
	return nil
}

//go:embed page.html
var page string

var pageTemplate = template.Must(template.New("report").Parse(page))

// Write renders the page.
func Write(w io.Writer, d *Data) error {
	return pageTemplate.Execute(w, d)
}
