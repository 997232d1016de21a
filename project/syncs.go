package project

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/load"
)

// Sync is one syncs/*.yml file: one model to one destination object.
type Sync struct {
	// Spec is what the load engine runs: Name (the file name without
	// .yml), File, Model, Key, Fields, Mode, OnRemove, CreateFields.
	load.Spec
	// Destination is the connector the sync writes to.
	Destination string
	// Object is the destination object the file names.
	Object string
	// BatchSize is the rows one batch takes: the file's, or the
	// connector's default for the object.
	BatchSize int
	// RateLimitShare is the part of the API's rate limit this sync may
	// use (0 < x ≤ 1), leaving the rest to other integrations. Default 1.
	RateLimitShare float64
	// Target is the destination as its connector decoded it.
	Target connector.Target
}

// syncKeys are the keys every sync file has; the others are its
// connector's.
type syncKeys struct {
	Model          string  `yaml:"model"`
	Destination    string  `yaml:"destination"`
	Object         string  `yaml:"object"`
	Key            string  `yaml:"key"`
	Mode           string  `yaml:"mode"`
	OnRemove       string  `yaml:"on_remove"`
	OnDrift        string  `yaml:"on_drift"`
	BatchSize      int     `yaml:"batch_size"`
	RateLimitShare float64 `yaml:"rate_limit_share"`
	// CreateFields creates mapped fields the destination lacks (HubSpot
	// properties in a "backflow" group, Pendo custom fields), typed from
	// the model's columns.
	CreateFields bool `yaml:"create_fields"`
	// Fields is decoded by hand: it takes two shapes.
	Fields yaml.Node `yaml:"fields"`
}

var syncKeyNames = []string{"model", "destination", "object", "key", "mode", "on_remove", "on_drift", "batch_size", "rate_limit_share", "create_fields", "fields"}

// loadSyncs reads syncs/*.yml (and *.yaml), in name order.
func (p *Project) loadSyncs(table []connector.Connector) error {
	files, err := fs.Glob(p.FS, "syncs/*.yml")
	if err != nil {
		return err
	}
	more, err := fs.Glob(p.FS, "syncs/*.yaml")
	if err != nil {
		return err
	}
	files = append(files, more...)
	sort.Strings(files)
	seen := map[string]string{}
	for _, f := range files {
		s, err := p.loadSync(f, table)
		if err != nil {
			return err
		}
		if other, dup := seen[s.Name]; dup {
			return &Error{File: f, Err: fmt.Errorf("sync %q is also defined in %s", s.Name, other)}
		}
		seen[s.Name] = f
		p.Syncs = append(p.Syncs, *s)
	}
	return nil
}

// loadSync reads one sync file: the keys every sync has, then its
// connector's.
func (p *Project) loadSync(file string, table []connector.Connector) (*Sync, error) {
	raw, err := fs.ReadFile(p.FS, file)
	if err != nil {
		return nil, err
	}
	doc, err := parse(file, raw)
	if err != nil {
		return nil, err
	}
	mine, others := split(doc, syncKeyNames)
	var k syncKeys
	if err := (connector.Block{File: file, Node: mine}).Decode(&k); err != nil {
		return nil, err
	}
	whole := connector.Block{File: file, Node: doc}
	// The connector's keys first: a misspelt key explains what seems
	// missing.
	cfg, settings, err := p.destination(file, k.Destination, whole, others, table)
	if err != nil {
		return nil, err
	}
	s, err := k.sync(file, whole)
	if err != nil {
		return nil, err
	}
	cs := &connector.Sync{Spec: s.Spec, Object: s.Object, BatchSize: s.BatchSize, Settings: settings, File: whole}
	if s.Target, err = cfg.Sync(cs); err != nil {
		return nil, err
	}
	s.Spec, s.BatchSize = cs.Spec, cs.BatchSize
	if s.Mode == load.Events && s.OnRemove != load.Ignore {
		return nil, whole.Errorf("on_remove", "events are never taken back; on_remove must be ignore for mode events")
	}
	if s.BatchSize < 1 {
		return nil, whole.Errorf("batch_size", "must be positive")
	}
	return s, nil
}

