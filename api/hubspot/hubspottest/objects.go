package hubspottest

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Property is a property definition as HubSpot's properties API returns it.
type Property struct {
	Name                 string                `json:"name"`
	Label                string                `json:"label"`
	Type                 string                `json:"type"`      // string, number, bool, enumeration, date, datetime, phone_number
	FieldType            string                `json:"fieldType"` // text, number, booleancheckbox, select, checkbox, radio, date, phonenumber, file, …
	GroupName            string                `json:"groupName"`
	Description          string                `json:"description"`
	Options              []Option              `json:"options"`
	DisplayOrder         int                   `json:"displayOrder"`
	Hidden               bool                  `json:"hidden"`
	HasUniqueValue       bool                  `json:"hasUniqueValue"`
	Calculated           bool                  `json:"calculated"`
	ExternalOptions      bool                  `json:"externalOptions"`
	HubspotDefined       bool                  `json:"hubspotDefined,omitempty"`
	FormField            bool                  `json:"formField"`
	Archived             bool                  `json:"archived"`
	CreatedAt            string                `json:"createdAt,omitempty"`
	UpdatedAt            string                `json:"updatedAt,omitempty"`
	ModificationMetadata *ModificationMetadata `json:"modificationMetadata,omitempty"`
}

// Option is one enumeration option.
type Option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// ModificationMetadata says what may change; ReadOnlyValue properties
// cannot be written through the objects API.
type ModificationMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

// Object is a stored CRM record. Property values are strings, as HubSpot
// keeps them.
type Object struct {
	ID         string
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
	ArchivedAt time.Time

	// history holds each property's values, oldest first, for reads
	// with propertiesWithHistory.
	history map[string][]historyEntry

	// versions are what search's index holds of the record: a copy at
	// every write, so a search within SearchLag of a write answers with
	// the values before it, as HubSpot's lagging index does.
	versions []version
}

type version struct {
	at       time.Time
	props    map[string]string
	updated  time.Time
	archived bool
}

type historyEntry struct {
	value string
	at    time.Time
	src   ChangeSource
}

// remember adds a value to a property's history.
func (o *Object) remember(name, value string, at time.Time, src ChangeSource) {
	if o.history == nil {
		o.history = map[string][]historyEntry{}
	}
	o.history[name] = append(o.history[name], historyEntry{value: value, at: at, src: src})
}

// renderHistory is propertiesWithHistory for the names asked: each
// known property's values, newest first.
func (t *objectType) renderHistory(o *Object, names []string) map[string]any {
	out := map[string]any{}
	for _, name := range names {
		if _, ok := t.property(name); !ok {
			continue
		}
		h := o.history[name]
		versions := make([]map[string]any, 0, len(h))
		for i := len(h) - 1; i >= 0; i-- {
			e := h[i]
			v := map[string]any{"value": e.value, "timestamp": formatTime(e.at), "sourceType": e.src.Type}
			if e.src.ID != "" {
				v["sourceId"] = e.src.ID
			}
			if e.src.Label != "" {
				v["sourceLabel"] = e.src.Label
			}
			if e.src.UserID != 0 {
				v["updatedByUserId"] = e.src.UserID
			}
			versions = append(versions, v)
		}
		out[name] = versions
	}
	return out
}

// index records the record as written at, for search.
func (o *Object) index(at time.Time) {
	o.versions = append(o.versions, version{at: at, props: maps.Clone(o.Properties), updated: o.UpdatedAt, archived: o.Archived})
}

// indexedAt is the record as search's index has it at horizon: nil when
// the index does not hold it yet (created since) or holds it archived.
// Versions older than the one returned are dropped: the horizon only
// moves forward.
func (o *Object) indexedAt(horizon time.Time) *Object {
	for i := len(o.versions) - 1; i >= 0; i-- {
		v := o.versions[i]
		if v.at.After(horizon) {
			continue
		}
		o.versions = o.versions[i:]
		if v.archived {
			return nil
		}
		return &Object{ID: o.ID, Properties: v.props, CreatedAt: o.CreatedAt, UpdatedAt: v.updated}
	}
	return nil
}

type objectType struct {
	// observe, when set, hears every new version (webhooks.go); called
	// with the server's lock held.
	observe      func(t *objectType, o *Object, before *version)
	name         string
	typeID       string
	fqn          string   // fullyQualifiedName of a custom object: p<portal>_<name>
	lastModified string   // lastmodifieddate or hs_lastmodifieddate
	defaults     []string // properties returned when none are requested
	required     []string // properties required on create
	labels       [2]string
	props        []Property
	groups       []PropertyGroup
	records      map[int64]*Object
	ids          []int64 // ascending, for paging
}

