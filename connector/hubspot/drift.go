package hubspot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// extracted is what the project's extraction stages: the objects, and per
// object the properties (none: every property).
type extracted struct {
	objects    []string
	properties map[string][]string
}

// table is the raw_hubspot table an object is staged in, "" when the
// project does not extract it.
func (x extracted) table(object string) string {
	if slices.Contains(x.objects, object) {
		return object
	}
	if slices.Contains(x.objects, "custom") && !api.IsStandardObject(object) && !strings.HasPrefix(object, "2-") && !strings.HasPrefix(object, "0-") {
		return object
	}
	return ""
}

// staged reports whether extraction reads a property of an object.
func (x extracted) staged(object, property string) bool {
	want := x.properties[object]
	return len(want) == 0 || slices.Contains(want, property) || property == api.LastModifiedProperty(object)
}

// observed is where extraction stages the records this destination
// writes (raw_hubspot.<object>), for drift: matched as the sync matches
// them, each property compared in the form HubSpot answers it.
func (h *objects) observed(fields []string) (*load.Observed, string) {
	table := h.staged.table(h.object)
	if table == "" {
		return nil, fmt.Sprintf("hubspot %s are not extracted (add %s to hubspot.extract.objects), so drift cannot be checked", h.object, h.object)
	}
	o := &load.Observed{Schema: "raw_hubspot", Table: table, ID: "r.id", Modified: "r.updated_at", Where: "NOT r.archived",
		Columns: []string{"id", "updated_at", "archived"}, Record: "r.id", Fields: map[string]load.ObservedField{}, Unobserved: map[string]string{}}
	switch {
	case h.mode == load.Create:
		o.ByDestID = true
	case h.match != "id":
		p, ok := h.props[h.match]
		if !ok || !h.staged.staged(h.object, h.match) {
			return nil, fmt.Sprintf("hubspot %s property %s, which the sync matches on, is not extracted, so drift cannot be checked", h.object, h.match)
		}
		f := compare(h.object, p)
		o.Record, o.Key = f.Found, func(k string) string { return f.Sent("to_json(" + k + ")") }
		o.Columns = append(o.Columns, h.match)
	}
	for _, name := range fields {
		p, ok := h.props[name]
		switch {
		case strings.HasPrefix(name, "@"):
			o.Unobserved[name] = "associations are not compared"
		case !ok:
			o.Unobserved[name] = "created by this run"
		case !h.staged.staged(h.object, name):
			o.Unobserved[name] = fmt.Sprintf("not in hubspot.extract.properties.%s", h.object)
		default:
			o.Fields[name] = compare(h.object, p)
		}
	}
	return o, ""
}

