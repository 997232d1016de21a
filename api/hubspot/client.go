// Package hubspot is a typed client for the HubSpot CRM API: auth, rate
// limiting, retries, paging and error decoding. It takes a base URL and an
// *http.Client, so the same code runs against api.hubapi.com and the
// hubspottest emulator.
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/backflow-dev/backflow/api/backoff"
	"github.com/backflow-dev/backflow/api/jsonscan"
	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/api/wire"
)

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// Client calls one HubSpot account with one token. It is safe for
// concurrent use; all goroutines share its rate limiter, because HubSpot
// counts the 10-second burst per token, not per connection.
type Client struct {
	baseURL     string
	http        *http.Client
	tokens      TokenSource
	limiter     *Limiter
	search      *rate.Limiter
	events      *rate.Limiter // event sends: their own 1,250/s, outside the burst window
	maxRetries  int
	retryBase   time.Duration
	maxCallTime time.Duration
	maxBody     int64
	maxPages    int
	version     string
	log         *slog.Logger
	headerOnce  sync.Once // one warning for implausible rate-limit headers
}

// Config configures a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTPClient defaults to a client with a RequestTimeout. Redirects are
	// never followed, whatever the client says (see package wire).
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt of a call, answer included, when
	// HTTPClient is nil. Default 60s.
	RequestTimeout time.Duration
	// MaxCallTime bounds one call with its retries: a call still failing
	// after it is given up. Default 3m.
	MaxCallTime time.Duration
	// MaxBody bounds one response body, on the wire and decompressed.
	// Default 64 MiB (a page is 100 records).
	MaxBody int64
	// MaxPages bounds the pages one listing or search reads. Default
	// 1,000,000 (100 million records).
	MaxPages int
	// Logger receives a line for every retry and every wait a server asked
	// for; default none.
	Logger *slog.Logger
	// Token is a private-app token (pat-…) or an OAuth access token.
	Token string
	// BurstLimit is the app's requests per 10 seconds (100, 190 or 250 by
	// tier). Default 100.
	BurstLimit int
	// Window is the burst window; default 10s. Tests shorten it.
	Window time.Duration
	// RateShare is the part of the burst limit this client uses (0 < x ≤
	// 1; default 1), leaving the rest to other integrations on the app.
	RateShare float64
	// MaxRetries bounds retries of one call on 429, 5xx and network
	// errors. Default 6.
	MaxRetries int
	// RetryBaseDelay is the first backoff step for 5xx and network errors;
	// it doubles per attempt up to 30 s. Default 1s.
	RetryBaseDelay time.Duration
	// APIVersion selects the CRM object and property paths: "" or "v3" for
	// /crm/v3/…, or a date version such as "2026-03" for
	// /crm/objects/2026-03/….
	APIVersion string
	// TokenSource supplies OAuth access tokens (see OAuthTokenSource); it
	// replaces Token.
	TokenSource TokenSource
	// SearchPerSecond is the account's search limit. Default 5.
	SearchPerSecond float64
}

// TokenSource supplies bearer tokens. Refresh is called when HubSpot
// answers EXPIRED_AUTHENTICATION, and must return a new token.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Refresh(ctx context.Context) (string, error)
}

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }
func (t staticToken) Refresh(context.Context) (string, error) {
	return "", errors.New("hubspot: the access token was refused as expired, and a private-app token cannot be refreshed")
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	tokens := cfg.TokenSource
	if tokens == nil {
		if cfg.Token == "" {
			return nil, errors.New("hubspot: no access token configured")
		}
		tokens = staticToken(cfg.Token)
	}
	switch v := cfg.APIVersion; {
	case v == "" || v == "v3":
		cfg.APIVersion = ""
	default:
		if _, err := time.Parse("2006-01", v); err != nil {
			return nil, fmt.Errorf("hubspot: API version %q: want v3 or a date version such as 2026-03", v)
		}
	}
	if cfg.SearchPerSecond == 0 {
		cfg.SearchPerSecond = 5
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if _, err := wire.CheckBaseURL(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("hubspot: %w", err)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.RequestTimeout}
	}
	if cfg.MaxCallTime == 0 {
		cfg.MaxCallTime = 3 * time.Minute
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 20
	}
	if cfg.MaxPages == 0 {
		cfg.MaxPages = 1_000_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BurstLimit == 0 {
		cfg.BurstLimit = 100
	}
	if cfg.Window == 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 6
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = time.Second
	}
	lim := NewLimiter(cfg.BurstLimit, cfg.Window)
	lim.SetShare(cfg.RateShare)
	return &Client{
		baseURL: cfg.BaseURL,
		http:    wire.NoRedirects(cfg.HTTPClient),
		tokens:  tokens,
		limiter: lim,
		// Search counts a sliding second; spacing calls at 90% of the limit
		// keeps network jitter from bunching five into one second.
		search:      rate.NewLimiter(rate.Limit(cfg.SearchPerSecond*0.9), 1),
		events:      rate.NewLimiter(rate.Limit(EventSendsPerSecond*0.9), 1),
		version:     cfg.APIVersion,
		maxRetries:  cfg.MaxRetries,
		retryBase:   cfg.RetryBaseDelay,
		maxCallTime: cfg.MaxCallTime,
		maxBody:     cfg.MaxBody,
		maxPages:    cfg.MaxPages,
		log:         cfg.Logger,
	}, nil
}