// property finds a live property: an archived one is gone to reads
// (requested, it is left out), writes, search and the definitions list, as
// in HubSpot.
func (t *objectType) property(name string) (Property, bool) {
	for _, p := range t.props {
		if p.Name == name && !p.Archived {
			return p, true
		}
	}
	return Property{}, false
}

// nameTaken reports a property of that name, archived ones included:
// HubSpot keeps an archived property's name until it is purged.
func (t *objectType) nameTaken(name string) bool {
	return slices.ContainsFunc(t.props, func(p Property) bool { return p.Name == name })
}

func (s *Server) objectType(name string) *objectType {
	if t, ok := s.types[name]; ok {
		return t
	}
	for _, t := range s.types {
		if t.typeID == name || t.fqn != "" && t.fqn == name {
			return t
		}
	}
	return nil
}

// AddProperty defines a property on an object type, as an admin would in
// HubSpot's settings.
func (s *Server) AddProperty(objectType string, p Property) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	if t.nameTaken(p.Name) {
		return fmt.Errorf("hubspottest: property %s.%s already exists", objectType, p.Name)
	}
	stamp := formatTime(s.now())
	p.CreatedAt, p.UpdatedAt = stamp, stamp
	if p.ModificationMetadata == nil {
		p.ModificationMetadata = &ModificationMetadata{Archivable: true}
	}
	if p.Options == nil {
		p.Options = []Option{}
	}
	t.props = append(t.props, p)
	return nil
}

// ArchiveProperty deletes a property as an admin does in HubSpot's
// settings: it is archived, and reads, writes and search no longer know
// it (DELETE /crm/v3/properties/{objectType}/{propertyName} does the same).
func (s *Server) ArchiveProperty(objectType, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	return t.archiveProperty(name, s.now())
}

func (t *objectType) archiveProperty(name string, now time.Time) error {
	for i := range t.props {
		p := &t.props[i]
		if p.Name != name || p.Archived {
			continue
		}
		if p.ModificationMetadata != nil && !p.ModificationMetadata.Archivable {
			return fmt.Errorf("property %s of %s is HubSpot's own and cannot be deleted", name, t.name)
		}
		p.Archived, p.UpdatedAt = true, formatTime(now)
		return nil
	}
	return fmt.Errorf("no property %s on %s", name, t.name)
}

// ArchiveObject archives a record as a user in HubSpot's UI does (a
// merge archives the merged-away contact the same way).
func (s *Server) ArchiveObject(objectType, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	o := t.get(id)
	if o == nil || o.Archived {
		return fmt.Errorf("hubspottest: no live %s %s", objectType, id)
	}
	o.Archived, o.ArchivedAt = true, s.now()
	t.index(o, o.ArchivedAt)
	return nil
}

// CreateObject stores a new record and returns its id. Values are
// validated as a write through the API would be.
func (s *Server) CreateObject(objectType string, props map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return "", fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	if err := s.validate(t, props); err != nil {
		return "", err
	}
	if miss := t.missingRequired(props); len(miss) > 0 {
		return "", fmt.Errorf("hubspottest: missing required properties for %s: %s", t.singular(), strings.Join(miss, ", "))
	}
	return s.newObject(t, props, ChangeSource{Type: "CRM_UI", UserID: DefaultUserID}).ID, nil
}

// UpdateObject changes properties of a record as a user in HubSpot's UI
// does (a lifecycle stage may move back); "" clears a value. The change
// is recorded in the properties' history as CRM_UI by DefaultUserID.
func (s *Server) UpdateObject(objectType, id string, props map[string]string) error {
	return s.UpdateObjectAs(objectType, id, props, ChangeSource{Type: "CRM_UI", UserID: DefaultUserID})
}

// ChangeSource is who changed a property, as property history reports
// it: Type is HubSpot's sourceType (CRM_UI, AUTOMATION_PLATFORM for a
// workflow, INTEGRATION for an app, IMPORT, …), ID its sourceId, Label
// its sourceLabel, UserID the user (0: none).
type ChangeSource struct {
	Type, ID, Label string
	UserID          int64
}

// DefaultUserID is the HubSpot user UpdateObject edits as.
const DefaultUserID = 9100001

// IntegrationAppID is the sourceId property history gives the API's
// writes: the private app's id.
const IntegrationAppID = "4410247"

func (s *Server) integration() ChangeSource {
	return ChangeSource{Type: "INTEGRATION", ID: IntegrationAppID, Label: "backflow private app"}
}

