package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

// CheckResult is what preflight checked and what it found.
type CheckResult struct {
	// Checks says what was checked, one line each, for people.
	Checks []string
	// Problems are project and credential mistakes, each naming its file
	// (and line) or connector: any one stops a run before data moves.
	Problems []error
	// Unreachable are connectors whose API did not answer: not the
	// project's fault, so a retry may succeed.
	Unreachable []error
	// Warnings are what could not be checked, and why.
	Warnings []string
	// Lineage is the column lineage of the models bound and the syncs
	// checked (nil when preflight stopped before the models).
	Lineage  *Lineage
	Duration time.Duration
}

// CheckError is Check's error when it found problems: the project (or its
// credentials) must be fixed before a run can move data.
type CheckError struct{ Problems []error }

func (e *CheckError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	noun := "problem"
	if len(msgs) > 1 {
		noun = "problems"
	}
	return fmt.Sprintf("preflight found %d %s:\n  %s", len(msgs), noun, strings.Join(msgs, "\n  "))
}

// Check is preflight: everything that can be known before data moves,
// every problem at once. It reads the project's DuckDB file only to learn
// the staged tables' columns (read-only; nothing there changes, and a
// project without one is checked all the same); it sends nothing. In
// order: the syncs asked for; each connector's credentials (one cheap
// call each); the staged schema (each source's streams as its API defines
// them, with the columns the file holds); the models, parsed and bound
// against it in a throwaway database; each sync's model, key, columns and
// destination fields and types (the destinations' schema endpoints); the
// data tests, bound. It returns *CheckError when there are problems, and
// another error when a connector's API did not answer (and nothing else
// was wrong).
func Check(ctx context.Context, opts Options) (*CheckResult, error) {
	start := time.Now()
	res := &CheckResult{}
	err := check(ctx, opts, res)
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	scrub := opts.scrub()
	for i, p := range res.Problems {
		res.Problems[i] = scrub.Wrap(p)
	}
	switch {
	case len(res.Problems) > 0:
		return res, &CheckError{Problems: res.Problems}
	case len(res.Unreachable) > 0:
		return res, scrub.Wrap(errors.Join(res.Unreachable...))
	}
	return res, nil
}