// sync checks the keys every sync has.
func (k *syncKeys) sync(file string, whole connector.Block) (*Sync, error) {
	s := &Sync{Spec: load.Spec{File: file, Model: k.Model, Key: k.Key, Mode: load.Mode(k.Mode), OnRemove: load.OnRemove(k.OnRemove), OnDrift: load.OnDrift(k.OnDrift),
		CreateFields: k.CreateFields},
		Destination: k.Destination, Object: k.Object, BatchSize: k.BatchSize, RateLimitShare: k.RateLimitShare}
	s.Name = strings.TrimSuffix(strings.TrimSuffix(path.Base(file), ".yml"), ".yaml")
	if !connector.Identifier.MatchString(s.Name) {
		return nil, &Error{File: file, Err: fmt.Errorf("sync name %q (from the file name) must be letters, digits and underscores", s.Name)}
	}
	for _, req := range []struct{ field, value string }{
		{"model", k.Model}, {"destination", k.Destination}, {"object", k.Object}, {"key", k.Key},
	} {
		if req.value == "" {
			return nil, &Error{File: file, Field: req.field, Err: errors.New("is required")}
		}
	}
	switch s.Mode {
	case "", load.Update, load.Upsert, load.Create, load.Events:
	default:
		return nil, whole.Errorf("mode", "must be update, upsert, create or events, not %q", s.Mode)
	}
	switch s.OnRemove {
	case "":
		s.OnRemove = load.Ignore
	case load.Ignore, load.Clear, load.Archive:
	default:
		return nil, whole.Errorf("on_remove", "must be ignore, clear or archive, not %q", s.OnRemove)
	}
	switch s.OnDrift {
	case "":
		s.OnDrift = load.DriftReport
	case load.DriftReport, load.DriftOverwrite, load.DriftKeep:
	default:
		return nil, whole.Errorf("on_drift", "must be report, overwrite or keep, not %q", s.OnDrift)
	}
	if s.RateLimitShare == 0 {
		s.RateLimitShare = 1
	}
	if s.RateLimitShare < 0 || s.RateLimitShare > 1 {
		return nil, whole.Errorf("rate_limit_share", "must be more than 0 and at most 1 (a share of the API's limit), not %g", s.RateLimitShare)
	}
	if s.BatchSize < 0 {
		return nil, whole.Errorf("batch_size", "must be positive")
	}
	fields, err := parseFields(file, &k.Fields)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, &Error{File: file, Field: "fields", Err: errors.New("maps no columns; list at least one `column: destination_field`")}
	}
	s.Fields = fields
	return s, nil
}

// destination finds the configured connector a sync names and decodes
// its keys of the file, others. A file naming no destination has its
// unknown keys reported first.
func (p *Project) destination(file, name string, whole connector.Block, others *yaml.Node, table []connector.Connector) (connector.Config, any, error) {
	var names []string
	for _, c := range table {
		names = append(names, c.Name())
	}
	if name == "" {
		if err := (connector.Block{File: file, Node: others}).Decode(&struct{}{}); err != nil {
			return nil, nil, err
		}
		return nil, nil, &Error{File: file, Field: "destination", Err: errors.New("is required")}
	}
	if !slices.Contains(names, name) {
		return nil, nil, whole.Errorf("destination", "must be %s, not %q", orList(names), name)
	}
	cfg := p.Connector(name)
	if cfg == nil {
		return nil, nil, &Error{File: file, Field: "destination", Err: fmt.Errorf("%s is not configured in backflow.yml (add a %s: section)", name, name)}
	}
	settings := cfg.SyncKeys()
	if err := (connector.Block{File: file, Node: others}).Decode(settings); err != nil {
		return nil, nil, err
	}
	return cfg, settings, nil
}

// orList is "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// parseFields reads `fields` as a mapping whose values are either a
// destination field name or {field, type}.
func parseFields(file string, n *yaml.Node) ([]load.Field, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: n.Line, Field: "fields", Err: errors.New("must map model columns to destination fields")}
	}
	var out []load.Field
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, err := parseField(file, k, v)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[f.Field]; dup {
			return nil, &Error{File: file, Line: k.Line, Field: "fields." + k.Value, Err: fmt.Errorf("destination field %q is already mapped on line %d", f.Field, prev)}
		}
		seen[f.Field] = k.Line
		out = append(out, f)
	}
	return out, nil
}

// parseField reads one entry of fields: `column: field` or `column:
// {field, type}`.
func parseField(file string, k, v *yaml.Node) (load.Field, error) {
	f := load.Field{Column: k.Value}
	switch v.Kind {
	case yaml.ScalarNode:
		f.Field = v.Value
	case yaml.MappingNode:
		var spec struct {
			Field string `yaml:"field"`
			Type  string `yaml:"type"`
		}
		if err := v.Decode(&spec); err != nil {
			return f, &Error{File: file, Line: v.Line, Field: "fields." + k.Value, Err: err}
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			if key := v.Content[j].Value; key != "field" && key != "type" {
				return f, &Error{File: file, Line: v.Content[j].Line, Field: "fields." + k.Value, Err: fmt.Errorf("unknown key %q (want field, type)", key)}
			}
		}
		f.Field, f.Type = spec.Field, spec.Type
	default:
		return f, &Error{File: file, Line: v.Line, Field: "fields." + k.Value, Err: errors.New("must be a field name or {field, type}")}
	}
	if f.Field == "" {
		f.Field = f.Column
	}
	return f, nil
}
