// Package project reads and validates a backflow project folder:
// backflow.yml, models/*.sql (listed, not parsed) and syncs/*.yml. Errors name
// the file, the line and the field. Secrets are never stored in these files;
// they name environment variables, resolved by Resolve with a lookup
// function the caller provides.
package project

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backflow-dev/backflow/api/wire"
)

// Project is a loaded, validated project.
type Project struct {
	// FS is the project folder; Dir is its path for messages.
	FS  fs.FS
	Dir string

	Config Config
	Syncs  []Sync
}

// Path resolves a path from the project's files against its folder.
func (p *Project) Path(rel string) string {
	if path.IsAbs(rel) || filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(p.Dir, rel)
}

// Config is backflow.yml.
type Config struct {
	Name string `yaml:"name"`
	// Warehouse is the DuckDB file, relative to the project folder.
	Warehouse string   `yaml:"warehouse"`
	HubSpot   *HubSpot `yaml:"hubspot"`
	Pendo     *Pendo   `yaml:"pendo"`
	// FileMode is the permission of the files backflow writes that hold
	// data (the DuckDB file, its published copy, the report), in octal.
	// Default "0600": the data is about people.
	FileMode string `yaml:"file_mode"`
	// MaxRemoval is the share of a table's rows (or of the records a sync
	// has pushed) that a full read may lose, or a sync may clear or
	// archive, before the run stops and asks for --allow-mass-removal.
	// Default 0.1; 1 turns the guard off.
	MaxRemoval float64 `yaml:"max_removal"`
	// Identity configures the shipped identity models.
	Identity struct {
		// ContactVisitorIDProperty is a HubSpot contact property holding
		// the Pendo visitor id (a shared-id match, stronger than email).
		ContactVisitorIDProperty string `yaml:"contact_visitor_id_property"`
		// CompanyAccountIDProperty is a HubSpot company property holding
		// the Pendo account id.
		CompanyAccountIDProperty string `yaml:"company_account_id_property"`
	} `yaml:"identity"`
}

// HubSpot configures the HubSpot connection and what to extract.
type HubSpot struct {
	// TokenEnv names the environment variable holding the private-app
	// token. Default HUBSPOT_TOKEN. Unused when OAuth is set.
	TokenEnv string `yaml:"token_env"`
	// OAuth authenticates as a public app instead of a private-app token.
	OAuth      *HubSpotOAuth `yaml:"oauth"`
	BaseURL    string        `yaml:"base_url"`
	BurstLimit int           `yaml:"burst_limit"`
	// APIVersion is v3 (default) or a date version such as 2026-03.
	APIVersion string `yaml:"api_version"`
	Extract    struct {
		// Objects: contacts, companies, deals, tickets, tasks, owners,
		// custom object names, or custom for every custom object.
		Objects []string `yaml:"objects"`
		// Properties per object; absent objects read every property.
		Properties map[string][]string `yaml:"properties"`
		// Incremental (default true) reads only what changed since the
		// last run, through search windows.
		Incremental *bool `yaml:"incremental"`
		// Lookback re-reads this much before the cursor (search lags
		// writes). Default 5m.
		Lookback Duration `yaml:"lookback"`
		// Associations (default true) stages association tables between
		// extracted objects.
		Associations *bool `yaml:"associations"`
	} `yaml:"extract"`
}

// Duration is a time.Duration written as "5m", "8h".
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30m or 8h", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// On reports a default-true option.
func On(b *bool) bool { return b == nil || *b }

// HubSpotOAuth configures OAuth for a HubSpot public app. `backflow auth
// hubspot` stores the refresh token in TokenFile.
type HubSpotOAuth struct {
	ClientID        string   `yaml:"client_id"`
	ClientSecretEnv string   `yaml:"client_secret_env"` // default HUBSPOT_CLIENT_SECRET
	Scopes          []string `yaml:"scopes"`
	RedirectURL     string   `yaml:"redirect_url"` // default http://localhost:8976/oauth-callback
	TokenFile       string   `yaml:"token_file"`   // relative to the project; default .backflow/hubspot-token.json
}

