// Package project reads and validates a backflow project folder:
// backflow.yml, models/*.sql (listed, not parsed) and syncs/*.yml. Errors
// name the file, the line and the field. The keys every project has are
// read here; each connector's block, and its keys of a sync file, are read
// by the connector (see package connector), from the table the caller
// passes. Secrets are never stored in these files: they name environment
// variables, resolved by Secrets with a lookup function the caller
// provides.
package project

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backflow-dev/backflow/connector"
)

// Project is a loaded, validated project.
type Project struct {
	// FS is the project folder; Dir is its path for messages.
	FS  fs.FS
	Dir string

	Config Config
	// Connectors are the connectors backflow.yml configures, in the
	// order of the table it was loaded with.
	Connectors []Connector
	Syncs      []Sync
}

// Connector is one configured connector.
type Connector struct {
	Name   string
	Config connector.Config
}

// Path resolves a path from the project's files against its folder.
func (p *Project) Path(rel string) string {
	if path.IsAbs(rel) || filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(p.Dir, rel)
}

// Connector returns the configured connector name, or nil.
func (p *Project) Connector(name string) connector.Config {
	for _, c := range p.Connectors {
		if c.Name == name {
			return c.Config
		}
	}
	return nil
}

// Config holds the keys of backflow.yml every project has; each
// connector reads its own block.
type Config struct {
	Name string `yaml:"name"`
	// Warehouse is the DuckDB file, relative to the project folder.
	Warehouse string `yaml:"warehouse"`
	// FileMode is the permission of the files backflow writes that hold
	// data (the DuckDB file, its published copy, the report), in octal.
	// Default "0600": the data is about people.
	FileMode string `yaml:"file_mode"`
	// MaxRemoval is the share of a table's rows (or of the records a sync
	// has pushed) that a full read may lose, or a sync may clear or
	// archive, before the run stops and asks for --allow-mass-removal.
	// Default 0.1; 1 turns the guard off.
	MaxRemoval float64 `yaml:"max_removal"`
	// MemoryLimit caps DuckDB's memory for extraction, staging, merges and
	// model builds, e.g. "2GB"; past it DuckDB spills to a temporary
	// folder beside the file. Default "2GB" (DuckDB's own default, 80% of
	// the machine, starves whatever else runs there).
	MemoryLimit string `yaml:"memory_limit"`
	// Identity configures the shipped identity models.
	Identity struct {
		// ContactVisitorIDProperty is a HubSpot contact property holding
		// the Pendo visitor id (a shared-id match, stronger than email).
		ContactVisitorIDProperty string `yaml:"contact_visitor_id_property"`
		// CompanyAccountIDProperty is a HubSpot company property holding
		// the Pendo account id.
		CompanyAccountIDProperty string `yaml:"company_account_id_property"`
	} `yaml:"identity"`
}

// DefaultMemoryLimit is memory_limit when backflow.yml does not set it.
const DefaultMemoryLimit = "2GB"

