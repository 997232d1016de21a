package load

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/backflow-dev/backflow/api/hubspot"
)

// HubSpot writes CRM object properties: update existing records (by id,
// email or a unique property), or upsert them by a unique property.
type HubSpot struct {
	Client *hubspot.Client
	// Object is the API's object type: contacts, companies, deals,
	// tickets, or a custom object's objectTypeId.
	Object string
	// Match is the key's meaning: id (the record id), email (contacts), or
	// the name of a unique-value property.
	Match string
	// Upsert creates records that do not exist (Match must be a unique
	// property); otherwise missing records are skipped, never created.
	Upsert bool
	// Archive archives the records of rows that leave the model (on_remove:
	// archive; Match must be id). Otherwise a removal clears the fields.
	Archive bool
	// Create creates a record for each new row (mode create), writes the
	// row's key into KeyProperty, and updates it by its id afterwards. A new
	// row whose KeyProperty value HubSpot already holds (a creation whose
	// answer was lost) is adopted, not created again.
	Create      bool
	KeyProperty string
	Size        int

	props   map[string]hubspot.Property
	apiType string // Object as the API names it: a custom object's objectTypeId
}

// standardObjects are addressed by name; custom objects by objectTypeId.
var standardObjects = []string{"contacts", "companies", "deals", "tickets", "tasks"}

// resolve finds a custom object's objectTypeId (the API's name for it)
// from the account's schemas; standard objects keep their name.
func (h *HubSpot) resolve(ctx context.Context) error {
	if h.apiType != "" {
		return nil
	}
	if slices.Contains(standardObjects, h.Object) || strings.HasPrefix(h.Object, "2-") || strings.HasPrefix(h.Object, "0-") {
		h.apiType = h.Object
		return nil
	}
	schemas, err := h.Client.Schemas(ctx)
	if err != nil {
		return fmt.Errorf("look up custom object %s: %w", h.Object, err)
	}
	for _, sc := range schemas {
		if sc.Name == h.Object || sc.FullyQualifiedName == h.Object {
			h.apiType = sc.ObjectTypeID
			return nil
		}
	}
	return fmt.Errorf("object: %q is neither a standard object nor a custom object of this HubSpot account", h.Object)
}

func (h *HubSpot) api() string { return cmp.Or(h.apiType, h.Object) }

var (
	_ Destination = (*HubSpot)(nil)
	_ Checker     = (*HubSpot)(nil)
	_ Paced       = (*HubSpot)(nil)
)

// Pace implements Paced with the client's limiter, corrected by the rate
// limit headers of the properties read during the plan.
func (h *HubSpot) Pace() (float64, int64) {
	l := h.Client.Limiter()
	left := int64(-1)
	if _, remaining, ok := l.Daily(); ok {
		left = int64(remaining)
	}
	return l.PerSecond(), left
}

// Name implements Destination.
func (h *HubSpot) Name() string { return "hubspot " + h.Object }

// BatchSize implements Destination: at most 100 inputs per batch call.
func (h *HubSpot) BatchSize() int { return min(max(h.Size, 1), hubspot.MaxBatch) }

// FieldTypes implements Destination: types come from the property
// definitions; a read-only or calculated property cannot be written.
func (h *HubSpot) FieldTypes(ctx context.Context, fields []string) (map[string]string, error) {
	if err := h.resolve(ctx); err != nil {
		return nil, err
	}
	props, err := h.Client.Properties(ctx, h.api())
	if err != nil {
		return nil, err
	}
	h.props = map[string]hubspot.Property{}
	for _, p := range props {
		h.props[p.Name] = p
	}
	if h.Create {
		if p, ok := h.props[h.KeyProperty]; ok && p.Type != "string" {
			return nil, fmt.Errorf("key_property: %s property %q is a %s; it must be text to hold the model key", h.Object, h.KeyProperty, p.Type)
		}
	}
	if h.Upsert || h.Match != "id" {
		p, ok := h.props[h.Match]
		unique := ok && (p.HasUniqueValue || (h.Match == "email" && h.Object == "contacts"))
		if !unique {
			return nil, fmt.Errorf("match: %s %q is not a unique-value property, so it cannot identify records", h.Object, h.Match)
		}
	}
	out := map[string]string{}
	for _, f := range fields {
		if to, ok := strings.CutPrefix(f, "@"); ok {
			if _, known := hubspot.DefaultAssociationType(h.Object, to); !known {
				return nil, fmt.Errorf("associations: backflow cannot associate %s to %s (standard objects only)", h.Object, to)
			}
			out[f] = "association"
			continue
		}
		p, ok := h.props[f]
		switch {
		case !ok:
			return nil, fmt.Errorf("fields: %s has no property %q; create it in HubSpot (or set create_fields)", h.Object, f)
		case p.ReadOnly():
			return nil, fmt.Errorf("fields: %s property %q is read-only (calculated or system) and cannot be written", h.Object, f)
		case p.FieldType == "file":
			return nil, fmt.Errorf("fields: %s property %q holds files; backflow does not write file properties", h.Object, f)
		}
		out[f] = p.Type
	}
	return out, nil
}

