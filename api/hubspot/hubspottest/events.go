package hubspottest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EventDefinition is a custom behavioural event definition.
type EventDefinition struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Labels             map[string]string `json:"labels"`
	Description        string            `json:"description"`
	FullyQualifiedName string            `json:"fullyQualifiedName"`
	PrimaryObject      string            `json:"primaryObject"`
	ObjectTypeID       string            `json:"objectTypeId"`
	Properties         []EventProperty   `json:"properties"`
	Associations       []any             `json:"associations"`
	Archived           bool              `json:"archived"`
	CreatedAt          string            `json:"createdAt"`
	TrackingType       string            `json:"trackingType"`
}

// EventProperty is one property of an event definition; definitions
// return it in the CRM Property shape.
type EventProperty struct {
	Name        string   `json:"name"`
	Label       string   `json:"label"`
	Type        string   `json:"type"` // string, number, enumeration, datetime
	FieldType   string   `json:"fieldType"`
	GroupName   string   `json:"groupName"`
	Description string   `json:"description"`
	Options     []Option `json:"options"`
}

// Event is one accepted event occurrence.
type Event struct {
	EventName  string
	ObjectType string
	ObjectID   string
	OccurredAt time.Time
	UUID       string
	Properties map[string]string
}

var eventName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Send limits (HubSpot's send guide).
const (
	maxEventBatch      = 500
	maxEventProperties = 50
	maxEventValueLen   = 256
	maxEventURLLen     = 1024
	maxEventNameLen    = 50
	maxDefinitions     = 500
)

// createEventDefinition serves POST /events/v3/event-definitions.
func (s *Server) createEventDefinition(rw *response, r *http.Request) {
	var in struct {
		Label               string          `json:"label"`
		Name                string          `json:"name"`
		Description         string          `json:"description"`
		PrimaryObject       string          `json:"primaryObject"`
		PropertyDefinitions []EventProperty `json:"propertyDefinitions"`
	}
	if !decode(rw, r, &in) {
		return
	}
	if in.Label == "" {
		rw.validation("label is required")
		return
	}
	if in.Name == "" {
		in.Name = strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(in.Label, "_"))
	}
	if !eventName.MatchString(in.Name) || len(in.Name) > maxEventNameLen {
		rw.validation(fmt.Sprintf("event name %q must start with a letter, hold only a-z, 0-9 and _, and be at most %d characters", in.Name, maxEventNameLen))
		return
	}
	if in.PrimaryObject == "" {
		in.PrimaryObject = "CONTACT"
	}
	primary := map[string]string{"CONTACT": "contacts", "COMPANY": "companies", "DEAL": "deals", "TICKET": "tickets"}[in.PrimaryObject]
	if primary == "" {
		rw.validation(fmt.Sprintf("primaryObject %q must be CONTACT, COMPANY, DEAL or TICKET", in.PrimaryObject))
		return
	}
	seen := map[string]bool{}
	for _, p := range in.PropertyDefinitions {
		low := strings.ToLower(p.Name)
		switch {
		case !eventName.MatchString(p.Name) || len(p.Name) > maxEventNameLen:
			rw.validation(fmt.Sprintf("property name %q must start with a letter, hold only a-z, 0-9 and _, and be at most %d characters", p.Name, maxEventNameLen))
			return
		case !slices.Contains([]string{"string", "number", "enumeration", "datetime"}, p.Type):
			rw.validation(fmt.Sprintf("property %s: type %q must be string, number, enumeration or datetime", p.Name, p.Type))
			return
		case seen[low]:
			rw.validation(fmt.Sprintf("property %s is defined twice", p.Name))
			return
		}
		seen[low] = true
	}
	for i := range in.PropertyDefinitions {
		p := &in.PropertyDefinitions[i]
		p.GroupName = "event"
		p.FieldType = map[string]string{"string": "text", "number": "number", "enumeration": "select", "datetime": "date"}[p.Type]
		if p.Options == nil {
			p.Options = []Option{}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fqn := fmt.Sprintf("pe%d_%s", s.opts.PortalID, in.Name)
	if s.eventDef[fqn] != nil {
		rw.error(http.StatusConflict, apiError{Category: "OBJECT_ALREADY_EXISTS", Message: fmt.Sprintf("An event with name %s already exists", in.Name)})
		return
	}
	if len(s.eventDef) >= maxDefinitions {
		rw.validation(fmt.Sprintf("An account can hold at most %d event definitions", maxDefinitions))
		return
	}
	def := &EventDefinition{
		ID: strconv.Itoa(100000 + len(s.eventDef)), Name: in.Name, Labels: map[string]string{"singular": in.Label}, Description: in.Description, FullyQualifiedName: fqn,
		PrimaryObject: in.PrimaryObject, ObjectTypeID: s.types[primary].typeID, Properties: in.PropertyDefinitions,
		CreatedAt: formatTime(s.now()), TrackingType: "MANUAL", Associations: []any{},
	}
	if def.Properties == nil {
		def.Properties = []EventProperty{}
	}
	s.eventDef[fqn] = def
	rw.json(http.StatusCreated, def)
}

// listEventDefinitions serves GET /events/v3/event-definitions.
func (s *Server) listEventDefinitions(rw *response, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	results := []*EventDefinition{}
	for _, d := range s.eventDef {
		results = append(results, d)
	}
	slices.SortFunc(results, func(a, b *EventDefinition) int { return cmpStrings(a.ID, b.ID) })
	// Paged: the spec gives limit and after but no default page size;
	// the emulator takes a small one (10), the stricter reading, and at
	// most 100.
	limit, start := 10, 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			rw.validation(fmt.Sprintf("limit %q must be between 1 and 100", v))
			return
		}
		limit = n
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			rw.validation(fmt.Sprintf("after %q is not a valid paging cursor", v))
			return
		}
		start = min(n, len(results))
	}
	end := min(start+limit, len(results))
	body := map[string]any{"results": results[start:end], "total": len(results)}
	if end < len(results) {
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(end)}}
	}
	rw.json(http.StatusOK, body)
}

