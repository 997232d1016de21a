package models_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

var update = flag.Bool("update", false, "rewrite golden files")

// messy stages contacts, companies, visitors and accounts with the usual
// trouble: case and whitespace, plus-addressing, free-mail domains, two
// contacts sharing an email, a shared-id match beating an email match.
func messy(t *testing.T, w *warehouse.Warehouse) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE raw_hubspot.contacts AS SELECT * FROM (VALUES
			('c1', ' Ada@Example.COM ', false, NULL),
			('c2', 'grace+trial@example.com', false, NULL),
			('c3', 'dup@example.com', false, NULL),
			('c4', 'DUP@example.com', false, NULL),
			('c5', 'alan@gmail.com', false, 'v-shared'),
			('c6', 'gone@example.com', true, NULL),
			('c7', NULL, false, NULL),
			('c8', 'solo@example.com', false, NULL)
		) t(id, email, archived, pendo_visitor_id)`,
		`CREATE TABLE raw_pendo.visitors AS SELECT * FROM (VALUES
			('v1', 'ada@example.com' || chr(9), 'acme.io'),
			('v2', 'grace@example.com', 'acme.io'),
			('v3', 'dup@example.com', 'acme.io'),
			('v-shared', 'someone-else@acme.io', 'acme.io'),
			('v5', 'alan@gmail.com', 'globex.com'),
			('v6', 'gone@example.com', NULL),
			('v7', 'x@consult.co', 'acme.io'),
			('v8', 'y@consult.co', 'initech.com')
		) t(visitor_id, agent__email, auto__accountid)`,
		`CREATE TABLE raw_hubspot.companies AS SELECT * FROM (VALUES
			('co1', 'https://www.Acme.io/', false, NULL),
			('co2', 'globex.com', false, NULL),
			('co3', 'gmail.com', false, NULL),
			('co4', 'consult.co', false, NULL),
			('co5', NULL, false, 'initech.com'),
			('co6', 'hooli.com', false, NULL),
			('co7', 'Hooli.com', false, NULL)
		) t(id, domain, archived, pendo_account_id)`,
		`CREATE TABLE raw_pendo.accounts AS SELECT * FROM (VALUES ('acme.io'), ('globex.com'), ('initech.com'), ('hooli.com'), ('Lone Account')) t(account_id)`,
	} {
		if _, err := w.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdentityModels(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   models.Identity
	}{
		{"email_and_domain", models.Identity{}},
		{"with_shared_ids", models.Identity{ContactIDProperty: "pendo_visitor_id", CompanyAccountIDProperty: "pendo_account_id"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := open(t)
			messy(t, w)
			ms, err := models.Load(fstest.MapFS{}, "models", tt.id)
			if err != nil {
				t.Fatal(err)
			}
			ordered, err := models.Resolve(ctx, w.DB(), ms)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := models.Run(ctx, w, ordered); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, q := range []string{
				`SELECT coalesce(contact_id, '-'), coalesce(visitor_id, '-'), coalesce(rule, '-'), status FROM models.identity_contacts_visitors ORDER BY ALL`,
				`SELECT coalesce(company_id, '-'), coalesce(account_id, '-'), coalesce(rule, '-'), status FROM models.identity_companies_accounts ORDER BY ALL`,
			} {
				rows, err := w.DB().Query(q)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var a, c, r, s string
					rows.Scan(&a, &c, &r, &s)
					fmt.Fprintf(&b, "%-4s %-9s %-10s %s\n", a, c, r, s)
				}
				rows.Close()
				b.WriteString("\n")
			}
			golden := filepath.Join("testdata", "identity_"+tt.name+".golden")
			if *update {
				os.WriteFile(golden, []byte(b.String()), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("identity rows differ from %s (-update rewrites it):\n%s", golden, b.String())
			}
		})
	}
}

func TestSelectAndDataTests(t *testing.T) {
	ctx := context.Background()
	w := open(t)
	fsys := fstest.MapFS{
		"models/a.sql":        {Data: []byte("SELECT * FROM (VALUES (1, 'x'), (2, 'y'), (2, 'z'), (NULL, 'q')) t(id, kind)")},
		"models/a.yml":        {Data: []byte("materialized: table\ncolumns:\n  id:\n    tests: [unique, not_null]\n  kind:\n    tests:\n      - accepted_values: [x, y, z]\n")},
		"models/b.sql":        {Data: []byte("SELECT id FROM models.a WHERE id IS NOT NULL")},
		"models/b.yml":        {Data: []byte("columns:\n  id:\n    tests:\n      - relationships: {to: models.c, field: id}\n")},
		"models/c.sql":        {Data: []byte("SELECT 1 AS id")},
		"models/d.sql":        {Data: []byte("SELECT * FROM models.b")},
		"tests/no_threes.sql": {Data: []byte("SELECT * FROM models.a WHERE id = 3")},
	}
	ms, err := models.Load(fsys, "models", models.Identity{})
	if err != nil {
		t.Fatal(err)
	}
	ordered, err := models.Resolve(ctx, w.DB(), ms)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []models.Model) string {
		var n []string
		for _, m := range ms {
			n = append(n, m.Name)
		}
		return strings.Join(n, ",")
	}
	for _, tt := range []struct{ sel, want string }{
		{"", "a,b,c,d"}, // shipped identity models are not built unless read
		{"b", "b"},
		{"+b", "a,b"},
		{"b+", "b,d"},
		{"+b+", "a,b,d"},
		{"+identity_contacts_visitors", "identity_contacts_visitors"},
	} {
		var sel []string
		if tt.sel != "" {
			sel = []string{tt.sel}
		}
		got, err := models.Select(ordered, sel)
		if err != nil || names(got) != tt.want {
			t.Errorf("select %q = %s (%v), want %s", tt.sel, names(got), err, tt.want)
		}
	}
	if _, err := models.Select(ordered, []string{"nope+"}); err == nil {
		t.Error("unknown model selected")
	}
	built, _ := models.Select(ordered, nil)
	if _, err := models.Run(ctx, w, built); err != nil {
		t.Fatal(err)
	}
	var tests []models.Test
	for _, m := range built {
		tests = append(tests, m.Tests...)
	}
	sqlTests, _ := models.SQLTests(fsys, "tests")
	tests = append(tests, sqlTests...)
	want := map[string]int64{"a.id.unique": 1, "a.id.not_null": 1, "a.kind.accepted_values": 1, "b.id.relationships": 2, "no_threes": 0}
	for _, r := range models.RunTests(ctx, w.DB(), tests) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Test.Name, r.Err)
			continue
		}
		if r.Failures != want[r.Test.Name] {
			t.Errorf("%s: %d failures, want %d", r.Test.Name, r.Failures, want[r.Test.Name])
		}
		delete(want, r.Test.Name)
	}
	if len(want) > 0 {
		t.Errorf("tests not run: %v", want)
	}
}

func TestModelYAMLErrors(t *testing.T) {
	for _, tt := range []struct{ yml, want string }{
		{"materialized: ephemeral\n", "models/a.yml: materialized: must be view, table or incremental"},
		{"colums: {}\n", "models/a.yml: line 1: field colums not found"},
		{"columns:\n  id:\n    tests: [uniq]\n", `models/a.yml:3: columns.id.tests: unknown test "uniq"`},
		{"columns:\n  id:\n    tests:\n      - accepted_values: nope\n", "models/a.yml:4: columns.id.tests: accepted_values takes a list"},
	} {
		_, err := models.Load(fstest.MapFS{"models/a.sql": {Data: []byte("SELECT 1 AS id")}, "models/a.yml": {Data: []byte(tt.yml)}}, "models", models.Identity{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.yml, err, tt.want)
		}
	}
}