// UpdateObjectAs changes properties as UpdateObject does, recorded as
// made by src (a workflow: Type AUTOMATION_PLATFORM, ID the workflow).
func (s *Server) UpdateObjectAs(objectType, id string, props map[string]string, src ChangeSource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	o := t.get(id)
	if o == nil {
		return fmt.Errorf("hubspottest: %s %s not found", objectType, id)
	}
	if err := s.validate(t, props); err != nil {
		return err
	}
	s.setProps(t, o, props, src)
	return nil
}

// Object returns a copy of a stored record.
func (s *Server) Object(objectType, id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return Object{}, false
	}
	o := t.get(id)
	if o == nil {
		return Object{}, false
	}
	return o.copy(), true
}

// copy is the record with its own properties map.
func (o *Object) copy() Object {
	c := *o
	c.Properties = make(map[string]string, len(o.Properties))
	for k, v := range o.Properties {
		c.Properties[k] = v
	}
	return c
}

// ObjectIDs lists the ids of an object type's unarchived records, oldest
// first.
func (s *Server) ObjectIDs(objectType string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return nil
	}
	var out []string
	for _, id := range t.ids {
		if !t.records[id].Archived {
			out = append(out, strconv.FormatInt(id, 10))
		}
	}
	return out
}

func (t *objectType) get(id string) *Object {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	return t.records[n]
}

// stamp maintains the read-only system properties HubSpot computes, and
// search's index.
func (t *objectType) stamp(o *Object) {
	o.Properties["hs_object_id"] = o.ID
	o.Properties["createdate"] = formatTime(o.CreatedAt)
	o.Properties[t.lastModified] = formatTime(o.UpdatedAt)
	t.index(o, o.UpdatedAt)
}

// index records the record's new version for search, and tells the
// webhook sender (when subscribed) what changed since the last one.
func (t *objectType) index(o *Object, at time.Time) {
	var before *version
	if n := len(o.versions); n > 0 {
		v := o.versions[n-1]
		before = &v
	}
	o.index(at)
	if t.observe != nil {
		t.observe(t, o, before)
	}
}

// PropertyError is one invalid value, in HubSpot's validation shape.
type PropertyError struct {
	Name    string `json:"name"`
	Code    string `json:"error"`
	Message string `json:"message"`
	IsValid bool   `json:"isValid"`
}

// ValidationError lists the invalid values of one write.
type ValidationError struct{ Errors []PropertyError }

func (e *ValidationError) Error() string {
	var parts []string
	for _, pe := range e.Errors {
		parts = append(parts, pe.Name+": "+pe.Code)
	}
	return "Property values were not valid: " + strings.Join(parts, ", ")
}

// validate applies HubSpot's write rules to property values.
func (s *Server) validate(t *objectType, props map[string]string) error {
	var errs []PropertyError
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		if code, msg := s.checkValue(t, name, props[name]); code != "" {
			errs = append(errs, PropertyError{Name: name, Code: code, Message: msg})
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Errors: errs}
	}
	return nil
}

const maxStringLen = 65536

// numberValue is what a number property takes: an optional minus, digits,
// at most one decimal point with digits after it.
var numberValue = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func (s *Server) checkValue(t *objectType, name, v string) (code, msg string) {
	p, ok := t.property(name)
	if !ok {
		return "PROPERTY_DOESNT_EXIST", fmt.Sprintf("Property %q does not exist", name)
	}
	if p.ModificationMetadata != nil && p.ModificationMetadata.ReadOnlyValue {
		return "READ_ONLY_VALUE", fmt.Sprintf("%s is a read only property; its value cannot be set.", name)
	}
	if v == "" {
		return "", "" // clears the value
	}
	switch p.Type {
	case "number":
		// Digits with at most one decimal point (HubSpot's property
		// reference): no exponent, no NaN or Infinity, no hex.
		if !numberValue.MatchString(v) {
			return "INVALID_INTEGER", fmt.Sprintf("%s was not a valid number.", v)
		}
	case "bool":
		if v != "true" && v != "false" {
			return "INVALID_BOOLEAN", fmt.Sprintf("%s was not a valid boolean (true or false).", v)
		}
	case "enumeration":
		if p.ExternalOptions && p.Name == "hubspot_owner_id" {
			if !s.ownerExists(v) {
				return "INVALID_OWNER_ID", fmt.Sprintf("%s is not a valid owner id", v)
			}
			break
		}
		values := []string{v}
		if p.FieldType == "checkbox" {
			values = strings.Split(strings.TrimPrefix(v, ";"), ";")
		}
		for _, one := range values {
			if !slices.ContainsFunc(p.Options, func(o Option) bool { return o.Value == one }) {
				return "INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: %s", one, optionList(p.Options))
			}
		}
	case "date":
		d, err := parseDateValue(v)
		if err != nil {
			return "INVALID_DATE", fmt.Sprintf("%s is not a valid date.", v)
		}
		if d.UTC().Truncate(24*time.Hour) != d.UTC() {
			return "INVALID_DATE", fmt.Sprintf("%s is at %s, not at midnight UTC.", v, d.UTC().Format(time.RFC3339))
		}
	case "datetime":
		if _, err := parseDateValue(v); err != nil {
			return "INVALID_DATETIME", fmt.Sprintf("%s is not a valid datetime.", v)
		}
	}
	if len(v) > maxStringLen {
		return "INVALID_LENGTH", fmt.Sprintf("value is %d characters long; the limit is %d.", len(v), maxStringLen)
	}
	if name == "email" && !validEmail(v) {
		return "INVALID_EMAIL", fmt.Sprintf("Email address %s is invalid", v)
	}
	return "", ""
}

