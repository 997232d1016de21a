// Package warehouse owns backflow's DuckDB file: opening it, creating the
// schemas and internal state tables, installing macros, and ingesting Arrow
// record batches.
//
// Ingest never inserts row by row: a RecordReader is registered as a view on
// one connection and consumed by a single INSERT … SELECT (or CREATE TABLE …
// AS SELECT) on that same connection.
package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"

	embedded "github.com/backflow-dev/backflow/sql"
)

// Warehouse is an open backflow DuckDB file. It is safe for concurrent use;
// each Arrow ingest holds one pooled connection for its duration.
type Warehouse struct {
	db    *sqlx.DB
	path  string
	note  string       // the holder note written beside the file, removed by Close
	views atomic.Int64 // names registered Arrow views uniquely per process
}

// Options tune how the file is opened.
type Options struct {
	// ReadOnly opens the file without taking the writer lock and without
	// creating or migrating anything.
	ReadOnly bool
	// MemoryLimit caps DuckDB's memory (e.g. "2GB"); empty keeps DuckDB's
	// default of 80% of RAM.
	MemoryLimit string
	// LockTimeout is how long Open waits while another process holds the
	// file (DuckDB lets one process write, and a writer shuts out
	// readers). Zero fails at once.
	LockTimeout time.Duration
	// RunStartedAt, when set, is what run_started_at() returns on every
	// connection of this Warehouse: the present of the command that opened
	// it, for models to compute windows from. When zero, the macro
	// installed in the file answers: the start of the latest run.
	RunStartedAt time.Time
	// NoFileAccess forbids every statement on this warehouse to touch a
	// file other than the database itself: no COPY … TO, no ATTACH, no
	// read_csv. For running SQL a user typed (backflow query); DuckDB does
	// not let a statement turn it back on.
	NoFileAccess bool
	// FileMode, when set, is the permission a writable open gives the
	// file (the process's umask decides it otherwise; the CLI's is 077).
	FileMode os.FileMode
	// HolderNote, for a process that keeps the file open (backflow
	// serve), is written beside the file (<file>.holder) while it is
	// open, and shown to anyone the lock keeps out: how to reach the
	// holder instead.
	HolderNote string
	// Constants are macros of no arguments a writable open installs in
	// the file after the shipped ones (name → SQL expression), for
	// settings models read, such as pendo_timezone(). They stay in the
	// file for other DuckDB clients.
	Constants map[string]string
}

// ErrLocked is wrapped by the error Open returns when another process
// held the file for the whole LockTimeout.
var ErrLocked = errors.New("the DuckDB file is in use by another process")

// LockError says who holds the file and what to do.
type LockError struct {
	Path   string
	Holder string // as DuckDB reports it: the program and its PID
	Waited time.Duration
	// Note is the holder's note (Options.HolderNote), when the process
	// holding the lock left one.
	Note string
}

func (e *LockError) Error() string {
	if e.Note != "" {
		return fmt.Sprintf("warehouse: %s is in use by %s; waited %s. %s", e.Path, e.Holder, e.Waited.Round(time.Millisecond), e.Note)
	}
	return fmt.Sprintf("warehouse: %s is in use by %s; waited %s. Another backflow run, or an open DuckDB session (an analyst's CLI, a notebook), "+
		"holds it: close it, let analysts query a published copy (backflow run --publish), or wait longer with --lock-timeout",
		e.Path, e.Holder, e.Waited.Round(time.Millisecond))
}

func (e *LockError) Unwrap() error { return ErrLocked }

// lockHolder finds DuckDB's "Could not set lock" error and the holder it
// names ("/usr/bin/duckdb (PID 4242)").
func lockHolder(err error) (string, bool) {
	msg := err.Error()
	if !strings.Contains(msg, "Could not set lock on file") {
		return "", false
	}
	holder := "another process"
	if _, rest, ok := strings.Cut(msg, "Conflicting lock is held in "); ok {
		holder, _, _ = strings.Cut(rest, " by user")
		holder, _, _ = strings.Cut(holder, ". See also")
	}
	return holder, true
}