// Limiter is the client's burst-window limiter, which also holds what the
// last response said of the daily budget.
func (c *Client) Limiter() *Limiter { return c.limiter }

// call describes one API call for do.
type call struct {
	method, path string
	query        url.Values
	body, out    any
	// idempotent calls are retried after any transient failure. Others
	// (creates) only after answers that prove nothing was applied (429,
	// 423, 477): a lost response or a gateway timeout may hide a write.
	idempotent bool
	search     bool // counts against the search limiter, not the burst window
	eventSend  bool // counts against the event-send limiter: exempt from the burst window and the daily budget
	// status receives the HTTP status of the final answer when non-nil.
	status *int
}

// do sends one API call under the rate limiter, retrying what HubSpot says
// is transient, and decodes a 2xx JSON body into out (if non-nil). Every
// retry is logged with its wait; a call still failing after MaxCallTime
// (waits for the rate limiter aside) is given up.
func (c *Client) do(ctx context.Context, k call) error {
	method, path, query, body, out := k.method, k.path, k.query, k.body, k.out
	retryNetwork := k.idempotent
	op := method + " " + path
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("hubspot: %s: encode request: %w", op, err)
		}
	}
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	refreshed := false
	var first time.Time
	retry := func(attempt int, wait time.Duration, why string) error {
		if attempt >= c.maxRetries {
			return fmt.Errorf("gave up after %d attempts", attempt+1)
		}
		if spent := time.Since(first); spent+wait > c.maxCallTime {
			return fmt.Errorf("gave up after %s (max call time %s)", spent.Round(time.Millisecond), c.maxCallTime)
		}
		c.log.Warn("hubspot: retrying", "call", op, "after", why, "wait", wait.Round(time.Millisecond), "attempt", attempt+2, "of", c.maxRetries+1)
		return backoff.Sleep(ctx, wait)
	}
	for attempt := 0; ; attempt++ {
		lim := c.limiter.Wait
		switch {
		case k.search:
			lim = c.search.Wait
		case k.eventSend:
			lim = c.events.Wait
		}
		if err := lim(ctx); err != nil {
			return fmt.Errorf("hubspot: %s: rate limiter: %w", op, err)
		}
		if first.IsZero() {
			first = time.Now()
		}
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("hubspot: %s: %w", op, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("hubspot: %s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		// Asked for here, so the body is decompressed (and bounded) by
		// wire.Body, not by the transport.
		req.Header.Set("Accept-Encoding", "gzip")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		scrub := redact.New(tok)
		sent := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			c.log.Debug("hubspot: request", "call", op, "attempt", attempt+1, "err", scrub.Error(err), "duration", time.Since(sent).Round(time.Millisecond))
			err = scrub.Wrap(err) // a URL in it may carry ?hapikey=
			if ctx.Err() != nil || !retryNetwork || errors.Is(err, wire.ErrRedirect) {
				return fmt.Errorf("hubspot: %s: %w", op, err)
			}
			if rerr := retry(attempt, backoff.Delay(attempt, c.retryBase), err.Error()); rerr != nil {
				return fmt.Errorf("hubspot: %s: %w (%w)", op, err, rerr)
			}
			continue
		}
		c.log.Debug("hubspot: request", "call", op, "attempt", attempt+1, "status", resp.StatusCode, "duration", time.Since(sent).Round(time.Millisecond))
		if err := c.limiter.Observe(resp.Header); err != nil {
			c.headerOnce.Do(func() { c.log.Warn("hubspot: rate-limit headers ignored", "call", op, "reason", err) })
		}
		if k.status != nil {
			*k.status = resp.StatusCode
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err := c.decodeBody(resp, out)
			if err != nil {
				return fmt.Errorf("hubspot: %s: decode response: %w", op, err)
			}
			return nil
		}
		apiErr := readError(resp, op, scrub)
		if apiErr.Status == http.StatusUnauthorized && apiErr.Category == "EXPIRED_AUTHENTICATION" && !refreshed {
			// The token expired early or our clock is off: refresh once.
			refreshed = true
			if _, err := c.tokens.Refresh(ctx); err != nil {
				return fmt.Errorf("%w; refreshing the token failed: %w", apiErr, err)
			}
			attempt--
			continue
		}
		wait, again := c.retryAfter(resp, apiErr, attempt, op)
		if again && !k.idempotent && resp.StatusCode >= 500 {
			again = false // the write may have happened behind the error
		}
		if !again {
			return apiErr
		}
		if err := retry(attempt, wait, apiErr.Error()); err != nil {
			return fmt.Errorf("%w (%w)", apiErr, err)
		}
	}
}

