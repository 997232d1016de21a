package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/memnet"
)

const token = "pat-na1-test"

func newPair(t *testing.T, opts hubspottest.Options, cfg hubspot.Config) (*hubspottest.Server, *hubspot.Client) {
	t.Helper()
	if opts.BurstLimit == 0 && cfg.BurstLimit == 0 {
		// Not a rate-limit test: let calls through without pacing.
		opts.BurstLimit, cfg.BurstLimit = 100_000, 100_000
	}
	opts.Tokens = append(opts.Tokens, token)
	emu := hubspottest.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	cfg.HTTPClient = srv.Client()
	if cfg.Token == "" {
		cfg.Token = token
	}
	c, err := hubspot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

// newMemPair is newPair over an in-memory network, for tests of timing in
// a synctest bubble: the client's limiter, its backoff and the emulator's
// windows then share the bubble's fake clock, which moves only when every
// goroutine waits, so no request is ever late however busy the machine.
func newMemPair(t *testing.T, opts hubspottest.Options, cfg hubspot.Config) (*hubspottest.Server, *hubspot.Client, *memnet.Server) {
	t.Helper()
	opts.Tokens = append(opts.Tokens, token)
	emu := hubspottest.New(opts)
	srv := memnet.Serve(emu)
	t.Cleanup(srv.Close)
	cfg.BaseURL, cfg.HTTPClient = srv.URL, srv.Client
	if cfg.Token == "" {
		cfg.Token = token
	}
	c, err := hubspot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c, srv
}

func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClient_List(t *testing.T) {
	for _, n := range []int{0, 1, 99, 100, 101, 250} {
		t.Run(fmt.Sprintf("%d_contacts", n), func(t *testing.T) {
			emu, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
			want := map[string]string{}
			for i := 0; i < n; i++ {
				email := fmt.Sprintf("p%d@example.com", i)
				id, err := emu.CreateObject("contacts", map[string]string{"email": email})
				if err != nil {
					t.Fatal(err)
				}
				want[id] = email
			}
			got := map[string]string{}
			pages := 0
			err := c.List(context.Background(), "contacts", hubspot.ListOptions{Properties: []string{"email", "phone"}}, func(objs []hubspot.Object) error {
				pages++
				for _, o := range objs {
					if _, dup := got[o.ID]; dup {
						return fmt.Errorf("id %s returned twice", o.ID)
					}
					if o.Properties["phone"] != nil {
						return fmt.Errorf("unset phone = %q, want nil", *o.Properties["phone"])
					}
					if o.Properties["hs_object_id"] == nil || *o.Properties["hs_object_id"] != o.ID {
						return fmt.Errorf("hs_object_id missing on %s", o.ID)
					}
					got[o.ID] = *o.Properties["email"]
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
			for id, e := range want {
				if got[id] != e {
					t.Errorf("record %s email = %q, want %q", id, got[id], e)
				}
			}
			if wantPages := max(1, (n+99)/100); pages != wantPages {
				t.Errorf("pages = %d, want %d", pages, wantPages)
			}
		})
	}
}

func TestClient_Properties(t *testing.T) {
	_, c := newPair(t, hubspottest.Options{}, hubspot.Config{})
	props, err := c.Properties(context.Background(), "contacts")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]hubspot.Property{}
	for _, p := range props {
		byName[p.Name] = p
	}
	tests := []struct {
		name, typ string
		readOnly  bool
	}{
		{"email", "string", false},
		{"hubspotscore", "number", false},
		{"lifecyclestage", "enumeration", false},
		{"createdate", "datetime", true},
		{"hs_object_id", "number", true},
	}
	for _, tt := range tests {
		p, ok := byName[tt.name]
		if !ok {
			t.Errorf("property %s missing", tt.name)
			continue
		}
		if p.Type != tt.typ || p.ModificationMetadata.ReadOnlyValue != tt.readOnly {
			t.Errorf("%s: type %s readOnly %v, want %s %v", tt.name, p.Type, p.ModificationMetadata.ReadOnlyValue, tt.typ, tt.readOnly)
		}
	}
}

func TestClient_BadToken(t *testing.T) {
	_, c := newPair(t, hubspottest.Options{}, hubspot.Config{Token: "pat-na1-wrong"})
	_, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
	var apiErr *hubspot.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *hubspot.Error", err)
	}
	if apiErr.Status != 401 || apiErr.Category != "INVALID_AUTHENTICATION" || apiErr.CorrelationID == "" {
		t.Errorf("got status %d category %q correlation %q", apiErr.Status, apiErr.Category, apiErr.CorrelationID)
	}
}

// The limiter keeps concurrent callers under the rolling window: no 429,
// and the 60 calls take what 19 per 500 ms allows, not more.
func TestClient_RateLimitShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		window := 500 * time.Millisecond
		emu, c, _ := newMemPair(t, hubspottest.Options{BurstLimit: 20, Window: window}, hubspot.Config{BurstLimit: 20, Window: window})
		var wg sync.WaitGroup
		var failed atomic.Int32
		start := time.Now()
		for g := 0; g < 4; g++ {
			wg.Go(func() {
				for i := 0; i < 15; i++ {
					if _, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, ""); err != nil {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Fatalf("%d calls failed", failed.Load())
		}
		if _, limited := emu.Requests(); limited != 0 {
			t.Errorf("emulator answered %d 429s; the limiter should prevent them", limited)
		}
		// The first call goes at once, the other 59 one every 500/19 ms.
		want := 59 * window / 19
		if d := time.Since(start); d < want-time.Millisecond || d > want+time.Millisecond {
			t.Errorf("60 calls took %v, want %v", d, want)
		}
	})
}

// Two processes on one token (each pacing itself at the full limit) meet
// 429 TEN_SECONDLY_ROLLING; each waits out the window and every call
// succeeds.
func TestClient_RetriesTenSecondly429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		window := 300 * time.Millisecond
		emu, c1, srv := newMemPair(t, hubspottest.Options{BurstLimit: 5, Window: window}, hubspot.Config{BurstLimit: 5, Window: window})
		c2, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, HTTPClient: srv.Client, Token: token, BurstLimit: 5, Window: window})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, c := range []*hubspot.Client{c1, c2} {
			wg.Go(func() {
				for i := 0; i < 10; i++ {
					if _, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, ""); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, limited := emu.Requests(); limited == 0 {
			t.Error("expected the emulator to refuse some calls")
		}
	})
}

