package hubspottest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lists v3 (shared/reference/hubspot-lists-webhooks.md §1–4): lists of one
// object type, MANUAL and SNAPSHOT lists written by the API, DYNAMIC ones
// computed from their filters. Where the reference says UNCONFIRMED the
// emulator is strict (docs/emulators.md): a duplicate name is 409, a write
// to a DYNAMIC list 400, and one membership call takes at most
// MaxListMembershipIDs ids.

// MaxListMembershipIDs is the most record ids one add or remove call takes
// (HubSpot states none; the emulator's cap is the reference's safest
// reading).
const MaxListMembershipIDs = 1000

// List is a list as the emulator keeps it.
type List struct {
	ID, Name, ObjectTypeID, ProcessingType string
	Version                                int
	CreatedAt, UpdatedAt                   time.Time
	// LastAdded and LastRemoved are when a member last joined or left.
	LastAdded, LastRemoved time.Time
	// Filter decides a DYNAMIC list's members (set from Go with
	// AddDynamicList; the emulator does not evaluate filterBranch).
	Filter func(Object) bool

	members map[int64]time.Time // record id → when it joined
}

type listState struct {
	lists  map[string]*List
	nextID int
}

// listType resolves an objectTypeId (0-1) to the type it names. Callers
// hold s.mu.
func (s *Server) listType(objectTypeID string) *objectType {
	for _, t := range s.types {
		if t.typeID == objectTypeID {
			return t
		}
	}
	return nil
}

// CreateList makes a MANUAL or SNAPSHOT list of objectType (contacts, …)
// as a user in the UI does, and returns its id.
func (s *Server) CreateList(name, objectType, processingType string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return "", fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	l, err := s.newList(name, t.typeID, processingType)
	if err != nil {
		return "", err
	}
	return l.ID, nil
}

// AddDynamicList makes a DYNAMIC list whose members are the live records
// of objectType for which member returns true, as HubSpot's filters
// decide them, and returns its id.
func (s *Server) AddDynamicList(name, objectType string, member func(Object) bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return "", fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	l, err := s.newList(name, t.typeID, "DYNAMIC")
	if err != nil {
		return "", err
	}
	l.Filter = member
	return l.ID, nil
}

// newList is called with s.mu held.
func (s *Server) newList(name, typeID, processing string) (*List, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("a list needs a name")
	}
	if !slices.Contains([]string{"MANUAL", "SNAPSHOT", "DYNAMIC"}, processing) {
		return nil, fmt.Errorf("processingType %q is not MANUAL, SNAPSHOT or DYNAMIC", processing)
	}
	for _, l := range s.lists.lists {
		if strings.EqualFold(l.Name, name) {
			return nil, fmt.Errorf("a list named %q already exists (id %s)", l.Name, l.ID)
		}
	}
	if s.lists.lists == nil {
		s.lists.lists, s.lists.nextID = map[string]*List{}, 100
	}
	s.lists.nextID++
	now := s.now()
	l := &List{ID: strconv.Itoa(s.lists.nextID), Name: name, ObjectTypeID: typeID, ProcessingType: processing, Version: 1,
		CreatedAt: now, UpdatedAt: now, members: map[int64]time.Time{}}
	s.lists.lists[l.ID] = l
	return l, nil
}

// RenameList renames a list as a user does (the name stays unique in
// any case); the list's updatedAt moves and its version goes up.
func (s *Server) RenameList(listID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists.lists[listID]
	if l == nil {
		return fmt.Errorf("hubspottest: no list %s", listID)
	}
	for _, o := range s.lists.lists {
		if o != l && strings.EqualFold(o.Name, name) {
			return fmt.Errorf("a list named %q already exists (id %s)", o.Name, o.ID)
		}
	}
	l.Name, l.UpdatedAt = name, s.now()
	l.Version++
	return nil
}

// AddToList and RemoveFromList change a MANUAL or SNAPSHOT list's members
// as a user does.
func (s *Server) AddToList(listID string, ids ...string) error { return s.editList(listID, ids, true) }

