package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/backflow-dev/backflow/api/pendo"
)

// Pendo sets visitor or account metadata of one group through Pendo's bulk
// endpoint. Rows whose id Pendo does not know are skipped, never created.
type Pendo struct {
	Client *pendo.Client
	Kind   pendo.Kind
	Group  string
	Size   int
}

var _ Destination = (*Pendo)(nil)

// Name implements Destination.
func (p *Pendo) Name() string { return fmt.Sprintf("pendo %s %s metadata", p.Kind, p.Group) }

// BatchSize implements Destination.
func (p *Pendo) BatchSize() int { return p.Size }

// RowsPerSecond is how fast Pendo processes bulk metadata rows: a call
// may take its five-minute limit for about 750,000 rows: 2,500/s.
func (p *Pendo) RowsPerSecond() float64 { return 2500 }

// FieldTypes implements Destination: types come from the metadata schema;
// an undeclared field would make Pendo refuse every batch with a 400.
func (p *Pendo) FieldTypes(ctx context.Context, fields []string) (map[string]string, error) {
	schema, err := p.Client.Schema(ctx, p.Kind)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range fields {
		desc, ok := schema[p.Group][f]
		if !ok || desc.IsDeleted {
			return nil, fmt.Errorf("fields: pendo %s %s field %q is not declared; add it in Pendo under Settings > Data Mappings first", p.Kind, p.Group, f)
		}
		out[f] = desc.Type
	}
	return out, nil
}

// ValueSQL implements Destination with Pendo's metadata types: string,
// boolean, integer, float, time (epoch milliseconds) and list.
func (p *Pendo) ValueSQL(col, colType, fieldType string) (string, error) {
	numeric := isNumeric(colType)
	switch fieldType {
	case "string", "":
		if strings.HasSuffix(colType, "[]") || strings.HasPrefix(colType, "STRUCT") || strings.HasPrefix(colType, "MAP") {
			return "", fmt.Errorf("a %s column cannot feed pendo %s field: cast it to VARCHAR in the model", colType, typeName(fieldType))
		}
		return "CAST(" + col + " AS VARCHAR)", nil
	case "boolean":
		if colType == "BOOLEAN" {
			return col, nil
		}
	case "integer":
		if isInteger(colType) {
			return "CAST(" + col + " AS BIGINT)", nil
		}
	case "float":
		if numeric {
			return "CAST(" + col + " AS DOUBLE)", nil
		}
	case "time":
		switch {
		case colType == "DATE":
			return "epoch_ms(CAST(" + col + " AS TIMESTAMP))", nil
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return "epoch_ms(" + col + ")", nil
		case isInteger(colType):
			return "CAST(" + col + " AS BIGINT)", nil // already epoch ms
		}
	case "list":
		if strings.HasSuffix(colType, "[]") {
			return col, nil
		}
	default:
		return "", fmt.Errorf("pendo field type %q is unknown", fieldType)
	}
	return "", fmt.Errorf("a %s column cannot feed pendo %s field without a cast in the model", colType, typeName(fieldType))
}

func typeName(t string) string {
	if t == "" {
		return "an untyped"
	}
	return "a " + t
}

func isInteger(t string) bool {
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT":
		return true
	}
	return false
}

func isNumeric(t string) bool {
	return isInteger(t) || t == "FLOAT" || t == "DOUBLE" || strings.HasPrefix(t, "DECIMAL")
}

// Apply implements Destination. A 400 refuses the whole request for one bad
// row; the batch is split in halves until the row is isolated and reported
// as rejected, and the good rows still go through.
func (p *Pendo) Apply(ctx context.Context, rows []Row) ([]Outcome, error) {
	return isolate(rows, func(rows []Row) ([]Outcome, string, error) {
		out, err := p.update(ctx, rows)
		var apiErr *pendo.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && !apiErr.Foreign {
			return nil, apiErr.Message, nil
		}
		return out, "", err
	})
}

// update sends one bulk update and reads its per-row results.
func (p *Pendo) update(ctx context.Context, rows []Row) ([]Outcome, error) {
	updates := make([]pendo.Update, len(rows))
	for i, r := range rows {
		updates[i] = pendo.Update{ID: r.Key, Values: r.Values}
	}
	res, err := p.Client.UpdateMetadata(ctx, p.Kind, p.Group, updates, false)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, len(res))
	for i, o := range res {
		switch o.Status {
		case pendo.Updated:
			out[i] = Outcome{Status: Applied}
		case pendo.Missing:
			out[i] = Outcome{Status: SkippedNotFound, Error: fmt.Sprintf("no Pendo %s with id %q", p.Kind, rows[i].Key)}
		case pendo.Rejected:
			out[i] = Outcome{Status: Rejected, Error: o.Error}
		default:
			out[i] = Outcome{Status: Failed, Error: o.Error}
		}
	}
	return out, nil
}

var _ Checker = (*Pendo)(nil)

// Check implements Checker: a string longer than pendo.MaxStringValue is
// reported on its row, not sent.
func (p *Pendo) Check(values map[string]json.RawMessage) string {
	for _, name := range sortedFields(values) {
		raw := values[name]
		if len(raw) < pendo.MaxStringValue || raw[0] != '"' {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) == nil {
			if n := utf8.RuneCountInString(v); n > pendo.MaxStringValue {
				return fmt.Sprintf("%s: the value is %d characters long; backflow sends Pendo at most %d", name, n, pendo.MaxStringValue)
			}
		}
	}
	return ""
}

var _ FieldCreator = (*Pendo)(nil)

// Missing implements FieldCreator.
func (p *Pendo) Missing(ctx context.Context, fields []string) ([]string, error) {
	schema, err := p.Client.Schema(ctx, p.Kind)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fields {
		if desc, ok := schema[p.Group][f]; !ok || desc.IsDeleted {
			out = append(out, f)
		}
	}
	if len(out) > 0 && p.Group != "custom" {
		return nil, fmt.Errorf("create_fields: Pendo creates custom fields only; declare %s %s fields %s in Data Mappings", p.Kind, p.Group, strings.Join(out, ", "))
	}
	return out, nil
}

// TypeFor implements FieldCreator.
func (p *Pendo) TypeFor(colType string) (string, error) {
	switch {
	case colType == "BOOLEAN":
		return "boolean", nil
	case isInteger(colType):
		return "integer", nil
	case isNumeric(colType):
		return "float", nil
	case colType == "DATE" || strings.HasPrefix(colType, "TIMESTAMP"):
		return "time", nil
	case colType == "VARCHAR":
		return "string", nil
	case strings.HasSuffix(colType, "[]"):
		return "list", nil
	}
	return "", fmt.Errorf("no Pendo field type holds a %s column; cast it in the model", colType)
}

// CreateField implements FieldCreator: a custom field, displayed under its
// name.
func (p *Pendo) CreateField(ctx context.Context, field, fieldType string) error {
	err := p.Client.CreateField(ctx, p.Kind, field, fieldType, field)
	var apiErr *pendo.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		return nil
	}
	return err
}
