package pendo

import (
	"fmt"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/load"
)

// syncSettings are the keys of a sync file that are Pendo's.
type syncSettings struct {
	// Group is the metadata group written: custom (default) or agent.
	Group string `yaml:"group"`
}

// SyncKeys implements connector.Config.
func (c *Config) SyncKeys() any { return &syncSettings{} }

// target is one sync's Pendo destination: metadata of visitors or
// accounts, or track events.
type target struct {
	object string
	kind   api.Kind
	group  string
	size   int
}

func (t *target) String() string { return "pendo " + t.object }

// Sync implements connector.Config: visitors and accounts syncs update
// metadata of one group, 500 rows a call; track_events syncs send events,
// 100 a batch.
func (c *Config) Sync(s *connector.Sync) (connector.Target, error) {
	set, ok := s.Settings.(*syncSettings)
	if !ok {
		return nil, fmt.Errorf("pendo: sync settings %T are not Pendo's", s.Settings)
	}
	f, spec := s.File, &s.Spec
	if spec.OnRemove == load.Archive {
		return nil, f.Errorf("on_remove", "archive is HubSpot-only; Pendo syncs may ignore or clear")
	}
	if s.Object == "track_events" {
		if spec.Mode == "" {
			spec.Mode = load.Events
		}
		if spec.Mode != load.Events {
			return nil, f.Errorf("mode", "pendo track_events syncs use mode events, not %q", spec.Mode)
		}
		if s.BatchSize == 0 {
			s.BatchSize = 100
		}
		return &target{object: s.Object, size: s.BatchSize}, nil
	}
	if s.Object != "visitors" && s.Object != "accounts" {
		return nil, f.Errorf("object", "pendo syncs support visitors, accounts and track_events, not %q", s.Object)
	}
	if spec.Mode == "" {
		spec.Mode = load.Update
	}
	if spec.Mode != load.Update {
		return nil, f.Errorf("mode", "pendo metadata syncs support mode update, not %q", spec.Mode)
	}
	if set.Group == "" {
		set.Group = "custom"
	}
	if set.Group != "custom" && set.Group != "agent" {
		return nil, f.Errorf("group", "pendo metadata group must be custom or agent, not %q (integration groups are read-only)", set.Group)
	}
	if s.BatchSize == 0 {
		s.BatchSize = 500
	}
	kind := api.Visitor
	if s.Object == "accounts" {
		kind = api.Account
	}
	return &target{object: s.Object, kind: kind, group: set.Group, size: s.BatchSize}, nil
}