type eventInput struct {
	EventName  string         `json:"eventName"`
	ObjectID   string         `json:"objectId"`
	Email      string         `json:"email"`
	UTK        string         `json:"utk"`
	OccurredAt string         `json:"occurredAt"`
	UUID       string         `json:"uuid"`
	Properties map[string]any `json:"properties"`
}

// checkEvent validates one occurrence and resolves it. Callers hold s.mu.
func (s *Server) checkEvent(in eventInput) (Event, string) {
	def := s.eventDef[in.EventName]
	if def == nil {
		return Event{}, fmt.Sprintf("Event %q is not defined; send the definition's fullyQualifiedName", in.EventName)
	}
	primary := map[string]string{"CONTACT": "contacts", "COMPANY": "companies", "DEAL": "deals", "TICKET": "tickets"}[def.PrimaryObject]
	ev := Event{EventName: in.EventName, ObjectType: primary, UUID: in.UUID, Properties: map[string]string{}, OccurredAt: s.now()}
	t := s.types[primary]
	switch {
	case in.ObjectID != "":
		o := t.get(in.ObjectID)
		if o == nil || o.Archived {
			return Event{}, fmt.Sprintf("%s %s does not exist", t.singular(), in.ObjectID)
		}
		ev.ObjectID = o.ID
	case in.Email != "" && primary == "contacts":
		o := t.findLive(in.Email, "email")
		if o == nil {
			return Event{}, fmt.Sprintf("No contact has the email %s", in.Email)
		}
		ev.ObjectID = o.ID
	default:
		return Event{}, "An identifier is required: objectId, or email or utk for contact events"
	}
	if in.OccurredAt != "" {
		at, err := parseDateValue(in.OccurredAt)
		if err != nil {
			return Event{}, fmt.Sprintf("occurredAt %q is not ISO 8601 or epoch milliseconds", in.OccurredAt)
		}
		ev.OccurredAt = at
	}
	if len(in.Properties) > maxEventProperties {
		return Event{}, fmt.Sprintf("An event can carry at most %d properties, got %d", maxEventProperties, len(in.Properties))
	}
	for name, v := range in.Properties {
		if !slices.ContainsFunc(def.Properties, func(p EventProperty) bool { return p.Name == name }) && !strings.HasPrefix(name, "hs_") {
			return Event{}, fmt.Sprintf("Property %q is not defined on event %s", name, in.EventName)
		}
		str := fmt.Sprint(v)
		limit := maxEventValueLen
		if strings.Contains(name, "url") || strings.Contains(name, "referrer") {
			limit = maxEventURLLen
		}
		if len(str) > limit {
			return Event{}, fmt.Sprintf("Property %s is %d characters long; the limit is %d", name, len(str), limit)
		}
		ev.Properties[name] = str
	}
	return ev, ""
}