func optionList(opts []Option) string {
	vals := make([]string, len(opts))
	for i, o := range opts {
		vals[i] = o.Value
	}
	return "[" + strings.Join(vals, ", ") + "]"
}

// parseDateValue accepts what HubSpot accepts for date and datetime
// properties: epoch milliseconds, YYYY-MM-DD, or ISO 8601.
func parseDateValue(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date")
}

// validEmail is HubSpot's observable rule: one @, a non-empty local part,
// a dotted domain, no spaces.
func validEmail(v string) bool {
	local, domain, ok := strings.Cut(v, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(v, " \t\n") &&
		!strings.Contains(domain, "@") && !strings.HasSuffix(domain, ".") && !strings.HasPrefix(domain, ".")
}

var decimal = regexp.MustCompile(`^(-?)0*([0-9]+?)(?:\.([0-9]*?)0*)?$`)

// canonicalNumber is a decimal without leading or trailing zeros, by
// text, so that no digit is lost: "007.50" → "7.5", "-0" → "0".
func canonicalNumber(v string) string {
	m := decimal.FindStringSubmatch(v)
	if m == nil {
		return v
	}
	out := m[2]
	if m[3] != "" {
		out += "." + m[3]
	}
	if m[1] == "-" && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// normalize is a valid value as HubSpot stores and answers it: datetimes
// (ISO 8601 or epoch ms) as ISO 8601 with milliseconds in UTC, dates as
// YYYY-MM-DD, a contact's email lower-cased.
func (t *objectType) normalize(name, v string) string {
	if name == "email" && t.name == "contacts" {
		return strings.ToLower(v)
	}
	p, ok := t.property(name)
	if !ok {
		return v
	}
	switch p.Type {
	case "number":
		// HubSpot's stored form of a number is not documented; the
		// emulator answers the canonical one ("42.50" → "42.5"), the
		// stricter choice for anyone comparing what they sent.
		return canonicalNumber(v)
	case "datetime":
		if d, err := parseDateValue(v); err == nil {
			return formatTime(d)
		}
	case "date":
		if d, err := parseDateValue(v); err == nil {
			return d.UTC().Format("2006-01-02")
		}
	}
	return v
}

// render shapes a record as SimplePublicObject: the requested properties
// (null when unset) plus the ones HubSpot always returns.
func (t *objectType) render(o *Object, requested []string) map[string]any {
	props := make(map[string]any, len(requested)+3)
	for _, name := range requested {
		if _, ok := t.property(name); !ok {
			continue // HubSpot ignores unknown requested properties on reads
		}
		if v, ok := o.Properties[name]; ok {
			props[name] = v
		} else {
			props[name] = nil
		}
	}
	for _, always := range []string{"hs_object_id", "createdate", t.lastModified} {
		props[always] = o.Properties[always]
	}
	out := map[string]any{
		"id":         o.ID,
		"properties": props,
		"createdAt":  formatTime(o.CreatedAt),
		"updatedAt":  formatTime(o.UpdatedAt),
		"archived":   o.Archived,
	}
	if o.Archived {
		out["archivedAt"] = formatTime(o.ArchivedAt)
	}
	return out
}

// listParam reads a multi-valued query parameter in either form HubSpot
// accepts: repeated keys or one comma-separated value.
func listParam(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// ChangePropertyType changes a property's type, as an admin can in
// HubSpot's settings (a number property turned into text, say). Stored
// values are kept as they are.
func (s *Server) ChangePropertyType(objectType, name, typ, fieldType string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.objectType(objectType)
	if t == nil {
		return fmt.Errorf("hubspottest: unknown object type %q", objectType)
	}
	for i := range t.props {
		if t.props[i].Name == name {
			t.props[i].Type, t.props[i].FieldType = typ, fieldType
			t.props[i].UpdatedAt = formatTime(s.now())
			return nil
		}
	}
	return fmt.Errorf("hubspottest: %s has no property %q", objectType, name)
}
