package builtin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// TestTypeTable checks, through both connectors as a project configures
// them, every cell of docs/types.md: a HubSpot value of
// each property type is extracted, staged as the documented DuckDB type,
// and synced to a Pendo field of the documented type, where Pendo holds
// the documented value. The reverse direction (Pendo → DuckDB → HubSpot
// text) is checked with the shipped macros.
func TestTypeTable(t *testing.T) {
	cells := []struct {
		prop, typ, fieldType, value string
		duck                        string // staged column type
		pendoType                   string // Pendo field type it feeds
		pendo                       any    // what Pendo then holds
	}{
		{"t_text", "string", "text", "Ada", "VARCHAR", "string", "Ada"},
		{"t_phone", "string", "phonenumber", "+1 555 0100", "VARCHAR", "string", "+1 555 0100"},
		{"t_phone_type", "phone_number", "phonenumber", "+44 20 7946 0000", "VARCHAR", "string", "+44 20 7946 0000"},
		{"t_select", "enumeration", "select", "gold", "VARCHAR", "string", "gold"},
		{"t_radio", "enumeration", "radio", "gold", "VARCHAR", "string", "gold"},
		{"t_checkboxes", "enumeration", "checkbox", "gold;silver", "VARCHAR", "string", "gold;silver"},
		{"t_number", "number", "number", "42.5", "DOUBLE", "float", 42.5},
		{"t_score", "number", "calculation_equation", "87", "DOUBLE", "float", 87.0},
		{"t_checkbox", "bool", "booleancheckbox", "true", "BOOLEAN", "boolean", true},
		{"t_date", "date", "date", "2026-03-01", "DATE", "time", int64(1772323200000)},
		{"t_datetime", "datetime", "date", "2026-03-01T12:30:00.000Z", "TIMESTAMP WITH TIME ZONE", "time", int64(1772368200000)},
		{"t_file", "string", "file", "88123", "VARCHAR", "string", "88123"},
	}
	ctx := context.Background()
	hs := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 100_000})
	opts := []hubspottest.Option{{Label: "Gold", Value: "gold"}, {Label: "Silver", Value: "silver"}}
	props := map[string]string{}
	for _, c := range cells {
		p := hubspottest.Property{Name: c.prop, Label: c.prop, Type: c.typ, FieldType: c.fieldType, GroupName: "contactinformation"}
		if c.typ == "enumeration" {
			p.Options = opts
		}
		if err := hs.AddProperty("contacts", p); err != nil {
			t.Fatal(err)
		}
		props[c.prop] = c.value
	}
	props["email"] = "ada@example.com"
	if _, err := hs.CreateObject("contacts", props); err != nil {
		t.Fatal(err)
	}
	hsrv := httptest.NewServer(hs)
	defer hsrv.Close()
	w, err := warehouse.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pd := pendotest.New(pendotest.Options{IntegrationKey: "k"})
	psrv := httptest.NewServer(pd)
	defer psrv.Close()
	p := loadProject(t, fmt.Sprintf("hubspot:\n  base_url: %s\n  extract:\n    objects: [contacts]\npendo:\n  base_url: %s\n", hsrv.URL, psrv.URL),
		"model: types\ndestination: pendo\nobject: visitors\nkey: visitor_id\nbatch_size: 500\nfields:\n"+typeFields(cells))
	hsSession, pdSession := open(t, p, "hubspot"), open(t, p, "pendo")
	if _, err := extract.Run(ctx, w, "r1", []extract.Source{hsSession.Source()}, extract.Options{}); err != nil {
		t.Fatal(err)
	}

	pd.PutVisitor("v1", nil)
	for _, c := range cells {
		var duck string
		if err := w.DB().QueryRow(`SELECT data_type FROM information_schema.columns WHERE table_schema = 'raw_hubspot' AND table_name = 'contacts' AND column_name = ?`, c.prop).Scan(&duck); err != nil {
			t.Fatalf("%s: %v", c.prop, err)
		}
		if duck != c.duck {
			t.Errorf("HubSpot %s (%s) is staged as %s, docs say %s", c.typ, c.fieldType, duck, c.duck)
		}
		pd.AddField("visitor", "custom", c.prop, c.pendoType)
	}
	if _, err := w.DB().Exec(`CREATE TABLE models.types AS SELECT 'v1' AS visitor_id, * EXCLUDE (id) FROM raw_hubspot.contacts`); err != nil {
		t.Fatal(err)
	}
	s := p.Syncs[0]
	dest, err := pdSession.Destination(s.Target, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := load.Sync(ctx, w, "r1", s.Spec, dest)
	if err != nil || res.Applied != 1 {
		t.Fatalf("sync: %v %v", res, err)
	}
	md, _ := pd.Visitor("v1")
	for _, c := range cells {
		got, _ := json.Marshal(md["custom"][c.prop])
		want, _ := json.Marshal(c.pendo)
		if string(got) != string(want) {
			t.Errorf("HubSpot %s (%s) %q reached Pendo %s as %s, docs say %s", c.typ, c.fieldType, c.value, c.pendoType, got, want)
		}
	}

	// Pendo → DuckDB → HubSpot.
	reverse := []struct{ expr, want string }{
		{`CAST('Ada' AS VARCHAR)`, "Ada"},                                                                    // string → VARCHAR → string
		{`CAST(true AS VARCHAR)`, "true"},                                                                    // boolean → BOOLEAN → bool
		{`CAST(CAST(12 AS BIGINT) AS VARCHAR)`, "12"},                                                        // integer → BIGINT → number
		{`CAST(CAST(1.5 AS DOUBLE) AS VARCHAR)`, "1.5"},                                                      // float → DOUBLE → number
		{`pendo_time_to_hubspot_date(TIMESTAMPTZ '2026-03-01 12:30:00+00')`, "2026-03-01"},                   // time → TIMESTAMPTZ → date
		{`pendo_time_to_hubspot_datetime(TIMESTAMPTZ '2026-03-01 12:30:00+00')`, "2026-03-01T12:30:00.000Z"}, // → datetime
		{`hubspot_multi_join(['gold', 'silver'])`, "gold;silver"},                                            // list → VARCHAR[] → checkboxes
	}
	for _, r := range reverse {
		var got string
		if err := w.DB().QueryRow("SELECT " + r.expr).Scan(&got); err != nil || got != r.want {
			t.Errorf("%s = %q (%v), want %q", r.expr, got, err, r.want)
		}
	}
}

// typeFields maps each cell's column to the Pendo field of its name.
func typeFields(cells []struct {
	prop, typ, fieldType, value string
	duck                        string
	pendoType                   string
	pendo                       any
}) string {
	var b strings.Builder
	for _, c := range cells {
		fmt.Fprintf(&b, "  %s: %s\n", c.prop, c.prop)
	}
	return b.String()
}
