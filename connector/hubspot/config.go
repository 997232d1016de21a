// Package hubspot is backflow's HubSpot connector: the hubspot block of
// backflow.yml, the HubSpot keys of sync files, the private-app or OAuth
// client, the source staging CRM objects into raw_hubspot (source.go),
// and the destinations writing object properties (objects.go) and custom
// behavioural events (events.go).
package hubspot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/wire"
	"github.com/backflow-dev/backflow/connector"
)

// Connector is the HubSpot connector.
type Connector struct{}

var _ connector.Connector = Connector{}

// Name implements connector.Connector.
func (Connector) Name() string { return "hubspot" }

// Configure implements connector.Connector.
func (Connector) Configure(b connector.Block) (connector.Config, error) {
	c := &Config{}
	if err := b.Decode(c); err != nil {
		return nil, err
	}
	if err := c.check(b); err != nil {
		return nil, err
	}
	return c, nil
}

// Config is the hubspot block of backflow.yml.
type Config struct {
	// TokenEnv names the environment variable holding the private-app
	// token. Default HUBSPOT_TOKEN. Unused when OAuth is set.
	TokenEnv string `yaml:"token_env"`
	// OAuth authenticates as a public app instead of a private-app token.
	OAuth      *OAuth `yaml:"oauth"`
	BaseURL    string `yaml:"base_url"`
	BurstLimit int    `yaml:"burst_limit"`
	// APIVersion is v3 (default) or a date version such as 2026-03.
	APIVersion string `yaml:"api_version"`
	// Webhooks lets backflow serve take the app's webhook deliveries
	// (POST /hooks/hubspot), checked with the app's client secret.
	Webhooks *Webhooks `yaml:"webhooks"`
	Extract  struct {
		// Objects: contacts, companies, deals, tickets, tasks, owners,
		// lists (every list and its members), custom object names, or
		// custom for every custom object.
		Objects []string `yaml:"objects"`
		// Properties per object; absent objects read every property.
		Properties map[string][]string `yaml:"properties"`
		// Incremental (default true) reads only what changed since the
		// last run, through search windows.
		Incremental *bool `yaml:"incremental"`
		// Lookback re-reads this much before the cursor (search lags
		// writes). Default 5m.
		Lookback connector.Duration `yaml:"lookback"`
		// Associations (default true) stages association tables between
		// extracted objects.
		Associations *bool `yaml:"associations"`
	} `yaml:"extract"`
}

// Webhooks configures the deliveries backflow serve takes.
type Webhooks struct {
	// ClientSecretEnv names the variable holding the client secret of
	// the app whose subscriptions deliver (the OAuth app's by default,
	// else HUBSPOT_CLIENT_SECRET).
	ClientSecretEnv string `yaml:"client_secret_env"`
}

// OAuth configures OAuth for a HubSpot public app. `backflow auth
// hubspot` stores the refresh token in TokenFile.
type OAuth struct {
	ClientID        string   `yaml:"client_id"`
	ClientSecretEnv string   `yaml:"client_secret_env"` // default HUBSPOT_CLIENT_SECRET
	Scopes          []string `yaml:"scopes"`
	RedirectURL     string   `yaml:"redirect_url"` // default http://localhost:8976/oauth-callback
	TokenFile       string   `yaml:"token_file"`   // relative to the project; default .backflow/hubspot-token.json
}

// Objects are what extraction reads besides custom objects by name.
func Objects() []string { return append(api.StandardObjects(), "owners", "lists", "custom") }

// check fills defaults and refuses what HubSpot would not take.
func (c *Config) check(b connector.Block) error {
	if c.TokenEnv == "" {
		c.TokenEnv = "HUBSPOT_TOKEN"
	}
	if o := c.OAuth; o != nil {
		if o.ClientID == "" {
			return b.Errorf("oauth.client_id", "is required for OAuth")
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
	if wh := c.Webhooks; wh != nil && wh.ClientSecretEnv == "" {
		wh.ClientSecretEnv = "HUBSPOT_CLIENT_SECRET"
		if c.OAuth != nil {
			wh.ClientSecretEnv = c.OAuth.ClientSecretEnv
		}
	}
	if v := c.APIVersion; v != "" && v != "v3" {
		if _, err := time.Parse("2006-01", v); err != nil {
			return b.Errorf("api_version", "must be v3 or a date version such as 2026-03, not %q", v)
		}
	}
	if u := c.BaseURL; u != "" {
		if _, err := wire.CheckBaseURL(u); err != nil {
			return b.Errorf("base_url", "%v", err)
		}
	}
	if c.BurstLimit < 0 {
		return b.Errorf("burst_limit", "must be positive")
	}
	for i, o := range c.Extract.Objects {
		if !slices.Contains(Objects(), o) && !connector.Identifier.MatchString(o) {
			return b.Errorf(fmt.Sprintf("extract.objects[%d]", i), "unknown object %q (supported: %s, or a custom object's name)", o, strings.Join(Objects(), ", "))
		}
	}
	for obj := range c.Extract.Properties {
		if !slices.Contains(c.Extract.Objects, obj) {
			return b.Errorf("extract.properties."+obj, "lists properties of %q, which objects does not extract", obj)
		}
	}
	return nil
}

// Secrets implements connector.Config: the private-app token, or the
// OAuth app's client secret.
func (c *Config) Secrets() []connector.Secret {
	out := []connector.Secret{{Env: c.TokenEnv, What: "HubSpot private-app token"}}
	if c.OAuth != nil {
		out = []connector.Secret{{Env: c.OAuth.ClientSecretEnv, What: "HubSpot app client secret"}}
	}
	if wh := c.Webhooks; wh != nil && (c.OAuth == nil || wh.ClientSecretEnv != c.OAuth.ClientSecretEnv) {
		// Only backflow serve needs it: without it, every delivery is 401.
		out = append(out, connector.Secret{Env: wh.ClientSecretEnv, What: "HubSpot app client secret (webhook signatures)", Optional: true})
	}
	return out
}

// Constants implements connector.Config: HubSpot sets none.
func (c *Config) Constants() map[string]string { return nil }
