package hubspot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/faultproxy"
	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/memnet"
	"github.com/backflow-dev/backflow/api/wire"
)

// hostile is a HubSpot emulator behind a fault proxy, on an in-memory
// network, and a client of it; call it inside a synctest bubble.
type hostile struct {
	emu   *hubspottest.Server
	proxy *faultproxy.Proxy
	srv   *memnet.Server
	c     *hubspot.Client
	logs  *bytes.Buffer
}

func newHostile(t *testing.T, contacts int, cfg hubspot.Config) *hostile {
	t.Helper()
	h := &hostile{emu: hubspottest.New(hubspottest.Options{Tokens: []string{token}, BurstLimit: 100_000, SearchPerSecond: 100_000}), logs: &bytes.Buffer{}}
	for i := 0; i < contacts; i++ {
		if _, err := h.emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%03d@x.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	h.proxy = faultproxy.New(h.emu)
	h.srv = memnet.Serve(h.proxy)
	t.Cleanup(h.srv.Close)
	cfg.BaseURL, cfg.HTTPClient, cfg.Token = h.srv.URL, h.srv.Client, token
	if cfg.BurstLimit == 0 {
		cfg.BurstLimit = 100_000
	}
	if cfg.SearchPerSecond == 0 {
		cfg.SearchPerSecond = 100_000
	}
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	var err error
	if h.c, err = hubspot.New(cfg); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *hostile) list(ctx context.Context) (int, error) {
	n := 0
	err := h.c.List(ctx, "contacts", hubspot.ListOptions{PageSize: 10}, func(o []hubspot.Object) error { n += len(o); return nil })
	return n, err
}

var listCall = faultproxy.Path("GET", "/crm/v3/objects/contacts")

// Pages that contradict themselves or the request stop the listing with
// ErrBadPage; nothing of them is taken as the whole.
func TestClient_BadPagesRefused(t *testing.T) {
	tests := []struct {
		name  string
		fault func() *faultproxy.Fault
	}{
		{"results_null_with_next", func() *faultproxy.Fault {
			return faultproxy.Rewrite("null", faultproxy.After(1, listCall), func(b map[string]any) { b["results"] = nil })
		}},
		{"results_absent_with_next", func() *faultproxy.Fault {
			return faultproxy.Rewrite("absent", faultproxy.After(1, listCall), func(b map[string]any) { delete(b, "results") })
		}},
		{"empty_page_with_next", func() *faultproxy.Fault {
			return faultproxy.Rewrite("empty", faultproxy.After(1, listCall), func(b map[string]any) { b["results"] = []any{} })
		}},
		{"page_one_again", func() *faultproxy.Fault { return faultproxy.Replay("replay", listCall) }},
		{"records_without_id", func() *faultproxy.Fault {
			return faultproxy.Rewrite("noid", faultproxy.After(1, listCall), func(b map[string]any) {
				for _, r := range b["results"].([]any) {
					delete(r.(map[string]any), "id")
				}
			})
		}},
		{"more_rows_than_asked", func() *faultproxy.Fault {
			return faultproxy.Rewrite("big", listCall, func(b map[string]any) {
				rs := b["results"].([]any)
				for len(rs) < 300 {
					rs = append(rs, rs...)
				}
				b["results"] = rs
			})
		}},
		{"cursor_cycle", func() *faultproxy.Fault {
			// Cursors A, B, A, … each serving a full page.
			n := 0
			return &faultproxy.Fault{Name: "cycle", Match: listCall, Serve: func(w http.ResponseWriter, r *http.Request, up func(*http.Request) *http.Response) {
				q := r.URL.Query()
				q.Del("after")
				r.URL.RawQuery = q.Encode()
				resp := up(r)
				var b map[string]any
				json.NewDecoder(resp.Body).Decode(&b)
				n++
				b["paging"] = map[string]any{"next": map[string]any{"after": []string{"B", "A"}[n%2]}}
				if n > 1 {
					// Another page of the same size each time, so only the
					// cursor gives the cycle away.
					rs := b["results"].([]any)
					for i := range rs {
						rs[i].(map[string]any)["id"] = fmt.Sprint(5000 + 10*n + i)
					}
				}
				json.NewEncoder(w).Encode(b)
			}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHostile(t, 35, hubspot.Config{})
				h.proxy.Add(tt.fault())
				n, err := h.list(context.Background())
				if !errors.Is(err, hubspot.ErrBadPage) {
					t.Fatalf("listing read %d records, err = %v; want ErrBadPage", n, err)
				}
				t.Log(err)
			})
		})
	}
}

func TestClient_SearchNullResultsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostile(t, 5, hubspot.Config{})
		h.proxy.Add(faultproxy.Rewrite("null", faultproxy.Path("POST", "/search"), func(b map[string]any) { b["results"] = nil }))
		err := h.c.ModifiedBetween(context.Background(), "contacts", time.Now().Add(-time.Hour), time.Now(), []string{"email"}, func([]hubspot.Object) error { return nil })
		if !errors.Is(err, hubspot.ErrBadPage) {
			t.Fatalf("err = %v, want ErrBadPage", err)
		}
	})
}

