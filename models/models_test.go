package models_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

func open(t *testing.T) *warehouse.Warehouse {
	t.Helper()
	w, err := warehouse.Open(context.Background(), ":memory:", warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestResolveAndRun(t *testing.T) {
	ctx := context.Background()
	w := open(t)
	fsys := fstest.MapFS{
		"models/c.sql": {Data: []byte("-- reads b through a CTE, and a raw table\nWITH x AS (SELECT * FROM models.b) SELECT x.n + 1 AS n FROM x")},
		"models/b.sql": {Data: []byte("-- materialized: table\nSELECT n * 2 AS n FROM models.a")},
		"models/a.sql": {Data: []byte("SELECT 1 AS n UNION ALL SELECT 2")},
		"models/d.sql": {Data: []byte("SELECT * FROM models.a JOIN models.c USING (n)")},
	}
	ms, err := models.Discover(fsys, "models")
	if err != nil {
		t.Fatal(err)
	}
	ordered, err := models.Resolve(ctx, w.DB(), ms)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ordered {
		names = append(names, m.Name+"<"+strings.Join(m.Depends, ",")+">")
	}
	if got, want := strings.Join(names, " "), "a<> b<a> c<b> d<a,c>"; got != want {
		t.Fatalf("order = %s, want %s", got, want)
	}
	graph := models.Graph(ordered)
	golden := filepath.Join("testdata", "graph.golden")
	if *update {
		os.WriteFile(golden, []byte(graph), 0o644)
	}
	if want, err := os.ReadFile(golden); err != nil || graph != string(want) {
		t.Errorf("graph differs from %s (-update rewrites it; err %v):\n%s", golden, err, graph)
	}
	res, err := models.Run(ctx, w, ordered)
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Rows != 2 || res[0].Rows != -1 {
		t.Errorf("results = %v", res)
	}
	var sum int
	if err := w.DB().QueryRowContext(ctx, "SELECT sum(n) FROM models.c").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 8 { // (2+1) + (4+1)
		t.Errorf("sum = %d, want 8", sum)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing_model", map[string]string{"models/a.sql": "SELECT * FROM models.nope"}, "models/a.sql: reads models.nope, but there is no models/nope.sql"},
		{"cycle", map[string]string{"models/a.sql": "SELECT * FROM models.b", "models/b.sql": "SELECT * FROM models.a"}, "dependency cycle: models/a.sql, models/b.sql"},
		{"syntax_error_line", map[string]string{"models/a.sql": "-- header\nSELECT 1\nFROM FROM x"}, "models/a.sql:3: Parser Error"},
		{"two_statements", map[string]string{"models/a.sql": "SELECT 1; SELECT 2"}, "exactly one SELECT"},
		{"binder_error_line", map[string]string{"models/a.sql": "-- header\n\nSELECT nosuchcol\nFROM (SELECT 1 AS n)"}, "models/a.sql:3: Binder Error"},
		{"bad_materialized", map[string]string{"models/a.sql": "-- materialized: ephemeral\nSELECT 1"}, "materialized: must be view, table or incremental"},
		{"incremental_without_key", map[string]string{"models/a.sql": "-- materialized: incremental\nSELECT 1"}, "incremental needs unique_key and watermark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := open(t)
			fsys := fstest.MapFS{}
			for k, v := range tt.files {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			ms, err := models.Discover(fsys, "models")
			if err == nil {
				ms, err = models.Resolve(ctx, w.DB(), ms)
			}
			if err == nil {
				_, err = models.Run(ctx, w, ms)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMacros(t *testing.T) {
	w := open(t)
	tests := []struct{ expr, want string }{
		{"normalize_email('  Ada.Lovelace@Example.COM ')", "ada.lovelace@example.com"},
		{"normalize_email('a+tag@x.com')", "a+tag@x.com"},
		{"normalize_email(chr(9) || 'Tab@X.com' || chr(10))", "tab@x.com"},
		{"coalesce(normalize_email('   '), 'NULL')", "NULL"},
		{"email_domain(' Bob@Gmail.com')", "gmail.com"},
	}
	for _, tt := range tests {
		var got string
		if err := w.DB().QueryRow("SELECT " + tt.expr).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
