package hubspot_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

func TestLimiter_PaceShareAndDaily(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		share     float64
		headers   map[string]string
		wantRate  float64
		wantDaily int // -1: unknown
	}{
		{"configured", 100, 1, nil, 9.9, -1},
		{"half_share", 100, 0.5, nil, 4.95, -1},
		{"corrected_by_headers_keeps_the_share", 100, 0.5,
			map[string]string{"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 9.45, -1},
		{"daily_headers", 100, 1,
			map[string]string{"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "1234"}, 9.9, 1234},
		{"out_of_range_share_is_whole", 100, 3, nil, 9.9, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := hubspot.NewLimiter(tt.limit, 10*time.Second)
			l.SetShare(tt.share)
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			l.Observe(h)
			if got := l.PerSecond(); got < tt.wantRate-0.001 || got > tt.wantRate+0.001 {
				t.Errorf("pace %.3f/s, want %.3f", got, tt.wantRate)
			}
			_, left, ok := l.Daily()
			if (tt.wantDaily < 0) == ok || ok && left != tt.wantDaily {
				t.Errorf("daily remaining %d (known %v), want %d", left, ok, tt.wantDaily)
			}
		})
	}
}

// TestEventSendsBypassTheBurstWindow: custom event sends have their own
// limit, so a tier's small burst window does not pace them.
func TestEventSendsBypassTheBurstWindow(t *testing.T) {
	synctest.Test(t, testEventSendsBypassTheBurstWindow)
}

func testEventSendsBypassTheBurstWindow(t *testing.T) {
	emu, c, _ := newMemPair(t, hubspottest.Options{BurstLimit: 10}, hubspot.Config{BurstLimit: 10})
	ctx := context.Background()
	start := time.Now()
	def, err := c.CreateEventDefinition(ctx, hubspot.EventDefinition{Name: "pinged", Label: "Pinged", PrimaryObject: "CONTACT"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := emu.CreateObject("contacts", map[string]string{"email": "e@x.com"})
	// Paced by the burst limiter (9 calls per 10 s), 30 sends would need
	// half a minute, and rate.Limiter refuses waits past the deadline.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := 0; i < 30; i++ {
		ev := hubspot.Event{EventName: def.FullyQualifiedName, ObjectID: id, UUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Properties: map[string]string{}}
		if err := c.SendEvents(ctx, []hubspot.Event{ev}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := len(emu.Events()); n != 30 {
		t.Fatalf("%d events stored", n)
	}
	// The definition took the one call of the burst window; the sends
	// waited for none of it.
	if d := time.Since(start); d > time.Second {
		t.Fatalf("30 sends took %v", d)
	}
}