func (s *Server) RemoveFromList(listID string, ids ...string) error {
	return s.editList(listID, ids, false)
}

func (s *Server) editList(listID string, ids []string, add bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists.lists[listID]
	if l == nil || l.ProcessingType == "DYNAMIC" {
		return fmt.Errorf("hubspottest: no manual list %s", listID)
	}
	if add {
		s.addMembers(l, ids)
	} else {
		s.removeMembers(l, ids)
	}
	return nil
}

// ListMembers returns a list's member ids, ascending.
func (s *Server) ListMembers(listID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists.lists[listID]
	if l == nil {
		return nil
	}
	var out []string
	for _, id := range sortedIDs(s.membersOf(l)) {
		out = append(out, strconv.FormatInt(id, 10))
	}
	return out
}

// ListByName returns the id of the list called name (any case).
func (s *Server) ListByName(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lists.lists {
		if strings.EqualFold(l.Name, name) {
			return l.ID, true
		}
	}
	return "", false
}

// membersOf is a list's members now: a DYNAMIC list's are the live
// records its filter takes. Callers hold s.mu.
func (s *Server) membersOf(l *List) map[int64]bool {
	out := map[int64]bool{}
	if l.Filter == nil {
		for id := range l.members {
			if o := s.listType(l.ObjectTypeID).records[id]; o != nil && !o.Archived {
				out[id] = true
			}
		}
		return out
	}
	t := s.listType(l.ObjectTypeID)
	for _, id := range t.ids {
		if o := t.records[id]; !o.Archived && l.Filter(o.copy()) {
			out[id] = true
			if _, ok := l.members[id]; !ok {
				l.members[id] = o.UpdatedAt
			}
		}
	}
	return out
}

// addMembers adds the ids that are live records of the list's type and
// returns them and the missing ones. Callers hold s.mu.
func (s *Server) addMembers(l *List, ids []string) (added, missing []string) {
	t := s.listType(l.ObjectTypeID)
	now := s.now()
	for _, id := range ids {
		n, err := strconv.ParseInt(id, 10, 64)
		o := t.records[n]
		switch {
		case err != nil || o == nil || o.Archived:
			missing = append(missing, id)
		case l.members[n].IsZero():
			l.members[n] = now
			added = append(added, id)
		}
	}
	if len(added) > 0 {
		l.LastAdded, l.UpdatedAt = now, now
	}
	return added, missing
}

// removeMembers is addMembers' reverse. Callers hold s.mu.
func (s *Server) removeMembers(l *List, ids []string) (removed, missing []string) {
	t := s.listType(l.ObjectTypeID)
	now := s.now()
	for _, id := range ids {
		n, err := strconv.ParseInt(id, 10, 64)
		o := t.records[n]
		switch {
		case err != nil || o == nil:
			missing = append(missing, id)
		case !l.members[n].IsZero():
			delete(l.members, n)
			removed = append(removed, id)
		}
	}
	if len(removed) > 0 {
		l.LastRemoved, l.UpdatedAt = now, now
	}
	return removed, missing
}

// listJSON is PublicObjectList. Callers hold s.mu.
func (s *Server) listJSON(l *List) map[string]any {
	return map[string]any{"listId": l.ID, "listVersion": l.Version, "name": l.Name, "objectTypeId": l.ObjectTypeID,
		"processingType": l.ProcessingType, "processingStatus": "COMPLETE", "size": len(s.membersOf(l)),
		"createdAt": formatTime(l.CreatedAt), "updatedAt": formatTime(l.UpdatedAt), "filtersUpdatedAt": formatTime(l.CreatedAt)}
}

// listSearchJSON is PublicObjectListSearchResult: additionalProperties as
// strings (the spec's examples disagree; strings are the harder case).
func (s *Server) listSearchJSON(l *List) map[string]any {
	out := s.listJSON(l)
	delete(out, "size")
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	out["additionalProperties"] = map[string]string{"hs_list_size": strconv.Itoa(len(s.membersOf(l))),
		"hs_last_record_added_at": stamp(l.LastAdded), "hs_last_record_removed_at": stamp(l.LastRemoved),
		"hs_folder_name": "", "hs_list_reference_count": "0"}
	return out
}

