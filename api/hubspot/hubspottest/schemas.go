package hubspottest

import (
	"fmt"
	"net/http"
	"slices"
)

// ObjectSchema describes a custom object type (spec `ObjectSchema`).
type ObjectSchema struct {
	ID                         string            `json:"id"`
	ObjectTypeID               string            `json:"objectTypeId"`
	FullyQualifiedName         string            `json:"fullyQualifiedName"`
	Name                       string            `json:"name"`
	Labels                     map[string]string `json:"labels"`
	PrimaryDisplayProperty     string            `json:"primaryDisplayProperty"`
	RequiredProperties         []string          `json:"requiredProperties"`
	SearchableProperties       []string          `json:"searchableProperties"`
	SecondaryDisplayProperties []string          `json:"secondaryDisplayProperties"`
	Properties                 []Property        `json:"properties"`
	Associations               []map[string]any  `json:"associations"`
	Archived                   bool              `json:"archived"`
	CreatedAt                  string            `json:"createdAt"`
	UpdatedAt                  string            `json:"updatedAt"`
}

// DefineObject creates a custom object type, as an admin would in HubSpot's
// settings (custom objects need Enterprise). Its properties are added to
// the system ones every object has; primary is the display property and is
// required on create. It returns the objectTypeId (2-…).
func (s *Server) DefineObject(name, singular, plural, primary string, props []Property) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !propertyName.MatchString(name) {
		return "", fmt.Errorf("hubspottest: custom object name %q must be lowercase letters, digits and underscores", name)
	}
	if s.objectType(name) != nil {
		return "", fmt.Errorf("hubspottest: object type %q already exists", name)
	}
	n := 0
	for _, t := range s.types {
		if t.fqn != "" {
			n++
		}
	}
	t := &objectType{
		name: name, typeID: fmt.Sprintf("2-%d", 1000+n), fqn: fmt.Sprintf("p%d_%s", s.opts.PortalID, name),
		lastModified: "hs_lastmodifieddate", defaults: []string{primary}, required: []string{primary},
		records: map[int64]*Object{}, labels: [2]string{singular, plural},
	}
	ro := &ModificationMetadata{ReadOnlyValue: true, ReadOnlyDefinition: true}
	t.props = []Property{
		{Name: "hs_object_id", Label: "Record ID", Type: "number", FieldType: "number", GroupName: name + "_information", ModificationMetadata: ro, Options: []Option{}},
		{Name: "hs_createdate", Label: "Create date", Type: "datetime", FieldType: "date", GroupName: name + "_information", ModificationMetadata: ro, Options: []Option{}},
		{Name: "hs_lastmodifieddate", Label: "Last modified date", Type: "datetime", FieldType: "date", GroupName: name + "_information", ModificationMetadata: ro, Options: []Option{}},
	}
	for _, p := range props {
		if p.GroupName == "" {
			p.GroupName = name + "_information"
		}
		if p.Options == nil {
			p.Options = []Option{}
		}
		if p.ModificationMetadata == nil {
			p.ModificationMetadata = &ModificationMetadata{Archivable: true}
		}
		t.props = append(t.props, p)
	}
	if _, ok := t.property(primary); !ok {
		return "", fmt.Errorf("hubspottest: primary display property %q is not among the properties", primary)
	}
	t.finish()
	t.observe = s.observe
	s.types[name] = t
	return t.typeID, nil
}

func (s *Server) schemaOf(t *objectType) ObjectSchema {
	stamp := formatTime(s.now())
	sc := ObjectSchema{
		ID: t.typeID[2:], ObjectTypeID: t.typeID, FullyQualifiedName: t.fqn, Name: t.name,
		Labels:                 map[string]string{"singular": t.labels[0], "plural": t.labels[1]},
		PrimaryDisplayProperty: t.defaults[0], RequiredProperties: t.required, SearchableProperties: t.defaults,
		SecondaryDisplayProperties: []string{}, Properties: t.props, Associations: []map[string]any{},
		CreatedAt: stamp, UpdatedAt: stamp,
	}
	for _, a := range s.assocTypes() {
		if a.from == t.name {
			sc.Associations = append(sc.Associations, map[string]any{
				"id": fmt.Sprint(a.id), "fromObjectTypeId": t.typeID, "toObjectTypeId": s.types[a.to].typeID, "name": a.name,
			})
		}
	}
	return sc
}

func (s *Server) listSchemas(rw *response, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	results := []ObjectSchema{}
	for _, t := range s.types {
		if t.fqn != "" {
			results = append(results, s.schemaOf(t))
		}
	}
	slices.SortFunc(results, func(a, b ObjectSchema) int { return cmpStrings(a.ObjectTypeID, b.ObjectTypeID) })
	rw.json(http.StatusOK, map[string]any{"results": results})
}

func (s *Server) getSchema(rw *response, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(r.PathValue("objectType"))
	if t == nil || t.fqn == "" {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "Unable to find object schema " + r.PathValue("objectType")})
		return
	}
	rw.json(http.StatusOK, s.schemaOf(t))
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