// ValueSQL implements Destination with HubSpot's encodings: every value is
// a string; "" clears (a NULL in the model clears the property).
func (h *HubSpot) ValueSQL(col, colType, fieldType string) (string, error) {
	text := func(expr string) string { return "coalesce(" + expr + ", '')" }
	numeric := isNumeric(colType)
	switch fieldType {
	case "string", "phone_number", "":
		if strings.HasSuffix(colType, "[]") || strings.HasPrefix(colType, "STRUCT") || strings.HasPrefix(colType, "MAP") {
			return "", fmt.Errorf("a %s column cannot feed a HubSpot %s property: cast it to VARCHAR in the model", colType, fieldType)
		}
		return text("CAST(" + col + " AS VARCHAR)"), nil
	case "association":
		return "CAST(" + col + " AS VARCHAR)", nil
	case "enumeration":
		if strings.HasSuffix(colType, "[]") {
			return text("hubspot_multi_join(" + col + ")"), nil
		}
		return text("CAST(" + col + " AS VARCHAR)"), nil
	case "number":
		if numeric {
			return text("hubspot_number_text(" + col + ")"), nil
		}
		if colType == "VARCHAR" {
			return text("CAST(" + col + " AS VARCHAR)"), nil
		}
	case "bool":
		if colType == "BOOLEAN" {
			return text("CASE WHEN " + col + " THEN 'true' WHEN NOT " + col + " THEN 'false' END"), nil
		}
	case "date":
		switch {
		case colType == "DATE" || strings.HasPrefix(colType, "TIMESTAMP"):
			return text("pendo_time_to_hubspot_date(" + col + ")"), nil
		case isInteger(colType):
			return text("pendo_time_to_hubspot_date(CAST(" + col + " AS BIGINT))"), nil
		}
	case "datetime":
		switch {
		case colType == "DATE":
			return text("pendo_time_to_hubspot_datetime(CAST(" + col + " AS TIMESTAMP))"), nil
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return text("pendo_time_to_hubspot_datetime(" + col + ")"), nil
		case isInteger(colType):
			return text("pendo_time_to_hubspot_datetime(CAST(" + col + " AS BIGINT))"), nil
		}
	default:
		return "", fmt.Errorf("HubSpot property type %q is not writable by backflow", fieldType)
	}
	return "", fmt.Errorf("a %s column cannot feed a HubSpot %s property without a cast in the model", colType, fieldType)
}

// hubspotNumber is what HubSpot's number properties take: digits with at
// most one decimal point, an optional minus; no exponent, NaN, Infinity or
// hex.
var hubspotNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// Check implements Checker: the values HubSpot would refuse, so that they
// are reported per row instead of failing a batch.
func (h *HubSpot) Check(values map[string]json.RawMessage) string {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		var v string
		if json.Unmarshal(values[name], &v) != nil || v == "" {
			continue
		}
		p := h.props[name]
		switch {
		case len(v) > 65536:
			return fmt.Sprintf("%s: the value is %d characters long; HubSpot keeps at most 65,536", name, len(v))
		case p.Type == "number":
			if !hubspotNumber.MatchString(v) {
				return fmt.Sprintf("%s: %q is not a number HubSpot takes (digits with at most one decimal point)", name, v)
			}
		case p.Type == "enumeration" && !p.ExternalOptions:
			values := []string{v}
			if p.FieldType == "checkbox" {
				values = strings.Split(v, ";")
			}
			for _, one := range values {
				if !slices.ContainsFunc(p.Options, func(o hubspot.Option) bool { return o.Value == one }) {
					return fmt.Sprintf("%s: %q is not one of the property's option values", name, one)
				}
			}
		}
	}
	return ""
}

