package hubspot

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

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/load"
)

// objects writes CRM object properties: it updates existing records (by
// id, email or a unique property), upserts them by a unique property, or
// creates them (mode create): a record per new row, the row's key written
// into key_property, updated by its id afterwards. A new row whose
// key_property value HubSpot already holds (a creation whose answer was
// lost) is adopted, not created again. With on_remove archive, removals
// archive their records; otherwise a removal clears the fields.
type objects struct {
	client *api.Client
	target

	apiType string // the object as the API names it: a custom object's objectTypeId
	// props are the object's property definitions, read by Describe and
	// grown by the fields it creates; check reads them.
	props map[string]api.Property
	// staged is what the project extracts, for drift.
	staged extracted
}

var (
	_ load.Destination = (*objects)(nil)
	_ load.Explainer   = (*objects)(nil)
)

// resolve finds a custom object's objectTypeId (the API's name for it)
// from the account's schemas; standard objects keep their name.
func (h *objects) resolve(ctx context.Context) error {
	if h.apiType != "" {
		return nil
	}
	if api.IsStandardObject(h.object) || strings.HasPrefix(h.object, "2-") || strings.HasPrefix(h.object, "0-") {
		h.apiType = h.object
		return nil
	}
	schemas, err := h.client.Schemas(ctx)
	if err != nil {
		return fmt.Errorf("look up custom object %s: %w", h.object, err)
	}
	for _, sc := range schemas {
		if sc.Name == h.object || sc.FullyQualifiedName == h.object {
			h.apiType = sc.ObjectTypeID
			return nil
		}
	}
	return fmt.Errorf("object: %q is neither a standard object nor a custom object of this HubSpot account", h.object)
}

func (h *objects) api() string { return cmp.Or(h.apiType, h.object) }

// Describe implements load.Destination: types come from the property
// definitions; a read-only or calculated property cannot be written; the
// pace is the client's, corrected by the rate-limit headers of the
// properties call.
func (h *objects) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	if err := h.resolve(ctx); err != nil {
		return nil, err
	}
	props, err := h.client.Properties(ctx, h.api())
	if err != nil {
		return nil, err
	}
	h.props = map[string]api.Property{}
	for _, p := range props {
		h.props[p.Name] = p
	}
	if err := h.checkKeys(); err != nil {
		return nil, err
	}
	d := &load.Description{Name: h.String(), Types: map[string]string{}, BatchSize: min(max(h.size, 1), api.MaxBatch),
		Value: valueSQL, Check: h.check, Creator: h}
	// Every field is checked, so one run names all the bad ones.
	var bad []error
	var missing []string
	for _, f := range req.Fields {
		if to, ok := strings.CutPrefix(f, "@"); ok {
			if _, known := api.DefaultAssociationType(h.object, to); !known {
				bad = append(bad, fmt.Errorf("associations: backflow cannot associate %s to %s (standard objects only)", h.object, to))
			}
			d.Types[f] = "association"
			continue
		}
		p, ok := h.props[f]
		switch {
		case !ok && req.CreateFields:
			d.Missing = append(d.Missing, f)
			continue
		case !ok:
			missing = append(missing, fmt.Sprintf("%q", f))
			continue
		case p.ReadOnly():
			bad = append(bad, fmt.Errorf("fields: %s property %q is read-only (calculated or system) and cannot be written", h.object, f))
		case p.FieldType == "file":
			bad = append(bad, fmt.Errorf("fields: %s property %q holds files; backflow does not write file properties", h.object, f))
		}
		d.Types[f] = p.Type
	}
	if len(missing) > 0 {
		it := "it"
		if len(missing) > 1 {
			it = "them"
		}
		bad = append([]error{fmt.Errorf("fields: %s has no property %s; create %s in HubSpot (or set create_fields)", h.object, strings.Join(missing, ", "), it)}, bad...)
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	d.Observed, d.NotObserved = h.observed(req.Fields)
	l := h.client.Limiter()
	d.Pace = load.Pace{PerSecond: l.PerSecond(), DailyLeft: -1}
	if _, remaining, ok := l.Daily(); ok {
		d.Pace.DailyLeft = int64(remaining)
	}
	return d, nil
}