func (s *Server) listNotFound(rw *response, id string) {
	rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: fmt.Sprintf("List %s does not exist.", id)})
}

// createList serves POST /crm/v3/lists. DYNAMIC and SNAPSHOT lists need
// a filterBranch; the emulator does not evaluate one, so it creates
// MANUAL lists only through the API (DYNAMIC ones come from Go).
func (s *Server) createList(rw *response, r *http.Request) {
	var in struct {
		Name           string          `json:"name"`
		ObjectTypeID   string          `json:"objectTypeId"`
		ProcessingType string          `json:"processingType"`
		FilterBranch   json.RawMessage `json:"filterBranch"`
	}
	if !decode(rw, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case in.Name == "" || in.ObjectTypeID == "" || in.ProcessingType == "":
		rw.validation("name, objectTypeId and processingType are required")
		return
	case s.listType(in.ObjectTypeID) == nil:
		rw.error(http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", SubCategory: "ListError.INVALID_OBJECT_TYPE_FOR_LIST",
			Message: fmt.Sprintf("Object type %s is not supported for lists.", in.ObjectTypeID)})
		return
	case in.ProcessingType != "MANUAL":
		rw.validation(fmt.Sprintf("processingType %s needs a filterBranch the emulator does not evaluate; it creates MANUAL lists", in.ProcessingType))
		return
	}
	for _, l := range s.lists.lists {
		if strings.EqualFold(l.Name, in.Name) {
			rw.error(http.StatusConflict, apiError{Category: "CONFLICT", Message: fmt.Sprintf("A list named %q already exists.", l.Name)})
			return
		}
	}
	l, err := s.newList(in.Name, in.ObjectTypeID, in.ProcessingType)
	if err != nil {
		rw.validation(err.Error())
		return
	}
	rw.json(http.StatusOK, map[string]any{"list": s.listJSON(l)})
}

// getList serves GET /crm/v3/lists/{listId}.
func (s *Server) getList(rw *response, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists.lists[r.PathValue("listId")]
	if l == nil {
		s.listNotFound(rw, r.PathValue("listId"))
		return
	}
	rw.json(http.StatusOK, map[string]any{"list": s.listJSON(l)})
}

// getListByName serves GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}.
func (s *Server) getListByName(rw *response, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lists.lists {
		if l.ObjectTypeID == r.PathValue("objectTypeId") && strings.EqualFold(l.Name, r.PathValue("listName")) {
			rw.json(http.StatusOK, map[string]any{"list": s.listJSON(l)})
			return
		}
	}
	rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: fmt.Sprintf("No list named %q.", r.PathValue("listName"))})
}