// Pendo configures the Pendo connection and what to extract.
type Pendo struct {
	// IntegrationKeyEnv names the environment variable holding the
	// integration key. Default PENDO_INTEGRATION_KEY.
	IntegrationKeyEnv string `yaml:"integration_key_env"`
	// TrackSecretEnv names the environment variable holding the track
	// event shared secret, needed only by track_events syncs. Default
	// PENDO_TRACK_SECRET.
	TrackSecretEnv    string `yaml:"track_secret_env"`
	Region            string `yaml:"region"`
	BaseURL           string `yaml:"base_url"`
	RequestsPerSecond int    `yaml:"requests_per_second"`
	// TimeZone is the subscription's time zone (an IANA name such as
	// America/New_York), which Pendo's day buckets follow. Default UTC.
	TimeZone string `yaml:"timezone"`
	Extract  struct {
		// Streams: visitors, accounts, events, feature_events, page_events,
		// track_events, guide_events, poll_events.
		Streams          []string `yaml:"streams"`
		IncludeAnonymous bool     `yaml:"include_anonymous"`
		// Incremental (default true): visitors and accounts changed since
		// the last run, events from the last run minus event_lookback.
		Incremental *bool `yaml:"incremental"`
		// EventLookback re-reads recent events, which Pendo keeps
		// aggregating for hours. Default 8h.
		EventLookback Duration `yaml:"event_lookback"`
		// HistoryDays is how far back the first run reads events. Default 30.
		HistoryDays int `yaml:"history_days"`
		// AllApps reads every app of a multi-app subscription.
		AllApps bool `yaml:"all_apps"`
	} `yaml:"extract"`
}

// Sync is one syncs/*.yml file: one model to one destination object.
type Sync struct {
	// Name is the file name without .yml.
	Name string `yaml:"-"`
	// File is the path within the project, for messages.
	File string `yaml:"-"`

	Model       string `yaml:"model"`
	Destination string `yaml:"destination"`
	Object      string `yaml:"object"`
	Key         string `yaml:"key"`
	// Match is what the key identifies in HubSpot: id (default), email, or
	// a unique-value property.
	Match string `yaml:"match"`
	Mode  string `yaml:"mode"`
	Group string `yaml:"group"`
	// Event is the HubSpot custom event a hubspot events sync sends (its
	// internal name, or the fullyQualifiedName pe<portal>_<name>).
	Event     string `yaml:"event"`
	OnRemove  string `yaml:"on_remove"`
	BatchSize int    `yaml:"batch_size"`
	// RateLimitShare is the part of the API's rate limit this sync may use
	// (0 < x ≤ 1), leaving the rest to other integrations. Default 1.
	RateLimitShare float64 `yaml:"rate_limit_share"`
	// KeyProperty is, in create mode, the HubSpot property that holds the
	// model key on every created record, so that a record whose creation
	// was not recorded (a crash) is found again instead of created twice.
	KeyProperty string `yaml:"key_property"`
	// Associations link records created in create mode to existing ones.
	Associations []Association `yaml:"associations"`
	// CreateFields creates mapped fields the destination lacks (HubSpot
	// properties in a "backflow" group, Pendo custom fields), typed from
	// the model's columns.
	CreateFields bool    `yaml:"create_fields"`
	Fields       []Field `yaml:"-"`
}

// Association links a created record to the record whose id a model
// column holds.
type Association struct {
	Column string `yaml:"column"`
	To     string `yaml:"to"` // contacts, companies, deals, tickets, tasks
}

// AssociationField is the field name under which a sync's plan carries an
// association's target id: "@" and the object type.
func AssociationField(to string) string { return "@" + to }

