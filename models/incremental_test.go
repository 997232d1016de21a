package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/backflow-dev/backflow/models"
)

// TestIncremental: the first build is whole; the next recomputes only the
// rows at or after the watermark and merges them on the key (a row gone
// at the source stays, as in dbt, until a full refresh); duplicate keys in
// the recomputed rows stop the merge; a changed column list builds whole.
func TestIncremental(t *testing.T) {
	ctx := context.Background()
	w := open(t)
	exec := func(q string) {
		t.Helper()
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE SCHEMA raw_test; CREATE TABLE raw_test.t AS SELECT * FROM (VALUES
		(1, TIMESTAMPTZ '2026-12-01 10:00:00+00', 1), (2, TIMESTAMPTZ '2026-12-01 11:00:00+00', 2), (3, TIMESTAMPTZ '2026-12-01 12:00:00+00', 3)) v(id, updated_at, v)`)
	sqlText := `SELECT id, updated_at, v * 10 AS v10 FROM raw_test.t
WHERE updated_at >= coalesce(incremental_since(), '-infinity'::TIMESTAMPTZ)`
	fsys := fstest.MapFS{
		"models/m.sql": {Data: []byte(sqlText)},
		"models/m.yml": {Data: []byte("materialized: incremental\nunique_key: id\nwatermark: updated_at\n")},
	}
	load := func() []models.Model {
		t.Helper()
		ms, err := models.Discover(fsys, "models")
		if err == nil {
			ms, err = models.Load(fsys, "models", models.Identity{})
		}
		if err != nil {
			t.Fatal(err)
		}
		return []models.Model{ms[0]} // m: the project's come first
	}
	build := func(full bool) models.Result {
		t.Helper()
		res, err := models.RunWith(ctx, w, load(), models.RunOptions{FullRefresh: full})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	table := func() string {
		t.Helper()
		var s string
		if err := w.DB().QueryRow(`SELECT string_agg(id || ':' || v10, ',' ORDER BY id) FROM models.m`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if r := build(false); r.Materialized != "table" || r.Rows != 3 {
		t.Fatalf("first build: %+v, want whole", r)
	}
	exec(`UPDATE raw_test.t SET v = 20, updated_at = TIMESTAMPTZ '2026-12-01 13:00:00+00' WHERE id = 2; DELETE FROM raw_test.t WHERE id = 1`)
	if r := build(false); r.Materialized != "incremental" || r.Merged != 2 || r.Rows != 3 {
		t.Fatalf("second build: %+v; want rows 2 and 3 (at the watermark) recomputed, 3 rows", r)
	}
	if got := table(); got != "1:10,2:200,3:30" {
		t.Fatalf("after the merge: %s", got)
	}
	if r := build(true); r.Materialized != "table" || r.Rows != 2 {
		t.Fatalf("full refresh: %+v, want whole, the row gone at the source gone", r)
	}
	exec(`INSERT INTO raw_test.t VALUES (3, TIMESTAMPTZ '2026-12-01 14:00:00+00', 4), (3, TIMESTAMPTZ '2026-12-01 15:00:00+00', 4)`)
	_, err := models.RunWith(ctx, w, load(), models.RunOptions{})
	var fe *models.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("a duplicate key: %v, want a FileError saying so", err)
	}
	if got := table(); got != "2:200,3:30" {
		t.Fatalf("a refused merge changed the table: %s", got)
	}
	exec(`DELETE FROM raw_test.t WHERE v = 4`)
	fsys["models/m.sql"] = &fstest.MapFile{Data: []byte(strings.Replace(sqlText, "v * 10 AS v10", "v * 10 AS v10, 'x' AS extra", 1))}
	if r := build(false); r.Materialized != "table" {
		t.Fatalf("a new column: %+v, want a whole build", r)
	}
}

func TestIncremental_Config(t *testing.T) {
	for name, yml := range map[string]string{
		"no_unique_key":           "materialized: incremental\nwatermark: updated_at\n",
		"no_watermark":            "materialized: incremental\nunique_key: id\n",
		"key_on_a_table":          "materialized: table\nunique_key: id\n",
		"unknown_materialization": "materialized: ephemeral\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := models.Load(fstest.MapFS{"models/m.sql": {Data: []byte("SELECT 1 AS id")}, "models/m.yml": {Data: []byte(yml)}}, "models", models.Identity{})
			var fe *models.FileError
			if !errors.As(err, &fe) || fe.File != "models/m.yml" {
				t.Fatalf("Load = %v, want an error naming models/m.yml", err)
			}
		})
	}
}
