package hubspot

import (
	"errors"
	"fmt"
	"slices"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/load"
)

// syncSettings are the keys of a sync file that are HubSpot's.
type syncSettings struct {
	// Match is what the key identifies: id (default), email, or a
	// unique-value property.
	Match string `yaml:"match"`
	// Event is the custom event an events sync sends (its internal name,
	// or the fullyQualifiedName pe<portal>_<name>).
	Event string `yaml:"event"`
	// KeyProperty is, in create mode, the property that holds the model
	// key on every created record, so that a record whose creation was
	// not recorded (a crash) is found again instead of created twice.
	KeyProperty string `yaml:"key_property"`
	// Associations link records created in create mode to existing ones.
	Associations []Association `yaml:"associations"`
	// List is the list an object: lists sync keeps the model's records
	// in, by name; ListObject the type of its records (contacts, the
	// default, companies or deals).
	List       string `yaml:"list"`
	ListObject string `yaml:"list_object"`
}

// Association links a created record to the record whose id a model
// column holds.
type Association struct {
	Column string `yaml:"column"`
	To     string `yaml:"to"` // contacts, companies, deals, tickets, tasks
}

// AssociationField is the field under which a plan carries an
// association's target id: "@" and the object type.
func AssociationField(to string) string { return "@" + to }

// SyncKeys implements connector.Config.
func (c *Config) SyncKeys() any { return &syncSettings{} }

// target is one sync's HubSpot destination.
type target struct {
	object      string
	list        string // object: lists: the list's name, and the type of its records
	pairs       bool   // object: lists without list: (list, record) pairs
	listObject  string
	match       string
	event       string
	keyProperty string
	mode        load.Mode
	archive     bool
	size        int
}

func (t *target) String() string {
	if t.event != "" {
		return "hubspot event " + t.event
	}
	if t.list != "" {
		return fmt.Sprintf("hubspot list %q", t.list)
	}
	if t.pairs {
		return "hubspot lists"
	}
	return "hubspot " + t.object
}

// Sync implements connector.Config: object syncs update, upsert or create
// records, in batches of up to 100; object events sends custom events, in
// batches of up to 500.
func (c *Config) Sync(s *connector.Sync) (connector.Target, error) {
	set, ok := s.Settings.(*syncSettings)
	if !ok {
		return nil, fmt.Errorf("hubspot: sync settings %T are not HubSpot's", s.Settings)
	}
	f, spec := s.File, &s.Spec
	if set.Event != "" && s.Object != "events" {
		return nil, f.Errorf("event", "names a HubSpot custom event; only object: events syncs send one")
	}
	if s.Object == "events" {
		return c.eventSync(s, *set)
	}
	if s.Object == "lists" {
		return c.listSync(s, *set)
	}
	if set.List != "" || set.ListObject != "" {
		return nil, f.Errorf("list", "names a HubSpot list; only object: lists syncs keep one")
	}
	if spec.Mode == "" {
		spec.Mode = load.Update
	}
	if set.Match == "" {
		set.Match = "id"
	}
	if !connector.Identifier.MatchString(set.Match) {
		return nil, f.Errorf("match", "must be id, email or a unique property's name, not %q", set.Match)
	}
	switch spec.Mode {
	case load.Update:
	case load.Upsert:
		if set.Match == "id" {
			return nil, f.Errorf("mode", "upsert needs match: email or a unique-value property (HubSpot cannot upsert by record id)")
		}
	case load.Create:
		if set.Match != "id" {
			return nil, f.Errorf("match", "create mode keeps the id of each record it creates; match must be id")
		}
		if !connector.Identifier.MatchString(set.KeyProperty) {
			return nil, &connector.FileError{File: f.File, Line: f.Line("key_property"), Field: "key_property",
				Err: errors.New("create mode needs key_property: a text property that holds the model key on each created record")}
		}
	case load.Events:
		return nil, f.Errorf("mode", "mode events sends custom events: set object: events and event: <name>")
	}
	if set.Match == "email" && s.Object != "contacts" {
		return nil, f.Errorf("match", "email identifies contacts only; %s need id or a unique property", s.Object)
	}
	if spec.OnRemove == load.Archive && set.Match != "id" {
		return nil, f.Errorf("on_remove", "archive needs match: id (HubSpot archives records by id)")
	}
	if s.BatchSize == 0 {
		s.BatchSize = 100
	}
	if s.BatchSize > 100 {
		return nil, f.Errorf("batch_size", "HubSpot batches hold at most 100 records, not %d", s.BatchSize)
	}
	if err := createFields(s, *set); err != nil {
		return nil, err
	}
	return &target{object: s.Object, match: set.Match, keyProperty: set.KeyProperty, mode: spec.Mode,
		archive: spec.OnRemove == load.Archive, size: s.BatchSize}, nil
}

// createFields adds, in create mode, the key (into key_property) and the
// association ids (under "@<object>") to the fields the plan carries.
func createFields(s *connector.Sync, set syncSettings) error {
	spec := &s.Spec
	if len(set.Associations) > 0 && spec.Mode != load.Create {
		return s.File.Errorf("associations", "associations are made when records are created: mode create only")
	}
	if spec.Mode != load.Create {
		return nil
	}
	if !slices.ContainsFunc(spec.Fields, func(f load.Field) bool { return f.Field == set.KeyProperty }) {
		spec.Fields = append(spec.Fields, load.Field{Column: spec.Key, Field: set.KeyProperty})
	}
	for i, a := range set.Associations {
		if a.Column == "" || !connector.Identifier.MatchString(a.To) {
			return s.File.Errorf("associations", "association %d needs column (the model column holding the record id) and to (the object type)", i+1)
		}
		spec.Fields = append(spec.Fields, load.Field{Column: a.Column, Field: AssociationField(a.To)})
	}
	return nil
}

// eventSync checks an object: events sync.
func (c *Config) eventSync(s *connector.Sync, set syncSettings) (connector.Target, error) {
	f, spec := s.File, &s.Spec
	if spec.Mode == "" {
		spec.Mode = load.Events
	}
	if spec.Mode != load.Events {
		return nil, f.Errorf("mode", "hubspot events syncs use mode events, not %q", spec.Mode)
	}
	if set.Event == "" {
		return nil, &connector.FileError{File: f.File, Field: "event", Err: errors.New("is required: the custom event's name, as defined in HubSpot")}
	}
	if s.BatchSize == 0 {
		s.BatchSize = 500
	}
	if s.BatchSize > 500 {
		return nil, f.Errorf("batch_size", "HubSpot event batches hold at most 500 events, not %d", s.BatchSize)
	}
	if len(set.Associations) > 0 {
		return nil, f.Errorf("associations", "associations are made when records are created: mode create only")
	}
	return &target{object: "events", event: set.Event, mode: load.Events, size: s.BatchSize}, nil
}