// A Retry-After of days, or a date in 2099, is clamped to wire.MaxWait and
// said in the log; the call then succeeds.
func TestClient_RetryAfterClamped(t *testing.T) {
	for _, v := range []string{"999999", "Fri, 01 Jan 2099 00:00:00 GMT"} {
		t.Run(v, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHostile(t, 1, hubspot.Config{MaxCallTime: time.Hour})
				h.proxy.Add(&faultproxy.Fault{Name: "429", Match: listCall, Times: 1, Serve: func(w http.ResponseWriter, r *http.Request, _ func(*http.Request) *http.Response) {
					w.Header().Set("Retry-After", v)
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(429)
					w.Write([]byte(`{"status":"error","message":"slow down","category":"RATE_LIMITS","policyName":"TEN_SECONDLY_ROLLING"}`))
				}})
				start := time.Now()
				if _, err := h.list(context.Background()); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d != wire.MaxWait {
					t.Errorf("waited %v, want the clamp %v", d, wire.MaxWait)
				}
				if !strings.Contains(h.logs.String(), "Retry-After clamped") {
					t.Errorf("the clamp was not logged:\n%s", h.logs)
				}
			})
		})
	}
}

// Rate-limit headers claiming 2 calls a day are ignored (and said once):
// the client keeps its configured pace instead of sleeping for hours.
func TestClient_ImplausibleRateLimitHeadersIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostile(t, 1, hubspot.Config{BurstLimit: 100})
		h.proxy.Add(faultproxy.Header("2perday", listCall, map[string]string{"X-HubSpot-RateLimit-Max": "2", "X-HubSpot-RateLimit-Interval-Milliseconds": "86400000"}))
		start := time.Now()
		for i := 0; i < 20; i++ {
			if _, _, err := h.c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, ""); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("20 calls took %v: the header was adopted", d)
		}
		if n := strings.Count(h.logs.String(), "rate-limit headers ignored"); n != 1 {
			t.Errorf("logged %d times, want once:\n%s", n, h.logs)
		}
	})
}

// A server that never answers costs at most MaxCallTime, with every retry
// in the log.
func TestClient_NoAnswerBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostile(t, 1, hubspot.Config{})
		h.proxy.Add(faultproxy.Hang("hang", listCall))
		// The client's own timeout is the one the default client would
		// have; memnet's client has none.
		h.c, _ = hubspot.New(hubspot.Config{BaseURL: h.srv.URL, Token: token, BurstLimit: 100_000, MaxCallTime: 3 * time.Minute,
			HTTPClient: &http.Client{Transport: h.srv.Client.Transport, Timeout: 60 * time.Second}, Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
		start := time.Now()
		_, _, err := h.c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
		d := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "gave up") {
			t.Fatalf("err = %v", err)
		}
		if d > 3*time.Minute+time.Minute {
			t.Errorf("gave up after %v, past MaxCallTime", d)
		}
		if !strings.Contains(h.logs.String(), "retrying") {
			t.Errorf("no retry was logged:\n%s", h.logs)
		}
	})
}

// A gzip body that inflates without end stops at MaxBody.
func TestClient_GzipBombStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostile(t, 1, hubspot.Config{MaxBody: 1 << 20})
		h.proxy.Add(faultproxy.GzipBomb("bomb", listCall, 1<<30))
		_, _, err := h.c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
		if !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
}

// A redirect is never followed: the token does not reach the host (or
// port) the answer names.
func TestClient_RedirectNotFollowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reached atomic.Int32
		evil := memnet.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
		defer evil.Close()
		h := newHostile(t, 1, hubspot.Config{})
		h.proxy.Add(faultproxy.Redirect("307", listCall, "http://127.0.0.1:9999"))
		_, _, err := h.c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
		if !errors.Is(err, wire.ErrRedirect) || reached.Load() != 0 {
			t.Fatalf("err = %v, other host reached %d times", err, reached.Load())
		}
	})
}

// An error body echoing the request (the Authorization header) leaves no
// token in the error.
func TestClient_EchoedTokenScrubbed(t *testing.T) {
	for _, ct := range []string{"application/json", "text/plain"} {
		t.Run(ct, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHostile(t, 1, hubspot.Config{})
				h.proxy.Add(faultproxy.EchoRequest("echo", listCall, 403, ct))
				_, _, err := h.c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
				if err == nil || strings.Contains(err.Error(), token) || strings.Contains(fmt.Sprintf("%+v", err), token) {
					t.Fatalf("err = %v", err)
				}
			})
		})
	}
}

func TestNew_RefusesPlainHTTPOffLoopback(t *testing.T) {
	for url, ok := range map[string]bool{"http://api.example.com": false, "http://10.0.0.5:8080": false, "https://api.example.com": true,
		"http://127.0.0.1:8081": true, "http://localhost:8081": true, "http://[::1]:8081": true, "ftp://x": false, "https://user:pw@x.com": false} {
		_, err := hubspot.New(hubspot.Config{BaseURL: url, Token: token})
		if (err == nil) != ok {
			t.Errorf("%s: err = %v", url, err)
		}
	}
}