// memorySize is the sizes memory_limit takes, as DuckDB reads them.
var memorySize = regexp.MustCompile(`^[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)

// Error is a problem in a project file.
type Error = connector.FileError

// ErrNoProject is returned when the folder has no backflow.yml.
var ErrNoProject = errors.New("no backflow.yml here; run `backflow init` to create a project, or pass --project DIR")

// ConfigFile is the project file's name.
const ConfigFile = "backflow.yml"

// Options change how a project is read.
type Options struct {
	// Set overrides scalar settings of backflow.yml before it is read,
	// by dotted path: "hubspot.base_url" → an emulator's URL. For the
	// demo and tests; the file is not changed.
	Set map[string]string
}

// Load reads and validates the project in fsys with the connectors of
// table. dir is only used in messages.
func Load(fsys fs.FS, dir string, table []connector.Connector) (*Project, error) {
	return LoadWith(fsys, dir, table, Options{})
}

// LoadWith is Load with options.
func LoadWith(fsys fs.FS, dir string, table []connector.Connector, opts Options) (*Project, error) {
	raw, err := fs.ReadFile(fsys, ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoProject)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ConfigFile, err)
	}
	doc, err := parse(ConfigFile, raw)
	if err != nil {
		return nil, err
	}
	if err := set(doc, opts.Set); err != nil {
		return nil, err
	}
	p := &Project{FS: fsys, Dir: dir}
	if err := p.configure(doc, table); err != nil {
		return nil, err
	}
	if err := p.loadSyncs(table); err != nil {
		return nil, err
	}
	return p, nil
}

// parse reads a YAML file into its top-level mapping node.
func parse(file string, raw []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, &Error{File: file, Err: connector.CleanYAMLError(err)}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Err: errors.New("file is empty")}
	}
	n := doc.Content[0]
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: n.Line, Err: errors.New("must be a mapping of keys to values")}
	}
	return n, nil
}

// split divides a mapping into the keys a struct of type known decodes
// and the others, each a mapping of its own.
func split(n *yaml.Node, known []string) (mine, others *yaml.Node) {
	mine, others = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}, &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		to := others
		if slices.Contains(known, n.Content[i].Value) {
			to = mine
		}
		to.Content = append(to.Content, n.Content[i], n.Content[i+1])
	}
	return mine, others
}

// configKeys are the keys of backflow.yml that Config decodes.
var configKeys = []string{"name", "warehouse", "file_mode", "max_removal", "memory_limit", "identity"}

// configure reads backflow.yml: its own keys, then each connector's block.
func (p *Project) configure(doc *yaml.Node, table []connector.Connector) error {
	mine, blocks := split(doc, configKeys)
	if err := (connector.Block{File: ConfigFile, Node: mine}).Decode(&p.Config); err != nil {
		return err
	}
	if err := p.Config.validate(connector.Block{File: ConfigFile, Node: doc}, table); err != nil {
		return err
	}
	byName := map[string]*yaml.Node{}
	for i := 0; i+1 < len(blocks.Content); i += 2 {
		k := blocks.Content[i]
		if !slices.ContainsFunc(table, func(c connector.Connector) bool { return c.Name() == k.Value }) {
			return &Error{File: ConfigFile, Err: fmt.Errorf("line %d: unknown field %s", k.Line, k.Value)}
		}
		byName[k.Value] = blocks.Content[i+1]
	}
	for _, c := range table {
		n, ok := byName[c.Name()]
		if !ok || n.Tag == "!!null" {
			continue // absent, or "hubspot:" with nothing under it
		}
		cfg, err := c.Configure(connector.Block{File: ConfigFile, Prefix: c.Name(), Node: n})
		if err != nil {
			return err
		}
		p.Connectors = append(p.Connectors, Connector{Name: c.Name(), Config: cfg})
	}
	return nil
}

// set applies Options.Set to the document.
func set(doc *yaml.Node, values map[string]string) error {
	for _, key := range slices.Sorted(maps.Keys(values)) {
		n := doc
		parts := strings.Split(key, ".")
		for i, part := range parts {
			if n.Kind != yaml.MappingNode {
				return fmt.Errorf("project: cannot set %s: %s is not a mapping", key, strings.Join(parts[:i], "."))
			}
			var next *yaml.Node
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == part {
					next = n.Content[j+1]
				}
			}
			if next == nil {
				next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: part}, next)
			}
			if i == len(parts)-1 {
				*next = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: values[key]}
			}
			n = next
		}
	}
	return nil
}

func (c *Config) validate(b connector.Block, table []connector.Connector) error {
	if c.Warehouse == "" {
		c.Warehouse = "warehouse.duckdb"
	}
	// DuckDB names the catalog after the file: backflow.duckdb would make
	// backflow.runs ambiguous, for backflow and for every analyst.
	stem := strings.ToLower(strings.TrimSuffix(path.Base(c.Warehouse), path.Ext(c.Warehouse)))
	schemas := []string{"backflow", "models", "main", "temp", "system"}
	for _, c := range table {
		schemas = append(schemas, "raw_"+c.Name())
	}
	if slices.Contains(schemas, stem) {
		return b.Errorf("warehouse", "a file named %q clashes with the schema %s inside it; pick another name, e.g. warehouse.duckdb", path.Base(c.Warehouse), stem)
	}
	if c.FileMode == "" {
		c.FileMode = "0600"
	}
	if m, err := strconv.ParseUint(c.FileMode, 8, 32); err != nil || m > 0o777 || m&0o600 != 0o600 {
		return b.Errorf("file_mode", "%q is not a file mode such as \"0600\" or \"0640\" (octal; the owner must read and write)", c.FileMode)
	}
	if c.MemoryLimit == "" {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if !memorySize.MatchString(c.MemoryLimit) {
		return b.Errorf("memory_limit", "%q is not a size such as \"2GB\" or \"512MB\" (units KB, MB, GB, TB, KiB, MiB, GiB, TiB)", c.MemoryLimit)
	}
	switch {
	case c.MaxRemoval == 0:
		c.MaxRemoval = 0.1
	case c.MaxRemoval < 0 || c.MaxRemoval > 1:
		return b.Errorf("max_removal", "must be a share between 0 and 1, not %v", c.MaxRemoval)
	}
	for key, prop := range map[string]string{"contact_visitor_id_property": c.Identity.ContactVisitorIDProperty, "company_account_id_property": c.Identity.CompanyAccountIDProperty} {
		if prop != "" && !connector.Identifier.MatchString(prop) {
			return b.Errorf("identity."+key, "%q is not a HubSpot property name", prop)
		}
	}
	return nil
}

// Mode is FileMode as a permission.
func (c *Config) Mode() os.FileMode {
	m, err := strconv.ParseUint(c.FileMode, 8, 32)
	if err != nil {
		return 0o600
	}
	return os.FileMode(m)
}
