package pendo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
)

// Open implements connector.Config.
func (c *Config) Open(env connector.Env) (connector.Session, error) {
	client, err := c.client(env, 1)
	if err != nil {
		return nil, err
	}
	return &session{cfg: c, env: env, client: client}, nil
}

// session is the Pendo connector opened: one client at the whole rate
// limit, and one per sync that may use only a share of it.
type session struct {
	cfg    *Config
	env    connector.Env
	client *api.Client
}

// Source implements connector.Session.
func (s *session) Source() extract.Source {
	x := s.cfg.Extract
	if len(x.Streams) == 0 {
		return nil
	}
	return &Source{Client: s.client, Tables: x.Streams, IncludeAnonymous: x.IncludeAnonymous, Incremental: connector.On(x.Incremental),
		EventLookback: x.EventLookback.Duration, HistoryDays: x.HistoryDays, AllApps: x.AllApps, Segments: x.Segments, Now: s.env.Now}
}

// Verify implements connector.Verifier: the visitor metadata schema, the
// cheapest call the integration key may make.
func (s *session) Verify(ctx context.Context) error {
	_, err := s.client.Schema(ctx, api.Visitor)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden) {
		return fmt.Errorf("pendo: %w: %s (check %s)", connector.ErrCredentials, apiErr, s.cfg.IntegrationKeyEnv)
	}
	return err // the client's errors name the call
}

// Destination implements connector.Session.
func (s *session) Destination(t connector.Target, share float64) (load.Destination, error) {
	tg, ok := t.(*target)
	if !ok {
		return nil, fmt.Errorf("pendo: %v is not a Pendo target", t)
	}
	client := s.client
	if share > 0 && share < 1 {
		var err error
		if client, err = s.cfg.client(s.env, share); err != nil {
			return nil, err
		}
	}
	if tg.object == "track_events" {
		if !client.HasTrackSecret() {
			return nil, fmt.Errorf("track events need Pendo's track event secret: set %s", s.cfg.TrackSecretEnv)
		}
		return &track{client: client, size: tg.size, now: s.env.Now}, nil
	}
	return &metadata{client: client, kind: tg.kind, group: tg.group, size: tg.size, streams: s.cfg.Extract.Streams}, nil
}

// client builds a client; share (0 < share ≤ 1) is the part of each
// endpoint's rate limit it uses.
func (c *Config) client(env connector.Env, share float64) (*api.Client, error) {
	rps := c.RequestsPerSecond
	if share < 1 {
		rps = max(1, int(float64(cmp.Or(rps, 100))*share))
	}
	return api.New(api.Config{Region: c.Region, BaseURL: c.BaseURL, HTTPClient: env.HTTPClient, IntegrationKey: env.Secret(c.IntegrationKeyEnv),
		TrackSecret: env.Secret(c.TrackSecretEnv), RequestsPerSecond: rps, TimeZone: c.zone, Now: env.Now, Logger: env.Logger})
}