func check(ctx context.Context, opts Options, res *CheckResult) error {
	p := opts.Project
	problem := func(err error) { res.Problems = append(res.Problems, err) }
	if err := checkSyncs(p, opts.Syncs); err != nil {
		problem(err)
	}
	res.Checks = append(res.Checks, fmt.Sprintf("config: backflow.yml, %d connectors, %d syncs", len(p.Connectors), len(p.Syncs)))

	sessions, err := opts.sessions()
	if err != nil {
		problem(err)
		return nil
	}
	scratch, closeScratch, err := openScratch(ctx, opts)
	if err != nil {
		return err
	}
	defer closeScratch()
	db := scratch.DB()
	// The file first: a run could not open a file another process holds,
	// and that is quick to know.
	tables := 0
	if _, err := os.Stat(opts.WarehousePath); err == nil {
		n, err := copyStagedShapes(ctx, db, opts.WarehousePath, opts.LockTimeout)
		switch {
		case errors.Is(err, warehouse.ErrLocked):
			return err
		case err != nil:
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: staged columns not read: %v", opts.WarehousePath, firstLine(err.Error())))
		}
		tables += n
	}
	verified := map[string]bool{}
	for _, c := range p.Connectors {
		v, ok := sessions[c.Name].(connector.Verifier)
		if !ok {
			verified[c.Name] = true
			continue
		}
		timeout := cmp.Or(opts.ReachTimeout, 20*time.Second)
		vctx, cancel := context.WithTimeout(ctx, timeout)
		err := v.Verify(vctx)
		cancel()
		switch {
		case err == nil:
			verified[c.Name] = true
			res.Checks = append(res.Checks, "credentials: "+c.Name+" accepted")
		case errors.Is(err, connector.ErrCredentials):
			problem(err)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			res.Unreachable = append(res.Unreachable, fmt.Errorf("%s: no answer within %s (--reach-timeout): %w", c.Name, timeout, err))
		default:
			res.Unreachable = append(res.Unreachable, err)
		}
	}

	produced := map[string]map[string]bool{}
	unknown, err := stageShapes(ctx, opts, sessions, verified, db, res, tables, produced)
	if err != nil {
		return err
	}

	ms, ordered, bound, ok := bindModels(ctx, db, p, opts.Select, unknown, res)
	if !ok {
		return nil
	}
	if lin, err := lineage(ctx, db, p, opts.Syncs, ordered, bound, produced); err != nil {
		res.Warnings = append(res.Warnings, "column lineage not resolved: "+firstLine(err.Error()))
	} else {
		res.Lineage = lin
		res.Checks = append(res.Checks, fmt.Sprintf("lineage: %d sync fields traced through %d model columns, %d unknown", lin.Fields(), lin.Columns(), lin.Unknown()))
		res.Warnings = append(res.Warnings, lin.vanished()...)
	}

	checked := 0
	for _, s := range p.Syncs {
		if len(opts.Syncs) > 0 && !slices.Contains(opts.Syncs, s.Spec.Name) {
			continue
		}
		if !slices.ContainsFunc(ms, func(m models.Model) bool { return m.Name == s.Spec.Model }) {
			problem(&models.FileError{File: s.Spec.File, Err: fmt.Errorf("model: no model %q: there is no models/%s.sql", s.Spec.Model, s.Spec.Model)})
			continue
		}
		if !bound[s.Spec.Model] || !verified[s.Destination] {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: destination fields not checked: its model or %s could not be checked", s.Spec.File, s.Destination))
			continue
		}
		cols, err := columnTypes(ctx, db, s.Spec.Model)
		if err != nil {
			return err
		}
		dest, err := sessions[s.Destination].Destination(s.Target, s.RateLimitShare)
		if err != nil {
			problem(fmt.Errorf("%s: %w", s.Spec.File, err))
			continue
		}
		for _, e := range load.Check(ctx, s.Spec, dest, cols) {
			if apiFailure(e) {
				res.Unreachable = append(res.Unreachable, e)
			} else {
				problem(e)
			}
		}
		checked++
	}
	res.Checks = append(res.Checks, fmt.Sprintf("syncs: %d checked: model, key, columns, destination fields and types", checked))

	tests, err := DataTests(p, ordered, len(opts.Select) == 0)
	if err != nil {
		problem(err)
		return nil
	}
	nTests := 0
	for _, t := range tests {
		if t.Model != "" && !bound[t.Model] {
			continue
		}
		if t.Model == "" {
			reads, err := models.ReadsModels(ctx, db, t.File, t.SQL)
			if err != nil {
				problem(err)
				continue
			}
			if i := slices.IndexFunc(reads, func(r string) bool { return !slices.ContainsFunc(ms, func(m models.Model) bool { return m.Name == r }) }); i >= 0 {
				problem(&models.FileError{File: t.File, Err: fmt.Errorf("test %s reads models.%s, but there is no models/%s.sql", t.Name, reads[i], reads[i])})
				continue
			}
			if i := slices.IndexFunc(reads, func(m string) bool { return !bound[m] }); i >= 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: not bound: reads models.%s, which could not be checked", t.File, reads[i]))
				continue
			}
		}
		if _, err := db.ExecContext(ctx, "SELECT * FROM ("+t.SQL+") LIMIT 0"); err != nil {
			problem(&models.FileError{File: t.File, Err: fmt.Errorf("test %s: %s", t.Name, firstLine(err.Error()))})
			continue
		}
		nTests++
	}
	res.Checks = append(res.Checks, fmt.Sprintf("data tests: %d bound", nTests))
	return nil
}

