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
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/backflow-dev/backflow/api/backoff"
	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/api/wire"
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
	// HTTPClient defaults to one without an overall timeout: each call
	// sets its own (RequestTimeout, AggregationTimeout). Redirects are never
	// followed, whatever the client says (see package wire).
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt of a call other than an
	// aggregation, answer included. Default 60s.
	RequestTimeout time.Duration
	// AggregationTimeout bounds one attempt of an aggregation. Default 6m:
	// Pendo stops aggregations at 5 minutes, and the rows still stream.
	AggregationTimeout time.Duration
	// MaxCallTime bounds an aggregation with its retries (waits for the
	// rate limiter aside); other calls get three RequestTimeouts at most.
	// Default 15m.
	MaxCallTime time.Duration
	// MaxBody bounds a response other than an aggregation, on the wire and
	// decompressed. Default 64 MiB.
	MaxBody int64
	// MaxAggregation bounds an aggregation's response: 4 GiB, Pendo's own
	// cap, by default; MaxRow bounds one of its rows (default 16 MiB), so a
	// stream's memory stays bounded too.
	MaxAggregation, MaxRow int64
	// MaxPages bounds the calls one paged read makes. Default 1,000,000.
	MaxPages int
	// Logger receives a line for every retry and every wait a server asked
	// for; default none.
	Logger *slog.Logger
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
	timeout    time.Duration
	aggTimeout time.Duration
	maxCall    time.Duration
	maxBody    int64
	maxAgg     int64
	maxRow     int64
	maxPages   int
	log        *slog.Logger

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
	if _, err := wire.CheckBaseURL(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("pendo: %w", err)
	}
	if cfg.DataURL != "" {
		if _, err := wire.CheckBaseURL(cfg.DataURL); err != nil {
			return nil, fmt.Errorf("pendo: data host: %w", err)
		}
	}
	if cfg.DataURL == "" {
		cfg.DataURL = hosts.Data
		if cfg.BaseURL != hosts.API {
			// An overridden API host (a proxy, the emulator) serves both.
			cfg.DataURL = cfg.BaseURL
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.AggregationTimeout == 0 {
		cfg.AggregationTimeout = 6 * time.Minute
	}
	if cfg.MaxCallTime == 0 {
		cfg.MaxCallTime = 15 * time.Minute
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 20
	}
	if cfg.MaxAggregation == 0 {
		cfg.MaxAggregation = 4 << 30
	}
	if cfg.MaxRow == 0 {
		cfg.MaxRow = 16 << 20
	}
	if cfg.MaxPages == 0 {
		cfg.MaxPages = 1_000_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
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
		http:       wire.NoRedirects(cfg.HTTPClient),
		timeout:    cfg.RequestTimeout,
		aggTimeout: cfg.AggregationTimeout,
		maxCall:    cfg.MaxCallTime,
		maxBody:    cfg.MaxBody,
		maxAgg:     cfg.MaxAggregation,
		maxRow:     cfg.MaxRow,
		maxPages:   cfg.MaxPages,
		log:        cfg.Logger,
		key:        cfg.IntegrationKey,
		secret:     cfg.TrackSecret,
		rps:        cfg.RequestsPerSecond,
		maxRetries: cfg.MaxRetries,
		retryBase:  cfg.RetryBaseDelay,
		limiters:   map[string]*rate.Limiter{},
	}, nil
}

// PerSecond is the sustained calls per second the client makes to one
// endpoint.
func (c *Client) PerSecond() float64 { return float64(max(c.rps-1, 1)) }

// HasTrackSecret reports whether the client can send track events.
func (c *Client) HasTrackSecret() bool { return c.secret != "" }

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
// 2xx status, its body bounded and decompressed; the caller closes it.
// endpoint names the rate-limit bucket. Only idempotent calls pass
// retryNetwork.
func (c *Client) send(ctx context.Context, method, path, endpoint string, body any, retryNetwork bool) (*response, error) {
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
	// aggregation calls get AggregationTimeout and MaxAggregation.
	aggregation bool
}

// response is a 2xx answer: Body is bounded and decompressed; Close
// releases the attempt's deadline too.
type response struct {
	Header http.Header
	Body   io.ReadCloser
	cancel context.CancelFunc
}

func (r *response) Close() error {
	err := r.Body.Close()
	r.cancel()
	return err
}

func (c *Client) sendTo(ctx context.Context, rq request) (*response, error) {
	method, path, endpoint, body, retryNetwork := rq.method, rq.path, rq.endpoint, rq.body, rq.idempotent
	op := method + " " + path
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("pendo: %s: encode request: %w", op, err)
		}
	}
	if rq.key == "" {
		return nil, fmt.Errorf("pendo: %s: no credential configured for this call", op)
	}
	timeout, maxBody, maxCall := c.timeout, c.maxBody, min(c.maxCall, 3*c.timeout)
	if rq.aggregation {
		timeout, maxBody, maxCall = c.aggTimeout, c.maxAgg, c.maxCall
	}
	scrub := redact.New(rq.key)
	lim := c.limiter(endpoint)
	var first time.Time
	retry := func(attempt int, wait time.Duration, why string) error {
		if attempt >= c.maxRetries {
			return fmt.Errorf("gave up after %d attempts", attempt+1)
		}
		if spent := time.Since(first); spent+wait > maxCall {
			return fmt.Errorf("gave up after %s (max call time %s)", spent.Round(time.Millisecond), maxCall)
		}
		c.log.Warn("pendo: retrying", "call", op, "after", why, "wait", wait.Round(time.Millisecond), "attempt", attempt+2, "of", c.maxRetries+1)
		return backoff.Sleep(ctx, wait)
	}
	for attempt := 0; ; attempt++ {
		if err := lim.Wait(ctx); err != nil {
			return nil, fmt.Errorf("pendo: %s: rate limiter: %w", op, err)
		}
		if first.IsZero() {
			first = time.Now()
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		req, err := http.NewRequestWithContext(actx, method, rq.host+path, bytes.NewReader(payload))
		if err != nil {
			cancel()
			return nil, fmt.Errorf("pendo: %s: %w", op, err)
		}
		req.Header.Set("X-Pendo-Integration-Key", rq.key)
		req.Header.Set("Content-Type", "application/json")
		// Asked for here, so the body is decompressed (and bounded) by
		// wire.Body, not by the transport.
		req.Header.Set("Accept-Encoding", "gzip")
		sent := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			c.log.Debug("pendo: request", "call", op, "attempt", attempt+1, "err", scrub.Error(err), "duration", time.Since(sent).Round(time.Millisecond))
			cancel()
			err = scrub.Wrap(err)
			if ctx.Err() != nil || !retryNetwork || errors.Is(err, wire.ErrRedirect) {
				return nil, fmt.Errorf("pendo: %s: %w", op, err)
			}
			if rerr := retry(attempt, backoff.Delay(attempt, c.retryBase), err.Error()); rerr != nil {
				return nil, fmt.Errorf("pendo: %s: %w (%w)", op, err, rerr)
			}
			continue
		}
		c.log.Debug("pendo: request", "call", op, "attempt", attempt+1, "status", resp.StatusCode, "duration", time.Since(sent).Round(time.Millisecond))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			b, err := wire.Body(resp, maxBody)
			if err != nil {
				resp.Body.Close()
				cancel()
				return nil, fmt.Errorf("pendo: %s: %w", op, err)
			}
			return &response{Header: resp.Header, Body: b, cancel: cancel}, nil
		}
		apiErr := readError(resp, op, rq.host, scrub)
		cancel()
		again := resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode >= 500 && rq.idempotent)
		if !again {
			return nil, apiErr
		}
		delay := backoff.Delay(attempt, c.retryBase)
		if resp.StatusCode == http.StatusTooManyRequests {
			// Pendo counts requests per second: a retry sooner than the
			// window's end meets the same full window.
			d, clamped, ok := wire.RetryAfter(resp.Header, time.Now())
			if clamped {
				c.log.Warn("pendo: Retry-After clamped", "call", op, "asked", resp.Header.Get("Retry-After"), "wait", d)
			}
			if !ok {
				d = time.Second
			}
			delay = max(delay, d)
		}
		if err := retry(attempt, delay, apiErr.Error()); err != nil {
			return nil, fmt.Errorf("%w (%w)", apiErr, err)
		}
	}
}

// call is send plus JSON decoding of the whole body into out: one JSON
// value, nothing after it.
func (c *Client) call(ctx context.Context, method, path, endpoint string, body, out any, retryNetwork bool) error {
	resp, err := c.send(ctx, method, path, endpoint, body, retryNetwork)
	if err != nil {
		return err
	}
	defer resp.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("pendo: %s %s: decode response: %w", method, path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return fmt.Errorf("pendo: %s %s: decode response: after the answer: %w", method, path, err)
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
