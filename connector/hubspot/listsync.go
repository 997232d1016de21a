package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// A list sync keeps HubSpot lists' members equal to a model's rows. One
// list per sync:
//
//	model: pql_contacts        # one row per contact that belongs
//	destination: hubspot
//	object: lists
//	list: Product qualified    # a MANUAL (or SNAPSHOT) list, by name
//	key: contact_id            # the record id
//	on_remove: clear           # leaving the model removes it from the list
//	create_fields: true        # create the list when HubSpot has none
//	fields:
//	  contact_id: record
//
// or (list, record) pairs, many lists per sync, without list: — the key is
// one per pair (list_name || ':' || contact_id) and two columns map to
// list (its name) and record:
//
//	key: membership
//	fields:
//	  list_name: list
//	  contact_id: record
//
// A new row adds its record; a row that leaves the model is removed from
// the list with on_remove: clear (ignore leaves it); a pair whose list or
// record changes under the same key leaves the old list and joins the new.
// A DYNAMIC list is refused at plan time: HubSpot fills it from its
// filters (the whole sync with list:, the rows naming it with pairs).

// The fields a list sync maps: the record id, and for pairs the list's
// name.
const (
	listRecordField = "record"
	listNameField   = "list"
)

// listTypeID is the objectTypeId of the record types a list sync writes.
func listTypeID(object string) (string, bool) {
	switch object {
	case "contacts":
		return "0-1", true
	case "companies":
		return "0-2", true
	case "deals":
		return "0-3", true
	}
	return "", false
}

func (c *Config) listSync(s *connector.Sync, set syncSettings) (connector.Target, error) {
	f, spec := s.File, &s.Spec
	if set.ListObject == "" {
		set.ListObject = "contacts"
	}
	if _, ok := listTypeID(set.ListObject); !ok {
		return nil, f.Errorf("list_object", "must be contacts, companies or deals, not %q", set.ListObject)
	}
	if spec.Mode == "" {
		spec.Mode = load.Update
	}
	if spec.Mode != load.Update {
		return nil, f.Errorf("mode", "a list sync adds and removes members (mode update), not %q", spec.Mode)
	}
	if spec.OnRemove == load.Archive {
		return nil, f.Errorf("on_remove", "a list sync removes members (clear) or leaves them (ignore); it archives no record")
	}
	mapped := map[string]string{}
	for _, fl := range spec.Fields {
		mapped[fl.Field] = fl.Column
	}
	switch {
	case set.List != "" && (len(spec.Fields) != 1 || mapped[listRecordField] != spec.Key):
		return nil, f.Errorf("fields", "a list sync maps its key, the record id, to %q: fields: {%s: %s}", listRecordField, spec.Key, listRecordField)
	case set.List == "" && (len(spec.Fields) != 2 || mapped[listRecordField] == "" || mapped[listNameField] == ""):
		return nil, f.Errorf("list", "is required for object: lists (the HubSpot list's name), or map two columns for (list, record) pairs: fields: {list_name: %s, contact_id: %s}", listNameField, listRecordField)
	}
	if s.BatchSize == 0 {
		s.BatchSize = api.MaxListMembershipIDs
	}
	if s.BatchSize > api.MaxListMembershipIDs {
		return nil, f.Errorf("batch_size", "one list call holds at most %d records, not %d", api.MaxListMembershipIDs, s.BatchSize)
	}
	return &target{object: "lists", list: set.List, pairs: set.List == "", listObject: set.ListObject, mode: load.Update, size: s.BatchSize}, nil
}

// listDest is a list sync's destination.
type listDest struct {
	client *api.Client
	target
	listID string // resolved by Describe, or made by the first Apply
	create bool   // the list is missing and create_fields asks for it
	// With pairs: every list of the record type by lower-cased name (as
	// Describe found them, and those Apply made).
	byName map[string]api.List
	// staged is what extraction stages, for drift.
	staged extracted
}

var _ load.Destination = (*listDest)(nil)

func (h *listDest) typeID() string {
	id, _ := listTypeID(h.listObject)
	return id
}

