package pendo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/faultproxy"
	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/api/wire"
)

// hostilePair is an emulator behind a fault proxy, and a client of it.
func hostilePair(t *testing.T, cfg pendo.Config) (*pendotest.Server, *faultproxy.Proxy, *pendo.Client) {
	t.Helper()
	emu := pendotest.New(pendotest.Options{IntegrationKey: key, RequestsPerSecond: 100_000, Now: func() time.Time { return clock }})
	for i := 0; i < 25; i++ {
		emu.PutVisitor(fmt.Sprintf("v%02d", i), map[string]map[string]any{"agent": {"email": fmt.Sprintf("v%d@x.com", i)}})
	}
	emu.AddField("visitor", "custom", "score", "float")
	proxy := faultproxy.New(emu)
	srv := serve(t, proxy)
	cfg.BaseURL, cfg.HTTPClient, cfg.IntegrationKey, cfg.RequestsPerSecond = srv.URL, srv.Client, key, 100_000
	if cfg.TimeZone == nil {
		cfg.TimeZone = mustLoc(t, "America/New_York")
	}
	cfg.Now = func() time.Time { return clock }
	c, err := pendo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, proxy, c
}

var bulkCall = faultproxy.Path("POST", "/metadata/visitor/custom/value")

func updates(n int) []pendo.Update {
	out := make([]pendo.Update, n)
	for i := range out {
		out[i] = pendo.Update{ID: fmt.Sprintf("v%02d", i), Values: map[string]json.RawMessage{"score": json.RawMessage("1.5")}}
	}
	return out
}

// A bulk write whose answer does not account for the rows sent is an
// error: none of them is taken as written.
func TestClient_BulkAnswerMustAccountForTheBatch(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty_object", `{}`},
		{"null", `null`},
		{"total_short", `{"total": 2, "updated": 2, "failed": 0, "missing": [], "errors": []}`},
		{"counts_disagree", `{"total": 5, "updated": 5, "failed": 1, "missing": [], "errors": []}`},
		{"missing_id_not_sent", `{"total": 5, "updated": 4, "failed": 1, "missing": ["stranger"], "errors": []}`},
		{"two_values", `{"total": 5, "updated": 5, "failed": 0} {"total": 5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, proxy, c := hostilePair(t, pendo.Config{})
			proxy.Add(faultproxy.Answer("bad", bulkCall, 200, "application/json", tt.body))
			out, err := c.UpdateMetadata(context.Background(), pendo.Visitor, "custom", updates(5), false)
			if err == nil || out != nil {
				t.Fatalf("outcomes %v, err %v: an unaccountable answer was taken as written", out, err)
			}
			if md, _ := emu.Visitor("v00"); md["custom"]["score"] != nil {
				t.Fatal("the proxy let the write through; the test is wrong")
			}
			t.Log(err)
		})
	}
}

// An aggregation body cut between two rows is an error, not a shorter
// list.
func TestClient_AggregationCutShort(t *testing.T) {
	_, proxy, c := hostilePair(t, pendo.Config{RetryBaseDelay: time.Millisecond})
	proxy.Add(&faultproxy.Fault{Name: "cut", Match: faultproxy.Path("POST", "/aggregation"), Serve: func(w http.ResponseWriter, r *http.Request, up func(*http.Request) *http.Response) {
		body, _ := io.ReadAll(up(r).Body)
		// Up to the end of the third row.
		cut, n := 0, 0
		for i, ch := range body {
			if ch == '}' && i+1 < len(body) && body[i+1] == ',' {
				if n++; n == 3 {
					cut = i + 1
					break
				}
			}
		}
		w.Write(body[:cut])
	}})
	// Every answer is cut: the client asks again from the last row read,
	// MaxRetries times, then fails, having read no row twice.
	seen := map[string]bool{}
	err := c.Visitors(context.Background(), pendo.ListOptions{}, func(e *pendo.Entity) error {
		if seen[e.ID] {
			return fmt.Errorf("visitor %s read twice", e.ID)
		}
		seen[e.ID] = true
		return nil
	})
	var ce *pendo.CutError
	if !errors.As(err, &ce) {
		t.Fatalf("a body cut every time: err = %v, want a CutError", err)
	}
	if len(seen) < 7 || len(seen) >= 25 {
		t.Fatalf("read %d of 25 visitors: want some from each of the 7 attempts, and not all", len(seen))
	}
}

func TestClient_VisitorPageOverLimit(t *testing.T) {
	_, proxy, c := hostilePair(t, pendo.Config{})
	proxy.Add(faultproxy.Rewrite("big", faultproxy.Path("POST", "/aggregation"), func(b map[string]any) {
		rs := b["results"].([]any)
		b["results"] = append(rs, rs...)
	}))
	err := c.Visitors(context.Background(), pendo.ListOptions{PageSize: 10}, func(*pendo.Entity) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "did not advance") && !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("err = %v", err)
	}
}

// An event pager whose cut page brings back the same rows stops with an
// error instead of asking forever.
func TestClient_EventCursorStuck(t *testing.T) {
	emu, proxy, c := hostilePair(t, pendo.Config{})
	for i := 0; i < 6; i++ {
		emu.Record(pendotest.Activity{Kind: "feature", FeatureID: "f1", VisitorID: fmt.Sprintf("v%02d", i), Time: clock.Add(-time.Hour)})
	}
	proxy.Add(faultproxy.Replay("same", faultproxy.Path("POST", "/aggregation")))
	q := pendo.EventQuery{Stream: pendo.Streams["featureEvents"], From: clock.Add(-2 * time.Hour), To: clock, PageSize: 2}
	err := c.Events(context.Background(), q, func(json.RawMessage) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "did not advance") {
		t.Fatalf("err = %v", err)
	}
}

// A gateway's page is Foreign (not about the rows), and an echoed key is
// scrubbed from every error.
func TestClient_GatewayAndEchoedKey(t *testing.T) {
	_, proxy, c := hostilePair(t, pendo.Config{})
	proxy.Add(faultproxy.GatewayPage("gw", bulkCall, 400))
	_, err := c.UpdateMetadata(context.Background(), pendo.Visitor, "custom", updates(3), false)
	var apiErr *pendo.Error
	if !errors.As(err, &apiErr) || !apiErr.Foreign || apiErr.Status != 400 {
		t.Fatalf("err = %#v, want a foreign 400", err)
	}
	proxy.Clear()
	proxy.Add(faultproxy.EchoRequest("echo", faultproxy.Path("GET", "/metadata/schema"), 403, "text/plain"))
	_, err = c.Schema(context.Background(), pendo.Visitor)
	if err == nil || strings.Contains(err.Error(), key) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
}

func TestClient_RedirectNotFollowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, proxy, c := hostilePair(t, pendo.Config{})
		proxy.Add(faultproxy.Redirect("307", faultproxy.Path("GET", "/metadata/schema"), "https://elsewhere.example.com"))
		_, err := c.Schema(context.Background(), pendo.Visitor)
		if !errors.Is(err, wire.ErrRedirect) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNew_RefusesPlainHTTPOffLoopback(t *testing.T) {
	if _, err := pendo.New(pendo.Config{BaseURL: "http://pendo.example.com", IntegrationKey: key}); err == nil {
		t.Fatal("plain http to another host was accepted")
	}
	if _, err := pendo.New(pendo.Config{BaseURL: "http://127.0.0.1:8082", IntegrationKey: key}); err != nil {
		t.Fatal(err)
	}
}