// compare is a property's comparison: both sides as HubSpot stores the
// value (a contact's email in lower case, a number without trailing
// zeros, a date as YYYY-MM-DD, a datetime in epoch milliseconds, the
// options of a multiple checkbox in order), NULL when empty.
func compare(object string, p api.Property) load.ObservedField {
	col := "r." + warehouse.Ident(p.Name)
	text := func(j string) string { return "nullif(json_extract_string(" + j + ", '$'), '')" }
	f := load.ObservedField{Column: p.Name}
	switch {
	case p.Name == "email" && object == "contacts":
		f.Found = "nullif(lower(trim(" + col + ")), '')"
		f.Sent = func(j string) string { return "lower(trim(" + text(j) + "))" }
	case p.Type == "number":
		f.Found = "CAST(CAST(" + col + " AS DOUBLE) AS VARCHAR)"
		f.Sent = func(j string) string { return "CAST(TRY_CAST(" + text(j) + " AS DOUBLE) AS VARCHAR)" }
	case p.Type == "bool":
		f.Found = "CAST(" + col + " AS VARCHAR)"
		f.Sent = func(j string) string { return "lower(" + text(j) + ")" }
	case p.Type == "date":
		f.Found = "strftime(" + col + ", '%Y-%m-%d')"
		f.Sent = func(j string) string {
			t := text(j)
			return "CASE WHEN regexp_full_match(" + t + ", '-?[0-9]+') THEN strftime(make_timestamp(CAST(" + t + " AS BIGINT) * 1000), '%Y-%m-%d') ELSE strftime(TRY_CAST(" + t + " AS DATE), '%Y-%m-%d') END"
		}
	case p.Type == "datetime":
		f.Found = "CAST(epoch_ms(" + col + ") AS VARCHAR)"
		f.Sent = func(j string) string {
			t := text(j)
			// backflow's own form (pendo_time_to_hubspot_datetime) parses
			// as a plain timestamp, cheaper than with a zone.
			return "CASE WHEN " + t + " LIKE '____-__-__T__:__:__.___Z' THEN CAST(epoch_ms(TRY_CAST(left(" + t + ", 23) AS TIMESTAMP)) AS VARCHAR)" +
				" WHEN regexp_full_match(" + t + ", '-?[0-9]+') THEN CAST(CAST(" + t + " AS BIGINT) AS VARCHAR) ELSE CAST(epoch_ms(TRY_CAST(" + t + " AS TIMESTAMPTZ)) AS VARCHAR) END"
		}
	case p.Type == "enumeration" && p.FieldType == "checkbox":
		f.Found = "nullif(array_to_string(list_sort(string_split(" + col + ", ';')), ';'), '')"
		f.Sent = func(j string) string {
			return "nullif(array_to_string(list_sort(string_split(" + text(j) + ", ';')), ';'), '')"
		}
	default:
		f.Found = "nullif(CAST(" + col + " AS VARCHAR), '')"
		f.Sent = text
	}
	return f
}

// Explain implements load.Explainer with property history: the newest
// version of each drifted property, read MaxHistoryBatch records a call.
// A version whose value is not the one found (the history moved on since
// extraction) still names who changed it last.
func (h *objects) Explain(ctx context.Context, drifts []load.Drift) ([]load.Origin, error) {
	var ids, props []string
	for _, d := range drifts {
		if d.RecordID != "" && !slices.Contains(ids, d.RecordID) {
			ids = append(ids, d.RecordID)
		}
		if !slices.Contains(props, d.Field) {
			props = append(props, d.Field)
		}
	}
	slices.Sort(props)
	history, err := h.client.ReadHistory(ctx, h.api(), ids, props)
	if err != nil {
		return nil, err
	}
	out := make([]load.Origin, len(drifts))
	for i, d := range drifts {
		versions := history[d.RecordID][d.Field]
		if len(versions) == 0 {
			continue
		}
		v := versions[0]
		if !d.Pushed.IsZero() && v.Timestamp.Before(d.Pushed.Add(-clockSkew)) {
			// Nothing changed the property after backflow's write: HubSpot
			// answered 200 and kept its value.
			out[i] = load.Origin{Source: NotTaken, Label: notTakenWhy(h.object, d.Field), At: v.Timestamp}
			continue
		}
		out[i] = load.Origin{Source: v.SourceType, SourceID: v.SourceID, Label: v.SourceLabel, At: v.Timestamp}
		if v.UpdatedByUserID != 0 {
			out[i].UserID = strconv.FormatInt(v.UpdatedByUserID, 10)
		}
	}
	return out, nil
}

// NotTaken is the drift source of a write HubSpot accepted and did not
// apply: the property's history has no change after it.
const NotTaken = "NOT_TAKEN"

// clockSkew is how far HubSpot's clock (history timestamps) and
// backflow's (when a batch went out) may disagree: a change less than this
// before the write is not called "not taken", so that an edit made just
// after it is never hidden as one.
const clockSkew = time.Minute

func notTakenWhy(object, field string) string {
	if object == "contacts" || object == "companies" {
		if field == "lifecyclestage" {
			return "HubSpot kept its value: through the API a lifecycle stage only moves forward (clear it first to move it back)"
		}
	}
	return "HubSpot kept the value it held before backflow's write: its history has no later change"
}
