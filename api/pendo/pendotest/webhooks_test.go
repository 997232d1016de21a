package pendotest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	pendo "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/internal/clock"
)

// TestWebhook_Track: a track event the data host accepts becomes one
// trackEventReceived delivery, signed when a secret is set, in the shape
// backflow's parser takes; a delivery answered 500 is not retried.
func TestWebhook_Track(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", TrackSecret: "ts", Now: clk.Now})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	var mu sync.Mutex
	var got []pendo.WebhookEvent
	status := http.StatusInternalServerError
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := pendo.VerifySignature("hook-secret", body, r.Header.Get(pendo.HeaderSignature)); err != nil {
			t.Errorf("delivery: %v", err)
		}
		e, err := pendo.ParseWebhookEvent(body)
		if err != nil {
			t.Errorf("delivery: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		w.WriteHeader(status)
	}))
	defer hook.Close()
	emu.SetWebhook(&pendotest.Webhook{URL: hook.URL, Secret: "hook-secret", SubscriptionID: 4802463602049999})
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, DataURL: srv.URL, IntegrationKey: "k", TrackSecret: "ts", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	send := func(event string) {
		t.Helper()
		if err := c.Track(context.Background(), pendo.TrackEvent{Event: event, VisitorID: "v1", AccountID: "acme", Timestamp: clk.Now(),
			Properties: map[string]any{"plan": "pro"}}); err != nil {
			t.Fatal(err)
		}
	}
	send("report_exported")
	if n := emu.DeliverWebhooks(context.Background()); n != 0 {
		t.Fatalf("a 500 counted as delivered: %d", n)
	}
	if n := emu.DeliverWebhooks(context.Background()); n != 0 || len(got) != 1 {
		t.Fatalf("the refused delivery was retried: %d sent, %d seen", n, len(got))
	}
	status = http.StatusOK
	send("report_exported")
	if n := emu.DeliverWebhooks(context.Background()); n != 1 {
		t.Fatalf("%d delivered, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	e := got[1]
	if e.Event != "trackEventReceived" || e.VisitorID != "v1" || e.AccountID != "acme" || !e.Time().Equal(clk.Now().Truncate(time.Second)) ||
		e.Subscription.ID != 4802463602049999 || string(e.Properties) != `{"name":"report_exported","properties":{"plan":"pro"}}` {
		t.Fatalf("delivery %+v (%s)", e, e.Properties)
	}
	if got[0].UniqueID == got[1].UniqueID {
		t.Error("two events share a uniqueId")
	}
	if sent, failed := emu.WebhookCounts(); sent != 1 || failed != 1 {
		t.Errorf("counts %d sent, %d failed", sent, failed)
	}
}

// TestWebhook_Guides: a recorded guide view, NPS score and poll answer
// make guideDisplayed, npsSubmitted and pollSubmitted deliveries.
func TestWebhook_Guides(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", Now: clk.Now})
	var mu sync.Mutex
	var got []pendo.WebhookEvent
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e, err := pendo.ParseWebhookEvent(body)
		if err != nil {
			t.Errorf("delivery: %v", err)
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer hook.Close()
	emu.SetWebhook(&pendotest.Webhook{URL: hook.URL})
	at := clk.Now()
	emu.Record(
		pendotest.Activity{Kind: "guide", GuideType: "guideSeen", GuideID: pendotest.NPSGuideID, GuideStepID: "step-1", VisitorID: "v1", Time: at},
		pendotest.Activity{Kind: "poll", GuideType: "pollResponse", GuideID: pendotest.NPSGuideID, PollID: pendotest.NPSScorePollID, Response: 9, VisitorID: "v1", Time: at},
		pendotest.Activity{Kind: "poll", GuideType: "pollResponse", GuideID: pendotest.NPSGuideID, PollID: pendotest.NPSTextPollID, Response: "fast", VisitorID: "v1", Time: at},
		pendotest.Activity{Kind: "page", PageID: "p1", VisitorID: "v1", Time: at},
	)
	if n := emu.DeliverWebhooks(context.Background()); n != 3 {
		t.Fatalf("%d delivered, want 3 (a page view sends none)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"guideDisplayed", "npsSubmitted", "pollSubmitted"}
	for i, e := range got {
		if e.Event != want[i] {
			t.Errorf("delivery %d: %s, want %s", i, e.Event, want[i])
		}
	}
	if string(got[1].Properties) != `{"guideId":"guide-nps","guideStepId":"","nps":{"rating":9,"source":"web"}}` {
		t.Errorf("npsSubmitted properties %s", got[1].Properties)
	}
}