// Apply implements Destination. With Archive, removals archive their
// records (one batch archive call); other rows are written.
func (h *HubSpot) Apply(ctx context.Context, rows []Row) ([]Outcome, error) {
	if !h.Archive && !h.Create {
		return h.write(ctx, rows)
	}
	var writes, removes []Row
	var writeAt, removeAt []int
	for i, r := range rows {
		if r.Op == "remove" && h.Archive {
			removes, removeAt = append(removes, r), append(removeAt, i)
		} else {
			writes, writeAt = append(writes, r), append(writeAt, i)
		}
	}
	out := make([]Outcome, len(rows))
	if len(writes) > 0 {
		write := h.write
		if h.Create {
			write = h.createOrUpdate
		}
		res, err := write(ctx, writes)
		if err != nil {
			return nil, err
		}
		for k, i := range writeAt {
			out[i] = res[k]
		}
	}
	if len(removes) > 0 {
		ids := make([]string, len(removes))
		for k, r := range removes {
			ids[k] = cmp.Or(r.DestID, r.Key) // a created record by the id kept for it
		}
		// HubSpot answers 204 for the whole batch, ids it does not have
		// included: an archive is applied or the call fails.
		if err := h.Client.BatchArchive(ctx, h.api(), ids); err != nil {
			return nil, err
		}
		for _, i := range removeAt {
			out[i] = Outcome{Status: Applied}
		}
	}
	return out, nil
}

// properties splits a row's values into properties and association
// targets ("@<object>" fields).
func (h *HubSpot) properties(r Row) (map[string]string, []hubspot.Association, error) {
	props := make(map[string]string, len(r.Values))
	var assoc []hubspot.Association
	for k, raw := range r.Values {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, fmt.Errorf("row %s: field %s is not a string: %s", r.Key, k, raw)
		}
		if to, ok := strings.CutPrefix(k, "@"); ok {
			if typ, known := hubspot.DefaultAssociationType(h.Object, to); known && v != "" {
				assoc = append(assoc, hubspot.Association{ToID: v, TypeID: typ})
			}
			continue
		}
		props[k] = v
	}
	return props, assoc, nil
}

// createOrUpdate writes create-mode rows: rows with an id are updated by
// it (association changes are not applied to existing records); new rows
// are first looked up by KeyProperty and adopted when HubSpot has them,
// and created otherwise. Each outcome carries the record's id.
func (h *HubSpot) createOrUpdate(ctx context.Context, rows []Row) ([]Outcome, error) {
	out := make([]Outcome, len(rows))
	var newKeys []string
	for _, r := range rows {
		if r.DestID == "" {
			newKeys = append(newKeys, r.Key)
		}
	}
	found := map[string]string{}
	if len(newKeys) > 0 {
		page, err := h.Client.Search(ctx, h.api(), hubspot.SearchRequest{
			FilterGroups: [][]hubspot.Filter{{{PropertyName: h.KeyProperty, Operator: "IN", Values: newKeys}}},
			Properties:   []string{h.KeyProperty}, Limit: 200})
		if err != nil {
			return nil, fmt.Errorf("look up %s by %s before creating: %w", h.Object, h.KeyProperty, err)
		}
		for _, o := range page.Results {
			if v := o.Properties[h.KeyProperty]; v != nil {
				found[*v] = o.ID
			}
		}
	}
	var updates, creates []Row
	var updateAt, createAt []int
	for i, r := range rows {
		if r.DestID == "" {
			if id, ok := found[r.Key]; ok {
				r.DestID = id
			}
		}
		if r.DestID != "" {
			r.Key = r.DestID
			updates, updateAt = append(updates, r), append(updateAt, i)
			out[i].DestID = r.DestID
			continue
		}
		creates, createAt = append(creates, r), append(createAt, i)
	}
	if len(updates) > 0 {
		res, err := h.write(ctx, updates)
		if err != nil {
			return nil, err
		}
		for k, i := range updateAt {
			res[k].DestID = out[i].DestID
			out[i] = res[k]
		}
	}
	if len(creates) > 0 {
		inputs := make([]hubspot.Input, len(creates))
		for k, r := range creates {
			props, assoc, err := h.properties(r)
			if err != nil {
				return nil, err
			}
			inputs[k] = hubspot.Input{Properties: props, Associations: assoc}
		}
		// A create is not retried after an ambiguous failure (the client's
		// rule); the next run's lookup finds it if it happened.
		res, err := h.Client.BatchCreate(ctx, h.api(), inputs)
		if err != nil {
			return nil, err
		}
		for k, i := range createAt {
			out[i] = h.outcome(res[k], creates[k])
			if res[k].Err == nil && res[k].Object != nil {
				out[i].DestID = res[k].Object.ID
			}
		}
	}
	return out, nil
}