func TestClient_DailyLimitStops(t *testing.T) {
	_, c := newPair(t, hubspottest.Options{DailyLimit: 3}, hubspot.Config{})
	ctx := context.Background()
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		_, _, err = c.ListPage(ctx, "contacts", hubspot.ListOptions{}, "")
	}
	if !errors.Is(err, hubspot.ErrDailyLimit) {
		t.Fatalf("err = %v, want ErrDailyLimit", err)
	}
}

func TestClient_RetriesServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emu := hubspottest.New(hubspottest.Options{Tokens: []string{token}})
		var calls atomic.Int32
		srv := memnet.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) <= 2 {
				w.WriteHeader(http.StatusBadGateway)
				w.Write([]byte("<html>bad gateway</html>"))
				return
			}
			emu.ServeHTTP(w, r)
		}))
		defer srv.Close()
		c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, HTTPClient: srv.Client, Token: token, RetryBaseDelay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, ""); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 3 {
			t.Errorf("calls = %d, want 3", calls.Load())
		}
		// Two backoffs, each at least half its step (1 s, then 2 s).
		if d := time.Since(start); d < 1500*time.Millisecond {
			t.Errorf("retried after %v: the backoff was skipped", d)
		}
	})
}

// TestClient_RateLimitStorm: under 429s at every policy the client waits
// the window the account's headers give (not its configured 10 s), backs
// off on SECONDLY, and stops on DAILY with ErrDailyLimit; nothing else
// fails.
func TestClient_RateLimitStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emu, c, _ := newMemPair(t, hubspottest.Options{BurstLimit: 1000, Window: time.Second}, hubspot.Config{BurstLimit: 1000, MaxRetries: 20})
		ctx := context.Background()
		if _, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, ""); err != nil {
			t.Fatal(err)
		}
		emu.FailNext(429)
		start := time.Now()
		if _, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, ""); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second || d > 1200*time.Millisecond {
			t.Errorf("waited %v after TEN_SECONDLY_ROLLING, want the 1 s window the headers give", d)
		}
		emu.SetFaults(hubspottest.Faults{RateLimitRate: 0.3, Seed: 3})
		ok, daily := 0, 0
		for range 100 {
			_, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, "")
			switch {
			case err == nil:
				ok++
			case errors.Is(err, hubspot.ErrDailyLimit):
				daily++
			default:
				t.Fatal(err)
			}
		}
		if ok == 0 || daily == 0 || emu.Faulted() < 30 {
			t.Errorf("%d calls succeeded, %d stopped on DAILY, %d 429s: want some of each", ok, daily, emu.Faulted())
		}
	})
}
