package hubspottest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TimelineTemplate is an app's timeline event template.
type TimelineTemplate struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	ObjectType     string          `json:"objectType"`
	HeaderTemplate string          `json:"headerTemplate,omitempty"`
	DetailTemplate string          `json:"detailTemplate,omitempty"`
	Tokens         []TimelineToken `json:"tokens"`
	CreatedAt      string          `json:"createdAt"`
	UpdatedAt      string          `json:"updatedAt"`
}

// TimelineToken is one template token.
type TimelineToken struct {
	Name               string   `json:"name"`
	Label              string   `json:"label"`
	Type               string   `json:"type"` // string, number, date, enumeration
	Options            []Option `json:"options"`
	ObjectPropertyName string   `json:"objectPropertyName,omitempty"`
}

// TimelineEvent is one stored timeline event.
type TimelineEvent struct {
	ID              string
	EventTemplateID string
	ObjectType      string
	ObjectID        string
	Tokens          map[string]string
	Timestamp       time.Time
}

const maxTemplates = 750

type timelineState struct {
	templates map[string]*TimelineTemplate
	events    map[string]*TimelineEvent // by template id + "/" + event id
}

// createTemplate serves POST /integrators/timeline/v3/{appId}/event-templates,
// authenticated with the app's developer API key (?hapikey=).
func (s *Server) createTemplate(rw *response, r *http.Request) {
	if !s.ownApp(rw, r) {
		return
	}
	var in TimelineTemplate
	if !decode(rw, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Name == "" || in.ObjectType == "" {
		rw.validation("name and objectType are required")
		return
	}
	if t := s.objectType(in.ObjectType); t == nil || (t.name != "contacts" && t.name != "companies" && t.name != "deals" && t.name != "tickets") {
		rw.validation(fmt.Sprintf("objectType %q must be contacts, companies, deals or tickets", in.ObjectType))
		return
	}
	if len(s.timeline.templates) >= maxTemplates {
		rw.validation(fmt.Sprintf("An app can have at most %d event templates", maxTemplates))
		return
	}
	for _, tk := range in.Tokens {
		if tk.Name == "" || strings.Trim(tk.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
			rw.validation(fmt.Sprintf("token name %q may hold only letters, digits, '.', '-' and '_'", tk.Name))
			return
		}
		if tk.Options == nil {
			rw.validation(fmt.Sprintf("token %s: options is required (empty for non-enumeration tokens)", tk.Name))
			return
		}
		if tk.Type != "string" && tk.Type != "number" && tk.Type != "date" && tk.Type != "enumeration" {
			rw.validation(fmt.Sprintf("token %s: type %q must be string, number, date or enumeration", tk.Name, tk.Type))
			return
		}
	}
	in.ID = strconv.Itoa(1_000_000 + len(s.timeline.templates))
	in.ObjectType = s.objectType(in.ObjectType).name
	in.CreatedAt, in.UpdatedAt = formatTime(s.now()), formatTime(s.now())
	if in.Tokens == nil {
		in.Tokens = []TimelineToken{}
	}
	s.timeline.templates[in.ID] = &in
	rw.json(http.StatusCreated, in)
}

func (s *Server) listTemplates(rw *response, r *http.Request) {
	if !s.ownApp(rw, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	results := []*TimelineTemplate{}
	for _, t := range s.timeline.templates {
		results = append(results, t)
	}
	rw.json(http.StatusOK, map[string]any{"results": results})
}

type timelineInput struct {
	ID              string            `json:"id"`
	EventTemplateID string            `json:"eventTemplateId"`
	ObjectID        string            `json:"objectId"`
	Email           string            `json:"email"`
	Timestamp       string            `json:"timestamp"`
	Tokens          map[string]string `json:"tokens"`
	ExtraData       any               `json:"extraData"`
}

// addTimelineEvent validates and stores one event, returning HubSpot's
// response object or an error status and message. An id reused for the
// same record is a 409; for another record, 400 ("already in use", the v1
// rule) or, with TimelineLastWins, the event moves to the new record (the
// v3 spec's text). Callers hold s.mu.
func (s *Server) addTimelineEvent(in timelineInput) (map[string]any, int, string) {
	tpl := s.timeline.templates[in.EventTemplateID]
	if tpl == nil {
		return nil, http.StatusBadRequest, fmt.Sprintf("Event template %q does not exist", in.EventTemplateID)
	}
	if in.Tokens == nil {
		return nil, http.StatusBadRequest, "tokens is required"
	}
	for name := range in.Tokens {
		found := false
		for _, tk := range tpl.Tokens {
			found = found || tk.Name == name
		}
		if !found {
			return nil, http.StatusBadRequest, fmt.Sprintf("Token %q is not defined on template %s", name, tpl.ID)
		}
	}
	t := s.types[tpl.ObjectType]
	var o *Object
	switch {
	case in.ObjectID != "":
		o = t.get(in.ObjectID)
	case in.Email != "" && t.name == "contacts":
		o = t.find(in.Email, "email")
	}
	if o == nil || o.Archived {
		return nil, http.StatusBadRequest, fmt.Sprintf("No %s matches the event's objectId or email", t.singular())
	}
	at := s.now()
	if in.Timestamp != "" {
		p, err := parseDateValue(in.Timestamp)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Sprintf("timestamp %q is not ISO 8601", in.Timestamp)
		}
		at = p
	}
	id := strings.ReplaceAll(in.ID, "{{uuid}}", newUUID())
	if id == "" {
		id = newUUID()
	}
	key := tpl.ID + "/" + id
	if prev := s.timeline.events[key]; prev != nil {
		if prev.ObjectID == o.ID {
			return nil, http.StatusConflict, "An event with this id already exists for this record"
		}
		if !s.opts.TimelineLastWins {
			return nil, http.StatusBadRequest, "Event ID already in use, please choose a new unique ID"
		}
	}
	ev := &TimelineEvent{ID: id, EventTemplateID: tpl.ID, ObjectType: t.name, ObjectID: o.ID, Tokens: in.Tokens, Timestamp: at}
	s.timeline.events[key] = ev
	for _, tk := range tpl.Tokens {
		if v, ok := in.Tokens[tk.Name]; ok && tk.ObjectPropertyName != "" {
			s.applyProps(t, o, map[string]string{tk.ObjectPropertyName: v})
		}
	}
	return map[string]any{"id": id, "eventTemplateId": tpl.ID, "objectId": o.ID, "objectType": strings.ToUpper(t.singular()),
		"tokens": in.Tokens, "timestamp": formatTime(at), "createdAt": formatTime(s.now())}, 0, ""
}

// createTimelineEvent serves POST /integrators/timeline/v3/events.
func (s *Server) createTimelineEvent(rw *response, r *http.Request) {
	var in timelineInput
	if !decode(rw, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, status, msg := s.addTimelineEvent(in)
	if status != 0 {
		cat := "VALIDATION_ERROR"
		if status == http.StatusConflict {
			cat = "CONFLICT"
		}
		rw.error(status, apiError{Category: cat, Message: msg})
		return
	}
	rw.json(http.StatusCreated, out)
}

// createTimelineEvents serves POST /integrators/timeline/v3/events/batch/create:
// 201, or 207 naming each failed input by id.
func (s *Server) createTimelineEvents(rw *response, r *http.Request) {
	var body struct {
		Inputs []timelineInput `json:"inputs"`
	}
	if !decode(rw, r, &body) {
		return
	}
	if len(body.Inputs) == 0 || len(body.Inputs) > maxBatch {
		rw.validation(fmt.Sprintf("inputs must hold between 1 and %d events", maxBatch))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := &batchResult{started: s.now()}
	for _, in := range body.Inputs {
		out, status, msg := s.addTimelineEvent(in)
		if status != 0 {
			cat := "VALIDATION_ERROR"
			if status == http.StatusConflict {
				cat = "CONFLICT"
			}
			res.errors = append(res.errors, newStandardError(cat, msg, map[string][]string{"id": {in.ID}}))
			continue
		}
		res.results = append(res.results, out)
	}
	res.write(rw, http.StatusCreated, s.now())
}

// TimelineEvents returns the stored timeline events.
func (s *Server) TimelineEvents() []TimelineEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TimelineEvent
	for _, e := range s.timeline.events {
		out = append(out, *e)
	}
	return out
}

// ownApp checks that the path's app id is the developer key's app.
func (s *Server) ownApp(rw *response, r *http.Request) bool {
	if r.PathValue("appId") != strconv.Itoa(s.opts.AppID) {
		rw.error(http.StatusForbidden, apiError{Category: "MISSING_SCOPES", Message: "The developer API key does not belong to app " + r.PathValue("appId")})
		return false
	}
	return true
}
