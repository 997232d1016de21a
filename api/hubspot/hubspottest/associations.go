package hubspottest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

type assocKey struct{ from, to string }

// assocType is a HubSpot-defined association type between two object types.
type assocType struct {
	from, to string
	id       int
	name     string
}

// standardAssoc lists HubSpot's default association type ids (the
// unlabelled ones) between the standard objects.
var standardAssoc = []assocType{
	{"contacts", "companies", 279, "contact_to_company_unlabeled"}, {"companies", "contacts", 280, "company_to_contact_unlabeled"},
	{"deals", "contacts", 3, "deal_to_contact"}, {"contacts", "deals", 4, "contact_to_deal"},
	{"deals", "companies", 341, "deal_to_company_unlabeled"}, {"companies", "deals", 342, "company_to_deal_unlabeled"},
	{"tickets", "contacts", 16, "ticket_to_contact"}, {"contacts", "tickets", 15, "contact_to_ticket"},
	{"tickets", "companies", 339, "ticket_to_company_unlabeled"}, {"companies", "tickets", 340, "company_to_ticket_unlabeled"},
	{"deals", "tickets", 27, "deal_to_ticket"}, {"tickets", "deals", 28, "ticket_to_deal"},
	{"tasks", "contacts", 204, "task_to_contact"}, {"contacts", "tasks", 203, "contact_to_task"},
	{"tasks", "companies", 192, "task_to_company"}, {"companies", "tasks", 191, "company_to_task"},
	{"tasks", "deals", 216, "task_to_deal"}, {"deals", "tasks", 215, "deal_to_task"},
}

