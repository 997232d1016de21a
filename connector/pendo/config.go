// Package pendo is backflow's Pendo connector: the pendo block of
// backflow.yml, the Pendo keys of sync files, the client, the source
// staging visitors, accounts, the metadata schema and events into
// raw_pendo (source.go), and the destinations writing visitor and account
// metadata (metadata.go) and track events (track.go).
package pendo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/api/wire"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/warehouse"
)

// Connector is the Pendo connector.
type Connector struct{}

var _ connector.Connector = Connector{}

// Name implements connector.Connector.
func (Connector) Name() string { return "pendo" }

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

// Config is the pendo block of backflow.yml.
type Config struct {
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
	// Webhooks lets backflow serve take Pendo's URL webhooks (POST
	// /hooks/pendo?token=…).
	Webhooks *Webhooks `yaml:"webhooks"`
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
		EventLookback connector.Duration `yaml:"event_lookback"`
		// HistoryDays is how far back the first run reads events. Default 30.
		HistoryDays int `yaml:"history_days"`
		// AllApps reads every app of a multi-app subscription.
		AllApps bool `yaml:"all_apps"`
		// Segments names the segments the segments stream stages (by
		// name, as shared with Everyone); empty stages all of them.
		Segments []string `yaml:"segments"`
	} `yaml:"extract"`

	zone *time.Location
}

// Webhooks configures the deliveries backflow serve takes. Pendo documents
// no signing, so the webhook's URL carries a secret token (?token=…), and
// a signature is checked too when a signing secret is set.
type Webhooks struct {
	// TokenEnv names the variable holding the URL's token. Default
	// PENDO_WEBHOOK_TOKEN.
	TokenEnv string `yaml:"token_env"`
	// SigningSecretEnv, when set, names the variable holding the secret
	// deliveries are signed with (HMAC-SHA256 of the body, hex, in
	// SignatureHeader, default X-Pendo-Signature).
	SigningSecretEnv string `yaml:"signing_secret_env"`
	SignatureHeader  string `yaml:"signature_header"`
}

// check fills defaults and refuses what Pendo would not take.
func (c *Config) check(b connector.Block) error {
	if wh := c.Webhooks; wh != nil {
		if wh.TokenEnv == "" {
			wh.TokenEnv = "PENDO_WEBHOOK_TOKEN"
		}
		if wh.SignatureHeader == "" {
			wh.SignatureHeader = "X-Pendo-Signature"
		}
	}
	if c.IntegrationKeyEnv == "" {
		c.IntegrationKeyEnv = "PENDO_INTEGRATION_KEY"
	}
	if c.TrackSecretEnv == "" {
		c.TrackSecretEnv = "PENDO_TRACK_SECRET"
	}
	if tz := c.TimeZone; tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return b.Errorf("timezone", "unknown time zone %q (want an IANA name such as America/New_York)", tz)
		}
		c.zone = loc
	}
	if u := c.BaseURL; u != "" {
		if _, err := wire.CheckBaseURL(u); err != nil {
			return b.Errorf("base_url", "%v", err)
		}
	}
	if r := strings.ToLower(c.Region); r != "" && !slices.Contains([]string{"us", "eu", "us1", "jpn", "au"}, r) {
		return b.Errorf("region", "unknown region %q (want us, eu, us1, jpn or au)", c.Region)
	}
	for i, s := range c.Extract.Streams {
		if !slices.Contains(StreamNames(), s) {
			return b.Errorf(fmt.Sprintf("extract.streams[%d]", i), "unknown stream %q (supported: %s)", s, strings.Join(StreamNames(), ", "))
		}
	}
	return nil
}

// Secrets implements connector.Config: the integration key, and the
// track event secret that only track_events syncs need.
func (c *Config) Secrets() []connector.Secret {
	out := []connector.Secret{
		{Env: c.IntegrationKeyEnv, What: "Pendo integration key"},
		{Env: c.TrackSecretEnv, What: "Pendo track event secret", Optional: true},
	}
	if wh := c.Webhooks; wh != nil {
		// Only backflow serve needs them: without the token, every
		// delivery is 401.
		out = append(out, connector.Secret{Env: wh.TokenEnv, What: "Pendo webhook URL token", Optional: true})
		if wh.SigningSecretEnv != "" {
			out = append(out, connector.Secret{Env: wh.SigningSecretEnv, What: "Pendo webhook signing secret", Optional: true})
		}
	}
	return out
}

// Constants implements connector.Config: pendo_timezone(), the
// subscription's zone, which pendo_day_end() reads.
func (c *Config) Constants() map[string]string {
	zone := "UTC"
	if c.TimeZone != "" {
		zone = c.TimeZone
	}
	return map[string]string{"pendo_timezone": warehouse.Literal(zone)}
}