// checkKeys refuses a key_property that cannot hold the key, and a match
// property that identifies nothing.
func (h *objects) checkKeys() error {
	if h.mode == load.Create {
		if p, ok := h.props[h.keyProperty]; ok && p.Type != "string" {
			return fmt.Errorf("key_property: %s property %q is a %s; it must be text to hold the model key", h.object, h.keyProperty, p.Type)
		}
	}
	if h.mode == load.Upsert || h.match != "id" {
		p, ok := h.props[h.match]
		unique := ok && (p.HasUniqueValue || (h.match == "email" && h.object == "contacts"))
		if !unique {
			return fmt.Errorf("match: %s %q is not a unique-value property, so it cannot identify records", h.object, h.match)
		}
	}
	return nil
}

// valueSQL is load.Description.Value with HubSpot's encodings: every value is
// a string; "" clears (a NULL in the model clears the property).
func valueSQL(col, colType, fieldType string) (string, error) {
	text := func(expr string) string { return "coalesce(" + expr + ", '')" }
	numeric := load.IsNumeric(colType)
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
		case load.IsInteger(colType):
			return text("pendo_time_to_hubspot_date(CAST(" + col + " AS BIGINT))"), nil
		}
	case "datetime":
		switch {
		case colType == "DATE":
			return text("pendo_time_to_hubspot_datetime(CAST(" + col + " AS TIMESTAMP))"), nil
		case strings.HasPrefix(colType, "TIMESTAMP"):
			return text("pendo_time_to_hubspot_datetime(" + col + ")"), nil
		case load.IsInteger(colType):
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

// check is load.Description.Check: the values HubSpot would refuse, so
// that they are reported per row instead of failing a batch.
func (h *objects) check(values map[string]json.RawMessage) string {
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
				if !slices.ContainsFunc(p.Options, func(o api.Option) bool { return o.Value == one }) {
					return fmt.Sprintf("%s: %q is not one of the property's option values", name, one)
				}
			}
		}
	}
	return ""
}

// Apply implements Destination. With Archive, removals archive their
// records (one batch archive call); other rows are written.
func (h *objects) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	if !h.archive && h.mode != load.Create {
		return h.write(ctx, rows)
	}
	var writes, removes []load.Row
	var writeAt, removeAt []int
	for i, r := range rows {
		if r.Op == load.Remove && h.archive {
			removes, removeAt = append(removes, r), append(removeAt, i)
		} else {
			writes, writeAt = append(writes, r), append(writeAt, i)
		}
	}
	out := make([]load.Outcome, len(rows))
	if len(writes) > 0 {
		write := h.write
		if h.mode == load.Create {
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
		if err := h.client.BatchArchive(ctx, h.api(), ids); err != nil {
			return nil, err
		}
		for _, i := range removeAt {
			out[i] = load.Outcome{Status: load.Applied}
		}
	}
	return out, nil
}

// properties splits a row's values into properties and association
// targets ("@<object>" fields).
func (h *objects) properties(r load.Row) (map[string]string, []api.Association, error) {
	props := make(map[string]string, len(r.Values))
	var assoc []api.Association
	for k, raw := range r.Values {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, fmt.Errorf("row %s: field %s is not a string: %s", r.Key, k, raw)
		}
		if to, ok := strings.CutPrefix(k, "@"); ok {
			if typ, known := api.DefaultAssociationType(h.object, to); known && v != "" {
				assoc = append(assoc, api.Association{ToID: v, TypeID: typ})
			}
			continue
		}
		props[k] = v
	}
	return props, assoc, nil
}

// adopt finds the records HubSpot already holds for new keys, by
// KeyProperty: key → record id. A unique key property (hasUniqueValue) is
// read by batch read with idProperty, which sees every write at once;
// otherwise search finds them, and search's index trails writes by a few
// seconds (docs/hubspot.md says what that leaves open).
func (h *objects) adopt(ctx context.Context, keys []string) (map[string]string, error) {
	found := map[string]string{}
	if len(keys) == 0 {
		return found, nil
	}
	if p, ok := h.props[h.keyProperty]; ok && p.HasUniqueValue {
		objs, _, err := h.client.BatchRead(ctx, h.api(), keys, api.ReadOptions{IDProperty: h.keyProperty, Properties: []string{h.keyProperty}})
		if err != nil {
			return nil, fmt.Errorf("look up %s by %s before creating: %w", h.object, h.keyProperty, err)
		}
		for _, o := range objs {
			if v := o.Properties[h.keyProperty]; v != nil {
				found[*v] = o.ID
			}
		}
		return found, nil
	}
	page, err := h.client.Search(ctx, h.api(), api.SearchRequest{
		FilterGroups: [][]api.Filter{{{PropertyName: h.keyProperty, Operator: "IN", Values: keys}}},
		Properties:   []string{h.keyProperty}, Limit: 200})
	if err != nil {
		return nil, fmt.Errorf("look up %s by %s before creating: %w", h.object, h.keyProperty, err)
	}
	for _, o := range page.Results {
		if v := o.Properties[h.keyProperty]; v != nil {
			found[*v] = o.ID
		}
	}
	return found, nil
}

