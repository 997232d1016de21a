package hubspot_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
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
