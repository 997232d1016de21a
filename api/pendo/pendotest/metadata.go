package pendotest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Field is a metadata field descriptor, as the schema endpoint returns it.
type Field struct {
	Type          string `json:"Type"` // string, boolean, integer, float, time, list, ""
	DisplayName   string `json:"DisplayName"`
	ElementType   string `json:"ElementType"`
	ElementFormat string `json:"ElementFormat"`
	Dirty         bool   `json:"Dirty"`
	IsHidden      bool   `json:"isHidden"`
	IsDeleted     bool   `json:"isDeleted"`
	IsCalculated  bool   `json:"isCalculated"`
	IsPerApp      bool   `json:"isPerApp"`
	IsPromoted    bool   `json:"isPromoted"`
	NeverIndex    bool   `json:"neverIndex"`
	Sample        any    `json:"sample"`
}

func standardSchema() map[string]map[string]map[string]*Field {
	f := func(typ, display string) *Field { return &Field{Type: typ, DisplayName: display} }
	return map[string]map[string]map[string]*Field{
		"visitor": {
			"agent": {"email": f("string", "Email"), "full_name": f("string", "Full Name"), "language": f("string", "Language")},
			"auto": {
				"id": f("string", "Visitor ID"), "accountid": f("string", "Account ID"), "accountids": {Type: "list", ElementType: "string", DisplayName: "Account IDs"},
				"firstvisit": f("time", "First Visit"), "lastvisit": f("time", "Last Visit"), "lastupdated": f("time", "Last Updated"),
				"lastbrowsername": f("string", "Browser Name"),
			},
			"custom": {},
			"pendo":  {"donotprocess": f("boolean", "Do Not Process")},
			// Written by Pendo's own HubSpot integration; read-only to the API.
			"hubspot": {"lifecyclestage": f("string", "HubSpot Lifecycle Stage")},
		},
		"account": {
			"agent":  {"name": f("string", "Name")},
			"auto":   {"id": f("string", "Account ID"), "firstvisit": f("time", "First Visit"), "lastvisit": f("time", "Last Visit"), "lastupdated": f("time", "Last Updated")},
			"custom": {},
		},
	}
}

// AddField declares a metadata field, as an admin does in Data Mappings.
// Names are lower-cased, as Pendo stores field keys.
func (s *Server) AddField(kind, group, name, typ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, ok := s.schema[kind]
	if !ok {
		return fmt.Errorf("pendotest: unknown kind %q", kind)
	}
	if !slices.Contains([]string{"string", "boolean", "integer", "float", "time", "list"}, typ) {
		return fmt.Errorf("pendotest: unknown field type %q", typ)
	}
	if groups[group] == nil {
		groups[group] = map[string]*Field{}
	}
	groups[group][strings.ToLower(name)] = &Field{Type: typ, DisplayName: name}
	return nil
}

func (s *Server) entities(kind string) map[string]*Entity {
	switch kind {
	case "visitor":
		return s.visitors
	case "account":
		return s.accounts
	}
	return nil
}

// PutVisitor stores a visitor with the given metadata (group → field →
// value), replacing any earlier one, and stamps auto.lastupdated.
func (s *Server) PutVisitor(id string, metadata map[string]map[string]any) {
	s.put("visitor", id, metadata)
}

// PutAccount stores an account like PutVisitor.
func (s *Server) PutAccount(id string, metadata map[string]map[string]any) {
	s.put("account", id, metadata)
}

func (s *Server) put(kind, id string, metadata map[string]map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &Entity{ID: id, Metadata: map[string]map[string]any{}}
	for g, fields := range metadata {
		e.Metadata[g] = map[string]any{}
		for k, v := range fields {
			e.Metadata[g][k] = v
		}
	}
	if e.Metadata["auto"] == nil {
		e.Metadata["auto"] = map[string]any{}
	}
	e.Metadata["auto"]["id"] = id
	s.touch(e)
	s.entities(kind)[id] = e
}

func (s *Server) touch(e *Entity) {
	ms := s.now().UnixMilli()
	if _, ok := e.Metadata["auto"]["firstvisit"]; !ok {
		e.Metadata["auto"]["firstvisit"] = ms
	}
	e.Metadata["auto"]["lastupdated"] = ms
}

// DeleteVisitor removes a visitor, as a GDPR deletion would.
func (s *Server) DeleteVisitor(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.visitors, id)
}

// Visitor returns a copy of a visitor's metadata.
func (s *Server) Visitor(id string) (map[string]map[string]any, bool) {
	return s.metadata("visitor", id)
}

// Account returns a copy of an account's metadata.
func (s *Server) Account(id string) (map[string]map[string]any, bool) {
	return s.metadata("account", id)
}

