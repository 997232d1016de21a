// Package sql holds the SQL that ships inside backflow: the internal state
// schema of the DuckDB file and the macros installed into it. It is data,
// not logic; the warehouse package executes it.
package sql

import (
	"embed"
	"io/fs"
)

// Schema creates backflow's schemas and internal state tables as the
// first state schema version left them; later versions are migrations in
// package warehouse.
//
//go:embed schema.sql
var Schema string

// Macros defines the SQL macros users call from their models. They are
// created in the file's main schema so that views in models.* keep working
// when an analyst opens the file with any DuckDB client.
//
//go:embed macros.sql
var Macros string

// FreeEmailDomains is the shipped list of free-mail providers, one domain a
// line ('#' starts a comment).
//
//go:embed free_email_domains.txt
var FreeEmailDomains string

//go:embed models/*.sql
var models embed.FS

// Models are the models backflow ships (identity matching), as
// text/template sources rendered with the project's identity settings.
func Models() fs.FS {
	sub, err := fs.Sub(models, "models")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