// openScratch opens the throwaway database preflight binds the models in;
// the function returned closes and removes it.
func openScratch(ctx context.Context, opts Options) (*warehouse.Warehouse, func(), error) {
	dir, err := os.MkdirTemp("", "backflow-check-")
	if err != nil {
		return nil, nil, err
	}
	w, err := warehouse.Open(ctx, filepath.Join(dir, "check.duckdb"), warehouse.Options{RunStartedAt: opts.now()(), Constants: opts.Project.Constants})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("preflight: open a scratch database: %w", err)
	}
	return w, func() { w.Close(); os.RemoveAll(dir) }, nil
}

// bindModels parses, orders and binds the project's models (selected by
// selectors) in db as views, reporting into res; unknown are the raw
// schemas whose shape is not known, with why (models reading them are not
// bound). ok is false when the models could not be ordered at all.
func bindModels(ctx context.Context, db *sqlx.DB, p *Project, selectors []string, unknown map[string]string, res *CheckResult) (ms, ordered []models.Model, bound map[string]bool, ok bool) {
	problem := func(err error) { res.Problems = append(res.Problems, err) }
	ms, err := p.models()
	if err != nil {
		problem(err)
		return nil, nil, nil, false
	}
	// A model that does not parse is reported and stands in as an empty
	// query, so the others are still ordered and bound; what reads it is
	// not bound.
	broken := map[string]bool{}
	for i, m := range ms {
		if _, err := models.CanonicalSelect(ctx, db, m.File, m.SQL); err != nil {
			problem(err)
			broken[m.Name] = true
			ms[i].SQL = "SELECT 1"
		}
	}
	ordered, err = models.Resolve(ctx, db, ms)
	if err == nil {
		ordered, err = models.Select(ordered, selectors)
	}
	if err != nil {
		problem(err)
		return nil, nil, nil, false
	}
	bound, errs, skipped := models.Bind(ctx, db, ordered, func(m models.Model) string {
		if broken[m.Name] {
			return "broken"
		}
		reads, _ := models.Reads(ctx, db, m)
		for _, r := range reads {
			if why := unknown[strings.SplitN(r, ".", 2)[0]]; why != "" {
				return why
			}
		}
		return ""
	})
	for _, e := range errs {
		problem(e)
	}
	for _, m := range ordered {
		if why := skipped[m.Name]; why != "" && !broken[m.Name] {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: not bound: %s", m.File, why))
		}
	}
	res.Checks = append(res.Checks, fmt.Sprintf("models: %d parsed, %d bound against the staged schema", len(ordered), len(bound)))
	return ms, ordered, bound, true
}

// stageShapes creates, empty, every table the sources would stage: each
// stream as its API defines it (with the tables derived from it), beside
// the tables copied from the DuckDB file (tables of them), with the
// columns of both. It returns the raw schemas whose shape is unknown (their
// connector could not be asked), with the reason.
func stageShapes(ctx context.Context, opts Options, sessions map[string]connector.Session, verified map[string]bool, db *sqlx.DB, res *CheckResult, tables int, produced map[string]map[string]bool) (map[string]string, error) {
	unknown := map[string]string{}
	for _, c := range opts.Project.Connectors {
		src := sessions[c.Name].Source()
		if src == nil {
			continue
		}
		if !verified[c.Name] {
			unknown["raw_"+c.Name] = c.Name + " could not be asked for its schema"
			continue
		}
		streams, err := src.Streams(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if apiFailure(err) {
				res.Unreachable = append(res.Unreachable, fmt.Errorf("%s: extract: %w", c.Name, err))
			} else {
				res.Problems = append(res.Problems, fmt.Errorf("%s: extract: %w", c.Name, err))
			}
			unknown["raw_"+c.Name] = "its streams could not be described"
			continue
		}
		// Described whole: a table of this schema no stream produces is
		// no longer extracted.
		produced["raw_"+c.Name] = nil
		for _, st := range streams {
			if err := createShape(ctx, db, st); err != nil {
				return nil, fmt.Errorf("preflight: %s: %w", st.Name, err)
			}
			cols := map[string]bool{}
			for _, f := range st.Arrow.Fields() {
				cols[f.Name] = true
			}
			produced[st.Schema+"."+st.Table] = cols
			for _, t := range st.Derived {
				// Derived just now from the stream's shape: its columns are
				// what extraction will write.
				var names []string
				if err := db.SelectContext(ctx, &names, `SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?`, st.Schema, t); err != nil {
					return nil, fmt.Errorf("preflight: %s: %w", st.Name, err)
				}
				derived := map[string]bool{}
				for _, n := range names {
					derived[n] = true
				}
				produced[st.Schema+"."+t] = derived
			}
			tables++
		}
	}
	res.Checks = append(res.Checks, fmt.Sprintf("staged schema: %d tables, from the APIs' definitions and the DuckDB file", tables))
	return unknown, nil
}