// createOrUpdate writes create-mode rows: rows with an id are updated by
// it (association changes are not applied to existing records); new rows
// are first looked up by KeyProperty and adopted when HubSpot has them,
// and created otherwise. Each outcome carries the record's id.
func (h *objects) createOrUpdate(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	out := make([]load.Outcome, len(rows))
	var newKeys []string
	for _, r := range rows {
		if r.DestID == "" {
			newKeys = append(newKeys, r.Key)
		}
	}
	found, err := h.adopt(ctx, newKeys)
	if err != nil {
		return nil, err
	}
	var updates, creates []load.Row
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
		inputs := make([]api.Input, len(creates))
		for k, r := range creates {
			props, assoc, err := h.properties(r)
			if err != nil {
				return nil, err
			}
			inputs[k] = api.Input{Properties: props, Associations: assoc}
		}
		// A create is not retried after an ambiguous failure (the client's
		// rule); the next run's lookup finds it if it happened.
		res, err := h.client.BatchCreate(ctx, h.api(), inputs)
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
func (h *objects) write(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	inputs := make([]api.Input, len(rows))
	for i, r := range rows {
		props, _, err := h.properties(r)
		if err != nil {
			return nil, err
		}
		in := api.Input{ID: r.Key, Properties: props}
		if h.match != "id" {
			in.IDProperty = h.match
		}
		inputs[i] = in
	}
	var results []api.Result
	var err error
	if h.mode == load.Upsert {
		results, err = h.client.BatchUpsert(ctx, h.api(), inputs)
	} else {
		results, err = h.client.BatchUpdate(ctx, h.api(), inputs)
	}
	if err != nil {
		return nil, err
	}
	out := make([]load.Outcome, len(results))
	for i, r := range results {
		out[i] = h.outcome(r, rows[i])
	}
	return out, load.RefusedAlike(out)
}

// outcome reads one batch result.
func (h *objects) outcome(r api.Result, row load.Row) load.Outcome {
	switch {
	case r.Err == nil:
		return load.Outcome{Status: load.Applied}
	case r.Err.NotFound():
		return load.Outcome{Status: load.SkippedNotFound, Error: fmt.Sprintf("no %s with %s %q", h.object, h.match, row.Key)}
	case r.Err.Category == "VALIDATION_ERROR" || r.Err.Category == "CONFLICT":
		return load.Outcome{Status: load.Rejected, Error: r.Err.Category + ": " + r.Err.Message}
	}
	return load.Outcome{Status: load.Failed, Error: r.Err.Category + ": " + r.Err.Message}
}

var _ load.FieldCreator = (*objects)(nil)

// createdGroup is the property group create_fields puts properties in.
const createdGroup = "backflow"

// TypeFor implements load.FieldCreator.
func (h *objects) TypeFor(colType string) (string, error) {
	switch {
	case colType == "BOOLEAN":
		return "bool", nil
	case load.IsNumeric(colType):
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

// Create implements load.FieldCreator: the property goes into a
// "backflow" group (created once), labelled with its name.
func (h *objects) Create(ctx context.Context, field, fieldType string) error {
	groups, err := h.client.PropertyGroups(ctx, h.api())
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(groups, func(g api.PropertyGroup) bool { return g.Name == createdGroup }) {
		err := h.client.CreatePropertyGroup(ctx, h.api(), api.PropertyGroup{Name: createdGroup, Label: "backflow"})
		if err != nil && !isConflict(err) {
			return err
		}
	}
	p := api.Property{Name: field, Label: field, Type: fieldType, GroupName: createdGroup,
		Description: "Written by backflow (create_fields)."}
	if field == h.keyProperty && fieldType == "string" {
		// A unique key is looked up by batch read, which sees every write
		// at once; search trails writes (see adopt).
		p.HasUniqueValue = true
	}
	switch fieldType {
	case "string":
		p.FieldType = "text"
	case "number":
		p.FieldType = "number"
	case "bool":
		p.FieldType = "booleancheckbox"
		p.Options = []api.Option{{Label: "Yes", Value: "true"}, {Label: "No", Value: "false"}}
	case "date", "datetime":
		p.FieldType = "date"
	}
	created, err := h.client.CreateProperty(ctx, h.api(), p)
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
	var apiErr *api.Error
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict
}