// ErrNoFile is returned when a read-only open finds no DuckDB file.
var ErrNoFile = errors.New("no DuckDB file")

// Open opens or creates the DuckDB file at path (":memory:" or "" for an
// in-memory database), creates backflow's schemas and state tables, and
// installs the shipped macros.
func Open(ctx context.Context, path string, opts Options) (*Warehouse, error) {
	if opts.ReadOnly && path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("warehouse: no DuckDB file at %s yet: run backflow run (or backflow extract) first: %w", displayPath(path), ErrNoFile)
		}
	}
	var w *Warehouse
	err := waitLock(ctx, path, opts.LockTimeout, func() error {
		var err error
		w, err = open(ctx, path, opts)
		return err
	})
	return w, err
}

// AttachReadOnly attaches the DuckDB file at path to conn, read-only, as
// alias, waiting up to timeout while another process holds it (then a
// *LockError). Detach it when done.
func AttachReadOnly(ctx context.Context, conn *sql.Conn, path, alias string, timeout time.Duration) error {
	return waitLock(ctx, path, timeout, func() error {
		_, err := conn.ExecContext(ctx, "ATTACH "+Literal(path)+" AS "+Ident(alias)+" (READ_ONLY)")
		return err
	})
}

// waitLock calls try until it succeeds, fails for a reason other than
// DuckDB's file lock, or the lock has been held for timeout.
func waitLock(ctx context.Context, path string, timeout time.Duration, try func() error) error {
	start := time.Now()
	for {
		err := try()
		if err == nil {
			return nil
		}
		holder, locked := lockHolder(err)
		if !locked {
			return err
		}
		if waited := time.Since(start); waited >= timeout {
			return &LockError{Path: displayPath(path), Holder: holder, Waited: waited, Note: holderNote(path, holder)}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("warehouse: waiting for %s held by %s: %w", displayPath(path), holder, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func open(ctx context.Context, path string, opts Options) (*Warehouse, error) {
	dsn := path
	if dsn == ":memory:" {
		dsn = ""
	}
	var params []string
	if opts.ReadOnly {
		params = append(params, "access_mode=READ_ONLY")
	}
	if opts.MemoryLimit != "" {
		params = append(params, "memory_limit="+opts.MemoryLimit)
	}
	if opts.NoFileAccess {
		params = append(params, "enable_external_access=false")
	}
	if len(params) > 0 {
		dsn += "?" + strings.Join(params, "&")
	}
	// Every connection computes in UTC, whatever the machine's zone:
	// DuckDB's default is the local one, so CAST(ts AS DATE) and
	// ts + INTERVAL 1 DAY would give another answer on another machine.
	setup := []string{`SET TimeZone = 'UTC'`}
	if !opts.RunStartedAt.IsZero() {
		// A temporary macro takes precedence over the file's own, inside
		// views and other macros too, and lives only on this connection.
		setup = append(setup, `CREATE OR REPLACE TEMP MACRO run_started_at() AS `+TimeLiteral(opts.RunStartedAt))
	}
	initConn := func(ex driver.ExecerContext) error {
		for _, q := range setup {
			if _, err := ex.ExecContext(context.Background(), q, nil); err != nil {
				return fmt.Errorf("warehouse: set up connection: %s: %w", q, err)
			}
		}
		return nil
	}
	connector, err := duckdb.NewConnector(dsn, initConn)
	if err != nil {
		return nil, fmt.Errorf("warehouse: open %s: %w", displayPath(path), err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "duckdb")
	// The file lock is taken when the database is first opened: ping so a
	// held lock shows here and not at the first query.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("warehouse: open %s: %w", displayPath(path), err)
	}
	w := &Warehouse{db: db, path: path}
	if opts.HolderNote != "" && !opts.ReadOnly && path != "" && path != ":memory:" {
		// The first line is the PID, for holderNote to check it is ours.
		if err := os.WriteFile(path+".holder", fmt.Appendf(nil, "%d\n%s\n", os.Getpid(), opts.HolderNote), 0o600); err != nil {
			db.Close()
			return nil, fmt.Errorf("warehouse: %w", err)
		}
		w.note = opts.HolderNote
	}
	if !opts.ReadOnly {
		if err := w.install(ctx, opts); err != nil {
			db.Close()
			return nil, err
		}
		if opts.FileMode != 0 && path != "" && path != ":memory:" {
			if err := os.Chmod(path, opts.FileMode); err != nil {
				db.Close()
				return nil, fmt.Errorf("warehouse: %w", err)
			}
		}
	}
	return w, nil
}

func displayPath(path string) string {
	if path == "" || path == ":memory:" {
		return "in-memory database"
	}
	return path
}

// install migrates the state tables to Version, then installs the shipped
// data and macros and the caller's constants.
func (w *Warehouse) install(ctx context.Context, opts Options) error {
	if err := w.migrate(ctx, opts.RunStartedAt); err != nil {
		return err
	}
	constants := opts.Constants
	var domains []string
	for _, line := range strings.Split(embedded.FreeEmailDomains, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			domains = append(domains, "("+Literal(line)+")")
		}
	}
	freeMail := `CREATE OR REPLACE TABLE backflow.free_email_domains AS
		SELECT domain FROM (VALUES ` + strings.Join(domains, ", ") + `) t(domain)
		UNION SELECT domain FROM backflow.free_email_domains_extra;`
	for _, script := range []struct{ name, text string }{
		{"free_email_domains.txt", freeMail},
		{"macros.sql", embedded.Macros},
	} {
		if _, err := w.db.ExecContext(ctx, script.text); err != nil {
			return fmt.Errorf("warehouse: install %s into %s: %w", script.name, displayPath(w.path), err)
		}
	}
	// A writer holds the file alone, so a run still "running" at a
	// writable open ended without saying how: killed, out of disk space,
	// crashed. Its recorded batches stand; it is failed, not running.
	for _, q := range []string{
		`UPDATE backflow.runs SET status = 'failed', error = coalesce(error, '` + interrupted + `') WHERE status = 'running'`,
		`UPDATE backflow.sync_runs SET status = 'failed', error = coalesce(error, '` + interrupted + `') WHERE status = 'running'`,
	} {
		if _, err := w.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("warehouse: record interrupted runs in %s: %w", displayPath(w.path), err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(constants)) {
		if _, err := w.db.ExecContext(ctx, `CREATE OR REPLACE MACRO `+Ident(name)+`() AS `+constants[name]); err != nil {
			return fmt.Errorf("warehouse: install macro %s() into %s: %w", name, displayPath(w.path), err)
		}
	}
	return nil
}

// interrupted is the error recorded for a run found still running.
const interrupted = "interrupted: the process ended before recording how the run ended (killed, out of disk space, or a crash); the batches it recorded stand, and the next run sends the rest"

// Path is the file path the warehouse was opened with.
func (w *Warehouse) Path() string { return w.path }

// DB is the connection pool, for state queries.
func (w *Warehouse) DB() *sqlx.DB { return w.db }

// Close closes the file.
func (w *Warehouse) Close() error {
	err := w.db.Close()
	if w.note != "" {
		if rerr := os.Remove(w.path + ".holder"); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("warehouse: %w", rerr))
		}
	}
	return err
}

// holderNote is the note beside path when the process DuckDB names as
// the holder ("… (PID 4242)") wrote it; "" otherwise (a stale note of a
// process that is gone says nothing).
func holderNote(path, holder string) string {
	b, err := os.ReadFile(path + ".holder")
	if err != nil {
		return ""
	}
	pid, note, ok := strings.Cut(string(b), "\n")
	if !ok || !strings.Contains(holder, "(PID "+strings.TrimSpace(pid)+")") {
		return ""
	}
	return strings.TrimSpace(note)
}

// Ident quotes a SQL identifier for DuckDB.
func Ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Table returns schema.name with both parts quoted.
func Table(schema, name string) string {
	return Ident(schema) + "." + Ident(name)
}

// TimeLiteral is a TIMESTAMPTZ literal for t, to the microsecond.
func TimeLiteral(t time.Time) string {
	return "TIMESTAMPTZ " + Literal(t.UTC().Format("2006-01-02 15:04:05.999999Z07:00"))
}

// Literal quotes a SQL string literal.
func Literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Publish writes a read-only copy of the DuckDB file at src to dst, for
// analysts who must never block the runner. The copy goes through DuckDB
// (COPY FROM DATABASE, so committed data still in the write-ahead log is
// included) into dst+".tmp", which is then renamed over dst: a reader
// opens either the old copy or the new one, never half of one.
func Publish(ctx context.Context, src, dst string, lockTimeout time.Duration, mode os.FileMode) error {
	absSrc, err1 := filepath.Abs(src)
	absDst, err2 := filepath.Abs(dst)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("warehouse: publish: %w", err)
	}
	if absSrc == absDst {
		return fmt.Errorf("warehouse: publish: %s is the runner's own file; publish to another path", dst)
	}
	connector, err := duckdb.NewConnector("", nil) // in memory: both files are attached
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	catalog := "__source"
	// Attaching the source read-only waits for, then shuts out, a writer.
	if err := waitLock(ctx, src, lockTimeout, func() error {
		_, err := conn.ExecContext(ctx, `ATTACH `+Literal(absSrc)+` AS `+catalog+` (READ_ONLY)`)
		return err
	}); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH `+catalog)
	return copyTo(ctx, conn, catalog, absDst, mode)
}

// PublishTo writes a read-only copy of this open file at dst, as Publish
// does, through the warehouse's own connection: for a process that keeps
// the file open (backflow serve), which no other can attach meanwhile.
func (w *Warehouse) PublishTo(ctx context.Context, dst string, mode os.FileMode) error {
	absDst, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("warehouse: publish: %w", err)
	}
	if absSrc, err := filepath.Abs(w.path); err == nil && absSrc == absDst {
		return fmt.Errorf("warehouse: publish: %s is the runner's own file; publish to another path", dst)
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var catalog string
	if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&catalog); err != nil {
		return fmt.Errorf("warehouse: publish: %w", err)
	}
	return copyTo(ctx, conn, catalog, absDst, mode)
}

// copyTo copies catalog into a new file beside absDst and renames it over
// absDst, so readers see the old copy or the new, never half of one.
func copyTo(ctx context.Context, conn *sql.Conn, catalog, absDst string, mode os.FileMode) error {
	tmp := absDst + ".tmp"
	os.Remove(tmp)
	for _, q := range []string{
		`ATTACH ` + Literal(tmp) + ` AS __publish`,
		`COPY FROM DATABASE ` + Ident(catalog) + ` TO __publish`,
		`DETACH __publish`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE IF EXISTS __publish`)
			os.Remove(tmp)
			return fmt.Errorf("warehouse: publish %s: %w", absDst, err)
		}
	}
	if mode != 0 {
		if err := os.Chmod(tmp, mode); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("warehouse: publish: %w", err)
		}
	}
	if err := os.Rename(tmp, absDst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("warehouse: publish: %w", err)
	}
	return nil
}

// RowQuerier is what HasTable reads with: a *sql.DB, *sql.Conn or *sqlx.DB.
type RowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// HasTable reports whether schema.table exists in the file q reads. Its
// error is the caller's to return: read as "no", it would hide state.
func HasTable(ctx context.Context, q RowQuerier, schema, table string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database()
		AND table_schema = ? AND table_name = ?`, schema, table).Scan(&n)
	return n > 0, err
}
