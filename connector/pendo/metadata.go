package pendo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/load"
)

// metadata sets visitor or account metadata of one group through Pendo's
// bulk endpoint. Rows whose id Pendo does not know are skipped, never
// created.
type metadata struct {
	client *api.Client
	kind   api.Kind
	group  string
	size   int
	// streams are what the project extracts, for drift.
	streams []string
}

var (
	_ load.Destination  = (*metadata)(nil)
	_ load.FieldCreator = (*metadata)(nil)
)

// rowsPerSecond is how fast Pendo processes bulk metadata rows: a call
// may take its five-minute limit for about 750,000 rows: 2,500/s.
const rowsPerSecond = 2500

// Describe implements load.Destination: types come from the metadata
// schema; an undeclared field would make Pendo refuse every batch with a
// 400. Only custom fields can be created.
func (p *metadata) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	schema, err := p.client.Schema(ctx, p.kind)
	if err != nil {
		return nil, err
	}
	d := &load.Description{Name: fmt.Sprintf("pendo %s %s metadata", p.kind, p.group), Types: map[string]string{}, BatchSize: max(p.size, 1),
		Pace: load.Pace{PerSecond: p.client.PerSecond(), DailyLeft: -1, RowsPerSecond: rowsPerSecond}, Value: valueSQL, Check: check, Creator: p}
	var undeclared []string
	for _, f := range req.Fields {
		desc, ok := schema[p.group][f]
		switch {
		case (!ok || desc.IsDeleted) && req.CreateFields:
			d.Missing = append(d.Missing, f)
		case !ok || desc.IsDeleted:
			undeclared = append(undeclared, fmt.Sprintf("%q", f))
		default:
			d.Types[f] = desc.Type
		}
	}
	if len(undeclared) > 0 {
		noun, it := "field "+undeclared[0]+" is", "it"
		if len(undeclared) > 1 {
			noun, it = "fields "+strings.Join(undeclared, ", ")+" are", "them"
		}
		return nil, fmt.Errorf("fields: pendo %s %s %s not declared; add %s in Pendo under Settings > Data Mappings first", p.kind, p.group, noun, it)
	}
	if len(d.Missing) > 0 && p.group != "custom" {
		return nil, fmt.Errorf("create_fields: Pendo creates custom fields only; declare %s %s fields %s in Data Mappings", p.kind, p.group, strings.Join(d.Missing, ", "))
	}
	d.Observed, d.NotObserved = p.observed(req.Fields, d.Types)
	return d, nil
}

// valueSQL is load.Description.Value with Pendo's metadata types: string,
// boolean, integer, float, time (epoch milliseconds) and list.
func valueSQL(col, colType, fieldType string) (string, error) {
	numeric := load.IsNumeric(colType)
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
		if load.IsInteger(colType) {
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
		case load.IsInteger(colType):
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

// Apply implements load.Destination. A 400 refuses the whole request for one bad
// row; the batch is split in halves until the row is isolated and reported
// as rejected, and the good rows still go through.
func (p *metadata) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	return load.Isolate(rows, func(rows []load.Row) ([]load.Outcome, string, error) {
		out, err := p.update(ctx, rows)
		var apiErr *api.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && !apiErr.Foreign {
			return nil, apiErr.Message, nil
		}
		return out, "", err
	})
}

// update sends one bulk update and reads its per-row results.
func (p *metadata) update(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	updates := make([]api.Update, len(rows))
	for i, r := range rows {
		updates[i] = api.Update{ID: r.Key, Values: r.Values}
	}
	res, err := p.client.UpdateMetadata(ctx, p.kind, p.group, updates, false)
	if err != nil {
		return nil, err
	}
	out := make([]load.Outcome, len(res))
	for i, o := range res {
		switch o.Status {
		case api.Updated:
			out[i] = load.Outcome{Status: load.Applied}
		case api.Missing:
			out[i] = load.Outcome{Status: load.SkippedNotFound, Error: fmt.Sprintf("no Pendo %s with id %q", p.kind, rows[i].Key)}
		case api.Rejected:
			out[i] = load.Outcome{Status: load.Rejected, Error: o.Error}
		default:
			out[i] = load.Outcome{Status: load.Failed, Error: o.Error}
		}
	}
	return out, nil
}

// check is load.Description.Check: a string longer than
// api.MaxStringValue is reported on its row, not sent.
func check(values map[string]json.RawMessage) string {
	for _, name := range load.SortedFields(values) {
		raw := values[name]
		if len(raw) < api.MaxStringValue || raw[0] != '"' {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) == nil {
			if n := utf8.RuneCountInString(v); n > api.MaxStringValue {
				return fmt.Sprintf("%s: the value is %d characters long; backflow sends Pendo at most %d", name, n, api.MaxStringValue)
			}
		}
	}
	return ""
}

// TypeFor implements load.FieldCreator.
func (p *metadata) TypeFor(colType string) (string, error) {
	switch {
	case colType == "BOOLEAN":
		return "boolean", nil
	case load.IsInteger(colType):
		return "integer", nil
	case load.IsNumeric(colType):
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

// Create implements load.FieldCreator: a custom field, displayed under
// its name.
func (p *metadata) Create(ctx context.Context, field, fieldType string) error {
	err := p.client.CreateField(ctx, p.kind, field, fieldType, field)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		return nil
	}
	return err
}