// Describe implements load.Destination: the list must exist (or be made,
// with create_fields) and take API writes.
func (h *listDest) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	if h.pairs {
		return h.describePairs(ctx, req)
	}
	if !slices.Equal(req.Fields, []string{listRecordField}) {
		return nil, fmt.Errorf("fields: a list sync maps only the record id, to %q", listRecordField)
	}
	l, ok, err := h.client.ListByName(ctx, h.typeID(), h.list)
	if err != nil {
		return nil, err
	}
	switch {
	case !ok && !req.CreateFields:
		return nil, fmt.Errorf("list: HubSpot has no %s list named %q; make a manual list in HubSpot, or set create_fields: true", h.listObject, h.list)
	case !ok:
		h.create = true
	case !l.Writable():
		return nil, fmt.Errorf("list: %q is a %s list: HubSpot fills it from its filters and refuses API writes; sync to a MANUAL list (or to a property)", h.list, l.ProcessingType)
	default:
		h.listID = l.ListID
	}
	d := h.description(map[string]string{listRecordField: "string"})
	d.Observed, d.NotObserved = h.observed()
	return d, nil
}

// observed is where extraction stages the list's members, for drift: a
// member backflow added that the staged list no longer holds was removed
// by someone else (in HubSpot's UI, a workflow, an import). The list's
// latest change (updated, last added, last removed) is its modification
// time. HubSpot keeps no history of who removed a member, so such drift
// has no source.
func (h *listDest) observed() (*load.Observed, string) {
	switch {
	case !slices.Contains(h.staged.objects, "lists"):
		return nil, "hubspot lists are not extracted (add lists to hubspot.extract.objects), so drift cannot be checked"
	case h.listID == "":
		return nil, fmt.Sprintf("the list %q is created by this run", h.list)
	}
	list := warehouse.Literal(h.listID)
	return &load.Observed{Schema: "raw_hubspot", Table: "lists", Also: []string{"raw_hubspot.list_memberships"},
		Record: "r.id", Key: func(string) string { return list }, ID: "r.id",
		Modified: "greatest(r.updated_at, r.last_added_at, r.last_removed_at)",
		Columns:  []string{"id", "updated_at", "last_added_at", "last_removed_at"},
		Fields: map[string]load.ObservedField{listRecordField: {Column: "id",
			Found: `CASE WHEN EXISTS (SELECT 1 FROM raw_hubspot.list_memberships m WHERE m.list_id = r.id AND m.record_id = s.key)
				THEN json_extract_string(s.payload, '$.` + listRecordField + `') END`,
			Sent: func(j string) string { return "json_extract_string(" + j + ", '$')" }}},
	}, ""
}

func (h *listDest) description(types map[string]string) *load.Description {
	lim := h.client.Limiter()
	d := &load.Description{Name: h.String(), Types: types, BatchSize: min(max(h.size, 1), api.MaxListMembershipIDs),
		Value: valueSQL, Pace: load.Pace{PerSecond: lim.PerSecond(), DailyLeft: -1}}
	if _, remaining, ok := lim.Daily(); ok {
		d.Pace.DailyLeft = int64(remaining)
	}
	return d
}

// describePairs reads every list of the record type once; a row naming a
// DYNAMIC list, or a missing one without create_fields, is refused at
// plan time (load.Description.Check), the others are sent.
func (h *listDest) describePairs(ctx context.Context, req load.Request) (*load.Description, error) {
	if !slices.Equal(slices.Sorted(slices.Values(req.Fields)), []string{listNameField, listRecordField}) {
		return nil, fmt.Errorf("fields: a list sync of pairs maps a list name to %q and a record id to %q", listNameField, listRecordField)
	}
	lists, err := h.client.Lists(ctx, h.typeID())
	if err != nil {
		return nil, err
	}
	h.create, h.byName = req.CreateFields, map[string]api.List{}
	for _, l := range lists {
		h.byName[strings.ToLower(l.Name)] = l
	}
	d := h.description(map[string]string{listNameField: "string", listRecordField: "string"})
	d.Check = h.checkPair
	d.NotObserved = "list syncs of (list, record) pairs are not compared for drift yet"
	return d, nil
}

