package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	api "github.com/backflow-dev/backflow/api/hubspot"
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

// session is the HubSpot connector opened: one client at the whole rate
// limit, and one per sync that may use only a share of it.
type session struct {
	cfg    *Config
	env    connector.Env
	client *api.Client
}

// Source implements connector.Session.
func (s *session) Source() extract.Source {
	x := s.cfg.Extract
	if len(x.Objects) == 0 {
		return nil
	}
	return &Source{Client: s.client, Objects: x.Objects, Properties: x.Properties, Incremental: connector.On(x.Incremental),
		Lookback: x.Lookback.Duration, Associations: connector.On(x.Associations), Now: s.env.Now}
}

// Verify implements connector.Verifier: the property definitions of the
// first object the project reads (contacts when it reads none), a call
// every run makes and every token backflow can use may make.
func (s *session) Verify(ctx context.Context) error {
	object := "contacts"
	for _, o := range s.cfg.Extract.Objects {
		if api.IsStandardObject(o) {
			object = o
			break
		}
	}
	_, err := s.client.Properties(ctx, object)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden) {
		return fmt.Errorf("hubspot: %w: %s (check %s, the private app's scopes, or backflow auth hubspot)", connector.ErrCredentials, apiErr, s.cfg.TokenEnv)
	}
	return err // the client's errors name the call
}

// Destination implements connector.Session. A sync that may use a share
// of the rate limit gets a client of its own; syncs run one at a time, so
// the share holds while it runs.
func (s *session) Destination(t connector.Target, share float64) (load.Destination, error) {
	tg, ok := t.(*target)
	if !ok {
		return nil, fmt.Errorf("hubspot: %v is not a HubSpot target", t)
	}
	client := s.client
	if share > 0 && share < 1 {
		var err error
		if client, err = s.cfg.client(s.env, share); err != nil {
			return nil, err
		}
	}
	if tg.event != "" {
		return &events{client: client, event: tg.event, size: tg.size}, nil
	}
	if tg.list != "" || tg.pairs {
		return &listDest{client: client, target: *tg, staged: extracted{objects: s.cfg.Extract.Objects, properties: s.cfg.Extract.Properties}}, nil
	}
	return &objects{client: client, target: *tg, staged: extracted{objects: s.cfg.Extract.Objects, properties: s.cfg.Extract.Properties}}, nil
}

// client builds a client with the private-app token, or with OAuth from
// the token file `backflow auth hubspot` wrote; share (0 < share ≤ 1) is
// the part of the burst limit it uses.
func (c *Config) client(env connector.Env, share float64) (*api.Client, error) {
	cfg := api.Config{BaseURL: c.BaseURL, HTTPClient: env.HTTPClient, Token: env.Secret(c.TokenEnv), BurstLimit: c.BurstLimit,
		APIVersion: c.APIVersion, RateShare: share, Logger: env.Logger}
	if o := c.OAuth; o != nil {
		cfg.Token = ""
		src, err := api.NewOAuthTokenSource(c.OAuthConfig(env.Secret(o.ClientSecretEnv), env.HTTPClient), api.FileStore{Path: c.TokenFile(env.Dir)})
		if err != nil {
			return nil, err
		}
		cfg.TokenSource = src
	}
	return api.New(cfg)
}

// OAuthConfig is the project's OAuth app. Its endpoints follow the
// configured base URL, so an emulator's serve in tests.
func (c *Config) OAuthConfig(clientSecret string, httpClient *http.Client) api.OAuthConfig {
	o := c.OAuth
	cfg := api.OAuthConfig{ClientID: o.ClientID, ClientSecret: clientSecret, Scopes: o.Scopes, RedirectURL: o.RedirectURL, HTTPClient: httpClient}
	if base := c.BaseURL; base != "" {
		cfg.TokenURL = base + "/oauth/v1/token"
		cfg.AuthURL = base + "/oauth/authorize"
	}
	return cfg
}

// TokenFile is where the refresh token is kept, resolved against the
// project folder dir.
func (c *Config) TokenFile(dir string) string {
	if filepath.IsAbs(c.OAuth.TokenFile) {
		return c.OAuth.TokenFile
	}
	return filepath.Join(dir, c.OAuth.TokenFile)
}

// Authorize runs HubSpot's OAuth flow for the project's app (see
// api/hubspot.Authorize) and stores the refresh token in the token file,
// returning its path. show is given the consent URL to open.
func (c *Config) Authorize(ctx context.Context, clientSecret, dir string, show func(url string) error) (string, error) {
	if c.OAuth == nil {
		return "", fmt.Errorf("hubspot.oauth is not configured; add client_id (and client_secret_env) under hubspot.oauth")
	}
	tok, err := api.Authorize(ctx, c.OAuthConfig(clientSecret, nil), show)
	if err != nil {
		return "", err
	}
	path := c.TokenFile(dir)
	if err := (api.FileStore{Path: path}).Save(tok); err != nil {
		return "", fmt.Errorf("save the refresh token: %w", err)
	}
	return path, nil
}
