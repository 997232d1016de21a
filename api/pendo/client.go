// Package pendo is a typed client for Pendo's v1 API: the integration key,
// per-endpoint rate limiting, retries, the Aggregation API with streaming
// decoding, and metadata reads and bulk writes. It takes a base URL and an
// *http.Client, so the same code runs against Pendo and the pendotest
// emulator.
package pendo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/backflow-dev/backflow/api/backoff"
)

// Region hosts. A key works only against its own region's hosts.
var Regions = map[string]struct{ API, Data string }{
	"us":  {"https://app.pendo.io", "https://data.pendo.io"},
	"eu":  {"https://app.eu.pendo.io", "https://data.eu.pendo.io"},
	"us1": {"https://us1.app.pendo.io", "https://us1.data.pendo.io"},
	"jpn": {"https://app.jpn.pendo.io", "https://data.jpn.pendo.io"},
	"au":  {"https://app.au.pendo.io", "https://data.au.pendo.io"},
}

// Config configures a Client.
type Config struct {
	// Region selects the hosts (us, eu, us1, jpn, au); default us.
	Region string
	// BaseURL overrides the region's API host.
	BaseURL string
	// DataURL overrides the region's data host (track events).
	DataURL string
	// TrackSecret is the app's track event shared secret: a credential of
	// its own, not the integration key.
	TrackSecret string
	// HTTPClient defaults to a client with a 5-minute timeout (Pendo caps
	// calls at 5 minutes).
	HTTPClient *http.Client
	// IntegrationKey authenticates /api/v1 calls.
	IntegrationKey string
	// RequestsPerSecond is the per-endpoint limit; default 100.
	RequestsPerSecond int
	// MaxRetries bounds retries on 429, 5xx and network errors; default 6.
	MaxRetries int
	// RetryBaseDelay is the first backoff step; default 1s.
	RetryBaseDelay time.Duration
	// TimeZone is the subscription's time zone (Settings > Subscription
	// Settings), which Pendo's day buckets follow; default UTC. Paging
	// guide and poll events, whose rows carry no bucket, relies on it.
	TimeZone *time.Location
	// Now is the present, for checks against Pendo's time windows (a
	// track event older than 7 days is dropped); default the system clock.
	Now func() time.Time
}

// Client calls one Pendo subscription. It is safe for concurrent use.
type Client struct {
	baseURL    string
	dataURL    string
	http       *http.Client
	key        string
	secret     string
	rps        int
	maxRetries int
	retryBase  time.Duration
	loc        *time.Location
	now        func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // per endpoint, as Pendo limits
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.IntegrationKey == "" && cfg.TrackSecret == "" {
		return nil, errors.New("pendo: no integration key configured")
	}
	region := strings.ToLower(cfg.Region)
	if region == "" {
		region = "us"
	}
	hosts, ok := Regions[region]
	if !ok {
		return nil, fmt.Errorf("pendo: unknown region %q (want us, eu, us1, jpn or au)", cfg.Region)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = hosts.API
	}
	if cfg.DataURL == "" {
		cfg.DataURL = hosts.Data
		if cfg.BaseURL != hosts.API {
			// An overridden API host (a proxy, the emulator) serves both.
			cfg.DataURL = cfg.BaseURL
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = 100
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 6
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = time.Second
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{
		loc:        cfg.TimeZone,
		now:        cfg.Now,
		baseURL:    strings.TrimRight(cfg.BaseURL, "/"),
		dataURL:    strings.TrimRight(cfg.DataURL, "/"),
		http:       cfg.HTTPClient,
		key:        cfg.IntegrationKey,
		secret:     cfg.TrackSecret,
		rps:        cfg.RequestsPerSecond,
		maxRetries: cfg.MaxRetries,
		retryBase:  cfg.RetryBaseDelay,
		limiters:   map[string]*rate.Limiter{},
	}, nil
}

func (c *Client) limiter(endpoint string) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.limiters[endpoint]
	if l == nil {
		// Pendo counts a sliding second; a burst of one at rps-1 per
		// second never puts more than rps calls in any second.
		l = rate.NewLimiter(rate.Limit(max(c.rps-1, 1)), 1)
		c.limiters[endpoint] = l
	}
	return l
}

// send performs one call with retries and returns the open response for a
// 2xx status; the caller closes its body. endpoint names the rate-limit
// bucket. Only idempotent calls pass retryNetwork.
func (c *Client) send(ctx context.Context, method, path, endpoint string, body any, retryNetwork bool) (*http.Response, error) {
	return c.sendTo(ctx, request{host: c.baseURL, key: c.key, method: method, path: path, endpoint: endpoint, body: body, idempotent: retryNetwork})
}

// request is one call for sendTo.
type request struct {
	host, key              string
	method, path, endpoint string
	body                   any
	// idempotent calls are retried after any transient failure; others
	// only after a 429, which proves nothing was applied.
	idempotent bool
}

func (c *Client) sendTo(ctx context.Context, rq request) (*http.Response, error) {
	method, path, endpoint, body, retryNetwork := rq.method, rq.path, rq.endpoint, rq.body, rq.idempotent
	op := method + " " + path
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("pendo: %s: encode request: %w", op, err)
		}
	}
	lim := c.limiter(endpoint)
	for attempt := 0; ; attempt++ {
		if err := lim.Wait(ctx); err != nil {
			return nil, fmt.Errorf("pendo: %s: rate limiter: %w", op, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, rq.host+path, bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("pendo: %s: %w", op, err)
		}
		if rq.key == "" {
			return nil, fmt.Errorf("pendo: %s: no credential configured for this call", op)
		}
		req.Header.Set("X-Pendo-Integration-Key", rq.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil || !retryNetwork || attempt >= c.maxRetries {
				return nil, fmt.Errorf("pendo: %s: %w", op, err)
			}
			if err := backoff.Sleep(ctx, backoff.Delay(attempt, c.retryBase)); err != nil {
				return nil, fmt.Errorf("pendo: %s: %w", op, err)
			}
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := readError(resp, op, rq.host)
		retry := resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode >= 500 && rq.idempotent)
		if !retry || attempt >= c.maxRetries {
			return nil, apiErr
		}
		delay := backoff.Delay(attempt, c.retryBase)
		if resp.StatusCode == http.StatusTooManyRequests {
			// Pendo counts requests per second: a retry sooner than the
			// window's end meets the same full window.
			delay = max(delay, retryAfter(resp.Header.Get("Retry-After"), time.Second))
		}
		if err := backoff.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%w (while waiting to retry: %w)", apiErr, err)
		}
	}
}

// call is send plus JSON decoding of the whole body into out.
func (c *Client) call(ctx context.Context, method, path, endpoint string, body, out any, retryNetwork bool) error {
	resp, err := c.send(ctx, method, path, endpoint, body, retryNetwork)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("pendo: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// Verify checks the integration key: whether it is valid, and whether it
// may write. A bad key (or one from another region) is an *Error with
// status 403.
func (c *Client) Verify(ctx context.Context) (writeAccess bool, err error) {
	var out struct {
		Valid       bool `json:"valid"`
		WriteAccess bool `json:"writeAccess"`
	}
	if err := c.call(ctx, "GET", "/api/v1/token/verify", "token/verify", nil, &out, true); err != nil {
		return false, err
	}
	return out.WriteAccess, nil
}

// retryAfter reads a Retry-After header in seconds, or returns def.
func retryAfter(v string, def time.Duration) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}