// write updates or upserts rows' properties.
func (h *HubSpot) write(ctx context.Context, rows []Row) ([]Outcome, error) {
	inputs := make([]hubspot.Input, len(rows))
	for i, r := range rows {
		props, _, err := h.properties(r)
		if err != nil {
			return nil, err
		}
		in := hubspot.Input{ID: r.Key, Properties: props}
		if h.Match != "id" {
			in.IDProperty = h.Match
		}
		inputs[i] = in
	}
	var results []hubspot.Result
	var err error
	if h.Upsert {
		results, err = h.Client.BatchUpsert(ctx, h.api(), inputs)
	} else {
		results, err = h.Client.BatchUpdate(ctx, h.api(), inputs)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, len(results))
	for i, r := range results {
		out[i] = h.outcome(r, rows[i])
	}
	return out, refusedAlike(out)
}

// outcome reads one batch result.
func (h *HubSpot) outcome(r hubspot.Result, row Row) Outcome {
	switch {
	case r.Err == nil:
		return Outcome{Status: Applied}
	case r.Err.NotFound():
		return Outcome{Status: SkippedNotFound, Error: fmt.Sprintf("no %s with %s %q", h.Object, h.Match, row.Key)}
	case r.Err.Category == "VALIDATION_ERROR" || r.Err.Category == "CONFLICT":
		return Outcome{Status: Rejected, Error: r.Err.Category + ": " + r.Err.Message}
	}
	return Outcome{Status: Failed, Error: r.Err.Category + ": " + r.Err.Message}
}

var _ FieldCreator = (*HubSpot)(nil)

// createdGroup is the property group create_fields puts properties in.
const createdGroup = "backflow"

// Missing implements FieldCreator.
func (h *HubSpot) Missing(ctx context.Context, fields []string) ([]string, error) {
	if err := h.resolve(ctx); err != nil {
		return nil, err
	}
	props, err := h.Client.Properties(ctx, h.api())
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, p := range props {
		have[p.Name] = true
	}
	var out []string
	for _, f := range fields {
		if !have[f] && !strings.HasPrefix(f, "@") { // "@…": an association, not a property
			out = append(out, f)
		}
	}
	return out, nil
}

// TypeFor implements FieldCreator.
func (h *HubSpot) TypeFor(colType string) (string, error) {
	switch {
	case colType == "BOOLEAN":
		return "bool", nil
	case isNumeric(colType):
		return "number", nil
	case colType == "DATE":
		return "date", nil
	case strings.HasPrefix(colType, "TIMESTAMP"):
		return "datetime", nil
	case colType == "VARCHAR":
		return "string", nil
	}
	return "", fmt.Errorf("no HubSpot property type holds a %s column; cast it in the model", colType)
}

// CreateField implements FieldCreator: the property goes into a "backflow"
// group (created once), labelled with its name.
func (h *HubSpot) CreateField(ctx context.Context, field, fieldType string) error {
	groups, err := h.Client.PropertyGroups(ctx, h.api())
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(groups, func(g hubspot.PropertyGroup) bool { return g.Name == createdGroup }) {
		err := h.Client.CreatePropertyGroup(ctx, h.api(), hubspot.PropertyGroup{Name: createdGroup, Label: "backflow"})
		if err != nil && !isConflict(err) {
			return err
		}
	}
	p := hubspot.Property{Name: field, Label: field, Type: fieldType, GroupName: createdGroup,
		Description: "Written by backflow (create_fields)."}
	switch fieldType {
	case "string":
		p.FieldType = "text"
	case "number":
		p.FieldType = "number"
	case "bool":
		p.FieldType = "booleancheckbox"
		p.Options = []hubspot.Option{{Label: "Yes", Value: "true"}, {Label: "No", Value: "false"}}
	case "date", "datetime":
		p.FieldType = "date"
	}
	created, err := h.Client.CreateProperty(ctx, h.api(), p)
	if err != nil && !isConflict(err) {
		return err
	}
	if created != nil && h.props != nil {
		h.props[field] = *created
	}
	return nil
}

// isConflict reports a 409: the thing to create already exists.
func isConflict(err error) bool {
	var apiErr *hubspot.Error
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict
}
