// Package examples embeds the example projects so that `backflow demo` and
// `backflow init` work from any directory.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed demo
var files embed.FS

// Demo is the demo project: backflow.yml, models/ and syncs/.
func Demo() fs.FS {
	sub, err := fs.Sub(files, "demo")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