// searchLists serves POST /crm/v3/lists/search: count ≤ 500 (default 20),
// offset paging, by name, id, type and processing type, sorted by id.
func (s *Server) searchLists(rw *response, r *http.Request) {
	var in struct {
		Query           string   `json:"query"`
		Offset          *int     `json:"offset"`
		Count           *int     `json:"count"`
		ProcessingTypes []string `json:"processingTypes"`
		ListIDs         []string `json:"listIds"`
		ObjectTypeID    string   `json:"objectTypeId"`
	}
	if !decode(rw, r, &in) {
		return
	}
	count, offset := 20, 0
	if in.Count != nil {
		if *in.Count < 1 || *in.Count > 500 {
			rw.validation(fmt.Sprintf("count must be between 1 and 500, got %d", *in.Count))
			return
		}
		count = *in.Count
	}
	if in.Offset != nil {
		if *in.Offset < 0 {
			rw.validation("offset must not be negative")
			return
		}
		offset = *in.Offset
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []*List
	for _, l := range s.lists.lists {
		switch {
		case in.Query != "" && !strings.Contains(strings.ToLower(l.Name), strings.ToLower(in.Query)),
			len(in.ProcessingTypes) > 0 && !slices.Contains(in.ProcessingTypes, l.ProcessingType),
			len(in.ListIDs) > 0 && !slices.Contains(in.ListIDs, l.ID),
			in.ObjectTypeID != "" && in.ObjectTypeID != l.ObjectTypeID:
			continue
		}
		match = append(match, l)
	}
	slices.SortFunc(match, func(a, b *List) int { return int(mustID(a.ID) - mustID(b.ID)) })
	start := min(offset, len(match))
	end := min(start+count, len(match))
	out := []map[string]any{}
	for _, l := range match[start:end] {
		out = append(out, s.listSearchJSON(l))
	}
	rw.json(http.StatusOK, map[string]any{"lists": out, "offset": end, "hasMore": end < len(match), "total": len(match)})
}

// listMemberships serves GET /crm/v3/lists/{listId}/memberships: limit ≤
// 250 (default 100), after paging, by record id ascending.
func (s *Server) listMemberships(rw *response, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			rw.validation(fmt.Sprintf("limit must be between 1 and 250, got %q", v))
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			rw.validation(fmt.Sprintf("after %q is not a valid paging cursor", v))
			return
		}
		after = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists.lists[r.PathValue("listId")]
	if l == nil {
		s.listNotFound(rw, r.PathValue("listId"))
		return
	}
	ids := sortedIDs(s.membersOf(l))
	i, _ := slices.BinarySearch(ids, after+1)
	end := min(i+limit, len(ids))
	results := []map[string]string{}
	for _, id := range ids[i:end] {
		results = append(results, map[string]string{"recordId": strconv.FormatInt(id, 10), "membershipTimestamp": formatTime(l.members[id])})
	}
	body := map[string]any{"results": results, "total": len(ids)}
	if end < len(ids) {
		next := strconv.FormatInt(ids[end-1], 10)
		body["paging"] = map[string]any{"next": map[string]string{"after": next, "link": "?after=" + next}}
	}
	rw.json(http.StatusOK, body)
}

// changeMemberships serves PUT …/memberships/add and …/remove: a bare
// JSON array of record ids (strings; numbers taken too), at most
// MaxListMembershipIDs; MANUAL and SNAPSHOT lists only.
func (s *Server) changeMemberships(add bool) func(*response, *http.Request) {
	return func(rw *response, r *http.Request) {
		var raw []json.RawMessage
		if !decode(rw, r, &raw) {
			return
		}
		ids := make([]string, len(raw))
		for i, v := range raw {
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				var n json.Number
				if err := json.Unmarshal(v, &n); err != nil {
					rw.validation(fmt.Sprintf("Invalid input JSON: element %d is not a record id", i))
					return
				}
				str = n.String()
			}
			ids[i] = str
		}
		if len(ids) > MaxListMembershipIDs {
			rw.validation(fmt.Sprintf("Too many record ids: %d. The maximum is %d.", len(ids), MaxListMembershipIDs))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		l := s.lists.lists[r.PathValue("listId")]
		if l == nil {
			s.listNotFound(rw, r.PathValue("listId"))
			return
		}
		if l.ProcessingType == "DYNAMIC" {
			rw.error(http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", SubCategory: "ListError.PROCESSING_TYPE_NOT_SUPPORTED",
				Message: fmt.Sprintf("List %s is DYNAMIC: its members come from its filters and cannot be added or removed.", l.ID)})
			return
		}
		res := map[string][]string{"recordsIdsAdded": {}, "recordIdsRemoved": {}, "recordIdsMissing": {}}
		if add {
			added, missing := s.addMembers(l, ids)
			res["recordsIdsAdded"], res["recordIdsMissing"] = orEmpty(added), orEmpty(missing)
		} else {
			removed, missing := s.removeMembers(l, ids)
			res["recordIdsRemoved"], res["recordIdsMissing"] = orEmpty(removed), orEmpty(missing)
		}
		rw.json(http.StatusOK, res)
	}
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
