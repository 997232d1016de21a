package hubspot

import (
	"context"
	"fmt"
	"slices"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/load"
)

// A list sync keeps a HubSpot list's members equal to a model's rows:
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
// A new row adds its record; a row that leaves the model is removed from
// the list with on_remove: clear (ignore leaves it). A DYNAMIC list is
// refused at plan time: HubSpot fills it from its filters.

// listRecordField is the one field a list sync maps: the record id.
const listRecordField = "record"

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
	if set.List == "" {
		return nil, f.Errorf("list", "is required for object: lists: the HubSpot list's name")
	}
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
	if len(spec.Fields) != 1 || spec.Fields[0].Field != listRecordField || spec.Fields[0].Column != spec.Key {
		return nil, f.Errorf("fields", "a list sync maps its key, the record id, to %q: fields: {%s: %s}", listRecordField, spec.Key, listRecordField)
	}
	if s.BatchSize == 0 {
		s.BatchSize = api.MaxListMembershipIDs
	}
	if s.BatchSize > api.MaxListMembershipIDs {
		return nil, f.Errorf("batch_size", "one list call holds at most %d records, not %d", api.MaxListMembershipIDs, s.BatchSize)
	}
	return &target{object: "lists", list: set.List, listObject: set.ListObject, mode: load.Update, size: s.BatchSize}, nil
}

// listDest is a list sync's destination.
type listDest struct {
	client *api.Client
	target
	listID string // resolved by Describe, or made by the first Apply
	create bool   // the list is missing and create_fields asks for it
}

var _ load.Destination = (*listDest)(nil)

func (h *listDest) typeID() string {
	id, _ := listTypeID(h.listObject)
	return id
}

// Describe implements load.Destination: the list must exist (or be made,
// with create_fields) and take API writes.
func (h *listDest) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
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
	lim := h.client.Limiter()
	d := &load.Description{Name: h.String(), Types: map[string]string{listRecordField: "string"}, BatchSize: min(max(h.size, 1), api.MaxListMembershipIDs),
		Value: valueSQL, Pace: load.Pace{PerSecond: lim.PerSecond(), DailyLeft: -1}}
	if _, remaining, ok := lim.Daily(); ok {
		d.Pace.DailyLeft = int64(remaining)
	}
	return d, nil
}

// Apply implements load.Destination: one add call for the batch's new
// members and one remove call for those leaving. A record HubSpot does
// not have is skipped (retried when its row changes), never failed.
func (h *listDest) Apply(ctx context.Context, rows []load.Row) ([]load.Outcome, error) {
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
