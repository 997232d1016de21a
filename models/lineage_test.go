package models_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestLineage resolves testdata/lineage/models (one model per SQL form:
// macros, CASE, CTEs, joins of each kind, aggregates, windows, UNION and
// EXCEPT, subqueries, SELECT * with EXCLUDE/REPLACE/RENAME, VALUES,
// range(), recursive CTEs, lambdas, and what cannot be resolved) against
// the tables of raw.sql, and compares with lineage.golden.
func TestLineage(t *testing.T) {
	ctx := context.Background()
	w := open(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "lineage", "raw.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().ExecContext(ctx, string(raw)); err != nil {
		t.Fatal(err)
	}
	ms, err := models.Discover(os.DirFS(filepath.Join("testdata", "lineage")), "models")
	if err != nil {
		t.Fatal(err)
	}
	got := lineageOf(t, w, ms)
	var b strings.Builder
	for _, ml := range got {
		fmt.Fprintf(&b, "models.%s", ml.Model)
		if ml.Unknown != "" {
			fmt.Fprintf(&b, " (unknown: %s)", ml.Unknown)
		}
		b.WriteString("\n")
		for _, c := range ml.Columns {
			if c.Unknown != "" {
				fmt.Fprintf(&b, "  %s <- unknown: %s", c.Column, c.Unknown)
			} else {
				fmt.Fprintf(&b, "  %s <- %s", c.Column, refs(c.From))
			}
			b.WriteString("\n")
		}
		if len(ml.Rows) > 0 {
			fmt.Fprintf(&b, "  rows <- %s\n", refs(ml.Rows))
		}
		if ml.RowsUnknown != "" {
			fmt.Fprintf(&b, "  rows <- unknown: %s\n", ml.RowsUnknown)
		}
	}
	// Followed through the models: up to the raw columns, down to what a
	// raw column feeds.
	g := models.NewColumnGraph(got)
	b.WriteString("\nupstream\n")
	for _, c := range []string{"j_reads_model.email", "j_reads_model.events", "k_unknown.num_events"} {
		model, column, _ := strings.Cut(c, ".")
		tr := g.Upstream(models.Ref{Schema: "models", Table: model, Column: column})
		fmt.Fprintf(&b, "  models.%s <- %s\n    via %s\n    rows %s\n", c, refs(tr.From), refs(tr.Via), refs(tr.Rows))
		for _, u := range tr.Unknown {
			fmt.Fprintf(&b, "    unknown %s\n", u)
		}
	}
	b.WriteString("\ndownstream\n")
	for _, r := range []models.Ref{{Schema: "raw_hubspot", Table: "contacts", Column: "email"}, {Schema: "raw_pendo", Table: "events", Column: "day"}} {
		imp := g.Downstream(r)
		fmt.Fprintf(&b, "  %s -> %s\n    rows of %s\n", r, refs(imp.Values), strings.Join(imp.Rows, ", "))
	}
	golden := filepath.Join("testdata", "lineage", "lineage.golden")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	if want, err := os.ReadFile(golden); err != nil || b.String() != string(want) {
		t.Errorf("lineage differs from %s (-update rewrites it; err %v):\n%s", golden, err, b.String())
	}
}

func refs(rs []models.Ref) string {
	if len(rs) == 0 {
		return "(constant)"
	}
	return strings.Join(models.RefNames(rs), ", ")
}

// lineageOf orders and binds models in w (as views) and resolves them.
func lineageOf(t *testing.T, w *warehouse.Warehouse, ms []models.Model) []models.ModelLineage {
	t.Helper()
	ctx := context.Background()
	ordered, err := models.Resolve(ctx, w.DB(), ms)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs, _ := models.Bind(ctx, w.DB(), ordered, func(models.Model) string { return "" }); len(errs) > 0 {
		t.Fatal(errs)
	}
	ls, err := models.Lineage(ctx, w.DB(), ordered)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// TestLineage_ShippedIdentity: the shipped identity models, with and
// without the shared-id rules, resolve with no column unknown, each key
// back to the HubSpot and Pendo ids.
func TestLineage_ShippedIdentity(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   models.Identity
	}{
		{"email and domain", models.Identity{}},
		{"shared ids", models.Identity{ContactIDProperty: "pendo_visitor_id", CompanyAccountIDProperty: "pendo_account_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := open(t)
			for _, q := range []string{
				`CREATE TABLE raw_hubspot.contacts (id VARCHAR, email VARCHAR, archived BOOLEAN, pendo_visitor_id VARCHAR)`,
				`CREATE TABLE raw_hubspot.companies (id VARCHAR, domain VARCHAR, archived BOOLEAN, pendo_account_id VARCHAR)`,
				`CREATE TABLE raw_pendo.visitors (visitor_id VARCHAR, agent__email VARCHAR, auto__accountid VARCHAR)`,
				`CREATE TABLE raw_pendo.accounts (account_id VARCHAR)`,
			} {
				if _, err := w.DB().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := models.Shipped(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			ls := lineageOf(t, w, ms)
			got := map[string]string{}
			for _, ml := range ls {
				for _, c := range ml.Columns {
					if c.Unknown != "" {
						t.Errorf("models.%s.%s: unknown: %s", ml.Model, c.Column, c.Unknown)
					}
					got[ml.Model+"."+c.Column] = refs(c.From)
				}
			}
			for col, want := range map[string]string{
				"identity_contacts_visitors.contact_id":  "raw_hubspot.contacts.id",
				"identity_contacts_visitors.visitor_id":  "raw_pendo.visitors.visitor_id",
				"identity_contacts_visitors.rule":        "(constant)",
				"identity_companies_accounts.company_id": "raw_hubspot.companies.id",
				"identity_companies_accounts.account_id": "raw_pendo.accounts.account_id, raw_pendo.visitors.auto__accountid",
			} {
				if got[col] != want {
					t.Errorf("%s <- %s, want %s", col, got[col], want)
				}
			}
		})
	}
}
