// Package examples embeds the example projects so that `backflow demo` and
// `backflow init` work from any directory.
package examples

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed demo starter recipes
var files embed.FS

// Demo is the demo project: backflow.yml, models/ and syncs/.
func Demo() fs.FS {
	return sub("demo")
}

// Starter is the project `backflow init` writes, before its templates
// (*.tmpl) are rendered.
func Starter() fs.FS {
	return sub("starter")
}

// Recipes lists the recipe folders under examples/recipes, sorted.
func Recipes() []string {
	entries, err := fs.ReadDir(files, "recipes")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// Recipe is one recipe's project: backflow.yml, models/, syncs/, tests/.
func Recipe(name string) fs.FS {
	return sub(path.Join("recipes", name))
}

func sub(dir string) fs.FS {
	s, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return s
}

// InitOptions fill the starter project's templates.
type InitOptions struct {
	// Name is the project's name (backflow.yml name:).
	Name string
	// HubSpotURL and PendoURL, when set, become base_url settings: the
	// project then talks to emulators such as backflow sandbox.
	HubSpotURL, PendoURL string
}

// Init writes the starter project into dir (created if missing) and
// returns the paths written, relative to dir. It overwrites nothing: if
// any file it would write exists, it writes none and says which.
func Init(dir string, opts InitOptions) ([]string, error) {
	type out struct {
		rel  string
		data []byte
	}
	var outs []out
	err := fs.WalkDir(Starter(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Starter(), p)
		if err != nil {
			return err
		}
		rel := p
		if strings.HasSuffix(p, ".tmpl") {
			rel = strings.TrimSuffix(p, ".tmpl")
			t, err := template.New(p).Parse(string(data))
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			var b bytes.Buffer
			if err := t.Execute(&b, opts); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			data = b.Bytes()
		}
		if path.Base(rel) == "gitignore" {
			rel = path.Join(path.Dir(rel), ".gitignore") // embed leaves out dot files
		}
		outs = append(outs, out{rel, data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var exist []string
	for _, o := range outs {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(o.rel))); err == nil {
			exist = append(exist, o.rel)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if len(exist) > 0 {
		return nil, fmt.Errorf("init %s: would overwrite %s; nothing written", dir, strings.Join(exist, ", "))
	}
	var written []string
	for _, o := range outs {
		full := filepath.Join(dir, filepath.FromSlash(o.rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(full, o.data, 0o644); err != nil {
			return written, err
		}
		written = append(written, o.rel)
	}
	return written, nil
}
