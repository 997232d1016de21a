package pendo

import (
	"fmt"
	"slices"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// observed is where extraction stages the visitors or accounts this
// destination writes (raw_pendo.visitors, raw_pendo.accounts, one column
// per group__field), for drift. Pendo keeps no history of metadata, so a
// drift's source is unknown; auto.lastupdated dates the record's last
// change.
func (p *metadata) observed(fields []string, types map[string]string) (*load.Observed, string) {
	table, idCol := "visitors", "visitor_id"
	if p.kind == api.Account {
		table, idCol = "accounts", "account_id"
	}
	if !slices.Contains(p.streams, table) {
		return nil, fmt.Sprintf("pendo %s are not extracted (add %s to pendo.extract.streams), so drift cannot be checked", table, table)
	}
	id := "r." + warehouse.Ident(idCol)
	o := &load.Observed{Schema: "raw_pendo", Table: table, Record: id, ID: id, Modified: "r.auto__lastupdated",
		Columns: []string{idCol, "auto__lastupdated"}, Fields: map[string]load.ObservedField{}, Unobserved: map[string]string{}}
	for _, f := range fields {
		typ, ok := types[f]
		if !ok {
			o.Unobserved[f] = "created by this run"
			continue
		}
		o.Fields[f] = compare(p.group+"__"+f, typ)
	}
	return o, ""
}

// compare is a metadata field's comparison: both sides in one text form
// per Pendo type (numbers through DOUBLE, times in epoch milliseconds,
// lists sorted), NULL when empty.
func compare(column, typ string) load.ObservedField {
	col := "r." + warehouse.Ident(column)
	f := load.ObservedField{Column: column}
	text := func(j string) string { return "nullif(json_extract_string(" + j + ", '$'), '')" }
	switch typ {
	case "boolean":
		f.Found = "CAST(" + col + " AS VARCHAR)"
		f.Sent = func(j string) string { return "lower(" + text(j) + ")" }
	case "integer", "float":
		f.Found = "CAST(CAST(" + col + " AS DOUBLE) AS VARCHAR)"
		f.Sent = func(j string) string { return "CAST(TRY_CAST(" + text(j) + " AS DOUBLE) AS VARCHAR)" }
	case "time":
		f.Found = "CAST(epoch_ms(" + col + ") AS VARCHAR)"
		f.Sent = func(j string) string { return "CAST(TRY_CAST(" + text(j) + " AS BIGINT) AS VARCHAR)" }
	case "list":
		f.Found = "CASE WHEN len(" + col + ") > 0 THEN to_json(list_sort(" + col + "))::VARCHAR END"
		f.Sent = func(j string) string {
			l := "TRY_CAST(" + j + " AS VARCHAR[])"
			return "CASE WHEN len(" + l + ") > 0 THEN to_json(list_sort(" + l + "))::VARCHAR END"
		}
	default:
		f.Found = "nullif(CAST(" + col + " AS VARCHAR), '')"
		f.Sent = text
	}
	return f
}