// retryAfter classifies a failed response: whether to retry, and after how
// long. 429s are keyed on policyName, as HubSpot's own clients do. A
// Retry-After past wire.MaxWait is clamped to it, and said.
func (c *Client) retryAfter(resp *http.Response, e *Error, attempt int, op string) (time.Duration, bool) {
	header := func() (time.Duration, bool) {
		d, clamped, ok := wire.RetryAfter(resp.Header, time.Now())
		if clamped {
			c.log.Warn("hubspot: Retry-After clamped", "call", op, "asked", resp.Header.Get("Retry-After"), "wait", d)
		}
		return d, ok && d > 0
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		switch e.PolicyName {
		case "DAILY":
			return 0, false
		case "SECONDLY":
			return backoff.Delay(attempt, c.retryBase), true
		}
		// The rolling window frees up one window after the oldest call;
		// waiting a whole window is the only wait that is always enough.
		if d, ok := header(); ok {
			return d, true
		}
		w := c.limiter.Window()
		return w + backoff.Jitter(w/10), true
	case resp.StatusCode == 423: // locked for ~2 s (with the default 1 s base)
		return 2*c.retryBase + backoff.Jitter(c.retryBase), true
	case resp.StatusCode == 477: // migration in progress; Retry-After in seconds
		if d, ok := header(); ok {
			return d, true
		}
		return backoff.Delay(attempt, 5*time.Second), true
	case resp.StatusCode >= 500:
		return backoff.Delay(attempt, c.retryBase), true
	}
	return 0, false
}

// streamDecoder is an answer that reads itself off the body as it
// streams (a page of records), instead of through encoding/json.
type streamDecoder interface {
	decodeJSON(rd *jsonscan.Reader) error
}

// decodeBody decodes a 2xx body into out, within MaxBody.
func (c *Client) decodeBody(resp *http.Response, out any) error {
	defer resp.Body.Close()
	body, err := wire.Body(resp, c.maxBody)
	if err != nil {
		return err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	if sd, ok := out.(streamDecoder); ok {
		rd := jsonscan.NewReader(body, int(min(c.maxBody, math.MaxInt32)))
		if err := sd.decodeJSON(rd); err != nil {
			return err
		}
		if err := rd.End(); err != nil {
			return fmt.Errorf("after the answer: %w", err)
		}
		return nil
	}
	dec := json.NewDecoder(body)
	if err := dec.Decode(out); err != nil {
		return err
	}
	// One JSON value, nothing after it: a second value means the answer
	// is not what was asked for.
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return fmt.Errorf("after the answer: %w", err)
	}
	return nil
}

// readError decodes HubSpot's error body. A body that is not JSON (a
// gateway's HTML page, say) still yields an *Error with the status.
//
// Error bodies are read up to 64 KiB, and every text taken from them
// passes through scrub: an upstream that echoes the request (a debugging
// proxy, a WAF's block page) must not put the token into an error message.
func readError(resp *http.Response, op string, scrub *redact.Redactor) *Error {
	defer resp.Body.Close()
	var raw []byte
	if body, err := wire.Body(resp, 64<<10); err == nil {
		raw, _ = io.ReadAll(body)
	}
	e := &Error{Op: op, Status: resp.StatusCode, CorrelationID: resp.Header.Get("X-HubSpot-Correlation-Id")}
	var body apiErrorBody
	if json.Unmarshal(raw, &body) == nil && (body.Category != "" || body.ErrorType != "" || body.Message != "") {
		e.Category = body.Category
		if e.Category == "" {
			e.Category = body.ErrorType
		}
		e.SubCategory = body.SubCategory
		e.Message = scrub.String(body.Message)
		e.PolicyName = body.PolicyName
		e.Context = scrubContext(body.Context, scrub)
		for _, d := range body.Errors {
			d.Message = scrub.String(d.Message)
			d.Context = scrubContext(d.Context, scrub)
			e.Details = append(e.Details, d)
		}
		if body.CorrelationID != "" {
			e.CorrelationID = scrub.String(body.CorrelationID)
		}
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

func scrubContext(ctx map[string][]string, scrub *redact.Redactor) map[string][]string {
	for k, vs := range ctx {
		for i, v := range vs {
			vs[i] = scrub.String(v)
		}
		ctx[k] = vs
	}
	return ctx
}

// objectsPath is the path of an object type's endpoints for the client's
// API version.
func (c *Client) objectsPath(objectType string) string {
	if c.version != "" {
		return "/crm/objects/" + c.version + "/" + url.PathEscape(objectType)
	}
	return "/crm/v3/objects/" + url.PathEscape(objectType)
}

func (c *Client) propertiesPath(objectType string) string {
	if c.version != "" {
		return "/crm/properties/" + c.version + "/" + url.PathEscape(objectType)
	}
	return "/crm/v3/properties/" + url.PathEscape(objectType)
}