// checkPair is why HubSpot would refuse a pair's list; "" when it takes it.
func (h *listDest) checkPair(values map[string]json.RawMessage) string {
	raw, ok := values[listNameField]
	if !ok {
		return "" // unchanged: it was taken when it was sent
	}
	var name string
	if json.Unmarshal(raw, &name) != nil || strings.TrimSpace(name) == "" {
		return "list: the list name is empty"
	}
	l, ok := h.byName[strings.ToLower(name)]
	switch {
	case !ok && !h.create:
		return fmt.Sprintf("list: HubSpot has no %s list named %q; make a manual list, or set create_fields: true", h.listObject, name)
	case ok && !l.Writable():
		return fmt.Sprintf("list: %q is a %s list: HubSpot fills it from its filters and refuses API writes", name, l.ProcessingType)
	}
	return ""
}

// Apply implements load.Destination: one add call for the batch's new
// members and one remove call for those leaving. A record HubSpot does
// not have is skipped (retried when its row changes), never failed.
func (h *listDest) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	if h.pairs {
		return h.applyPairs(ctx, rows)
	}
	if h.listID == "" {
		if err := h.makeList(ctx); err != nil {
			return nil, err
		}
	}
	var add, remove []string
	for _, r := range rows {
		if r.Op == load.Remove {
			remove = append(remove, r.Key)
		} else {
			add = append(add, r.Key)
		}
	}
	missing := map[string]bool{}
	for _, part := range []struct {
		ids []string
		fn  func(context.Context, string, []string) (api.MembershipChange, error)
	}{{add, h.client.AddToList}, {remove, h.client.RemoveFromList}} {
		if len(part.ids) == 0 {
			continue
		}
		ch, err := part.fn(ctx, h.listID, part.ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ch.Missing {
			missing[id] = true
		}
	}
	out := make([]load.Outcome, len(rows))
	for i, r := range rows {
		switch {
		case missing[r.Key] && r.Op != load.Remove:
			out[i] = load.Outcome{Status: load.SkippedNotFound, Error: fmt.Sprintf("HubSpot has no %s %s", h.listObject, r.Key)}
		default:
			// A member already (add) or gone already (remove): the list
			// holds what the model says.
			out[i] = load.Outcome{Status: load.Applied}
		}
	}
	return out, nil
}

// makeList creates the missing list (create_fields), or finds the one a
// lost answer made.
func (h *listDest) makeList(ctx context.Context) error {
	if !h.create {
		return fmt.Errorf("list %q was not described", h.list)
	}
	l, err := h.client.CreateList(ctx, h.typeID(), h.list)
	if err != nil && isConflict(err) {
		found, ok, ferr := h.client.ListByName(ctx, h.typeID(), h.list)
		if ferr != nil || !ok {
			return fmt.Errorf("create list %q: %w", h.list, err)
		}
		l, err = found, nil
	}
	if err != nil {
		return fmt.Errorf("create list %q: %w", h.list, err)
	}
	h.listID = l.ListID
	return nil
}

// membership is one (list, record) pair of a row.
type membership struct{ list, record string }

// same reports whether two pairs are one membership: list names match in
// any case, as HubSpot's do.
func (m membership) same(o membership) bool {
	return strings.EqualFold(m.list, o.list) && m.record == o.record
}

// pairOf reads a pair from a row's values; ok is false when either is
// missing or not a string.
func pairOf(values map[string]json.RawMessage) (membership, bool) {
	var m membership
	if json.Unmarshal(values[listNameField], &m.list) != nil || json.Unmarshal(values[listRecordField], &m.record) != nil {
		return m, false
	}
	return m, m.list != "" && m.record != ""
}

