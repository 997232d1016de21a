package models

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"text/template"

	embedded "github.com/backflow-dev/backflow/sql"
)

// Identity configures the shipped identity models.
type Identity struct {
	// ContactIDProperty is a HubSpot contact property holding the Pendo
	// visitor id; it adds the shared_id rule.
	ContactIDProperty string
	// CompanyAccountIDProperty is a HubSpot company property holding the
	// Pendo account id.
	CompanyAccountIDProperty string
}

// Shipped renders the models backflow ships (identity matching).
func Shipped(id Identity) ([]Model, error) {
	fsys := embedded.Models()
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Model
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		tpl, err := template.New(f).Parse(string(raw))
		if err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", f, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, id); err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", f, err)
		}
		m := Model{Name: strings.TrimSuffix(f, ".sql"), File: "(shipped) " + f, SQL: b.String(), Materialized: "view", Shipped: true}
		if mm := materialized.FindStringSubmatch(m.SQL); mm != nil {
			m.Materialized = mm[1]
		}
		out = append(out, m)
	}
	return out, nil
}