// Field maps a model column to a destination field.
type Field struct {
	Column string
	Field  string
	// Type overrides the destination type read from the API.
	Type string
}

// Error is a problem in a project file.
type Error struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoProject is returned when the folder has no backflow.yml.
var ErrNoProject = errors.New("no backflow.yml here; run `backflow init` to create a project, or pass --project DIR")

// ConfigFile is the project file's name.
const ConfigFile = "backflow.yml"

// Load reads and validates the project in fsys. dir is only used in
// messages.
func Load(fsys fs.FS, dir string) (*Project, error) {
	raw, err := fs.ReadFile(fsys, ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoProject)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ConfigFile, err)
	}
	p := &Project{FS: fsys, Dir: dir}
	doc, err := decodeStrict(ConfigFile, raw, &p.Config)
	if err != nil {
		return nil, err
	}
	if err := p.Config.validate(doc); err != nil {
		return nil, err
	}
	files, err := fs.Glob(fsys, "syncs/*.yml")
	if err != nil {
		return nil, err
	}
	more, _ := fs.Glob(fsys, "syncs/*.yaml")
	files = append(files, more...)
	sort.Strings(files)
	seen := map[string]string{}
	for _, f := range files {
		s, err := loadSync(fsys, f)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[s.Name]; dup {
			return nil, &Error{File: f, Err: fmt.Errorf("sync %q is also defined in %s", s.Name, other)}
		}
		seen[s.Name] = f
		if err := s.checkSource(&p.Config); err != nil {
			return nil, err
		}
		p.Syncs = append(p.Syncs, *s)
	}
	return p, nil
}

// decodeStrict decodes YAML into out, refusing unknown fields, and returns
// the document node for line lookups.
func decodeStrict(file string, raw []byte, out any) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, &Error{File: file, Err: cleanYAMLError(err)}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Err: errors.New("file is empty")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, &Error{File: file, Err: cleanYAMLError(err)}
	}
	return doc.Content[0], nil
}

// cleanYAMLError turns "yaml: line 3: field x not found in type project.Config"
// into "line 3: unknown field x".
var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg = notFound.ReplaceAllString(msg, "unknown field $1")
	return errors.New(msg)
}

