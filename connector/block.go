package connector

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Block is a YAML mapping a connector decodes: its block of backflow.yml,
// or its keys of a sync file. Errors about it name the file and the line.
type Block struct {
	// File is the file the block is in, relative to the project folder.
	File string
	// Prefix names the block in messages ("hubspot" for its block of
	// backflow.yml; empty for the keys of a sync file).
	Prefix string
	// Node is the mapping; nil when the block is absent or empty.
	Node *yaml.Node
}

// Decode decodes the block into v, a pointer to a struct with yaml tags.
// A key v has no field for is an error naming its line, as is a value of
// the wrong type. An absent block leaves v as it is.
func (b Block) Decode(v any) error {
	if b.Node == nil {
		return nil
	}
	if b.Node.Kind != yaml.MappingNode {
		return &FileError{File: b.File, Line: b.Node.Line, Field: b.Prefix, Err: errors.New("must be a mapping of keys to values")}
	}
	// yaml's decoder is strict only when it reads bytes, and then its
	// lines are the bytes' own; walk the node instead.
	if k := unknownKey(b.Node, reflect.TypeOf(v)); k != nil {
		return &FileError{File: b.File, Err: fmt.Errorf("line %d: unknown field %s", k.Line, k.Value)}
	}
	if err := b.Node.Decode(v); err != nil {
		// yaml's message names the line already.
		return &FileError{File: b.File, Err: cleanYAMLError(err)}
	}
	return nil
}

// Errorf is an error about the value at field, a dotted key path within
// the block ("extract.objects[2]"); it names the line of that key.
func (b Block) Errorf(field string, format string, args ...any) error {
	return &FileError{File: b.File, Line: b.Line(field), Field: b.field(field), Err: fmt.Errorf(format, args...)}
}

// Line is the line of the key at a dotted path ("extract.objects[2]"
// looks up extract.objects), or of the deepest part of it found; 0 when
// none is.
func (b Block) Line(field string) int {
	n, line := b.Node, 0
	for _, k := range strings.Split(field, ".") {
		k, _, _ = strings.Cut(k, "[")
		if n == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next, line = n.Content[i+1], n.Content[i].Line
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// Has reports whether the block sets key.
func (b Block) Has(key string) bool {
	if b.Node == nil || b.Node.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(b.Node.Content); i += 2 {
		if b.Node.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (b Block) field(path string) string {
	switch {
	case b.Prefix == "":
		return path
	case path == "":
		return b.Prefix
	}
	return b.Prefix + "." + path
}

// unknownKey finds the first key of n that t (a struct type, through
// pointers, slices and maps) has no yaml field for.
func unknownKey(n *yaml.Node, t reflect.Type) *yaml.Node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t == reflect.TypeOf(yaml.Node{}) || reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		return nil // decoded by hand
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			ft, ok := fields[n.Content[i].Value]
			if !ok {
				return n.Content[i]
			}
			if bad := unknownKey(n.Content[i+1], ft); bad != nil {
				return bad
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if bad := unknownKey(c, t.Elem()); bad != nil {
					return bad
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if bad := unknownKey(n.Content[i+1], t.Elem()); bad != nil {
					return bad
				}
			}
		}
	}
	return nil
}

// yamlFields maps a struct's yaml keys to their types, inlined structs
// included.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// FileError is a problem in a project file: backflow.yml, a sync file.
type FileError struct {
	File string
	// Line is 0 when unknown.
	Line int
	// Field is the key at fault, as a dotted path ("hubspot.base_url").
	Field string
	Err   error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

// cleanYAMLError turns "yaml: unmarshal errors:\n  line 3: cannot
// unmarshal …" into "line 3: cannot unmarshal …".
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg = notFound.ReplaceAllString(msg, "unknown field $1")
	return errors.New(msg)
}

// CleanYAMLError is cleanYAMLError for the project loader.
func CleanYAMLError(err error) error { return cleanYAMLError(err) }

// Identifier is the form of the names project files give things: a
// connector, a sync, a property. Letters, digits and underscores, not
// starting with a digit.
var Identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
