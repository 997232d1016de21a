package builtin_test

import (
	"log/slog"
	"testing"
	"testing/fstest"
	"time"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/project"
)

// loadProject loads a project of one backflow.yml and one sync file,
// syncs/types.yml, with the shipped connectors.
func loadProject(t *testing.T, config, sync string) *project.Project {
	t.Helper()
	p, err := project.Load(fstest.MapFS{"backflow.yml": {Data: []byte(config)}, "syncs/types.yml": {Data: []byte(sync)}}, "proj", builtin.Connectors())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// open opens a configured connector with the credentials the emulators
// of these tests accept.
func open(t *testing.T, p *project.Project, name string) connector.Session {
	t.Helper()
	secrets := map[string]string{"HUBSPOT_TOKEN": "t", "PENDO_INTEGRATION_KEY": "k"}
	s, err := p.Connector(name).Open(connector.Env{Secrets: secrets, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC) }, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