// applyPairs sends a batch of pairs: per list, one add call and one
// remove call. A change (the same key, another list or record) leaves the
// pair last sent and joins the new one.
func (h *listDest) applyPairs(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
	type calls struct{ add, remove []string }
	byList := map[string]*calls{}
	var order []string
	want := func(list string) *calls {
		k := strings.ToLower(list)
		if byList[k] == nil {
			byList[k] = &calls{}
			order = append(order, list)
		}
		return byList[k]
	}
	joins := make([]membership, len(rows))
	out := make([]load.Outcome, len(rows))
	for i, r := range rows {
		sent, hadSent := pairOf(r.Sent)
		next := sent
		if r.Op != load.Remove {
			merged := maps.Clone(r.Sent)
			if merged == nil {
				merged = map[string]json.RawMessage{}
			}
			maps.Copy(merged, r.Values)
			var ok bool
			if next, ok = pairOf(merged); !ok {
				out[i] = load.Outcome{Status: load.Rejected, Error: "a pair needs both a list name and a record id"}
				continue
			}
		}
		if hadSent && (r.Op == load.Remove || !next.same(sent)) {
			c := want(sent.list)
			c.remove = append(c.remove, sent.record)
		}
		if r.Op != load.Remove && (!hadSent || !next.same(sent)) {
			c := want(next.list)
			c.add = append(c.add, next.record)
			joins[i] = next
		}
	}
	missing := map[membership]bool{}
	refused := map[string]string{}
	for _, name := range order {
		c := byList[strings.ToLower(name)]
		// A record leaving under one key and joining under another stays.
		joining := map[string]bool{}
		for _, rec := range c.add {
			joining[rec] = true
		}
		c.remove = slices.DeleteFunc(c.remove, func(rec string) bool { return joining[rec] })
		id, why, err := h.pairList(ctx, name, len(c.add) > 0)
		if err != nil {
			return nil, err
		}
		if why != "" || id == "" {
			refused[strings.ToLower(name)] = why
			continue
		}
		for _, part := range []struct {
			ids []string
			fn  func(context.Context, string, []string) (api.MembershipChange, error)
		}{{c.add, h.client.AddToList}, {c.remove, h.client.RemoveFromList}} {
			if len(part.ids) == 0 {
				continue
			}
			ch, err := part.fn(ctx, id, part.ids)
			if err != nil {
				return nil, fmt.Errorf("list %q: %w", name, err)
			}
			for _, rec := range ch.Missing {
				missing[membership{strings.ToLower(name), rec}] = true
			}
		}
	}
	for i := range rows {
		j := joins[i]
		switch {
		case out[i].Status != "":
		case j.list != "" && refused[strings.ToLower(j.list)] != "":
			out[i] = load.Outcome{Status: load.Rejected, Error: refused[strings.ToLower(j.list)]}
		case j.list != "" && missing[membership{strings.ToLower(j.list), j.record}]:
			out[i] = load.Outcome{Status: load.SkippedNotFound, Error: fmt.Sprintf("HubSpot has no %s %s", h.listObject, j.record)}
		default:
			out[i] = load.Outcome{Status: load.Applied}
		}
	}
	return out, nil
}

// pairList is the id of the list a pair names: found by Describe, or made
// now (create_fields) when there are members to add. why says why a list
// takes no writes; id is "" for a missing list nothing joins (its removals
// have nothing to remove).
func (h *listDest) pairList(ctx context.Context, name string, adding bool) (id, why string, err error) {
	if l, ok := h.byName[strings.ToLower(name)]; ok {
		if !l.Writable() {
			return "", fmt.Sprintf("list: %q is a %s list: HubSpot fills it from its filters and refuses API writes", name, l.ProcessingType), nil
		}
		return l.ListID, "", nil
	}
	switch {
	case !adding:
		return "", "", nil
	case !h.create:
		return "", fmt.Sprintf("list: HubSpot has no %s list named %q; make a manual list, or set create_fields: true", h.listObject, name), nil
	}
	l, err := h.client.CreateList(ctx, h.typeID(), name)
	if err != nil && isConflict(err) {
		found, ok, ferr := h.client.ListByName(ctx, h.typeID(), name)
		if ferr != nil || !ok {
			return "", "", fmt.Errorf("create list %q: %w", name, err)
		}
		l, err = found, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("create list %q: %w", name, err)
	}
	h.byName[strings.ToLower(name)] = l
	return l.ListID, "", nil
}