func (s *Server) metadata(kind, id string) (map[string]map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities(kind)[id]
	if !ok {
		return nil, false
	}
	out := map[string]map[string]any{}
	for g, fields := range e.Metadata {
		out[g] = map[string]any{}
		for k, v := range fields {
			out[g][k] = v
		}
	}
	return out, true
}

// VisitorIDs lists every visitor id, sorted.
func (s *Server) VisitorIDs() []string { return s.ids("visitor") }

// AccountIDs lists every account id, sorted.
func (s *Server) AccountIDs() []string { return s.ids("account") }

func (s *Server) ids(kind string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.entities(kind)
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) getSchema(w http.ResponseWriter, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, ok := s.schema[kind]
	if !ok {
		http.Error(w, "unknown metadata kind "+kind, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, groups)
}

// bulkResult is the body of a bulk metadata update.
type bulkResult struct {
	Total   int         `json:"total"`
	Updated int         `json:"updated"`
	Failed  int         `json:"failed"`
	Missing []string    `json:"missing"`
	Errors  []bulkError `json:"errors"`
}

// bulkError is one row's failure. Pendo does not document the element
// shape; the emulator names the row by id so a client can reconcile it, and
// clients must not rely on more than that.
type bulkError struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// bulkUpdate serves POST /api/v1/metadata/{kind}/{group}/value.
func (s *Server) bulkUpdate(w http.ResponseWriter, r *http.Request, kind, group string) {
	idField := map[string]string{"visitor": "visitorId", "account": "accountId"}[kind]
	if idField == "" {
		http.Error(w, "unknown metadata kind "+kind, http.StatusNotFound)
		return
	}
	if group != "custom" && group != "agent" {
		badRequest(w, fmt.Sprintf("metadata group %q is not writable", group))
		return
	}
	var rows []map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		badRequest(w, "Bad Request: malformed JSON: "+err.Error())
		return
	}
	create := r.URL.Query().Get("create") == "true"
	if len(rows) > s.opts.BulkRowsPerCall {
		// Pendo stops bulk calls at 5 minutes; nothing is applied.
		http.Error(w, "Request Timeout: the bulk update exceeded the 5 minute limit", http.StatusRequestTimeout)
		return
	}

	if rps := s.opts.BulkRowsPerSecond; rps > 0 {
		select {
		case <-time.After(time.Duration(len(rows)) * time.Second / time.Duration(rps)):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	fields := s.schema[kind][group]
	type parsed struct {
		id     string
		values map[string]any
	}
	batch := make([]parsed, 0, len(rows))
	for i, row := range rows {
		var p parsed
		if err := json.Unmarshal(row[idField], &p.id); err != nil || p.id == "" {
			badRequest(w, fmt.Sprintf("Bad Request: row %d: %s must be a non-empty string", i, idField))
			return
		}
		vd := json.NewDecoder(strings.NewReader(string(row["values"])))
		vd.UseNumber()
		if err := vd.Decode(&p.values); err != nil {
			badRequest(w, fmt.Sprintf("Bad Request: row %d: values must be an object", i))
			return
		}
		// A field not declared in Data Mappings fails the whole request.
		for name := range p.values {
			if fields[name] == nil {
				badRequest(w, fmt.Sprintf("Bad Request: missing field mappings for %s %s field %q", kind, group, name))
				return
			}
		}
		batch = append(batch, p)
	}

	res := bulkResult{Total: len(batch), Missing: []string{}, Errors: []bulkError{}}
	entities := s.entities(kind)
	for _, p := range batch {
		e := entities[p.id]
		if e == nil && !create {
			res.Missing = append(res.Missing, p.id)
			continue
		}
		coerced, err := coerceValues(fields, p.values)
		if err != nil {
			res.Errors = append(res.Errors, bulkError{ID: p.id, Error: err.Error()})
			continue
		}
		if e == nil {
			e = &Entity{ID: p.id, Metadata: map[string]map[string]any{"auto": {"id": p.id}}}
			entities[p.id] = e
		}
		if e.Metadata[group] == nil {
			e.Metadata[group] = map[string]any{}
		}
		for k, v := range coerced {
			if v == nil {
				delete(e.Metadata[group], k)
			} else {
				e.Metadata[group][k] = v
			}
		}
		s.touch(e)
		res.Updated++
	}
	res.Failed = len(res.Missing) + len(res.Errors)
	writeJSON(w, http.StatusOK, res)
}

// coerceValues checks each value against its field's declared type. Pendo
// does not document what a mismatch does; the emulator fails the row, the
// stricter reading, so a client cannot mistake a dropped value for success.
func coerceValues(fields map[string]*Field, values map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(values))
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		v := values[name]
		if v == nil {
			out[name] = nil
			continue
		}
		c, ok := coerce(fields[name].Type, v)
		if !ok {
			return nil, fmt.Errorf("field %s: %s value %s is not a valid %s", name, jsonKind(v), short(v), fields[name].Type)
		}
		out[name] = c
	}
	return out, nil
}

