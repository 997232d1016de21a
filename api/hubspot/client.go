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
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/backflow-dev/backflow/api/backoff"
)

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// Client calls one HubSpot account with one token. It is safe for
// concurrent use; all goroutines share its rate limiter, because HubSpot
// counts the 10-second burst per token, not per connection.
type Client struct {
	baseURL    string
	http       *http.Client
	token      string
	limiter    *Limiter
	maxRetries int
	retryBase  time.Duration
}

// Config configures a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTPClient defaults to a client with a 60-second timeout.
	HTTPClient *http.Client
	// Token is a private-app token (pat-…) or an OAuth access token.
	Token string
	// BurstLimit is the app's requests per 10 seconds (100, 190 or 250 by
	// tier). Default 100.
	BurstLimit int
	// Window is the burst window; default 10s. Tests shorten it.
	Window time.Duration
	// MaxRetries bounds retries of one call on 429, 5xx and network
	// errors. Default 6.
	MaxRetries int
	// RetryBaseDelay is the first backoff step for 5xx and network errors;
	// it doubles per attempt up to 30 s. Default 1s.
	RetryBaseDelay time.Duration
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("hubspot: no access token configured")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("hubspot: base URL %q: %w", cfg.BaseURL, err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
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
	return &Client{
		baseURL:    cfg.BaseURL,
		http:       cfg.HTTPClient,
		token:      cfg.Token,
		limiter:    NewLimiter(cfg.BurstLimit, cfg.Window),
		maxRetries: cfg.MaxRetries,
		retryBase:  cfg.RetryBaseDelay,
	}, nil
}

// do sends one API call under the rate limiter, retrying what HubSpot says
// is transient, and decodes a 2xx JSON body into out (if non-nil). Only
// idempotent calls may pass retryNetwork=true: a POST whose response was
// lost may have been applied.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, retryNetwork bool) error {
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
	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("hubspot: %s: rate limiter: %w", op, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("hubspot: %s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil || !retryNetwork || attempt >= c.maxRetries {
				return fmt.Errorf("hubspot: %s: %w", op, err)
			}
			if err := backoff.Sleep(ctx, backoff.Delay(attempt, c.retryBase)); err != nil {
				return fmt.Errorf("hubspot: %s: %w", op, err)
			}
			continue
		}
		c.limiter.Observe(resp.Header)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err := decodeBody(resp, out)
			if err != nil {
				return fmt.Errorf("hubspot: %s: decode response: %w", op, err)
			}
			return nil
		}
		apiErr := readError(resp, op)
		wait, retry := c.retryAfter(resp, apiErr, attempt)
		if !retry || attempt >= c.maxRetries {
			return apiErr
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (while waiting to retry: %v)", apiErr, err)
		}
	}
}

// retryAfter classifies a failed response: whether to retry, and after how
// long. 429s are keyed on policyName, as HubSpot's own clients do.
func (c *Client) retryAfter(resp *http.Response, e *Error, attempt int) (time.Duration, bool) {
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
		if d := retryAfterHeader(resp); d > 0 {
			return d, true
		}
		return c.limiter.Window() + backoff.Jitter(time.Second), true
	case resp.StatusCode == 423: // locked for ~2 s
		return 2*time.Second + backoff.Jitter(time.Second), true
	case resp.StatusCode == 477: // migration in progress; Retry-After in seconds
		if d := retryAfterHeader(resp); d > 0 {
			return d, true
		}
		return backoff.Delay(attempt, 5*time.Second), true
	case resp.StatusCode >= 500:
		return backoff.Delay(attempt, c.retryBase), true
	}
	return 0, false
}

func retryAfterHeader(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func decodeBody(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// readError decodes HubSpot's error body. A body that is not JSON (a
// gateway's HTML page, say) still yields an *Error with the status.
func readError(resp *http.Response, op string) *Error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Op: op, Status: resp.StatusCode, CorrelationID: resp.Header.Get("X-HubSpot-Correlation-Id")}
	var body apiErrorBody
	if json.Unmarshal(raw, &body) == nil {
		e.Category = body.Category
		if e.Category == "" {
			e.Category = body.ErrorType
		}
		e.SubCategory = body.SubCategory
		e.Message = body.Message
		e.PolicyName = body.PolicyName
		e.Context = body.Context
		e.Details = body.Errors
		if body.CorrelationID != "" {
			e.CorrelationID = body.CorrelationID
		}
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}
