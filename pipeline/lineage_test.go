package pipeline_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/sandbox"
)

// TestCheck_Lineage: preflight resolves the hubspot-to-pendo-metadata
// recipe's sync fields to HubSpot properties, and once a property a sync
// field is computed from stops being extracted (deleted in HubSpot, left
// out of extract.properties, or its whole stream taken out of extract)
// while the file still holds it, warns naming the sync file, the field
// and the raw column.
func TestCheck_Lineage(t *testing.T) {
	const optInGone = "syncs/hp_visitor_traits.yml: field hubspot_beta_opt_in (column beta_opt_in of models.hp_contact_traits) is computed from raw_hubspot.contacts.beta_opt_in, which extraction no longer produces"
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, sb *sandbox.Sandbox, fsys fstest.MapFS)
		// want starts one warning; every warning names table.
		want, table string
	}{
		{"property deleted in HubSpot", func(t *testing.T, sb *sandbox.Sandbox, _ fstest.MapFS) {
			if err := sb.HubSpot.ArchiveProperty("contacts", "beta_opt_in"); err != nil {
				t.Fatal(err)
			}
		}, optInGone, "raw_hubspot.contacts.beta_opt_in"},
		{"property no longer selected", func(t *testing.T, sb *sandbox.Sandbox, fsys fstest.MapFS) {
			// Every property the models read but beta_opt_in.
			replaceIn(t, fsys, "objects: [contacts, companies]", "objects: [contacts, companies]\n    properties:\n      contacts: [email, firstname, phone, lifecyclestage, hubspotscore, trial_started, createdate]")
		}, optInGone, "raw_hubspot.contacts.beta_opt_in"},
		{"stream no longer extracted", func(t *testing.T, sb *sandbox.Sandbox, fsys fstest.MapFS) {
			replaceIn(t, fsys, "streams: [visitors, accounts]", "streams: [visitors]")
		}, "syncs/hp_account_traits.yml: key account_id (column account_id of models.hp_account_traits) is computed from raw_pendo.accounts.account_id, but no stream writes raw_pendo.accounts any more", "raw_pendo.accounts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := clocktest.Named("afternoon")
			clock := func() time.Time { return now }
			sb, err := sandbox.Start(sandbox.Options{Contacts: 40, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			fsys := copyFS(t, examples.Recipe("hubspot-to-pendo-metadata"))
			db := filepath.Join(t.TempDir(), "w.duckdb")
			p, secrets := sandboxed(t, sb, fsys, "recipe")
			opts := pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Secrets: secrets, Now: clock}
			res, err := pipeline.Check(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			l := res.Lineage
			if l == nil || l.Unknown() != 0 {
				t.Fatalf("lineage %+v, want every column resolved", l)
			}
			optIn := models.Ref{Schema: "raw_hubspot", Table: "contacts", Column: "beta_opt_in"}
			var traced bool
			for _, s := range l.Syncs {
				for _, f := range s.Fields {
					if f.Field == "hubspot_beta_opt_in" {
						traced = len(f.From) == 1 && f.From[0] == optIn
					}
				}
			}
			if !traced {
				t.Errorf("hp_visitor_traits.hubspot_beta_opt_in not traced to %s: %+v", optIn, l.Syncs)
			}
			if imp := l.Impact(optIn); len(imp.Fields) != 1 || imp.Fields[0].Field != "hubspot_beta_opt_in" || !imp.Fields[0].Value {
				t.Errorf("impact of %s = %+v, want the one field hubspot_beta_opt_in", optIn, imp)
			}
			for _, w := range res.Warnings {
				if strings.Contains(w, "no longer produces") || strings.Contains(w, "any more") {
					t.Errorf("before any change: %s", w)
				}
			}
			if _, err := pipeline.Run(ctx, opts); err != nil {
				t.Fatal(err)
			}
			tc.change(t, sb, fsys)
			p, secrets = sandboxed(t, sb, fsys, "recipe")
			opts.Project, opts.Secrets = p.Pipeline(), secrets
			res, err = pipeline.Check(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for _, w := range res.Warnings {
				if strings.Contains(w, "no longer produces") || strings.Contains(w, "any more") {
					found = append(found, w)
				}
			}
			if !slices.ContainsFunc(found, func(w string) bool { return strings.HasPrefix(w, tc.want) }) ||
				slices.ContainsFunc(found, func(w string) bool { return !strings.Contains(w, tc.table) }) {
				t.Errorf("warnings %q, want one starting %q, all about %s", found, tc.want, tc.table)
			}
		})
	}
}

func replaceIn(t *testing.T, fsys fstest.MapFS, old, new string) {
	t.Helper()
	cfg := string(fsys["backflow.yml"].Data)
	if !strings.Contains(cfg, old) {
		t.Fatalf("backflow.yml has no %q", old)
	}
	fsys["backflow.yml"] = &fstest.MapFile{Data: []byte(strings.Replace(cfg, old, new, 1))}
}
