// Package connector is the contract between backflow's engines and the
// systems it reads from and writes to. A connector owns everything about
// its system: its block of backflow.yml, its part of a sync file, its
// secrets, its clients and their limits, its source and its destinations.
// The project loader and the pipeline know a connector only through the
// interfaces here; the connectors a build ships are listed, explicitly,
// in connector/builtin.
//
// The life of a connector in one command: Configure reads its block of
// backflow.yml (no environment, no network); Config.Sync reads its keys of
// each sync file that names it; Config.Open builds its clients with the
// resolved secrets; the Session then gives the extract engine a Source
// and the load engine one Destination per sync. See docs/architecture.md.
package connector

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
)

// Connector is one kind of system: HubSpot, Pendo.
type Connector interface {
	// Name is the connector's key: its block of backflow.yml, the
	// destination: of the syncs that write to it, the source its streams
	// are selected by (backflow extract hubspot), and its schema in the
	// DuckDB file, raw_<name>. Letters, digits and underscores.
	Name() string
	// Configure decodes and checks the connector's block of backflow.yml.
	// It reads nothing but the block. Its errors are *FileError, naming
	// the file and the line.
	Configure(b Block) (Config, error)
}

// Config is a connector as one project configured it.
type Config interface {
	// Secrets lists the environment variables the connector's credentials
	// are read from.
	Secrets() []Secret
	// Constants are macros of no arguments the models may read (name →
	// SQL expression), such as pendo_timezone().
	Constants() map[string]string
	// SyncKeys returns a new value, a pointer to a struct with yaml tags,
	// for the keys of a sync file that are the connector's. The loader
	// decodes a sync file's keys it does not know into it, strictly,
	// before it checks anything else in the file (a misspelt key is the
	// first thing reported), and hands it to Sync as Sync.Settings.
	SyncKeys() any
	// Sync checks the part of a sync file that is the connector's (the
	// object, its own keys in s.Settings, the mode and on_remove for that
	// object) and completes s.Spec: the mode and batch size the file left
	// out, fields a mode adds. It returns what Session.Destination builds
	// the sync's destination from. Its errors are *FileError.
	Sync(s *Sync) (Target, error)
	// Open builds the connector's clients with the resolved secrets. It
	// makes no call to the API.
	Open(env Env) (Session, error)
}

// Session is an opened connector: its clients, for one command.
type Session interface {
	// Source is what the project extracts from the system; nil when it
	// extracts nothing.
	Source() extract.Source
	// Destination builds the destination of one sync, from the Target
	// Config.Sync returned for it. share (0 < share ≤ 1) is the part of
	// the API's rate limit the destination may use, leaving the rest to
	// other integrations. Each call returns a new destination.
	Destination(t Target, share float64) (load.Destination, error)
}

// Verifier is a Session that can check its credentials with one cheap
// authenticated call, before any data moves (backflow check, and the
// first step of run, plan and sync). Verify's error wraps ErrCredentials
// when the system refused them (a wrong or expired token or key, a
// missing scope): the project must be fixed. Any other error (a host that
// does not answer) is not the project's, and a retry may succeed.
type Verifier interface {
	Verify(ctx context.Context) error
}

// ErrCredentials marks a Verify error: the system refused the credentials.
var ErrCredentials = errors.New("credentials refused")

// Receiver is a Session that takes its system's webhook deliveries, for
// backflow serve (POST /hooks/<connector name>). Receive authenticates
// one delivery and returns the changes it reports; it reads nothing but
// d (no call, no clock). An error wrapping ErrUnauthenticated is a
// delivery that is not the system's, or is stale: serve answers 401 and
// stores nothing. Any other error is a malformed delivery (400).
// Receives reports whether the project configured webhooks for the
// connector; serve answers 404 for one that did not, or whose Session is
// no Receiver.
type Receiver interface {
	Receive(d Delivery) ([]Change, error)
	Receives() bool
}

// ErrUnauthenticated marks a Receive error: the delivery's signature,
// token or timestamp is not the system's.
var ErrUnauthenticated = errors.New("webhook delivery not authenticated")

// Delivery is one webhook request as serve received it.
type Delivery struct {
	// Method and URL are the request's, URL as the sender called it (the
	// public address serve is configured with, then the path and query).
	Method, URL string
	Header      http.Header
	// Body is the raw body, at most serve's limit.
	Body []byte
	// Now is the present, for signature timestamps.
	Now time.Time
}

// Change is one change a delivery reports.
type Change struct {
	// Key identifies the change across the sender's retries and
	// duplicates; serve stores each key of a source once.
	Key string
	// Kind is the sender's event type ("contact.propertyChange",
	// "npsSubmitted").
	Kind string
	// Stream is the extraction stream the change touches
	// ("hubspot/contacts"), "" when none does; RecordID the record.
	Stream, RecordID string
	OccurredAt       time.Time
	// Payload is the change as the sender reported it (JSON).
	Payload []byte
}

// Target is a sync's destination as its connector decoded it; only the
// connector looks inside.
type Target interface {
	// String names it in messages: "hubspot contacts".
	String() string
}

// Sync is one sync file as its connector sees it.
type Sync struct {
	// Spec is what the load engine runs. The loader fills the keys every
	// sync has; Mode is empty, and BatchSize 0, when the file left them
	// out, for the connector to default.
	Spec load.Spec
	// Object is the destination object the file names (object:).
	Object string
	// BatchSize is batch_size, 0 when absent.
	BatchSize int
	// Settings holds the file's keys the loader does not know, the
	// connector's own (HubSpot's match, Pendo's group, …), decoded into
	// the value SyncKeys returned.
	Settings any
	// File is the whole file, for errors about any of its keys.
	File Block
}

// Secret is a credential a connector reads from the environment.
type Secret struct {
	// Env is the environment variable holding it.
	Env string
	// What describes it in messages: "HubSpot private-app token".
	What string
	// Optional secrets may be unset; the destinations that need them say
	// so when a sync uses them.
	Optional bool
}

// Env is what a session is opened with.
type Env struct {
	// Secrets maps each of Config.Secrets' variables to its value; unset
	// optional ones are absent.
	Secrets map[string]string
	// HTTPClient makes every API call; nil leaves each client's default.
	HTTPClient *http.Client
	// Logger receives retries and warnings; never nil.
	Logger *slog.Logger
	// Now is the present: extraction windows end there; never nil.
	Now func() time.Time
	// Dir is the project folder, which relative paths of the block (a
	// token file) are resolved against.
	Dir string
}

// Secret returns the value of an environment variable Secrets named.
func (e Env) Secret(name string) string { return e.Secrets[name] }
