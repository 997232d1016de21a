package hubspottest

import (
	"net/http"
	"time"
)

// routes registers every endpoint the emulator serves, with its scope and
// rate-limit bucket. CRM object and property paths are served under both
// /crm/v3/… and the date-versioned /crm/objects/{version}/… form.
func (s *Server) routes() {
	objects := func(suffix string) []string {
		return []string{"/crm/v3/objects/{objectType}" + suffix, "/crm/objects/{version}/{objectType}" + suffix}
	}
	properties := func(suffix string) []string {
		return []string{"/crm/v3/properties/{objectType}" + suffix, "/crm/properties/{version}/{objectType}" + suffix}
	}
	read, write := objectScope("read"), objectScope("write")

	s.handle("GET", objects(""), route{scope: read, handle: s.typed(s.listObjects)})
	s.handle("POST", objects(""), route{scope: write, handle: s.typed(s.createObject)})
	s.handle("GET", objects("/{objectId}"), route{scope: read, handle: s.typed(s.getObject)})
	s.handle("PATCH", objects("/{objectId}"), route{scope: write, handle: s.typed(s.updateObject)})
	s.handle("DELETE", objects("/{objectId}"), route{scope: write, handle: s.typed(s.archiveObject)})
	s.handle("POST", objects("/batch/read"), route{scope: read, handle: s.typedBatch(s.batchRead)})
	s.handle("POST", objects("/batch/create"), route{scope: write, handle: s.typedBatch(s.batchCreate)})
	s.handle("POST", objects("/batch/update"), route{scope: write, handle: s.typedBatch(s.batchUpdate)})
	s.handle("POST", objects("/batch/upsert"), route{scope: write, handle: s.typedBatch(s.batchUpsert)})
	s.handle("POST", objects("/batch/archive"), route{scope: write, handle: s.typedBatch(s.batchArchive)})
	s.handle("POST", objects("/search"), route{scope: read, bucket: searchBucket, handle: s.typed(s.search)})

	s.handle("GET", properties(""), route{scope: schemaScope("read"), handle: s.typed(s.listProperties)})
	s.handle("POST", properties(""), route{scope: schemaScope("write"), handle: s.typed(s.createProperty)})
	s.handle("GET", properties("/{propertyName}"), route{scope: schemaScope("read"), handle: s.typed(s.getProperty)})
	s.handle("DELETE", properties("/{propertyName}"), route{scope: schemaScope("write"), handle: s.typed(s.archiveProperty)})
	s.handle("GET", properties("/groups"), route{scope: schemaScope("read"), handle: s.typed(s.listGroups)})
	s.handle("POST", properties("/groups"), route{scope: schemaScope("write"), handle: s.typed(s.createGroup)})

	s.handle("GET", []string{"/crm-object-schemas/v3/schemas"}, route{scope: fixedScope("crm.schemas.custom.read"), handle: s.listSchemas})
	s.handle("GET", []string{"/crm-object-schemas/v3/schemas/{objectType}"}, route{scope: fixedScope("crm.schemas.custom.read"), handle: s.getSchema})

	s.handle("POST", []string{"/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read"}, route{handle: s.batchReadAssociations})
	s.handle("POST", []string{"/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default"}, route{handle: s.batchAssociateDefault})
	s.handle("PUT", []string{"/crm/v4/objects/{objectType}/{objectId}/associations/default/{toObjectType}/{toObjectId}"}, route{scope: write, handle: s.associateDefault})

	s.handle("GET", []string{"/crm/v3/owners", "/crm/v3/owners/"}, route{scope: fixedScope("crm.objects.owners.read"), handle: s.listOwners})

	// Timeline events v3, under the current and the pre-2024 prefixes.
	timeline := func(suffix string) []string {
		return []string{"/integrators/timeline/v3" + suffix, "/crm/v3/timeline" + suffix}
	}
	s.handle("POST", timeline("/{appId}/event-templates"), route{developer: true, handle: s.createTemplate})
	s.handle("GET", timeline("/{appId}/event-templates"), route{developer: true, handle: s.listTemplates})
	timelineScope := func(r *http.Request) string { return "timeline" }
	s.handle("POST", timeline("/events"), route{scope: timelineScope, handle: s.createTimelineEvent})
	s.handle("POST", timeline("/events/batch/create"), route{scope: timelineScope, handle: s.createTimelineEvents})

	events := fixedScope("behavioral_events.event_definitions.read_write")
	s.handle("POST", []string{"/events/v3/event-definitions"}, route{scope: events, handle: s.createEventDefinition})
	s.handle("GET", []string{"/events/v3/event-definitions"}, route{scope: events, handle: s.listEventDefinitions})
	send := fixedScope("analytics.behavioral_events.send")
	s.handle("POST", []string{"/events/v3/send"}, route{scope: send, bucket: eventsBucket, handle: s.sendEvent})
	s.handle("POST", []string{"/events/v3/send/batch"}, route{scope: send, bucket: eventsBucket, handle: s.sendEventBatch})

	// Lists: reads need crm.lists.read; writes crm.lists.read and
	// crm.lists.write both (shared/reference/hubspot-lists-webhooks.md §4).
	lists := func(suffix string) []string {
		return []string{"/crm/v3/lists" + suffix, "/crm/lists/{version}" + suffix}
	}
	listRead, listWrite := fixedScope("crm.lists.read"), fixedScope("crm.lists.read crm.lists.write")
	s.handle("POST", lists(""), route{scope: fixedScope("crm.lists.write"), handle: s.createList})
	s.handle("POST", lists("/search"), route{scope: listRead, handle: s.searchLists})
	s.handle("GET", lists("/{listId}"), route{scope: listRead, handle: s.getList})
	s.handle("GET", lists("/object-type-id/{objectTypeId}/name/{listName}"), route{scope: listRead, handle: s.getListByName})
	s.handle("GET", lists("/{listId}/memberships"), route{scope: listRead, handle: s.listMemberships})
	s.handle("PUT", lists("/{listId}/memberships/add"), route{scope: listWrite, handle: s.changeMemberships(true)})
	s.handle("PUT", lists("/{listId}/memberships/remove"), route{scope: listWrite, handle: s.changeMemberships(false)})
}

// handle registers a route under each path.
func (s *Server) handle(method string, paths []string, rt route) {
	for _, p := range paths {
		pattern := method + " " + p
		s.routesMeta[pattern] = rt
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			rw := responseFrom(w)
			if v := r.PathValue("version"); v != "" && !isDateVersion(v) {
				rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "Unknown API version " + v})
				return
			}
			if rw.token != nil && !s.authorizeScope(rw, rw.token, r, rt) {
				return
			}
			rt.handle(rw, r)
		})
	}
}

// isDateVersion reports a date version segment such as 2026-03.
func isDateVersion(s string) bool {
	_, err := time.Parse("2006-01", s)
	return err == nil
}