// maxStringValue bounds a metadata string. Pendo does not document a limit;
// the emulator refuses longer values per row, the stricter reading (see
// docs/emulators.md), as backflow checks them before sending.
const maxStringValue = 65_536

func coerce(typ string, v any) (any, bool) {
	switch typ {
	case "string", "":
		s, ok := v.(string)
		return s, ok && utf8.RuneCountInString(s) <= maxStringValue
	case "boolean":
		b, ok := v.(bool)
		return b, ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		i, err := n.Int64()
		return i, err == nil
	case "float":
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	case "time":
		switch t := v.(type) {
		case json.Number:
			i, err := t.Int64()
			return i, err == nil
		case string:
			parsed, err := time.Parse(time.RFC3339Nano, t)
			return parsed.UnixMilli(), err == nil
		}
		return nil, false
	case "list":
		l, ok := v.([]any)
		return l, ok
	}
	return nil, false
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "value"
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// verify serves GET /api/v1/token/verify.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Pendo-Integration-Key")
	writeJSON(w, http.StatusOK, map[string]bool{"valid": true, "writeAccess": key == s.opts.IntegrationKey})
}

var fieldName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// createField serves POST /api/v1/metadata/schema/{kind}/{group}: Pendo does
// not document the body; the emulator takes {"name", "type",
// "displayName"}, lower-cases the name as Pendo stores keys, accepts only
// the custom group, and answers 409 for a name already in use.
func (s *Server) createField(w http.ResponseWriter, r *http.Request, kind, group string) {
	var in struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		DisplayName string `json:"displayName"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		badRequest(w, "Bad Request: malformed JSON: "+err.Error())
		return
	}
	name := strings.ToLower(in.Name)
	switch {
	case group != "custom":
		badRequest(w, fmt.Sprintf("Bad Request: fields can only be created in the custom group, not %q", group))
		return
	case !fieldName.MatchString(name):
		badRequest(w, fmt.Sprintf("Bad Request: field name %q must start with a letter or underscore and hold only letters, digits and underscores", in.Name))
		return
	case !slices.Contains([]string{"string", "boolean", "integer", "float", "time", "list"}, in.Type):
		badRequest(w, fmt.Sprintf("Bad Request: type %q must be string, boolean, integer, float, time or list", in.Type))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, ok := s.schema[kind]
	if !ok {
		http.Error(w, "unknown metadata kind "+kind, http.StatusNotFound)
		return
	}
	if groups[group][name] != nil {
		http.Error(w, fmt.Sprintf("field %s already exists", name), http.StatusConflict)
		return
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Name
	}
	groups[group][name] = &Field{Type: in.Type, DisplayName: in.DisplayName}
	writeJSON(w, http.StatusOK, groups[group][name])
}

// putValue serves PUT /api/v1/metadata/{kind}/{group}/value/{id}/{field}:
// the body is the raw JSON value. Unlike the claim that a PUT creates a
// missing custom field, the emulator refuses it as the bulk endpoint does
// (400): creating fields is an explicit step.
func (s *Server) putValue(w http.ResponseWriter, r *http.Request, kind, group, id, field string) {
	var v any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		badRequest(w, "Bad Request: the body must be a JSON value: "+err.Error())
		return
	}
	if group != "custom" && group != "agent" {
		badRequest(w, fmt.Sprintf("metadata group %q is not writable", group))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.schema[kind][group][field]
	if f == nil {
		badRequest(w, fmt.Sprintf("Bad Request: missing field mappings for %s %s field %q", kind, group, field))
		return
	}
	e := s.entities(kind)[id]
	if e == nil {
		http.Error(w, fmt.Sprintf("%s %s not found", kind, id), http.StatusNotFound)
		return
	}
	vals, err := coerceValues(map[string]*Field{field: f}, map[string]any{field: v})
	if err != nil {
		badRequest(w, "Bad Request: "+err.Error())
		return
	}
	if e.Metadata[group] == nil {
		e.Metadata[group] = map[string]any{}
	}
	if vals[field] == nil {
		delete(e.Metadata[group], field)
	} else {
		e.Metadata[group][field] = vals[field]
	}
	s.touch(e)
	writeJSON(w, http.StatusOK, vals[field])
}

// getValue serves GET on the same path: the raw JSON value.
func (s *Server) getValue(w http.ResponseWriter, kind, group, id, field string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entities(kind)[id]
	if e == nil {
		http.Error(w, fmt.Sprintf("%s %s not found", kind, id), http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, e.Metadata[group][field])
}

// HoldWrites makes bulk metadata writes wait, once admitted (counted in
// Requests), until release is called: a test holds a batch at the API
// while it does something, such as stopping the process that sent it.
func (s *Server) HoldWrites() (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(gate)
		})
	}
}
