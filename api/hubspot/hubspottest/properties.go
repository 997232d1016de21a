package hubspottest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
)

// PropertyGroup is a property group definition.
type PropertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// validFieldTypes lists the fieldTypes HubSpot accepts for each type on
// create (properties guide).
var validFieldTypes = map[string][]string{
	"bool":         {"booleancheckbox", "calculation_equation"},
	"enumeration":  {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
	"date":         {"date"},
	"datetime":     {"date"},
	"string":       {"text", "textarea", "html", "phonenumber", "file", "calculation_equation"},
	"number":       {"number", "calculation_equation"},
	"phone_number": {"phonenumber"},
}

func (s *Server) listProperties(rw *response, r *http.Request, t *objectType) {
	archived := r.URL.Query().Get("archived") == "true"
	results := []Property{}
	for _, p := range t.props {
		if p.Archived == archived {
			results = append(results, p)
		}
	}
	rw.json(http.StatusOK, map[string]any{"results": results})
}

func (s *Server) getProperty(rw *response, r *http.Request, t *objectType) {
	p, ok := t.property(r.PathValue("propertyName"))
	if !ok {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: fmt.Sprintf("Unable to find property %s for object type %s", r.PathValue("propertyName"), t.name)})
		return
	}
	rw.json(http.StatusOK, p)
}

func (s *Server) createProperty(rw *response, r *http.Request, t *objectType) {
	var p Property
	if !decode(rw, r, &p) {
		return
	}
	if msg := s.checkPropertyDefinition(t, p); msg != "" {
		rw.validation(msg)
		return
	}
	if t.nameTaken(p.Name) {
		rw.error(http.StatusConflict, apiError{Category: "OBJECT_ALREADY_EXISTS", Message: fmt.Sprintf("Property already exists: %s", p.Name)})
		return
	}
	stamp := formatTime(s.now())
	p.CreatedAt, p.UpdatedAt, p.DisplayOrder = stamp, stamp, len(t.props)
	p.ModificationMetadata = &ModificationMetadata{Archivable: true}
	if p.Options == nil {
		p.Options = []Option{}
	}
	t.props = append(t.props, p)
	rw.json(http.StatusCreated, p)
}

// checkPropertyDefinition applies HubSpot's rules for a new property.
func (s *Server) checkPropertyDefinition(t *objectType, p Property) string {
	switch {
	case p.Name == "" || p.Label == "" || p.Type == "" || p.FieldType == "" || p.GroupName == "":
		return "name, label, type, fieldType and groupName are required"
	case !propertyName.MatchString(p.Name):
		return fmt.Sprintf("Property name %q must start with a lowercase letter and contain only lowercase letters, digits and underscores", p.Name)
	case validFieldTypes[p.Type] == nil:
		return fmt.Sprintf("Property type %q is not valid", p.Type)
	case !slices.Contains(validFieldTypes[p.Type], p.FieldType):
		return fmt.Sprintf("fieldType %q is not valid for type %q (valid: %v)", p.FieldType, p.Type, validFieldTypes[p.Type])
	case p.Type == "enumeration" && len(p.Options) == 0:
		return "Enumeration properties need at least one option"
	case !slices.ContainsFunc(t.groups, func(g PropertyGroup) bool { return g.Name == p.GroupName }):
		return fmt.Sprintf("Property group %q does not exist", p.GroupName)
	}
	if p.HasUniqueValue {
		n := 0
		for _, q := range t.props {
			if q.HasUniqueValue {
				n++
			}
		}
		if n >= 10 {
			return "An object can have at most 10 unique value properties"
		}
	}
	return ""
}

func (s *Server) listGroups(rw *response, r *http.Request, t *objectType) {
	rw.json(http.StatusOK, map[string]any{"results": t.groups})
}

func (s *Server) createGroup(rw *response, r *http.Request, t *objectType) {
	var g PropertyGroup
	if !decode(rw, r, &g) {
		return
	}
	if g.Name == "" || g.Label == "" || !propertyName.MatchString(g.Name) {
		rw.validation("name (lowercase letters, digits, underscores) and label are required")
		return
	}
	if slices.ContainsFunc(t.groups, func(x PropertyGroup) bool { return x.Name == g.Name }) {
		rw.error(http.StatusConflict, apiError{Category: "OBJECT_ALREADY_EXISTS", Message: fmt.Sprintf("Property group already exists: %s", g.Name)})
		return
	}
	g.DisplayOrder = len(t.groups)
	t.groups = append(t.groups, g)
	rw.json(http.StatusCreated, g)
}

func (s *Server) archiveProperty(rw *response, r *http.Request, t *objectType) {
	name := r.PathValue("propertyName")
	if _, ok := t.property(name); !ok {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: fmt.Sprintf("Unable to find property %s for object type %s", name, t.name)})
		return
	}
	if err := t.archiveProperty(name, s.now()); err != nil {
		rw.validation(err.Error())
		return
	}
	rw.noContent()
}