// lineOf finds the line of the value at a key path in a mapping node; 0
// when absent.
func lineOf(n *yaml.Node, keys ...string) int {
	line := 0
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				line = n.Content[i].Line
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func (c *Config) validate(doc *yaml.Node) error {
	bad := func(field string, keys []string, format string, args ...any) error {
		return &Error{File: ConfigFile, Line: lineOf(doc, keys...), Field: field, Err: fmt.Errorf(format, args...)}
	}
	if c.Warehouse == "" {
		c.Warehouse = "warehouse.duckdb"
	}
	// DuckDB names the catalog after the file: backflow.duckdb would make
	// backflow.runs ambiguous, for backflow and for every analyst.
	stem := strings.ToLower(strings.TrimSuffix(path.Base(c.Warehouse), path.Ext(c.Warehouse)))
	if slices.Contains([]string{"backflow", "models", "raw_hubspot", "raw_pendo", "main", "temp", "system"}, stem) {
		return bad("warehouse", []string{"warehouse"}, "a file named %q clashes with the schema %s inside it; pick another name, e.g. warehouse.duckdb", path.Base(c.Warehouse), stem)
	}
	if c.FileMode == "" {
		c.FileMode = "0600"
	}
	if m, err := strconv.ParseUint(c.FileMode, 8, 32); err != nil || m > 0o777 || m&0o600 != 0o600 {
		return bad("file_mode", []string{"file_mode"}, "%q is not a file mode such as \"0600\" or \"0640\" (octal; the owner must read and write)", c.FileMode)
	}
	switch {
	case c.MaxRemoval == 0:
		c.MaxRemoval = 0.1
	case c.MaxRemoval < 0 || c.MaxRemoval > 1:
		return bad("max_removal", []string{"max_removal"}, "must be a share between 0 and 1, not %v", c.MaxRemoval)
	}
	for key, prop := range map[string]string{"contact_visitor_id_property": c.Identity.ContactVisitorIDProperty, "company_account_id_property": c.Identity.CompanyAccountIDProperty} {
		if prop != "" && !validName.MatchString(prop) {
			return bad("identity."+key, []string{"identity", key}, "%q is not a HubSpot property name", prop)
		}
	}
	if c.HubSpot != nil {
		if c.HubSpot.TokenEnv == "" {
			c.HubSpot.TokenEnv = "HUBSPOT_TOKEN"
		}
		if o := c.HubSpot.OAuth; o != nil {
			if o.ClientID == "" {
				return bad("hubspot.oauth.client_id", []string{"hubspot", "oauth"}, "is required for OAuth")
			}
			if o.ClientSecretEnv == "" {
				o.ClientSecretEnv = "HUBSPOT_CLIENT_SECRET"
			}
			if o.TokenFile == "" {
				o.TokenFile = ".backflow/hubspot-token.json"
			}
			if len(o.Scopes) == 0 {
				o.Scopes = []string{"oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
					"crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write", "crm.schemas.contacts.read",
					"crm.schemas.companies.read", "crm.schemas.deals.read"}
			}
		}
		if v := c.HubSpot.APIVersion; v != "" && v != "v3" {
			if _, err := time.Parse("2006-01", v); err != nil {
				return bad("hubspot.api_version", []string{"hubspot", "api_version"}, "must be v3 or a date version such as 2026-03, not %q", v)
			}
		}
		if u := c.HubSpot.BaseURL; u != "" {
			if _, err := wire.CheckBaseURL(u); err != nil {
				return bad("hubspot.base_url", []string{"hubspot", "base_url"}, "%v", err)
			}
		}
		if c.HubSpot.BurstLimit < 0 {
			return bad("hubspot.burst_limit", []string{"hubspot", "burst_limit"}, "must be positive")
		}
		for i, o := range c.HubSpot.Extract.Objects {
			if !slices.Contains(HubSpotObjects, o) && !validName.MatchString(o) {
				return bad(fmt.Sprintf("hubspot.extract.objects[%d]", i), []string{"hubspot", "extract", "objects"},
					"unknown object %q (supported: %s, or a custom object's name)", o, strings.Join(HubSpotObjects, ", "))
			}
		}
		for obj := range c.HubSpot.Extract.Properties {
			if !slices.Contains(c.HubSpot.Extract.Objects, obj) {
				return bad("hubspot.extract.properties."+obj, []string{"hubspot", "extract", "properties", obj}, "lists properties of %q, which objects does not extract", obj)
			}
		}
	}
	if c.Pendo != nil {
		if c.Pendo.IntegrationKeyEnv == "" {
			c.Pendo.IntegrationKeyEnv = "PENDO_INTEGRATION_KEY"
		}
		if c.Pendo.TrackSecretEnv == "" {
			c.Pendo.TrackSecretEnv = "PENDO_TRACK_SECRET"
		}
		if tz := c.Pendo.TimeZone; tz != "" {
			if _, err := time.LoadLocation(tz); err != nil {
				return bad("pendo.timezone", []string{"pendo", "timezone"}, "unknown time zone %q (want an IANA name such as America/New_York)", tz)
			}
		}
		if u := c.Pendo.BaseURL; u != "" {
			if _, err := wire.CheckBaseURL(u); err != nil {
				return bad("pendo.base_url", []string{"pendo", "base_url"}, "%v", err)
			}
		}
		if r := strings.ToLower(c.Pendo.Region); r != "" && !slices.Contains([]string{"us", "eu", "us1", "jpn", "au"}, r) {
			return bad("pendo.region", []string{"pendo", "region"}, "unknown region %q (want us, eu, us1, jpn or au)", c.Pendo.Region)
		}
		for i, s := range c.Pendo.Extract.Streams {
			if !slices.Contains(PendoStreams, s) {
				return bad(fmt.Sprintf("pendo.extract.streams[%d]", i), []string{"pendo", "extract", "streams"},
					"unknown stream %q (supported: %s)", s, strings.Join(PendoStreams, ", "))
			}
		}
	}
	return nil
}

// Mode is FileMode as a permission.
func (c *Config) Mode() os.FileMode {
	m, err := strconv.ParseUint(c.FileMode, 8, 32)
	if err != nil {
		return 0o600
	}
	return os.FileMode(m)
}

// HubSpotObjects and PendoStreams are what extraction supports.
var (
	HubSpotObjects = []string{"contacts", "companies", "deals", "tickets", "tasks", "owners", "custom"}
	PendoStreams   = []string{"visitors", "accounts", "events", "feature_events", "page_events", "track_events", "guide_events", "poll_events"}
)

// syncFile mirrors a sync file for strict decoding; fields is decoded by
// hand because it accepts two shapes.
type syncFile struct {
	Sync   `yaml:",inline"`
	Fields yaml.Node `yaml:"fields"`
}

func loadSync(fsys fs.FS, file string) (*Sync, error) {
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, err
	}
	var sf syncFile
	doc, err := decodeStrict(file, raw, &sf)
	if err != nil {
		return nil, err
	}
	s := sf.Sync
	s.File = file
	s.Name = strings.TrimSuffix(strings.TrimSuffix(path.Base(file), ".yml"), ".yaml")
	bad := func(field string, format string, args ...any) error {
		return &Error{File: file, Line: lineOf(doc, field), Field: field, Err: fmt.Errorf(format, args...)}
	}
	if !validName.MatchString(s.Name) {
		return nil, &Error{File: file, Err: fmt.Errorf("sync name %q (from the file name) must be letters, digits and underscores", s.Name)}
	}
	for _, req := range []struct{ field, value string }{
		{"model", s.Model}, {"destination", s.Destination}, {"object", s.Object}, {"key", s.Key},
	} {
		if req.value == "" {
			return nil, &Error{File: file, Field: req.field, Err: errors.New("is required")}
		}
	}
	explicitMode := s.Mode != ""
	if !explicitMode {
		s.Mode = "update"
	}
	if s.OnRemove == "" {
		s.OnRemove = "ignore"
	}
	switch s.Destination {
	case "pendo":
		if s.Object == "track_events" {
			if !explicitMode {
				s.Mode = "events"
			}
			if s.Mode != "events" {
				return nil, bad("mode", "pendo track_events syncs use mode events, not %q", s.Mode)
			}
			if s.BatchSize == 0 {
				s.BatchSize = 100
			}
			break
		}
		if s.Object != "visitors" && s.Object != "accounts" {
			return nil, bad("object", "pendo syncs support visitors, accounts and track_events, not %q", s.Object)
		}
		if s.Mode != "update" {
			return nil, bad("mode", "pendo metadata syncs support mode update, not %q", s.Mode)
		}
		if s.Group == "" {
			s.Group = "custom"
		}
		if s.Group != "custom" && s.Group != "agent" {
			return nil, bad("group", "pendo metadata group must be custom or agent, not %q (integration groups are read-only)", s.Group)
		}
		if s.BatchSize == 0 {
			s.BatchSize = 500
		}
	case "hubspot":
		if s.Object == "events" {
			if !explicitMode {
				s.Mode = "events"
			}
			if s.Mode != "events" {
				return nil, bad("mode", "hubspot events syncs use mode events, not %q", s.Mode)
			}
			if s.Event == "" {
				return nil, &Error{File: file, Field: "event", Err: errors.New("is required: the custom event's name, as defined in HubSpot")}
			}
			if s.BatchSize == 0 {
				s.BatchSize = 500
			}
			if s.BatchSize > 500 {
				return nil, bad("batch_size", "HubSpot event batches hold at most 500 events, not %d", s.BatchSize)
			}
			break
		}
		if s.Match == "" {
			s.Match = "id"
		}
		if !validName.MatchString(s.Match) {
			return nil, bad("match", "must be id, email or a unique property's name, not %q", s.Match)
		}
		switch s.Mode {
		case "update":
		case "upsert":
			if s.Match == "id" {
				return nil, bad("mode", "upsert needs match: email or a unique-value property (HubSpot cannot upsert by record id)")
			}
		case "create":
			if s.Match != "id" {
				return nil, bad("match", "create mode keeps the id of each record it creates; match must be id")
			}
			if !validName.MatchString(s.KeyProperty) {
				return nil, &Error{File: file, Line: lineOf(doc, "key_property"), Field: "key_property",
					Err: errors.New("create mode needs key_property: a text property that holds the model key on each created record")}
			}
		case "events":
			return nil, bad("mode", "mode events sends custom events: set object: events and event: <name>")
		default:
			return nil, bad("mode", "must be update, upsert, create or events, not %q", s.Mode)
		}
		if s.Match == "email" && s.Object != "contacts" {
			return nil, bad("match", "email identifies contacts only; %s need id or a unique property", s.Object)
		}
		if s.BatchSize == 0 {
			s.BatchSize = 100
		}
		if s.BatchSize > 100 {
			return nil, bad("batch_size", "HubSpot batches hold at most 100 records, not %d", s.BatchSize)
		}
	default:
		return nil, bad("destination", "must be hubspot or pendo, not %q", s.Destination)
	}
	if s.Event != "" && s.Object != "events" {
		return nil, bad("event", "names a HubSpot custom event; only object: events syncs send one")
	}
	switch s.OnRemove {
	case "ignore", "clear":
		if s.Mode == "events" && s.OnRemove != "ignore" {
			return nil, bad("on_remove", "events are never taken back; on_remove must be ignore for mode events")
		}
	case "archive":
		if s.Destination != "hubspot" {
			return nil, bad("on_remove", "archive is HubSpot-only; Pendo syncs may ignore or clear")
		}
		if s.Match != "id" {
			return nil, bad("on_remove", "archive needs match: id (HubSpot archives records by id)")
		}
	default:
		return nil, bad("on_remove", "must be ignore, clear or archive, not %q", s.OnRemove)
	}
	if s.BatchSize < 1 {
		return nil, bad("batch_size", "must be positive")
	}
	if s.RateLimitShare == 0 {
		s.RateLimitShare = 1
	}
	if s.RateLimitShare < 0 || s.RateLimitShare > 1 {
		return nil, bad("rate_limit_share", "must be more than 0 and at most 1 (a share of the API's limit), not %g", s.RateLimitShare)
	}
	fields, err := parseFields(file, &sf.Fields)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, &Error{File: file, Field: "fields", Err: errors.New("maps no columns; list at least one `column: destination_field`")}
	}
	if len(s.Associations) > 0 && s.Mode != "create" {
		return nil, bad("associations", "associations are made when records are created: mode create only")
	}
	if s.Mode == "create" {
		// The key goes into key_property; association ids ride along in the
		// plan under "@<object>".
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.Field == s.KeyProperty }) {
			fields = append(fields, Field{Column: s.Key, Field: s.KeyProperty})
		}
		for i, a := range s.Associations {
			if a.Column == "" || !validName.MatchString(a.To) {
				return nil, bad("associations", "association %d needs column (the model column holding the record id) and to (the object type)", i+1)
			}
			fields = append(fields, Field{Column: a.Column, Field: AssociationField(a.To)})
		}
	}
	s.Fields = fields
	return &s, nil
}

