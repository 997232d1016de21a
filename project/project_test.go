package project_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/connector/hubspot"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/project"
)

const goodConfig = `name: t
hubspot:
  extract:
    objects: [contacts]
pendo:
  extract:
    streams: [visitors]
`

const goodSync = `model: traits
destination: pendo
object: visitors
key: visitor_id
fields:
  lifecycle: lifecyclestage
  score: {field: hubspot_score, type: float}
`

func TestLoad(t *testing.T) {
	p, err := project.Load(fstest.MapFS{
		"backflow.yml":     {Data: []byte(goodConfig)},
		"syncs/traits.yml": {Data: []byte(goodSync)},
	}, "proj", builtin.Connectors())
	if err != nil {
		t.Fatal(err)
	}
	if hs, _ := p.Connector("hubspot").(*hubspot.Config); p.Config.Warehouse != "warehouse.duckdb" || p.Config.MemoryLimit != "2GB" || hs == nil || hs.TokenEnv != "HUBSPOT_TOKEN" {
		t.Errorf("defaults not applied: %+v", p.Config)
	}
	if len(p.Syncs) != 1 {
		t.Fatalf("syncs = %d", len(p.Syncs))
	}
	s := p.Syncs[0]
	if s.Name != "traits" || s.Mode != "update" || s.BatchSize != 500 || s.OnRemove != "ignore" || s.Target.String() != "pendo visitors" {
		t.Errorf("sync defaults: %+v", s)
	}
	want := []load.Field{{Column: "lifecycle", Field: "lifecyclestage"}, {Column: "score", Field: "hubspot_score", Type: "float"}}
	if len(s.Fields) != 2 || s.Fields[0] != want[0] || s.Fields[1] != want[1] {
		t.Errorf("fields = %+v", s.Fields)
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		sync   string
		want   string // substring of the error
	}{
		{"unknown_config_field", goodConfig + "colour: blue\n", "", "backflow.yml: line 8: unknown field colour"},
		{"clashing_warehouse", "warehouse: data/backflow.duckdb\n", "", `backflow.yml:1: warehouse: a file named "backflow.duckdb" clashes with the schema backflow`},
		{"bad_yaml", "name: [unclosed\n", "", "backflow.yml: "},
		{"bad_memory_limit", "name: t\nmemory_limit: lots\n", "", `backflow.yml:2: memory_limit: "lots" is not a size such as "2GB"`},
		{"unknown_object", "hubspot:\n  extract:\n    objects: [contacts, Widgets!]\n", "", `backflow.yml:3: hubspot.extract.objects[1]: unknown object "Widgets!"`},
		{"properties_of_unextracted", "hubspot:\n  extract:\n    objects: [contacts]\n    properties:\n      deals: [amount]\n", "", `hubspot.extract.properties.deals: lists properties of "deals"`},
		{"bad_duration", "pendo:\n  extract:\n    event_lookback: eight hours\n", "", `backflow.yml: line 3: "eight hours" is not a duration`},
		{"bad_timezone", "pendo:\n  timezone: Mars/Olympus\n", "", `backflow.yml:2: pendo.timezone: unknown time zone "Mars/Olympus"`},
		{"bad_region", "pendo:\n  region: mars\n", "", `backflow.yml:2: pendo.region: unknown region "mars"`},
		{"sync_missing_key", goodConfig, strings.Replace(goodSync, "key: visitor_id\n", "", 1), "syncs/traits.yml: key: is required"},
		{"hubspot_upsert_by_id", goodConfig, "model: m\ndestination: hubspot\nobject: contacts\nkey: id\nmode: upsert\nfields: {a: b}\n", "syncs/traits.yml:5: mode: upsert needs match"},
		{"hubspot_email_on_deals", goodConfig, "model: m\ndestination: hubspot\nobject: deals\nkey: id\nmatch: email\nfields: {a: b}\n", "syncs/traits.yml:5: match: email identifies contacts only"},
		{"create_needs_key_property", goodConfig, "model: m\ndestination: hubspot\nobject: tasks\nkey: id\nmode: create\nfields: {a: b}\n", "syncs/traits.yml: key_property: create mode needs key_property"},
		{"associations_outside_create", goodConfig, "model: m\ndestination: hubspot\nobject: tasks\nkey: id\nassociations: [{column: c, to: contacts}]\nfields: {a: b}\n", "syncs/traits.yml:5: associations: associations are made when records are created"},
		{"pendo_track_update", goodConfig, "model: m\ndestination: pendo\nobject: track_events\nkey: event_key\nmode: update\nfields: {a: b}\n", "syncs/traits.yml:5: mode: pendo track_events syncs use mode events"},
		{"pendo_unknown_object", goodConfig, "model: m\ndestination: pendo\nobject: guides\nkey: id\nfields: {a: b}\n", `syncs/traits.yml:3: object: pendo syncs support visitors, accounts and track_events, not "guides"`},
		{"hubspot_list_without_name", goodConfig, "model: m\ndestination: hubspot\nobject: lists\nkey: id\nfields: {id: record}\n", "syncs/traits.yml: list: is required for object: lists"},
		{"hubspot_list_pairs_extra_field", goodConfig, "model: m\ndestination: hubspot\nobject: lists\nkey: k\nfields: {l: list, id: record, x: email}\n", "or map two columns for (list, record) pairs"},
		{"hubspot_list_archive", goodConfig, "model: m\ndestination: hubspot\nobject: lists\nlist: PQL\nkey: id\non_remove: archive\nfields: {id: record}\n", "on_remove: a list sync removes members"},
		{"hubspot_list_other_field", goodConfig, "model: m\ndestination: hubspot\nobject: lists\nlist: PQL\nkey: id\nfields: {id: email}\n", `fields: a list sync maps its key, the record id, to "record"`},
		{"hubspot_list_on_objects", goodConfig, "model: m\ndestination: hubspot\nobject: contacts\nlist: PQL\nkey: id\nfields: {a: b}\n", "list: names a HubSpot list"},
		{"hubspot_events_no_event", goodConfig, "model: m\ndestination: hubspot\nobject: events\nkey: event_key\nfields: {a: b}\n", "syncs/traits.yml: event: is required"},
		{"hubspot_events_mode_on_contacts", goodConfig, "model: m\ndestination: hubspot\nobject: contacts\nkey: id\nmode: events\nfields: {a: b}\n", "set object: events and event: <name>"},
		{"pendo_archive", goodConfig, goodSync + "on_remove: archive\n", "syncs/traits.yml:8: on_remove: archive is HubSpot-only"},
		{"archive_by_email", goodConfig, "model: m\ndestination: hubspot\nobject: contacts\nkey: e\nmatch: email\non_remove: archive\nfields: {a: b}\n", "on_remove: archive needs match: id"},
		{"bad_rate_share", goodConfig, goodSync + "rate_limit_share: 1.5\n", "syncs/traits.yml:8: rate_limit_share: must be more than 0 and at most 1"},
		{"sync_bad_destination", goodConfig, strings.Replace(goodSync, "destination: pendo", "destination: salesforce", 1), `syncs/traits.yml:2: destination: must be hubspot or pendo, not "salesforce"`},
		{"sync_unknown_field", goodConfig, goodSync + "colour: blue\n", "syncs/traits.yml: line 8: unknown field colour"},
		{"sync_duplicate_target", goodConfig, goodSync + "  other: lifecyclestage\n", `syncs/traits.yml:8: fields.other: destination field "lifecyclestage" is already mapped on line 6`},
		{"sync_bad_group", goodConfig, goodSync + "group: hubspot\n", `syncs/traits.yml:8: group: pendo metadata group must be custom or agent`},
		{"sync_no_pendo", "name: t\n", goodSync, "syncs/traits.yml: destination: pendo is not configured"},
		{"sync_field_spec_typo", goodConfig, goodSync + "  x: {feild: y}\n", "syncs/traits.yml:8: fields.x: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"backflow.yml": {Data: []byte(tt.config)}}
			if tt.sync != "" {
				fsys["syncs/traits.yml"] = &fstest.MapFile{Data: []byte(tt.sync)}
			}
			_, err := project.Load(fsys, "proj", builtin.Connectors())
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestLoad_NoProject(t *testing.T) {
	_, err := project.Load(fstest.MapFS{}, "somewhere", builtin.Connectors())
	if !errors.Is(err, project.ErrNoProject) {
		t.Fatalf("err = %v", err)
	}
}

func TestProject_Secrets(t *testing.T) {
	p, err := project.Load(fstest.MapFS{"backflow.yml": {Data: []byte(goodConfig)}}, "proj", builtin.Connectors())
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUBSPOT_TOKEN": "pat-x"}
	_, err = p.Secrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "PENDO_INTEGRATION_KEY") || strings.Contains(err.Error(), "HUBSPOT_TOKEN") {
		t.Fatalf("err = %v, want one naming only PENDO_INTEGRATION_KEY", err)
	}
	env["PENDO_INTEGRATION_KEY"] = "k"
	s, err := p.Secrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || s["HUBSPOT_TOKEN"] != "pat-x" || s["PENDO_INTEGRATION_KEY"] != "k" || len(s.Values()) != 2 {
		t.Fatalf("secrets = %+v, err = %v", s, err)
	}
}

func TestLoad_TrackEventSyncDefaults(t *testing.T) {
	p, err := project.Load(fstest.MapFS{"backflow.yml": {Data: []byte(goodConfig)},
		"syncs/milestones.yml": {Data: []byte("model: m\ndestination: pendo\nobject: track_events\nkey: event_key\nfields: {name: event, visitor: visitorId, at: timestamp}\n")}}, "proj", builtin.Connectors())
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Syncs[0]; s.Mode != "events" || s.BatchSize != 100 {
		t.Fatalf("track event sync defaults: mode %q, batch %d; want events and 100", s.Mode, s.BatchSize)
	}
}

func TestLoad_CreateSyncAddsKeyAndAssociationFields(t *testing.T) {
	p, err := project.Load(fstest.MapFS{"backflow.yml": {Data: []byte(goodConfig)},
		"syncs/churn.yml": {Data: []byte("model: m\ndestination: hubspot\nobject: tasks\nkey: task_key\nmode: create\nkey_property: backflow_key\n" +
			"associations:\n  - {column: contact_id, to: contacts}\nfields: {subject: hs_task_subject}\n")}}, "proj", builtin.Connectors())
	if err != nil {
		t.Fatal(err)
	}
	got := p.Syncs[0].Fields
	want := []load.Field{{Column: "subject", Field: "hs_task_subject"}, {Column: "task_key", Field: "backflow_key"}, {Column: "contact_id", Field: "@contacts"}}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fields %v, want %v", got, want)
		}
	}
}