// assocTypes returns the standard types plus, for each custom object, types
// to and from contacts, companies and deals. Callers hold s.mu.
func (s *Server) assocTypes() []assocType {
	out := slices.Clone(standardAssoc)
	names := make([]string, 0, len(s.types))
	for name, t := range s.types {
		if t.fqn != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for i, name := range names {
		for j, other := range []string{"contacts", "companies", "deals"} {
			base := 1000 + i*10 + j*2
			out = append(out,
				assocType{name, other, base, name + "_to_" + other},
				assocType{other, name, base + 1, other + "_to_" + name})
		}
	}
	return out
}

func (s *Server) assocTypeBetween(from, to string) (assocType, bool) {
	for _, a := range s.assocTypes() {
		if a.from == from && a.to == to {
			return a, true
		}
	}
	return assocType{}, false
}

func (s *Server) assocTypeByID(from string, id int) (assocType, bool) {
	for _, a := range s.assocTypes() {
		if a.from == from && a.id == id {
			return a, true
		}
	}
	return assocType{}, false
}

// primaryTypes are HubSpot's "Primary" labelled types: a contact, deal or
// ticket has one primary company, and that pair carries the labelled type
// beside the unlabelled one, both ways.
var primaryTypes = map[assocKey]int{
	{"contacts", "companies"}: 1, {"companies", "contacts"}: 2,
	{"deals", "companies"}: 5, {"companies", "deals"}: 6,
	{"tickets", "companies"}: 26, {"companies", "tickets"}: 25,
}

// isPrimary reports whether from→to is a primary pair. Callers hold s.mu.
func (s *Server) isPrimary(from string, fromID int64, to string, toID int64) bool {
	if from == "companies" {
		return s.primary[assocKey{to, from}][toID] == fromID
	}
	p, ok := s.primary[assocKey{from, to}][fromID]
	return ok && p == toID
}

// pairTypes lists the association types a linked pair carries, as a read
// answers them: the unlabelled default, and Primary when it is.
func (s *Server) pairTypes(from string, fromID int64, to string, toID int64, a assocType) []map[string]any {
	out := []map[string]any{{"category": "HUBSPOT_DEFINED", "typeId": a.id, "label": nil}}
	if id, ok := primaryTypes[assocKey{from, to}]; ok && s.isPrimary(from, fromID, to, toID) {
		out = append([]map[string]any{{"category": "HUBSPOT_DEFINED", "typeId": id, "label": "Primary"}}, out...)
	}
	return out
}

// setPrimary makes company the primary company of a contact, deal or
// ticket that has none yet. The record is then modified: HubSpot keeps
// its primary company in a property of it.
func (s *Server) setPrimary(objectType string, id, company int64) {
	k := assocKey{objectType, "companies"}
	if _, ok := primaryTypes[k]; !ok {
		return
	}
	if s.primary[k] == nil {
		s.primary[k] = map[int64]int64{}
	}
	if _, has := s.primary[k][id]; has {
		return
	}
	s.primary[k][id] = company
	if t := s.types[objectType]; t != nil {
		if o := t.get(strconv.FormatInt(id, 10)); o != nil && o.UpdatedAt.Before(s.now()) {
			o.UpdatedAt = s.now()
			t.stamp(o)
		}
	}
}

// link records an association both ways; the first company linked to a
// contact, deal or ticket becomes its primary one, as HubSpot makes it.
// Callers hold s.mu.
func (s *Server) link(from string, fromID int64, to string, toID int64) {
	switch {
	case to == "companies":
		s.setPrimary(from, fromID, toID)
	case from == "companies":
		s.setPrimary(to, toID, fromID)
	}
	put := func(a, b string, x, y int64) {
		k := assocKey{a, b}
		if s.assoc[k] == nil {
			s.assoc[k] = map[int64]map[int64]bool{}
		}
		if s.assoc[k][x] == nil {
			s.assoc[k][x] = map[int64]bool{}
		}
		s.assoc[k][x][y] = true
	}
	put(from, to, fromID, toID)
	put(to, from, toID, fromID)
}

// Associate links two records with the default association type.
func (s *Server) Associate(fromType, fromID, toType, toID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft, tt := s.objectType(fromType), s.objectType(toType)
	if ft == nil || tt == nil {
		return fmt.Errorf("hubspottest: unknown object type %s or %s", fromType, toType)
	}
	if _, ok := s.assocTypeBetween(ft.name, tt.name); !ok {
		return fmt.Errorf("hubspottest: %s cannot be associated with %s", ft.name, tt.name)
	}
	a, b := ft.get(fromID), tt.get(toID)
	if a == nil || b == nil {
		return fmt.Errorf("hubspottest: %s %s or %s %s not found", fromType, fromID, toType, toID)
	}
	s.link(ft.name, mustID(a.ID), tt.name, mustID(b.ID))
	return nil
}

// Disassociate removes every association type between two records, both
// ways, as a user does in HubSpot's UI. A contact, deal or ticket whose
// primary company it was has none until another is associated (that one
// then becomes primary), and is modified, as when it gains a primary
// company: HubSpot keeps the primary company in a property of the
// record. Removing any other
// association leaves both records' last-modified dates alone, so an
// incremental read by last-modified date does not see it (the stricter
// reading; docs/emulators.md).
func (s *Server) Disassociate(fromType, fromID, toType, toID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft, tt := s.objectType(fromType), s.objectType(toType)
	if ft == nil || tt == nil {
		return fmt.Errorf("hubspottest: unknown object type %s or %s", fromType, toType)
	}
	a, b := ft.get(fromID), tt.get(toID)
	if a == nil || b == nil {
		return fmt.Errorf("hubspottest: %s %s or %s %s not found", fromType, fromID, toType, toID)
	}
	x, y := mustID(a.ID), mustID(b.ID)
	if !s.assoc[assocKey{ft.name, tt.name}][x][y] {
		return fmt.Errorf("hubspottest: %s %s is not associated with %s %s", fromType, fromID, toType, toID)
	}
	delete(s.assoc[assocKey{ft.name, tt.name}][x], y)
	delete(s.assoc[assocKey{tt.name, ft.name}][y], x)
	// The record that may hold a primary company, and that company.
	rec, rt, company := a, ft, y
	if ft.name == "companies" {
		rec, rt, company = b, tt, x
	}
	k := assocKey{rt.name, "companies"}
	if p, ok := s.primary[k][mustID(rec.ID)]; ok && p == company {
		delete(s.primary[k], mustID(rec.ID))
		rec.UpdatedAt = s.now()
		rt.stamp(rec)
	}
	return nil
}

// Associations returns the ids of toType records associated with a record.
func (s *Server) Associations(fromType, fromID, toType string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft, tt := s.objectType(fromType), s.objectType(toType)
	if ft == nil || tt == nil {
		return nil
	}
	var out []string
	for _, id := range sortedIDs(s.assoc[assocKey{ft.name, tt.name}][mustID(fromID)]) {
		out = append(out, strconv.FormatInt(id, 10))
	}
	return out
}

func mustID(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func sortedIDs(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// checkAssociations validates the associations of a create input.
func (s *Server) checkAssociations(t *objectType, specs []associationSpec) string {
	for _, sp := range specs {
		if len(sp.Types) == 0 {
			return "associations: each association needs at least one type"
		}
		for _, ty := range sp.Types {
			if ty.AssociationCategory != "HUBSPOT_DEFINED" && ty.AssociationCategory != "USER_DEFINED" {
				return fmt.Sprintf("associations: unknown associationCategory %q", ty.AssociationCategory)
			}
			a, ok := s.assocTypeByID(t.name, ty.AssociationTypeID)
			if !ok {
				return fmt.Sprintf("associations: association type %d is not valid from %s", ty.AssociationTypeID, t.name)
			}
			if o := s.types[a.to].get(sp.To.ID); o == nil || o.Archived {
				return fmt.Sprintf("associations: %s %s does not exist", a.to, sp.To.ID)
			}
		}
	}
	return ""
}

func (s *Server) associateSpecs(t *objectType, o *Object, specs []associationSpec) {
	for _, sp := range specs {
		for _, ty := range sp.Types {
			if a, ok := s.assocTypeByID(t.name, ty.AssociationTypeID); ok {
				s.link(t.name, mustID(o.ID), a.to, mustID(sp.To.ID))
			}
		}
	}
}

const maxAssocBatch = 1000

// batchReadAssociations serves POST /crm/v4/associations/{from}/{to}/batch/read.
// A record without associations is an error entry of a 207, as HubSpot
// answers; a record with more than a page carries per-input paging.
func (s *Server) batchReadAssociations(rw *response, r *http.Request) {
	var body struct {
		Inputs []struct {
			ID    string `json:"id"`
			After string `json:"after"`
		} `json:"inputs"`
	}
	if !decode(rw, r, &body) {
		return
	}
	if len(body.Inputs) == 0 || len(body.Inputs) > maxAssocBatch {
		rw.validation(fmt.Sprintf("inputs must hold between 1 and %d ids, got %d", maxAssocBatch, len(body.Inputs)))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ft, tt := s.objectType(r.PathValue("fromObjectType")), s.objectType(r.PathValue("toObjectType"))
	if ft == nil || tt == nil {
		rw.validation(fmt.Sprintf("Unable to infer object types from %s and %s", r.PathValue("fromObjectType"), r.PathValue("toObjectType")))
		return
	}
	a, ok := s.assocTypeBetween(ft.name, tt.name)
	if !ok {
		rw.validation(fmt.Sprintf("%s cannot be associated with %s", ft.name, tt.name))
		return
	}
	res := &batchResult{started: s.now()}
	page := s.opts.AssociationsPageSize
	for _, in := range body.Inputs {
		ids := sortedIDs(s.assoc[assocKey{ft.name, tt.name}][mustID(in.ID)])
		var live []int64
		for _, id := range ids {
			if o := tt.records[id]; o != nil && !o.Archived {
				live = append(live, id)
			}
		}
		start := 0
		if in.After != "" {
			n, err := strconv.Atoi(in.After)
			if err != nil || n < 0 {
				rw.validation(fmt.Sprintf("after %q is not a valid paging cursor", in.After))
				return
			}
			start = min(n, len(live))
		}
		if len(live) == 0 {
			e := newStandardError("OBJECT_NOT_FOUND", fmt.Sprintf("No %s is associated with %s %s.", tt.name, ft.singular(), in.ID),
				map[string][]string{"fromObjectId": {in.ID}, "fromObjectType": {ft.name}, "toObjectType": {tt.name}})
			e.SubCategory = "crm.associations.NO_ASSOCIATIONS_FOUND"
			res.errors = append(res.errors, e)
			continue
		}
		end := min(start+page, len(live))
		to := []map[string]any{}
		for _, id := range live[start:end] {
			to = append(to, map[string]any{
				"toObjectId":       id, // a JSON number, as the live API sends, whatever the spec says
				"associationTypes": s.pairTypes(ft.name, mustID(in.ID), tt.name, id, a),
			})
		}
		out := map[string]any{"from": map[string]string{"id": in.ID}, "to": to, "id": in.ID}
		if end < len(live) {
			out["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(end)}}
		}
		res.results = append(res.results, out)
	}
	res.write(rw, http.StatusOK, s.now())
}

// defaultPair resolves two object types and HubSpot's default association
// type between them, answering the 400 HubSpot sends when it cannot. The
// caller holds s.mu.
func (s *Server) defaultPair(rw *response, from, to string) (ft, tt *objectType, a assocType, ok bool) {
	ft, tt = s.objectType(from), s.objectType(to)
	if ft == nil || tt == nil {
		rw.validation("Unable to infer object types")
		return nil, nil, assocType{}, false
	}
	if a, ok = s.assocTypeBetween(ft.name, tt.name); !ok {
		rw.validation(fmt.Sprintf("%s cannot be associated with %s", ft.name, tt.name))
		return nil, nil, assocType{}, false
	}
	return ft, tt, a, true
}

// associateDefault serves PUT /crm/v4/objects/{objectType}/{objectId}/associations/default/{toObjectType}/{toObjectId}.
func (s *Server) associateDefault(rw *response, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft, tt, a, ok := s.defaultPair(rw, r.PathValue("objectType"), r.PathValue("toObjectType"))
	if !ok {
		return
	}
	from, to := ft.get(r.PathValue("objectId")), tt.get(r.PathValue("toObjectId"))
	if from == nil || to == nil || from.Archived || to.Archived {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "One or both records do not exist"})
		return
	}
	s.link(ft.name, mustID(from.ID), tt.name, mustID(to.ID))
	now := formatTime(s.now())
	rw.json(http.StatusOK, map[string]any{
		"status": "COMPLETE", "startedAt": now, "completedAt": now,
		"results": []map[string]any{{"from": map[string]string{"id": from.ID}, "to": map[string]string{"id": to.ID},
			"associationSpec": map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": a.id}}},
	})
}

// batchAssociateDefault serves POST /crm/v4/associations/{from}/{to}/batch/associate/default.
func (s *Server) batchAssociateDefault(rw *response, r *http.Request) {
	var body struct {
		Inputs []struct {
			From struct {
				ID string `json:"id"`
			} `json:"from"`
			To struct {
				ID string `json:"id"`
			} `json:"to"`
		} `json:"inputs"`
	}
	if !decode(rw, r, &body) {
		return
	}
	if len(body.Inputs) == 0 || len(body.Inputs) > maxAssocBatch {
		rw.validation(fmt.Sprintf("inputs must hold between 1 and %d pairs", maxAssocBatch))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ft, tt, a, ok := s.defaultPair(rw, r.PathValue("fromObjectType"), r.PathValue("toObjectType"))
	if !ok {
		return
	}
	res := &batchResult{started: s.now()}
	for _, in := range body.Inputs {
		from, to := ft.get(in.From.ID), tt.get(in.To.ID)
		if from == nil || to == nil || from.Archived || to.Archived {
			res.errors = append(res.errors, newStandardError("OBJECT_NOT_FOUND", fmt.Sprintf("%s %s or %s %s does not exist", ft.singular(), in.From.ID, tt.singular(), in.To.ID),
				map[string][]string{"fromObjectId": {in.From.ID}, "toObjectId": {in.To.ID}}))
			continue
		}
		s.link(ft.name, mustID(from.ID), tt.name, mustID(to.ID))
		res.results = append(res.results, map[string]any{"id": from.ID, "from": map[string]string{"id": from.ID}, "to": map[string]string{"id": to.ID},
			"associationSpec": map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": a.id}})
	}
	res.writeWith(rw, http.StatusOK, http.StatusOK, s.now())
}
