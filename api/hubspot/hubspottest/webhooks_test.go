package hubspottest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/internal/clock"
)

// TestWebhooks: a subscribed change becomes a notification, signed as the
// client's verifier expects; an unsubscribed property sends nothing; a
// delivery answered 500 is retried by the emulator's clock with its
// attemptNumber raised.
func TestWebhooks(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{tok}, Now: clk.Now})
	var mu sync.Mutex
	var got []api.Notification
	fail := true
	var target string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := api.Verify("s3cret", r.Header.Get, r.Method, target, body, clk.Now()); err != nil {
			t.Errorf("delivery does not verify: %v", err)
		}
		ns, err := api.ParseNotifications(body)
		if err != nil {
			t.Errorf("delivery: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		got = append(got, ns...)
	}))
	defer srv.Close()
	target = srv.URL + "/hooks/hubspot?x=1"
	emu.SetWebhooks(&hubspottest.Webhooks{TargetURL: target, ClientSecret: "s3cret", AppID: 7,
		Subscriptions: []string{"contact.creation", "contact.propertyChange:firstname", "contact.deletion"}})
	id, err := emu.CreateObject("contacts", map[string]string{"email": "a@x.com"})
	if err != nil {
		t.Fatal(err)
	}
	emu.UpdateObject("contacts", id, map[string]string{"firstname": "Ada"})
	emu.UpdateObject("contacts", id, map[string]string{"lastname": "Lovelace"}) // not subscribed
	ctx := context.Background()
	if n, err := emu.DeliverWebhooks(ctx); err != nil || n != 0 || emu.PendingWebhooks() != 2 {
		t.Fatalf("first delivery: %d ok, %v, %d pending; want it refused and both kept", n, err, emu.PendingWebhooks())
	}
	if n, _ := emu.DeliverWebhooks(ctx); n != 0 {
		t.Fatal("retried before its delay")
	}
	clk.Advance(time.Minute)
	if n, err := emu.DeliverWebhooks(ctx); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	emu.ArchiveObject("contacts", id)
	if n, _ := emu.DeliverWebhooks(ctx); n != 1 {
		t.Fatal("the deletion was not delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0].Type() != "contact.creation" || got[0].AttemptNumber != 1 ||
		got[1].Type() != "contact.propertyChange" || got[1].PropertyName != "firstname" || got[1].PropertyValue != "Ada" ||
		got[2].Type() != "contact.deletion" || got[2].AttemptNumber != 0 || got[0].SubscriptionID == got[1].SubscriptionID {
		t.Fatalf("notifications %+v", got)
	}
	if d, r, x := emu.WebhookCounts(); d != 2 || r != 1 || x != 0 {
		t.Errorf("counts delivered %d retried %d dropped %d", d, r, x)
	}
}