// accept stores an occurrence unless its uuid was seen within a year:
// HubSpot keeps the first and silently drops the others.
func (s *Server) accept(ev Event) {
	if ev.UUID != "" {
		key := ev.EventName + "\x00" + ev.UUID
		if first, ok := s.uuids[key]; ok && s.now().Sub(first) < 365*24*time.Hour {
			return
		}
		s.uuids[key] = s.now()
	}
	s.events = append(s.events, ev)
}

// sendEvent serves POST /events/v3/send: 204, no body.
func (s *Server) sendEvent(rw *response, r *http.Request) {
	var in eventInput
	if !decode(rw, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, msg := s.checkEvent(in)
	if msg != "" {
		rw.validation(msg)
		return
	}
	s.accept(ev)
	rw.noContent()
}

// sendEventBatch serves POST /events/v3/send/batch: up to 500 occurrences;
// one invalid occurrence fails the request with a detailed error.
func (s *Server) sendEventBatch(rw *response, r *http.Request) {
	var body struct {
		Inputs []eventInput `json:"inputs"`
	}
	if !decode(rw, r, &body) {
		return
	}
	if len(body.Inputs) == 0 || len(body.Inputs) > maxEventBatch {
		rw.validation(fmt.Sprintf("inputs must hold between 1 and %d events, got %d", maxEventBatch, len(body.Inputs)))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := make([]Event, len(body.Inputs))
	for i, in := range body.Inputs {
		ev, msg := s.checkEvent(in)
		if msg != "" {
			rw.error(http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", Message: fmt.Sprintf("inputs[%d]: %s", i, msg),
				Context: map[string][]string{"index": {strconv.Itoa(i)}}})
			return
		}
		evs[i] = ev
	}
	for _, ev := range evs {
		s.accept(ev)
	}
	rw.noContent()
}

// Events returns the accepted event occurrences, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// DefineEvent adds a custom event definition, as an admin would in
// HubSpot's UI, and returns its fullyQualifiedName. primaryObject is
// CONTACT, COMPANY, DEAL or TICKET; property types are string, number,
// enumeration or datetime.
func (s *Server) DefineEvent(name, label, primaryObject string, props []EventProperty) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	primary := map[string]string{"CONTACT": "contacts", "COMPANY": "companies", "DEAL": "deals", "TICKET": "tickets"}[primaryObject]
	for i := range props {
		props[i].GroupName = "event"
		props[i].FieldType = map[string]string{"string": "text", "number": "number", "enumeration": "select", "datetime": "date"}[props[i].Type]
		if props[i].Options == nil {
			props[i].Options = []Option{}
		}
	}
	fqn := fmt.Sprintf("pe%d_%s", s.opts.PortalID, name)
	s.eventDef[fqn] = &EventDefinition{
		ID: strconv.Itoa(100000 + len(s.eventDef)), Name: name, Labels: map[string]string{"singular": label}, FullyQualifiedName: fqn,
		PrimaryObject: primaryObject, ObjectTypeID: s.types[primary].typeID, Properties: props,
		CreatedAt: formatTime(s.now()), TrackingType: "MANUAL", Associations: []any{},
	}
	return fqn
}