var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseFields reads `fields` as a mapping whose values are either a
// destination field name or {field, type}.
func parseFields(file string, n *yaml.Node) ([]Field, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: n.Line, Field: "fields", Err: errors.New("must map model columns to destination fields")}
	}
	var out []Field
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := Field{Column: k.Value}
		switch v.Kind {
		case yaml.ScalarNode:
			f.Field = v.Value
		case yaml.MappingNode:
			var spec struct {
				Field string `yaml:"field"`
				Type  string `yaml:"type"`
			}
			if err := v.Decode(&spec); err != nil {
				return nil, &Error{File: file, Line: v.Line, Field: "fields." + k.Value, Err: err}
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if key := v.Content[j].Value; key != "field" && key != "type" {
					return nil, &Error{File: file, Line: v.Content[j].Line, Field: "fields." + k.Value, Err: fmt.Errorf("unknown key %q (want field, type)", key)}
				}
			}
			f.Field, f.Type = spec.Field, spec.Type
		default:
			return nil, &Error{File: file, Line: v.Line, Field: "fields." + k.Value, Err: errors.New("must be a field name or {field, type}")}
		}
		if f.Field == "" {
			f.Field = f.Column
		}
		if prev, dup := seen[f.Field]; dup {
			return nil, &Error{File: file, Line: k.Line, Field: "fields." + k.Value, Err: fmt.Errorf("destination field %q is already mapped on line %d", f.Field, prev)}
		}
		seen[f.Field] = k.Line
		out = append(out, f)
	}
	return out, nil
}

