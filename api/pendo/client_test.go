package pendo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/jsonscan"
	"github.com/backflow-dev/backflow/api/memnet"
	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

const key = "pendo-key-test"

// newPair serves an emulator over an in-memory network (see memnet) and
// returns it with a client; in a synctest bubble, the client's pacing and
// backoff and the emulator's windows share the bubble's fake clock.
func newPair(t *testing.T, opts pendotest.Options, cfg pendo.Config) (*pendotest.Server, *pendo.Client) {
	emu, c, _ := newPairOn(t, opts, cfg)
	return emu, c
}

// newPairOn is newPair that also returns the server, for more clients.
func newPairOn(t *testing.T, opts pendotest.Options, cfg pendo.Config) (*pendotest.Server, *pendo.Client, *memnet.Server) {
	t.Helper()
	if opts.IntegrationKey == "" {
		opts.IntegrationKey = key
	}
	emu := pendotest.New(opts)
	srv := serve(t, emu)
	cfg.BaseURL = srv.URL
	cfg.HTTPClient = srv.Client
	if cfg.IntegrationKey == "" {
		cfg.IntegrationKey = key
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = 10 * time.Millisecond
	}
	c, err := pendo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c, srv
}

// serve serves h on an in-memory network until the test ends.
func serve(t *testing.T, h http.Handler) *memnet.Server {
	srv := memnet.Serve(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestClient_Visitors(t *testing.T) {
	tests := []struct {
		name      string
		pageSize  int
		anonymous bool
		want      int
	}{
		{"one_page", 100, false, 25},
		{"exact_pages", 5, false, 25},
		{"ragged_pages", 7, false, 25},
		{"with_anonymous", 7, true, 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, c := newPair(t, pendotest.Options{}, pendo.Config{})
			for i := 0; i < 24; i++ {
				emu.PutVisitor(fmt.Sprintf("v%03d", i), map[string]map[string]any{"agent": {"email": fmt.Sprintf("p%d@x.com", i)}})
			}
			// An id that needs escaping inside a filter string.
			emu.PutVisitor(`v"quoted\id`, nil)
			for i := 0; i < 3; i++ {
				emu.PutVisitor(fmt.Sprintf("_PENDO_T_%d", i), nil)
			}
			seen := map[string]bool{}
			err := c.Visitors(context.Background(), pendo.ListOptions{PageSize: tt.pageSize, IncludeAnonymous: tt.anonymous}, func(e *pendo.Entity) error {
				if seen[e.ID] {
					return fmt.Errorf("visitor %s seen twice", e.ID)
				}
				seen[e.ID] = true
				updated := false
				if err := e.Fields(func(group, field []byte, value jsonscan.Value) error {
					updated = updated || string(group) == "auto" && string(field) == "lastupdated" && value.Kind() != jsonscan.Null
					return nil
				}); err != nil {
					return err
				}
				if !updated {
					return fmt.Errorf("visitor %s: no auto.lastupdated", e.ID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != tt.want {
				t.Fatalf("saw %d visitors, want %d", len(seen), tt.want)
			}
		})
	}
}

func TestClient_UpdateMetadata(t *testing.T) {
	emu, c := newPair(t, pendotest.Options{}, pendo.Config{})
	if err := emu.AddField("visitor", "custom", "plan", "string"); err != nil {
		t.Fatal(err)
	}
	if err := emu.AddField("visitor", "custom", "score", "float"); err != nil {
		t.Fatal(err)
	}
	emu.PutVisitor("a", nil)
	emu.PutVisitor("b", nil)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	outcomes, err := c.UpdateMetadata(context.Background(), pendo.Visitor, "custom", []pendo.Update{
		{ID: "a", Values: map[string]json.RawMessage{"plan": raw(`"pro"`), "score": raw(`4.5`)}},
		{ID: "ghost", Values: map[string]json.RawMessage{"plan": raw(`"pro"`)}},
		{ID: "b", Values: map[string]json.RawMessage{"score": raw(`"high"`)}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []pendo.OutcomeStatus{pendo.Updated, pendo.Missing, pendo.Rejected}
	for i, o := range outcomes {
		if o.Status != want[i] {
			t.Errorf("row %d: status %v (%s), want %v", i, o.Status, o.Error, want[i])
		}
	}
	if !strings.Contains(outcomes[2].Error, "score") {
		t.Errorf("row 2 error %q does not name the field", outcomes[2].Error)
	}
	md, _ := emu.Visitor("a")
	if md["custom"]["plan"] != "pro" || md["custom"]["score"] != 4.5 {
		t.Errorf("visitor a custom = %v", md["custom"])
	}
	if _, ok := emu.Visitor("ghost"); ok {
		t.Error("ghost visitor was created without create=true")
	}
}

func TestClient_UpdateMetadata_UndeclaredField(t *testing.T) {
	emu, c := newPair(t, pendotest.Options{}, pendo.Config{})
	emu.PutVisitor("a", nil)
	_, err := c.UpdateMetadata(context.Background(), pendo.Visitor, "custom", []pendo.Update{
		{ID: "a", Values: map[string]json.RawMessage{"nosuchfield": json.RawMessage(`"x"`)}},
	}, false)
	var apiErr *pendo.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "nosuchfield") {
		t.Fatalf("err = %v, want a 400 naming the field", err)
	}
}

func TestClient_Keys(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		write bool
		want  int
	}{
		{"wrong_key_read", "nope", false, 403},
		{"read_only_key_read", "ro-key", false, 0},
		{"read_only_key_write", "ro-key", true, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newPair(t, pendotest.Options{ReadOnlyKey: "ro-key"}, pendo.Config{IntegrationKey: tt.key})
			var err error
			if tt.write {
				_, err = c.UpdateMetadata(context.Background(), pendo.Visitor, "custom", nil, false)
			} else {
				_, err = c.Schema(context.Background(), pendo.Visitor)
			}
			if tt.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var apiErr *pendo.Error
			if !errors.As(err, &apiErr) || apiErr.Status != tt.want {
				t.Fatalf("err = %v, want status %d", err, tt.want)
			}
			if !strings.Contains(err.Error(), "another region") {
				t.Errorf("message %q should explain an empty 403", err)
			}
		})
	}
}

// Two clients on one key exceed the per-endpoint limit together; both
// retry their 429s (waiting out Pendo's one-second window) and every call
// succeeds.
func TestClient_RateLimit429Retried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emu, c1, srv := newPairOn(t, pendotest.Options{RequestsPerSecond: 10}, pendo.Config{RequestsPerSecond: 10})
		c2, err := pendo.New(pendo.Config{BaseURL: srv.URL, HTTPClient: srv.Client, IntegrationKey: key, RequestsPerSecond: 10, RetryBaseDelay: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, c := range []*pendo.Client{c1, c2} {
			wg.Go(func() {
				for i := 0; i < 12; i++ {
					if _, err := c.Schema(context.Background(), pendo.Visitor); err != nil {
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
			t.Error("expected some 429s")
		}
	})
}

func TestClient_FilterParseError(t *testing.T) {
	_, c := newPair(t, pendotest.Options{}, pendo.Config{})
	err := c.Aggregate(context.Background(), []pendo.Step{{"source": map[string]any{"visitors": nil}}, {"filter": `visitorId > "unterminated`}}, func(json.RawMessage) error { return nil })
	var apiErr *pendo.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "Cannot parse filter expression") {
		t.Fatalf("err = %v", err)
	}
}