// copyStagedShapes creates, empty, the raw tables the DuckDB file at path
// holds, read-only.
func copyStagedShapes(ctx context.Context, db *sqlx.DB, path string, lockTimeout time.Duration) (int, error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := warehouse.AttachReadOnly(ctx, conn.Conn, path, "staged", lockTimeout); err != nil {
		return 0, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH staged")
	var names []struct {
		Schema string `db:"table_schema"`
		Table  string `db:"table_name"`
	}
	if err := conn.SelectContext(ctx, &names, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_catalog = 'staged' AND table_schema LIKE 'raw\_%' ESCAPE '\' ORDER BY 1, 2`); err != nil {
		return 0, err
	}
	for _, n := range names {
		for _, q := range []string{
			"CREATE SCHEMA IF NOT EXISTS " + warehouse.Ident(n.Schema),
			"CREATE OR REPLACE TABLE " + warehouse.Table(n.Schema, n.Table) + " AS SELECT * FROM staged." + warehouse.Table(n.Schema, n.Table) + " LIMIT 0",
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return 0, err
			}
		}
	}
	return len(names), nil
}

// createShape creates a stream's table empty, or adds the columns a table
// copied from the file lacks, and runs the SQL that derives tables from it.
func createShape(ctx context.Context, db *sqlx.DB, st extract.Stream) error {
	table := warehouse.Table(st.Schema, st.Table)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+warehouse.Ident(st.Schema)); err != nil {
		return err
	}
	var have []string
	if err := db.SelectContext(ctx, &have, `SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?`, st.Schema, st.Table); err != nil {
		return err
	}
	if len(have) == 0 {
		cols := make([]string, len(st.Arrow.Fields()))
		for i, f := range st.Arrow.Fields() {
			cols[i] = warehouse.Ident(f.Name) + " " + extract.DuckType(f.Type)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" ("+strings.Join(cols, ", ")+")"); err != nil {
			return err
		}
	} else {
		for _, f := range st.Arrow.Fields() {
			if !slices.Contains(have, f.Name) {
				if _, err := db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+warehouse.Ident(f.Name)+" "+extract.DuckType(f.Type)); err != nil {
					return err
				}
			}
		}
	}
	if st.After != "" {
		if _, err := db.ExecContext(ctx, st.After); err != nil {
			return fmt.Errorf("derive from %s: %w", table, err)
		}
	}
	return nil
}

// columnTypes are a model's columns and their DuckDB types.
func columnTypes(ctx context.Context, db *sqlx.DB, model string) (map[string]string, error) {
	var cols []struct {
		Name string `db:"column_name"`
		Type string `db:"column_type"`
	}
	if err := db.SelectContext(ctx, &cols, "SELECT column_name, column_type FROM (DESCRIBE "+warehouse.Table("models", model)+")"); err != nil {
		return nil, fmt.Errorf("preflight: describe models.%s: %w", model, err)
	}
	out := map[string]string{}
	for _, c := range cols {
		out[c.Name] = c.Type
	}
	return out, nil
}

// apiFailure reports an error that is the API's or the network's, not
// the project's: no answer, a timeout, or an answer that refuses nothing
// (a 5xx, a 429: the clients' errors say so with Temporary).
func apiFailure(err error) bool {
	var t interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &t) && t.Temporary() || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