// checkSource verifies the sync's destination is configured.
func (s *Sync) checkSource(c *Config) error {
	if s.Destination == "pendo" && c.Pendo == nil {
		return &Error{File: s.File, Field: "destination", Err: errors.New("pendo is not configured in backflow.yml (add a pendo: section)")}
	}
	if s.Destination == "hubspot" && c.HubSpot == nil {
		return &Error{File: s.File, Field: "destination", Err: errors.New("hubspot is not configured in backflow.yml (add a hubspot: section)")}
	}
	return nil
}

// Secrets are the resolved credentials of a project.
type Secrets struct {
	HubSpotToken        string // private-app token, when OAuth is not configured
	HubSpotClientSecret string // OAuth app secret, when it is
	PendoIntegrationKey string
	PendoTrackSecret    string // optional: only track_events syncs need it
}

// Values lists the secrets that are set, for redaction.
func (s Secrets) Values() []string {
	var out []string
	for _, v := range []string{s.HubSpotToken, s.HubSpotClientSecret, s.PendoIntegrationKey, s.PendoTrackSecret} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Resolve reads the credentials named in the config through lookup (the
// CLI passes os.LookupEnv). A configured connection whose variable is unset
// is an error naming the variable.
func (c *Config) Resolve(lookup func(string) (string, bool)) (Secrets, error) {
	var s Secrets
	var missing []string
	switch {
	case c.HubSpot != nil && c.HubSpot.OAuth != nil:
		v, ok := lookup(c.HubSpot.OAuth.ClientSecretEnv)
		if !ok || v == "" {
			missing = append(missing, c.HubSpot.OAuth.ClientSecretEnv+" (HubSpot app client secret)")
		}
		s.HubSpotClientSecret = v
	case c.HubSpot != nil:
		v, ok := lookup(c.HubSpot.TokenEnv)
		if !ok || v == "" {
			missing = append(missing, c.HubSpot.TokenEnv+" (HubSpot private-app token)")
		}
		s.HubSpotToken = v
	}
	if c.Pendo != nil {
		v, ok := lookup(c.Pendo.IntegrationKeyEnv)
		if !ok || v == "" {
			missing = append(missing, c.Pendo.IntegrationKeyEnv+" (Pendo integration key)")
		}
		s.PendoIntegrationKey = v
		s.PendoTrackSecret, _ = lookup(c.Pendo.TrackSecretEnv)
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("missing credentials: set %s", strings.Join(missing, " and "))
	}
	return s, nil
}
