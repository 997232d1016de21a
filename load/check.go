package load

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/backflow-dev/backflow/warehouse"
)

// Check finds what would stop a plan of the sync, without reading the
// model's rows or sending anything: the key and mapped columns the model
// lacks (colTypes holds its columns' DuckDB types), the destination's
// refusals of fields (Describe, which only reads), and columns whose type
// no mapped field takes. It returns every problem, each naming the sync
// file, not only the first; nil when there are none. Keys that are null
// or repeated are data, not the project: plans find them (KeyError).
func Check(ctx context.Context, s Spec, dest Destination, colTypes map[string]string) []error {
	var errs []error
	if _, ok := colTypes[s.Key]; !ok {
		errs = append(errs, fmt.Errorf("%s: key: model %s has no column %q", s.File, s.Model, s.Key))
	}
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Field
		if _, ok := colTypes[f.Column]; !ok {
			errs = append(errs, fmt.Errorf("%s: fields.%s: model %s has no column %q", s.File, f.Column, s.Model, f.Column))
		}
	}
	d, err := dest.Describe(ctx, Request{Fields: names, CreateFields: s.CreateFields})
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", s.File, err))
	}
	if d.Value == nil {
		return append(errs, fmt.Errorf("%s: destination %s declared no value rendering", s.File, d.Name))
	}
	if len(d.Missing) > 0 && (d.Creator == nil || !s.CreateFields) {
		errs = append(errs, fmt.Errorf("%s: fields: %s has no field %s", s.File, d.Name, strings.Join(d.Missing, ", ")))
	}
	for _, f := range s.Fields {
		ct, ok := colTypes[f.Column]
		if !ok {
			continue
		}
		if slices.Contains(d.Missing, f.Field) {
			if d.Creator != nil && s.CreateFields {
				if _, err := d.Creator.TypeFor(ct); err != nil {
					errs = append(errs, fmt.Errorf("%s: fields.%s: create_fields: %w", s.File, f.Column, err))
				}
			}
			continue
		}
		ft := d.Types[f.Field]
		if f.Type != "" {
			ft = f.Type
		}
		if _, err := d.Value(warehouse.Ident(f.Column), ct, ft); err != nil {
			errs = append(errs, fmt.Errorf("%s: fields.%s: %w", s.File, f.Column, err))
		}
	}
	return errs
}
